"""Errors a user can act on at the API (issue 9, point 11), without a cluster."""

from __future__ import annotations

import re

import pytest

import pymesos_rt as rt


def test_wait_on_nothing_returns_two_empty_lists():
    assert rt.wait([]) == ([], [])
    assert rt.wait([], num_returns=0, timeout=0) == ([], [])


@pytest.mark.parametrize("bad", [3, "ref", None, 2.5])
def test_get_of_something_else_than_refs_says_what_it_wants(bad):
    with pytest.raises(TypeError, match=r"get\(\) takes an ObjectRef or a list of ObjectRefs"):
        rt.get(bad)


def test_get_of_a_list_holding_something_else_names_it():
    with pytest.raises(TypeError, match=r"get\(\) takes ObjectRefs, got int: 3"):
        rt.get([3])


def test_arguments_that_do_not_bind_fail_at_remote():
    @rt.remote
    def two(a, b=1):
        return a + b

    for args, kwargs, why in [
        ((), {}, "missing a required argument: 'a'"),
        ((1, 2, 3), {}, "too many positional arguments"),
        ((1,), {"c": 3}, "got an unexpected keyword argument 'c'"),
    ]:
        with pytest.raises(TypeError, match=rf"two\.remote\(\): {why}"):
            two.remote(*args, **kwargs)  # raises before it needs a runtime


def test_remote_with_empty_parentheses_is_refused_as_in_ray():
    """Ray's test_remote_decorator_error: ``@ray.remote()`` raises a TypeError naming both
    forms."""
    with pytest.raises(TypeError, match=r"no arguments and no parentheses .*@rt\.remote\(\)"):

        @rt.remote()
        def f() -> None:
            pass


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"object_store_prefill": "lots"}, "bad object_store_prefill: cannot parse memory size"),
        ({"object_store_prefill": -1}, "bad object_store_prefill: memory must be >= 0, got -1"),
        ({"object_store_prefill": [1]}, "bad object_store_prefill: "),
        ({"object_store_memory": "2 bananas"}, "bad object_store_memory: cannot parse"),
    ],
)
def test_init_refuses_store_sizes_it_cannot_read_before_starting_anything(kwargs, message):
    with pytest.raises(ValueError, match=f"^{re.escape(message)}"):
        rt.init(**kwargs)
    assert not rt.is_initialized()


@pytest.mark.parametrize(
    ("name", "value", "flag"),
    [
        ("object_store_prefill", "64MiB", "--object-store-prefill"),
        ("object_store_memory", 64 * 2**20, "--object-store-memory"),
        ("num_cpus", 4, "--resources cpus:N"),
        ("num_gpus", 0, "--resources gpus:N"),
        ("memory", "1GiB", "--resources mem:N"),
        ("resources", {"disk": 1.0}, "--resources"),
        ("isolation", "none", "--isolation"),
    ],
)
def test_embedded_agent_arguments_are_refused_when_attaching(name, value, flag, monkeypatch):
    """An attached program uses what the cluster's agents offer: an argument that describes
    the embedded agent is an error naming the agents' flag, not silently ignored (Ray refuses
    num_cpus, num_gpus, resources and object_store_memory with an address)."""
    expected = (
        f"{name} applies to an embedded cluster; set it on the agents (pymesos-rt agent {flag})"
    )
    with pytest.raises(ValueError, match=f"^{re.escape(expected)}$"):
        rt.init("ws://127.0.0.1:1", **{name: value})
    monkeypatch.setenv("PYMESOS_RT_ADDRESS", "ws://127.0.0.1:1")  # attached the other way
    with pytest.raises(ValueError, match=f"^{re.escape(expected)}$"):
        rt.init(**{name: value})
    assert not rt.is_initialized()
