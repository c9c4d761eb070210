"""The executor's main object: one connection to the driver, the task runner, and the code
that turns a ``RunTask`` into a ``TaskDone``/``TaskFailed``.

Threads: the event loop (main thread) owns the connection; tasks run on runner threads and
post their messages back through :meth:`Worker.post`, which batches them into one frame per
loop iteration.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import sys
import threading
import time
from typing import Any

from pymesos_rt import serialization, store
from pymesos_rt.client import backend as backend_mod
from pymesos_rt.errors import TaskCancelledError, make_task_error
from pymesos_rt.executor import output
from pymesos_rt.executor.backend import WorkerBackend, payload_of
from pymesos_rt.executor.recent import RecentResults
from pymesos_rt.executor.runner import Runner
from pymesos_rt.protocol import codec
from pymesos_rt.protocol import messages as m
from pymesos_rt.transport import websocket as ws
from pymesos_rt.transport.base import Connection

log = logging.getLogger(__name__)


class Worker:
    def __init__(self, executor_id: str, loop: asyncio.AbstractEventLoop) -> None:
        self.executor_id = executor_id
        self.loop = loop
        self.conn: Connection | None = None
        self.functions: dict[str, Any] = {}
        self.runner = Runner(self.execute)
        self.backend = WorkerBackend(self.post, self.runner.blocked, _usable_store())
        self.recent = RecentResults(self.runner.blocked)
        self.done = asyncio.Event()
        self._outbox: list[Any] = []
        self._outbox_lock = threading.Lock()
        self._cancelled: set[str] = set()
        self._loop_thread = threading.get_ident()

    async def run(self, url: str, secret: str) -> None:
        conn = await ws.connect(
            url, codec.worker_side(), secret, max_message_size=ws.DATA_PLANE_MAX
        )
        conn.receiver = self
        self.conn = conn
        conn.send(
            m.Hello(
                self.executor_id,
                os.getpid(),
                os.environ.get("PYMESOS_RT_NODE") or socket.gethostname(),
            )
        )
        backend_mod.set_backend(self.backend)
        sys.stdout = output.TaskStream("stdout", sys.__stdout__, self.post)  # type: ignore[arg-type]
        sys.stderr = output.TaskStream("stderr", sys.__stderr__, self.post)  # type: ignore[arg-type]
        conn.start_reading()
        await self.done.wait()

    # --- messages from the driver ------------------------------------------------------------
    def on_messages(self, conn: Connection, messages: list[Any]) -> None:
        for msg in messages:
            match msg:
                case m.RunTask():
                    self.runner.submit(msg)
                case m.ObjectValues():
                    self.backend.deliver(msg)
                case m.CancelTask():
                    self._cancelled.add(msg.task_id)
                    dropped = self.runner.cancel(msg.task_id)
                    if dropped is not None:
                        self._report_cancelled(dropped)
                case m.StopWorker():
                    log.info("asked to stop")
                    self.done.set()

    def on_closed(self, conn: Connection, reason: str) -> None:
        log.info("driver connection closed: %s", reason)
        self.done.set()

    # --- posting from any thread -------------------------------------------------------------
    def post(self, message: Any) -> None:
        if threading.get_ident() == self._loop_thread:
            if self.conn is not None:
                self.conn.send(message)
            return
        with self._outbox_lock:
            self._outbox.append(message)
            first = len(self._outbox) == 1
        if first:
            with contextlib.suppress(RuntimeError):  # loop closed: we are exiting
                self.loop.call_soon_threadsafe(self._flush)

    def _flush(self) -> None:
        with self._outbox_lock:
            batch, self._outbox = self._outbox, []
        if self.conn is not None:
            self.conn.send_many(batch)
            self.conn.flush()

    # --- running one task --------------------------------------------------------------------
    def execute(self, task: m.RunTask) -> None:
        started = time.perf_counter()
        output.current.task_id = task.task_id
        try:
            fn = self.functions.get(task.fn_id)
            if fn is None:
                if task.fn is None:
                    raise RuntimeError(f"function {task.fn_id} of task {task.name} was never sent")
                fn = self.functions[task.fn_id] = serialization.loads(task.fn)
            values: dict[str, Any] = {}
            for blob in task.deps:
                if blob.error:
                    raise serialization.loads_exception(payload_of(blob))
                values[blob.object_id] = serialization.loads(payload_of(blob))
            for oid in task.local_deps:
                blob = self.recent.wait_for(oid)
                if blob.error:  # fail exactly as the driver fails dependents of a failed task
                    inherited = m.ObjectBlob(task.task_id, blob.data, True)
                    output.current.task_id = None
                    self._finish(task, m.TaskFailed(task.task_id, blob.data, "", 0.0), inherited)
                    return
                values[oid] = serialization.loads(payload_of(blob))
            args, kwargs = serialization.loads_args(task.args, values)
            result = fn(*args, **kwargs)
            data = serialization.dumps_value(result)
        except BaseException as exc:
            self._flush_streams()
            output.current.task_id = None
            if task.task_id in self._cancelled:
                self._report_cancelled(task)
                return
            if exc.__traceback__ is not None and exc.__traceback__.tb_next is not None:
                exc.__traceback__ = exc.__traceback__.tb_next  # hide this frame
            exc_data, text = serialization.dumps_exception(exc)
            cause = serialization.loads_exception(exc_data)
            error = serialization.dumps_value(make_task_error(cause, task.name, text))
            elapsed = time.perf_counter() - started
            failed = m.TaskFailed(task.task_id, error, text, elapsed)
            self._finish(task, failed, m.ObjectBlob(task.task_id, error, True))
            return
        self._flush_streams()
        output.current.task_id = None
        packed = self.backend.pack(task.task_id, data)
        elapsed = time.perf_counter() - started
        self._finish(task, m.TaskDone(task.task_id, packed.data, elapsed, packed.location), packed)

    def _finish(self, task: m.RunTask, message: Any, result: m.ObjectBlob) -> None:
        """Report a task's end, and keep its result for tasks chained behind it here."""
        self.recent.add(result)
        self.post(message)

    def _report_cancelled(self, task: m.RunTask) -> None:
        self._cancelled.discard(task.task_id)
        error = TaskCancelledError(f"task {task.name} ({task.task_id}) was cancelled")
        data = serialization.dumps_value(error)
        self._finish(
            task, m.TaskFailed(task.task_id, data, "", 0.0), m.ObjectBlob(task.task_id, data, True)
        )

    @staticmethod
    def _flush_streams() -> None:
        for stream in (sys.stdout, sys.stderr):
            if isinstance(stream, output.TaskStream):
                stream.flush()


def _usable_store() -> str | None:
    """This node's object store, if the driver runs on this node too (it must read the files)."""
    directory = os.environ.get(store.ENV_DIR)
    here = os.environ.get("PYMESOS_RT_NODE") or socket.gethostname()
    if directory and os.environ.get("PYMESOS_RT_DRIVER_NODE") == here and os.path.isdir(directory):
        return directory
    return None
