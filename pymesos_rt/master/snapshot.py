"""The JSON-able view of a master's state served at ``/state``: bounded and paginated, so it
stays small and fast at 10,000 agents (as Mesos keeps ``max_completed_*`` and pages its
endpoints).

``GET /state[?limit=L&offset=O&detail=agents,frameworks&agent=ID&framework=ID]``:
- always: ``master_id``, ``leader``, ``resources`` (``total``, ``used``, ``offered`` of the whole
  cluster, kept incrementally by the registry), ``counts`` (agents, connected agents,
  frameworks, executors, offers, completed executors), ``page`` and ``completed_executors``;
- ``agents``, ``frameworks`` and ``executors``: each list cut to ``[offset, offset + limit)``
  of its own stable order (registration order; executors in launch order); ``limit`` is 100 by
  default and at most 10,000;
- summaries by default; ``detail=frameworks`` adds each framework's ``executors`` (ids) and
  ``offers`` (resources), ``detail=agents`` each agent's ``executors`` (framework and executor
  ids); these inner lists are cut at ``limit`` too;
- ``agent=ID`` / ``framework=ID`` keep only that agent / framework (and its executors);
- ``actors``: the frameworks' actors as they report them (``master/actors.py``), paginated
  like the other lists, and ``counts.actors``.

The cost of a response is O(offset + limit) plus the asked-for details, never O(cluster).
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

from pymesos_rt.master import actors

if TYPE_CHECKING:
    from pymesos_rt.master.records import AgentEntry, ExecutorEntry, FrameworkEntry
    from pymesos_rt.master.state import MasterState

DEFAULT_LIMIT = 100
MAX_LIMIT = 10_000
DETAILS = frozenset({"agents", "frameworks"})

T = TypeVar("T")


@dataclass(frozen=True)
class StateQuery:
    limit: int = DEFAULT_LIMIT
    offset: int = 0
    detail: frozenset[str] = frozenset()
    agent: str | None = None
    framework: str | None = None

    @classmethod
    def parse(cls, args: Mapping[str, Sequence[str | bytes]]) -> StateQuery:
        """From URL query arguments (``{name: [values]}``); raises ``ValueError`` with a
        one-line reason for a bad one."""

        def one(name: str) -> str | None:
            values = args.get(name)
            if not values:
                return None
            value = values[-1]
            return value.decode() if isinstance(value, bytes) else value

        unknown = sorted(set(args) - {"limit", "offset", "detail", "agent", "framework"})
        if unknown:
            raise ValueError(f"unknown /state parameter {unknown[0]!r}")
        limit = _count(one("limit"), "limit", DEFAULT_LIMIT)
        if not 1 <= limit <= MAX_LIMIT:
            raise ValueError(f"limit must be between 1 and {MAX_LIMIT}, got {limit}")
        detail = frozenset(d for d in (one("detail") or "").split(",") if d)
        if detail - DETAILS:
            bad = sorted(detail - DETAILS)[0]
            raise ValueError(f"unknown detail {bad!r}: use agents and/or frameworks")
        return cls(
            limit, _count(one("offset"), "offset", 0), detail, one("agent"), one("framework")
        )

    def to_params(self) -> str:
        """The URL query string that parses back to this query."""
        parts = [f"limit={self.limit}", f"offset={self.offset}"]
        if self.detail:
            parts.append("detail=" + ",".join(sorted(self.detail)))
        parts += [
            f"{k}={v}" for k, v in (("agent", self.agent), ("framework", self.framework)) if v
        ]
        return "&".join(parts)


def _count(text: str | None, name: str, default: int) -> int:
    if text is None:
        return default
    try:
        value = int(text)
    except ValueError:
        raise ValueError(f"{name} must be a whole number, got {text!r}") from None
    if value < 0:
        raise ValueError(f"{name} must be >= 0, got {value}")
    return value


def snapshot(state: MasterState, query: StateQuery | None = None) -> dict[str, Any]:
    q = query or StateQuery()
    return {
        "master_id": state.master_id,
        "leader": {"master_id": state.master_id, "address": state.address},
        "resources": {
            "total": state.allocator.total().to_dict(),
            "used": state.used_total.to_dict(),
            "offered": state.offered_total.to_dict(),
        },
        "counts": {
            "agents": len(state.agents),
            "agents_connected": len(state.agents) - state.disconnected_count(),
            "frameworks": len(state.frameworks),
            "executors": len(state.executors),
            "offers": len(state.offers),
            "completed_executors": len(state.completed_executors),
            "actors": sum(len(f.actors) for f in _frameworks(state, q)),
        },
        "page": {"limit": q.limit, "offset": q.offset},
        "agents": [_agent(state, a, q) for a in _page(_agents(state, q), q)],
        "frameworks": [_framework(state, f, q) for f in _page(_frameworks(state, q), q)],
        "executors": [_executor(e) for e in _page(_executors(state, q), q)],
        "completed_executors": len(state.completed_executors),
        "actors": list(_page(_actors(state, q), q)),
    }


def _actors(state: MasterState, q: StateQuery) -> Iterator[dict[str, object]]:
    """Every framework's actors (live ones and its last dead ones), as frameworks report."""
    for fw in _frameworks(state, q):
        for brief in fw.actors.values():
            if q.agent is None or brief.agent_id == q.agent:
                yield actors.view(fw, brief)


def _page(items: Iterable[T], q: StateQuery) -> Iterator[T]:
    return itertools.islice(items, q.offset, q.offset + q.limit)


def _agents(state: MasterState, q: StateQuery) -> Iterable[AgentEntry]:
    if q.agent is not None:
        agent = state.agents.get(q.agent)
        return [agent] if agent is not None else []
    return state.agents.values()


def _frameworks(state: MasterState, q: StateQuery) -> Iterable[FrameworkEntry]:
    if q.framework is not None:
        fw = state.frameworks.get(q.framework)
        return [fw] if fw is not None else []
    return state.frameworks.values()


def _executors(state: MasterState, q: StateQuery) -> Iterable[ExecutorEntry]:
    keys: Iterable[tuple[str, str]] | None = None
    if q.agent is not None:
        agent = state.agents.get(q.agent)
        keys = sorted(agent.executors) if agent is not None else []
    if q.framework is not None:
        fw_id = q.framework
        if keys is not None:
            keys = [k for k in keys if k[0] == fw_id]
        else:
            keys = [(fw_id, e) for e in sorted(state.executor_ids_of(fw_id))]
    if keys is None:
        return state.executors.values()
    return (state.executors[k] for k in keys)


def _agent(state: MasterState, a: AgentEntry, q: StateQuery) -> dict[str, Any]:
    out: dict[str, Any] = {
        "id": a.agent_id,
        "hostname": a.hostname,
        "isolation": a.isolation,
        "state": "disconnected" if a.conn is None else "active",
        "resources": a.total.to_dict(),
        "used": a.used.to_dict(),
        "offered": a.offered.to_dict(),
        "executor_count": len(a.executors),
    }
    if a.object_store is not None:  # size, use, spilled, pinned (once the agent reported it)
        out["object_store"] = a.object_store
    if "agents" in q.detail:
        out["executors"] = [
            {"framework_id": f, "executor_id": e}
            for f, e in itertools.islice(sorted(a.executors), q.limit)
        ]
    return out


def _framework(state: MasterState, f: FrameworkEntry, q: StateQuery) -> dict[str, Any]:
    out: dict[str, Any] = {
        "id": f.framework_id,
        "name": f.name,
        "role": f.role,
        "share": round(state.allocator.share(f.framework_id), 6),
        "connected": f.conn is not None,
        "suppressed": f.suppressed,
        "tasks": dict(f.tasks),
        "used": state.used_by(f.framework_id).to_dict(),
        "offered": f.offered.to_dict(),
        "executor_count": len(f.executors),
        "offer_count": len(f.offers),
    }
    if "frameworks" in q.detail:
        out["executors"] = sorted(f.executors)[: q.limit]
        out["offers"] = [
            state.offers[o][0].resources.to_dict() for o in sorted(f.offers)[: q.limit]
        ]
    return out


def _executor(e: ExecutorEntry) -> dict[str, Any]:
    return {
        "framework_id": e.framework_id,
        "executor_id": e.executor_id,
        "agent_id": e.agent_id,
        "resources": e.resources.to_dict(),
        "state": str(e.state),
        "usage": dict(e.usage),
    }
