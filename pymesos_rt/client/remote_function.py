"""``@remote`` functions: the ``.remote()`` call and the pickled function cache.

Options are declared once (:class:`~pymesos_rt.client.options.RemoteOptions`); ``@remote(...)``
and ``.options(...)`` both take exactly its fields, so there is one list of keywords.
``.remote()`` returns what ``num_returns`` says: one ``ObjectRef``, a list of them, ``None``
(``num_returns=0``), or an ``ObjectRefGenerator`` (generator functions, ``"streaming"``).
"""

from __future__ import annotations

import functools
import hashlib
import inspect
import threading
from collections.abc import Callable
from typing import Any, Generic, ParamSpec, TypeVar

from pymesos_rt import serialization
from pymesos_rt.client import backend as backend_mod
from pymesos_rt.client import handles, large_args
from pymesos_rt.client.generators import ObjectRefGenerator
from pymesos_rt.client.options import RemoteOptions
from pymesos_rt.client.refs import ObjectRef
from pymesos_rt.objects.layout import THRESHOLD
from pymesos_rt.protocol import messages as m
from pymesos_rt.protocol.ids import return_ids

P = ParamSpec("P")
R = TypeVar("R")


class RemoteFunction(Generic[P, R]):
    def __init__(self, fn: Callable[P, R], options: RemoteOptions) -> None:
        self._fn = fn
        self._options = options
        self._pickled: tuple[str, bytes] | None = None
        self._lock = threading.Lock()
        self._task_options: tuple[backend_mod.Backend, backend_mod.TaskOptions] | None = None
        self._binder: Callable[..., Any] | None = None  # the signature's bind, made at first use
        functools.update_wrapper(self, fn)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        name = getattr(self._fn, "__name__", "function")
        raise TypeError(
            f"remote function {name!r} cannot be called directly; "
            f"use {name}.remote(...) to run it as a task"
        )

    def options(self, **overrides: Any) -> _BoundOptions[P, R]:
        return _BoundOptions(self, self._options.merged(**overrides))

    def remote(self, /, *args: P.args, **kwargs: P.kwargs) -> Any:
        return self._submit(self._options, args, kwargs)

    def _function_bytes(self) -> tuple[str, bytes]:
        if self._pickled is None:
            with self._lock:
                if self._pickled is None:
                    data = serialization.dumps_function(self._fn)
                    self._pickled = (hashlib.sha1(data).hexdigest()[:16], data)
        return self._pickled

    def _check_binds(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
        """Arguments that do not fit the function's signature fail here, not in the task."""
        binder = self._binder
        if binder is None:
            try:
                binder = inspect.signature(self._fn).bind
            except (TypeError, ValueError):  # no signature to check (some builtins)
                binder = _accept_anything
            self._binder = binder
        try:
            binder(*args, **kwargs)
        except TypeError as exc:
            name = getattr(self._fn, "__qualname__", "function")
            raise TypeError(f"{name}.remote(): {exc}") from None

    def _submit(self, options: RemoteOptions, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        self._check_binds(args, kwargs)  # as a plain call would, before anything else
        backend = backend_mod.current()
        fn_id, fn = self._function_bytes()
        args, kwargs, big = large_args.by_reference(backend, args, kwargs)
        with handles.collecting() as held:  # actor handles in the arguments
            data, deps = serialization.dumps_args(args, kwargs)
        if len(data) >= THRESHOLD:  # large in a way the cheap test missed: store them too
            args, kwargs, more = large_args.by_reference(backend, args, kwargs, measure=True)
            big += more
            with handles.collecting() as held:
                data, deps = serialization.dumps_args(args, kwargs)
        if options is self._options:
            cached = self._task_options
            if cached is None or cached[0] is not backend:
                cached = self._task_options = (backend, self._make_task_options(options, backend))
            task = cached[1]
        else:
            task = self._make_task_options(options, backend)
        backend.check_shape(task.shape)
        oid = backend.submit(backend_mod.PickledCall(fn_id, fn, data, deps), task)
        del big  # the task pins its arguments now
        if held:
            backend.pin_handles(oid, held)
        n = task.num_returns
        if n in (1, m.DYNAMIC):
            return ObjectRef(oid, backend)
        if n == m.STREAMING:
            return ObjectRefGenerator(oid, backend)
        if n == 0:
            return None
        return [ObjectRef(rid, backend) for rid in return_ids(oid, n)]

    def _make_task_options(
        self, options: RemoteOptions, backend: backend_mod.Backend
    ) -> backend_mod.TaskOptions:
        return options.task_options(
            self._fn, lambda data: ObjectRef(backend.put(data), backend), backend
        )

    def __reduce__(self) -> Any:
        return (RemoteFunction, (self._fn, self._options))


class _BoundOptions(Generic[P, R]):
    def __init__(self, rf: RemoteFunction[P, R], options: RemoteOptions) -> None:
        self._rf = rf
        self._options = options

    def remote(self, /, *args: P.args, **kwargs: P.kwargs) -> Any:
        return self._rf._submit(self._options, args, kwargs)

    def options(self, **overrides: Any) -> _BoundOptions[P, R]:
        return _BoundOptions(self._rf, self._options.merged(**overrides))


def _accept_anything(*args: Any, **kwargs: Any) -> None:
    pass
