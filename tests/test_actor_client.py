"""The client side of actors without a cluster: options, the method table, argument binding,
handle pickling scopes and presence events."""

from __future__ import annotations

import gc
import inspect

import pytest

from pymesos_rt import serialization
from pymesos_rt.client import handles
from pymesos_rt.client.actor import ActorOptions, _binder, _method_table, method
from pymesos_rt.protocol.resources import Resources


def test_default_actor_needs_a_cpu_to_place_and_holds_nothing():
    opts = ActorOptions()
    assert opts.placement() == Resources(cpus=1)
    assert opts.shape() == Resources()
    two = ActorOptions(num_cpus=2, memory="1GiB", resources={"slot": 1})
    assert two.placement() == two.shape() == Resources(cpus=2, mem=1024, slot=1)
    assert ActorOptions(num_cpus=0).placement() == Resources(cpus=0)
    gpu = ActorOptions(num_gpus=1)  # Ray: test_decorator_args (num_gpus is an actor option)
    assert gpu.placement() == Resources(cpus=1, gpus=1)
    assert gpu.shape() == Resources(gpus=1)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"lifetime": "detached"}, "detached"),
        ({"max_restarts": -2}, "max_restarts"),
        ({"max_concurrency": 0}, "max_concurrency"),
        ({"get_if_exists": True}, "needs a name"),
        ({"resources": {"cpus": 1}}, "num_cpus="),
        ({"resources": {"GPU": 1}}, "num_gpus="),
        ({"num_gpus": -1}, "num_gpus must be a number >= 0"),
        ({"num_gpus": 1.5}, "whole number"),
    ],
)
def test_bad_options_are_refused_naming_the_problem(options, message):
    with pytest.raises(ValueError, match=message):
        ActorOptions(**options)


def test_unknown_option_is_a_type_error():
    with pytest.raises(TypeError, match="unknown actor option"):
        ActorOptions().merged(num_gpu=1)


def test_method_table_finds_methods_returns_and_async():
    class C:
        def a(self, x):
            return x

        @method(num_returns=2)
        def b(self):
            return 1, 2

        async def c(self):
            return 3

        @staticmethod
        def s(y):
            return y

        def __private(self):  # name-mangled dunder-free names are methods too
            return 0

    methods, binders, is_async = _method_table(C)
    assert methods["a"] == 1 and methods["b"] == 2 and methods["c"] == 1 and "s" in methods
    assert is_async
    binders["s"](None, 1)  # a static method binds without a receiver of its own
    with pytest.raises(TypeError):
        binders["a"](None)


def test_binder_shortcut_agrees_with_bind():
    def f(self, a, b=2, *, c=3):
        return a

    def g(self, a, *rest, key):
        return a

    for fn, calls in (
        (
            f,
            [
                ((None, 1), {}),
                ((None, 1, 2), {}),
                ((None,), {}),
                ((None, 1, 2, 3), {}),
                ((None, 1), {"c": 4}),
                ((None, 1), {"d": 4}),
            ],
        ),
        (g, [((None, 1), {}), ((None, 1), {"key": 1}), ((None, 1, 2, 3), {"key": 1})]),
    ):
        sig = inspect.signature(fn)
        check = _binder(sig)
        for args, kwargs in calls:
            try:
                sig.bind(*args, **kwargs)
            except TypeError:
                with pytest.raises(TypeError):
                    check(*args, **kwargs)
            else:
                check(*args, **kwargs)


def test_plain_arguments_and_values_take_the_standard_pickler():
    data, deps = serialization.dumps_args((1, "x", None, 2.5, b"b", True), {"k": 3})
    assert deps == []
    assert serialization.loads_args(data, {}) == ((1, "x", None, 2.5, b"b", True), {"k": 3})
    for value in (None, 0, "s", b"", 1.5, False):
        assert serialization.loads(serialization.dumps_value(value)) == value

    # a subclass of a plain type goes through cloudpickle and keeps its class
    class Big(int):
        pass

    assert type(serialization.loads(serialization.dumps_value(Big(3)))).__name__ == "Big"


def test_pickled_handles_are_collected_inside_the_scope_and_escape_outside():
    with handles.collecting() as ids:
        assert handles.pickled("a1") and handles.pickled("a1") and handles.pickled("a2")
        with handles.collecting() as inner:
            handles.pickled("a3")
        assert inner == ["a3"]
    assert ids == ["a1", "a2"]
    assert not handles.pickled("a4")


def test_presence_events_and_their_filter():
    presence = handles.Presence()
    changes = handles.PresenceFilter()
    token = presence.token("a1")
    assert presence.token("a1") is token  # one token per actor
    first = presence.events.get_nowait()
    assert changes.apply(first) is True
    del token
    gc.collect()
    gone = presence.events.get_nowait()
    assert gone[:1] == ("a1",) and gone[2] is False
    # a new token made before the old one's end was seen: the old end is ignored
    again = presence.token("a1")
    assert changes.apply(presence.events.get_nowait()) is None  # already present
    assert changes.apply(gone) is None
    del again
    gc.collect()
    assert changes.apply(presence.events.get_nowait()) is False
