"""Large arguments go by reference: put into the object store by the caller, passed by id.

A task's arguments travel inside its ``RunTask`` message; one that is large (a numpy array,
bytes, a big list) would be copied through the driver's websocket several times. As in Ray,
each large top-level argument is instead stored with ``put`` (one copy, into the caller's
node's store) and replaced by its ``ObjectRef``, which the executor resolves to the value
(read-only views of the store for numpy arrays). The caller sees no difference.
"""

from __future__ import annotations

from typing import Any

from pymesos_rt import serialization
from pymesos_rt.client import handles
from pymesos_rt.client.backend import Backend
from pymesos_rt.client.refs import ObjectRef
from pymesos_rt.objects.layout import THRESHOLD


def _large(value: Any) -> bool:
    """Cheap test for the usual large values (no pickling)."""
    if isinstance(value, bytes | bytearray | memoryview | str):
        return len(value) >= THRESHOLD
    nbytes = getattr(type(value), "nbytes", None) is not None and getattr(value, "nbytes", None)
    return isinstance(nbytes, int) and nbytes >= THRESHOLD


def _measured(value: Any) -> int:
    """The pickled size of a value (refs and actor handles inside are not taken as escaping)."""
    with handles.collecting():
        return len(serialization.dumps_value(value, []))


def by_reference(
    backend: Backend, args: tuple[Any, ...], kwargs: dict[str, Any], *, measure: bool = False
) -> tuple[tuple[Any, ...], dict[str, Any], list[ObjectRef]]:
    """``args`` and ``kwargs`` with each large top-level value put into the store and replaced
    by its ref (the refs are returned too: keep them until the task is submitted). With
    ``measure``, every argument is pickled to find the large ones, not only the usual kinds."""
    held: list[ObjectRef] = []

    def swap(value: Any) -> Any:
        if isinstance(value, ObjectRef):
            return value
        big = _large(value) or (measure and _measured(value) >= THRESHOLD)
        if not big:
            return value
        ref = ObjectRef(backend.put(value), backend)
        held.append(ref)
        return ref

    new_args = tuple(swap(a) for a in args)
    new_kwargs = {k: swap(v) for k, v in kwargs.items()}
    return new_args, new_kwargs, held
