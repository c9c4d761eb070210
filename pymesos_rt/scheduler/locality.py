"""Where tasks' large inputs live: placement prefers executors on the agent that holds most of
a task's stored arguments, so the bytes need not be pulled to another node (pure data).

Only stored objects (512 KiB and more) are recorded, with the agent holding their primary copy;
a task whose stored arguments add up to less than ``MIN_BYTES`` has no preference.
"""

from __future__ import annotations

from collections.abc import Iterable

MIN_BYTES = 1 << 20


class Homes:
    def __init__(self) -> None:
        self._homes: dict[str, tuple[str, int]] = {}  # object id -> (agent id, size)

    def record(self, object_id: str, agent_id: str, size: int) -> None:
        if agent_id:
            self._homes[object_id] = (agent_id, size)

    def forget(self, object_id: str) -> None:
        self._homes.pop(object_id, None)

    def best_agent(self, object_ids: Iterable[str]) -> str | None:
        """The agent holding the most bytes of these objects, if that is worth a preference."""
        if not self._homes:
            return None
        by_agent: dict[str, int] = {}
        for oid in object_ids:
            home = self._homes.get(oid)
            if home is not None:
                by_agent[home[0]] = by_agent.get(home[0], 0) + home[1]
        if not by_agent:
            return None
        agent, size = max(by_agent.items(), key=lambda item: item[1])
        return agent if size >= MIN_BYTES else None

    def __len__(self) -> int:
        return len(self._homes)
