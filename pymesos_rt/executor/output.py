"""Forwarding what tasks print: ``sys.stdout``/``sys.stderr`` are replaced by streams that send
complete lines of the task running on the current thread to the driver, and pass anything
written outside a task to the real stream (the executor's log in its sandbox)."""

from __future__ import annotations

import io
import threading
from collections.abc import Callable
from typing import Any, TextIO

from pymesos_rt.protocol import messages as m

current = threading.local()  # .task_id of the task running on this thread, if any


def current_task_id() -> str | None:
    """The id of the task running on this thread (None outside tasks)."""
    return getattr(current, "task_id", None)


class TaskStream(io.TextIOBase):
    def __init__(self, name: str, real: TextIO, post: Callable[[Any], None]) -> None:
        super().__init__()
        self.name_ = name
        self.real = real
        self.post = post
        self._buffers = threading.local()

    def writable(self) -> bool:
        return True

    def write(self, text: str) -> int:
        task_id = getattr(current, "task_id", None)
        if task_id is None:
            return self.real.write(text)
        written = len(text)
        if not text.isascii():  # lone surrogates (e.g. from os.fsdecode) cannot go as UTF-8
            text = text.encode("utf-8", "backslashreplace").decode("utf-8")
        pending = getattr(self._buffers, "text", "") + text
        cut = pending.rfind("\n") + 1
        if cut:
            self.post(m.Output(task_id, self.name_, pending[:cut]))  # type: ignore[arg-type]
        self._buffers.text = pending[cut:]
        return written

    def flush(self) -> None:
        task_id = getattr(current, "task_id", None)
        pending = getattr(self._buffers, "text", "")
        if task_id is not None and pending:
            self._buffers.text = ""
            self.post(m.Output(task_id, self.name_, pending))  # type: ignore[arg-type]
        self.real.flush()

    def fileno(self) -> int:
        return self.real.fileno()

    def isatty(self) -> bool:
        return False
