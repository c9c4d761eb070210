"""The store core's invariants, checked by :meth:`StoreCore.validate` (tests run it after every
step; it scans everything, so never on a hot path)."""

from __future__ import annotations

import itertools
from typing import TYPE_CHECKING

from pymesos_rt.objects.allocator import aligned
from pymesos_rt.objects.records import S

if TYPE_CHECKING:
    from pymesos_rt.objects.core import StoreCore


def validate(core: StoreCore) -> None:
    core.alloc.validate()
    core.leases.validate()
    ranges: list[tuple[int, int]] = []
    pinned = spilled = spilled_bytes = secondary = spilling = 0
    for oid, e in core.entries.items():
        assert e.object_id == oid
        assert (e.offset is None) == (e.state is S.SPILLED), (oid, e.state, e.offset)
        if e.offset is not None:
            ranges.append((e.offset, aligned(e.size)))
        assert all(c > 0 for c in e.pins.values()), (oid, e.pins)
        for client, count in e.pins.items():
            assert core._client_pins[client][oid] == count, (oid, client)
        assert e.pins == {} or e.state in (S.SEALED, S.SPILLING), (oid, e.state, e.pins)
        listed = oid in core.room.lru[e.primary]
        should = e.state is S.SEALED and not e.pins and not e.doomed
        assert listed == should, (oid, e.state, e.pins, e.doomed, listed)
        assert oid not in core.room.lru[not e.primary]
        assert (e.creator is not None) == (e.state is S.CREATED), (oid, e.creator)
        if e.doomed:
            assert core._busy(e), f"doomed object {oid} is idle but not freed"
        pinned += bool(e.pins)
        if e.state in (S.SPILLED, S.RESTORING):  # on disk until restored
            spilled += 1
            spilled_bytes += e.size
        if e.state is S.SPILLING:
            spilling += aligned(e.size)
        secondary += not e.primary
    for rec in core.leases.by_id.values():  # the parts of live leases no object was given
        ranges += rec.gaps()
        for oid in rec.awaited:
            assert oid in core._gets and oid not in core.entries, (rec.lease_id, oid)
    ranges.sort()
    for (a, n), (b, _) in itertools.pairwise(ranges):
        assert a + n <= b, f"objects or leases overlap at {a}+{n} and {b}"
    assert sum(n for _, n in ranges) == core.alloc.used, "allocator, objects, leases disagree"
    assert pinned == core.pinned, (pinned, core.pinned)
    assert (spilled, spilled_bytes) == (core.spilled_objects, core.spilled_bytes)
    assert secondary == core.secondary
    assert spilling == core.room.spilling_bytes, (spilling, core.room.spilling_bytes)
    core.backing.validate(ranges)
    for client, pins in core._client_pins.items():
        assert pins, f"empty pin index for {client}"
        for oid in pins:
            assert client in core.entries[oid].pins
    for oid in core._gets:
        assert oid not in core.entries or core.entries[oid].state is not S.SEALED, oid
