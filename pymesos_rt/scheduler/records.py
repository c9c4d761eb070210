"""The scheduler core's records: tasks, executor leases and the core's configuration."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

from pymesos_rt.protocol.resources import Resources
from pymesos_rt.protocol.states import TaskState, check_task_transition
from pymesos_rt.scheduler.matching import PIPELINE_BUDGET_S, PIPELINE_MAX
from pymesos_rt.scheduler.summary import TaskBook


@dataclass
class Task:
    task_id: str
    name: str
    fn_id: str
    shape: Resources
    dep_ids: list[str]
    max_retries: int
    retry_exceptions: bool
    state: TaskState = TaskState.WAITING
    missing: set[str] = field(default_factory=set)
    executor_id: str | None = None
    attempts: int = 0
    estimate: float | None = None  # expected duration when dispatched (None: unknown)
    actor_id: str = ""  # a call of this actor (or its creation), see scheduler/actors.py
    caller: str = ""  # actor calls: who submitted it (calls of one caller run in order)
    outputs: tuple[str, ...] = ()  # object ids it completes (empty: its own id only)
    parent_id: str = ""  # the task that submitted it, for recursive cancel
    max_calls: int = 0  # an executor is replaced after this many calls of fn_id (0: never)
    chainable: bool = True  # False: its value is made by the driver (generators): no chaining
    book: TaskBook | None = field(default=None, repr=False, compare=False)  # counts per function

    @property
    def object_ids(self) -> tuple[str, ...]:
        return self.outputs or (self.task_id,)

    def may_retry(self) -> bool:
        """Attempts left (``max_retries < 0``: without limit)."""
        return self.max_retries < 0 or self.attempts <= self.max_retries

    def move(self, new: TaskState) -> None:
        check_task_transition(self.state, new)
        if self.book is not None:
            self.book.moved(self.name, self.state, new)
        self.state = new


@dataclass
class Lease:
    """An executor this framework launched, and the tasks it holds."""

    executor_id: str
    agent_id: str
    shape: Resources
    connected: bool = False
    inflight: deque[str] = field(default_factory=deque)
    blocked: int = 0
    functions: set[str] = field(default_factory=set)
    idle_since: float | None = None
    killing: bool = False
    draining: bool = False  # reclaimed by the master: no new tasks, stopped once empty
    launched_at: float = 0.0
    queued_work: float = 0.0  # expected seconds of its inflight tasks with known durations
    unknown_work: int = 0  # inflight tasks of unknown duration
    actor_id: str = ""  # held for this actor for its life: runs its calls only
    calls: dict[str, int] = field(default_factory=dict)  # fn_id -> tasks sent (max_calls only)

    def can_take(self) -> bool:
        """Room for one more task: a free slot, or a short pipeline behind short tasks."""
        if len(self.inflight) < 1 + self.blocked:
            return True
        if self.unknown_work or len(self.inflight) >= 1 + self.blocked + PIPELINE_MAX:
            return False
        return self.queued_work < PIPELINE_BUDGET_S

    def add(self, task: Task) -> None:
        self.inflight.append(task.task_id)
        if task.estimate is None:
            self.unknown_work += 1
        else:
            self.queued_work += task.estimate

    def remove(self, task: Task) -> None:
        try:
            self.inflight.remove(task.task_id)
        except ValueError:
            return
        if task.estimate is None:
            self.unknown_work -= 1
        else:
            self.queued_work = max(0.0, self.queued_work - task.estimate)


@dataclass
class SchedulerConfig:
    idle_timeout: float = 10.0
    launch_timeout: float = 60.0  # an executor that has not connected by then is given up
    pressure_idle_timeout: float = 0.5
    decline_seconds: float = 5.0
    decline_seconds_wanting: float = 1.0
