"""The handle half of the actor core (``scheduler/actors.py``): which handles keep each actor.

An actor lives while the driver holds a handle (``local``), an executor holds one
(``holders``; ``held_by`` indexes them per executor), an unfinished task carries one in its
arguments (``pins``), or a handle escaped into a value or a function (``escaped``). When none
is left the actor is *out of scope*: it is stopped once it has answered every call it was sent
(:meth:`ActorBook._maybe_stop`). Sans-IO like the rest of the core.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from pymesos_rt.protocol.states import ActorState
from pymesos_rt.scheduler.effects import Effect

if TYPE_CHECKING:
    from pymesos_rt.scheduler.actors import Actor


class HandleCounts:
    """Mixed into :class:`~pymesos_rt.scheduler.actors.ActorBook`, whose records it reads."""

    actors: dict[str, Actor]
    held_by: dict[str, set[str]]

    def _maybe_stop(self, actor: Actor, now: float) -> list[Effect]:
        raise NotImplementedError

    def handle_local(self, actor_id: str, present: bool, now: float) -> list[Effect]:
        """The driver process holds (or no longer holds) a handle of the actor."""
        actor = self.actors.get(actor_id)
        if actor is None:
            return []
        actor.local = present
        return self._check_scope(actor, now)

    def handle_held(self, executor_id: str, actor_id: str, held: bool, now: float) -> list[Effect]:
        actor = self.actors.get(actor_id)
        if actor is None:
            return []
        held_here = self.held_by.setdefault(executor_id, set())
        if held:
            actor.holders.add(executor_id)
            held_here.add(actor_id)
        else:
            actor.holders.discard(executor_id)
            held_here.discard(actor_id)
            if not held_here:
                del self.held_by[executor_id]
        return self._check_scope(actor, now)

    def holder_gone(self, executor_id: str, now: float) -> list[Effect]:
        """An executor ended: it holds no handles any more."""
        effects: list[Effect] = []
        for aid in self.held_by.pop(executor_id, set()):
            actor = self.actors.get(aid)
            if actor is not None:
                actor.holders.discard(executor_id)
                effects += self._check_scope(actor, now)
        return effects

    def pin(self, actor_ids: list[str]) -> None:
        """An unfinished task carries handles of these actors."""
        for aid in actor_ids:
            actor = self.actors.get(aid)
            if actor is not None:
                actor.pins += 1

    def unpin(self, actor_ids: list[str], now: float) -> list[Effect]:
        effects: list[Effect] = []
        for aid in actor_ids:
            actor = self.actors.get(aid)
            if actor is not None:
                actor.pins -= 1
                effects += self._check_scope(actor, now)
        return effects

    def escape(self, actor_id: str) -> None:
        actor = self.actors.get(actor_id)
        if actor is not None:
            actor.escaped = True
            actor.out_of_scope = False

    def _check_scope(self, actor: Actor, now: float) -> list[Effect]:
        if actor.state is ActorState.DEAD:
            return []
        if actor.local or actor.holders or actor.pins > 0 or actor.escaped:
            actor.out_of_scope = False
            return []
        actor.out_of_scope = True
        return self._maybe_stop(actor, now)
