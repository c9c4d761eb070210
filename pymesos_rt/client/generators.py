"""Generator tasks on the caller's side: ``ObjectRefGenerator`` and ``DynamicObjectRefGenerator``.

A generator function called with ``.remote()`` (or any function with
``num_returns="streaming"``) returns an :class:`ObjectRefGenerator` at once; its refs arrive as
the task yields (``for ref in gen``, ``next(gen)``, ``async for ref in gen``). If the task
raises (or is cancelled, or its executor is lost with no retries left), the next ref raises
that error on ``get`` and the generator ends. A retried task yields again from the start: the
items already delivered keep their first values.

``num_returns="dynamic"`` returns one ``ObjectRef`` whose value, once the task ends, is a
:class:`DynamicObjectRefGenerator` over all the items' refs (an error ends it the same way).

The generator owns the items it has not handed out: dropping it releases them.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Iterator
from typing import TYPE_CHECKING, Any

from pymesos_rt.client import backend as backend_mod
from pymesos_rt.client.refs import ObjectRef
from pymesos_rt.errors import GetTimeoutError

if TYPE_CHECKING:  # asyncio costs ~25 ms of import; loaded where used
    import asyncio


class ObjectRefGenerator(Iterator[ObjectRef], AsyncIterator[ObjectRef]):
    def __init__(self, task_id: str, backend: backend_mod.Backend) -> None:
        self._task_id = task_id
        self._backend = backend
        self._index = 0
        self._ended = False

    def task_id(self) -> str:
        """The generator task's id (``rt.cancel(gen)`` cancels it)."""
        return self._task_id

    def __iter__(self) -> ObjectRefGenerator:
        return self

    def __next__(self) -> ObjectRef:
        return self._next_sync(None)

    def _next_sync(self, timeout_s: float | None) -> ObjectRef:
        """The next ref, waiting up to ``timeout_s`` for the task to yield it."""
        if self._ended:
            raise StopIteration
        found = self._backend.stream_next(self._task_id, self._index, timeout_s)
        if found is None:
            raise GetTimeoutError(f"no item from generator task {self._task_id} in {timeout_s}s")
        return self._take(found)

    def _take(self, found: str) -> ObjectRef:
        if not found:  # the stream has ended
            self._ended = True
            raise StopIteration
        self._index += 1
        return ObjectRef(found, self._backend)

    def __aiter__(self) -> ObjectRefGenerator:
        return self

    async def __anext__(self) -> ObjectRef:
        if self._ended:
            raise StopAsyncIteration
        import asyncio

        loop = asyncio.get_running_loop()
        fut: asyncio.Future[str] = loop.create_future()

        def settle(found: str) -> None:
            if not fut.done():
                fut.set_result(found)

        def deliver(found: str) -> None:
            loop.call_soon_threadsafe(settle, found)

        self._backend.stream_on_next(self._task_id, self._index, deliver)
        try:
            return self._take(await fut)
        except StopIteration:
            raise StopAsyncIteration from None

    def completed(self) -> ObjectRef:
        """A ref that is ready (its value: the number of items) once the task has ended."""
        self._backend.add_ref(self._task_id)
        return ObjectRef(self._task_id, self._backend)

    def __del__(self) -> None:
        with contextlib.suppress(Exception):  # interpreter shutdown
            self._backend.stream_close(self._task_id, self._index)

    def __reduce__(self) -> Any:
        raise TypeError(
            "an ObjectRefGenerator cannot be passed to another task; pass the refs it yields, "
            'or use num_returns="dynamic" (whose value is a list of refs)'
        )

    def __repr__(self) -> str:
        return f"ObjectRefGenerator({self._task_id}, next item {self._index})"


class DynamicObjectRefGenerator:
    """The value of a ``num_returns="dynamic"`` task: the refs of the items it yielded."""

    def __init__(self, refs: list[ObjectRef]) -> None:
        self._refs = list(refs)

    def __iter__(self) -> Iterator[ObjectRef]:
        return iter(self._refs)

    def __len__(self) -> int:
        return len(self._refs)

    def __repr__(self) -> str:
        return f"DynamicObjectRefGenerator({len(self._refs)} refs)"


def dynamic_value(item_ids: list[str]) -> DynamicObjectRefGenerator:
    """The value the driver stores for a dynamic task that yielded ``item_ids``."""
    return DynamicObjectRefGenerator([ObjectRef(oid, None) for oid in item_ids])
