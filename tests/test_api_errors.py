"""Errors a user can act on at the API (issue 9, point 11), without a cluster."""

from __future__ import annotations

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
