"""The object store's sans-IO core: every object of one agent's store, its range, state, pins.

Rules kept here:
- Inputs are method calls from the store's shell (a client created, sealed, asked for or
  released objects; the owner deleted some; a spill, restore or fetch finished; ``tick``), each
  taking ``now`` where time matters. Outputs are effects (:data:`Effect`) the shell carries
  out in order: replies to clients, filling the arena with memory, spill/restore/fetch I/O.
- An object moves through :data:`TRANSITIONS` only; an illegal move raises and changes nothing.
  Leaving the table (being freed) is not a state: an object the owner deletes while a process
  reads it (pinned), or while it is being written, spilled or restored, is *doomed* and freed
  when that ends.
- Only sealed objects are read. A pinned object is never spilled, evicted or freed. Pins are
  counted per client, and a client that goes away drops all of its pins and unsealed objects.
- An object bigger than the whole arena fails at once. A create or restore that does not fit
  waits for room, in order of arrival; making that room (dropping secondary copies, spilling
  the least recently used unpinned primaries, failing what waited ``create_timeout``) is
  :class:`~pymesos_rt.objects.room.Room`'s (``room.py``), which the core owns and asks after
  every input that may free room.
- A range is backed by memory before it is handed to a writer, by the store; until the shell
  reports it backed (:meth:`StoreCore.backing_done`), the reply that hands it out waits
  (``backing.py``).

Cost: every input touches only the objects it names, plus the least recently used ones its
room drops or spills; nothing scans all objects except :meth:`StoreCore.validate` (tests) and
:meth:`StoreCore.client_gone`'s scan of the queue of waiting creates.
"""

from __future__ import annotations

from pymesos_rt.objects import checks
from pymesos_rt.objects.allocator import Allocator, aligned
from pymesos_rt.objects.backing import Backing
from pymesos_rt.objects.leases import LeaseError, LeaseRec, Leases
from pymesos_rt.objects.records import (
    TRANSITIONS,
    ArenaSource,
    DropSpill,
    Effect,
    Entry,
    Fetch,
    FileSource,
    IllegalObjectTransition,
    ObjState,
    Populate,
    Reply,
    RestoreIn,
    S,
    Space,
    SpillOut,
    Waiting,
)
from pymesos_rt.objects.room import Room
from pymesos_rt.protocol import objects as w

__all__ = [
    "TRANSITIONS",
    "ArenaSource",
    "DropSpill",
    "Effect",
    "Entry",
    "Fetch",
    "FileSource",
    "IllegalObjectTransition",
    "LeaseError",
    "ObjState",
    "Populate",
    "Reply",
    "RestoreIn",
    "SpillOut",
    "StoreCore",
]


class StoreCore:
    def __init__(
        self,
        store_id: str,
        capacity: int,
        *,
        populate_step: int = 8 * 2**20,
        create_timeout: float = 60.0,
    ) -> None:
        self.store_id = store_id
        self.alloc = Allocator(capacity)
        self.capacity = self.alloc.capacity
        self.create_timeout = create_timeout
        self.backing = Backing(self.capacity, populate_step)
        self.leases = Leases(self.alloc.capacity)
        self.entries: dict[str, Entry] = {}
        self.room = Room(self)  # the queue waiting for room, and what may give up its own
        self._gets: dict[str, list[Waiting]] = {}
        self._client_pins: dict[str, dict[str, int]] = {}
        self._creating: dict[str, set[str]] = {}  # client -> objects it is writing
        self._fetching: set[str] = set()
        self.pinned = 0
        self.spilled_bytes = 0
        self.spilled_objects = 0
        self.secondary = 0
        self.spilled_total = 0
        self.restored_total = 0

    # --- writing ---------------------------------------------------------------------------
    def create(
        self, client: str, request_id: int, object_id: str, size: int, primary: bool, now: float
    ) -> list[Effect]:
        entry = self.entries.get(object_id)
        if entry is not None:
            if entry.state is S.CREATED or entry.doomed:
                why = f"object {object_id} is being written or freed here"
                return [Reply(client, w.CreateFailed(request_id, why))]
            if primary and not entry.primary:  # a copy becomes the primary (e.g. a retry)
                self.room.unlist_entry(entry)
                entry.primary, self.secondary = True, self.secondary - 1
                self.room.list_entry(entry)
            return [Reply(client, w.Created(request_id, -1, exists=True))]
        if size <= 0 or aligned(size) > self.capacity:
            why = (
                f"object {object_id} of {size} bytes does not fit in the object store "
                f"({self.capacity} bytes); give the agent a larger --object-store-memory"
            )
            return [Reply(client, w.CreateFailed(request_id, why))]
        space = Space(object_id, size, client, request_id, primary, now + self.create_timeout)
        return self.room.request(space, now)

    def seal(self, client: str, object_id: str, now: float) -> list[Effect]:
        entry = self.entries.get(object_id)
        if entry is None or entry.state is not S.CREATED or entry.creator != client:
            return []
        entry.move(S.SEALED)
        entry.creator = None
        self._creating.get(client, set()).discard(object_id)
        if entry.doomed:
            return self._drop(entry) + self.room.pump(now)
        self.room.list_entry(entry)
        return self._available(entry) + self.room.pump(now)

    def abort(
        self, client: str, object_id: str, now: float, why: str = "its writer gave up"
    ) -> list[Effect]:
        entry = self.entries.get(object_id)
        if entry is None or entry.state is not S.CREATED or entry.creator != client:
            return []
        self._creating.get(client, set()).discard(object_id)
        return self._drop(entry, why) + self.room.pump(now)

    # --- leases: clients placing objects themselves -----------------------------------------
    def lease(self, client: str, request_id: int, want: int) -> list[Effect]:
        """Grant ``client`` a range to place objects in, if the arena has room to spare."""
        free = self.alloc.capacity - self.alloc.used
        n = self.leases.grant_size(want, free, waiting=bool(self.room.queue))
        placed = self._alloc(n) if n else None
        if placed is None:
            return [Reply(client, w.Leased(request_id, 0, 0, 0))]
        offset, fresh = placed
        rec = self.leases.open(client, offset, n)
        return [
            *self.backing.ask(offset, n),
            *self.backing.once_backed(
                offset,
                offset + n,
                Reply(client, w.Leased(request_id, rec.lease_id, offset, n, fresh)),
            ),
        ]

    def seal_leased(
        self, client: str, lease_id: int, object_id: str, offset: int, size: int, now: float
    ) -> list[Effect]:
        """A new primary object, written by ``client`` inside its lease: born sealed (it never
        was CREATED here). Raises LeaseError, changing nothing, for a range it may not use."""
        rec = self.leases.mine(client, lease_id)
        self.leases.carve(rec, offset, size)
        rec.awaited.discard(object_id)
        if object_id in self.entries:  # stored already (a retry): the new copy is not needed
            self.alloc.free(offset, size)
            return self.room.pump(now)
        entry = Entry(object_id, size, True, S.SEALED, offset)
        self.entries[object_id] = entry
        self.room.list_entry(entry)
        return self._available(entry) + self.room.pump(now)

    def end_lease(self, client: str, lease_id: int, now: float) -> list[Effect]:
        self.leases.mine(client, lease_id)
        return self._end_lease(lease_id) + self.room.pump(now)

    def _end_lease(self, lease_id: int) -> list[Effect]:
        rec = self.leases.close(lease_id)
        if rec is None:
            return []
        for offset, n in rec.gaps():
            self.alloc.free(offset, n)
        effects: list[Effect] = []
        for oid in rec.awaited:
            effects += self._failed_waits(oid, "was never sealed (its writer stopped first)")
        return effects

    def _awaits_seal(self, entry: Entry | None, source: w.ObjectLocation | None) -> LeaseRec | None:
        """The live lease an object not yet here was written in (its seal is on its way)."""
        if entry is not None or source is None or not source.lease:
            return None
        if source.store_id != self.store_id:
            return None
        return self.leases.by_id.get(source.lease)

    # --- reading ---------------------------------------------------------------------------
    def get(self, client: str, request_id: int, items: list[w.GetItem], now: float) -> list[Effect]:
        wait = Waiting(client, request_id, [i.object_id for i in items])
        effects: list[Effect] = []
        pending: list[str] = []
        for item in items:
            oid = item.object_id
            if oid in wait.found or oid in pending:
                continue
            entry = self.entries.get(oid)
            if entry is None or entry.doomed:
                source = item.source
                sealing = self._awaits_seal(entry, source)
                if entry is None and source is not None and source.store_id != self.store_id:
                    if oid not in self._fetching:
                        self._fetching.add(oid)
                        effects.append(Fetch(oid, source))
                    pending.append(oid)
                elif sealing is not None:
                    sealing.awaited.add(oid)
                    pending.append(oid)
                else:
                    why = "was freed" if entry is not None else "is not in this store"
                    wait.found[oid] = w.FoundObject(oid, 0, 0, f"object {oid} {why}")
            elif entry.state in (S.SEALED, S.SPILLING):
                wait.found[oid] = self._pin(client, entry)
            else:
                if entry.state is S.SPILLED:
                    effects += self.room.restore(entry, now)
                pending.append(oid)
        for oid in pending:
            self._gets.setdefault(oid, []).append(wait)
        if wait.done():
            effects.append(wait.reply())
        return effects

    def release(self, client: str, object_ids: list[str], now: float) -> list[Effect]:
        effects: list[Effect] = []
        mine = self._client_pins.get(client)
        if mine is None:
            return []
        for oid in object_ids:
            count = mine.get(oid, 0)
            if count <= 0:
                continue
            if count == 1:
                del mine[oid]
            else:
                mine[oid] = count - 1
            entry = self.entries[oid]
            left = entry.pins[client] - 1
            if left:
                entry.pins[client] = left
                continue
            del entry.pins[client]
            if not entry.pins:
                effects += self._unpinned(entry)
        if not mine:
            del self._client_pins[client]
        return effects + self.room.pump(now)

    def client_gone(self, client: str, now: float) -> list[Effect]:
        """A client disconnected (or its process died): drop its pins, its unsealed objects,
        and whatever it was waiting for."""
        effects: list[Effect] = []
        for lease_id in list(self.leases.by_client.get(client, ())):
            effects += self._end_lease(lease_id)
        for oid in list(self._creating.pop(client, ())):
            entry = self.entries.get(oid)
            if entry is not None and entry.state is S.CREATED:
                effects += self._drop(entry, "its writer went away")
        mine = self._client_pins.get(client, {})
        for oid, count in list(mine.items()):
            effects += self.release(client, [oid] * count, now)
        self.room.forget(client)
        for oid in list(self._gets):
            waits = [x for x in self._gets[oid] if x.client != client]
            if waits:
                self._gets[oid] = waits
            else:
                del self._gets[oid]
        return effects + self.room.pump(now)

    # --- the owner ---------------------------------------------------------------------------
    def delete(self, object_ids: list[str], now: float) -> list[Effect]:
        effects: list[Effect] = []
        for oid in object_ids:
            entry = self.entries.get(oid)
            if entry is None or entry.doomed:
                continue
            entry.doomed = True
            self.room.unlist_entry(entry)
            if not self._busy(entry):
                effects += self._drop(entry)
        return effects + self.room.pump(now)

    # --- pulls served to other stores --------------------------------------------------------
    def open_pull(
        self, client: str, object_id: str, lease: int = 0
    ) -> ArenaSource | FileSource | str | None:
        """Start serving ``object_id`` to a remote reader: pinned in the arena, or (spilled)
        read from its spill file; a string says why it cannot be served; None: not ready yet
        (being written, restored, or its seal in ``lease`` is on its way: ask again with
        :meth:`get`)."""
        entry = self.entries.get(object_id)
        if entry is None and lease in self.leases.by_id:
            return None
        if entry is None or entry.doomed:
            return f"object {object_id} is not in this store"
        if entry.state in (S.SEALED, S.SPILLING):
            found = self._pin(client, entry)
            return ArenaSource(found.offset, found.size)
        if entry.state is S.SPILLED:
            entry.file_readers += 1
            return FileSource(entry.size)
        return None

    def end_pull(
        self, client: str, object_id: str, source: ArenaSource | FileSource, now: float
    ) -> list[Effect]:
        if isinstance(source, ArenaSource):
            return self.release(client, [object_id], now)
        entry = self.entries.get(object_id)
        if entry is None:
            return []
        entry.file_readers -= 1
        if entry.file_readers:
            return []
        if entry.doomed and not self._busy(entry):
            return self._drop(entry) + self.room.pump(now)
        if entry.has_file and entry.state is S.SEALED:  # restored meanwhile: file not needed
            entry.has_file = False
            return [DropSpill(object_id)]
        return []

    # --- I/O results ------------------------------------------------------------------------
    def spilled(self, object_id: str, ok: bool, now: float) -> list[Effect]:
        entry = self.entries[object_id]
        self.room.spill_ended(entry.size, ok, now)
        effects: list[Effect] = []
        if ok:
            entry.has_file = True
        if not ok or entry.pins:  # failed, or a reader pinned it meanwhile: keep it here
            entry.move(S.SEALED)
            if ok and not entry.file_readers:
                entry.has_file = False
                effects.append(DropSpill(object_id))
            if entry.doomed and not self._busy(entry):
                return effects + self._drop(entry) + self.room.pump(now)
            if not entry.pins and not entry.doomed:
                self.room.list_entry(entry)
            return effects + self.room.pump(now)
        entry.move(S.SPILLED)
        assert entry.offset is not None
        self.alloc.free(entry.offset, entry.size)
        entry.offset = None
        self.spilled_bytes += entry.size
        self.spilled_objects += 1
        self.spilled_total += 1
        if entry.doomed and not self._busy(entry):
            effects += self._drop(entry)
        return effects + self.room.pump(now)

    def restored(self, object_id: str, ok: bool, now: float) -> list[Effect]:
        entry = self.entries[object_id]
        effects: list[Effect] = []
        if not ok:
            entry.move(S.SPILLED)
            assert entry.offset is not None
            self.alloc.free(entry.offset, entry.size)
            entry.offset = None
            effects += self._failed_waits(object_id, "could not be read back from disk")
            if entry.doomed and not self._busy(entry):
                effects += self._drop(entry)
            return effects + self.room.pump(now)
        entry.move(S.SEALED)
        self.spilled_bytes -= entry.size
        self.spilled_objects -= 1
        self.restored_total += 1
        if entry.has_file and not entry.file_readers:
            entry.has_file = False
            effects.append(DropSpill(object_id))
        if entry.doomed:
            if not self._busy(entry):
                effects += self._drop(entry)
            return effects + self._failed_waits(object_id, "was freed") + self.room.pump(now)
        self.room.list_entry(entry)
        return effects + self._available(entry) + self.room.pump(now)

    def fetch_failed(self, object_id: str, why: str, now: float) -> list[Effect]:
        self._fetching.discard(object_id)
        entry = self.entries.get(object_id)
        if entry is not None and not entry.doomed:
            return []  # it arrived another way: the waits are answered when it is sealed
        return self._failed_waits(object_id, why)

    def fetch_done(self, object_id: str) -> list[Effect]:
        self._fetching.discard(object_id)
        return []

    def tick(self, now: float) -> list[Effect]:
        """Fail creates (and restores) that waited ``create_timeout`` for room."""
        return self.room.expire(now) + self.room.pump(now)

    def prefill(self, limit: int) -> list[Effect]:
        """Back the next step of the arena ahead of any writer, up to ``limit``."""
        return self.backing.prefill(limit)

    def backing_done(self, start: int, upto: int) -> list[Effect]:
        """The shell has backed ``[start, upto)``: what was held back for it goes out now."""
        return self.backing.done(start, upto)

    # --- internals ---------------------------------------------------------------------------
    def _alloc(self, size: int) -> tuple[int, bool] | None:
        """A new range, and whether it reaches beyond every range handed out before (``fresh``:
        its pages may hold no data yet, so the writer writes through the arena's descriptor)."""
        before = self.alloc.high_water
        offset = self.alloc.alloc(size)
        return None if offset is None else (offset, offset + aligned(size) > before)

    def _grant(self, space: Space, offset: int, fresh: bool) -> list[Effect]:
        effects = self.backing.ask(offset, space.size)
        end = offset + aligned(space.size)
        if not space.client:  # a restore
            entry = self.entries[space.object_id]
            entry.offset = offset
            entry.move(S.RESTORING)
            return [
                *effects,
                *self.backing.once_backed(
                    offset, end, RestoreIn(space.object_id, offset, entry.size)
                ),
            ]
        entry = Entry(space.object_id, space.size, space.primary, S.CREATED, offset, space.client)
        self.entries[space.object_id] = entry
        if not space.primary:
            self.secondary += 1
        self._creating.setdefault(space.client, set()).add(space.object_id)
        return [
            *effects,
            *self.backing.once_backed(
                offset, end, Reply(space.client, w.Created(space.request_id, offset, fresh=fresh))
            ),
        ]

    def _pin(self, client: str, entry: Entry) -> w.FoundObject:
        if not entry.pins:
            self.pinned += 1
            self.room.unlist_entry(entry)
        entry.pins[client] = entry.pins.get(client, 0) + 1
        mine = self._client_pins.setdefault(client, {})
        mine[entry.object_id] = mine.get(entry.object_id, 0) + 1
        assert entry.offset is not None
        return w.FoundObject(entry.object_id, entry.offset, entry.size)

    def _unpinned(self, entry: Entry) -> list[Effect]:
        self.pinned -= 1
        if entry.doomed:
            return [] if self._busy(entry) else self._drop(entry)
        if entry.state is S.SEALED:
            self.room.list_entry(entry)
        return []

    def _busy(self, entry: Entry) -> bool:
        return (
            bool(entry.pins)
            or entry.file_readers > 0
            or entry.state in (S.CREATED, S.SPILLING, S.RESTORING)
        )

    def _available(self, entry: Entry) -> list[Effect]:
        """The object became readable: answer the gets waiting for it."""
        effects: list[Effect] = []
        for wait in self._gets.pop(entry.object_id, []):
            wait.found[entry.object_id] = self._pin(wait.client, entry)
            if wait.done():
                effects.append(wait.reply())
        return effects

    def _failed_waits(self, object_id: str, why: str) -> list[Effect]:
        effects: list[Effect] = []
        for wait in self._gets.pop(object_id, []):
            wait.found[object_id] = w.FoundObject(object_id, 0, 0, f"object {object_id} {why}")
            if wait.done():
                effects.append(wait.reply())
        return effects

    def _drop(self, entry: Entry, why: str = "was freed") -> list[Effect]:
        del self.entries[entry.object_id]
        self.room.unlist_entry(entry)
        if entry.offset is not None:
            self.alloc.free(entry.offset, entry.size)
        if entry.state is S.SPILLED:
            self.spilled_bytes -= entry.size
            self.spilled_objects -= 1
        if not entry.primary:
            self.secondary -= 1
        if entry.creator is not None:
            self._creating.get(entry.creator, set()).discard(entry.object_id)
        effects: list[Effect] = [DropSpill(entry.object_id)] if entry.has_file else []
        return effects + self._failed_waits(entry.object_id, why)

    # --- views -------------------------------------------------------------------------------
    def stats(self) -> w.StoreStats:
        return w.StoreStats(
            capacity=self.capacity,
            used=self.alloc.used - self.leases.held,
            objects=len(self.entries),
            pinned=self.pinned,
            spilled_objects=self.spilled_objects,
            spilled_bytes=self.spilled_bytes,
            populated=self.backing.backed,
            secondary=self.secondary,
            restored=self.restored_total,
            spilled_total=self.spilled_total,
            leased=self.leases.held,
        )

    def validate(self) -> None:
        """Check every invariant (scans everything: for tests)."""
        checks.validate(self)
