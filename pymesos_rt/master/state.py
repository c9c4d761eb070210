"""The master's sans-IO core: the registry of agents, frameworks, executors and offers.

Rules kept here:
- Inputs are messages from one connection (identified by an opaque ``conn`` string chosen by the
  shell), disconnections, and ``tick``/``allocate`` calls; every input takes ``now``.
- Outputs are effects (:class:`Send`, :class:`Close`) that the shell carries out in order.
- The master never runs user code and never carries task payloads: it only moves resources
  (offers), executor lifecycles and status updates.
- Every handler is idempotent: a repeated status update, acknowledgement or decline changes
  nothing the second time.
- Resources are either free, offered (outstanding offer) or used (a non-terminal executor); the
  allocator's per-framework allocation is always offered + used (``validate()`` checks it).
- No handler scans all agents, executors or offers: each works through the registry's indexes
  (``registry.py``) on what it touches. Frameworks hear of agents joining and leaving as one
  :class:`~pymesos_rt.protocol.messages.ClusterDelta` per allocation cycle (the full list once,
  when they subscribe).

Imports ``protocol`` and the master's other sans-IO modules only (allocator, registry, offers,
reconciliation, identity, jobs, actors, snapshot); no I/O (import-linter keeps tornado out).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from pymesos_rt.master import actors
from pymesos_rt.master.allocator import Allocator, DRFAllocator
from pymesos_rt.master.identity import Identities, Kind, Refused
from pymesos_rt.master.jobs import JobBook
from pymesos_rt.master.offers import OfferBook
from pymesos_rt.master.reclaim import Holder, choose_reclaims
from pymesos_rt.master.reconciliation import Reconciliation
from pymesos_rt.master.records import (
    AgentEntry,
    Close,
    Effect,
    ExecutorEntry,
    FrameworkEntry,
    MasterConfig,
    Send,
)
from pymesos_rt.master.registry import Registry
from pymesos_rt.master.snapshot import StateQuery, snapshot
from pymesos_rt.protocol import messages as m
from pymesos_rt.protocol.ids import new_id
from pymesos_rt.protocol.resources import Resources
from pymesos_rt.protocol.states import ExecutorState

log = logging.getLogger(__name__)


class MasterState(Registry):
    def __init__(
        self,
        allocator: Allocator | None = None,
        config: MasterConfig | None = None,
        master_id: str | None = None,
        make_id: Callable[[str], str] = new_id,
    ) -> None:
        super().__init__(allocator or DRFAllocator())
        self.config = config or MasterConfig()
        self.allocator.filter_gpu_resources = self.config.filter_gpu_resources
        self.make_id = make_id  # ids of new agents and frameworks (tests pass a counter)
        self.master_id = master_id or make_id("master")
        self.completed_executors: list[ExecutorEntry] = []
        self.jobs = JobBook(self.config.completed_frameworks_kept)  # the dashboard's (jobs.py)
        self.address = ""  # where frameworks and agents reach this master (set by the shell)
        # when this master began leading (monotonic); unset: the time of its first input
        self.started_at: float | None = None
        self._reclaiming: dict[str, float] = {}  # framework -> when it was last asked
        self._conns: dict[str, tuple[str, str]] = {}  # conn -> ("agent"|"framework", id)
        self.identity = Identities()  # credentials of frameworks and agents (identity.py)
        self.offer_book = OfferBook(self)  # making, accepting and rescinding offers (offers.py)
        self.reconciliation = Reconciliation(self)  # answers to Reconcile (reconciliation.py)

    # --- framework channel -------------------------------------------------------------------
    def on_framework_call(self, conn: str, call: m.SchedulerCall, now: float) -> list[Effect]:
        self._started(now)
        if isinstance(call, m.Subscribe):
            return self._subscribe(conn, call, now)
        fw = self._framework_of(conn)
        if fw is None:
            return [Close(conn, f"{type(call).__name__} before Subscribe")]
        match call:
            case m.Accept():
                return self._accept(fw, call, now)
            case m.Decline():
                for offer_id in call.offer_ids:
                    self._drop_offer(offer_id, fw.framework_id, now, call.refuse_seconds)
                return []
            case m.Suppress():
                fw.suppressed = True
                self.allocator.suppress(fw.framework_id)
                return []
            case m.Revive():
                if fw.suppressed:
                    self._start_hunger(fw, now)
                fw.suppressed = False
                self.allocator.revive(fw.framework_id)
                return []
            case m.KillExecutor():
                if fw.known is not None:  # should its agent re-register with it: an orphan
                    fw.known.discard(call.executor_id)
                ex = self.executors.get((fw.framework_id, call.executor_id))
                agent = self.agents.get(call.agent_id)
                if ex is None or agent is None or agent.conn is None:
                    return []
                return [Send(agent.conn, m.StopExecutor(fw.framework_id, call.executor_id))]
            case m.Acknowledge():
                agent = self.agents.get(call.agent_id)
                if agent is None or agent.conn is None:
                    return []
                return [Send(agent.conn, m.StatusAcked(call.update_id))]
            case m.Teardown():
                return [
                    *self._remove_framework(fw.framework_id, now, "finished"),
                    Close(conn, "teardown"),
                ]
            case m.JobSummary():
                fw.tasks = self.jobs.summary(fw.framework_id, call, now) or fw.tasks
                return []
            case m.ActorSummary():
                actors.record(fw, call.actors)
                return []
            case m.Reconcile():
                return self.reconciliation.reconcile(fw, call, now)
            case m.UpdateFramework():
                gpus = m.GPU_RESOURCES in call.capabilities
                self.allocator.set_gpu_capable(fw.framework_id, gpus)
                return []
        return []  # pragma: no cover - the union is closed

    def _subscribe(self, conn: str, call: m.Subscribe, now: float) -> list[Effect]:
        admitted = self.subscribe(conn, call, now)
        if isinstance(admitted, Refused):
            return [Send(conn, m.Error(admitted.reason)), Close(conn, admitted.reason)]
        return admitted

    def subscribe(
        self, conn: str, call: m.Subscribe, now: float, kind: Kind = Kind.PROGRAM
    ) -> Refused | list[Effect]:
        """Subscribe a framework of ``kind`` on ``conn``; a refusal (``identity.py``) changes
        nothing and is the caller's to answer (the Mesos API answers it with ``403``)."""
        self._started(now)
        fw_id = call.framework_id or self.make_id("fw")
        new = call.framework_id is None
        verdict = self.identity.subscribe(fw_id, call.credential, new, kind)
        if isinstance(verdict, Refused):
            log.warning("refused a subscription as framework %s: %s", fw_id, verdict.reason)
            return verdict
        existing = self.frameworks.get(fw_id)
        effects: list[Effect] = []
        if existing is not None:
            if existing.conn is not None and existing.conn != conn:
                effects.append(Close(existing.conn, "framework re-subscribed elsewhere"))
                self._conns.pop(existing.conn, None)
            existing.conn, existing.disconnected_at = conn, None
            fw = existing
        else:
            fw = FrameworkEntry(
                fw_id, call.name, call.role, conn, call.failover_timeout, registered_at=now
            )
            self.frameworks[fw_id] = fw
            # executors reported by agents that re-registered before this framework came back
            self._claim_executors(fw)
        fw.cluster_seq = self._cluster_seq  # the full list below has every change so far
        self._start_hunger(fw, now)
        self._conns[conn] = ("framework", fw_id)
        self.jobs.started(fw_id, fw.name, fw.role, now)
        self.allocator.add_framework(fw_id, fw.role, suppressed=fw.suppressed)
        self.allocator.set_gpu_capable(fw_id, m.GPU_RESOURCES in call.capabilities)
        log.info("framework %s (%s, role %s) subscribed", fw_id, call.name, call.role)
        effects.append(Send(conn, m.Subscribed(fw_id, self.master_id, verdict.issued)))
        effects.append(Send(conn, self._cluster_message()))
        return effects

    def _accept(self, fw: FrameworkEntry, call: m.Accept, now: float) -> list[Effect]:
        return self.offer_book.accept(fw, call, now)

    def _drop_offer(self, offer_id: str, fw_id: str, now: float, refuse: float) -> None:
        self.offer_book.drop(offer_id, fw_id, now, refuse)

    # --- agent channel -----------------------------------------------------------------------
    def on_agent_call(self, conn: str, call: m.AgentCall, now: float) -> list[Effect]:
        self._started(now)
        if isinstance(call, m.RegisterAgent):
            return self._register_agent(conn, call, now)
        kind = self._conns.get(conn)
        if kind is None or kind[0] != "agent" or kind[1] not in self.agents:
            return [Close(conn, f"{type(call).__name__} before RegisterAgent")]
        agent = self.agents[kind[1]]
        self._heard_from(agent, now)
        match call:
            case m.AgentStatus():
                return self._status_update(agent, call.update, now)
            case m.Heartbeat():
                return []
            case m.Unregister():
                why = call.reason or "it unregistered"
                return self.remove_agent(agent.agent_id, now, why, graceful=True)
            case m.StoreUsage():
                agent.object_store = {
                    k: getattr(call.stats, k) for k in call.stats.__struct_fields__
                }
                return []
            case m.ExecutorUsage():
                for rec in call.executors:
                    ex = self.executors.get((rec.framework_id, rec.executor_id))
                    if ex is not None and ex.agent_id == agent.agent_id:
                        ex.usage = dict(rec.usage)
                        self.jobs.usage(
                            ex.framework_id,
                            ex.executor_id,
                            ex.agent_id,
                            ex.resources,
                            ex.usage,
                            now,
                        )
                return []
        return []  # pragma: no cover

    def _register_agent(self, conn: str, call: m.RegisterAgent, now: float) -> list[Effect]:
        agent_id = call.agent_id or self.make_id("agent")
        verdict = self.identity.register_agent(agent_id, call.credential)
        if isinstance(verdict, Refused):
            log.warning("refused a registration as agent %s: %s", agent_id, verdict.reason)
            return [Close(conn, verdict.reason)]
        effects: list[Effect] = []
        old = self.agents.get(agent_id)
        if old is not None:
            if old.conn is not None and old.conn != conn:
                effects.append(Close(old.conn, "agent re-registered elsewhere"))
                self._conns.pop(old.conn, None)
            # outstanding offers hold resources the re-added agent would offer a second time
            effects += self._rescind_agent_offers(agent_id, now)
            self._forget_agent(agent_id)
        was = None if old is None else (old.hostname, old.total, old.object_address)
        if was != (call.hostname, call.resources, call.object_address):
            self._agent_changed(agent_id)
        agent = AgentEntry(agent_id, call.hostname, call.resources, conn, call.isolation, now)
        agent.object_address = call.object_address
        self.agents[agent_id] = agent
        self._heard_from(agent, now)
        self._conns[conn] = ("agent", agent_id)
        used: dict[str, Resources] = {}
        orphans: list[Effect] = []  # executors their framework says it does not hold
        effects += self._vouch(call.executors, now)
        for rec in call.executors:
            key = (rec.framework_id, rec.executor_id)
            if key in self.executors:  # reported by another agent too: the latest report wins
                self._end_executor(self.executors[key], ExecutorState.LOST, now, told=False)
            self._add_executor(
                ExecutorEntry(
                    rec.framework_id,
                    rec.executor_id,
                    agent_id,
                    rec.resources,
                    ExecutorState.RUNNING,
                )
            )
            used[rec.framework_id] = used.get(rec.framework_id, Resources()) + rec.resources
            fw = self.frameworks.get(rec.framework_id)
            if (fw is not None and fw.known is not None and rec.executor_id not in fw.known) or (
                rec.framework_digest
                and rec.framework_digest != self.identity.digest_of(rec.framework_id)
            ):
                orphans += self.reconciliation.stop_orphan(conn, key)
        self.allocator.add_agent(agent_id, call.resources, used)
        log.info("agent %s (%s, %s) registered", agent_id, call.hostname, call.resources)
        effects.append(Send(conn, m.AgentRegistered(agent_id, self.master_id, verdict.issued)))
        effects += orphans
        effects += self.reconciliation.agent_registered(agent_id)
        return effects

    def _vouch(self, records: list[m.ExecutorRecord], now: float) -> list[Effect]:
        """Learn framework digests from an agent's report (``identity.py``); a framework that
        claimed an id another digest is vouched for is evicted: removed, which stops what it
        launched, before this agent's executors are added."""
        effects: list[Effect] = []
        for rec in records:
            if self.identity.vouch(rec.framework_id, rec.framework_digest).evict:
                fw = self.frameworks[rec.framework_id]
                why = f"framework {rec.framework_id} belongs to another credential"
                log.warning("evicting the claimant of framework %s: %s", rec.framework_id, why)
                if fw.conn is not None:
                    effects += [Send(fw.conn, m.Error(why)), Close(fw.conn, why)]
                effects += self._remove_framework(rec.framework_id, now, "evicted")
                self.identity.vouch(rec.framework_id, rec.framework_digest)
        return effects

    def _status_update(self, agent: AgentEntry, update: m.StatusUpdate, now: float) -> list[Effect]:
        key = (update.framework_id, update.executor_id)
        ex = self.executors.get(key)
        if ex is not None and not ex.state.terminal:
            if update.state.terminal:
                self._end_executor(ex, update.state, now)
            else:
                ex.state = update.state
        fw = self.frameworks.get(update.framework_id)
        if fw is None:
            # the framework is gone for good: nobody will acknowledge, so do it here
            return [Send(agent.conn, m.StatusAcked(update.update_id))] if agent.conn else []
        if fw.conn is None:
            return []  # the agent keeps the update and resends it
        return [Send(fw.conn, m.ExecutorUpdate(update))]

    def _end_executor(
        self, ex: ExecutorEntry, state: ExecutorState, now: float, told: bool = True
    ) -> None:
        """``told``: the framework hears of the end (it stops holding the executor)."""
        ex.state = state
        self._pop_executor((ex.framework_id, ex.executor_id))
        fw = self.frameworks.get(ex.framework_id)
        if fw is not None and fw.known is not None and told:
            fw.known.discard(ex.executor_id)
        self.allocator.recover(ex.framework_id, ex.agent_id, ex.resources, now)
        self._reclaiming.pop(ex.framework_id, None)
        self.jobs.executor_ended(ex.framework_id, ex.executor_id, str(state), now)
        self.completed_executors.append(ex)
        del self.completed_executors[: -self.config.completed_executors_kept]

    # --- connections and time ----------------------------------------------------------------
    def on_disconnected(self, conn: str, now: float) -> list[Effect]:
        kind = self._conns.pop(conn, None)
        if kind is None:
            return []
        role, ident = kind
        if role == "agent":
            agent = self.agents.get(ident)
            if agent is None or agent.conn != conn:
                return []
            self._went_away(agent, now)
            log.info("agent %s disconnected", ident)
            rescinds = self._rescind_agent_offers(ident, now)
            self.allocator.deactivate_agent(ident)
            return rescinds
        fw = self.frameworks.get(ident)
        if fw is None or fw.conn != conn:
            return []
        fw.conn, fw.disconnected_at = None, now
        effects: list[Effect] = []
        for offer_id in list(fw.offers):
            self._drop_offer(offer_id, ident, now, 0.0)
        self.allocator.suppress(ident)
        if fw.failover_timeout <= 0:
            effects += self._remove_framework(ident, now, "disconnected")
        log.info("framework %s disconnected", ident)
        return effects

    def tick(self, now: float) -> list[Effect]:
        """Expire offers, agents that did not come back, frameworks past failover, and
        reconciliation queries whose agent did not re-register."""
        self._started(now)
        effects: list[Effect] = self.reconciliation.expire(now)
        effects += self.offer_book.expire(now)
        # each scan below stops at the first entry that has not expired: agents are kept in the
        # order they were last heard from or went away
        gone: list[tuple[str, str]] = []
        for agent_id in self._disconnected:
            away = self.agents[agent_id].disconnected_at
            if away is None or now - away < self.config.agent_reregister_timeout:
                break
            gone.append((agent_id, "did not re-register in time"))
        for agent_id in self._liveness:
            agent = self.agents[agent_id]
            if now - max(agent.last_seen, agent.registered_at) < self.config.agent_timeout:
                break
            gone.append((agent_id, "missed its heartbeats"))
        for agent_id, why in gone:
            effects += self.remove_agent(agent_id, now, why)
        for fw in list(self.frameworks.values()):
            if fw.disconnected_at is not None and now - fw.disconnected_at >= fw.failover_timeout:
                why = "did not come back within its failover timeout"
                effects += self._remove_framework(fw.framework_id, now, why)
        return effects + self._reclaim(now)

    def _start_hunger(self, fw: FrameworkEntry, now: float) -> None:
        fw.hungry_since = now
        fw.hungry_level = self.used_by(fw.framework_id).dominant_share(self.allocator.total())

    def note_growth(self, fw: FrameworkEntry, now: float) -> None:
        """``fw`` launched: it is not starving if that took it past what it held before."""
        level = self.used_by(fw.framework_id).dominant_share(self.allocator.total())
        if level > fw.hungry_level + 1e-9:
            fw.hungry_since, fw.hungry_level = now, level

    def _reclaim(self, now: float) -> list[Effect]:
        """Ask frameworks over their fair share for an executor back (see ``reclaim.py``);
        not while agents may still be re-registering after a failover: until they are back,
        shares are those of whichever agents came first."""
        if not self.config.reclaim or not self._reregistration_over(now):
            return []
        total = self.allocator.total()
        holders = [
            Holder(
                fw.framework_id,
                fw.role,
                self.used_by(fw.framework_id),
                self.smallest_executor(fw.framework_id, total)
                if now - self._reclaiming.get(fw.framework_id, -1e9) >= self.config.reclaim_interval
                else None,
                starving=fw.conn is not None
                and not fw.suppressed
                and now - fw.hungry_since >= self.config.reclaim_interval,
                offered=fw.offered,
            )
            for fw in self.frameworks.values()
        ]
        effects: list[Effect] = []
        for fw_id in choose_reclaims(holders, total, self.allocator.weight):
            fw = self.frameworks[fw_id]
            if fw.conn is not None:
                self._reclaiming[fw_id] = now
                why = "another framework is below its fair share"
                effects.append(Send(fw.conn, m.Reclaim(1, why)))
        return effects

    def allocate(self, now: float) -> list[Effect]:
        """One allocation cycle: the cluster notices of this cycle, then the offers (one
        :class:`~pymesos_rt.protocol.messages.Offers` per framework: ``offers.py``)."""
        effects: list[Effect] = [Send(conn, msg) for conn, msg in self._cluster_notices()]
        return effects + self.offer_book.make_offers(now)

    def remove_agent(
        self, agent_id: str, now: float, reason: str, graceful: bool = False
    ) -> list[Effect]:
        """An agent is gone for good: its executors are LOST and its offers rescinded."""
        agent = self.agents.get(agent_id)
        if agent is None:
            return []
        log.log(
            logging.INFO if graceful else logging.WARNING, "agent %s removed: %s", agent_id, reason
        )
        effects = self._rescind_agent_offers(agent_id, now)
        for key in list(agent.executors):
            ex = self.executors.get(key)
            if ex is None:
                continue
            fw = self.frameworks.get(ex.framework_id)
            told = fw is not None and fw.conn is not None
            # a framework that is away still holds the executor until it hears of it (from its
            # reconciliation): should the agent come back first, it is no orphan
            self._end_executor(ex, ExecutorState.LOST, now, told=told)
            if fw is not None and fw.conn is not None:
                update = m.StatusUpdate(
                    f"{self.master_id}-lost-{agent_id}-{ex.executor_id}",
                    agent_id,
                    ex.framework_id,
                    ex.executor_id,
                    ExecutorState.LOST,
                    f"agent {agent_id} ({agent.hostname}) was lost: {reason}",
                )
                effects.append(Send(fw.conn, m.ExecutorUpdate(update)))
        if agent.conn is not None:
            self._conns.pop(agent.conn, None)
            effects.append(Close(agent.conn, f"agent removed: {reason}"))
        self._forget_agent(agent_id)
        self.identity.forget_agent(agent_id)
        self._agent_changed(agent_id)
        return effects

    # --- reconciliation (reconciliation.py) ---------------------------------------------------
    def _started(self, now: float) -> None:
        if self.started_at is None:
            self.started_at = now

    def _reregistration_over(self, now: float) -> bool:
        started = now if self.started_at is None else self.started_at
        return now - started >= self.config.agent_reregister_timeout

    # --- helpers -----------------------------------------------------------------------------
    def _forget_agent(self, agent_id: str) -> None:
        """Drop the agent and its executors from the registry (no updates: callers decide)."""
        agent = self.agents.get(agent_id)
        if agent is None:
            return
        for key in list(agent.executors):
            self._pop_executor(key)
        for offer_id in self.offers_on(agent_id):  # normally rescinded already
            self._pop_offer(offer_id)
        self._drop_agent_entry(agent_id)
        self.allocator.remove_agent(agent_id)

    def _rescind_agent_offers(self, agent_id: str, now: float) -> list[Effect]:
        return self.offer_book.rescind_agent_offers(agent_id, now)

    def _remove_framework(self, fw_id: str, now: float, reason: str) -> list[Effect]:
        fw = self.frameworks.pop(fw_id, None)
        if fw is None:
            return []
        log.info("framework %s removed", fw_id)
        self.jobs.ended(fw_id, now, reason)
        effects: list[Effect] = []
        self.frameworks[fw_id] = fw  # back until its offers and executors are unindexed
        for offer_id in list(fw.offers):
            self._pop_offer(offer_id)
        notify: set[str] = set()
        for executor_id in list(fw.executors):
            ex = self._pop_executor((fw_id, executor_id))
            agent = self.agents.get(ex.agent_id) if ex is not None else None
            if agent is not None and agent.conn is not None:
                notify.add(agent.conn)
        del self.frameworks[fw_id]
        self.identity.forget_framework(fw_id)
        for conn in sorted(notify):
            effects.append(Send(conn, m.ShutdownFramework(fw_id)))
        self.allocator.remove_framework(fw_id)
        if fw.conn is not None:
            self._conns.pop(fw.conn, None)
        return effects

    def _framework_of(self, conn: str) -> FrameworkEntry | None:
        kind = self._conns.get(conn)
        if kind is None or kind[0] != "framework":
            return None
        return self.frameworks.get(kind[1])

    def snapshot(self, query: StateQuery | None = None) -> dict[str, Any]:
        """The JSON-able view served at ``/state`` (see :mod:`.snapshot`)."""
        return snapshot(self, query)

    def validate(self) -> None:
        """The registry's invariants, the dashboard's (one running job per framework) and the
        credentials' (``identity.py``)."""
        super().validate()
        self.jobs.validate()
        self.identity.validate(set(self.frameworks), set(self.agents))
        assert set(self.jobs.active) == set(self.frameworks), (self.jobs.active, self.frameworks)
