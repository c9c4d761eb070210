"""Real ``pymesos-rt master`` / ``agent`` processes for tests: started on 127.0.0.1 with a
free port (read from ``--port-file``, never guessed), with helpers to read ``/state`` and wait
on conditions with a deadline (no sleeps for readiness)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

T = TypeVar("T")


def wait_for(probe: Callable[[], T | None], timeout: float = 30.0, what: str = "condition") -> T:
    """Poll ``probe`` until it returns something truthy; raise after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = probe()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise TimeoutError(f"{what} not reached within {timeout}s")
        time.sleep(0.02)


@dataclass
class Daemon:
    proc: subprocess.Popen[bytes]
    log: Path
    port: int = 0
    args: list[str] = field(default_factory=list)
    host: str = "127.0.0.1"

    @property
    def url(self) -> str:
        return f"ws://{self.host}:{self.port}"

    def state(self, params: str = "") -> dict[str, Any]:
        """The master's ``/state`` (``params``: its URL query, e.g. ``detail=frameworks``)."""
        url = f"http://{self.host}:{self.port}/state" + (f"?{params}" if params else "")
        with urllib.request.urlopen(url, timeout=5) as resp:
            state: dict[str, Any] = json.load(resp)
            return state

    def try_state(self, params: str = "") -> dict[str, Any] | None:
        try:
            return self.state(params)
        except (urllib.error.URLError, OSError, ValueError):
            return None

    def signal(self, sig: int) -> None:
        if self.proc.poll() is None:
            os.kill(self.proc.pid, sig)

    def stop(self, timeout: float = 15.0) -> int:
        """SIGTERM, then SIGKILL if it does not exit in time; returns the exit status."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                return self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        return self.proc.wait()

    def log_text(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""


def _spawn(
    args: list[str], log: Path, env: dict[str, str] | None, prefix: list[str] | None = None
) -> subprocess.Popen[bytes]:
    full_env = {**os.environ, **(env or {})}
    with open(log, "ab") as out:
        return subprocess.Popen(
            [*(prefix or []), sys.executable, "-m", "pymesos_rt", *args],
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=full_env,
        )


def start_master(
    work: Path,
    *extra: str,
    port: int = 0,
    env: dict[str, str] | None = None,
    name: str = "master",
    prefix: list[str] | None = None,
) -> Daemon:
    """A master on 127.0.0.1 (or ``--host`` in ``extra``); ``prefix`` wraps the command, e.g.
    ``["ip", "netns", "exec", "ns1"]`` to run it on a test host of its own."""
    work.mkdir(parents=True, exist_ok=True)
    port_file = work / f"{name}.port"
    port_file.unlink(missing_ok=True)
    args = ["master", "--port", str(port), "--port-file", str(port_file), "--log-level", "INFO"]
    args += list(extra)
    daemon = Daemon(
        _spawn(args, work / f"{name}.log", env, prefix), work / f"{name}.log", args=args
    )

    def ready() -> int | None:
        if daemon.proc.poll() is not None:
            raise RuntimeError(f"master exited: {daemon.log_text()[-2000:]}")
        text = port_file.read_text() if port_file.exists() else ""
        return int(text) if text.strip() else None

    daemon.port = wait_for(ready, 30, "master listening")
    if "--host" in extra:
        daemon.host = extra[list(extra).index("--host") + 1]
    return daemon


def start_agent(
    master: Daemon,
    work: Path,
    *extra: str,
    name: str = "agent",
    env: dict[str, str] | None = None,
    wait: bool = True,
    prefix: list[str] | None = None,
) -> Daemon:
    agent_dir = work / name
    agent_dir.mkdir(parents=True, exist_ok=True)
    url = master.url
    args = ["agent", "--master", url, "--work-dir", str(agent_dir), "--log-level", "INFO"]
    args += list(extra)
    daemon = Daemon(
        _spawn(args, work / f"{name}.log", env, prefix), work / f"{name}.log", args=args
    )
    if wait:
        known = master.try_state("limit=1") or {"counts": {"agents": 0}}
        before = known["counts"]["agents"]  # agents ever seen by then (none leave meanwhile)

        def registered() -> bool:
            if daemon.proc.poll() is not None:
                raise RuntimeError(f"agent exited: {daemon.log_text()[-2000:]}")
            state = master.try_state("limit=1")
            return state is not None and state["counts"]["agents"] > before

        wait_for(registered, 30, f"agent {name} registered")
    return daemon
