"""framework <-> master: the messages of the unions ``SchedulerCall`` (subscribing, answering
offers, killing executors, acknowledging updates, reconciling, the dashboard's summaries) and
``SchedulerEvent``. The unions themselves are in ``protocol/messages.py``, which re-exports every
name here.

Imports nothing of the package but ``protocol``.
"""

from __future__ import annotations

import msgspec

from pymesos_rt.protocol.bodies import AgentSummary, ExecutorLaunch, Message, Offer, StatusUpdate

GPU_RESOURCES = "GPU_RESOURCES"  # a framework capability, as Mesos names it


class Subscribe(Message, tag="subscribe", frozen=True):
    """``credential``: the framework's own secret, the same at every (re-)subscription (none at
    the first one: the master issues one in ``Subscribed``); see master/identity.py."""

    name: str
    role: str = "*"
    framework_id: str | None = None
    failover_timeout: float = 0.0
    credential: str = ""
    capabilities: list[str] = []  # e.g. GPU_RESOURCES: may be offered agents with GPUs


class Accept(Message, tag="accept", frozen=True):
    offer_ids: list[str]
    launches: list[ExecutorLaunch]
    refuse_seconds: float = 5.0


class Decline(Message, tag="decline", frozen=True):
    offer_ids: list[str]
    refuse_seconds: float = 5.0


class Suppress(Message, tag="suppress", frozen=True):
    pass


class Revive(Message, tag="revive", frozen=True):
    pass


class KillExecutor(Message, tag="kill", frozen=True):
    agent_id: str
    executor_id: str


class Acknowledge(Message, tag="ack", frozen=True):
    agent_id: str
    update_id: str


class Teardown(Message, tag="teardown", frozen=True):
    pass


class ExecutorRef(msgspec.Struct, frozen=True, array_like=True):
    agent_id: str
    executor_id: str


class Reconcile(Message, tag="reconcile", frozen=True):
    """Every executor the framework holds, sent after each (re-)subscription.

    The master answers with a LOST :class:`ExecutorUpdate` (``update_id`` empty: not to be
    acknowledged) for each listed executor that no agent runs, once its agent has re-registered
    or failed to in time, and stops the framework's executors that the list does not name.
    """

    executors: list[ExecutorRef]


class UpdateFramework(Message, tag="update_fw", frozen=True):
    """The framework's capabilities changed (Mesos's UPDATE_FRAMEWORK): a pymesos_rt program
    declares GPU_RESOURCES when it first submits a task that asks for GPUs."""

    capabilities: list[str]


class FunctionCounts(msgspec.Struct, frozen=True, array_like=True):
    """One function's tasks: how many wait for arguments or an executor (``queued``), run on an
    executor (``running``), and have ended each way; ``runs`` attempts ran (on an executor) for
    ``seconds`` in all."""

    name: str
    queued: int
    running: int
    done: int
    failed: int
    cancelled: int
    runs: int
    seconds: float


class TaskBox(msgspec.Struct, frozen=True, array_like=True):
    """One attempt of a task that ended, for the task stream (times in the sender's clock)."""

    executor_id: str
    name: str
    start: float
    end: float
    ok: bool


class TaskFailure(msgspec.Struct, frozen=True, array_like=True):
    """A task that failed for good: its exception line and (capped) traceback."""

    at: float
    task_id: str
    name: str
    executor_id: str
    error: str
    traceback: str


class OutputLine(msgspec.Struct, frozen=True, array_like=True):
    at: float
    task_id: str
    name: str
    stream: str
    text: str


class JobSummary(Message, tag="summary", frozen=True):
    """What the dashboard shows of a framework's tasks (tasks themselves never reach the
    master), sent about once a second while it changes. ``functions`` is complete (every
    function, bounded: see ``scheduler/summary.py``); ``boxes``, ``failures`` and ``output`` are
    what is new since the last summary, capped, with ``dropped`` counting what the caps left
    out. Times are in the sender's clock, whose reading at sending is ``now``."""

    now: float
    functions: list[FunctionCounts]
    boxes: list[TaskBox] = []
    failures: list[TaskFailure] = []
    output: list[OutputLine] = []
    dropped: int = 0


class ActorBrief(msgspec.Struct, frozen=True, array_like=True):
    """One actor as ``/state`` shows it: ``state`` is an ``ActorState`` name, ``pending`` its
    calls not answered yet."""

    actor_id: str
    class_name: str
    name: str
    state: str
    agent_id: str
    executor_id: str
    restarts: int
    pending: int


class ActorSummary(Message, tag="actors", frozen=True):
    """The framework's actors whose summary changed since its last one (for ``/state``: an
    actor's calls never reach the master). After a (re-)subscription it sends them all."""

    actors: list[ActorBrief]


class Subscribed(Message, tag="subscribed", frozen=True):
    """``credential``: issued by the master when the Subscribe presented none."""

    framework_id: str
    master_id: str
    credential: str = ""


class Offers(Message, tag="offers", frozen=True):
    offers: list[Offer]


class Rescind(Message, tag="rescind", frozen=True):
    offer_id: str


class ExecutorUpdate(Message, tag="update", frozen=True):
    update: StatusUpdate


class ClusterChanged(Message, tag="cluster", frozen=True):
    agents: list[AgentSummary]


class ClusterDelta(Message, tag="cluster_delta", frozen=True):
    """Agents that joined or changed (``added``) and left (``removed``) since the framework last
    heard: at most one per framework per allocation cycle, applied to the list it got as
    :class:`ClusterChanged` when it subscribed."""

    added: list[AgentSummary]
    removed: list[str]


class Error(Message, tag="error", frozen=True):
    message: str


class Reclaim(Message, tag="reclaim", frozen=True):
    """The master asks a framework over its fair share to give back ``count`` executors (it
    drains them: no new tasks, stopped when their queued tasks are done)."""

    count: int
    reason: str = ""
