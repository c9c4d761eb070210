"""What a Mesos task becomes in the master (pure functions): the checks Mesos makes of a
TaskInfo in an ACCEPT, the resources it takes from the offers, and its launch: a command task's
own process, a custom executor's launch (its container sized to hold the tasks launched with
it), or a task for a custom executor that runs already (see :mod:`.mesos_core`).

Imports ``protocol`` only.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from pymesos_rt.protocol import mesos as ms
from pymesos_rt.protocol import messages as m
from pymesos_rt.protocol.resources import Resources


@dataclass
class NewExecutor:
    lease: str
    info: ms.ExecutorInfo
    own: Resources  # the executor's own resources (its lease)
    container: Resources  # its container: its own and those of the tasks launched with it


def plan_task(
    executors: Mapping[tuple[str, str], object],
    framework_id: str,
    framework: ms.FrameworkInfo,
    task: ms.TaskInfo,
    agent_id: str,
    seen: set[str],
    new_executors: dict[str, NewExecutor],
) -> tuple[Resources, m.ExecutorLaunch, NewExecutor | None]:
    """What ``task`` needs of the offers of ``agent_id`` and its launch (and the custom executor
    it starts, if it does); raises ValueError saying why the task is invalid. ``executors``:
    the master's executor entries; ``seen``: the task ids earlier in the same ACCEPT;
    ``new_executors``: the custom executors the same ACCEPT starts."""
    task_id = task.task_id.value
    if why := ms.valid_id(task_id):
        raise ValueError(f"bad task id {task_id!r}: {why}")
    lease = ms.task_lease(task_id)
    if task_id in seen or (framework_id, lease) in executors:
        raise ValueError(f"task id {task_id} is already in use")
    if (task.command is None) == (task.executor is None):
        raise ValueError("a task needs exactly one of command and executor")
    if task.container is not None and task.container.type != "MESOS":
        raise ValueError(f"containers of type {task.container.type} are not supported")
    resources = ms.from_mesos_resources(task.resources)
    if resources.is_empty():
        raise ValueError("the task uses no resources")
    if task.command is not None:
        argv, env = _command(task.command, f"task {task_id}")
        env.update(_task_env(framework_id, task_id))
        command = m.CommandInfo(argv, env, _user(task.command, framework))
        launch = m.ExecutorLaunch(lease, resources, command, m.MesosCommandTask(task=task))
        return resources, launch, None
    assert task.executor is not None
    info = task.executor
    executor_id = info.executor_id.value
    if why := ms.valid_id(executor_id):
        raise ValueError(f"bad executor id {executor_id!r}: {why}")
    ex_lease = ms.executor_lease(agent_id, executor_id)
    launch = m.ExecutorLaunch(
        lease, resources, m.CommandInfo([]), m.MesosExecutorTask(ex_lease, task)
    )
    if (framework_id, ex_lease) in executors or ex_lease in new_executors:
        return resources, launch, None
    if info.command is None:
        raise ValueError(f"executor {executor_id} has no command")
    own = ms.from_mesos_resources(info.resources)
    if own.is_empty():
        raise ValueError(f"executor {executor_id} uses no resources (give it some cpus, mem)")
    _command(info.command, f"executor {executor_id}")  # validates it
    return resources + own, launch, NewExecutor(ex_lease, info, own, own)


def executor_launch(
    framework_id: str, framework: ms.FrameworkInfo, ex: NewExecutor
) -> m.ExecutorLaunch:
    """The launch of a custom executor (its lease holds its own resources)."""
    info = ex.info
    assert info.command is not None
    argv, env = _command(info.command, f"executor {info.executor_id.value}")
    env["MESOS_FRAMEWORK_ID"] = framework_id
    env["MESOS_EXECUTOR_ID"] = info.executor_id.value
    if framework.checkpoint:
        env["MESOS_CHECKPOINT"] = "1"
    spec = m.MesosExecutor(executor=info, framework=framework, container=ex.container)
    command = m.CommandInfo(argv, env, _user(info.command, framework))
    return m.ExecutorLaunch(ex.lease, ex.own, command, spec)


def _user(command: ms.CommandInfo, framework: ms.FrameworkInfo) -> str:
    """Whom the process runs as (as Mesos: the command's user, else the framework's)."""
    return command.user or framework.user


def _command(command: ms.CommandInfo, what: str) -> tuple[list[str], dict[str, str]]:
    """argv and environment of a Mesos CommandInfo (``shell``: ``/bin/sh -c value``; else
    ``value`` is the program and ``arguments`` its argv, argv[0] included)."""
    if not command.value:
        raise ValueError(f"{what}: command.value is empty")
    if command.uris:
        raise ValueError(f"{what}: fetching URIs is not supported")
    if command.shell:
        argv = ["/bin/sh", "-c", command.value]
    else:
        argv = [command.value, *command.arguments[1:]]
    env = {}
    if command.environment is not None:
        env = {var.name: var.value for var in command.environment.variables}
    return argv, env


def _task_env(fw_id: str, task_id: str) -> dict[str, str]:
    return {"MESOS_FRAMEWORK_ID": fw_id, "MESOS_TASK_ID": task_id, "MESOS_EXECUTOR_ID": task_id}
