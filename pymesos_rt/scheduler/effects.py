"""What the scheduler core asks its driver to do: effects, carried out in order."""

from __future__ import annotations

from dataclasses import dataclass

from pymesos_rt.protocol.resources import Resources


@dataclass(frozen=True)
class LaunchExecutors:
    """Accept ``offer_ids`` by launching ``executors``; the rest is refused for a while."""

    agent_id: str
    offer_ids: list[str]
    executors: list[tuple[str, Resources]]
    refuse_seconds: float


@dataclass(frozen=True)
class DeclineOffers:
    offer_ids: list[str]
    refuse_seconds: float


@dataclass(frozen=True)
class SetSuppressed:
    suppressed: bool


@dataclass(frozen=True)
class UseGpus:
    """Tell the master this framework can use GPUs (the GPU_RESOURCES capability): from now on
    it may be offered agents with GPUs."""


@dataclass(frozen=True)
class KillExecutor:
    agent_id: str
    executor_id: str


@dataclass(frozen=True)
class Dispatch:
    """Send a task to an executor; ``local_deps`` are arguments that tasks dispatched before it
    to the same executor will produce (the executor hands them over itself)."""

    executor_id: str
    task_id: str
    send_function: bool
    local_deps: tuple[str, ...] = ()


@dataclass(frozen=True)
class Fail:
    """Fail object ``task_id``: with ``blob`` (a pickled exception) or an error of ``kind``."""

    task_id: str
    # "blob" | "executor_lost" | "node_lost" | "oom" | "unschedulable" | "cancelled" | "actor_died"
    # | "object_lost"
    kind: str
    message: str = ""
    blob: bytes | None = None


@dataclass(frozen=True)
class Finished:
    """Task ``task_id`` is terminal; the driver may unpin its arguments."""

    task_id: str
    dep_ids: list[str]


@dataclass(frozen=True)
class CancelOnExecutor:
    executor_id: str
    task_id: str


@dataclass(frozen=True)
class StopExecutor:
    """Ask an executor to end by itself over the data plane (an actor's graceful stop: its
    exit handlers run); the core kills it if it is still there a few seconds later."""

    executor_id: str


@dataclass(frozen=True)
class ActorEnded:
    """Actor ``actor_id`` is DEAD: the driver forgets its creation record and unpins the
    constructor's arguments (``dep_ids``) and the handles they carried."""

    actor_id: str
    dep_ids: list[str]


Effect = (
    LaunchExecutors
    | DeclineOffers
    | SetSuppressed
    | UseGpus
    | KillExecutor
    | Dispatch
    | Fail
    | Finished
    | CancelOnExecutor
    | StopExecutor
    | ActorEnded
)
