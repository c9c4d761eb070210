"""Which actors this process holds handles of, and where pickled handles go.

An actor is stopped once no process holds a handle to it and no unfinished task carries one
(``scheduler/actors.py``). This module gives each process the two facts the driver needs:

- **Presence.** Every ``ActorHandle`` of one actor in a process shares one *token*; the token
  is made with the first handle and dies with the last. Both moments become events
  ``(actor_id, serial, present)`` in :data:`presence`'s queue, a ``queue.SimpleQueue``, whose
  ``put`` is safe inside garbage-collector callbacks (a handle may die in any allocation, even
  on a thread that holds a lock the sender needs). The process's backend forwards the events:
  the driver feeds them to its scheduler core, an executor sends ``HandleHeld`` messages. A
  token's serial lets the consumer ignore an old token's death that arrives after a new token
  of the same actor was made. An executor sets :attr:`Presence.on_new` to announce a new token
  at once, on the thread that unpickled the handle, so the driver hears of it before that
  thread's task reports its end (which unpins the handles its arguments carried).
- **Pickling scope.** While :func:`collecting` is active on a thread (around the pickling of a
  task's arguments), a pickled handle is recorded there, and the submitter pins the actor for
  the task's life; a handle pickled anywhere else (a return value, ``rt.put``, a function's
  globals) *escapes*: its actor then lives until the program ends or ``rt.kill``.

Imports nothing of the package.
"""

from __future__ import annotations

import itertools
import queue
import threading
import weakref
from collections.abc import Callable

_scope = threading.local()  # .ids: the list of actor ids being collected, or None

PresenceEvent = tuple[str, int, bool]


class collecting:
    """Record the actor ids of handles pickled on this thread meanwhile (a class, not a
    generator: it runs for every ``.remote()``)."""

    __slots__ = ("ids", "previous")

    def __enter__(self) -> list[str]:
        self.previous = getattr(_scope, "ids", None)
        self.ids: list[str] = []
        _scope.ids = self.ids
        return self.ids

    def __exit__(self, *exc: object) -> None:
        _scope.ids = self.previous


def pickled(actor_id: str) -> bool:
    """A handle is being pickled: True if into collected task arguments, False if it escapes."""
    ids: list[str] | None = getattr(_scope, "ids", None)
    if ids is None:
        return False
    if actor_id not in ids:
        ids.append(actor_id)
    return True


class Token:
    """Shared by the handles of one actor in this process; dies with the last of them."""

    __slots__ = ("__weakref__", "actor_id")

    def __init__(self, actor_id: str) -> None:
        self.actor_id = actor_id


class Presence:
    def __init__(self) -> None:
        self.events: queue.SimpleQueue[PresenceEvent] = queue.SimpleQueue()
        # called with (actor_id, serial) for a new token instead of queueing the event
        self.on_new: Callable[[str, int], None] | None = None
        self._tokens: weakref.WeakValueDictionary[str, Token] = weakref.WeakValueDictionary()
        self._lock = threading.Lock()
        self._serials = itertools.count(1)

    def token(self, actor_id: str) -> Token:
        """The token of ``actor_id`` for a new handle (announcing presence if it is the first)."""
        with self._lock:
            token = self._tokens.get(actor_id)
            if token is not None:
                return token
            serial = next(self._serials)
            token = self._tokens[actor_id] = Token(actor_id)
            weakref.finalize(token, self.events.put, (actor_id, serial, False))
        on_new = self.on_new
        if on_new is not None:
            on_new(actor_id, serial)
        else:
            self.events.put((actor_id, serial, True))
        return token


class PresenceFilter:
    """The consumer's side: turns token events into presence changes, dropping the death of a
    token that a newer one of the same actor has replaced. Thread-safe (never call it from a
    garbage-collector callback)."""

    def __init__(self) -> None:
        self._serial: dict[str, int] = {}
        self._lock = threading.Lock()

    def apply(self, event: PresenceEvent) -> bool | None:
        """The actor's new presence (True/False), or None when the event changes nothing."""
        actor_id, serial, present = event
        with self._lock:
            if present:
                known = actor_id in self._serial
                self._serial[actor_id] = serial
                return None if known else True
            if self._serial.get(actor_id) != serial:
                return None
            del self._serial[actor_id]
            return False


presence = Presence()
