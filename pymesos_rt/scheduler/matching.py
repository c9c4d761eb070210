"""Pure placement decisions: which executors to launch on an offer, and pipelining limits.

No I/O, no clock. Executors are leased per resource *shape*: an executor of shape S runs only
tasks that ask for exactly S, one after another.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from pymesos_rt.protocol.resources import Resources
from pymesos_rt.scheduler import placement

# How much queued work (seconds) an executor may hold beyond the task it runs: enough to hide
# the round trip between two short tasks, small enough that long tasks spread over executors.
PIPELINE_BUDGET_S = 0.002
PIPELINE_MAX = 64


def plan_launches(
    offer: Resources,
    need: Mapping[Resources, int],
    order: list[Resources],
    agent_id: str = "",
) -> list[Resources]:
    """Shapes of the executors to launch on ``offer`` (from ``agent_id``): for each shape in
    ``order`` (oldest waiting work first) that may run there (``placement``), as many as it
    still needs and the offer still holds."""
    left = offer
    out: list[Resources] = []
    for shape in order:
        if not placement.fits_agent(shape, agent_id, offer):
            continue
        wanted = need.get(shape, 0)
        while wanted > 0 and shape.fits(left):
            out.append(shape)
            left = left - shape
            wanted -= 1
    return out


fits_somewhere = placement.fits_somewhere


def fits_any(shape: Resources, totals: Iterable[Resources]) -> bool:
    """Whether ``shape`` fits one of ``totals`` (the distinct totals of the agents)."""
    return any(shape.fits(total) for total in totals)
