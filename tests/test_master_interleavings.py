"""The master core under random interleavings: the real master core, real agent cores and
small emulated frameworks (one executor per offer, as the DRF paper's), with messages
delivered in a random order across connections (in order within one, as a websocket does),
agents and frameworks dropping their connections and coming back, fair-share reclaims on.
Every invariant holds throughout (``validate``) and when all is quiet the cluster is full.
With one executor shape for all, the shares then are within one executor of each other; with
two shapes that leave each other fragments, they may end further apart (only reclaims, one
executor at a time, pull them together), so that case checks the invariants alone."""

from __future__ import annotations

import itertools
import random
from collections import deque
from typing import Any

import pytest

from pymesos_rt.agent import state as agent_core
from pymesos_rt.master.records import MasterConfig, Send
from pymesos_rt.master.state import MasterState
from pymesos_rt.protocol import messages as m
from pymesos_rt.protocol.resources import Resources

R = Resources
AGENT = R(cpus=8, mem=32768)
ONE = R(cpus=1, mem=4096)
MIXED = (ONE, R(cpus=2, mem=8192))  # each the same share of the cpus as of the memory
CMD = m.CommandInfo(["true"])


class Framework:
    def __init__(self, index: int, shapes: tuple[Resources, ...]) -> None:
        self.framework_id = f"fw{index}"
        self.shape = shapes[index % len(shapes)]
        self.executors: dict[str, str] = {}  # executor -> agent
        self.seq = 0

    def on_event(self, msg: Any) -> list[Any]:
        calls: list[Any] = []
        if isinstance(msg, m.Offers):
            for offer in msg.offers:
                if not self.shape.fits(offer.resources):
                    calls.append(m.Decline([offer.offer_id], 5.0))
                    continue
                self.seq += 1
                eid = f"{self.framework_id}-e{self.seq}"
                self.executors[eid] = offer.agent_id
                launch = m.ExecutorLaunch(eid, self.shape, CMD)
                calls.append(m.Accept([offer.offer_id], [launch], refuse_seconds=0.0))
        elif isinstance(msg, m.ExecutorUpdate):
            update = msg.update
            if update.update_id:
                calls.append(m.Acknowledge(update.agent_id, update.update_id))
            if update.state.terminal:
                self.executors.pop(update.executor_id, None)
        elif isinstance(msg, m.Reclaim):
            for eid, agent_id in list(self.executors.items())[: msg.count]:
                calls.append(m.KillExecutor(agent_id, eid))
        return calls

    def subscribe(self) -> list[Any]:
        refs = [m.ExecutorRef(a, e) for e, a in sorted(self.executors.items())]
        credential = f"secret-of-{self.framework_id}"  # the same at every re-subscription
        subscribe = m.Subscribe(self.framework_id, "*", self.framework_id, 3600.0, credential)
        return [subscribe, m.Reconcile(refs)]


class World:
    """Connections as FIFO queues; each step delivers the head of a random busy one."""

    def __init__(
        self, seed: int, agents: int, frameworks: int, shapes: tuple[Resources, ...]
    ) -> None:
        self.rng = random.Random(seed)
        self.now = 0.0
        config = MasterConfig(reclaim_interval=1.0, agent_timeout=1e9, agent_reregister_timeout=1.0)
        ids = itertools.count(1)  # the master's ids decide orderings: keep them the same every run
        self.master = MasterState(
            config=config, master_id="M", make_id=lambda prefix: f"{prefix}-{next(ids):04d}"
        )
        self.queues: dict[str, deque[tuple[bool, Any]]] = {}  # conn -> (to master?, message)
        self.agents: dict[str, agent_core.AgentState] = {}
        self.frameworks: dict[str, Framework] = {}
        self.conns = 0
        self.quiet = 0  # quiet steps in a row (see step)
        for i in range(frameworks):
            self._connect_framework(Framework(i, shapes))
        for i in range(agents):
            self._connect_agent(agent_core.AgentState(f"host{i}", AGENT, "none"))

    def _conn(self, kind: str) -> str:
        self.conns += 1
        return f"{kind}{self.conns}"

    def _connect_agent(self, agent: agent_core.AgentState) -> None:
        conn = self._conn("a")
        self.agents[conn] = agent
        self._agent_effects(conn, agent.connected(self.now))

    def _connect_framework(self, fw: Framework) -> None:
        conn = self._conn("f")
        self.frameworks[conn] = fw
        self.queues.setdefault(conn, deque()).extend((True, c) for c in fw.subscribe())

    def _agent_effects(self, conn: str, effects: list[agent_core.Effect]) -> None:
        agent = self.agents[conn]
        while effects:
            eff = effects.pop(0)
            if isinstance(eff, agent_core.ToMaster):
                self.queues.setdefault(conn, deque()).append((True, eff.message))
            elif isinstance(eff, agent_core.StartProcess):
                effects += agent.process_started(eff.framework_id, eff.executor_id, self.now)
            else:
                fid, eid = eff.framework_id, eff.executor_id
                effects += agent.process_exited(fid, eid, 0, None, self.now)

    def _master_effects(self, effects: list[Any]) -> None:
        for eff in effects:
            if isinstance(eff, Send) and eff.conn in self.queues:
                self.queues[eff.conn].append((False, eff.message))

    def _drop(self, conn: str) -> None:
        del self.queues[conn]
        self._master_effects(self.master.on_disconnected(conn, self.now))

    def step(self) -> bool:
        rng, ms = self.rng, self.master
        roll = rng.random()
        if roll < 0.002:  # an agent's connection drops; it registers again on a new one
            conn = rng.choice(sorted(self.agents))
            self._drop(conn)
            self._connect_agent(self.agents.pop(conn))
            return True
        if roll < 0.003:
            conn = rng.choice(sorted(self.frameworks))
            self._drop(conn)
            self._connect_framework(self.frameworks.pop(conn))
            return True
        if roll < 0.03:
            self.now += 0.05
            self._master_effects(ms.allocate(self.now) + ms.tick(self.now))
            for conn, agent in self.agents.items():
                self._agent_effects(conn, agent.tick(self.now))
            return True
        busy = [c for c, q in self.queues.items() if q]
        if not busy:
            # quiet: let time pass; the world is settled once the master has said nothing for
            # longer than its reclaim interval (a framework below its share is "starving", and
            # asks for an executor back, only after that long without launching)
            self.now += 0.5
            self._master_effects(ms.allocate(self.now) + ms.tick(self.now))
            self.quiet = 0 if any(self.queues.values()) else self.quiet + 1
            return self.quiet * 0.5 <= ms.config.reclaim_interval * 2
        self.quiet = 0
        conn = rng.choice(busy)
        to_master, msg = self.queues[conn].popleft()
        if to_master and conn in self.agents:
            self._master_effects(ms.on_agent_call(conn, msg, self.now))
        elif to_master:
            self._master_effects(ms.on_framework_call(conn, msg, self.now))
        elif conn in self.agents:
            self._agent_effects(conn, self.agents[conn].on_master_event(msg, self.now))
        else:
            calls = self.frameworks[conn].on_event(msg)
            self.queues[conn].extend((True, c) for c in calls)
        if rng.random() < 0.3:
            self._master_effects(ms.allocate(self.now))
        return True


@pytest.mark.parametrize("shapes", [(ONE,), MIXED], ids=["one-shape", "two-shapes"])
@pytest.mark.parametrize("seed", range(5))
def test_random_interleavings_keep_every_invariant_and_end_fair(seed, shapes):
    world = World(seed, agents=24, frameworks=6, shapes=shapes)
    for step in range(20_000):
        if not world.step():
            break
        if step % 50 == 0:
            world.master.validate()
    else:
        pytest.fail("still busy after 20,000 steps")
    ms = world.master
    ms.validate()
    total = ms.allocator.total()
    assert ms.used_total == total  # the cluster is full
    if len(shapes) == 1:
        shares = [ms.used_by(f).dominant_share(total) for f in ms.frameworks]
        assert max(shares) - min(shares) <= ONE.dominant_share(total) + 1e-9, shares
