"""Executor kinds and where they may run: pure placement rules of the framework scheduler.

Executors are leased per *shape* and run only tasks of exactly their shape. A plain
:class:`Resources` vector is a shape; a :class:`Shape` adds what else makes two executors of
equal resources not interchangeable:

- ``env``: the key of the task's ``runtime_env`` (environment variables, working dir, modules
  are set when the executor starts, so executors of different envs are different kinds);
- ``node`` (an agent id): node affinity. Hard (``soft=False``): executors of the shape are
  launched only on that agent, and a task whose agent is not in the cluster fails as
  unschedulable. Soft: the same while that agent is in the cluster and can hold the shape,
  otherwise the task runs anywhere (Ray's ``NodeAffinitySchedulingStrategy(soft=True)``);
- ``spread``: Ray's ``"SPREAD"``: one offer round launches the shape's executors on as many
  different agents as it can, rather than packing them onto the first.

A ``Shape`` without extras equals (and hashes as) the plain ``Resources`` of the same amounts;
arithmetic on a shape gives plain ``Resources``. No I/O, no clock; imports ``protocol`` only.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

from pymesos_rt.protocol import messages as m
from pymesos_rt.protocol.resources import Resources

GPUS = "gpus"
_NONE = ("", "", False, False)


class Shape(Resources):
    __slots__ = ("env", "node", "soft", "spread")

    def __init__(
        self,
        resources: Mapping[str, float],
        *,
        env: str = "",
        node: str = "",
        soft: bool = False,
        spread: bool = False,
    ) -> None:
        super().__init__(resources)
        self.env = env
        self.node = node
        self.soft = soft and bool(node)
        self.spread = spread

    def _extras(self) -> tuple[str, str, bool, bool]:
        return (self.env, self.node, self.soft, self.spread)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Resources):
            return NotImplemented
        return self._items == other._items and self._extras() == extras_of(other)

    def __hash__(self) -> int:
        extras = self._extras()
        base = super().__hash__()
        return base if extras == _NONE else hash((base, extras))

    def __repr__(self) -> str:
        extras = [f"{k}={v!r}" for k, v in zip(self.__slots__, self._extras(), strict=True) if v]
        return f"Shape({super().__repr__()}{', ' if extras else ''}{', '.join(extras)})"

    def __str__(self) -> str:
        text = super().__str__()
        if self.node:
            text += f" on {self.node}" + (" (soft)" if self.soft else "")
        if self.env:
            text += f" env {self.env}"
        return text + (" spread" if self.spread else "")

    def relaxed(self) -> Shape:
        """The same shape without its node affinity."""
        return Shape(self, env=self.env, spread=self.spread)


def extras_of(shape: Resources) -> tuple[str, str, bool, bool]:
    return shape._extras() if isinstance(shape, Shape) else ("", "", False, False)


def node_of(shape: Resources) -> str:
    return shape.node if isinstance(shape, Shape) else ""


def env_of(shape: Resources) -> str:
    return shape.env if isinstance(shape, Shape) else ""


def shape_of(resources: Resources, extra: m.TaskExtra | None) -> Resources:
    """A task's shape from its wire form."""
    if extra is None:
        return resources
    env = extra.runtime_env.key if extra.runtime_env is not None else ""
    if not (env or extra.node or extra.spread):
        return resources
    return Shape(resources, env=env, node=extra.node, soft=extra.soft, spread=extra.spread)


def fits_agent(shape: Resources, agent_id: str, total: Resources) -> bool:
    """Whether an agent of ``total`` resources may ever run ``shape``."""
    node = node_of(shape)
    return (not node or node == agent_id) and shape.fits(total)


def fits_somewhere(shape: Resources, agents: Mapping[str, Resources]) -> bool:
    node = node_of(shape)
    if node:
        total = agents.get(node)
        return total is not None and shape.fits(total)
    return any(shape.fits(total) for total in agents.values())


def is_spread(shape: Resources) -> bool:
    return isinstance(shape, Shape) and shape.spread


def spread_cap(wanted: int, held: Mapping[str, int], agent_id: str) -> int:
    """For a SPREAD shape: how many of the ``wanted`` executors ``agent_id`` may get in an
    offer round, given how many of the shape each offered agent ``held`` (before the round):
    each offered agent is filled up to the same level (the agents holding fewest first)."""
    level = math.ceil((sum(held.values()) + wanted) / max(1, len(held)))
    return max(0, min(wanted, level - held.get(agent_id, 0)))
