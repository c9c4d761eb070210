"""Sorters (the allocator's policy): one suite run against every implementation, as Mesos runs
its DRF and random sorters through one typed test suite; then each policy's own order, with
the dominant shares written beside each ordering asserted."""

from __future__ import annotations

import random
from collections import Counter

import pytest

from pymesos_rt.master.allocator.drf import DRFSorter
from pymesos_rt.master.allocator.random import RandomSorter
from pymesos_rt.master.allocator.sorter import Pool, Sorter
from pymesos_rt.protocol.resources import Resources

R = Resources


def _pool(total: Resources = R(cpus=10, mem=100)) -> Pool:
    pool = Pool()
    pool.add(total)
    return pool


@pytest.fixture(
    params=[DRFSorter, lambda pool: RandomSorter(pool, random.Random(5))], ids=["drf", "random"]
)
def sorter(request) -> Sorter:
    return request.param(_pool())


# --- the suite every sorter passes ------------------------------------------------------------


def test_sort_yields_each_active_client_once(sorter):
    for i, name in enumerate(["c", "a", "b"]):
        sorter.add(name, (i, ""))
    assert sorted(sorter.sort()) == ["a", "b", "c"]
    sorter.deactivate("b")
    assert sorted(sorter.sort()) == ["a", "c"]
    sorter.deactivate("b")  # twice: no change
    sorter.activate("b")
    sorter.activate("b")
    assert sorted(sorter.sort()) == ["a", "b", "c"]
    sorter.remove("a")
    sorter.remove("a")
    assert sorted(sorter.sort()) == ["b", "c"]
    assert len(sorter) == 2 and "b" in sorter and "a" not in sorter
    sorter.validate()


def test_inactive_clients_keep_their_allocation(sorter):
    sorter.add("a", (1, ""), active=False, allocation=R(cpus=2))
    assert list(sorter.sort()) == []
    sorter.allocated("a", R(cpus=3))
    assert sorter.allocation("a") == R(cpus=5)
    sorter.activate("a")
    assert list(sorter.sort()) == ["a"]
    sorter.validate()


def test_allocations_add_up_and_never_go_negative(sorter):
    sorter.add("a", (1, ""))
    sorter.allocated("a", R(cpus=4, mem=10))
    sorter.unallocated("a", R(cpus=1))
    assert sorter.allocation("a") == R(cpus=3, mem=10)
    assert sorter.share("a") == pytest.approx(0.3)  # max(3/10, 10/100)
    sorter.unallocated("a", R(cpus=9, mem=10))
    assert sorter.allocation("a") == R()
    assert sorter.share("a") == 0.0
    sorter.validate()


def test_weight_divides_the_share(sorter):
    sorter.add("a", (1, ""), weight=2.0, allocation=R(cpus=4))
    assert sorter.share("a") == pytest.approx(0.2)  # 4/10 / 2
    sorter.set_weight("a", 4.0)
    assert sorter.share("a") == pytest.approx(0.1)
    sorter.validate()


def test_a_client_is_added_once(sorter):
    sorter.add("a", (1, ""))
    with pytest.raises(ValueError, match="already added"):
        sorter.add("a", (2, ""))


def test_shares_follow_the_total(sorter):
    sorter.add("a", (1, ""), allocation=R(cpus=5))
    assert sorter.share("a") == pytest.approx(0.5)
    sorter.pool.add(R(cpus=10))
    assert sorter.share("a") == pytest.approx(0.25)
    sorter.pool.remove(R(cpus=20, mem=100))
    assert sorter.share("a") == 0.0  # nothing left to share
    sorter.validate()


# --- DRF --------------------------------------------------------------------------------------


def test_drf_orders_by_dominant_share_then_rank():
    s = DRFSorter(_pool())
    s.add("x", (2, ""))
    s.add("y", (1, ""))
    s.add("z", (3, ""))
    assert list(s.sort()) == ["y", "x", "z"]  # all 0: by rank
    s.allocated("y", R(cpus=3))  # y 0.3
    s.allocated("x", R(mem=20))  # x 0.2
    assert list(s.sort()) == ["z", "x", "y"]  # z 0 < x 0.2 < y 0.3
    s.allocated("z", R(cpus=1, mem=50))  # z max(0.1, 0.5) = 0.5
    assert list(s.sort()) == ["x", "y", "z"]  # x 0.2 < y 0.3 < z 0.5
    s.set_weight("z", 2.0)  # z 0.5 / 2 = 0.25
    assert list(s.sort()) == ["x", "z", "y"]  # x 0.2 < z 0.25 < y 0.3
    s.pool.add(R(cpus=10, mem=100))  # total doubles: x 0.1, z 0.125, y 0.15
    assert list(s.sort()) == ["x", "z", "y"]
    s.pool.add(R(cpus=100))  # cpus 120, mem 200: x 0.1, z 0.25 / 2 = 0.125, y 0.025
    assert list(s.sort()) == ["y", "x", "z"]
    s.validate()


def test_drf_keeps_its_order_without_resorting_everything():
    """An allocation moves one client; the list stays sorted (validate recomputes it)."""
    s = DRFSorter(_pool(R(cpus=1000)))
    rng = random.Random(1)
    for i in range(50):
        s.add(f"c{i}", (i, ""))
    for _ in range(500):
        name = next(s.sort())  # the one with the least share gets the next CPU
        s.allocated(name, R(cpus=rng.choice([1, 2, 3])))
        if rng.random() < 0.3:
            s.unallocated(f"c{rng.randrange(50)}", R(cpus=1))
    s.validate()
    shares = [s.share(n) for n in s.sort()]
    assert shares == sorted(shares)


# --- random -----------------------------------------------------------------------------------


def test_random_is_reproducible_and_uniform():
    def firsts(seed: int) -> Counter[str]:
        s = RandomSorter(_pool(), random.Random(seed))
        for i in range(4):
            s.add(f"c{i}", (i, ""))
        return Counter(next(s.sort()) for _ in range(4000))

    assert firsts(7) == firsts(7)
    assert all(800 < n < 1200 for n in firsts(7).values())


def test_random_favours_heavier_weights():
    s = RandomSorter(_pool(), random.Random(2))
    s.add("light", (1, ""))
    s.add("heavy", (2, ""), weight=3.0)
    first = Counter(next(s.sort()) for _ in range(4000))
    assert first["heavy"] > 2 * first["light"]  # 3:1 expected
