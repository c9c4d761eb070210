"""The Mesos v1 scheduler API's sans-IO core: a second kind of framework channel into the same
:class:`MasterState` and allocator.

Rules kept here:
- A Mesos framework is a framework of :class:`MasterState` whose connection is its SUBSCRIBE
  stream (an opaque ``conn`` chosen by the shell). Calls that arrive on other HTTP connections
  are applied as if they came on the stream, once they prove the framework: its stream's
  ``Mesos-Stream-Id`` and the credentials it subscribed with (``mesos_auth.py``).
- Its identity is ``identity.py``'s, of kind MESOS: its HTTP Basic principal and secret are
  its framework credential, so re-subscribing its id (reconnect, master failover) needs them,
  and neither a program of ours nor another Mesos framework takes over its id (``403``).
- Mesos calls become :class:`MasterState` calls (SUBSCRIBE, ACCEPT, DECLINE, REVIVE, SUPPRESS,
  SHUTDOWN, ACKNOWLEDGE, TEARDOWN) or agent messages (KILL, MESSAGE); RECONCILE is answered here.
- Every Mesos task, and every custom executor's own resources, is one executor entry (a lease)
  of :class:`MasterState`: offers, DRF shares, failover and ``/state`` treat both kinds of
  framework alike. Lease ids: :func:`~pymesos_rt.protocol.mesos.task_lease`,
  :func:`~pymesos_rt.protocol.mesos.executor_lease`.
- ACCEPT is validated here before :class:`MasterState` sees it, as Mesos does: invalid offers
  make every task TASK_LOST (``REASON_INVALID_OFFERS``) and give back the valid ones; an invalid
  task is TASK_ERROR (``REASON_TASK_INVALID``); the rest launch, and what is left of the offers
  is declined with the call's filter.
- Status updates carry a ``uuid`` (the executor's, or one derived from the agent's update id, so
  a resent update keeps it); the master remembers which update each uuid names until the
  framework acknowledges it. Updates the master makes itself carry none and need no ACK.
- :meth:`MesosMaster.translate` turns what :class:`MasterState` sends a Mesos framework into
  Mesos events (and acknowledges, itself, updates no Mesos event stands for).

Imports ``protocol`` and ``master`` (its state and records) only.
"""

from __future__ import annotations

import ipaddress
import logging
import socket
import uuid
from collections import OrderedDict
from dataclasses import dataclass, field

import msgspec

from pymesos_rt.master.identity import Kind, Refused
from pymesos_rt.master.mesos_auth import ANONYMOUS, Authenticated, MesosAuthenticator, Refusal
from pymesos_rt.master.mesos_launch import NewExecutor, executor_launch, plan_task
from pymesos_rt.master.mesos_status import (
    BUCKETS,
    bucket,
    mesos_status,
    reconciled,
    without_uuid,
)
from pymesos_rt.master.records import Effect, Send
from pymesos_rt.master.state import MasterState
from pymesos_rt.protocol import mesos as ms
from pymesos_rt.protocol import mesos_calls as mc
from pymesos_rt.protocol import messages as m
from pymesos_rt.protocol.resources import Resources

log = logging.getLogger(__name__)

DEFAULT_FILTER_S = 5.0  # Mesos's default refuse_seconds
DEFAULT_KILL_GRACE_S = 3.0


@dataclass
class MesosFramework:
    framework_id: str
    conn: str | None  # its SUBSCRIBE stream, while connected
    stream_id: str
    info: ms.FrameworkInfo
    last_heartbeat: float
    # uuid -> (agent, update id): updates sent and not yet acknowledged
    acks: dict[bytes, tuple[str, str]] = field(default_factory=dict)
    live: dict[str, ms.TaskState] = field(default_factory=dict)  # last state of live tasks
    completed: OrderedDict[str, ms.TaskStatus] = field(default_factory=OrderedDict)
    counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(BUCKETS, 0))


@dataclass(frozen=True)
class Subscription:
    """A SUBSCRIBE accepted: the stream's new Mesos-Stream-Id and what follows from it."""

    stream_id: str
    effects: list[Effect]


class MesosMaster:
    def __init__(
        self,
        state: MasterState,
        heartbeat_interval: float = 15.0,
        completed_tasks_kept: int = 1000,
        cluster_secret: str | None = None,
    ) -> None:
        self.state = state
        self.auth = MesosAuthenticator(cluster_secret)
        self.heartbeat_interval = heartbeat_interval
        self.completed_tasks_kept = completed_tasks_kept  # per framework
        self.frameworks: dict[str, MesosFramework] = {}
        self._by_conn: dict[str, str] = {}  # stream conn -> framework id
        self._by_stream: dict[str, str] = {}  # Mesos-Stream-Id -> framework id

    # --- streams -----------------------------------------------------------------------------
    def framework_of_stream(self, stream_id: str) -> MesosFramework | None:
        fw_id = self._by_stream.get(stream_id)
        fw = self.frameworks.get(fw_id) if fw_id else None
        return fw if fw is not None and fw.stream_id == stream_id and fw.conn else None

    def is_stream(self, conn: str) -> bool:
        return conn in self._by_conn

    def authenticate(self, authorization: str | None) -> Authenticated | Refusal:
        """Who a request (its ``Authorization`` header) speaks for (``mesos_auth.py``)."""
        return self.auth.authenticate(authorization)

    def subscribe(
        self, conn: str, call: mc.Subscribe, now: float, auth: Authenticated = ANONYMOUS
    ) -> Subscription | Refusal:
        """Subscribe (or re-subscribe) on stream ``conn`` with the request's credentials: ``400``
        for a call Mesos would refuse as malformed, ``403`` for a framework id that these
        credentials do not own (``identity.py``); a refusal changes nothing."""
        info = call.subscribe.framework_info
        fw_id = call.framework_id.value if call.framework_id else None
        if info.id is not None:
            if fw_id is not None and info.id.value != fw_id:
                return Refusal(400, "framework_id and framework_info.id differ")
            fw_id = info.id.value
        if fw_id is not None and (why := ms.valid_id(fw_id)):
            return Refusal(400, f"bad framework id {fw_id!r}: {why}")
        wanted = info.principal
        if auth.principal is not None and wanted is not None and wanted != auth.principal:
            why = f"framework_info.principal {wanted!r} is not the authenticated {auth.principal!r}"
            return Refusal(403, why)
        if fw_id is not None and fw_id not in self.state.frameworks:
            self._forget(fw_id)  # the master removed it: nothing of the old one stays
        role = info.role or (info.roles[0] if info.roles else "*")
        failover = info.failover_timeout or 0.0
        caps = [c.type for c in info.capabilities]  # GPU_RESOURCES: offered GPU agents
        internal = m.Subscribe(info.name, role, fw_id, failover, auth.credential, caps)
        admitted = self.state.subscribe(conn, internal, now, Kind.MESOS)
        if isinstance(admitted, Refused):
            return Refusal(403, admitted.reason)
        fw_id = next(
            e.message.framework_id
            for e in admitted
            if isinstance(e, Send) and isinstance(e.message, m.Subscribed)
        )
        old = self.frameworks.get(fw_id)
        if old is not None and old.conn is not None:
            self._by_conn.pop(old.conn, None)
        if old is not None:
            self._by_stream.pop(old.stream_id, None)
        stream_id = str(uuid.uuid4())
        info = _with_id(info, fw_id)
        if old is None:
            self.frameworks[fw_id] = MesosFramework(fw_id, conn, stream_id, info, now)
        else:  # re-subscribed: its tasks and unacknowledged updates stay
            old.conn, old.stream_id, old.info, old.last_heartbeat = conn, stream_id, info, now
        self._by_conn[conn] = fw_id
        self._by_stream[stream_id] = fw_id
        log.info(
            "Mesos framework %s (%s, user %r, principal %r) subscribed",
            fw_id,
            info.name,
            info.user,
            auth.principal,
        )
        return Subscription(stream_id, admitted)

    def framework_for(
        self, framework_id: str | None, stream_id: str | None, auth: Authenticated
    ) -> MesosFramework | Refusal:
        """The subscribed framework a call (not SUBSCRIBE) is for, if the request proves it:
        the stream's Mesos-Stream-Id and the credentials the framework subscribed with."""
        if framework_id is None:
            return Refusal(400, "the call names no framework_id")
        fw = self.frameworks.get(framework_id)
        if fw is None or fw.conn is None:
            return Refusal(403, f"framework {framework_id} is not subscribed")
        if not stream_id:
            return Refusal(400, "missing Mesos-Stream-Id header")
        if stream_id != fw.stream_id:
            return Refusal(400, f"Mesos-Stream-Id {stream_id} is not this framework's stream")
        if not self.state.identity.holds(framework_id, auth.credential, Kind.MESOS):
            why = (
                f"these credentials are not framework {framework_id}'s: calls carry the "
                "principal and secret it subscribed with"
            )
            return Refusal(403, why)
        return fw

    def disconnected(self, conn: str) -> None:
        fw_id = self._by_conn.pop(conn, None)
        fw = self.frameworks.get(fw_id) if fw_id else None
        if fw is not None and fw.conn == conn:
            fw.conn = None
            self._by_stream.pop(fw.stream_id, None)

    # --- calls -------------------------------------------------------------------------------
    def call(self, fw: MesosFramework, call: mc.SchedulerCall, now: float) -> list[Effect]:
        """A call on framework ``fw``'s behalf (the shell checked its stream id)."""
        conn = fw.conn
        assert conn is not None
        match call:
            case mc.Teardown():
                effects = self.state.on_framework_call(conn, m.Teardown(), now)
                self._forget(fw.framework_id)
                return effects
            case mc.Accept():
                return self._accept(fw, conn, call.accept, now)
            case mc.Decline():
                refuse = call.decline.filters.refuse_seconds if call.decline.filters else None
                ids = [o.value for o in call.decline.offer_ids]
                decline = m.Decline(ids, DEFAULT_FILTER_S if refuse is None else refuse)
                return self.state.on_framework_call(conn, decline, now)
            case mc.Revive():
                return self.state.on_framework_call(conn, m.Revive(), now)
            case mc.Suppress():
                return self.state.on_framework_call(conn, m.Suppress(), now)
            case mc.Kill():
                return self._kill(fw, conn, call.kill)
            case mc.Shutdown():
                agent_id = call.shutdown.agent_id.value
                lease = ms.executor_lease(agent_id, call.shutdown.executor_id.value)
                return self.state.on_framework_call(conn, m.KillExecutor(agent_id, lease), now)
            case mc.Acknowledge():
                return self._acknowledge(fw, conn, call.acknowledge, now)
            case mc.Reconcile():
                return self._reconcile(fw, conn, call.reconcile, now)
            case mc.Message():
                body = call.message
                agent = self.state.agents.get(body.agent_id.value)
                if agent is None or agent.conn is None:
                    return []
                msg = m.ToExecutor(fw.framework_id, body.executor_id.value, body.data)
                return [Send(agent.conn, msg)]
            case mc.Request():
                return []
            case mc.Subscribe():  # pragma: no cover - the shell routes SUBSCRIBE elsewhere
                return []
        return []  # pragma: no cover - the union is closed

    def _accept(
        self, fw: MesosFramework, conn: str, body: mc.AcceptBody, now: float
    ) -> list[Effect]:
        refuse = body.filters.refuse_seconds if body.filters else DEFAULT_FILTER_S
        tasks: list[ms.TaskInfo] = []
        for op in body.operations:
            if op.type == "LAUNCH" and op.launch is not None:
                tasks += op.launch.task_infos
            else:
                log.warning("framework %s: operation %s is not supported", fw.framework_id, op.type)
        offer_ids = [o.value for o in body.offer_ids]
        offers: list[m.Offer] = []
        for oid in offer_ids:
            entry = self.state.offers.get(oid)
            if entry is not None and entry[0].framework_id == fw.framework_id:
                offers.append(entry[0])
        agents = {o.agent_id for o in offers}
        if not offers or len(offers) != len(set(offer_ids)) or len(agents) != 1:
            why = "offers of one ACCEPT must all be valid, outstanding and of one agent"
            valid = [o.offer_id for o in offers]
            declined = self.state.on_framework_call(conn, m.Decline(valid, 0.0), now)
            lost = self._dropped_state(fw)
            for task in tasks:
                declined.append(
                    self._master_update(fw, task.task_id.value, lost, why, "REASON_INVALID_OFFERS")
                )
            return declined
        agent_id = agents.pop()
        available = Resources()
        for offer in offers:
            available = available + offer.resources
        effects: list[Effect] = []
        launches: list[m.ExecutorLaunch] = []
        new_executors: dict[str, NewExecutor] = {}  # custom executors this call starts
        seen: set[str] = set()
        for task in tasks:
            task_id = task.task_id.value
            try:
                need, launch, new_ex = plan_task(
                    self.state.executors,
                    fw.framework_id,
                    fw.info,
                    task,
                    agent_id,
                    seen,
                    new_executors,
                )
            except ValueError as exc:
                effects.append(self._task_error(fw, task_id, str(exc), agent_id))
                continue
            if not need.fits(available):
                why = f"task {task_id} needs {need}, more than is left of the offers ({available})"
                effects.append(self._task_error(fw, task_id, why, agent_id))
                continue
            available = available - need
            seen.add(task_id)
            if new_ex is not None:
                new_executors[new_ex.lease] = new_ex
            if isinstance(launch.mesos, m.MesosExecutorTask):
                starting = new_executors.get(launch.mesos.executor_lease)
                if starting is not None:  # its container holds the tasks launched with it
                    starting.container = starting.container + launch.resources
            launches.append(launch)
            self._track(fw, task_id, ms.TaskState.TASK_STAGING)
            fw.live[task_id] = ms.TaskState.TASK_STAGING
        ordered = [executor_launch(fw.framework_id, fw.info, ex) for ex in new_executors.values()]
        accept = m.Accept([o.offer_id for o in offers], ordered + launches, refuse)
        return effects + self.state.on_framework_call(conn, accept, now)

    def _kill(self, fw: MesosFramework, conn: str, body: mc.KillBody) -> list[Effect]:
        task_id = body.task_id.value
        ex = self.state.executors.get((fw.framework_id, ms.task_lease(task_id)))
        if ex is None:
            if task_id in fw.completed:
                return []  # already over
            why = "kill: the task is unknown"
            lost = ms.TaskState.TASK_LOST
            return [self._master_update(fw, task_id, lost, why, "REASON_RECONCILIATION")]
        agent = self.state.agents.get(ex.agent_id)
        if agent is None or agent.conn is None:
            return []  # its agent is away: kill again once it is back (as with Mesos)
        grace = DEFAULT_KILL_GRACE_S
        policy = body.kill_policy
        if policy is not None and policy.grace_period is not None:
            grace = policy.grace_period.nanoseconds / 1e9
        return [Send(agent.conn, m.KillTask(fw.framework_id, task_id, grace))]

    def _acknowledge(
        self, fw: MesosFramework, conn: str, body: mc.AcknowledgeBody, now: float
    ) -> list[Effect]:
        pending = fw.acks.pop(body.uuid, None)
        if pending is None:
            return []  # already acknowledged, or sent by an earlier master: it is resent
        agent_id, update_id = pending
        return self.state.on_framework_call(conn, m.Acknowledge(agent_id, update_id), now)

    def _reconcile(
        self, fw: MesosFramework, conn: str, body: mc.ReconcileBody, now: float
    ) -> list[Effect]:
        fw_id = fw.framework_id
        entry = self.state.frameworks.get(fw_id)
        if not body.tasks:  # implicit: every live task
            leases = sorted(entry.executors) if entry is not None else []
            wanted = [t for lease in leases if (t := ms.task_of_lease(lease)) is not None]
        else:
            wanted = [t.task_id.value for t in body.tasks]
        started = self.state.started_at if self.state.started_at is not None else now
        settled = now - started >= self.state.config.agent_reregister_timeout
        events: list[mc.SchedulerEvent] = []
        for task_id in wanted:
            ex = self.state.executors.get((fw_id, ms.task_lease(task_id)))
            if ex is not None:
                state = fw.live.get(task_id)
                if state is None:
                    state = ms.TASK_STATE_OF[ex.state][0]
                events.append(reconciled(task_id, state, ex.agent_id, "SOURCE_MASTER", recon=True))
            elif (done := fw.completed.get(task_id)) is not None:
                events.append(mc.Update(update=mc.UpdateBody(status=done)))
            elif settled:  # agents had their time to re-register: it is gone
                events.append(
                    reconciled(task_id, ms.TaskState.TASK_LOST, "", "SOURCE_MASTER", True)
                )
        return [Send(conn, e) for e in events]

    def from_executor(self, msg: m.FromExecutor) -> list[Effect]:
        fw = self.frameworks.get(msg.framework_id)
        if fw is None or fw.conn is None:
            return []  # framework messages are best effort in Mesos too
        body = mc.MessageBody(
            agent_id=ms.Id(value=msg.agent_id),
            executor_id=ms.Id(value=msg.executor_id),
            data=msg.data,
        )
        return [Send(fw.conn, mc.FrameworkMessage(message=body))]

    # --- events ------------------------------------------------------------------------------
    def translate(
        self, conn: str, message: object, now: float
    ) -> tuple[list[mc.SchedulerEvent], list[Effect]]:
        """What the master's message for a Mesos framework's stream becomes: Mesos events, and
        effects (acknowledgements of updates that no Mesos event stands for)."""
        fw_id = self._by_conn.get(conn)
        fw = self.frameworks.get(fw_id) if fw_id else None
        if fw is None:
            return [], []
        match message:
            case m.Subscribed():
                body = mc.SubscribedBody(
                    framework_id=ms.Id(value=fw.framework_id),
                    heartbeat_interval_seconds=self.heartbeat_interval,
                    master_info=self._master_info(),
                )
                fw.last_heartbeat = now
                return [mc.Subscribed(subscribed=body)], []
            case m.Offers():
                role = self._role(fw)
                offers = [
                    ms.Offer(
                        id=ms.Id(value=o.offer_id),
                        framework_id=ms.Id(value=o.framework_id),
                        agent_id=ms.Id(value=o.agent_id),
                        hostname=o.hostname,
                        resources=ms.to_mesos_resources(o.resources, role),
                        allocation_info=ms.AllocationInfo(role=role),
                    )
                    for o in message.offers
                ]
                return [mc.Offers(offers=mc.OffersBody(offers=offers))], []
            case m.Rescind():
                return [
                    mc.Rescind(rescind=mc.RescindBody(offer_id=ms.Id(value=message.offer_id)))
                ], []
            case m.ExecutorUpdate():
                return self._status_events(fw, message.update)
            case m.Error():
                return [mc.Error(error=mc.ErrorBody(message=message.message))], []
        return [], []  # ClusterChanged, Reclaim: no Mesos counterpart

    def _status_events(
        self, fw: MesosFramework, update: m.StatusUpdate
    ) -> tuple[list[mc.SchedulerEvent], list[Effect]]:
        task_id = ms.task_of_lease(update.executor_id)
        if task_id is None:
            executor_id = ms.executor_of_lease(update.executor_id, update.agent_id)
            events: list[mc.SchedulerEvent] = []
            if executor_id is not None and update.state.terminal:
                body = mc.FailureBody(
                    agent_id=ms.Id(value=update.agent_id),
                    executor_id=ms.Id(value=executor_id),
                    status=update.exit_code,
                )
                events.append(mc.Failure(failure=body))
            return events, self._ack_here(update)
        status = mesos_status(update, task_id)
        self._track(fw, task_id, status.state)
        if status.state.terminal:
            fw.live.pop(task_id, None)
            fw.completed[task_id] = without_uuid(status)
            fw.completed.move_to_end(task_id)
            while len(fw.completed) > self.completed_tasks_kept:
                fw.completed.popitem(last=False)
        else:
            fw.live[task_id] = status.state
        if status.uuid is not None:
            fw.acks[status.uuid] = (update.agent_id, update.update_id)
        return [mc.Update(update=mc.UpdateBody(status=status))], []

    def _ack_here(self, update: m.StatusUpdate) -> list[Effect]:
        """Acknowledge an update the framework will never acknowledge (it has no Mesos form)."""
        agent = self.state.agents.get(update.agent_id)
        if not update.update_id or agent is None or agent.conn is None:
            return []
        return [Send(agent.conn, m.StatusAcked(update.update_id))]

    def tick(self, now: float) -> list[Effect]:
        """Heartbeats on the streams; forget frameworks the master has removed."""
        effects: list[Effect] = []
        for fw_id, fw in list(self.frameworks.items()):
            if self.state.identity.kind_of(fw_id) is not Kind.MESOS:
                self._forget(fw_id)  # removed (its identity went with it), or another's now
                continue
            if fw.conn is not None and now - fw.last_heartbeat >= self.heartbeat_interval:
                fw.last_heartbeat = now
                effects.append(Send(fw.conn, mc.Heartbeat()))
        return effects

    # --- helpers -----------------------------------------------------------------------------
    def _track(self, fw: MesosFramework, task_id: str, new: ms.TaskState) -> None:
        """Keep the framework's task counts (``tasks`` in ``/state``, ``pymesos-rt status``
        and the dashboard) through a task's state change; a resent update changes nothing."""
        old = fw.live.get(task_id)
        if old is None and task_id in fw.completed:
            return  # it ended already: this is a resend
        if old is not None:
            fw.counts[bucket(old)] -= 1
        fw.counts[bucket(new)] += 1
        entry = self.state.frameworks.get(fw.framework_id)
        if entry is not None:
            entry.tasks = dict(fw.counts)

    def _forget(self, fw_id: str) -> None:
        fw = self.frameworks.pop(fw_id, None)
        if fw is None:
            return
        if fw.conn is not None:
            self._by_conn.pop(fw.conn, None)
        self._by_stream.pop(fw.stream_id, None)

    def _role(self, fw: MesosFramework) -> str:
        entry = self.state.frameworks.get(fw.framework_id)
        return entry.role if entry is not None else "*"

    def _dropped_state(self, fw: MesosFramework) -> ms.TaskState:
        caps = {c.type for c in fw.info.capabilities}
        return ms.TaskState.TASK_DROPPED if "PARTITION_AWARE" in caps else ms.TaskState.TASK_LOST

    def _master_update(
        self,
        fw: MesosFramework,
        task_id: str,
        state: ms.TaskState,
        why: str,
        reason: str,
    ) -> Effect:
        status = ms.TaskStatus(
            task_id=ms.Id(value=task_id),
            state=state,
            message=why,
            source="SOURCE_MASTER",
            reason=reason,
        )
        assert fw.conn is not None
        return Send(fw.conn, mc.Update(update=mc.UpdateBody(status=status)))

    def _task_error(self, fw: MesosFramework, task_id: str, why: str, agent_id: str) -> Effect:
        log.info("framework %s: task %s is invalid: %s", fw.framework_id, task_id, why)
        status = ms.TaskStatus(
            task_id=ms.Id(value=task_id),
            state=ms.TaskState.TASK_ERROR,
            message=why,
            source="SOURCE_MASTER",
            reason="REASON_TASK_INVALID",
            agent_id=ms.Id(value=agent_id),
        )
        assert fw.conn is not None
        return Send(fw.conn, mc.Update(update=mc.UpdateBody(status=status)))

    def _master_info(self) -> ms.MasterInfo:
        host, _, port_text = self.state.address.rpartition("://")[2].rpartition(":")
        port = int(port_text) if port_text.isdigit() else 0
        ip4 = 0
        try:
            if ipaddress.ip_address(host).version == 4:
                ip4 = int.from_bytes(socket.inet_aton(host), "little")
        except ValueError:
            pass
        return ms.MasterInfo(
            id=self.state.master_id,
            ip=ip4,
            port=port,
            hostname=host,
            version=ms.VERSION,
            address=ms.Address(hostname=host, ip=host, port=port),
            pid=f"master@{host}:{port}",
        )

    def validate(self) -> None:
        """Invariants (tests call this after every step)."""
        for conn, fw_id in self._by_conn.items():
            assert self.frameworks[fw_id].conn == conn, (conn, fw_id)
        for stream_id, fw_id in self._by_stream.items():
            assert self.frameworks[fw_id].stream_id == stream_id
        for fw_id, fw in self.frameworks.items():
            if fw.conn is not None:
                assert self._by_conn.get(fw.conn) == fw_id
            entry = self.state.frameworks.get(fw_id)
            if fw.conn is not None and entry is not None:  # a stream the master holds is MESOS
                assert self.state.identity.kind_of(fw_id) is Kind.MESOS, fw_id
                assert entry.conn in (fw.conn, None), (fw_id, entry.conn, fw.conn)
        for fw in self.frameworks.values():
            for task_id, state in fw.live.items():
                assert not state.terminal and task_id not in fw.completed, task_id
            assert len(fw.completed) <= self.completed_tasks_kept
            assert all(n >= 0 for n in fw.counts.values()), fw.counts
            assert sum(fw.counts[b] for b in ("queued", "running")) == len(fw.live), fw.counts


def _with_id(info: ms.FrameworkInfo, fw_id: str) -> ms.FrameworkInfo:
    return msgspec.structs.replace(info, id=ms.Id(value=fw_id))
