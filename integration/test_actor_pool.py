"""``rt.util.ActorPool``: ported from Ray's python/ray/tests/test_actor_pool.py (assertions
kept; fewer actors, for a 2-core machine)."""

from __future__ import annotations

import asyncio
import time
from unittest.mock import MagicMock

import pytest

import pymesos_rt as rt
from pymesos_rt.util import ActorPool

pytestmark = pytest.mark.integration


@rt.remote
class MyActor:
    def f(self, x):
        return x + 1

    def double(self, x):
        return 2 * x

    def forever(self, x):
        while True:
            time.sleep(0.1)


@pytest.fixture(scope="module")
def actors(cluster):
    pool_actors = [MyActor.remote() for _ in range(3)]
    rt.get([a.f.remote(0) for a in pool_actors], timeout=60)
    return pool_actors


def test_get_next(actors):
    pool = ActorPool(actors)
    for i in range(5):
        pool.submit(lambda a, v: a.f.remote(v), i)
        assert pool.get_next(timeout=30) == i + 1


def test_get_next_unordered(actors):
    pool = ActorPool(actors)
    total = []
    for i in range(5):
        pool.submit(lambda a, v: a.f.remote(v), i)
    while pool.has_next():
        total += [pool.get_next_unordered(timeout=30)]
    assert sorted(total) == [1, 2, 3, 4, 5]


def test_map(actors):
    pool = ActorPool(actors)
    for index, v in enumerate(pool.map(lambda a, v: a.double.remote(v), range(5))):
        assert v == 2 * index


def test_map_eager(actors):
    """submit is called when map is called, not when its results are consumed."""
    pool = ActorPool(actors[:1])
    pool.submit = MagicMock()
    pool.map(lambda a, v: a.f.remote(v), range(1))
    pool.submit.assert_called()


def test_map_unordered(actors):
    pool = ActorPool(actors)
    total = list(pool.map_unordered(lambda a, v: a.double.remote(v), range(5)))
    assert sorted(total) == [0, 2, 4, 6, 8]


def test_map_does_not_wait_for_an_earlier_slow_submit(cluster):
    """Ray: test_map_gh23107."""

    @rt.remote
    class DummyActor:
        async def identity(self, s):
            if s == 6:
                await asyncio.sleep(30)
            return s, time.time()

    def func(a, v):
        return a.identity.remote(v)

    map_values = [1, 2, 3, 4, 5]
    pool_map = ActorPool([DummyActor.remote() for _ in range(2)])
    pool_map.submit(func, 6)
    start_time = time.time()
    gen = pool_map.map(func, map_values)
    got = list(gen)
    assert all(elem[0] in [1, 2, 3, 4, 5] for elem in got)
    assert all(abs(elem[1] - start_time) < 30 for elem in got)


def test_get_next_timeout(cluster):
    busy = MyActor.remote()
    pool = ActorPool([busy])
    pool.submit(lambda a, v: a.forever.remote(v), 0)
    with pytest.raises(TimeoutError):
        pool.get_next_unordered(timeout=0.1)
    with pytest.raises(TimeoutError):
        pool.get_next(timeout=0.1)
    assert pool.get_next_unordered(timeout=0.1, ignore_if_timedout=True) is None
    assert pool.get_next(timeout=0.1, ignore_if_timedout=True) is None  # dropped
    assert not pool.has_next()
    rt.kill(busy)


def test_multiple_returns(cluster):
    @rt.remote
    class Foo:
        @rt.method(num_returns=2)
        def bar(self):
            return 1, 2

    pool = ActorPool([Foo.remote() for _ in range(2)])
    for _ in range(4):
        pool.submit(lambda a, v: a.bar.remote(), None)
    while pool.has_next():
        assert pool.get_next(timeout=30) == [1, 2]


def test_pop_idle(actors):
    pool = ActorPool(actors[:1])
    pool.submit(lambda a, v: a.double.remote(v), 1)
    assert pool.pop_idle() is None
    assert pool.has_free() is False  # actor is busy
    assert pool.get_next(timeout=30) == 2
    assert pool.has_free()
    pool.pop_idle()  # removes actor from pool
    assert pool.has_free() is False  # no more actors in pool


def test_push(actors):
    a1, a2, a3 = actors
    pool = ActorPool([a1])
    pool.submit(lambda a, v: a.double.remote(v), 1)
    assert pool.has_free() is False  # actor is busy
    with pytest.raises(ValueError):
        pool.push(a1)
    pool.push(a2)
    assert pool.has_free()  # a2 is available
    pool.submit(lambda a, v: a.double.remote(v), 1)
    pool.submit(lambda a, v: a.double.remote(v), 1)
    assert pool.has_free() is False
    assert len(pool._pending_submits) == 1
    pool.push(a3)
    assert pool.has_free() is False  # a3 is used for pending submit
    assert len(pool._pending_submits) == 0
    assert sorted(pool.get_next_unordered(timeout=30) for _ in range(3)) == [2, 2, 2]
