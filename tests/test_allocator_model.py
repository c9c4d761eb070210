"""The incremental allocator against a model: the straightforward allocator it replaced (every
agent visited each cycle, every framework re-sorted for every agent) kept here as a small
reference. Random sequences of events must give identical allocations and shares, with the
invariants (``validate``) holding after every step; and a cycle's cost follows what changed.
"""

from __future__ import annotations

import random

import pytest

from pymesos_rt.master.allocator import Allocation, DRFAllocator, RandomAllocator
from pymesos_rt.master.allocator.drf import DRFSorter
from pymesos_rt.master.allocator.sorter import Pool, Sorter
from pymesos_rt.protocol.resources import Resources

R = Resources


class Reference:
    """Hierarchical DRF the plain way: O(agents x frameworks log frameworks) per cycle."""

    def __init__(self) -> None:
        self.agents: dict[str, tuple[Resources, dict[str, Resources]]] = {}
        self.frameworks: dict[str, dict] = {}
        self.weights: dict[str, float] = {}
        self.counter = 0

    def add_agent(self, agent_id: str, total: Resources) -> None:
        self.agents[agent_id] = (total, {})

    def remove_agent(self, agent_id: str) -> None:
        _, allocated = self.agents.pop(agent_id)
        for fw_id, res in allocated.items():
            if fw_id in self.frameworks:
                fw = self.frameworks[fw_id]
                fw["allocated"] = (fw["allocated"] - res).clamp_nonnegative()
        for fw in self.frameworks.values():
            fw["filters"].pop(agent_id, None)

    def add_framework(self, fw_id: str, role: str) -> None:
        self.counter += 1
        self.frameworks[fw_id] = {
            "role": role,
            "order": self.counter,
            "suppressed": False,
            "allocated": R(),
            "filters": {},
        }

    def remove_framework(self, fw_id: str) -> None:
        self.frameworks.pop(fw_id)
        for _, allocated in self.agents.values():
            allocated.pop(fw_id, None)

    def total(self) -> Resources:
        total = R()
        for agent_total, _ in self.agents.values():
            total = total + agent_total
        return total

    def share(self, fw_id: str) -> float:
        return self.frameworks[fw_id]["allocated"].dominant_share(self.total())

    def role_share(self, role: str) -> float:
        allocated = R()
        for fw in self.frameworks.values():
            if fw["role"] == role:
                allocated = allocated + fw["allocated"]
        return allocated.dominant_share(self.total()) / self.weights.get(role, 1.0)

    def order(self) -> list[str]:
        total = self.total()
        roles = {fw["role"]: self.role_share(fw["role"]) for fw in self.frameworks.values()}
        return sorted(
            self.frameworks,
            key=lambda f: (
                roles[self.frameworks[f]["role"]],
                self.frameworks[f]["role"],
                self.frameworks[f]["allocated"].dominant_share(total),
                self.frameworks[f]["order"],
            ),
        )

    def recover(self, fw_id: str, agent_id: str, res: Resources, now: float, refuse: float) -> None:
        _, allocated = self.agents[agent_id]
        left = (allocated[fw_id] - res).clamp_nonnegative()
        if left.is_empty():
            del allocated[fw_id]
        else:
            allocated[fw_id] = left
        fw = self.frameworks[fw_id]
        fw["allocated"] = (fw["allocated"] - res).clamp_nonnegative()
        if refuse > 0:
            fw["filters"][agent_id] = (now + refuse, res)

    def allocate(self, now: float) -> list[Allocation]:
        out = []
        for agent_id in sorted(self.agents):
            total, allocated = self.agents[agent_id]
            used = R()
            for res in allocated.values():
                used = used + res
            free = (total - used).clamp_nonnegative()
            if free.is_empty():
                continue
            for fw_id in self.order():
                fw = self.frameworks[fw_id]
                if fw["suppressed"]:
                    continue
                refused = fw["filters"].get(agent_id)
                if refused is not None:
                    if now >= refused[0]:
                        del fw["filters"][agent_id]
                    elif free.fits(refused[1]):
                        continue
                allocated[fw_id] = allocated.get(fw_id, R()) + free
                fw["allocated"] = fw["allocated"] + free
                out.append(Allocation(fw_id, agent_id, free))
                break
        return out


SHAPES = [R(cpus=4, mem=4096), R(cpus=8, mem=2048), R(cpus=1, mem=8192), R(cpus=2, gpus=1)]


KINDS = ["agent", "agent", "fw", "recover", "recover", "recover", "alloc", "alloc", "suppress"]
KINDS += ["revive", "rm_agent", "rm_fw", "weights"]


@pytest.mark.parametrize("seed", range(12))
def test_identical_to_the_reference_on_random_events(seed):
    rng = random.Random(seed)
    new, ref = DRFAllocator(), Reference()
    now = 0.0
    agents = frameworks = 0
    held: list[Allocation] = []  # what is allocated and not recovered
    for _ in range(300):
        kind = rng.choice(KINDS)
        now += rng.choice([0.0, 0.5, 1.0, 3.0])
        if kind == "agent":
            agents += 1
            shape = rng.choice(SHAPES)
            new.add_agent(f"a{agents:03d}", shape)
            ref.add_agent(f"a{agents:03d}", shape)
        elif kind == "fw":
            frameworks += 1
            role = rng.choice(["r1", "r2", "r3"])
            new.add_framework(f"f{frameworks}", role)
            ref.add_framework(f"f{frameworks}", role)
        elif kind == "alloc":
            got = new.allocate(now)
            assert got == ref.allocate(now)
            held += got
        elif kind == "recover" and held:
            a = held.pop(rng.randrange(len(held)))
            part = a.resources if rng.random() < 0.5 else a.resources * 0.5
            refuse = rng.choice([0.0, 0.0, 2.0, 5.0])
            new.recover(a.framework_id, a.agent_id, part, now, refuse)
            ref.recover(a.framework_id, a.agent_id, part, now, refuse)
            if part != a.resources:
                held.append(Allocation(a.framework_id, a.agent_id, a.resources - part))
        elif kind in ("suppress", "revive") and ref.frameworks:
            fw_id = rng.choice(sorted(ref.frameworks))
            getattr(new, kind)(fw_id)
            ref.frameworks[fw_id]["suppressed"] = kind == "suppress"
            if kind == "revive":
                ref.frameworks[fw_id]["filters"].clear()
        elif kind == "rm_agent" and ref.agents:
            agent_id = rng.choice(sorted(ref.agents))
            new.remove_agent(agent_id)
            ref.remove_agent(agent_id)
            held = [h for h in held if h.agent_id != agent_id]
        elif kind == "rm_fw" and ref.frameworks:
            fw_id = rng.choice(sorted(ref.frameworks))
            new.remove_framework(fw_id)
            ref.remove_framework(fw_id)
            held = [h for h in held if h.framework_id != fw_id]
        elif kind == "weights":
            weights = {r: rng.choice([1.0, 2.0, 0.5]) for r in ("r1", "r2", "r3")}
            new.set_weights(weights)
            ref.weights = weights
        new.validate()
        for fw_id in ref.frameworks:
            assert new.share(fw_id) == pytest.approx(ref.share(fw_id), abs=1e-9)
        assert [f.framework_id for f in new.order()] == [
            f for f in ref.order() if not ref.frameworks[f]["suppressed"]
        ]
    assert new.total() == ref.total()


@pytest.mark.parametrize("make", [DRFAllocator, lambda: RandomAllocator(seed=3)])
def test_invariants_hold_with_agents_deactivated_and_used_resources(make):
    alloc = make()
    alloc.add_agent("a1", R(cpus=4, mem=4096), used={"f1": R(cpus=1)})
    alloc.add_agent("a2", R(cpus=4, mem=4096))
    alloc.validate()
    alloc.deactivate_agent("a2")
    alloc.add_framework("f2")
    assert alloc.allocate(0.0) == [Allocation("f2", "a1", R(cpus=3, mem=4096))]
    alloc.validate()
    alloc.activate_agent("a2")
    assert alloc.allocate(0.0) == [Allocation("f2", "a2", R(cpus=4, mem=4096))]
    alloc.add_framework("f1")
    assert alloc.allocation("f1") == R(cpus=1)
    assert alloc.allocation("f1", "a1") == R(cpus=1)
    assert alloc.free("a1") == R()
    alloc.validate()
    alloc.remove_framework("f2")
    assert alloc.free("a2") == R(cpus=4, mem=4096)
    alloc.validate()
    alloc.remove_agent("a1")
    assert alloc.allocation("f1") == R()
    alloc.validate()


class CountingSorter(DRFSorter):
    sorts = 0

    def sort(self):  # type: ignore[override]
        CountingSorter.sorts += 1
        return super().sort()


class CountingDRF(DRFAllocator):
    def _make_sorter(self, pool: Pool) -> Sorter:
        return CountingSorter(pool)


def test_a_cycle_visits_only_the_agents_that_changed():
    alloc = CountingDRF()
    for i in range(1000):
        alloc.add_agent(f"a{i:04d}", R(cpus=4, mem=4096))
    for j in range(20):
        alloc.add_framework(f"f{j}", f"role{j % 4}")
    first = alloc.allocate(0.0)
    assert len(first) == 1000
    # nothing free: an idle cycle asks no sorter for anything
    CountingSorter.sorts = 0
    assert alloc.allocate(1.0) == []
    assert CountingSorter.sorts == 0
    # two agents freed: two visits, each one role order and one framework order
    for fw_id in ("f3", "f5"):
        agent_id = next(a.agent_id for a in first if a.framework_id == fw_id)
        alloc.recover(fw_id, agent_id, R(cpus=1), 2.0)
    got = alloc.allocate(2.0)
    assert len(got) == 2
    assert CountingSorter.sorts == 4
    alloc.validate()


def test_agents_nobody_can_take_wait_until_a_framework_can():
    alloc = CountingDRF()
    for i in range(100):
        alloc.add_agent(f"a{i:03d}", R(cpus=1))
    alloc.add_framework("f1", suppressed=True)
    assert alloc.allocate(0.0) == []
    CountingSorter.sorts = 0
    assert alloc.allocate(1.0) == []  # stalled agents are not visited again
    assert CountingSorter.sorts == 0
    alloc.revive("f1")
    assert len(alloc.allocate(2.0)) == 100
    alloc.validate()


def test_a_filter_expiring_brings_its_agent_back():
    alloc = DRFAllocator()
    alloc.add_agent("a1", R(cpus=1))
    alloc.add_agent("a2", R(cpus=1))
    alloc.add_framework("f1")
    alloc.allocate(0.0)
    alloc.recover("f1", "a1", R(cpus=1), 0.0, refuse_seconds=5.0)
    alloc.recover("f1", "a2", R(cpus=1), 0.0, refuse_seconds=3.0)
    assert alloc.allocate(1.0) == []
    assert alloc.allocate(3.0) == [Allocation("f1", "a2", R(cpus=1))]
    assert alloc.allocate(4.0) == []
    assert alloc.allocate(5.0) == [Allocation("f1", "a1", R(cpus=1))]
    alloc.validate()
