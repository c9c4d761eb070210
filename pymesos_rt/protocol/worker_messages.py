"""executor <-> driver, the data plane: tasks, their results and output, objects (get, put,
borrowed references), generators' items and cancellation; the messages of the unions
``WorkerCall`` and ``WorkerEvent`` except the actors' (``protocol/actor_messages.py``). The unions
themselves are in ``protocol/messages.py``, which re-exports every name here.

Imports nothing of the package but ``protocol``.
"""

from __future__ import annotations

from typing import Literal

import msgspec

from pymesos_rt.protocol.bodies import Message
from pymesos_rt.protocol.objects import ObjectLocation
from pymesos_rt.protocol.resources import Resources


class ObjectBlob(msgspec.Struct, frozen=True, array_like=True):
    """A serialized value (or, with ``error``, a serialized exception) of one object id.

    A large value is not inline: ``location`` names the object store holding it.
    """

    object_id: str
    data: bytes
    error: bool = False
    location: ObjectLocation | None = None
    contained: list[str] = []  # ids of the references inside the value (kept alive by it)


class RuntimeEnvSpec(msgspec.Struct, frozen=True, array_like=True):
    """A task's ``runtime_env``: environment variables, and a packed ``working_dir`` and
    ``py_modules`` (object ids of zip archives, stored once). ``key`` names it: executors of
    different keys are different executor kinds."""

    key: str
    env_vars: dict[str, str] = {}
    working_dir: str = ""
    py_modules: list[str] = []


RUNTIME_ENV_VAR = "PYMESOS_RT_RUNTIME_ENV"  # an executor's RuntimeEnvSpec, as JSON
STREAMING = -1  # TaskExtra.num_returns: a generator whose items arrive as it yields
DYNAMIC = -2  # the same, its item refs returned all at once when it ends


class TaskExtra(msgspec.Struct, frozen=True, array_like=True):
    """What a task asks beyond a plain call (``None`` for most tasks).

    ``num_returns``: N >= 0 return objects, or :data:`STREAMING` / :data:`DYNAMIC`.
    ``parent_id``: the task that submitted it (``rt.cancel(recursive=True)``).
    ``max_calls``: replace an executor after this many calls of the function (0: never).
    ``retry_on``: pickled tuple of exception classes that are retried (``retry_exceptions=[...]``).
    ``node``/``soft``: node affinity (an agent id); ``spread``: the SPREAD strategy.
    """

    num_returns: int = 1
    parent_id: str = ""
    max_calls: int = 0
    retry_on: bytes = b""
    node: str = ""
    soft: bool = False
    spread: bool = False
    runtime_env: RuntimeEnvSpec | None = None


class TaskSpec(msgspec.Struct, frozen=True, array_like=True):
    """A task submitted from inside an executor (nested ``f.remote()``)."""

    task_id: str
    name: str
    fn_id: str
    fn: bytes | None
    args: bytes
    dep_ids: list[str]
    resources: Resources
    max_retries: int
    retry_exceptions: bool
    extra: TaskExtra | None = None


class Hello(Message, tag="hello", frozen=True):
    executor_id: str
    pid: int
    hostname: str


class TaskDone(Message, tag="done", frozen=True):
    """``value`` is the pickled result, or empty when ``location`` names the object store
    (the executor's agent's) holding it."""

    task_id: str
    value: bytes
    duration: float = 0.0
    location: ObjectLocation | None = None
    returns: list[ObjectBlob] = []  # num_returns != 1: one per return (``value`` unused)
    contained: list[str] = []  # ids of the references inside the result (kept alive by it)


class TaskFailed(Message, tag="failed", frozen=True):
    """``error`` is the pickled exception ``get`` raises (a ``TaskError`` for user errors)."""

    task_id: str
    error: bytes
    traceback: str
    duration: float = 0.0


class Output(Message, tag="out", frozen=True):
    task_id: str
    stream: Literal["stdout", "stderr"]
    text: str


class Submit(Message, tag="submit", frozen=True):
    spec: TaskSpec


class GetObjects(Message, tag="get", frozen=True):
    """Ask the driver for objects; it answers once ``num_returns`` of them are ready (0: all).

    While a request is open the executor's slot counts as given back (the task is blocked).
    With ``fetch`` false the answer carries ids only (``rt.wait``). With ``lost`` the executor
    could not read the one object asked for there (``reason``): the driver rebuilds it from its
    lineage first, or fails it, and answers once it is made again.
    """

    request_id: int
    object_ids: list[str]
    num_returns: int = 0
    fetch: bool = True
    lost: ObjectLocation | None = None
    reason: str = ""


class PutObject(Message, tag="put", frozen=True):
    blob: ObjectBlob


class CancelRequest(Message, tag="cancel_req", frozen=True):
    task_id: str
    force: bool = False
    recursive: bool = True


class Yielded(Message, tag="yielded", frozen=True):
    """Item ``index`` of a generator task (``TaskExtra.num_returns`` STREAMING or DYNAMIC); its
    object id is ``ids.item_id(task_id, index)``. A retried task yields its items again: the
    driver keeps the first of each index."""

    task_id: str
    index: int
    blob: ObjectBlob


class NextItem(Message, tag="next_item", frozen=True):
    """Wait for item ``index`` of generator task ``task_id``: answered by an
    :class:`ObjectValues` naming the item (no data), or empty once the generator has ended."""

    request_id: int
    task_id: str
    index: int


class StateRequest(Message, tag="state_req", frozen=True):
    """Ask the driver for the cluster's state (``rt.available_resources()`` in a task);
    ``params`` is the query of the master's ``/state``."""

    request_id: int
    params: str = ""


class DepsLost(Message, tag="deps_lost", frozen=True):
    """The task did not run: these arguments could not be had (every copy lost, or, for an
    argument chained behind a task on this executor, not produced). The driver rebuilds them
    (lineage) and runs the task again, or fails it with ``ObjectLostError``."""

    task_id: str
    object_ids: list[str]
    reason: str


class Borrow(Message, tag="borrow", frozen=True):
    """The executor now holds references to these objects (each sent when its count of live
    references goes from 0 to 1): the driver keeps them until the matching ``Unborrow``, or
    until the executor is gone. Objects it created itself (``Submit``, ``PutObject``) start
    borrowed."""

    object_ids: list[str]


class Unborrow(Message, tag="unborrow", frozen=True):
    object_ids: list[str]


class RunTask(Message, tag="run", frozen=True):
    """Run a task. ``deps`` carry the argument objects that exist; ``local_deps`` name those
    that tasks queued before this one on the same executor will produce (chained dispatch)."""

    task_id: str
    name: str
    fn_id: str
    fn: bytes | None
    args: bytes
    deps: list[ObjectBlob]
    local_deps: list[str] = []
    num_returns: int = 1  # as TaskExtra.num_returns
    # what the task asked for, when it is not the executor's shape (it borrows the executor
    # of a task blocked in get): what get_runtime_context().get_assigned_resources() reports
    resources: Resources | None = None


class ObjectValues(Message, tag="values", frozen=True):
    request_id: int
    objects: list[ObjectBlob]


class CancelTask(Message, tag="cancel", frozen=True):
    task_id: str


class StopWorker(Message, tag="stop_worker", frozen=True):
    pass


class Preload(Message, tag="preload", frozen=True):
    """Import these modules ahead of the tasks that will need them (``pymesos_rt/preload.py``)."""

    modules: list[str]


class StateReply(Message, tag="state", frozen=True):
    """The answer to :class:`StateRequest`: the cluster's state as JSON."""

    request_id: int
    state: bytes
