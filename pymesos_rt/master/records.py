"""The master's records: its effects, its configuration, and its entries for agents,
frameworks and executors (plain data, no behaviour; :mod:`.state` owns them)."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from typing import Any

from pymesos_rt.protocol.resources import Resources
from pymesos_rt.protocol.states import ExecutorState


@dataclass(frozen=True)
class Send:
    conn: str
    message: Any


@dataclass(frozen=True)
class Close:
    conn: str
    reason: str


Effect = Send | Close


def _help(text: str) -> dict[str, str]:
    return {"help": text}


@dataclass(frozen=True)
class MasterConfig:
    """What the master core decides with; ``pymesos-rt master`` makes a flag of each field."""

    offer_timeout: float = field(
        default=30.0, metadata=_help("seconds before an unanswered offer is rescinded")
    )
    agent_reregister_timeout: float = field(
        default=10.0, metadata=_help("seconds a disconnected agent has to come back")
    )
    agent_timeout: float = field(
        default=15.0, metadata=_help("seconds without a message before an agent is lost")
    )
    reclaim: bool = field(
        default=True, metadata=_help("ask frameworks over their fair share for executors back")
    )
    reclaim_interval: float = field(
        default=5.0, metadata=_help("seconds before a framework over its fair share is asked again")
    )
    completed_executors_kept: int = field(
        default=1000, metadata=_help("ended executors listed in /state")
    )
    completed_frameworks_kept: int = field(
        default=50, metadata=_help("ended frameworks listed in the dashboard's history")
    )
    mesos_heartbeat_interval: float = field(
        default=15.0, metadata=_help("seconds between HEARTBEAT events on Mesos v1 API streams")
    )
    filter_gpu_resources: bool = field(
        default=True,
        metadata=_help(
            "offer agents with GPUs only to frameworks with the GPU_RESOURCES capability "
            "(Mesos's --filter_gpu_resources)"
        ),
    )


@dataclass
class AgentEntry:
    agent_id: str
    hostname: str
    total: Resources
    conn: str | None
    isolation: str
    registered_at: float
    disconnected_at: float | None = None
    executors: set[tuple[str, str]] = field(default_factory=set)
    last_seen: float = 0.0
    used: Resources = field(default_factory=Resources)  # by its executors (registry.py keeps it)
    offered: Resources = field(default_factory=Resources)  # in outstanding offers
    object_address: str = ""  # its object store's TCP endpoint
    object_store: dict[str, int] | None = None  # its store's last reported use (StoreStats)


@dataclass
class FrameworkEntry:
    framework_id: str
    name: str
    role: str
    conn: str | None
    failover_timeout: float
    registered_at: float
    disconnected_at: float | None = None
    suppressed: bool = False
    offers: set[str] = field(default_factory=set)
    executors: set[str] = field(default_factory=set)
    tasks: dict[str, int] = field(default_factory=dict)  # counts the framework reports
    # executors the framework holds, from its last Reconcile on (None: it has not reconciled);
    # an agent reporting one of its executors not in here runs an orphan, which is stopped
    known: set[str] | None = None
    offered: Resources = field(default_factory=Resources)  # in its outstanding offers
    cluster_seq: int = 0  # the last change of the agents it heard of (registry.py)
    actors: dict[str, Any] = field(default_factory=dict)  # id -> ActorBrief (master/actors.py)
    dead_actors: deque[str] = field(default_factory=deque)  # oldest first, bounded
    # since when it has wanted resources without growing (subscribed, revived, or a launch
    # that took it past ``hungry_level``, the most it held since then): starving, for
    # fair-share reclaims, after ``reclaim_interval`` of that. Launches that only replace
    # executors it lost meanwhile (a framework churning short tasks through the few CPUs it
    # has) are not growth: such a framework stays below its share for good otherwise.
    hungry_since: float = 0.0
    hungry_level: float = 0.0  # dominant share of the cluster


@dataclass
class ExecutorEntry:
    framework_id: str
    executor_id: str
    agent_id: str
    resources: Resources
    state: ExecutorState = ExecutorState.STAGING
    usage: dict[str, float] = field(default_factory=dict)  # latest from its agent
