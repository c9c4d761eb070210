"""Turning functions, arguments, values and exceptions into bytes and back.

The only module that uses cloudpickle and tblib. Promises:
- :func:`dumps_function` / :func:`dumps_args` raise :class:`SerializationError` at once, naming
  the object that could not be pickled (an argument, a captured variable, a global).
- Object references that are arguments themselves (``f.remote(ref)``, ``f.remote(x=ref)``) are
  written as references (persistent ids) and replaced by their values on the executor: see
  :func:`dumps_args` / :func:`loads_args`. References nested inside arguments (in a list, dict,
  tuple or object) stay references, as in Ray: the task may ``get`` or ``wait`` on them.
- Exceptions travel with their tracebacks (tblib); an exception that cannot be pickled arrives as
  :class:`RemoteException` holding its type name, message and traceback text.
It does not promise that values are portable between Python versions.
"""

from __future__ import annotations

import contextlib
import io
import logging
import marshal
import os
import pickle
import threading
import traceback
import types
from collections.abc import Callable, Iterator, Mapping
from typing import Any, SupportsIndex

import cloudpickle
import tblib.pickling_support

tblib.pickling_support.install()
log = logging.getLogger(__name__)

PROTOCOL = 5
_DEFAULT_REDUCERS = (BaseException.__reduce__, OSError.__reduce__)


class SerializationError(TypeError):
    """A function, argument or value could not be pickled or unpickled."""


class RefMarker:
    """Base of ``ObjectRef``: lets this module find references without importing the client."""

    __slots__ = ()
    object_id: str


class RemoteException(Exception):
    """Stands in for a remote exception whose class could not be pickled."""

    def __init__(self, type_name: str, message: str, traceback_text: str) -> None:
        super().__init__(f"{type_name}: {message}")
        self.type_name = type_name
        self.message = message
        self.traceback_text = traceback_text

    def __reduce__(self) -> tuple[Any, ...]:
        return (RemoteException, (self.type_name, self.message, self.traceback_text))


class _Pickler(cloudpickle.Pickler):  # type: ignore[misc]
    """cloudpickle, but code objects keep their file name and line numbers.

    cloudpickle (from 3.1.3) writes every code object it pickles by value with the file name
    ``<dynamic-code>``, so a remote traceback could no longer say where a user's function failed.
    Code objects go through :mod:`marshal` instead (what ``.pyc`` files use), which keeps them
    whole; both ends run the same Python, which pickled code needs anyway.

    Exceptions (those without a ``__reduce__`` of their own) are pickled field by field: class,
    ``args``, ``__dict__``, the built-in attributes (``errno``, ``code``, ``value``...), cause,
    context and traceback, and rebuilt without calling ``__init__`` (which may want other
    arguments than ``args``): :func:`_restore_exception`.
    """

    def __init__(self, file: io.BytesIO, buffer_callback: Any = None) -> None:
        super().__init__(file, protocol=PROTOCOL, buffer_callback=buffer_callback)

    lenient = False  # exceptions: drop the arguments and attributes that do not pickle

    def reducer_override(self, obj: Any) -> Any:
        if type(obj) is types.CodeType:
            try:
                return marshal.loads, (marshal.dumps(obj),)
            except ValueError:  # a hand-built code object holding unmarshallable constants
                pass
        elif isinstance(obj, BaseException) and type(obj).__reduce__ in _DEFAULT_REDUCERS:
            return _reduce_exception(obj, self.lenient)
        return super().reducer_override(obj)


def _dumps(obj: Any) -> bytes:
    buf = io.BytesIO()
    _Pickler(buf).dump(obj)
    return buf.getvalue()


class _Resolved:
    """Stands in for a top-level ``ObjectRef`` argument while the arguments are pickled."""

    __slots__ = ("object_id",)

    def __init__(self, object_id: str) -> None:
        self.object_id = object_id


def _top(value: Any) -> Any:
    return _Resolved(value.object_id) if isinstance(value, RefMarker) else value


class _ArgsPickler(_Pickler):
    def __init__(self, file: io.BytesIO) -> None:
        super().__init__(file)
        self.refs: list[str] = []

    def persistent_id(self, obj: Any) -> str | None:
        if type(obj) is _Resolved:
            self.refs.append(obj.object_id)
            return obj.object_id
        return None


class _ArgsUnpickler(pickle.Unpickler):
    def __init__(self, file: io.BytesIO, values: Mapping[str, Any]) -> None:
        super().__init__(file)
        self._values = values

    def persistent_load(self, pid: Any) -> Any:
        try:
            return self._values[pid]
        except KeyError:
            raise SerializationError(f"value of object {pid} was not sent with the task") from None


def _describe(obj: Any) -> str:
    text = repr(obj)
    if len(text) > 80:
        text = text[:77] + "..."
    return f"{type(obj).__module__}.{type(obj).__qualname__} {text}"


def _culprit(items: list[tuple[str, Any]]) -> str | None:
    for label, value in items:
        try:
            _dumps(value)
        except Exception:
            return f"{label} ({_describe(value)})"
    return None


def dumps_function(fn: Callable[..., Any]) -> bytes:
    try:
        return _dumps(fn)
    except Exception as exc:
        name = getattr(fn, "__qualname__", repr(fn))
        suspects: list[tuple[str, Any]] = []
        code = getattr(fn, "__code__", None)
        for var, cell in zip(
            getattr(code, "co_freevars", ()), getattr(fn, "__closure__", None) or (), strict=False
        ):
            try:
                suspects.append((f"captured variable {var!r}", cell.cell_contents))
            except ValueError:
                continue
        fn_globals = getattr(fn, "__globals__", {})
        for gname in getattr(code, "co_names", ()):
            if gname in fn_globals:
                suspects.append((f"global {gname!r}", fn_globals[gname]))
        culprit = _culprit(suspects)
        where = f": {culprit} cannot be pickled" if culprit else ""
        raise SerializationError(f"function {name!r} cannot be pickled{where} ({exc})") from exc


# Types whose pickles the standard library writes as cloudpickle does, about ten times faster
# (cloudpickle's Pickler costs microseconds to set up): no reference or code can hide in them.
_PLAIN = frozenset({type(None), bool, int, float, str, bytes})


def dumps_args(args: tuple[Any, ...], kwargs: dict[str, Any]) -> tuple[bytes, list[str]]:
    """Pickle call arguments; returns the bytes and the ids of the objects passed as arguments
    themselves (resolved to their values before the task runs; nested refs pickle as refs)."""
    if all(type(a) in _PLAIN for a in args) and all(type(v) in _PLAIN for v in kwargs.values()):
        return pickle.dumps((args, kwargs), PROTOCOL), []
    buf = io.BytesIO()
    pickler = _ArgsPickler(buf)
    top_args = tuple(_top(a) for a in args)
    top_kwargs = {k: _top(v) for k, v in kwargs.items()}
    try:
        pickler.dump((top_args, top_kwargs))
    except Exception as exc:
        items = [(f"argument {i}", a) for i, a in enumerate(args)]
        items += [(f"keyword argument {k!r}", v) for k, v in kwargs.items()]
        culprit = _culprit(items)
        what = culprit or "the arguments"
        raise SerializationError(f"{what} cannot be pickled: {exc}") from exc
    return buf.getvalue(), list(dict.fromkeys(pickler.refs))


_held: threading.Event | None = None  # set while unpickling may go on (see hold)
_holder = 0  # the thread holding it: its own unpickling goes on


@contextlib.contextmanager
def hold() -> Iterator[None]:
    """While inside, unpickling in this process waits, but on this thread (an executor's
    preload imports modules meanwhile: two threads importing one package at once can see it
    half-initialized)."""
    global _held, _holder
    gate = threading.Event()
    _holder = threading.get_ident()
    _held = gate
    try:
        yield
    finally:
        _held = None
        _holder = 0
        gate.set()


HELD_WARN_S = 10.0


def _unheld() -> None:
    gate = _held
    if gate is not None and _holder != threading.get_ident() and not gate.wait(HELD_WARN_S):
        log.warning("unpickling has waited %gs for this executor's preload imports", HELD_WARN_S)
        gate.wait()


def _forget_hold() -> None:
    """In a forked child: the thread that held is not there."""
    global _held, _holder
    _held, _holder = None, 0


os.register_at_fork(after_in_child=_forget_hold)


def loads_args(data: bytes, values: Mapping[str, Any]) -> tuple[tuple[Any, ...], dict[str, Any]]:
    _unheld()
    args, kwargs = _ArgsUnpickler(io.BytesIO(data), values).load()
    return args, kwargs


_sink = threading.local()


def ref_sink() -> list[str] | None:
    """While this thread pickles a value for the runtime, the list that collects the ids of the
    references inside it (``ObjectRef.__reduce__`` records itself there instead of escaping)."""
    refs: list[str] | None = getattr(_sink, "refs", None)
    return refs


@contextlib.contextmanager
def _collecting(refs: list[str] | None) -> Iterator[None]:
    if refs is None:
        yield
        return
    previous = getattr(_sink, "refs", None)
    _sink.refs = refs
    try:
        yield
    finally:
        _sink.refs = previous


def dumps_value(value: Any, refs: list[str] | None = None) -> bytes:
    """Pickle a value; with ``refs``, the ids of references inside it are appended there."""
    if type(value) in _PLAIN:
        return pickle.dumps(value, PROTOCOL)
    try:
        with _collecting(refs):
            return _dumps(value)
    except Exception as exc:
        raise SerializationError(f"value {_describe(value)} cannot be pickled: {exc}") from exc


def loads(data: bytes | memoryview) -> Any:
    _unheld()
    return pickle.loads(data)


class _BytesOf:
    """Pickles as ``bytes(buffer)``: a large ``bytes`` value whose contents go out of band
    (written straight into the object store, not first copied into the pickle)."""

    __slots__ = ("buffer",)

    def __init__(self, buffer: pickle.PickleBuffer) -> None:
        self.buffer = buffer

    def __reduce_ex__(self, protocol: SupportsIndex) -> tuple[Any, tuple[Any]]:
        from pymesos_rt.objects.arena import fresh_bytes  # (objects imports this module)

        return fresh_bytes, (self.buffer,)


def _out_of_band(buf: pickle.PickleBuffer) -> bool:
    return False


def dumps_oob(
    value: Any, min_size: int, refs: list[str] | None = None
) -> tuple[bytes, list[pickle.PickleBuffer]]:
    """Pickle ``value`` with its contiguous buffers of at least ``min_size`` bytes left out of
    band (protocol 5): the in-band bytes and those buffers, which are not copied. With
    ``refs``, the ids of references inside it are appended there."""
    if type(value) is bytes and len(value) >= min_size:  # large bytes: out of band as well
        buf = pickle.PickleBuffer(value)
        return pickle.dumps(_BytesOf(buf), PROTOCOL, buffer_callback=_out_of_band), [buf]
    if type(value) in _PLAIN:  # nothing out of band, no refs: the fast standard pickler
        return pickle.dumps(value, PROTOCOL), []
    buffers: list[pickle.PickleBuffer] = []

    def keep(buf: pickle.PickleBuffer) -> bool:
        try:
            size = buf.raw().nbytes
        except BufferError:  # not contiguous: in band
            return True
        if size < min_size:
            return True
        buffers.append(buf)
        return False

    out = io.BytesIO()
    try:
        with _collecting(refs):
            _Pickler(out, buffer_callback=keep).dump(value)
    except Exception as exc:
        raise SerializationError(f"value {_describe(value)} cannot be pickled: {exc}") from exc
    return out.getvalue(), buffers


def loads_oob(inband: bytes | memoryview, buffers: list[pickle.PickleBuffer]) -> Any:
    _unheld()
    return pickle.loads(inband, buffers=buffers)


# A remote exception keeps this many frames of its traceback (the first and the last ones) and
# this many exceptions of its cause/context chain: deeper ones do not pickle (each frame nests
# the pickler once more) and say nothing the traceback text does not.
TRACEBACK_HEAD, TRACEBACK_TAIL = 20, 80
CHAIN_DEPTH = 16


def dumps_exception(exc: BaseException) -> tuple[bytes, str]:
    """The exception (with its traceback) as bytes, and the formatted traceback text.

    The class is kept whenever it can be pickled: an instance that does not pickle, or does not
    rebuild through its ``__init__``, is rebuilt without calling it, with the ``args`` and the
    attributes that do pickle. Only an exception whose class cannot be pickled arrives as a
    :class:`RemoteException`. Long tracebacks and chains are shortened first (the text keeps
    them whole).
    """
    text = "".join(traceback.format_exception(exc))
    _shorten(exc)
    for dump in (_dumps, _dumps_keeping_class):
        try:
            data = dump(exc)
            pickle.loads(data)  # some exceptions pickle but cannot be rebuilt
        except Exception:
            continue
        return data, text
    stand_in = RemoteException(type(exc).__qualname__, str(exc), text)
    return _dumps(stand_in), text


def _shorten(exc: BaseException) -> None:
    """Cut each traceback of ``exc``'s chain to its first and last frames, and the chain to
    ``CHAIN_DEPTH`` exceptions (in place: the exception is about to be sent away)."""
    seen: set[int] = set()
    work: list[tuple[BaseException, int]] = [(exc, 0)]
    while work:
        item, depth = work.pop()
        if id(item) in seen:
            continue
        seen.add(id(item))
        tbs: list[types.TracebackType] = []
        tb = item.__traceback__
        while tb is not None:
            tbs.append(tb)
            tb = tb.tb_next
        if len(tbs) > TRACEBACK_HEAD + TRACEBACK_TAIL:
            tbs[TRACEBACK_HEAD - 1].tb_next = tbs[-TRACEBACK_TAIL]
        for link in ("__cause__", "__context__"):
            nxt = getattr(item, link)
            if nxt is None:
                continue
            if depth + 1 >= CHAIN_DEPTH:
                setattr(item, link, None)
            else:
                work.append((nxt, depth + 1))


class _ClassKeepingPickler(_Pickler):
    lenient = True


def _dumps_keeping_class(exc: BaseException) -> bytes:
    buf = io.BytesIO()
    _ClassKeepingPickler(buf).dump(exc)
    return buf.getvalue()


def _pickles(value: Any) -> bool:
    try:
        _dumps(value)
    except Exception:
        return False
    return True


def _reduce_exception(exc: BaseException, lenient: bool) -> tuple[Any, ...]:
    keep = _pickles if lenient else (lambda value: True)
    args = exc.args if keep(exc.args) else (str(exc),)
    attrs = {k: v for k, v in vars(exc).items() if keep(v)}
    for klass in type(exc).__mro__:
        if klass.__module__ == "builtins" and klass not in (BaseException, object):
            for name, slot in vars(klass).items():
                if isinstance(slot, types.MemberDescriptorType | types.GetSetDescriptorType):
                    value = getattr(exc, name, None)
                    if value is not None and name not in attrs and keep(value):
                        attrs[name] = value
    links = (exc.__cause__, exc.__traceback__, exc.__context__, exc.__suppress_context__)
    notes = getattr(exc, "__notes__", None)
    return (_restore_exception, (type(exc), args, attrs, *links, notes))


def _restore_exception(
    cls: type[BaseException],
    args: tuple[Any, ...],
    attrs: dict[str, Any],
    cause: BaseException | None,
    tb: types.TracebackType | None,
    context: BaseException | None,
    suppress_context: bool,
    notes: list[str] | None,
) -> BaseException:
    exc = _new_exception(cls, args)
    exc.args = args
    for name, value in attrs.items():
        with contextlib.suppress(AttributeError, TypeError, ValueError):
            setattr(exc, name, value)
    exc.__cause__, exc.__context__ = cause, context
    exc.__suppress_context__ = suppress_context
    with contextlib.suppress(TypeError):
        exc.__traceback__ = tb
    if notes is not None:
        exc.__notes__ = notes
    return exc


def _new_exception(cls: type[BaseException], args: tuple[Any, ...]) -> BaseException:
    """An instance of ``cls`` made without ``__init__``. ``cls.__new__`` may refuse: a ``__new__``
    wanting other arguments, or a C ``__new__`` that is "not safe" for a class also derived
    from another exception (``class E(ValueError, MemoryError)``): then try its bases'."""
    makers: list[Callable[..., Any]] = [cls.__new__]
    makers += [k.__new__ for k in cls.__mro__ if "__new__" in vars(k)]
    for make in makers:
        for given in (args, ()):
            try:
                exc = make(cls, *given)
            except TypeError:
                continue
            if isinstance(exc, cls):
                return exc
    raise TypeError(f"cannot make an instance of {cls.__qualname__}")


def loads_exception(data: bytes | memoryview) -> BaseException:
    _unheld()
    try:
        exc = pickle.loads(data)
    except Exception as problem:
        return RemoteException("UnpicklableException", str(problem), "")
    if not isinstance(exc, BaseException):
        return RemoteException(type(exc).__name__, repr(exc), "")
    return exc
