"""Actors on the client side: ``@remote`` on a class, handles, method calls, and the calls a
Ray user knows (``rt.method``, ``rt.get_actor``, ``rt.kill``, ``rt.exit_actor``).

- :class:`ActorClass` (what ``@rt.remote`` makes of a class): ``Cls.remote(*args)`` returns an
  :class:`ActorHandle` at once; ``Cls.options(...)`` overrides :class:`ActorOptions`; calling
  ``Cls(...)`` raises ``TypeError``.
- :class:`ActorHandle`: ``handle.method.remote(*args)`` returns an ``ObjectRef`` (a list of
  them with ``num_returns`` > 1, None with 0). Handles pickle (into tasks' arguments and
  other actors); see ``client/handles.py`` for how they keep their actor alive.
- Resources: an actor without ``num_cpus`` needs 1 CPU free to be placed but its executor holds
  none (no cpu quota, the smallest cpu share), as Ray's default actor needs 1 CPU to schedule
  and 0 to run; with ``num_cpus=N`` it needs and holds N. ``memory`` and ``resources`` are
  needed and held alike (``memory`` is the executor's memory limit).
- The graceful stop method is ``handle.__rt_terminate__.remote()`` (``__ray_terminate__`` is
  the same): it runs after the calls queued before it, then the actor's process runs its exit
  handlers and ends.

Arguments are pickled on the caller's thread (errors name the argument at ``.remote()``), and
arguments that do not bind to the constructor's or method's signature raise ``TypeError`` there.
"""

from __future__ import annotations

import dataclasses
import hashlib
import inspect
import pickle
import threading
from collections.abc import Callable
from typing import Any

from pymesos_rt import serialization
from pymesos_rt.client import backend as backend_mod
from pymesos_rt.client import handles
from pymesos_rt.client.options import GPUS
from pymesos_rt.client.refs import ObjectRef
from pymesos_rt.errors import PymesosRTError
from pymesos_rt.protocol import messages as m
from pymesos_rt.protocol.resources import CPUS, MEM, Resources, parse_memory

TERMINATE = "__rt_terminate__"  # the graceful stop method
READY = "__rt_ready__"  # returns True once the constructor has run
_BUILTIN = {
    TERMINATE: TERMINATE,
    "__ray_terminate__": TERMINATE,
    READY: READY,
    "__ray_ready__": READY,
}
DEFAULT_ASYNC_CONCURRENCY = 1000


@dataclasses.dataclass(frozen=True)
class ActorOptions:
    num_cpus: float | None = None
    num_gpus: float = 0.0
    memory: int | str | None = None
    resources: dict[str, float] | None = None
    max_restarts: int = 0
    max_task_retries: int = 0
    max_concurrency: int | None = None
    name: str | None = None
    namespace: str | None = None
    get_if_exists: bool = False
    lifetime: str | None = None

    def __post_init__(self) -> None:
        if self.num_cpus is not None and (
            not isinstance(self.num_cpus, int | float) or self.num_cpus < 0
        ):
            raise ValueError(f"num_cpus must be a number >= 0, got {self.num_cpus!r}")
        gpus = self.num_gpus
        if not isinstance(gpus, int | float) or isinstance(gpus, bool) or gpus < 0:
            raise ValueError(f"num_gpus must be a number >= 0, got {gpus!r}")
        if gpus > 1 and gpus != int(gpus):
            raise ValueError(f"num_gpus above 1 must be a whole number, got {gpus}")
        for key in ("max_restarts", "max_task_retries"):
            value = getattr(self, key)
            if not isinstance(value, int) or value < -1:
                raise ValueError(f"{key} must be an int >= -1 (-1: no limit), got {value!r}")
        if self.max_concurrency is not None and (
            not isinstance(self.max_concurrency, int) or self.max_concurrency < 1
        ):
            raise ValueError(f"max_concurrency must be an int >= 1, got {self.max_concurrency!r}")
        if self.name is not None and (not isinstance(self.name, str) or not self.name):
            raise ValueError(f"name must be a non-empty string, got {self.name!r}")
        if self.get_if_exists and not self.name:
            raise ValueError("get_if_exists=True needs a name=")
        if self.lifetime == "detached":
            raise ValueError(
                "lifetime='detached' is not supported: an actor lives as long as the program "
                "that created it (its framework) and stops when the program ends"
            )
        if self.lifetime not in (None, "non_detached"):
            raise ValueError(f"lifetime must be None or 'non_detached', got {self.lifetime!r}")
        for key in self.resources or {}:
            if key in (CPUS, MEM, "memory", "CPU", "GPU", GPUS):
                raise ValueError(
                    f"give {key!r} with num_cpus=, num_gpus= or memory=, not in resources="
                )
        self.placement()  # validates memory and resources

    def _common(self) -> dict[str, float]:
        items: dict[str, float] = dict(self.resources or {})
        if self.num_gpus:
            items[GPUS] = float(self.num_gpus)
        if self.memory is not None:
            items[MEM] = parse_memory(self.memory) / 2**20
        return items

    def placement(self) -> Resources:
        """What an offer must have free to place the actor."""
        cpus = 1.0 if self.num_cpus is None else float(self.num_cpus)
        return Resources({CPUS: cpus, **self._common()})

    def shape(self) -> Resources:
        """What the actor's executor holds while it lives: without ``num_cpus``, no CPU (as
        Ray's default actor); it may hold nothing at all."""
        cpus = 0.0 if self.num_cpus is None else float(self.num_cpus)
        return Resources({CPUS: cpus, **self._common()})

    def merged(self, **overrides: Any) -> ActorOptions:
        unknown = set(overrides) - _OPTION_NAMES
        if unknown:
            raise TypeError(
                f"unknown actor option(s) {sorted(unknown)}; allowed: {sorted(_OPTION_NAMES)}"
            )
        return dataclasses.replace(self, **overrides)


_OPTION_NAMES = {f.name for f in dataclasses.fields(ActorOptions)}


@dataclasses.dataclass(frozen=True)
class HandleState:
    """What a handle needs, in any process: pickled with handles and kept by the driver for
    ``rt.get_actor``."""

    actor_id: str
    class_name: str
    methods: dict[str, int]  # method name -> num_returns
    max_task_retries: int


# --- the actor a process hosts (set by the executor) -----------------------------------------
@dataclasses.dataclass(frozen=True)
class ActorContext:
    actor_id: str
    class_name: str
    restarts: int
    name: str
    namespace: str


_current: ActorContext | None = None


def set_current_actor(context: ActorContext | None) -> None:
    global _current
    _current = context


def current_actor() -> ActorContext | None:
    """The actor this process hosts (inside an actor's methods), else None."""
    return _current


def current_actor_id() -> str | None:
    return _current.actor_id if _current is not None else None


class ActorExit(BaseException):
    """Raised by :func:`exit_actor`; the executor ends the actor when a method raises it."""


def exit_actor() -> None:
    """End the actor whose method calls this: the call and every call not yet answered fail
    with ``ActorDiedError``, exit handlers run, the executor's resources return to the master."""
    if _current is None:
        raise TypeError("exit_actor() can only be called inside an actor's method")
    raise ActorExit(f"rt.exit_actor() was called in actor {_current.class_name}")


# --- methods ---------------------------------------------------------------------------------
def method(*, num_returns: int = 1) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """``@rt.method(num_returns=N)`` on an actor's method: calls return N refs."""
    if not isinstance(num_returns, int) or num_returns < 0:
        raise ValueError(f"num_returns must be an int >= 0, got {num_returns!r}")

    def mark(fn: Callable[..., Any]) -> Callable[..., Any]:
        fn.__rt_num_returns__ = num_returns  # type: ignore[attr-defined]
        return fn

    return mark


def _refs(oids: list[str], num_returns: int, backend: backend_mod.Backend) -> Any:
    if num_returns == 1:
        return ObjectRef(oids[0], backend)
    if num_returns == 0:
        return None
    return [ObjectRef(oid, backend) for oid in oids]


class ActorMethod:
    """``handle.method``: holds the handle's state and token (not the handle: no cycle), so
    it keeps the actor alive as a handle does."""

    def __init__(
        self,
        handle: ActorHandle,
        name: str,
        num_returns: int,
        bind: Callable[..., Any] | None,
    ) -> None:
        self._state = handle._state
        self._token = handle._token
        self._name = name
        self._num_returns = num_returns
        self._bind = bind

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        raise TypeError(
            f"actor method {self._name!r} cannot be called directly; "
            f"use handle.{self._name}.remote(...)"
        )

    def remote(self, *args: Any, **kwargs: Any) -> Any:
        return self._submit(self._num_returns, args, kwargs)

    def options(self, *, num_returns: int | None = None, name: str | None = None) -> _BoundMethod:
        """Per-call options: ``num_returns`` (``name`` is accepted for Ray's sake)."""
        if num_returns is not None and (not isinstance(num_returns, int) or num_returns < 0):
            raise ValueError(f"num_returns must be an int >= 0, got {num_returns!r}")
        return _BoundMethod(self, self._num_returns if num_returns is None else num_returns)

    def _submit(self, num_returns: int, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        backend = backend_mod.current()
        if self._bind is not None:
            try:
                self._bind(None, *args, **kwargs)
            except TypeError as exc:
                raise TypeError(f"{self._state.class_name}.{self._name}(): {exc}") from None
        with handles.collecting() as held:
            data, deps = serialization.dumps_args(args, kwargs)
        state = self._state
        oids = backend.call_actor(
            state.actor_id, self._name, data, deps, num_returns, state.max_task_retries, held
        )
        return _refs(oids, num_returns, backend)


class _BoundMethod:
    def __init__(self, method: ActorMethod, num_returns: int) -> None:
        self._method = method
        self._num_returns = num_returns

    def remote(self, *args: Any, **kwargs: Any) -> Any:
        return self._method._submit(self._num_returns, args, kwargs)


# --- handles ---------------------------------------------------------------------------------
class ActorHandle:
    """A reference to an actor; ``handle.method.remote(...)`` calls it."""

    def __init__(
        self, state: HandleState, signatures: dict[str, Callable[..., Any]] | None = None
    ) -> None:
        self._state = state
        self._signatures = signatures or {}
        self._token = handles.presence.token(state.actor_id)
        self._methods: dict[str, ActorMethod] = {}

    @property
    def _actor_id(self) -> str:
        return self._state.actor_id

    def __getattr__(self, name: str) -> ActorMethod:
        known = self.__dict__
        if "_state" not in known:  # not built yet (copy, unpickling)
            raise AttributeError(name)
        cached: ActorMethod | None = known["_methods"].get(name)
        if cached is not None:
            return cached
        state: HandleState = known["_state"]
        if name in _BUILTIN:
            found = ActorMethod(self, _BUILTIN[name], 1, None)
        elif name in state.methods:
            found = ActorMethod(self, name, state.methods[name], self._signatures.get(name))
        else:
            raise AttributeError(f"actor {state.class_name!r} has no method {name!r}")
        known["_methods"][name] = found
        return found

    def __reduce__(self) -> Any:
        if not handles.pickled(self._state.actor_id):
            backend = backend_mod.current_or_none()
            if backend is not None:
                backend.escape_actor(self._state.actor_id)
        return (_rebuild, (self._state,))

    def __repr__(self) -> str:
        return f"ActorHandle({self._state.class_name}, {self._state.actor_id})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, ActorHandle) and other._state.actor_id == self._state.actor_id

    def __hash__(self) -> int:
        return hash(self._state.actor_id)


def _rebuild(state: HandleState) -> ActorHandle:
    return ActorHandle(state)


def handle_from_meta(meta: bytes) -> ActorHandle:
    state = pickle.loads(meta)
    if not isinstance(state, HandleState):
        raise PymesosRTError("the driver answered with something that is not an actor handle")
    return ActorHandle(state)


# --- classes ---------------------------------------------------------------------------------
def _method_table(cls: type) -> tuple[dict[str, int], dict[str, Callable[..., Any]], bool]:
    """(name -> num_returns, name -> signature binder, whether any method is async)."""
    methods: dict[str, int] = {}
    binders: dict[str, Callable[..., Any]] = {}
    is_async = False
    for name in dir(cls):
        if name.startswith("__") and name.endswith("__"):
            continue
        raw = inspect.getattr_static(cls, name)
        if isinstance(raw, staticmethod | classmethod):
            fn = raw.__func__
        elif inspect.isfunction(raw):
            fn = raw
        else:
            continue
        methods[name] = int(getattr(fn, "__rt_num_returns__", 1))
        if inspect.iscoroutinefunction(fn) or inspect.isasyncgenfunction(fn):
            is_async = True
        try:
            sig = inspect.signature(fn)
        except (TypeError, ValueError):
            continue
        if isinstance(raw, staticmethod):
            # calls bind a placeholder receiver first: give static methods one to ignore
            params = [inspect.Parameter("_", inspect.Parameter.POSITIONAL_ONLY)]
            sig = sig.replace(parameters=params + list(sig.parameters.values()))
        binders[name] = _binder(sig)
    return methods, binders, is_async


def _binder(sig: inspect.Signature) -> Callable[..., Any]:
    """``sig.bind``, with a shortcut for the common call (positional arguments only, as many
    as the signature takes): binding costs microseconds on every ``.remote()``."""
    kind = inspect.Parameter
    params = list(sig.parameters.values())
    positional = [p for p in params if p.kind in (kind.POSITIONAL_ONLY, kind.POSITIONAL_OR_KEYWORD)]
    if any(p.kind is kind.KEYWORD_ONLY and p.default is p.empty for p in params):
        return sig.bind
    low = sum(1 for p in positional if p.default is p.empty)
    high = None if any(p.kind is kind.VAR_POSITIONAL for p in params) else len(positional)
    bind = sig.bind

    def check(*args: Any, **kwargs: Any) -> None:
        if not kwargs and low <= len(args) and (high is None or len(args) <= high):
            return
        bind(*args, **kwargs)

    return check


class ActorClass:
    """What ``@rt.remote`` makes of a class."""

    def __init__(self, cls: type, options: ActorOptions) -> None:
        self._cls = cls
        self._options = options
        self._methods, self._binders, self._is_async = _method_table(cls)
        init: Any = getattr(cls, "__init__", object.__init__)
        self._init_bind: Callable[..., Any] | None = None
        if init is not object.__init__:
            try:
                self._init_bind = inspect.signature(init).bind
            except (TypeError, ValueError):
                self._init_bind = None
        self._pickled: tuple[str, bytes] | None = None
        self._lock = threading.Lock()
        self.__doc__ = cls.__doc__
        self.__name__ = cls.__name__
        self.__qualname__ = cls.__qualname__
        self.__module__ = cls.__module__

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        name = self._cls.__name__
        raise TypeError(
            f"actor class {name!r} cannot be instantiated directly; use {name}.remote(...)"
        )

    def __getattr__(self, name: str) -> Any:
        """Class attributes (constants, static and class methods) of the wrapped class, so
        that methods that name their own class keep working inside the actor."""
        cls = self.__dict__.get("_cls")
        if cls is None or (name.startswith("__") and name.endswith("__")):
            raise AttributeError(name)
        return getattr(cls, name)

    def __mro_entries__(self, bases: tuple[Any, ...]) -> tuple[type, ...]:
        raise TypeError("Inheriting from actor classes is not currently supported.")

    def options(self, **overrides: Any) -> _BoundActorClass:
        return _BoundActorClass(self, self._options.merged(**overrides))

    def remote(self, *args: Any, **kwargs: Any) -> ActorHandle:
        return self._create(self._options, args, kwargs)

    def _class_bytes(self) -> tuple[str, bytes]:
        if self._pickled is None:
            with self._lock:
                if self._pickled is None:
                    data = serialization.dumps_function(self._cls)
                    self._pickled = (hashlib.sha1(data).hexdigest()[:16], data)
        return self._pickled

    def _create(
        self, options: ActorOptions, args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> ActorHandle:
        backend = backend_mod.current()
        name = self._cls.__name__
        if self._init_bind is not None:
            try:
                self._init_bind(None, *args, **kwargs)
            except TypeError as exc:
                raise TypeError(f"{name}(): {exc}") from None
        elif args or kwargs:
            raise TypeError(f"{name}() takes no arguments")
        cls_id, cls_bytes = self._class_bytes()
        with handles.collecting() as held:
            data, deps = serialization.dumps_args(args, kwargs)
        placement = options.placement()
        backend.check_shape(placement)
        state = HandleState(
            backend.new_actor_id(), self._cls.__qualname__, self._methods, options.max_task_retries
        )
        concurrency = options.max_concurrency or (
            DEFAULT_ASYNC_CONCURRENCY if self._is_async else 1
        )
        spec = m.ActorSpec(
            state.actor_id,
            state.class_name,
            cls_id,
            cls_bytes,
            data,
            deps,
            placement,
            options.shape(),
            options.max_restarts,
            options.max_task_retries,
            concurrency,
            self._is_async,
            pickle.dumps(state),
            options.name or "",
            options.namespace or "",
            options.get_if_exists,
            held,
        )
        existing = backend.create_actor(spec)
        if existing is not None:  # get_if_exists found the named actor
            return handle_from_meta(existing)
        return ActorHandle(state, self._binders)

    def __repr__(self) -> str:
        return f"ActorClass({self._cls.__qualname__})"

    def __reduce__(self) -> Any:
        return (ActorClass, (self._cls, self._options))


class _BoundActorClass:
    def __init__(self, actor_class: ActorClass, options: ActorOptions) -> None:
        self._actor_class = actor_class
        self._options = options

    def remote(self, *args: Any, **kwargs: Any) -> ActorHandle:
        return self._actor_class._create(self._options, args, kwargs)

    def options(self, **overrides: Any) -> _BoundActorClass:
        return _BoundActorClass(self._actor_class, self._options.merged(**overrides))


# --- by name, and kill -----------------------------------------------------------------------
def get_actor(name: str, namespace: str | None = None) -> ActorHandle:
    """The handle of the live actor called ``name`` (in ``namespace``) in this program."""
    if not isinstance(name, str) or not name:
        raise ValueError(f"get_actor takes a non-empty name, got {name!r}")
    return handle_from_meta(backend_mod.current().lookup_actor(name, namespace or ""))


def kill(actor: ActorHandle, *, no_restart: bool = True) -> None:
    """Stop an actor at once (no exit handlers run): its unanswered calls fail with
    ``ActorDiedError``; with ``no_restart=False`` it restarts if it has restarts left."""
    if not isinstance(actor, ActorHandle):
        raise ValueError(  # Ray's type (ray.kill)
            f"rt.kill() takes an actor handle, got {type(actor).__name__}; "
            "for tasks use rt.cancel()"
        )
    backend_mod.current().kill_actor(actor._actor_id, no_restart)
