"""What a task's function gave back, as the objects it completes.

- Coroutines (``async def`` tasks) run to completion on an event loop of their own, in the
  task's thread; async generators are iterated the same way.
- ``num_returns=1``: the value (of a generator, its first item). ``0``: nothing (the value is
  dropped). ``N > 1``: a sequence of exactly N values, or a generator whose first N items are
  the values (more are ignored, as in Ray; fewer, or an exception part way, fail the returns
  not yet produced).
- ``STREAMING``/``DYNAMIC``: a generator whose items are reported one by one as they are
  yielded (:func:`items`).

Imports ``protocol`` only.
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import AsyncIterator, Iterator
from typing import Any


def settle(value: Any) -> Any:
    """``value``, or the result of running it if it is a coroutine, or the one item of a
    generator (``num_returns=1`` given for a generator function)."""
    if inspect.iscoroutine(value):
        return asyncio.run(value)
    if inspect.isgenerator(value) or inspect.isasyncgen(value):
        values, error = split(value, 1)
        if error is not None:
            raise error
        return values[0]
    return value


def items(value: Any) -> Iterator[Any]:
    """The items of a generator task's result (a sync or async generator)."""
    if inspect.isasyncgen(value):
        return _drain_async(value)
    if inspect.isgenerator(value) or isinstance(value, Iterator):
        return value
    raise TypeError(
        "a task with num_returns='streaming' or 'dynamic' must be a generator function "
        f"(it returned {type(value).__name__})"
    )


def _drain_async(agen: AsyncIterator[Any]) -> Iterator[Any]:
    loop = asyncio.new_event_loop()
    try:
        while True:
            try:
                yield loop.run_until_complete(agen.__anext__())
            except StopAsyncIteration:
                return
    finally:
        loop.close()


def split(value: Any, n: int) -> tuple[list[Any], BaseException | None]:
    """The first values of a task of ``n > 1`` returns, and the error that stopped it from
    producing the rest (None when it produced all ``n``)."""
    if inspect.isgenerator(value) or inspect.isasyncgen(value):
        values: list[Any] = []
        try:
            for item in items(value):
                values.append(item)
                if len(values) == n:
                    break
        except Exception as exc:
            return values, exc
        if len(values) < n:
            return values, ValueError(f"the generator yielded {len(values)} values, expected {n}")
        return values, None
    if not isinstance(value, list | tuple):
        raise TypeError(
            f"a task with num_returns={n} must return a list or tuple of {n} values "
            f"(it returned {type(value).__name__})"
        )
    if len(value) != n:
        raise ValueError(f"the task returned {len(value)} values, but num_returns={n}")
    return list(value), None
