"""The actors a framework reports (``ActorSummary``), kept for ``/state``: every live actor and
the last :data:`MAX_DEAD` dead ones. The master decides nothing about actors; to it an actor is
an executor whose resources are in use."""

from __future__ import annotations

from pymesos_rt.master.records import FrameworkEntry
from pymesos_rt.protocol import messages as m

MAX_DEAD = 100  # dead actors kept per framework


def record(fw: FrameworkEntry, briefs: list[m.ActorBrief]) -> None:
    for brief in briefs:
        was = fw.actors.get(brief.actor_id)
        fw.actors[brief.actor_id] = brief
        if brief.state == "DEAD" and (was is None or was.state != "DEAD"):
            fw.dead_actors.append(brief.actor_id)
    while len(fw.dead_actors) > MAX_DEAD:
        fw.actors.pop(fw.dead_actors.popleft(), None)


def view(fw: FrameworkEntry, brief: m.ActorBrief) -> dict[str, object]:
    return {
        "framework_id": fw.framework_id,
        "actor_id": brief.actor_id,
        "class": brief.class_name,
        "name": brief.name,
        "state": brief.state,
        "agent_id": brief.agent_id,
        "executor_id": brief.executor_id,
        "restarts": brief.restarts,
        "pending": brief.pending,
    }
