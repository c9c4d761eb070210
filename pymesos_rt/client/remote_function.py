"""``@remote`` functions: options, the ``.remote()`` call, and the pickled function cache.

Options are declared once (:class:`RemoteOptions`); ``@remote(...)`` and ``.options(...)`` both
take exactly its fields, so there is one list of keywords.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import threading
from collections.abc import Callable
from typing import Any, Generic, ParamSpec, TypeVar

from pymesos_rt import serialization
from pymesos_rt.client import backend as backend_mod
from pymesos_rt.client import large_args
from pymesos_rt.client.refs import ObjectRef
from pymesos_rt.objects.layout import THRESHOLD
from pymesos_rt.protocol.resources import CPUS, MEM, Resources, parse_memory

P = ParamSpec("P")
R = TypeVar("R")


@dataclasses.dataclass(frozen=True)
class RemoteOptions:
    num_cpus: float = 1.0
    memory: int | str | None = None
    resources: dict[str, float] | None = None
    max_retries: int = 3
    retry_exceptions: bool = False
    name: str | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.num_cpus, int | float) or self.num_cpus < 0:
            raise ValueError(f"num_cpus must be a number >= 0, got {self.num_cpus!r}")
        if not isinstance(self.max_retries, int) or self.max_retries < 0:
            raise ValueError(f"max_retries must be an int >= 0, got {self.max_retries!r}")
        for key in self.resources or {}:
            if key in (CPUS, MEM, "memory"):
                raise ValueError(f"give {key!r} with num_cpus= or memory=, not in resources=")
        self.shape()  # validates memory and resources

    def shape(self) -> Resources:
        items: dict[str, float] = {CPUS: float(self.num_cpus), **(self.resources or {})}
        if self.memory is not None:
            items[MEM] = parse_memory(self.memory) / 2**20
        shape = Resources(items)
        if shape.is_empty():
            shape = Resources({CPUS: 0.01})  # a task must hold something to be placed
        return shape

    def merged(self, **overrides: Any) -> RemoteOptions:
        unknown = set(overrides) - {f.name for f in dataclasses.fields(self)}
        if unknown:
            raise TypeError(f"unknown option(s) {sorted(unknown)}; allowed: {_OPTION_NAMES}")
        return dataclasses.replace(self, **overrides)


_OPTION_NAMES = ", ".join(f.name for f in dataclasses.fields(RemoteOptions))


class RemoteFunction(Generic[P, R]):
    def __init__(self, fn: Callable[P, R], options: RemoteOptions) -> None:
        self._fn = fn
        self._options = options
        self._pickled: tuple[str, bytes] | None = None
        self._lock = threading.Lock()
        self._task_options: backend_mod.TaskOptions | None = None
        functools.update_wrapper(self, fn)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        name = getattr(self._fn, "__name__", "function")
        raise TypeError(
            f"remote function {name!r} cannot be called directly; "
            f"use {name}.remote(...) to run it as a task"
        )

    def options(self, **overrides: Any) -> _BoundOptions[P, R]:
        return _BoundOptions(self, self._options.merged(**overrides))

    def remote(self, *args: P.args, **kwargs: P.kwargs) -> ObjectRef:
        return self._submit(self._options, args, kwargs)

    def _function_bytes(self) -> tuple[str, bytes]:
        if self._pickled is None:
            with self._lock:
                if self._pickled is None:
                    data = serialization.dumps_function(self._fn)
                    self._pickled = (hashlib.sha1(data).hexdigest()[:16], data)
        return self._pickled

    def _submit(
        self, options: RemoteOptions, args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> ObjectRef:
        backend = backend_mod.current()
        fn_id, fn = self._function_bytes()
        args, kwargs, held = large_args.by_reference(backend, args, kwargs)
        data, deps = serialization.dumps_args(args, kwargs)
        if len(data) >= THRESHOLD:  # large in a way the cheap test missed
            args, kwargs, more = large_args.by_reference(backend, args, kwargs, measure=True)
            held += more
            data, deps = serialization.dumps_args(args, kwargs)
        if options is self._options:
            if self._task_options is None:
                self._task_options = self._make_task_options(options)
            task = self._task_options
        else:
            task = self._make_task_options(options)
        backend.check_shape(task.shape)
        oid = backend.submit(backend_mod.PickledCall(fn_id, fn, data, deps), task)
        del held  # the task pins its arguments now
        return ObjectRef(oid, backend)

    def _make_task_options(self, options: RemoteOptions) -> backend_mod.TaskOptions:
        name = options.name or str(getattr(self._fn, "__qualname__", "task"))
        return backend_mod.TaskOptions(
            name, options.shape(), options.max_retries, options.retry_exceptions
        )

    def __reduce__(self) -> Any:
        return (RemoteFunction, (self._fn, self._options))


class _BoundOptions(Generic[P, R]):
    def __init__(self, rf: RemoteFunction[P, R], options: RemoteOptions) -> None:
        self._rf = rf
        self._options = options

    def remote(self, *args: P.args, **kwargs: P.kwargs) -> ObjectRef:
        return self._rf._submit(self._options, args, kwargs)

    def options(self, **overrides: Any) -> _BoundOptions[P, R]:
        return _BoundOptions(self._rf, self._options.merged(**overrides))
