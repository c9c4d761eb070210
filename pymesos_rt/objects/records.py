"""The object store core's records: object states and their transition table, the effects
the core returns, and its per-object and per-request bookkeeping (pure data)."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

from pymesos_rt.protocol import objects as w


class IllegalObjectTransition(ValueError):
    """An object state change that :data:`TRANSITIONS` does not allow."""


class ObjState(enum.StrEnum):
    CREATED = "CREATED"  # a range is allocated; its writer is filling it
    SEALED = "SEALED"  # complete and immutable: readable
    SPILLING = "SPILLING"  # being written to the spill directory (still readable)
    SPILLED = "SPILLED"  # only in the spill directory; no range in the arena
    RESTORING = "RESTORING"  # being read back from the spill directory into a new range


S = ObjState
TRANSITIONS: dict[ObjState, frozenset[ObjState]] = {
    S.CREATED: frozenset({S.SEALED}),
    # a spill that fails, or finds the object pinned meanwhile, leaves it in the arena
    S.SEALED: frozenset({S.SPILLING}),
    S.SPILLING: frozenset({S.SPILLED, S.SEALED}),
    S.SPILLED: frozenset({S.RESTORING}),
    S.RESTORING: frozenset({S.SEALED, S.SPILLED}),
}


@dataclass(frozen=True)
class Populate:
    """Back ``[start, upto)`` of the arena with memory, then call :meth:`StoreCore.backing_done`.
    The shell does it outside its lock: what hands out a range there (a ``Created`` or
    ``Leased`` reply, a ``RestoreIn``) is held back by the core until then."""

    start: int
    upto: int


@dataclass(frozen=True)
class Reply:
    client: str
    event: w.Created | w.CreateFailed | w.Found | w.Leased | w.Recall


@dataclass(frozen=True)
class SpillOut:
    """Write the object's range to its spill file, then call :meth:`StoreCore.spilled`."""

    object_id: str
    offset: int
    size: int


@dataclass(frozen=True)
class RestoreIn:
    """Read the object's spill file into its new range, then call :meth:`StoreCore.restored`."""

    object_id: str
    offset: int
    size: int


@dataclass(frozen=True)
class DropSpill:
    """Remove the object's spill file."""

    object_id: str


@dataclass(frozen=True)
class Fetch:
    """Pull the object from the store at ``source`` into this one (as a secondary copy):
    ``create``, receive, ``seal``, :meth:`StoreCore.fetch_done`; or :meth:`fetch_failed`."""

    object_id: str
    source: w.ObjectLocation


Effect = Populate | Reply | SpillOut | RestoreIn | DropSpill | Fetch


@dataclass(slots=True)
class Entry:
    object_id: str
    size: int
    primary: bool
    state: ObjState
    offset: int | None
    creator: str | None = None
    pins: dict[str, int] = field(default_factory=dict)
    doomed: bool = False
    file_readers: int = 0  # pulls being served from the spill file
    has_file: bool = False  # a spill file exists

    def move(self, new: ObjState) -> None:
        if new not in TRANSITIONS[self.state]:
            raise IllegalObjectTransition(f"object {self.object_id}: {self.state} -> {new}")
        self.state = new


@dataclass(slots=True)
class Space:
    """A create or a restore waiting for room in the arena."""

    object_id: str
    size: int
    client: str = ""  # "" for a restore
    request_id: int = 0
    primary: bool = True
    deadline: float = 0.0


@dataclass(slots=True)
class Waiting:
    client: str
    request_id: int
    order: list[str]
    found: dict[str, w.FoundObject] = field(default_factory=dict)

    def done(self) -> bool:
        return len(self.found) == len(set(self.order))

    def reply(self) -> Reply:
        return Reply(self.client, w.Found(self.request_id, [self.found[o] for o in self.order]))


@dataclass(frozen=True)
class FileSource:
    """Serve a pull from the spill file (pinned as a file reader until :meth:`end_pull`)."""

    size: int


@dataclass(frozen=True)
class ArenaSource:
    offset: int
    size: int
