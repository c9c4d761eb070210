"""Hosting one actor in an executor: the instance, its constructor and its method calls.

An executor becomes an actor's host when the driver sends ``StartActor`` (the first message
on an actor's executor); every later ``CallMethod`` runs a method of that one instance.

- **Sync actors** (no ``async def`` method), ``max_concurrency`` 1: one thread runs the
  constructor and then the calls, one at a time, in the order they arrived (the driver sends
  each caller's calls in submission order). A method blocked in ``rt.get`` blocks its actor.
- **Threaded actors** (sync, ``max_concurrency`` N > 1): up to N threads take calls in
  arrival order and run them at once; none starts before the constructor returned.
- **Async actors** (any ``async def`` method): an event loop on a thread of its own runs the
  constructor, then each call as a task, at most ``max_concurrency`` (default 1000) at once;
  sync methods of an async actor run on the loop's thread too. ``await ref`` inside a method
  waits without blocking the other calls.

A call's exception fails that call only. :func:`~pymesos_rt.client.actor.exit_actor` (and the
graceful stop method ``__rt_terminate__``) end the actor: ``ActorExiting`` goes to the driver,
the process runs its exit handlers (``atexit``) and exits; calls not answered by then fail in
the driver. A constructor that raises fails the creation; calls that follow fail with its error.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import inspect
import logging
import os
import sys
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Any

from pymesos_rt import serialization
from pymesos_rt.client.actor import READY, TERMINATE, ActorContext, ActorExit, set_current_actor
from pymesos_rt.errors import TaskCancelledError, make_task_error
from pymesos_rt.executor import output
from pymesos_rt.executor.backend import value_of
from pymesos_rt.protocol import messages as m
from pymesos_rt.protocol.ids import return_id

log = logging.getLogger(__name__)

Item = m.StartActor | m.CallMethod


def encode_failure(exc: BaseException, task_name: str) -> bytes:
    """The pickled ``TaskError`` that ``get`` raises for ``exc``."""
    if exc.__traceback__ is not None and exc.__traceback__.tb_next is not None:
        exc.__traceback__ = exc.__traceback__.tb_next  # hide the host's frame
    exc_data, text = serialization.dumps_exception(exc)
    cause = serialization.loads_exception(exc_data)
    return serialization.dumps_value(make_task_error(cause, task_name, text))


class ActorHost:
    def __init__(
        self,
        start: m.StartActor,
        post: Callable[[Any], None],
        post_now: Callable[[Any], None],
        pack: Callable[[str, Any], m.ObjectBlob],
        leave: Callable[[], None],
    ) -> None:
        self.actor_id = start.actor_id
        self.class_name = start.class_name
        self.concurrency = max(1, start.max_concurrency)
        self.is_async = start.is_async
        self._post = post
        self._post_now = post_now  # the constructor's answer is never held back
        self._pack = pack
        self._leave = leave  # flush and close the driver connection
        self.instance: Any = None
        self._failed: bytes | None = None  # the constructor's error
        self._exiting = False
        self._cv = threading.Condition()
        self._queue: deque[Item] = deque([start])
        self._constructed = False
        self._running: dict[str, asyncio.Task[None]] = {}  # async calls by task id
        set_current_actor(
            ActorContext(
                start.actor_id, start.class_name, start.restarts, start.name, start.namespace
            )
        )
        if self.is_async:
            self._loop = asyncio.new_event_loop()
            self._active = 0  # calls started on the loop and not answered
            self._waiting: dict[str, m.CallMethod] = {}  # beyond max_concurrency, in order
            threading.Thread(target=self._loop_main, name="actor-loop", daemon=True).start()
        else:
            self._threads = 0
            self._idle = 0
            self._spawn()

    # --- from the executor's main thread -------------------------------------------------
    def call(self, msg: m.CallMethod) -> None:
        with self._cv:
            self._queue.append(msg)
            first = len(self._queue) == 1
            if not self.is_async:
                self._wake_locked()
        if self.is_async and first:
            self._loop.call_soon_threadsafe(self._drain)

    def queued(self) -> int:
        """Calls here besides the one answering now (their results may share frames)."""
        if self.is_async:
            return len(self._queue) + len(self._waiting) + max(0, self._active - 1)
        return len(self._queue)

    def cancel(self, task_id: str) -> bool:
        """Drop a queued call (reported cancelled) or cancel a running async one; a running
        sync call is not interrupted. True if the call was this actor's."""
        with self._cv:
            for item in self._queue:
                if isinstance(item, m.CallMethod) and item.task_id == task_id:
                    self._queue.remove(item)
                    self._report_cancelled(item)
                    return True
        running = self._running.get(task_id)
        if running is not None:
            self._loop.call_soon_threadsafe(running.cancel)
            return True
        if self.is_async and task_id in self._waiting:
            self._loop.call_soon_threadsafe(self._cancel_waiting, task_id)
            return True
        return False

    def _cancel_waiting(self, task_id: str) -> None:
        call = self._waiting.pop(task_id, None)
        if call is not None:
            self._report_cancelled(call)

    def run_exit_handlers(self) -> None:
        """The process is told to stop (all handles gone): run the exit handlers first."""
        with contextlib.suppress(Exception):
            atexit._run_exitfuncs()

    # --- sync and threaded actors --------------------------------------------------------
    def _spawn(self) -> None:
        self._threads += 1
        self._idle += 1
        threading.Thread(
            target=self._thread_main, name=f"actor-{self._threads}", daemon=True
        ).start()

    def _wake_locked(self) -> None:
        if self._idle:
            self._cv.notify()
        if self._constructed and len(self._queue) > self._idle and self._threads < self.concurrency:
            self._spawn()

    def _thread_main(self) -> None:
        while True:
            with self._cv:
                while not self._queue or (
                    not self._constructed and not isinstance(self._queue[0], m.StartActor)
                ):
                    self._cv.wait()
                item = self._queue.popleft()
                self._idle -= 1
            try:
                if isinstance(item, m.StartActor):
                    self._construct(item)
                else:
                    self._run_sync(item)
            finally:
                with self._cv:
                    self._idle += 1
                    if isinstance(item, m.StartActor):
                        self._constructed = True
                        while self._queue and self._threads < min(
                            self.concurrency, len(self._queue)
                        ):
                            self._spawn()
                        self._cv.notify_all()

    def _run_sync(self, call: m.CallMethod) -> None:
        started = time.perf_counter()
        output.current.task_id = call.task_id
        try:
            fn = self._method(call)
            args, kwargs = self._arguments(call)
            result = fn(*args, **kwargs)
            if inspect.isawaitable(result):  # a coroutine from a sync actor's method
                result = asyncio.run(_await(result))
        except ActorExit as exit_:
            output.current.task_id = None
            self._exit(str(exit_) or "rt.exit_actor() was called")
            return
        except BaseException as exc:
            output.current.task_id = None
            self._fail(call, exc, started)
            return
        output.current.task_id = None
        self._done(call, result, started)

    # --- async actors --------------------------------------------------------------------
    def _loop_main(self) -> None:
        asyncio.set_event_loop(self._loop)
        self._loop.call_soon(self._drain)
        self._loop.run_forever()

    def _drain(self) -> None:
        with self._cv:
            items = list(self._queue)
            self._queue.clear()
        for item in items:
            if isinstance(item, m.StartActor):
                self._construct(item)
                self._constructed = True
            else:
                self._waiting[item.task_id] = item
        self._fill()

    def _fill(self) -> None:
        """Start waiting calls while fewer than ``max_concurrency`` run (a loop, not a
        recursion: calls that never wait end inside ``_begin``)."""
        while self._waiting and self._active < self.concurrency:
            task_id = next(iter(self._waiting))
            self._begin(self._waiting.pop(task_id))

    def _begin(self, call: m.CallMethod) -> None:
        """Start a call on the loop's thread: run it up to its first ``await`` that waits; a
        call that never waits answers at once, without a task of its own."""
        self._active += 1
        started = time.perf_counter()
        output.current.task_id = call.task_id
        try:
            fn = self._method(call)
            args, kwargs = self._arguments(call)
            result = fn(*args, **kwargs)
            if inspect.iscoroutine(result):
                try:
                    first = result.send(None)
                except StopIteration as stop:
                    result = stop.value
                else:
                    task = self._loop.create_task(
                        self._run_async(call, _Continue(result, first), started)
                    )
                    self._running[call.task_id] = task
                    return
            elif inspect.isawaitable(result):
                task = self._loop.create_task(self._run_async(call, result, started))
                self._running[call.task_id] = task
                return
        except ActorExit as exit_:
            self._exit(str(exit_) or "rt.exit_actor() was called")
            return
        except BaseException as exc:
            output.current.task_id = None
            self._active -= 1
            self._fail(call, exc, started)
            return
        output.current.task_id = None
        self._active -= 1
        self._done(call, result, started)

    async def _run_async(self, call: m.CallMethod, pending: Any, started: float) -> None:
        try:
            result = await pending
        except ActorExit as exit_:
            self._exit(str(exit_) or "rt.exit_actor() was called")
            return
        except asyncio.CancelledError:
            self._report_cancelled(call)
            return
        except BaseException as exc:
            self._fail(call, exc, started)
            return
        finally:
            self._running.pop(call.task_id, None)
            output.current.task_id = None
            self._active -= 1
            self._fill()
        self._done(call, result, started)

    # --- both ----------------------------------------------------------------------------
    def _construct(self, start: m.StartActor) -> None:
        started = time.perf_counter()
        output.current.task_id = start.task_id
        name = f"{self.class_name}.__init__"
        try:
            if start.cls is None:
                raise RuntimeError(f"the class of actor {self.class_name} was never sent")
            cls = serialization.loads(start.cls)
            args, kwargs = serialization.loads_args(start.args, _values(start.deps))
            self.instance = cls(*args, **kwargs)
        except ActorExit as exit_:
            output.current.task_id = None
            self._exit(str(exit_))
            return
        except BaseException as exc:
            output.current.task_id = None
            self._failed = encode_failure(exc, name)
            elapsed = time.perf_counter() - started
            self._post_now(m.TaskFailed(start.task_id, self._failed, "", elapsed))
            return
        output.current.task_id = None
        elapsed = time.perf_counter() - started
        self._post_now(m.TaskDone(start.task_id, serialization.dumps_value(None), elapsed))

    def _method(self, call: m.CallMethod) -> Callable[..., Any]:
        if self._failed is not None:
            raise _ConstructorFailed()
        if call.method == TERMINATE:
            raise ActorExit(f"the graceful stop method {TERMINATE} was called")
        if call.method == READY:
            return _ready
        found: Callable[..., Any] = getattr(self.instance, call.method)
        return found

    def _arguments(self, call: m.CallMethod) -> tuple[tuple[Any, ...], dict[str, Any]]:
        return serialization.loads_args(call.args, _values(call.deps))

    def _done(self, call: m.CallMethod, result: Any, started: float) -> None:
        try:
            if call.num_returns == 1:
                packed = self._pack(call.task_id, result)
                elapsed = time.perf_counter() - started
                self._post(
                    m.TaskDone(
                        call.task_id,
                        packed.data,
                        elapsed,
                        packed.location,
                        contained=packed.contained,
                    )
                )
                return
            values = [] if call.num_returns == 0 else list(result)
            if len(values) != call.num_returns:
                raise ValueError(
                    f"{self.class_name}.{call.method} returned {len(values)} value(s) but was "
                    f"declared with num_returns={call.num_returns}"
                )
            blobs = [self._pack(return_id(call.task_id, i), v) for i, v in enumerate(values)]
        except BaseException as exc:
            self._fail(call, exc, started)
            return
        elapsed = time.perf_counter() - started
        self._post(m.TaskDone(call.task_id, b"", elapsed, None, blobs))

    def _fail(self, call: m.CallMethod, exc: BaseException, started: float) -> None:
        if isinstance(exc, _ConstructorFailed) and self._failed is not None:
            error = self._failed
        else:
            error = encode_failure(exc, f"{self.class_name}.{call.method}")
        self._post(m.TaskFailed(call.task_id, error, "", time.perf_counter() - started))

    def _report_cancelled(self, call: m.CallMethod) -> None:
        error = TaskCancelledError(
            f"call {self.class_name}.{call.method} ({call.task_id}) was cancelled"
        )
        self._post(m.TaskFailed(call.task_id, serialization.dumps_value(error), "", 0.0))

    def _exit(self, reason: str) -> None:
        """End the actor and this process (from the thread that ran the exiting call)."""
        if self._exiting:
            return
        self._exiting = True
        log.info("actor %s exits: %s", self.actor_id, reason)
        self._post_now(m.ActorExiting(self.actor_id, reason))
        for stream in (sys.stdout, sys.stderr):
            with contextlib.suppress(Exception):
                stream.flush()
        self.run_exit_handlers()
        self._leave()
        os._exit(0)


class _Continue:
    """Awaits the rest of a coroutine that :meth:`ActorHost._begin` started by hand: hands the
    task that runs it whatever the coroutine waits on, and forwards what the task sends or
    throws back (cancellation)."""

    def __init__(self, coro: Any, first: Any) -> None:
        self.coro = coro
        self.first = first

    def __await__(self) -> Any:
        pending = self.first
        while True:
            try:
                sent = yield pending
            except GeneratorExit:
                self.coro.close()
                raise
            except BaseException as exc:
                try:
                    pending = self.coro.throw(exc)
                except StopIteration as stop:
                    return stop.value
                continue
            try:
                pending = self.coro.send(sent)
            except StopIteration as stop:
                return stop.value


class _ConstructorFailed(Exception):
    """A call reached an actor whose constructor raised (its error is the answer)."""


def _values(deps: list[m.ObjectBlob]) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for blob in deps:
        if blob.error:
            raise serialization.loads_exception(blob.data)
        values[blob.object_id] = value_of(blob)
    return values


def _ready() -> bool:
    return True


async def _await(awaitable: Any) -> Any:
    return await awaitable
