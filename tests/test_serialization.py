import threading

import pytest

from pymesos_rt import serialization as s
from pymesos_rt.serialization import RefMarker


class FakeRef(RefMarker):
    __slots__ = ("object_id",)

    def __init__(self, oid: str) -> None:
        self.object_id = oid


def test_only_top_level_refs_are_resolved_nested_ones_stay_refs():
    data, deps = s.dumps_args(
        (FakeRef("a"), [FakeRef("b"), {"k": (FakeRef("a"),)}]), {"x": FakeRef("c")}
    )
    assert deps == ["a", "c"]
    args, kwargs = s.loads_args(data, {"a": 1, "c": 3})
    assert args[0] == 1 and kwargs == {"x": 3}
    nested = args[1]
    assert isinstance(nested[0], FakeRef) and nested[0].object_id == "b"
    assert isinstance(nested[1]["k"][0], FakeRef) and nested[1]["k"][0].object_id == "a"


def test_missing_dependency_value_is_a_clear_error():
    data, _ = s.dumps_args((FakeRef("zzz"),), {})
    with pytest.raises(s.SerializationError, match="zzz"):
        s.loads_args(data, {})


def test_unpicklable_argument_is_named():
    with pytest.raises(s.SerializationError, match=r"keyword argument 'lock'"):
        s.dumps_args((1,), {"lock": threading.Lock()})


def test_unpicklable_capture_is_named():
    lock = threading.Lock()

    def f() -> bool:
        return lock.locked()

    with pytest.raises(s.SerializationError, match=r"function '.*f' .*captured variable 'lock'"):
        s.dumps_function(f)


def test_exception_keeps_its_traceback():
    def boom() -> None:
        raise KeyError("missing")

    try:
        boom()
    except KeyError as exc:
        data, text = s.dumps_exception(exc)
    assert "boom" in text and "KeyError" in text
    back = s.loads_exception(data)
    assert isinstance(back, KeyError) and back.__traceback__ is not None


class Unpicklable(Exception):
    def __init__(self, a: int, b: int) -> None:  # pickle rebuilds with one arg: fails
        super().__init__(a)
        self.lock = threading.Lock()


def test_exception_that_does_not_rebuild_keeps_its_class_and_what_pickles():
    data, _ = s.dumps_exception(Unpicklable(1, 2))
    back = s.loads_exception(data)
    assert type(back) is Unpicklable
    assert back.args == (1,) and not hasattr(back, "lock")


def test_exception_whose_class_cannot_be_pickled_arrives_as_stand_in():
    class Local(Exception):
        lock = threading.Lock()  # pickling the class by value fails on this

    data, _ = s.dumps_exception(Local("x"))
    back = s.loads_exception(data)
    assert isinstance(back, s.RemoteException)
    assert back.type_name.endswith("Local") and "x" in back.message


def test_function_pickled_by_value_keeps_its_file_and_lines():
    def raises_here() -> None:
        raise RuntimeError("from the user's file")

    rebuilt = s.loads(s.dumps_function(raises_here))
    assert rebuilt is not raises_here
    with pytest.raises(RuntimeError) as info:
        rebuilt()
    last = info.traceback[-1]
    assert str(last.path) == __file__
    assert last.lineno == raises_here.__code__.co_firstlineno  # 0-based: the line after `def`
    assert 'raise RuntimeError("from the user' in str(last.statement)
