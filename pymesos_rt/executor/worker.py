"""The executor's main object: one connection to the driver, the task runner, and the code
that turns a ``RunTask`` into a ``TaskDone``/``TaskFailed``.

Threads: the main thread reads the connection (a blocking websocket, ``transport/blocking.py``)
and hands tasks to the runner; a task's thread writes its result frame itself, so a task's round
trip crosses threads only once in this process. Messages that can wait are queued and written
with the next one that cannot, or by the flusher thread after a short delay: what tasks print
(``OUTPUT_DELAY_S``), and the result of a task while more tasks are queued here
(``RESULT_DELAY_S``, at most ``RESULT_BATCH`` held), so a pipeline of short tasks sends its
results a few per frame. Output always precedes the result it came before.
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import sys
import threading
import time
from typing import Any

from pymesos_rt import preload, serialization
from pymesos_rt.client import backend as backend_mod
from pymesos_rt.client.refs import decode
from pymesos_rt.errors import ObjectLostError, TaskCancelledError, make_task_error
from pymesos_rt.executor import output, returns
from pymesos_rt.executor.actor_host import ActorHost
from pymesos_rt.executor.backend import WorkerBackend, value_of
from pymesos_rt.executor.recent import RecentResults
from pymesos_rt.executor.runner import Runner
from pymesos_rt.executor.runtime_env import RuntimeEnv
from pymesos_rt.objects.access import StoreGone
from pymesos_rt.objects.client import STORE_ENV, STORE_TOKEN_ENV, StoreClient
from pymesos_rt.objects.stores import Stores
from pymesos_rt.protocol import codec
from pymesos_rt.protocol import messages as m
from pymesos_rt.protocol.ids import item_id, return_ids
from pymesos_rt.transport.blocking import BlockingLink
from pymesos_rt.transport.limits import DATA_PLANE_MAX

log = logging.getLogger(__name__)

OUTPUT_DELAY_S = 0.01
RESULT_DELAY_S = 0.001
RESULT_BATCH = 16


class Worker:
    def __init__(self, executor_id: str) -> None:
        self.executor_id = executor_id
        self.link: BlockingLink | None = None
        self.functions: dict[str, Any] = {}
        self.function_names: dict[str, str] = {}  # fn_id -> "module.qualname"
        self.runner = Runner(self.execute)
        self.stores = Stores(os.environ.get("PYMESOS_RT_SECRET", ""))
        self.backend = WorkerBackend(self.post, self.runner.blocked, self.stores)
        self.recent = RecentResults(self.runner.blocked)
        self._cancelled: set[str] = set()
        self._requeued: set[str] = set()  # tasks that did not run: their arguments were lost
        self.runtime_env = RuntimeEnv(self._fetch_raw)
        self._flush_cv = threading.Condition()
        self._flush_at: float | None = None  # when the flusher writes what is queued
        self._interrupted = False
        self.actor: ActorHost | None = None  # set by StartActor: this executor hosts an actor
        self.preloader = preload.Preloader(self._idle)

    def run(self, url: str, secret: str) -> str:
        """Serve the driver until it closes the connection or says stop; returns why."""
        self._connect_store()
        link = BlockingLink.open(url, codec.worker_side(), secret, max_message_size=DATA_PLANE_MAX)
        link.on_stranded = lambda: self._flush_within(0.0)
        link.poll_frames = True  # calls in short gaps: the reader polls before it sleeps
        self.link = link
        if self._interrupted:  # SIGTERM while connecting
            link.close("terminated")
            return "terminated"
        host = os.environ.get("PYMESOS_RT_NODE") or socket.gethostname()
        link.send(m.Hello(self.executor_id, os.getpid(), host))
        backend_mod.set_backend(self.backend)
        self.backend.forward_handles()
        sys.stdout = output.TaskStream("stdout", sys.__stdout__, self.post)  # type: ignore[arg-type]
        sys.stderr = output.TaskStream("stderr", sys.__stderr__, self.post)  # type: ignore[arg-type]
        threading.Thread(target=self._flusher, name="flusher", daemon=True).start()
        try:
            return self._serve(link)
        finally:
            self.preloader.stop()

    def _serve(self, link: BlockingLink) -> str:
        while True:
            batch = link.receive()
            if batch is None:
                return f"driver connection closed: {link.close_reason}"
            self.preloader.activity()
            if self.on_messages(batch):
                if self.actor is not None:
                    self.actor.run_exit_handlers()
                link.close("asked to stop")
                return "asked to stop"

    def _connect_store(self) -> None:
        """Map this node's object store (the agent says where it is in the environment)."""
        name = os.environ.get(STORE_ENV)
        if not name:
            return
        try:
            client = StoreClient.connect(
                name, os.environ.get(STORE_TOKEN_ENV, ""), f"executor {self.executor_id}"
            )
        except (OSError, StoreGone) as exc:
            log.warning("no object store: %s (large values travel inline)", exc)
            return
        self.stores.set_home(client)

    def _idle(self) -> bool:
        """No task here, no actor, and the runtime env set up (a module it ships must win over
        the default one): the preloader imports only then."""
        return self.actor is None and self.runtime_env.ready and self.runner.idle()

    def interrupt(self) -> None:
        """Make :meth:`run` return soon (from a signal handler: takes no lock)."""
        self._interrupted = True
        if self.link is not None:
            with contextlib.suppress(OSError):
                self.link.sock.shutdown(socket.SHUT_RDWR)

    def _fetch_raw(self, oids: list[str]) -> list[bytes]:
        """The bytes of put objects (runtime env archives)."""
        found = self.backend.get(oids, None)
        assert found is not None
        out = []
        for oid, (state, data) in zip(oids, found, strict=True):
            try:
                value = decode(state, data, oid, self.backend)
            except Exception as exc:
                raise RuntimeError(f"runtime env archive {oid} is not available: {exc}") from None
            out.append(bytes(value))
        return out

    # --- messages from the driver ------------------------------------------------------------
    def on_messages(self, messages: list[Any]) -> bool:
        """Handle one batch; True when the driver asked this executor to stop."""
        for msg in messages:
            match msg:
                case m.RunTask():
                    self._requeued.discard(msg.task_id)
                    self.runner.submit(msg)
                case m.ObjectValues() | m.StateReply():
                    self.backend.deliver(msg)
                case m.CallMethod() if self.actor is not None:
                    self.actor.call(msg)
                case m.StartActor():
                    self.preloader.stop()  # an actor's executor preloads nothing
                    self.actor = ActorHost(
                        msg, self.post, self._post_now, self.backend.pack, self._leave
                    )
                case m.ActorLookup():
                    self.backend.deliver_lookup(msg)
                case m.CancelTask() if self.actor is not None and self.actor.cancel(msg.task_id):
                    pass
                case m.CancelTask():
                    self._cancelled.add(msg.task_id)
                    dropped = self.runner.cancel(msg.task_id)
                    if dropped is not None:
                        self._report_cancelled(dropped)
                case m.Preload():
                    self.preloader.want(msg.modules)
                case m.StopWorker():
                    return True
        return False

    # --- posting from any thread -------------------------------------------------------------
    def post(self, message: Any) -> None:
        link = self.link
        if link is None:
            return
        if isinstance(message, m.Output | m.Borrow | m.Unborrow):
            link.queue(message)  # goes out with the next message (a result), or soon
            self._flush_within(OUTPUT_DELAY_S)
        elif isinstance(message, m.Yielded) or (
            isinstance(message, (m.TaskDone, m.TaskFailed)) and self._more_queued()
        ):
            # more tasks are queued here: their results may share this one's frame
            if link.queue(message) >= RESULT_BATCH:
                link.flush()
            else:
                self._flush_within(RESULT_DELAY_S)  # or sooner, with a later result
        else:
            link.send(message)

    def _post_now(self, message: Any) -> None:
        if self.link is not None:
            self.link.send(message)

    def _more_queued(self) -> bool:
        actor = self.actor
        return bool(self.runner.queued() or (actor is not None and actor.queued()))

    def _leave(self) -> None:
        """Flush and close the driver connection (an actor that exits by itself)."""
        link = self.link
        if link is not None:
            link.flush()
            link.close("the actor exited")

    def _flush_within(self, delay: float) -> None:
        when = time.monotonic() + delay
        with self._flush_cv:
            if self._flush_at is None or when < self._flush_at:
                self._flush_at = when
                self._flush_cv.notify()

    def _flusher(self) -> None:
        while True:
            with self._flush_cv:
                while self._flush_at is None or time.monotonic() < self._flush_at:
                    timeout = None if self._flush_at is None else self._flush_at - time.monotonic()
                    self._flush_cv.wait(timeout)
                self._flush_at = None
            if self.link is None or self.link.closed:
                return
            self.link.flush()

    # --- running one task --------------------------------------------------------------------
    def execute(self, task: m.RunTask) -> None:
        started = time.perf_counter()
        output.current.task_id = task.task_id
        output.current.task = task
        outputs = return_ids(task.task_id, task.num_returns)
        try:
            self.runtime_env.ensure()
            fn = self._function(task)
            output.current.function_name = self.function_names.get(task.fn_id)
            values = self._arguments(task)
            if values is None:  # arguments were lost: the driver rebuilds them or fails it
                return
            if isinstance(values, m.ObjectBlob):  # as the driver fails dependents of a failure
                inherited = [m.ObjectBlob(oid, values.data, True) for oid in outputs]
                self.runner.finishing(task.task_id)
                output.current.task_id = None
                self._finish(task, m.TaskFailed(task.task_id, values.data, "", 0.0), inherited)
                return
            args, kwargs = serialization.loads_args(task.args, values)
            del values
            result = fn(*args, **kwargs)
            del args, kwargs
            if task.num_returns < 0:  # a generator: its items go out as it yields them
                result = self._stream(task, result)
            elif task.num_returns > 1:
                result = returns.split(result, task.num_returns)
            else:
                result = returns.settle(result)
            self.runner.finishing(task.task_id)  # a cancel no longer interrupts this thread
            if task.num_returns > 1:
                blobs = self._return_blobs(task, outputs, *result)
            else:
                packed = self.backend.pack(task.task_id, result if task.num_returns else None)
        except BaseException as exc:
            self.runner.finishing(task.task_id)
            self._flush_streams()
            output.current.task_id = None
            if task.task_id in self._cancelled:
                self._report_cancelled(task)
                return
            if exc.__traceback__ is not None and exc.__traceback__.tb_next is not None:
                exc.__traceback__ = exc.__traceback__.tb_next  # hide this frame
            error, text = self._task_error(task, exc)
            elapsed = time.perf_counter() - started
            failed = m.TaskFailed(task.task_id, error, text, elapsed)
            self._finish(task, failed, [m.ObjectBlob(oid, error, True) for oid in outputs])
            return
        self._flush_streams()
        output.current.task_id = None
        elapsed = time.perf_counter() - started
        if task.num_returns > 1:
            self._finish(task, m.TaskDone(task.task_id, b"", elapsed, returns=blobs), blobs)
            return
        done = m.TaskDone(
            task.task_id, packed.data, elapsed, packed.location, contained=packed.contained
        )
        self._finish(task, done, [packed])
        del result  # only now: refs inside it must not be unborrowed before the driver holds them

    def _function(self, task: m.RunTask) -> Any:
        fn = self.functions.get(task.fn_id)
        if fn is None:
            if task.fn is None:
                raise RuntimeError(f"function {task.fn_id} of task {task.name} was never sent")
            fn = self.functions[task.fn_id] = serialization.loads(task.fn)
            module = getattr(fn, "__module__", None) or "__main__"
            self.function_names[task.fn_id] = f"{module}.{getattr(fn, '__qualname__', task.name)}"
        return fn

    def _arguments(self, task: m.RunTask) -> dict[str, Any] | m.ObjectBlob | None:
        """The values of the task's argument objects, the failed result of a chained one, or
        None when arguments were lost (the task is handed back to the driver)."""
        values: dict[str, Any] = {}
        lost: list[str] = []
        why = ""
        for blob in task.deps:
            if blob.error:
                raise serialization.loads_exception(blob.data)
            try:
                values[blob.object_id] = value_of(blob)
            except ObjectLostError as exc:
                lost.append(blob.object_id)
                why = str(exc)
        for oid in task.local_deps:
            blob = self.recent.wait_for(oid)
            if oid in self._requeued:  # its producer did not run either
                lost.append(oid)
                why = why or f"{oid} is to run again"
                continue
            if blob.error:
                return blob
            values[oid] = value_of(blob)
        if lost:
            self._requeue(task, lost, why)
            return None
        return values

    def _requeue(self, task: m.RunTask, lost: list[str], why: str) -> None:
        """The task cannot run: arguments were lost. The driver rebuilds them (or fails it)."""
        self.runner.finishing(task.task_id)
        output.current.task_id = None
        self._requeued.add(task.task_id)
        for oid in return_ids(task.task_id, task.num_returns):  # wakes tasks chained behind
            self.recent.add(m.ObjectBlob(oid, b"", True))
        self.post(m.DepsLost(task.task_id, lost, why))

    @staticmethod
    def _task_error(task: m.RunTask, exc: BaseException) -> tuple[bytes, str]:
        """The pickled ``TaskError`` that ``get`` raises for ``exc``, and its traceback."""
        exc_data, text = serialization.dumps_exception(exc)
        cause = serialization.loads_exception(exc_data)
        # pickled as an exception: the cause keeps its class even if it rebuilds only without
        # its __init__ (see serialization.dumps_exception)
        error, _ = serialization.dumps_exception(make_task_error(cause, task.name, text))
        return error, text

    def _stream(self, task: m.RunTask, result: Any) -> int:
        """Report each item of a generator task as it is yielded; returns how many."""
        count = 0
        for value in returns.items(result):
            blob = self.backend.pack(item_id(task.task_id, count), value)
            self.post(m.Yielded(task.task_id, count, blob))
            count += 1
        return count

    def _return_blobs(
        self, task: m.RunTask, outputs: list[str], values: list[Any], error: BaseException | None
    ) -> list[m.ObjectBlob]:
        """The blobs of a task of several returns: its values, then its error for the rest."""
        blobs = [self.backend.pack(oid, value) for oid, value in zip(outputs, values, strict=False)]
        if error is not None:
            data, _ = self._task_error(task, error)
            blobs += [m.ObjectBlob(oid, data, True) for oid in outputs[len(values) :]]
        return blobs

    def _finish(self, task: m.RunTask, message: Any, results: list[m.ObjectBlob]) -> None:
        """Report a task's end, and keep its results for tasks chained behind it here."""
        for result in results:
            self.recent.add(result)
        self.post(message)

    def _report_cancelled(self, task: m.RunTask) -> None:
        self._cancelled.discard(task.task_id)
        error = TaskCancelledError(f"task {task.name} ({task.task_id}) was cancelled")
        data = serialization.dumps_value(error)
        outputs = return_ids(task.task_id, task.num_returns)
        blobs = [m.ObjectBlob(oid, data, True) for oid in outputs]
        self._finish(task, m.TaskFailed(task.task_id, data, "", 0.0), blobs)

    @staticmethod
    def _flush_streams() -> None:
        for stream in (sys.stdout, sys.stderr):
            if isinstance(stream, output.TaskStream):
                stream.flush()
