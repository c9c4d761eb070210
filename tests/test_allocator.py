"""Allocators: one generic suite run against every policy (as Mesos does with its sorters), then
DRF's ordering on the DRF paper's example and with weighted roles.

Each allocation hands all free resources of one agent to one framework; they count as that
framework's until ``recover``ed.
"""

from __future__ import annotations

import pytest

from pymesos_rt.master.allocator import (
    Allocation,
    Allocator,
    DRFAllocator,
    RandomAllocator,
    make_allocator,
)
from pymesos_rt.master.allocator.base import FrameworkEntry
from pymesos_rt.protocol.resources import Resources

R = Resources
AGENT = R(cpus=4, mem=4096)


@pytest.fixture(params=[DRFAllocator, lambda: RandomAllocator(seed=7)], ids=["drf", "random"])
def alloc(request) -> Allocator:
    return request.param()


# --- the generic suite ------------------------------------------------------------------------


def test_nothing_to_allocate_without_agents_or_frameworks(alloc):
    assert alloc.allocate(0.0) == []
    alloc.add_framework("f1")
    assert alloc.allocate(0.0) == []
    alloc.remove_framework("f1")
    alloc.add_agent("a1", AGENT)
    assert alloc.allocate(0.0) == []


def test_one_framework_gets_each_agent_whole(alloc):
    alloc.add_agent("a2", R(cpus=2, mem=1024))
    alloc.add_agent("a1", AGENT)
    alloc.add_framework("f1")
    assert alloc.allocate(0.0) == [
        Allocation("f1", "a1", AGENT),
        Allocation("f1", "a2", R(cpus=2, mem=1024)),
    ]
    # everything is allocated now
    assert alloc.allocate(0.0) == []
    assert alloc.share("f1") == 1.0
    assert alloc.total() == R(cpus=6, mem=5120)


def test_recovered_resources_are_offered_again(alloc):
    alloc.add_agent("a1", AGENT)
    alloc.add_framework("f1")
    alloc.allocate(0.0)
    # keep (3 cpus, 3072 mem) in use, give back the rest
    alloc.recover("f1", "a1", R(cpus=1, mem=1024), now=1.0)
    assert alloc.share("f1") == pytest.approx(0.75)
    assert alloc.allocate(1.0) == [Allocation("f1", "a1", R(cpus=1, mem=1024))]
    alloc.recover("f1", "a1", AGENT, now=2.0)
    assert alloc.share("f1") == 0.0
    assert alloc.allocate(2.0) == [Allocation("f1", "a1", AGENT)]


def test_every_agent_goes_to_some_framework(alloc):
    for i in range(5):
        alloc.add_agent(f"a{i}", R(cpus=1))
    for f in ("f1", "f2", "f3"):
        alloc.add_framework(f)
    allocations = alloc.allocate(0.0)
    assert sorted(a.agent_id for a in allocations) == [f"a{i}" for i in range(5)]
    assert {a.framework_id for a in allocations} <= {"f1", "f2", "f3"}
    assert sum(alloc.share(f) for f in ("f1", "f2", "f3")) == pytest.approx(1.0)


def test_refuse_seconds_filters_the_agent_until_expiry(alloc):
    alloc.add_agent("a1", AGENT)
    alloc.add_framework("f1")
    alloc.allocate(0.0)
    alloc.recover("f1", "a1", AGENT, now=0.0, refuse_seconds=5.0)
    assert alloc.allocate(1.0) == []
    assert alloc.allocate(4.999) == []
    assert alloc.allocate(5.0) == [Allocation("f1", "a1", AGENT)]


def test_a_filter_covers_only_what_was_refused(alloc):
    alloc.add_agent("a1", AGENT)
    alloc.add_framework("f1")
    alloc.allocate(0.0)
    # f1 keeps (4 cpus) for an executor and refuses the memory
    alloc.recover("f1", "a1", R(mem=4096), now=0.0, refuse_seconds=10.0)
    assert alloc.allocate(1.0) == []  # only the refused memory is free
    alloc.recover("f1", "a1", R(cpus=1), now=2.0)  # an executor ended: a CPU is back
    assert alloc.allocate(2.0) == [Allocation("f1", "a1", R(cpus=1, mem=4096))]


def test_a_filtered_agent_goes_to_another_framework(alloc):
    alloc.add_agent("a1", AGENT)
    alloc.add_framework("f1")
    alloc.allocate(0.0)
    alloc.add_framework("f2")
    alloc.recover("f1", "a1", AGENT, now=0.0, refuse_seconds=10.0)
    assert alloc.allocate(1.0) == [Allocation("f2", "a1", AGENT)]


def test_filters_are_per_agent(alloc):
    alloc.add_agent("a1", AGENT)
    alloc.add_framework("f1")
    alloc.allocate(0.0)
    alloc.recover("f1", "a1", AGENT, now=0.0, refuse_seconds=10.0)
    alloc.add_agent("a2", R(cpus=1))
    assert alloc.allocate(1.0) == [Allocation("f1", "a2", R(cpus=1))]


def test_refuse_zero_sets_no_filter(alloc):
    alloc.add_agent("a1", AGENT)
    alloc.add_framework("f1")
    alloc.allocate(0.0)
    alloc.recover("f1", "a1", AGENT, now=0.0, refuse_seconds=0.0)
    assert alloc.allocate(0.0) == [Allocation("f1", "a1", AGENT)]


def test_suppress_stops_offers_and_revive_resumes_them(alloc):
    alloc.add_agent("a1", AGENT)
    alloc.add_framework("f1")
    alloc.suppress("f1")
    assert alloc.allocate(0.0) == []
    alloc.revive("f1")
    assert alloc.allocate(0.0) == [Allocation("f1", "a1", AGENT)]


def test_revive_clears_filters(alloc):
    alloc.add_agent("a1", AGENT)
    alloc.add_framework("f1")
    alloc.allocate(0.0)
    alloc.recover("f1", "a1", AGENT, now=0.0, refuse_seconds=100.0)
    assert alloc.allocate(1.0) == []
    alloc.revive("f1")
    assert alloc.allocate(1.0) == [Allocation("f1", "a1", AGENT)]


def test_suppressed_framework_is_skipped_for_another(alloc):
    alloc.add_agent("a1", AGENT)
    alloc.add_framework("f1")
    alloc.add_framework("f2", suppressed=True)
    alloc.suppress("f1")
    assert alloc.allocate(0.0) == []
    alloc.revive("f2")
    assert alloc.allocate(0.0) == [Allocation("f2", "a1", AGENT)]


def test_suppress_and_revive_of_unknown_framework_are_ignored(alloc):
    alloc.suppress("ghost")
    alloc.revive("ghost")
    assert alloc.frameworks() == []


def test_remove_agent_drops_its_allocations_and_filters(alloc):
    alloc.add_agent("a1", AGENT)
    alloc.add_agent("a2", R(cpus=4, mem=4096))
    alloc.add_framework("f1")
    alloc.allocate(0.0)
    assert alloc.share("f1") == 1.0
    alloc.recover("f1", "a2", AGENT, now=0.0, refuse_seconds=100.0)
    alloc.remove_agent("a1")
    assert alloc.total() == AGENT
    assert alloc.share("f1") == 0.0
    (entry,) = alloc.frameworks()
    assert entry.allocated == R()
    # the filter on a2 is still there; removing a2 clears it, and re-adding offers it at once
    alloc.remove_agent("a2")
    assert entry.filters == {}
    alloc.add_agent("a2", AGENT)
    assert alloc.allocate(1.0) == [Allocation("f1", "a2", AGENT)]
    alloc.remove_agent("never-added")


def test_remove_framework_frees_its_resources(alloc):
    alloc.add_agent("a1", AGENT)
    alloc.add_framework("f1")
    alloc.allocate(0.0)
    alloc.add_framework("f2")
    assert alloc.allocate(0.0) == []
    alloc.remove_framework("f1")
    assert [f.framework_id for f in alloc.frameworks()] == ["f2"]
    assert alloc.share("f1") == 0.0
    assert alloc.allocate(0.0) == [Allocation("f2", "a1", AGENT)]


def test_agent_with_running_executors_offers_only_the_rest(alloc):
    """Re-registration after a master failover: executors already hold resources, and the
    framework that owns them is charged when it re-subscribes."""
    alloc.add_agent("a1", AGENT, used={"f1": R(cpus=3, mem=1024)})
    alloc.add_framework("f2")
    assert alloc.allocate(0.0) == [Allocation("f2", "a1", R(cpus=1, mem=3072))]
    alloc.add_framework("f1")
    assert alloc.share("f1") == pytest.approx(0.75)
    alloc.remove_framework("f2")
    alloc.recover("f1", "a1", R(cpus=3, mem=1024), now=1.0)
    assert alloc.allocate(1.0) == [Allocation("f1", "a1", AGENT)]


def test_re_adding_a_framework_keeps_its_allocation_and_updates_role(alloc):
    alloc.add_agent("a1", AGENT)
    alloc.add_framework("f1", "r1")
    alloc.allocate(0.0)
    alloc.add_framework("f1", "r2", suppressed=True)
    (entry,) = alloc.frameworks()
    assert (entry.role, entry.suppressed, entry.allocated) == ("r2", True, AGENT)


def test_gpu_agents_go_only_to_gpu_frameworks_when_filtering(alloc):
    # Mesos's --filter_gpu_resources: GPU machines are kept for frameworks that use GPUs
    alloc.filter_gpu_resources = True
    gpu_agent = R(cpus=4, mem=4096, gpus=2)
    alloc.add_agent("gpu", gpu_agent)
    alloc.add_agent("cpu", AGENT)
    alloc.add_framework("plain")
    assert alloc.allocate(0.0) == [Allocation("plain", "cpu", AGENT)]
    assert alloc.allocate(1.0) == []  # the GPU agent waits for a GPU framework
    alloc.add_framework("trainer")
    assert alloc.allocate(2.0) == []  # no GPU_RESOURCES capability yet
    alloc.set_gpu_capable("trainer")
    assert alloc.allocate(3.0) == [Allocation("trainer", "gpu", gpu_agent)]


def test_gpu_agents_go_to_anyone_without_the_filter(alloc):
    gpu_agent = R(cpus=4, mem=4096, gpus=2)
    alloc.add_agent("gpu", gpu_agent)
    alloc.add_framework("plain")
    assert alloc.allocate(0.0) == [Allocation("plain", "gpu", gpu_agent)]


def test_weights_must_be_positive(alloc):
    with pytest.raises(ValueError, match="role weight must be > 0"):
        alloc.set_weights({"a": 1.0, "b": 0.0})


# --- DRF --------------------------------------------------------------------------------------


def test_drf_paper_example():
    """Ghodsi et al., DRF (NSDI 2011), section 4: 9 CPUs and 18 GB; A runs <1 CPU, 4 GB> tasks,
    B <3 CPUs, 1 GB>. Each offered framework launches one task and returns the rest."""
    alloc = DRFAllocator()
    alloc.add_agent("agent", R(cpus=9, mem=18432))
    alloc.add_framework("A")
    alloc.add_framework("B")
    task = {"A": R(cpus=1, mem=4096), "B": R(cpus=3, mem=1024)}
    launched = {"A": 0, "B": 0}
    steps = []
    now = 0.0
    while True:
        allocations = alloc.allocate(now)
        assert len(allocations) == 1
        (a,) = allocations
        if not task[a.framework_id].fits(a.resources):
            alloc.recover(a.framework_id, a.agent_id, a.resources, now, refuse_seconds=0)
            break
        launched[a.framework_id] += 1
        alloc.recover(
            a.framework_id, a.agent_id, a.resources - task[a.framework_id], now, refuse_seconds=0
        )
        steps.append((a.framework_id, round(alloc.share("A"), 3), round(alloc.share("B"), 3)))
        now += 1.0

    assert steps == [
        ("A", 0.222, 0.0),  # A 0 = B 0, A subscribed first -> A: max(1/9, 4/18) = 0.222
        ("B", 0.222, 0.333),  # B 0 < A 0.222 -> B: max(3/9, 1/18) = 0.333
        ("A", 0.444, 0.333),  # A 0.222 < B 0.333 -> A: max(2/9, 8/18) = 0.444
        ("B", 0.444, 0.667),  # B 0.333 < A 0.444 -> B: max(6/9, 2/18) = 0.667
        ("A", 0.667, 0.667),  # A 0.444 < B 0.667 -> A: max(3/9, 12/18) = 0.667
    ]
    # A 0.667 = B 0.667, A first: offered <0 CPU, 4 GB>, where neither task fits
    assert a == Allocation("A", "agent", R(mem=4096))
    assert not task["B"].fits(a.resources)
    assert launched == {"A": 3, "B": 2}


def _one_cpu_agents(alloc: Allocator, n: int) -> None:
    for i in range(1, n + 1):
        alloc.add_agent(f"a{i}", R(cpus=1))


def test_drf_without_weights_alternates():
    alloc = DRFAllocator()
    _one_cpu_agents(alloc, 6)
    alloc.add_framework("fa", "a")
    alloc.add_framework("fb", "b")
    got = [a.framework_id for a in alloc.allocate(0.0)]
    # a 0 = b 0 (role name) | b 0 < 1/6 | a 1/6 = b 1/6 | b 1/6 < 2/6 | a 2/6 = b 2/6 | b 2/6 < 3/6
    assert got == ["fa", "fb", "fa", "fb", "fa", "fb"]


def test_drf_weighted_roles_two_to_one():
    alloc = DRFAllocator()
    _one_cpu_agents(alloc, 6)
    alloc.set_weights({"b": 2.0})  # "a" keeps weight 1, and wins ties on its name
    alloc.add_framework("fa", "a")
    alloc.add_framework("fb", "b")
    got = [a.framework_id for a in alloc.allocate(0.0)]
    # weighted shares (share / weight) before each agent is given out:
    assert got == [
        "fa",  # a 0 = b 0 (role name)          -> a 1/6 = 0.167
        "fb",  # b 0 < a 0.167                  -> b 1/6 / 2 = 0.083
        "fb",  # b 0.083 < a 0.167              -> b 2/6 / 2 = 0.167
        "fa",  # a 0.167 = b 0.167 (role name)  -> a 2/6 = 0.333
        "fb",  # b 0.167 < a 0.333              -> b 3/6 / 2 = 0.25
        "fb",  # b 0.25 < a 0.333               -> b 4/6 / 2 = 0.333
    ]
    assert alloc.role_share("a") == pytest.approx(2 / 6)
    assert alloc.role_share("b") == pytest.approx(4 / 6 / 2)


def test_drf_orders_roles_first_then_frameworks_inside_a_role():
    alloc = DRFAllocator()
    alloc.add_agent("a1", R(cpus=10, mem=10))
    alloc.add_framework("x1", "x")
    alloc.add_framework("x2", "x")
    alloc.add_framework("y1", "y")
    # charge x1 with 3 cpus and y1 with 2 (through allocate and recover)
    for fw, keep in (("x1", R(cpus=3)), ("y1", R(cpus=2))):
        for other in ("x1", "x2", "y1"):
            if other != fw:
                alloc.suppress(other)
        (a,) = alloc.allocate(0.0)
        assert a.framework_id == fw
        alloc.recover(fw, "a1", a.resources - keep, 0.0)
        for other in ("x1", "x2", "y1"):
            alloc.revive(other)

    def order() -> list[str]:
        return [f.framework_id for f in alloc.order()]

    # role x 0.3 > role y 0.2: y first; inside x, x2 0 < x1 0.3
    assert order() == ["y1", "x2", "x1"]
    alloc.set_weights({"x": 2.0})
    # role x 0.3 / 2 = 0.15 < role y 0.2
    assert order() == ["x2", "x1", "y1"]


def test_drf_ties_go_to_the_framework_that_subscribed_first():
    alloc = DRFAllocator()
    for fw in ("zeta", "alpha", "mid"):
        alloc.add_framework(fw)
    assert [f.framework_id for f in alloc.order()] == ["zeta", "alpha", "mid"]


def _two_agents_two_frameworks(cpus: int) -> DRFAllocator:
    """Agents a1 and a2 of ``cpus`` each; frameworks f1 and f2, subscribed in that order."""
    alloc = DRFAllocator()
    alloc.add_agent("a1", R(cpus=cpus))
    alloc.add_agent("a2", R(cpus=cpus))
    alloc.add_framework("f1")
    alloc.add_framework("f2")
    return alloc


def test_drf_counts_offered_resources_in_the_share():
    alloc = _two_agents_two_frameworks(cpus=1)
    # a1 goes to f1 (tie, first); with a1 outstanding f1 has 0.5 > 0, so a2 goes to f2
    assert alloc.allocate(0.0) == [
        Allocation("f1", "a1", R(cpus=1)),
        Allocation("f2", "a2", R(cpus=1)),
    ]


def test_drf_does_not_count_offers_of_the_agent_being_allocated_against_their_holder():
    """An agent's unused resources are one pool: f1's outstanding offer of a1's spare memory
    (nearly all of a1's memory, which ranks f1 last by dominant share) does not keep the CPU
    freed on a1 from f1; an offer of another agent still counts."""
    alloc = DRFAllocator()
    alloc.add_agent("a1", R(cpus=4, mem=4096))
    alloc.add_framework("f1")
    alloc.add_framework("f2")
    (a,) = alloc.allocate(0.0)
    assert a.framework_id == "f1"
    # f1 keeps 2 cpus + its offer of a1's spare memory; f2 gets and keeps the other 2 cpus
    alloc.recover("f1", "a1", R(cpus=2), 0.0)
    (b,) = alloc.allocate(0.0)
    assert b == Allocation("f2", "a1", R(cpus=2))
    spare = R(mem=4096 - 64)  # f1's tasks use 64 of its 4096
    alloc.recover("f1", "a1", R(cpus=1, mem=32), 0.0)  # one of f1's tasks ends
    held = {"a1": {"f1": spare}}
    # counted, the offer makes f1 0.99 > f2 0.5: the CPU would go to f2
    assert alloc.allocate(0.0, lambda agent: held.get(agent, {})) == [
        Allocation("f1", "a1", R(cpus=1, mem=32))
    ]
    alloc.validate()


def test_drf_counts_offers_of_other_agents_when_allocating_one():
    alloc = _two_agents_two_frameworks(cpus=2)
    assert alloc.allocate(0.0) == [
        Allocation("f1", "a1", R(cpus=2)),
        Allocation("f2", "a2", R(cpus=2)),
    ]
    alloc.recover("f2", "a2", R(cpus=1), 0.0)  # f2 uses 1 cpu of a2
    held = {"a1": {"f1": R(cpus=2)}, "a2": {}}  # f1 still holds its offer of a1
    # f1's offer of a1 counts on a2: f1 0.5 > f2 0.25
    assert alloc.allocate(0.0, lambda agent: held[agent]) == [Allocation("f2", "a2", R(cpus=1))]
    alloc.validate()


# --- random -----------------------------------------------------------------------------------


def test_random_is_reproducible_with_a_seed_and_spreads_agents():
    def run(seed: int) -> list[str]:
        alloc = RandomAllocator(seed=seed)
        _one_cpu_agents(alloc, 40)
        alloc.add_framework("f1")
        alloc.add_framework("f2")
        return [a.framework_id for a in alloc.allocate(0.0)]

    assert run(3) == run(3)
    got = run(3)
    assert 5 < got.count("f1") < 35


# --- construction -----------------------------------------------------------------------------


class CustomAllocator(Allocator):
    def order(self) -> list[FrameworkEntry]:
        return sorted(self._frameworks.values(), key=lambda f: f.framework_id, reverse=True)


class NotAnAllocator:
    pass


def test_make_allocator():
    assert type(make_allocator("drf")) is DRFAllocator
    assert type(make_allocator("random")) is RandomAllocator
    custom = make_allocator(f"{__name__}:CustomAllocator")
    assert isinstance(custom, CustomAllocator)
    custom.add_agent("a1", R(cpus=1))
    custom.add_framework("f1")
    custom.add_framework("f2")
    assert custom.allocate(0.0) == [Allocation("f2", "a1", R(cpus=1))]
    with pytest.raises(ValueError, match="unknown allocator 'fair'"):
        make_allocator("fair")
    with pytest.raises(TypeError, match="not a subclass"):
        make_allocator(f"{__name__}:NotAnAllocator")
