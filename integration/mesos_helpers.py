"""Helpers for the Mesos v1 API tests: a pymesos framework (``mesos_programs/``) run as a
process, driven by JSON commands on its stdin, its callbacks read as JSON lines (a reader thread
queues them; waits have deadlines)."""

from __future__ import annotations

import base64
import json
import os
import queue
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

PROGRAMS = Path(__file__).parent / "mesos_programs"
EXECUTOR = PROGRAMS / "pymesos_executor.py"


def res(cpus: float, mem: float) -> list[dict[str, Any]]:
    return [
        {"name": "cpus", "type": "SCALAR", "scalar": {"value": cpus}},
        {"name": "mem", "type": "SCALAR", "scalar": {"value": mem}},
    ]


def command_task(task_id: str, command: str, cpus: float = 0.5, mem: float = 32) -> dict:
    return {
        "task_id": {"value": task_id},
        "name": task_id,
        "command": {"value": command},
        "resources": res(cpus, mem),
    }


def executor_task(task_id: str, data: bytes, executor_id: str = "echo") -> dict:
    return {
        "task_id": {"value": task_id},
        "name": task_id,
        "data": base64.b64encode(data).decode(),
        "resources": res(0.2, 32),
        "executor": {
            "executor_id": {"value": executor_id},
            "name": "pymesos echo executor",
            "command": {"value": f"{sys.executable} {EXECUTOR}"},
            "resources": res(0.1, 64),
        },
    }


class Framework:
    """A pymesos scheduler process and the events it printed."""

    def __init__(self, tmp: Path, master: str, *args: str, name: str = "fw") -> None:
        self.stderr_path = tmp / f"{name}.stderr"
        script = PROGRAMS / "pymesos_scheduler.py"
        with open(self.stderr_path, "w") as err:
            self.proc = subprocess.Popen(
                [sys.executable, str(script), master, "--name", name, *args],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=err,
                text=True,
                env={**os.environ, "PYTHONUNBUFFERED": "1"},
            )
        self.events: list[dict[str, Any]] = []
        self._queue: queue.Queue[dict[str, Any] | None] = queue.Queue()
        self._seen = 0
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            if line.startswith("{"):
                self._queue.put(json.loads(line))
        self._queue.put(None)

    def send(self, op: str, **fields: Any) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(json.dumps({"op": op, **fields}) + "\n")
        self.proc.stdin.flush()

    def launch(self, task: dict) -> None:
        self.send("launch", task=task)

    def wait(self, match: Any, timeout: float = 60.0, what: str = "") -> dict[str, Any]:
        """The first event from now on (or already seen and not yet consumed) for which
        ``match(event)`` is true."""
        deadline = time.monotonic() + timeout
        while True:
            while self._seen < len(self.events):
                event = self.events[self._seen]
                self._seen += 1
                if match(event):
                    return event
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(
                    f"no {what or 'matching event'} within {timeout}s; last events: "
                    f"{self.events[-5:]}; stderr: {self.stderr_tail()}"
                )
            try:
                event = self._queue.get(timeout=min(left, 1.0))
            except queue.Empty:
                continue
            if event is None:
                raise AssertionError(f"framework exited; stderr: {self.stderr_tail()}")
            self.events.append(event)

    def status(self, task_id: str, state: str, timeout: float = 60.0) -> dict[str, Any]:
        def match(event: dict[str, Any]) -> bool:
            if event["event"] != "update":
                return False
            status = event["status"]
            if status["task_id"]["value"] != task_id:
                return False
            if status["state"] != state and status["state"] in TERMINAL:
                raise AssertionError(f"task {task_id} ended {status['state']}: {status}")
            return status["state"] == state

        return self.wait(match, timeout, f"{state} of {task_id}")["status"]

    def updates(self, task_id: str | None = None) -> list[dict[str, Any]]:
        """The updates received so far (those not yet read included)."""
        while True:
            try:
                event = self._queue.get_nowait()
            except queue.Empty:
                break
            if event is None:
                self._queue.put(None)  # wait() still sees the end
                break
            self.events.append(event)
        return [
            e["status"]
            for e in self.events
            if e["event"] == "update"
            and (task_id is None or e["status"]["task_id"]["value"] == task_id)
        ]

    def refused(self, timeout: float = 60.0) -> str:
        """The master refused its SUBSCRIBE: pymesos's error message (the program exits 3)."""
        event = self.wait(lambda e: e["event"] in ("failed", "registered"), timeout, "refusal")
        assert event["event"] == "failed", f"subscribed although it should not: {event}"
        assert self.proc.wait(timeout=30) == 3, self.stderr_tail()
        return str(event["message"])

    def stderr_tail(self) -> str:
        return self.stderr_path.read_text(errors="replace")[-2000:]

    def stop(self, failover: bool = False, timeout: float = 30.0) -> None:
        if self.proc.poll() is None:
            try:
                self.send("stop", failover=failover)
                self.wait(lambda e: e["event"] == "stopped", timeout, "stopped")
            except (AssertionError, BrokenPipeError, OSError):
                pass
        self.kill()

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(timeout=10)


TERMINAL = {
    "TASK_FINISHED",
    "TASK_FAILED",
    "TASK_KILLED",
    "TASK_ERROR",
    "TASK_LOST",
    "TASK_DROPPED",
    "TASK_GONE",
}
