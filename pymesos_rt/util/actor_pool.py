"""``rt.util.ActorPool``: spread work over a fixed set of actors, as Ray's.

``pool.submit(fn, value)`` calls ``fn(actor, value)`` (which must return an ``ObjectRef``,
e.g. ``lambda a, v: a.work.remote(v)``) on an idle actor, or queues it until one is free;
results come back in submission order (``get_next``) or as they finish
(``get_next_unordered``). ``map``/``map_unordered`` submit everything at once and yield the
values. ``push`` adds an actor, ``pop_idle`` takes an idle one out. Not thread-safe: use a pool
from one thread.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import pymesos_rt as rt
from pymesos_rt.client.actor import ActorHandle
from pymesos_rt.client.refs import ObjectRef

Submit = Callable[[Any, Any], Any]


class ActorPool:
    def __init__(self, actors: Iterable[ActorHandle]) -> None:
        self._idle_actors: list[ActorHandle] = list(actors)
        self._future_to_actor: dict[ObjectRef, tuple[int, ActorHandle]] = {}
        self._index_to_future: dict[int, Any] = {}  # the ref, or the list of refs of N returns
        self._next_task_index = 0
        self._next_return_index = 0
        self._pending_submits: deque[tuple[Submit, Any]] = deque()

    # --- submitting ----------------------------------------------------------------------
    def submit(self, fn: Submit, value: Any) -> None:
        """Run ``fn(actor, value)`` on an idle actor now, or on the next one that frees up."""
        if not self._idle_actors:
            self._pending_submits.append((fn, value))
            return
        actor = self._idle_actors.pop()
        future = fn(actor, value)
        key = _key(future)
        self._future_to_actor[key] = (self._next_task_index, actor)
        self._index_to_future[self._next_task_index] = future
        self._next_task_index += 1

    def map(self, fn: Submit, values: Iterable[Any]) -> Iterator[Any]:
        """Results of ``fn(actor, v)`` for every value, in order. Submits all at once; the
        results of earlier submits are dropped first (not waited for), as in Ray."""
        self._drop_outstanding()
        for value in values:
            self.submit(fn, value)
        return self._drain(self.get_next)

    def map_unordered(self, fn: Submit, values: Iterable[Any]) -> Iterator[Any]:
        """Results of ``fn(actor, v)`` for every value, as they finish."""
        self._drop_outstanding()
        for value in values:
            self.submit(fn, value)
        return self._drain(self.get_next_unordered)

    def _drain(self, take: Callable[[], Any]) -> Iterator[Any]:
        while self.has_next():
            yield take()

    def _drop_outstanding(self) -> None:
        self._pending_submits.clear()
        for index in sorted(self._index_to_future):
            future = self._index_to_future.pop(index)
            _, actor = self._future_to_actor.pop(_key(future))
            self._idle_actors.append(actor)
        self._next_return_index = self._next_task_index

    # --- results -------------------------------------------------------------------------
    def has_next(self) -> bool:
        """Whether results are outstanding."""
        return bool(self._future_to_actor)

    def get_next(self, timeout: float | None = None, ignore_if_timedout: bool = False) -> Any:
        """The result of the oldest outstanding submit (raises its error). On timeout: raise
        ``TimeoutError``, or with ``ignore_if_timedout`` drop that submit and return None."""
        if not self.has_next():
            raise StopIteration("No more results to get")
        if self._next_return_index >= self._next_task_index:
            raise ValueError("It is not allowed to call get_next() after get_next_unordered().")
        index = self._next_return_index
        future = self._index_to_future[index]
        refs = [future] if isinstance(future, ObjectRef) else list(future)
        ready, _ = rt.wait(refs, num_returns=len(refs), timeout=timeout)
        timed_out = len(ready) < len(refs)
        if timed_out and not ignore_if_timedout:
            raise TimeoutError(f"Timed out waiting for result after {timeout}s")
        del self._index_to_future[index]
        self._next_return_index += 1
        _, actor = self._future_to_actor.pop(_key(future))
        self._return_actor(actor)
        if timed_out:
            return None
        return rt.get(future) if isinstance(future, ObjectRef) else rt.get(refs)

    def get_next_unordered(
        self, timeout: float | None = None, ignore_if_timedout: bool = False
    ) -> Any:
        """The result of whichever outstanding submit finishes first. On timeout: raise
        ``TimeoutError``, or with ``ignore_if_timedout`` return None."""
        if not self.has_next():
            raise StopIteration("No more results to get")
        ready, _ = rt.wait(list(self._future_to_actor), num_returns=1, timeout=timeout)
        if not ready:
            if ignore_if_timedout:
                return None
            raise TimeoutError(f"Timed out waiting for result after {timeout}s")
        index, actor = self._future_to_actor.pop(ready[0])
        future = self._index_to_future.pop(index)
        self._return_actor(actor)
        return rt.get(future) if isinstance(future, ObjectRef) else rt.get(list(future))

    # --- the actors ----------------------------------------------------------------------
    def _return_actor(self, actor: ActorHandle) -> None:
        self._idle_actors.append(actor)
        if self._pending_submits:
            self.submit(*self._pending_submits.popleft())

    def has_free(self) -> bool:
        """Whether an actor is idle (and no submit waits for one)."""
        return bool(self._idle_actors) and not self._pending_submits

    def pop_idle(self) -> ActorHandle | None:
        """Take an idle actor out of the pool (None if none is idle)."""
        return self._idle_actors.pop() if self.has_free() else None

    def push(self, actor: ActorHandle) -> None:
        """Add an actor; a queued submit runs on it at once."""
        busy = [a for _, a in self._future_to_actor.values()]
        if actor in self._idle_actors or actor in busy:
            raise ValueError("Actor already belongs to current ActorPool")
        self._return_actor(actor)


def _key(future: Any) -> ObjectRef:
    """The ref that tells when a submit is done (the first, for N returns)."""
    if isinstance(future, ObjectRef):
        return future
    refs = list(future)
    if not refs or not isinstance(refs[0], ObjectRef):
        raise TypeError(f"an ActorPool function must return ObjectRef(s), got {future!r}")
    return refs[0]
