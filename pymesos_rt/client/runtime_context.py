"""``rt.get_runtime_context()``: who and where the caller is, with Ray's method names.

In the driver: the job (this program's framework id) and the node it runs beside (the
embedded agent; when attached, an agent on this host if there is one). Inside a task: also the
task's id, name and function, and the resources its executor holds (``CPU``, ``GPU``,
``memory``, custom: an executor runs tasks of exactly its shape), and inside an actor its id,
name and whether it was restarted. The ids are strings;
``get()`` gives them as objects with ``.hex()``, as Ray does.
"""

from __future__ import annotations

import dataclasses
import warnings
from typing import Any

from pymesos_rt.client import backend as backend_mod
from pymesos_rt.client.actor import ActorContext, current_actor
from pymesos_rt.client.resource_names import to_ray


@dataclasses.dataclass(frozen=True)
class BaseID:
    """An id as Ray's ``get()`` dict holds it: ``.hex()`` is the string."""

    value: str

    def hex(self) -> str:
        return self.value

    def __str__(self) -> str:
        return self.value


class RuntimeContext:
    def __init__(self, info: backend_mod.RuntimeInfo, actor: ActorContext | None = None) -> None:
        self._info = info
        self._actor = actor

    def get_job_id(self) -> str:
        return self._info.job_id

    def get_node_id(self) -> str:
        return self._info.node_id

    def get_task_id(self) -> str | None:
        """The running task's id (None in the driver)."""
        return self._info.task_id

    def get_task_name(self) -> str | None:
        return self._info.task_name

    def get_task_function_name(self) -> str | None:
        return self._info.function_name

    def get_actor_id(self) -> str | None:
        """The current actor's id (None outside actors)."""
        return self._actor.actor_id if self._actor is not None else None

    def get_actor_name(self) -> str | None:
        """The current actor's name (``""`` if it has none; None outside actors)."""
        return self._actor.name if self._actor is not None else None

    def get_placement_group_id(self) -> str | None:
        return None

    def get_assigned_resources(self) -> dict[str, float]:
        """The resources the running task holds, keyed as Ray's (``{"CPU": 1.0}``)."""
        return to_ray(self._info.resources, zeros=False)

    def get_accelerator_ids(self) -> dict[str, list[str]]:
        return {"GPU": [str(i) for i in self._info.gpu_ids]}

    def get_dashboard_url(self) -> str:
        return self._info.dashboard_url

    @property
    def namespace(self) -> str:
        return self._info.namespace

    @property
    def was_current_actor_reconstructed(self) -> bool:
        """Whether the current actor was re-created after its process died."""
        return self._actor is not None and self._actor.restarts > 0

    @property
    def current_actor(self) -> Any:
        raise RuntimeError("current_actor is only available inside an actor")

    def get(self) -> dict[str, Any]:
        """``job_id``, ``node_id``, and ``task_id``/``actor_id`` where they apply."""
        out: dict[str, Any] = {
            "job_id": BaseID(self._info.job_id),
            "node_id": BaseID(self._info.node_id),
            "namespace": self._info.namespace,
        }
        if self._info.task_id is not None:
            out["task_id"] = BaseID(self._info.task_id)
        if self._actor is not None:
            out["actor_id"] = BaseID(self._actor.actor_id)
        return out

    # Ray's older spellings, kept with the same deprecation warnings
    @property
    def job_id(self) -> BaseID:
        _deprecated("job_id", "get_job_id()")
        return BaseID(self._info.job_id)

    @property
    def node_id(self) -> BaseID:
        _deprecated("node_id", "get_node_id()")
        return BaseID(self._info.node_id)

    @property
    def task_id(self) -> BaseID | None:
        _deprecated("task_id", "get_task_id()")
        return None if self._info.task_id is None else BaseID(self._info.task_id)


def _deprecated(name: str, instead: str) -> None:
    warnings.warn(
        f"RuntimeContext.{name} is deprecated. Use {instead} instead.",
        DeprecationWarning,
        stacklevel=3,
    )


def get_runtime_context() -> RuntimeContext:
    return RuntimeContext(backend_mod.current().runtime_info(), current_actor())


def get_gpu_ids() -> list[int]:
    """The GPU device indices of the running task's executor (``[]`` in the driver and in tasks
    without GPUs); they are also its ``CUDA_VISIBLE_DEVICES``."""
    return list(backend_mod.current().runtime_info().gpu_ids)
