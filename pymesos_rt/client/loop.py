"""The runtime's event loop: on a daemon thread of its own, except while a user thread waits.

The loop (the driver, and in an embedded cluster the master and the agent too) normally runs on
its own daemon thread, so the sync API never touches (or blocks) an event loop the user already
runs, such as a Jupyter kernel's. Handing work between that thread and a user thread costs a
thread wake-up each way (tens of microseconds here, most of a small task's round trip), so the
loop goes to the thread that waits:

- A user thread that blocks in ``get``/``wait`` runs the loop itself until what it waits for is
  done (:meth:`LoopThread.wait_for`): the result frame is read, and the object completed, by the
  thread that wants it.
- It then keeps the loop, idle, for ``HOLD_S``: what it submits meanwhile is handled at once on
  its own thread (:meth:`LoopThread.run_here`), so a task goes out with no hand-off either.
- The loop's thread takes the loop back when the holder has been idle for ``HOLD_S``, when
  another thread hands the loop work (:meth:`LoopThread.call_soon_threadsafe` nudges it) or
  waits for a result, and at shutdown.

Exactly one thread runs loop code at a time (``_mutex``), so the code on the loop stays
single-threaded as before. A thread with an event loop of its own running (Jupyter's kernel
thread) never takes the loop; in the main thread Ctrl-C is deferred while loop code runs and
raised as ``KeyboardInterrupt`` once the loop is left consistent.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextvars
import importlib
import os
import signal
import threading
import time
from collections.abc import Callable, Coroutine
from typing import Any, Protocol, TypeVar

from pymesos_rt.transport.polling import PollBudget

# the C functions: signal.signal/getsignal wrap them in enum conversions that cost more than
# the rest of a wait here (they run twice per get in the main thread)
_c_signal = importlib.import_module("_signal")
_getsignal: Callable[[int], Any] = _c_signal.getsignal
_setsignal: Callable[[int, Any], Any] = _c_signal.signal
_SIGINT = int(signal.SIGINT)
_QUIET = (signal.default_int_handler, int(signal.SIG_IGN), int(signal.SIG_DFL))

T = TypeVar("T")

HOLD_S = 0.002  # an idle user thread keeps the loop this long before the loop's thread takes it
BUSY_WAKE_S = 0.01  # the loop's thread looks again this often while a user thread runs it


class Wakeable(Protocol):
    """What a thread waits for: ``event``, and ``wake``, called when it is set (the object
    table's waiters)."""

    event: threading.Event
    wake: Callable[[], None] | None


class LoopThread:
    def __init__(self, name: str = "pymesos-rt-loop") -> None:
        self.loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._mutex = threading.Lock()  # held by the thread running loop code now
        self._cv = threading.Condition()  # the loop's thread waits here to take the loop back
        self._holder = 0  # thread running loop code now (0: none)
        self._owner = 0  # thread the idle loop belongs to (the loop's thread, or a user thread)
        self._active_at = 0.0  # when the owning user thread last used the loop
        self._takers = 0  # threads waiting for the loop to stop so that they can run it
        self._waiting = 0  # threads waiting for results without the loop (see wait_for)
        self._run_id = 0
        self._fresh = False  # the owner waited and has not run anything here since
        self._waits = PollBudget()  # how long this loop's waits that ended took, recently
        self._closing = False
        self.thread = threading.Thread(target=self._run, name=name, daemon=True)
        self.thread.start()
        self._ready.wait()

    # --- the loop's own thread -------------------------------------------------------------
    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.loop.call_soon(self._ready.set)
        me = threading.get_ident()
        while self._take_back(me):
            self._holder = me
            try:
                self.loop.run_forever()  # until stop(), or another thread takes the loop
            finally:
                self._holder = 0
                self._mutex.release()
        with self._mutex:
            self.loop.close()

    def _take_back(self, me: int) -> bool:
        """Hold ``_mutex`` and own the loop once no thread wants it: its user owner went idle
        (``HOLD_S``), gave it back, or other threads wait for results. False at shutdown."""
        with self._cv:
            while not self._closing:
                owner, holder = self._owner, self._holder
                idle_for = time.monotonic() - self._active_at
                mine = owner in (me, 0) or (holder == 0 and (idle_for >= HOLD_S or self._waiting))
                if mine and not self._takers:
                    if self._mutex.acquire(blocking=False):
                        if not self._takers and self._holder == 0:
                            self._owner = me
                            return True
                        self._mutex.release()
                    self._cv.wait(HOLD_S / 4)  # someone is in loop code right now
                elif holder == 0 and not self._takers:
                    self._cv.wait(HOLD_S - idle_for)  # the owner may use it again soon
                else:
                    self._cv.wait(BUSY_WAKE_S)  # told when the running thread lets go
        return False

    def _nudge(self) -> None:
        """Make the loop's thread take back an idle loop now (someone gave the loop work)."""
        if self._holder == 0 and self._owner != self.thread.ident:
            with self._cv:
                self._active_at = 0.0
                self._cv.notify()

    # --- taking the loop (user threads) ----------------------------------------------------
    def _may_run_here(self) -> bool:
        me = threading.get_ident()
        if self._closing or me in (self.thread.ident, self._holder):
            return False
        if asyncio._get_running_loop() is not None:  # e.g. Jupyter's kernel thread
            return False
        if threading.current_thread() is threading.main_thread():
            return _getsignal(_SIGINT) in _QUIET
        return True

    def _stop_if_taken(self) -> None:
        if self._takers:
            self.loop.stop()

    def _take(self) -> None:
        """Hold ``_mutex`` and own the loop; a thread running it is asked to stop first."""
        me = threading.get_ident()
        if self._mutex.acquire(blocking=False):
            self._owner = self._holder = me
            return
        with self._cv:
            self._takers += 1
        try:
            self.loop.call_soon_threadsafe(self._stop_if_taken)
            self._mutex.acquire()
            self._owner = self._holder = me
        finally:
            with self._cv:
                self._takers -= 1

    def _release(self, keep: bool) -> None:
        """Leave loop code; ``keep``: stay the idle loop's owner for ``HOLD_S``."""
        me = threading.get_ident()
        self._holder = 0
        if not keep or self._waiting or self._takers:
            self._owner = self.thread.ident or 0
        self._active_at = time.monotonic()
        self._mutex.release()
        if self._owner != me:
            with self._cv:
                self._cv.notify_all()

    def holding(self) -> bool:
        """Whether this thread is running loop code now."""
        return self._holder == threading.get_ident()

    def run_here(self, fn: Callable[[], None]) -> bool:
        """Run ``fn`` as loop code on this thread if this thread owns the idle loop and has
        not run anything here since its last wait (a serial caller: get, submit, get, ...);
        False (``fn`` not run) otherwise. A caller that submits many things in a row has the
        loop's thread take them in batches (one frame for many calls, while this thread goes
        on submitting), as before the loop went to the waiting thread."""
        me = threading.get_ident()
        if self._owner != me or not self._fresh or not self._mutex.acquire(blocking=False):
            return False
        try:
            if self._owner != me or self._closing or not self._fresh:
                return False
            self._fresh = False
            self._holder = me
            previous = asyncio._get_running_loop()
            asyncio._set_running_loop(self.loop)
            try:
                contextvars.Context().run(fn)
            finally:
                asyncio._set_running_loop(previous)
                self._holder = 0
        finally:
            self._active_at = time.monotonic()
            self._mutex.release()
        return True

    def wait_for(self, waiter: Wakeable, deadline: float | None) -> bool | None:
        """Run the loop on this thread until ``waiter.event`` is set (True) or ``deadline``
        passes (False). None: this thread may not run the loop now, or was asked to give it up
        first; the caller waits for the event the ordinary way (the loop's thread runs it)."""
        event = waiter.event
        if event.is_set():
            return True
        if not self._may_run_here():
            return None
        done = False
        interrupted: list[bool] = []
        # Ctrl-C is deferred from before the loop is taken until after it is left: raised
        # anywhere in between, it could leave the mutex held or loop code half done
        with _deferred_sigint(self.loop, interrupted):
            self._take()
            try:
                if not self._closing and not interrupted:
                    done = self._run_until(waiter, deadline)
            finally:
                self._fresh = done
                self._release(keep=done)
        if interrupted:
            raise KeyboardInterrupt
        if done:
            return True
        if deadline is not None and time.monotonic() >= deadline:
            return False
        return None

    def _run_until(self, waiter: Wakeable, deadline: float | None) -> bool:
        """Run the loop (this thread holds it) until the waiter's event is set or stops."""
        event = waiter.event
        self._run_id += 1
        loop = self.loop
        timer = None
        if deadline is not None:
            timer = loop.call_at(loop.time() + max(0.0, deadline - time.monotonic()), loop.stop)
        started = time.monotonic()
        try:
            waiter.wake = _Wake(loop, self._run_id, self)
            if not event.is_set():
                self._poll_first(event, started)
                loop.run_forever()
        finally:
            waiter.wake = None
            if timer is not None:
                timer.cancel()
        done = event.is_set()
        if done:
            self._waits.observed(time.monotonic() - started)
        return done

    def _poll_first(self, event: threading.Event, started: float) -> None:
        """If this thread's recent waits were short, keep the loop polling (``select`` with
        no timeout) for a while before it sleeps: a vCPU that halts takes tens of
        microseconds to wake here, as much as the rest of a short call's round trip."""
        budget = self._waits.budget()
        if not budget:
            return
        until = started + budget
        loop = self.loop

        def poll() -> None:
            if not event.is_set() and time.monotonic() < until:
                os.sched_yield()  # a runnable thread of this CPU goes first
                loop.call_soon(poll)

        loop.call_soon(poll)

    def waiting(self, delta: int) -> None:
        """A thread starts (+1) or stops (-1) waiting for results without the loop: then the
        loop must not stay idle with a user thread."""
        with self._cv:
            self._waiting += delta
        if delta > 0:
            self._nudge()

    # --- handing the loop work -------------------------------------------------------------
    def call_soon_threadsafe(
        self, fn: Callable[..., object], *args: object, context: contextvars.Context | None = None
    ) -> None:
        self.loop.call_soon_threadsafe(fn, *args, context=context)
        if self._holder == 0:
            self._nudge()

    def run(self, coro: Coroutine[Any, Any, T], timeout: float | None = None) -> T:
        """Run ``coro`` on the loop and wait for its result from another thread."""
        if threading.current_thread() is self.thread or self.holding():
            raise RuntimeError("LoopThread.run called from loop code")
        # in a fresh context: tasks on the loop must not inherit the caller's context variables
        # (ipykernel keeps "which cell is printing" in one, so output would go to the cell
        # that called init instead of the cell that is running)
        fut: concurrent.futures.Future[T] = contextvars.Context().run(
            asyncio.run_coroutine_threadsafe, coro, self.loop
        )
        self._nudge()
        try:
            return fut.result(timeout)
        except concurrent.futures.TimeoutError:
            fut.cancel()
            raise

    def stop(self) -> None:
        if self.loop.is_closed():
            return
        self._closing = True
        self.loop.call_soon_threadsafe(self.loop.stop)
        with self._cv:
            self._cv.notify_all()
        self.thread.join(timeout=10)


class _Wake:
    """Stops the loop run ``run_id`` once what it waits for is done (from any thread)."""

    __slots__ = ("loop", "owner", "run_id")

    def __init__(self, loop: asyncio.AbstractEventLoop, run_id: int, owner: LoopThread) -> None:
        self.loop, self.run_id, self.owner = loop, run_id, owner

    def __call__(self) -> None:
        if self.owner.holding():
            self.loop.stop()
        else:
            self.loop.call_soon_threadsafe(self._stop)

    def _stop(self) -> None:
        if self.owner._run_id == self.run_id and self.owner._holder:
            self.loop.stop()


class _deferred_sigint:
    """In the main thread, Ctrl-C while loop code runs stops the loop and is raised after."""

    def __init__(self, loop: asyncio.AbstractEventLoop, interrupted: list[bool]) -> None:
        self.loop, self.interrupted = loop, interrupted
        self.previous: Any = None

    def __enter__(self) -> None:
        if threading.current_thread() is not threading.main_thread():
            return
        if _getsignal(_SIGINT) is not signal.default_int_handler:
            return
        self.previous = _setsignal(_SIGINT, self._handler)

    def _handler(self, signum: int, frame: object) -> None:
        self.interrupted.append(True)
        self.loop.call_soon_threadsafe(self.loop.stop)

    def __exit__(self, *exc: object) -> None:
        if self.previous is not None:
            _setsignal(_SIGINT, self.previous)
