"""The options of ``@remote(...)`` and ``.options(...)``: one frozen dataclass, Ray's names.

Declared once (:class:`RemoteOptions`), so ``@remote``, ``.options`` and ``rt.Executor`` take
exactly its fields. :meth:`RemoteOptions.task_options` turns them into what a backend submits:
the executor shape (``cpus``, ``mem`` in MiB, ``gpus``, custom names, as on the wire) and the
task's :class:`~pymesos_rt.protocol.messages.TaskExtra`.
"""

from __future__ import annotations

import dataclasses
import inspect
from collections.abc import Callable
from typing import Any

from pymesos_rt import serialization
from pymesos_rt.client import runtime_env
from pymesos_rt.client.backend import TaskOptions
from pymesos_rt.client.runtime_env import Put
from pymesos_rt.protocol import messages as m
from pymesos_rt.protocol.resources import CPUS, MEM, Resources, parse_memory
from pymesos_rt.util.scheduling_strategies import STRATEGIES, NodeAffinitySchedulingStrategy

GPUS = "gpus"
# names that have keywords of their own (Ray's and the wire's spellings)
_RESERVED = {"CPU": "num_cpus", "GPU": "num_gpus", "memory": "memory"}
_RESERVED.update({CPUS: "num_cpus", GPUS: "num_gpus", MEM: "memory"})


def _check_retry_exceptions(value: Any) -> None:
    if isinstance(value, bool):
        return
    if not isinstance(value, list | tuple) or not all(
        isinstance(t, type) and issubclass(t, BaseException) for t in value
    ):
        raise TypeError(
            f"retry_exceptions must be a bool or a list of exception classes, got {value!r}"
        )


@dataclasses.dataclass(frozen=True)
class RemoteOptions:
    num_cpus: float = 1.0
    num_gpus: float = 0.0
    memory: int | str | None = None
    resources: dict[str, float] | None = None
    num_returns: int | str | None = None  # None: 1, or "streaming" for generator functions
    max_calls: int = 0
    max_retries: int = 3
    retry_exceptions: bool | list[type[BaseException]] = False
    scheduling_strategy: str | NodeAffinitySchedulingStrategy | None = None
    runtime_env: dict[str, Any] | None = None
    name: str | None = None

    def __post_init__(self) -> None:
        for key in ("num_cpus", "num_gpus"):
            value = getattr(self, key)
            if not isinstance(value, int | float) or isinstance(value, bool) or value < 0:
                raise ValueError(f"{key} must be a number >= 0, got {value!r}")
        if self.num_gpus > 1 and self.num_gpus != int(self.num_gpus):
            raise ValueError(f"num_gpus above 1 must be a whole number, got {self.num_gpus}")
        if not isinstance(self.max_retries, int) or self.max_retries < -1:
            raise ValueError(f"max_retries must be an int >= -1, got {self.max_retries!r}")
        if not isinstance(self.max_calls, int) or self.max_calls < 0:
            raise ValueError(f"max_calls must be an int >= 0, got {self.max_calls!r}")
        _check_retry_exceptions(self.retry_exceptions)
        nr = self.num_returns
        if not (nr is None or nr in ("streaming", "dynamic")) and (
            not isinstance(nr, int) or isinstance(nr, bool) or nr < 0
        ):
            raise ValueError(
                f'num_returns must be an int >= 0, "streaming" or "dynamic", got {nr!r}'
            )
        strategy = self.scheduling_strategy
        if not (
            strategy is None
            or strategy in STRATEGIES
            or isinstance(strategy, NodeAffinitySchedulingStrategy)
        ):
            raise ValueError(
                f"scheduling_strategy must be 'DEFAULT', 'SPREAD' or a "
                f"NodeAffinitySchedulingStrategy, got {strategy!r}"
            )
        for key in self.resources or {}:
            if key in _RESERVED:
                raise ValueError(
                    f"give {key!r} with {_RESERVED[key]}=, not in resources= "
                    f"(resources= is for custom resources)"
                )
        if self.runtime_env is not None:
            runtime_env.check(self.runtime_env)
        self.shape()  # validates memory and resources

    def shape(self) -> Resources:
        items: dict[str, float] = {CPUS: float(self.num_cpus), **(self.resources or {})}
        if self.num_gpus:
            items[GPUS] = float(self.num_gpus)
        if self.memory is not None:
            items[MEM] = parse_memory(self.memory) / 2**20
        shape = Resources(items)
        if shape.is_empty():
            shape = Resources({CPUS: 0.01})  # a task must hold something to be placed
        return shape

    def merged(self, **overrides: Any) -> RemoteOptions:
        unknown = set(overrides) - {f.name for f in dataclasses.fields(self)}
        if unknown:
            raise TypeError(f"unknown option(s) {sorted(unknown)}; allowed: {_OPTION_NAMES}")
        return dataclasses.replace(self, **overrides)

    def returns_for(self, fn: Callable[..., Any]) -> int:
        """``num_returns`` as on the wire (``m.STREAMING``/``m.DYNAMIC`` for generators)."""
        nr = self.num_returns
        if nr == "streaming" or (nr is None and _is_generator(fn)):
            return m.STREAMING
        if nr == "dynamic":
            return m.DYNAMIC
        return 1 if nr is None else int(nr)

    def task_options(self, fn: Callable[..., Any], put: Put, owner: object) -> TaskOptions:
        """What a backend submits for a call of ``fn`` with these options; a ``runtime_env``'s
        directories are stored with ``put`` (once per content and ``owner``)."""
        name = self.name or str(getattr(fn, "__qualname__", "task"))
        retry_on = b""
        if isinstance(self.retry_exceptions, list | tuple):
            retry_on = serialization.dumps_value(tuple(self.retry_exceptions))
        node, soft = "", False
        if isinstance(self.scheduling_strategy, NodeAffinitySchedulingStrategy):
            node, soft = self.scheduling_strategy.node_id, self.scheduling_strategy.soft
        env = None
        if self.runtime_env:
            env = runtime_env.to_spec(self.runtime_env, put, owner)
        extra = m.TaskExtra(
            num_returns=self.returns_for(fn),
            max_calls=self.max_calls,
            retry_on=retry_on,
            node=node,
            soft=soft,
            spread=self.scheduling_strategy == "SPREAD",
            runtime_env=env,
        )
        return TaskOptions(
            name,
            self.shape(),
            self.max_retries,
            bool(self.retry_exceptions),
            None if extra == _PLAIN else extra,
        )


_PLAIN = m.TaskExtra()
_OPTION_NAMES = ", ".join(f.name for f in dataclasses.fields(RemoteOptions))


def _is_generator(fn: Callable[..., Any]) -> bool:
    return inspect.isgeneratorfunction(fn) or inspect.isasyncgenfunction(fn)
