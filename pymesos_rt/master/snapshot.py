"""The JSON-able view of a master's state served at ``/state``."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pymesos_rt.protocol.resources import Resources

if TYPE_CHECKING:
    from pymesos_rt.master.state import MasterState


def snapshot(state: MasterState) -> dict[str, Any]:
    offered: dict[str, Resources] = {}
    for offer, _ in state.offers.values():
        offered[offer.agent_id] = offered.get(offer.agent_id, Resources()) + offer.resources
    agents = []
    for a in state.agents.values():
        used = Resources()
        for key in a.executors:
            ex = state.executors.get(key)
            if ex is not None:
                used = used + ex.resources
        agents.append(
            {
                "id": a.agent_id,
                "hostname": a.hostname,
                "isolation": a.isolation,
                "state": "disconnected" if a.conn is None else "active",
                "resources": a.total.to_dict(),
                "used": used.to_dict(),
                "offered": offered.get(a.agent_id, Resources()).to_dict(),
                "object_store": a.object_store,  # size, use, spilled, pinned (or None)
            }
        )
    frameworks = [
        {
            "id": f.framework_id,
            "name": f.name,
            "role": f.role,
            "share": round(state.allocator.share(f.framework_id), 6),
            "connected": f.conn is not None,
            "suppressed": f.suppressed,
            "executors": sorted(f.executors),
            "tasks": dict(f.tasks),
            "offers": [
                state.offers[o][0].resources.to_dict()
                for o in sorted(f.offers)
                if o in state.offers
            ],
        }
        for f in state.frameworks.values()
    ]
    executors = [
        {
            "framework_id": e.framework_id,
            "executor_id": e.executor_id,
            "agent_id": e.agent_id,
            "resources": e.resources.to_dict(),
            "state": str(e.state),
            "usage": dict(e.usage),
        }
        for e in state.executors.values()
    ]
    return {
        "master_id": state.master_id,
        "leader": {"master_id": state.master_id, "address": state.address},
        "resources": {"total": state.allocator.total().to_dict()},
        "agents": agents,
        "frameworks": frameworks,
        "executors": executors,
        "completed_executors": len(state.completed_executors),
    }
