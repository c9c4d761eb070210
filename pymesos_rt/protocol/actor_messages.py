"""executor <-> driver, actors: creating actors and calling their methods from inside a task,
the handles that keep them alive, named lookups, kills and exits, and the driver's orders to the
executor hosting one; members of the unions ``WorkerCall`` and ``WorkerEvent``, which are in
``protocol/messages.py`` (it re-exports every name here).

Imports nothing of the package but ``protocol``.
"""

from __future__ import annotations

import msgspec

from pymesos_rt.protocol.bodies import Message
from pymesos_rt.protocol.resources import Resources
from pymesos_rt.protocol.worker_messages import ObjectBlob


class ActorSpec(msgspec.Struct, frozen=True, array_like=True):
    """An actor to create: its class (``cls`` bytes only the first time a process sends
    ``cls_id``), constructor arguments, where it may be placed (``placement``: what an offer
    must have free) and what its executor holds (``resources``), and how it restarts.
    ``meta`` is the pickled handle state that ``rt.get_actor`` hands out; ``handle_ids`` name
    the actors whose handles the constructor's arguments hold (kept alive while it lives)."""

    actor_id: str
    class_name: str
    cls_id: str
    cls: bytes | None
    args: bytes
    dep_ids: list[str]
    placement: Resources
    resources: Resources
    max_restarts: int
    max_task_retries: int
    max_concurrency: int
    is_async: bool
    meta: bytes
    name: str = ""
    namespace: str = ""
    get_if_exists: bool = False
    handle_ids: list[str] = []


class ActorCallSpec(msgspec.Struct, frozen=True, array_like=True):
    """A method call: ``task_id`` is its object id (with ``num_returns`` != 1 the returns are
    ``ids.return_id(task_id, i)``); ``max_task_retries`` re-runs it if the actor dies."""

    task_id: str
    actor_id: str
    method: str
    args: bytes
    dep_ids: list[str]
    num_returns: int = 1
    max_task_retries: int = 0
    handle_ids: list[str] = []


class SubmitActor(Message, tag="actor_new", frozen=True):
    """A nested ``Cls.remote()``; with ``request_id`` > 0 (a named actor) the driver answers
    with an :class:`ActorLookup` (empty: created; ``meta``: the existing one; ``error``)."""

    spec: ActorSpec
    request_id: int = 0


class SubmitCall(Message, tag="actor_call", frozen=True):
    """A nested ``handle.method.remote()`` (it runs in order with the caller's other calls)."""

    spec: ActorCallSpec


class HandleHeld(Message, tag="handle", frozen=True):
    """This process now holds (or no longer holds) a handle of the actor: the driver stops an
    actor once no process holds a handle and no unfinished task carries one. ``escaped``: a
    handle left this process inside a value (a result, ``rt.put``): keep the actor until the
    program ends."""

    actor_id: str
    held: bool
    escaped: bool = False


class HandlePins(Message, tag="handle_pins", frozen=True):
    """Task ``task_id`` (submitted just before) carries handles of these actors in its
    arguments: keep them alive until it ends."""

    task_id: str
    actor_ids: list[str]


class LookupActor(Message, tag="actor_lookup", frozen=True):
    """A nested ``rt.get_actor(name, namespace)``: answered by an :class:`ActorLookup`."""

    request_id: int
    name: str
    namespace: str = ""


class KillActor(Message, tag="actor_kill", frozen=True):
    """A nested ``rt.kill(handle, no_restart=...)``."""

    actor_id: str
    no_restart: bool = True


class ActorExiting(Message, tag="actor_exit", frozen=True):
    """The actor this executor hosts ends on its own (``rt.exit_actor()``, the graceful stop
    method): calls not answered before this fail; the process exits next."""

    actor_id: str
    reason: str


class StartActor(Message, tag="actor_start", frozen=True):
    """Make this executor the host of an actor: run the constructor (``task_id`` is the
    creation's id, answered by ``TaskDone``/``TaskFailed``), then the calls that follow.
    ``restarts``: how many times the actor was re-created before this one."""

    task_id: str
    actor_id: str
    class_name: str
    cls_id: str
    cls: bytes | None
    args: bytes
    deps: list[ObjectBlob]
    max_concurrency: int
    is_async: bool
    restarts: int = 0
    name: str = ""
    namespace: str = ""


class CallMethod(Message, tag="actor_run", frozen=True):
    """Run a method of the hosted actor; answered by ``TaskDone``/``TaskFailed``."""

    task_id: str
    method: str
    args: bytes
    deps: list[ObjectBlob]
    num_returns: int = 1


class ActorLookup(Message, tag="actor_found", frozen=True):
    """The answer to :class:`LookupActor` or a named :class:`SubmitActor`: the pickled handle
    state of the actor (empty if none, or the new actor was created), or an error message."""

    request_id: int
    meta: bytes = b""
    error: str = ""
