"""The object-store channel: where stored objects live, and the messages spoken to a store.

Each agent owns one object store (``pymesos_rt/objects/``). Processes on its node (its
executors, a driver on the same host) speak to it over a unix socket and map its arena; other
agents and remote drivers speak to it over its TCP object endpoint. Both carry frames of
:data:`StoreCall` (to the store) and :data:`StoreEvent` (from it), each a 4-byte little-endian
length and a MessagePack list of messages. A ``Pull``/``Push`` answer or request is followed on
the stream by exactly the object's raw bytes.

An object's bytes in an arena are its *layout* (``objects/layout.py``): a header, the in-band
pickle, and the out-of-band buffers, each 64-byte aligned. A :class:`ObjectLocation` names the
store holding an object's primary copy and the object's size; only locations (never the bytes
of stored objects) travel on the driver's websockets.

Imports nothing of the package but ``protocol``.
"""

from __future__ import annotations

import msgspec


class ObjectLocation(msgspec.Struct, frozen=True, array_like=True):
    """The primary copy of a stored object: which store (a store id is unique per agent
    process), the agent it belongs to, its TCP object endpoint ``host:port``, and the size of
    the object's layout in bytes."""

    store_id: str
    agent_id: str
    address: str
    size: int
    lease: int = 0  # written in a lease of arena space: its seal may still be on its way


Payload = bytes | memoryview | ObjectLocation  # an object's value: a pickle, or where it is stored


class StoreStats(msgspec.Struct, frozen=True, array_like=True):
    """A store's use, reported to the master (``/state``, ``pymesos-rt status``)."""

    capacity: int  # bytes of the arena
    used: int  # bytes allocated to objects in the arena
    objects: int  # objects in the arena or spilled
    pinned: int  # objects some process is reading (cannot be spilled or freed)
    spilled_objects: int
    spilled_bytes: int
    populated: int = 0  # bytes of the arena backed by memory so far
    secondary: int = 0  # copies pulled from other stores
    restored: int = 0  # objects read back from the spill directory, in total
    spilled_total: int = 0  # objects written to the spill directory, in total
    leased: int = 0  # bytes leased to clients and not yet holding objects


class _Call(
    msgspec.Struct, frozen=True, array_like=True, tag_field="t", forbid_unknown_fields=True
):
    pass


class Hello(_Call, tag="hello", frozen=True):
    """The first message of a client: a proof (hex HMAC-SHA256 of the server's nonce) keyed
    with the store token (the agent's executors) or the cluster secret (drivers, agents).
    ``want_fd``: send the arena's file descriptor (unix sockets only)."""

    proof: str
    name: str
    want_fd: bool = False


class Create(_Call, tag="create", frozen=True):
    """Allocate ``size`` bytes for a new object; answered by ``Created`` or ``CreateFailed``.
    The client writes the layout into the arena, then sends ``Seal``."""

    request_id: int
    object_id: str
    size: int
    primary: bool = True


class Seal(_Call, tag="seal", frozen=True):
    object_id: str


class Lease(_Call, tag="lease", frozen=True):
    """Ask for ``size`` bytes of arena space ahead of any object: answered by ``Leased``. The
    client then places objects in it itself (no round trip per object) and reports each with
    ``SealLeased``; what it has not sealed when it sends ``EndLease`` (or disconnects) is freed."""

    request_id: int
    size: int


class SealLeased(_Call, tag="seal_leased", frozen=True):
    """A new primary object, written at ``offset`` (inside lease ``lease``) and complete."""

    lease: int
    object_id: str
    offset: int
    size: int


class EndLease(_Call, tag="end_lease", frozen=True):
    """The client places no more objects in this lease: free the part of it not sealed."""

    lease: int


class Abort(_Call, tag="abort", frozen=True):
    """Give up an object created but not sealed."""

    object_id: str


class GetItem(msgspec.Struct, frozen=True, array_like=True):
    """One object wanted, and where its primary copy is when it is not in this store."""

    object_id: str
    source: ObjectLocation | None = None


class Get(_Call, tag="get", frozen=True):
    """Pin objects for reading (pulling or restoring them first); answered by ``Found`` once
    every one is in the arena or known lost. Each found object stays pinned for this client
    until it sends ``Release`` (or disconnects)."""

    request_id: int
    items: list[GetItem]


class Release(_Call, tag="release", frozen=True):
    object_ids: list[str]


class Delete(_Call, tag="delete", frozen=True):
    """The owner freed these objects: drop them (once no process reads them)."""

    object_ids: list[str]


class Pull(_Call, tag="pull", frozen=True):
    """Send an object's bytes (``length`` bytes from ``offset``; -1: to the end): answered by
    ``PullReply`` and then ``size`` raw bytes. A large object is pulled in several ranges over
    several connections at once."""

    request_id: int
    object_id: str
    offset: int = 0
    length: int = -1
    lease: int = 0  # the object's ``ObjectLocation.lease`` (wait for its seal)


class Push(_Call, tag="push", frozen=True):
    """Store a new primary object whose ``size`` raw bytes follow this frame; answered by
    ``Pushed`` (or ``CreateFailed``)."""

    request_id: int
    object_id: str
    size: int


class StatsRequest(_Call, tag="stats", frozen=True):
    request_id: int


StoreCall = (
    Hello
    | Create
    | Seal
    | Abort
    | Get
    | Release
    | Delete
    | Pull
    | Push
    | StatsRequest
    | Lease
    | SealLeased
    | EndLease
)


class Challenge(_Call, tag="challenge", frozen=True):
    """The server's first message: a nonce to prove a key with, and who it is."""

    nonce: str
    store_id: str


class Welcome(_Call, tag="welcome", frozen=True):
    """The handshake succeeded. On a unix socket with ``want_fd`` the arena's descriptor
    arrives with this frame (SCM_RIGHTS)."""

    store_id: str
    agent_id: str
    address: str
    capacity: int
    populated: int = 0  # bytes of the arena backed by memory so far (worth mapping in now)


class Created(_Call, tag="created", frozen=True):
    """``exists``: the object is already stored (sealed) here; nothing is to be written.
    ``fresh``: part of the range never held data (write it through the arena's descriptor)."""

    request_id: int
    offset: int
    exists: bool = False
    fresh: bool = False


class Leased(_Call, tag="leased", frozen=True):
    """Lease ``lease`` of ``size`` bytes from ``offset`` (already backed by memory); ``size``
    0: refused (the store is short of room: create objects one by one)."""

    request_id: int
    lease: int
    offset: int
    size: int
    fresh: bool = False  # part of the range never held data (as in Created)


class Recall(_Call, tag="recall", frozen=True):
    """The store needs the room: place nothing more in lease ``lease`` and end it."""

    lease: int


class CreateFailed(_Call, tag="create_failed", frozen=True):
    request_id: int
    message: str


class FoundObject(msgspec.Struct, frozen=True, array_like=True):
    """A pinned object at ``offset`` of the arena, or (``error`` set) why it cannot be had."""

    object_id: str
    offset: int
    size: int
    error: str = ""


class Found(_Call, tag="found", frozen=True):
    request_id: int
    objects: list[FoundObject]


class PullReply(_Call, tag="pull_reply", frozen=True):
    """``size`` raw bytes follow unless ``error`` is set."""

    request_id: int
    object_id: str
    size: int
    error: str = ""


class Pushed(_Call, tag="pushed", frozen=True):
    request_id: int


class Stats(_Call, tag="stats_reply", frozen=True):
    request_id: int
    stats: StoreStats


StoreEvent = (
    Challenge
    | Welcome
    | Created
    | CreateFailed
    | Found
    | PullReply
    | Pushed
    | Stats
    | Leased
    | Recall
)
