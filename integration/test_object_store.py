"""The object store on one node, with real executors: zero-copy reads, large arguments by
reference, and freeing (an embedded cluster with a small arena)."""

from __future__ import annotations

import gc
import os
import threading
import time

import numpy as np
import pytest

import pymesos_rt as rt
from pymesos_rt.client import backend as backend_mod

pytestmark = pytest.mark.integration

MIB = 2**20


@pytest.fixture
def cluster():
    rt.init(num_cpus=2, object_store_memory="64MiB")
    yield
    rt.shutdown()


def _store():
    """The embedded driver's view of its agent's store (arena and requests)."""
    return backend_mod.current().driver.stores.home


def _wait_for(predicate, timeout=30.0, what="condition"):
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.02)


@rt.remote
def make_array(n: int) -> np.ndarray:
    return np.arange(n, dtype=np.float64)


@rt.remote
def describe(x: np.ndarray) -> tuple[bool, float, int]:
    """(writeable, sum, id of the buffer's owner type) as the executor sees its argument."""
    return bool(x.flags.writeable), float(x.sum()), len(x)


def test_numpy_result_is_a_read_only_view_of_the_arena(cluster):
    ref = make_array.remote(MIB // 8 * 4)  # 4 MiB: stored, not inline
    a = rt.get(ref)
    b = rt.get(ref)
    arena = np.frombuffer(_store().view, dtype=np.uint8)
    assert np.shares_memory(a, b)  # two gets, one copy: both views of the store
    assert np.shares_memory(a, arena)
    assert not a.flags.writeable
    with pytest.raises(ValueError, match="read-only"):
        a[0] = 1.0
    assert a[-1] == MIB // 8 * 4 - 1


def test_small_values_stay_inline_and_writable(cluster):
    small = rt.get(make_array.remote(100))
    assert small.flags.writeable
    assert not np.shares_memory(small, np.frombuffer(_store().view, dtype=np.uint8))


def test_put_value_is_read_in_place_by_tasks(cluster):
    value = np.ones(MIB, dtype=np.float64)  # 8 MiB
    ref = rt.put(value)
    assert _store().stats().objects >= 1
    writeable, total, n = rt.get(describe.remote(ref))
    assert (writeable, total, n) == (False, float(MIB), MIB)
    assert np.shares_memory(rt.get(ref), np.frombuffer(_store().view, dtype=np.uint8))


def test_large_direct_argument_is_passed_by_reference(cluster):
    value = np.ones(MIB, dtype=np.float64)
    # the executor sees a read-only view: the argument came through the store, not the message
    assert rt.get(describe.remote(value)) == (False, float(MIB), MIB)
    big_bytes = b"\x07" * (2 * MIB)

    @rt.remote
    def size(x: bytes) -> int:
        return len(x)

    assert rt.get(size.remote(big_bytes)) == 2 * MIB
    assert rt.get(size.remote(x=big_bytes)) == 2 * MIB


def test_nested_get_of_stored_object(cluster):
    @rt.remote
    def outer(n: int) -> float:
        return float(rt.get(make_array.remote(n)).sum())

    assert rt.get(outer.remote(MIB)) == float(sum(range(MIB)))


def test_put_free_cycles_leave_the_arena_empty(cluster):
    store = _store()
    value = np.ones(MIB // 8, dtype=np.float64)  # 1 MiB each, in a 64 MiB arena
    for i in range(10_000):
        ref = rt.put(value)
        if i % 2500 == 0:
            assert rt.get(ref)[0] == 1.0
        del ref
    gc.collect()
    _wait_for(lambda: store.stats().objects == 0, what="every object freed")
    stats = store.stats()
    assert (stats.used, stats.pinned, stats.spilled_objects) == (0, 0, 0)
    assert stats.populated <= 64 * MIB


@rt.remote
def make_bytes(n: int) -> bytes:
    return bytes([n % 256]) * MIB


@rt.remote
def fail(x: int) -> None:
    raise ValueError(f"failed {x}")


def test_get_of_many_stored_results_reads_each_as_bytes(cluster):
    """A get of several refs reads stored results while others still run (bytes come back
    as bytes, a ref given twice twice, and a failure among them is raised)."""
    refs = [make_bytes.remote(i) for i in range(12)]
    values = rt.get([*refs, refs[0]])
    assert [type(v) for v in values] == [bytes] * 13
    assert [(v[0], len(v)) for v in values] == [(i, MIB) for i in [*range(12), 0]]
    with pytest.raises(ValueError, match="failed 3"):
        rt.get([make_bytes.remote(1), fail.remote(3), make_bytes.remote(2)])


def test_results_freed_when_their_refs_go(cluster):
    store = _store()
    refs = [make_array.remote(MIB // 8 * 2) for _ in range(5)]
    rt.get(refs)
    _wait_for(lambda: store.stats().objects == 5, what="five stored results")
    del refs
    gc.collect()
    _wait_for(lambda: store.stats().objects == 0, what="results freed")


def _arena_fds() -> list[str]:
    fds = [os.path.join("/proc/self/fd", n) for n in os.listdir("/proc/self/fd")]
    targets = []
    for fd in fds:
        try:
            targets.append(os.readlink(fd))
        except OSError:
            continue
    return [t for t in targets if t.startswith("/memfd:pymesos-rt-arena")]


def test_the_arena_is_a_memfd_and_nothing_is_left_after_shutdown():
    rt.init(num_cpus=1, object_store_memory="32MiB")
    rt.get(rt.put(np.ones(MIB)))
    assert len(_arena_fds()) >= 1  # in no file system: nothing in /dev/shm to leave behind
    spill_dir = backend_mod.current().driver.stores.home.service.spill_dir
    rt.shutdown()
    assert _arena_fds() == []
    assert not spill_dir.exists()


def _prefillers() -> list[str]:
    return [t.name for t in threading.enumerate() if t.name == "store-prefill"]


def test_a_prefill_backs_the_arena_from_the_start_and_nothing_is_left_after_shutdown():
    before = _prefillers()
    rt.init(num_cpus=1, object_store_memory="128MiB", object_store_prefill="64MiB")
    store = _store()
    spill_dir = store.service.spill_dir
    _wait_for(lambda: store.stats().populated >= 64 * MIB, what="64 MiB of arena backed")
    stats = store.stats()
    assert (stats.objects, stats.used, stats.populated) == (0, 0, 64 * MIB)  # no more: unused
    assert rt.get(make_array.remote(MIB // 8 * 4)).sum() == float(sum(range(MIB // 8 * 4)))
    value = np.arange(MIB // 8 * 2, dtype=np.float64)
    assert (rt.get(rt.put(value)) == value).all()
    rt.shutdown()
    assert _arena_fds() == [] and not spill_dir.exists()
    assert _prefillers() == before


def test_a_prefill_larger_than_the_store_is_one_clear_error_and_starts_nothing():
    with pytest.raises(ValueError) as info:
        rt.init(num_cpus=1, object_store_memory="64MiB", object_store_prefill="1GiB")
    assert str(info.value) == (
        "object_store_prefill 1024 MiB is larger than the object store (object_store_memory 64 MiB)"
    )
    assert not rt.is_initialized() and _arena_fds() == []
    rt.init(num_cpus=1, object_store_memory="64MiB", object_store_prefill=64 * MIB)  # all of it
    try:
        _wait_for(lambda: _store().stats().populated == 64 * MIB, what="the whole arena backed")
    finally:
        rt.shutdown()


@rt.remote
def wrap_in_list(n: int) -> list:
    return [rt.put(np.ones(n, dtype=np.float64))]  # a ref this executor made, returned


def test_ref_returned_inside_a_result_lives_as_long_as_needed(cluster):
    store = _store()
    outer = wrap_in_list.remote(MIB)
    (inner,) = rt.get(outer)
    assert rt.get(inner).sum() == MIB  # the executor dropped its ref: the result holds it
    del outer
    gc.collect()
    time.sleep(0.6)  # a few driver ticks: the value must not be freed while `inner` lives
    assert rt.get(inner).sum() == MIB
    del inner
    gc.collect()
    _wait_for(lambda: store.stats().objects == 0, what="inner and outer freed")


@rt.remote
def hold(refs: list) -> int:
    """Keep the refs in this executor (a long-lived borrower, like an actor would)."""
    import sys

    sys._pmrt_held = list(refs)  # type: ignore[attr-defined]
    return len(refs)


@rt.remote
def drop() -> bool:
    import sys

    had = bool(getattr(sys, "_pmrt_held", None))
    sys._pmrt_held = []  # type: ignore[attr-defined]
    return had


def test_escaped_ref_is_freed_after_its_last_borrower_drops_it():
    rt.init(num_cpus=1, object_store_memory="64MiB")  # one executor: both tasks run there
    try:
        store = _store()
        inner = rt.put(np.ones(MIB, dtype=np.float64))
        outer = rt.put([inner])  # the ref escapes into a value...
        assert rt.get(hold.remote(outer)) == 1  # ...and into an executor, which keeps it
        del inner, outer
        gc.collect()
        time.sleep(0.6)
        assert store.stats().objects == 1  # only the borrowed array is left
        assert rt.get(drop.remote())
        _wait_for(lambda: store.stats().objects == 0, what="the borrowed object freed")
    finally:
        rt.shutdown()


@rt.remote
def total(x: np.ndarray) -> float:
    return float(x.sum())


def test_three_times_the_arena_of_live_objects_spills_and_reads_back():
    rt.init(num_cpus=2, object_store_memory="32MiB")
    try:
        store = _store()
        n = MIB  # float64s: 8 MiB each, so 12 of them are 96 MiB, three times the arena
        refs = [rt.put(np.full(n, i, dtype=np.float64)) for i in range(6)]
        refs += [make_array.remote(n) for _ in range(6)]  # results written by executors
        rt.wait(refs, num_returns=len(refs), timeout=120)
        stats = store.stats()
        assert stats.spilled_total > 0 and stats.used <= 32 * MIB
        for i, ref in enumerate(refs[:6]):  # each read brings one back (spilling another)
            value = rt.get(ref)
            assert value[0] == i and value[-1] == i and len(value) == n
            del value
        expected = float(sum(range(n)))
        assert rt.get([total.remote(r) for r in refs[6:]]) == [expected] * 6
        assert store.stats().restored > 0
        del refs, ref
        gc.collect()
        _wait_for(lambda: store.stats().objects == 0, what="spilled objects freed")
        spill_dir = store.service.spill_dir
        _wait_for(lambda: not any(spill_dir.iterdir()), what="spill files removed")
    finally:
        rt.shutdown()


@pytest.mark.parametrize("isolation", ["cgroups-v1", "none"])
def test_task_returning_100mib_array_works_with_160mib_memory(isolation):
    """The arena's pages are charged to the agent (which backs them before a writer gets a
    range), and ``none`` counts USS without shared memory: a task's limit covers what it
    allocates, not the copy of its result in the store."""
    if isolation == "cgroups-v1" and not os.access("/sys/fs/cgroup/memory", os.W_OK):
        pytest.skip("needs writable cgroup v1 hierarchies")
    try:
        rt.init(num_cpus=2, object_store_memory="256MiB", isolation=isolation)
    except ValueError as exc:
        pytest.skip(f"{isolation} not usable here: {exc}")
    try:

        @rt.remote(memory="160MiB")
        def big() -> np.ndarray:
            return np.ones(100 * MIB // 8)

        @rt.remote(memory="160MiB")
        def use_slowly(x: np.ndarray) -> float:
            time.sleep(2.5)  # the agent looks at the container's memory meanwhile
            return float(x.sum())

        value = rt.get(big.remote())
        assert value.nbytes == 100 * MIB
        assert rt.get(use_slowly.remote(value)) == float(100 * MIB // 8)
        assert rt.get(use_slowly.remote(value)) == float(100 * MIB // 8)
    finally:
        rt.shutdown()
