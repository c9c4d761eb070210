"""``rt.util.multiprocessing.Pool`` on the embedded cluster, against the standard library's own
``multiprocessing.Pool`` tests (CPython's Lib/test/_test_multiprocessing.py, ``_TestPool``):
the same calls, the same assertions."""

from __future__ import annotations

import itertools
import math
import multiprocessing
import os
import threading
import time

import pytest

from pymesos_rt.util.multiprocessing import Pool

pytestmark = pytest.mark.integration

TIMEOUT1, TIMEOUT2 = 0.5, 0.2


def sqr(x, wait=0.0):
    time.sleep(wait)
    return x * x


def mul(x, y):
    return x * y


class SayWhenError(ValueError):
    pass


def exception_throwing_generator(total, when):
    if when == -1:
        raise SayWhenError("Somebody said when")
    for i in range(total):
        if i == when:
            raise SayWhenError("Somebody said when")
        yield i


def raising():
    raise KeyError("key")


def unpickleable_result():
    return threading.Lock()  # the stdlib's test returns a lambda, which cloudpickle can pickle


def init_marker(path):
    with open(path, "a") as f:
        f.write(f"{os.getpid()}\n")


def getpid(_=None):
    return os.getpid()


@pytest.fixture(scope="module")
def pool(cluster):
    with Pool(4) as p:
        yield p


def test_apply(pool):
    papply = pool.apply
    assert papply(sqr, (5,)) == sqr(5)
    assert papply(sqr, (), {"x": 3}) == sqr(x=3)


def test_map(pool):
    pmap = pool.map
    assert pmap(sqr, list(range(10))) == list(map(sqr, list(range(10))))
    assert pmap(sqr, list(range(100)), chunksize=20) == list(map(sqr, list(range(100))))


def test_starmap(pool):
    psmap = pool.starmap
    tuples = list(zip(range(10), range(9, -1, -1), strict=True))
    assert psmap(mul, tuples) == list(itertools.starmap(mul, tuples))
    tuples = list(zip(range(100), range(99, -1, -1), strict=True))
    assert psmap(mul, tuples, chunksize=20) == list(itertools.starmap(mul, tuples))


def test_starmap_async(pool):
    tuples = list(zip(range(100), range(99, -1, -1), strict=True))
    assert pool.starmap_async(mul, tuples).get() == list(itertools.starmap(mul, tuples))


def test_map_async(pool):
    assert pool.map_async(sqr, list(range(10))).get() == list(map(sqr, list(range(10))))


def test_map_async_callbacks(pool):
    call_args = []
    pool.map_async(int, ["1"], callback=call_args.append, error_callback=call_args.append).wait()
    assert len(call_args) == 1
    assert call_args[0] == [1]
    pool.map_async(int, ["a"], callback=call_args.append, error_callback=call_args.append).wait()
    assert len(call_args) == 2
    assert isinstance(call_args[1], ValueError)


def test_map_unplicklable(pool):
    class A:
        def __reduce__(self):
            raise RuntimeError("cannot pickle")

    with pytest.raises(RuntimeError):
        pool.map(sqr, [A()] * 10)


def test_map_chunksize(pool):
    try:
        pool.map_async(sqr, [], chunksize=1).get(timeout=TIMEOUT1)
    except multiprocessing.TimeoutError:
        pytest.fail("pool.map_async with chunksize stalled on null list")


def test_map_handle_iterable_exception(pool):
    with pytest.raises(SayWhenError):
        pool.map(sqr, exception_throwing_generator(1, -1), 1)
    with pytest.raises(SayWhenError):
        pool.map(sqr, exception_throwing_generator(1, -1), 1)
    with pytest.raises(SayWhenError):
        pool.map(sqr, exception_throwing_generator(10, 3), 1)


def test_async(pool):
    res = pool.apply_async(sqr, (7, TIMEOUT1))
    start = time.monotonic()
    assert res.get() == 49
    assert time.monotonic() - start >= TIMEOUT1 * 0.5  # it waited for the task


def test_async_timeout(pool):
    res = pool.apply_async(sqr, (6, TIMEOUT2 + 1.0))
    with pytest.raises(multiprocessing.TimeoutError):
        res.get(timeout=TIMEOUT2)
    assert res.get() == 36


def test_apply_async_ready_and_successful(pool):
    res = pool.apply_async(sqr, (7, 1.0))
    assert not res.ready()
    with pytest.raises(ValueError):
        res.successful()
    res.wait()
    assert res.ready() and res.successful()
    assert res.get() == 49


def test_imap(pool):
    it = pool.imap(sqr, list(range(10)))
    assert list(it) == list(map(sqr, list(range(10))))
    it = pool.imap(sqr, list(range(10)))
    for i in range(10):
        assert next(it) == i * i
    with pytest.raises(StopIteration):
        next(it)
    it = pool.imap(sqr, list(range(1000)), chunksize=100)
    for i in range(1000):
        assert next(it) == i * i
    with pytest.raises(StopIteration):
        next(it)


def test_imap_handle_iterable_exception(pool):
    it = pool.imap(sqr, exception_throwing_generator(10, 3), 1)
    for i in range(3):
        assert next(it) == i * i
    with pytest.raises(SayWhenError):
        next(it)
    it = pool.imap(sqr, exception_throwing_generator(20, 7), 2)
    for i in range(6):
        assert next(it) == i * i
    with pytest.raises(SayWhenError):
        next(it)


def test_imap_unordered(pool):
    it = pool.imap_unordered(sqr, list(range(10)))
    assert sorted(it) == list(map(sqr, list(range(10))))
    it = pool.imap_unordered(sqr, list(range(1000)), chunksize=100)
    assert sorted(it) == list(map(sqr, list(range(1000))))


def test_imap_unordered_handle_iterable_exception(pool):
    it = pool.imap_unordered(sqr, exception_throwing_generator(10, 3), 1)
    expected_values = list(map(sqr, list(range(10))))
    with pytest.raises(SayWhenError):
        for _ in range(10):
            value = next(it)
            assert value in expected_values
            expected_values.remove(value)


def test_make_pool(cluster):
    with pytest.raises(ValueError):
        Pool(-1)
    with pytest.raises(ValueError):
        Pool(0)
    p = Pool(3)
    try:
        assert p._processes == 3
    finally:
        p.close()
        p.join()


def test_empty_iterable(cluster):
    p = Pool(1)
    assert p.map(sqr, []) == []
    assert list(p.imap(sqr, [])) == []
    assert list(p.imap_unordered(sqr, [])) == []
    assert p.map_async(sqr, []).get() == []
    p.close()
    p.join()


def test_context(cluster):
    values = list(range(10))
    expected = [sqr(i) for i in values]
    with Pool(2) as p:
        r = p.map_async(sqr, values)
        assert r.get() == expected
    p.join()
    with pytest.raises(ValueError):
        p.map_async(sqr, values)


def test_enter(cluster):
    pool = Pool(1)
    with pool:
        pass
    with pytest.raises(ValueError), pool:  # a terminated pool cannot be entered again
        pass
    pool.join()


def test_wrapped_exception(cluster):
    with Pool(1) as p, pytest.raises(KeyError):
        p.apply(raising)


def test_unpickleable_result(cluster):
    with Pool(1) as p, pytest.raises(Exception, match="pickle"):
        p.apply(unpickleable_result)


def test_initializer_runs_once_per_worker(cluster, tmp_path):
    marks = tmp_path / "marks"
    with Pool(2, initializer=init_marker, initargs=(str(marks),)) as p:
        pids = set(p.map(getpid, range(40), chunksize=1))
    assert set(map(int, marks.read_text().split())) == pids  # each worker ran it, once


def test_maxtasksperchild_replaces_workers(cluster):
    with Pool(1, maxtasksperchild=2) as p:
        pids = [p.apply(getpid) for _ in range(6)]
    assert len(set(pids)) == 3


def test_terminate_cancels_what_runs(cluster):
    p = Pool(2)
    result = p.map_async(sqr, [1] * 8, chunksize=1)  # each sleeps a while below
    slow = p.apply_async(sqr, (1, 30.0))
    p.terminate()
    p.join()
    with pytest.raises(Exception):
        slow.get(timeout=30)
    assert result.ready() or result.wait(30) is None


# --- Ray's own tests of ray.util.multiprocessing (python/ray/tests/test_multiprocessing.py) ---


def test_ray_maxtasksperchild(cluster):
    with Pool(processes=3, maxtasksperchild=1) as pool:
        assert len(set(pool.map(lambda _: os.getpid(), range(20)))) == 20
    pool.join()


def poolit_a(_):
    with Pool() as pool:
        return list(pool.map(math.sqrt, range(0, 2, 1)))


def test_deadlock_avoidance_in_recursive_tasks(cluster):
    # Ray's runs on one CPU; pools inside pool tasks must not wait for each other's slots
    with Pool() as pool:
        result = list(pool.map(poolit_a, range(2, 4, 1)))
    assert result == [[0.0, 1.0], [0.0, 1.0]]
