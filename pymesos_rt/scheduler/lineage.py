"""Lineage: how to make a stored object again when every copy of it was lost.

A task's result that lives in an object store can be lost with the agent holding it. The
driver keeps the task's spec while the result lives (:meth:`Lineage.record`), and when the
result is found lost it runs the task again, as Ray's lineage reconstruction does, if the task
has runs left (``1 + max_retries`` in all, counting reconstructions) and its own arguments
still exist; otherwise ``get`` raises ``ObjectLostError`` naming the object and the node it was
lost with. Values from ``rt.put`` have no lineage. Pure data: no I/O.
"""

from __future__ import annotations

from dataclasses import dataclass

from pymesos_rt.protocol import messages as m


@dataclass
class _Made:
    spec: m.TaskSpec
    runs: int  # times the task has run (first run and retries included)


class Lineage:
    def __init__(self) -> None:
        self._made: dict[str, _Made] = {}

    def record(self, spec: m.TaskSpec, runs: int) -> None:
        self._made[spec.task_id] = _Made(spec, runs)

    def forget(self, object_id: str) -> None:
        self._made.pop(object_id, None)

    def plan(self, object_id: str, where: str) -> m.TaskSpec | str:
        """The spec to run again for a lost object (counted as one more run), or why it
        cannot be rebuilt: a message for ``ObjectLostError``."""
        made = self._made.get(object_id)
        lost = f"object {object_id} was lost with {where}"
        if made is None:
            return f"{lost}; it was not made by a task (rt.put), so it cannot be rebuilt"
        if made.runs > made.spec.max_retries:
            return (
                f"{lost}; task {made.spec.name} that made it has no retries left to rebuild it "
                f"(max_retries={made.spec.max_retries}, ran {made.runs} time(s))"
            )
        made.runs += 1
        return made.spec

    def runs(self, object_id: str) -> int:
        made = self._made.get(object_id)
        return made.runs if made is not None else 0

    def __len__(self) -> int:
        return len(self._made)
