"""Helpers for the cluster-mode integration tests: driver programs run as real processes,
and a bare framework that speaks the scheduler protocol directly (to look at its offers)."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import textwrap
import time
import weakref
from pathlib import Path
from typing import Any

from pymesos_rt.protocol import codec
from pymesos_rt.protocol import messages as m
from pymesos_rt.transport import websocket as ws
from pymesos_rt.transport.base import Connection


def read_line(proc: subprocess.Popen[str], prefix: str, timeout: float = 180.0) -> str:
    """The next line of a driver's stdout that starts with ``prefix`` (the test's own timeout
    bounds a driver that stops printing)."""
    assert proc.stdout is not None
    deadline = time.monotonic() + timeout
    seen: list[str] = []
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        seen.append(line)
        if line.startswith(prefix):
            return line
    raise AssertionError(
        f"driver printed no line starting with {prefix!r}; last: {seen[-5:]}{_exit_report(proc)}"
    )


# the file each driver started by run_driver writes its stderr to (read back on a failure)
_STDERR: weakref.WeakKeyDictionary[subprocess.Popen[str], Path] = weakref.WeakKeyDictionary()


def _exit_report(proc: subprocess.Popen[str], tail: int = 4000) -> str:
    """The driver's return code and the tail of its stderr, for a failure message (a driver
    that died says why; one still running is not waited for beyond a few seconds)."""
    try:
        code: int | None = proc.wait(timeout=5)
    except subprocess.TimeoutExpired:
        code = None
    path = _STDERR.get(proc)
    err = path.read_text(errors="replace")[-tail:] if path is not None and path.exists() else ""
    state = "still running" if code is None else f"exited with {code}"
    return f"\ndriver {state}; its stderr ({path}):\n{err or '(empty)'}"


def run_driver(
    tmp: Path, name: str, source: str, address: str, *args: str, env: dict[str, str] | None = None
) -> subprocess.Popen[str]:
    script = tmp / f"{name}.py"
    script.write_text(textwrap.dedent(source))
    err = tmp / f"{name}.err"
    with open(err, "w") as stderr:
        proc = subprocess.Popen(
            [sys.executable, str(script), *args],
            stdout=subprocess.PIPE,
            stderr=stderr,
            text=True,
            cwd=tmp,
            env={**os.environ, "PYMESOS_RT_ADDRESS": address, **(env or {})},
        )
    _STDERR[proc] = err
    return proc


class BareFramework:
    """Subscribes to a master over a real websocket and records every event it gets."""

    def __init__(self) -> None:
        self.events: list[Any] = []
        self.closed = asyncio.Event()
        self.conn: Connection | None = None
        self.credential = ""

    def on_messages(self, conn: Connection, messages: list[Any]) -> None:
        self.events.extend(messages)
        for msg in messages:
            if isinstance(msg, m.Subscribed) and msg.credential:
                self.credential = msg.credential

    def on_closed(self, conn: Connection, reason: str) -> None:
        self.closed.set()

    async def subscribe(
        self,
        url: str,
        name: str,
        secret: str | None = None,
        role: str = "*",
        framework_id: str | None = None,
        failover_timeout: float = 0.0,
        credential: str = "",
    ) -> None:
        """``credential``: this framework's own (none: the master issues one, kept in
        :attr:`credential` once ``Subscribed`` arrives, for re-subscribing)."""
        self.conn = await ws.connect(f"{url}/api/v1/scheduler", codec.scheduler_side(), secret)
        self.conn.receiver = self
        self.conn.start_reading()
        self.credential = credential
        self.conn.send(m.Subscribe(name, role, framework_id, failover_timeout, credential))

    async def first(self, kind: type, timeout: float = 20.0) -> Any:
        async with asyncio.timeout(timeout):
            while True:
                for event in self.events:
                    if isinstance(event, kind):
                        return event
                await asyncio.sleep(0.01)
