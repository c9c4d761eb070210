"""Ray's scheduling strategies, honoured by the framework's placement (``scheduler/placement``).

``scheduling_strategy=`` takes ``"DEFAULT"`` (pack executors onto the agents offered first),
``"SPREAD"`` (launch a shape's executors on as many agents as one offer round allows) or a
:class:`NodeAffinitySchedulingStrategy`. Pure data; imports nothing of the package.
"""

from __future__ import annotations

import dataclasses


@dataclasses.dataclass(frozen=True)
class NodeAffinitySchedulingStrategy:
    """Run on the agent ``node_id`` (an id from ``rt.nodes()`` or
    ``rt.get_runtime_context().get_node_id()``). With ``soft=False`` a task whose agent is not
    in the cluster fails as unschedulable; with ``soft=True`` it runs elsewhere then."""

    node_id: str
    soft: bool = False

    def __post_init__(self) -> None:
        if not isinstance(self.node_id, str) or not self.node_id:
            raise ValueError(f"node_id must be a non-empty string, got {self.node_id!r}")


STRATEGIES = ("DEFAULT", "SPREAD")

__all__ = ["STRATEGIES", "NodeAffinitySchedulingStrategy"]
