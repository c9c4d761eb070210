"""The object store's sans-IO core: events in, effects out, ``validate()`` after every step."""

from __future__ import annotations

import random

import pytest

from pymesos_rt.objects.allocator import ALIGN, Allocator
from pymesos_rt.objects.core import (
    ArenaSource,
    DropSpill,
    Fetch,
    FileSource,
    IllegalObjectTransition,
    ObjState,
    Populate,
    Reply,
    RestoreIn,
    SpillOut,
    StoreCore,
)
from pymesos_rt.protocol import objects as w

MIB = 2**20
REMOTE = w.ObjectLocation("store-other", "agent-2", "127.0.0.1:1", MIB)


class Store:
    """A core plus the bookkeeping a test needs; validates after every call. Like the shell,
    it backs what the core asks to (``Populate``) at once, unless ``backing`` is False (then
    the test calls ``backed`` itself)."""

    def __init__(self, capacity: int = 4 * MIB, timeout: float = 10.0, backing: bool = True):
        self.core = StoreCore("store-here", capacity, populate_step=MIB, create_timeout=timeout)
        self.rid = 0
        self.backing = backing

    def __getattr__(self, name):
        method = getattr(self.core, name)

        def call(*args, **kwargs):
            out = method(*args, **kwargs)
            self.core.validate()
            for eff in list(out) if self.backing and isinstance(out, list) else []:
                if isinstance(eff, Populate):
                    out += self.core.backing_done(eff.start, eff.upto)
                    self.core.validate()
            return out

        return call

    def new(self, client: str, oid: str, size: int = MIB, primary: bool = True, now: float = 0.0):
        self.rid += 1
        return self.create(client, self.rid, oid, size, primary, now)

    def put(self, client: str, oid: str, size: int = MIB, primary: bool = True) -> None:
        effects = self.new(client, oid, size, primary)
        assert isinstance(effects[-1].event, w.Created), effects
        self.seal(client, oid, 0.0)

    def read(self, client: str, *oids: str, source=None):
        self.rid += 1
        return self.get(client, self.rid, [w.GetItem(o, source) for o in oids], 0.0)


def replies(effects, kind=None):
    out = [e.event for e in effects if isinstance(e, Reply)]
    return [e for e in out if kind is None or isinstance(e, kind)]


def test_create_seal_get_release():
    s = Store()
    effects = s.new("c1", "a", 1000)
    assert effects[0] == Populate(0, 4096)  # its own range, to the end of its page
    (created,) = replies(effects)
    assert created == w.Created(1, 0, fresh=True)  # never handed to a writer before
    assert s.core.entries["a"].state is ObjState.CREATED
    assert s.seal("c1", "a", 0.0) == []
    (found,) = replies(s.read("c2", "a"))
    assert found.objects == [w.FoundObject("a", 0, 1000)]
    assert s.core.pinned == 1
    s.release("c2", ["a"], 0.0)
    assert s.core.pinned == 0
    assert s.core.stats().used == 1024  # 64-byte aligned


def test_a_range_is_fresh_until_it_was_handed_to_a_writer_once():
    """``fresh`` tells a writer the range's pages may hold no data yet (write them through
    the descriptor); a range handed out before, even to another client, is not fresh."""
    s = Store()
    (a,) = replies(s.new("c1", "a", MIB // 2))
    (b,) = replies(s.new("c1", "b", MIB // 2))
    assert a.fresh and b.fresh and b.offset == MIB // 2
    s.seal("c1", "a", 0.0)
    s.seal("c1", "b", 0.0)
    s.delete(["a", "b"], 0.0)
    (again,) = replies(s.new("c2", "c", MIB // 4))  # first fit: where "a" was
    assert (again.offset, again.fresh) == (0, False)
    (inside,) = replies(s.new("c2", "d", MIB // 2))
    assert (inside.offset, inside.fresh) == (MIB // 4, False)
    (straddling,) = replies(s.new("c2", "e", MIB // 2))  # from 3/4 MiB: past every range
    assert (straddling.offset, straddling.fresh) == (3 * MIB // 4, True)
    (lease,) = replies(s.lease("c3", 99, MIB), w.Leased)
    assert lease.size and lease.fresh


def test_get_waits_for_seal_and_answers_in_order():
    s = Store()
    s.put("w", "a")
    s.new("w", "b")
    assert replies(s.read("r", "b", "a", "b")) == []
    (found,) = replies(s.seal("w", "b", 0.0))
    assert [o.object_id for o in found.objects] == ["b", "a", "b"]
    assert s.core.entries["b"].pins == {"r": 1}


def test_delete_of_pinned_object_waits_for_its_readers():
    s = Store()
    s.put("w", "a")
    s.read("r", "a")
    s.delete(["a"], 0.0)
    assert "a" in s.core.entries and s.core.entries["a"].doomed
    (found,) = replies(s.read("r2", "a"))
    assert found.objects[0].error == "object a was freed"
    s.release("r", ["a"], 0.0)
    assert s.core.entries == {} and s.core.stats().used == 0


def test_delete_while_being_written_frees_at_seal():
    s = Store()
    s.new("w", "a")
    s.delete(["a"], 0.0)
    assert s.core.entries["a"].doomed
    s.seal("w", "a", 0.0)
    assert s.core.entries == {}


def test_full_store_spills_least_recently_used_primary():
    s = Store(capacity=3 * MIB)
    for oid in "abc":
        s.put("w", oid)
    s.read("r", "a")  # pinned: never spilled
    s.release("r", ["a"], 0.0)  # now "a" is the most recently used
    effects = s.new("w", "d")
    assert effects == [SpillOut("b", MIB, MIB)]  # b is least recently used, a was read after
    assert s.core.entries["b"].state is ObjState.SPILLING
    effects = s.spilled("b", True, 0.0)
    assert replies(effects, w.Created) == [w.Created(s.rid, MIB)]
    st = s.core.stats()
    assert (st.spilled_objects, st.spilled_bytes, st.objects) == (1, MIB, 4)


def test_reading_a_spilled_object_restores_it_making_room():
    s = Store(capacity=2 * MIB)
    s.put("w", "a")
    s.put("w", "b")
    s.new("w", "c")  # spills a
    s.spilled("a", True, 0.0)
    s.seal("w", "c", 0.0)
    effects = s.read("r", "a")  # no room: b (LRU) is spilled first
    assert effects == [SpillOut("b", MIB, MIB)]  # c took a's place at 0
    effects = s.spilled("b", True, 0.0)
    assert effects[-1] == RestoreIn("a", MIB, MIB)
    assert s.core.entries["a"].state is ObjState.RESTORING
    effects = s.restored("a", True, 0.0)
    assert DropSpill("a") in effects
    (found,) = replies(effects)
    assert found.objects == [w.FoundObject("a", MIB, MIB)]
    assert s.core.stats().restored == 1


def test_pinned_objects_make_a_create_wait_then_fail_clearly():
    s = Store(capacity=2 * MIB, timeout=5.0)
    s.put("w", "a")
    s.put("w", "b")
    s.read("r", "a", "b")
    assert s.new("w", "c", now=1.0) == []  # waits: nothing can be spilled
    assert s.tick(3.0) == []
    (failed,) = replies(s.tick(6.5))
    assert isinstance(failed, w.CreateFailed)
    assert "object store is full" in failed.message and "2 object(s) are pinned" in failed.message


def test_release_lets_a_waiting_create_through():
    s = Store(capacity=2 * MIB)
    s.put("w", "a")
    s.put("w", "b")
    s.read("r", "a", "b")
    assert s.new("w", "c") == []
    effects = s.release("r", ["a"], 0.0)
    assert effects == [SpillOut("a", 0, MIB)]
    assert replies(s.spilled("a", True, 0.0), w.Created)


def test_secondary_copies_are_dropped_before_anything_is_spilled():
    s = Store(capacity=2 * MIB)
    s.put("w", "a")
    s.put("fetcher", "copy", primary=False)
    assert s.core.stats().secondary == 1
    effects = s.new("w", "c")
    assert replies(effects, w.Created) and not any(isinstance(e, SpillOut) for e in effects)
    assert "copy" not in s.core.entries and s.core.stats().secondary == 0


def test_object_bigger_than_the_store_fails_at_once():
    s = Store(capacity=MIB)
    (failed,) = replies(s.new("w", "big", 2 * MIB))
    assert "does not fit in the object store" in failed.message


def test_creating_an_existing_object_says_so():
    s = Store()
    s.put("w", "a")
    assert replies(s.new("w2", "a")) == [w.Created(s.rid, -1, exists=True)]


def test_client_gone_drops_its_pins_unsealed_objects_and_waits():
    s = Store()
    s.put("w", "a")
    s.read("r", "a")
    s.new("r", "half")
    s.read("r", "never")  # unknown, no source: answered at once with an error
    s.client_gone("r", 0.0)
    assert s.core.pinned == 0 and "half" not in s.core.entries


def test_unknown_object_with_a_remote_source_is_fetched():
    s = Store()
    effects = s.read("r", "x", source=REMOTE)
    assert effects == [Fetch("x", REMOTE)]
    assert s.read("r2", "x", source=REMOTE) == []  # one fetch for both
    s.new("~fetch", "x", primary=False)
    s.fetch_done("x")
    (a, b) = replies(s.seal("~fetch", "x", 0.0))
    assert a.objects[0].object_id == b.objects[0].object_id == "x"
    assert s.core.entries["x"].pins == {"r": 1, "r2": 1}


def test_failed_fetch_answers_with_why():
    s = Store()
    s.read("r", "x", source=REMOTE)
    (found,) = replies(s.fetch_failed("x", "could not be pulled from agent-2: refused", 0.0))
    assert found.objects[0].error == "object x could not be pulled from agent-2: refused"


def test_unknown_object_without_source_is_lost():
    s = Store()
    (found,) = replies(s.read("r", "x"))
    assert found.objects[0].error == "object x is not in this store"


def test_pull_of_spilled_object_reads_its_file_and_keeps_it_while_read():
    s = Store(capacity=MIB)
    s.put("w", "a")
    s.new("w", "b")  # spills a
    s.spilled("a", True, 0.0)
    source = s.open_pull("peer", "a")
    assert source == FileSource(MIB)
    s.delete(["a"], 0.0)
    assert "a" in s.core.entries  # still being read from disk
    assert s.end_pull("peer", "a", source, 0.0) == [DropSpill("a")]
    assert "a" not in s.core.entries
    s.seal("w", "b", 0.0)
    src = s.open_pull("peer", "b")
    assert src == ArenaSource(0, MIB) and s.core.pinned == 1
    s.end_pull("peer", "b", src, 0.0)
    assert s.core.pinned == 0


def test_illegal_transition_raises_and_changes_nothing():
    s = Store()
    s.put("w", "a")
    entry = s.core.entries["a"]
    with pytest.raises(IllegalObjectTransition, match="SEALED -> RESTORING"):
        entry.move(ObjState.RESTORING)
    assert entry.state is ObjState.SEALED


def test_failed_spill_keeps_the_object():
    s = Store(capacity=MIB)
    s.put("w", "a")
    s.new("w", "b")
    assert s.spilled("a", False, 0.0) == []  # no retry at once (a full disk stays full)
    assert s.core.entries["a"].state is ObjState.SEALED
    assert s.tick(6.0) == [SpillOut("a", 0, MIB)]


def test_allocator_first_fit_and_coalescing():
    a = Allocator(10 * ALIGN)
    x, y, z = a.alloc(ALIGN), a.alloc(2 * ALIGN), a.alloc(1)
    assert (x, y, z) == (0, ALIGN, 3 * ALIGN)
    a.free(y, 2 * ALIGN)
    a.validate()
    assert a.alloc(ALIGN) == ALIGN  # first fit reuses the hole
    a.free(x, ALIGN)
    a.free(ALIGN, ALIGN)
    a.free(z, 1)
    a.validate()
    assert a.free_blocks() == [(0, 10 * ALIGN)] and a.used == 0
    assert a.alloc(11 * ALIGN) is None


def test_random_operations_keep_every_invariant():
    rng = random.Random(7)
    s = Store(capacity=8 * MIB, timeout=1.0)
    now = 0.0
    live: set[str] = set()
    for step in range(3000):
        now += 0.01
        op = rng.random()
        client = f"c{rng.randrange(4)}"
        if op < 0.3:
            oid = f"o{step}"
            for eff in s.new(client, oid, rng.randrange(1, 2 * MIB), rng.random() < 0.8, now):
                if isinstance(eff, Reply) and isinstance(eff.event, w.Created):
                    live.add(oid)
            if oid in s.core.entries and rng.random() < 0.9:
                s.seal(client, oid, now)
        elif op < 0.5 and live:
            s.read(client, rng.choice(sorted(live)))
        elif op < 0.65:
            pins = s.core._client_pins.get(client, {})
            if pins:
                s.release(client, [rng.choice(sorted(pins))], now)
        elif op < 0.75 and live:
            oid = rng.choice(sorted(live))
            s.delete([oid], now)
            live.discard(oid)
        elif op < 0.85:
            for oid, e in list(s.core.entries.items()):
                if e.state is ObjState.SPILLING:
                    s.spilled(oid, rng.random() < 0.9, now)
                elif e.state is ObjState.RESTORING:
                    s.restored(oid, rng.random() < 0.9, now)
        elif op < 0.87:
            s.client_gone(client, now)
        else:
            s.tick(now)
    for client in ("c0", "c1", "c2", "c3"):
        s.client_gone(client, now)
    for oid, e in list(s.core.entries.items()):
        if e.state is ObjState.SPILLING:
            s.spilled(oid, True, now)
        elif e.state is ObjState.RESTORING:
            s.restored(oid, True, now)
    s.delete(list(s.core.entries), now)
    assert s.core.entries == {} and s.core.stats().used == 0


def test_prefill_backs_the_arena_ahead_of_writers_up_to_a_limit():
    s = Store(capacity=4 * MIB)
    assert s.prefill(2 * MIB) == [Populate(0, MIB)]
    assert s.prefill(2 * MIB) == [Populate(MIB, 2 * MIB)]
    assert s.prefill(2 * MIB) == []
    effects = s.new("w", "a", MIB)  # inside what is backed already: nothing to populate
    assert not any(isinstance(e, Populate) for e in effects)


def test_a_range_is_handed_out_only_once_the_shell_has_backed_it():
    s = Store(capacity=16 * MIB, backing=False)
    effects = s.new("w", "a", MIB)
    assert effects == [Populate(0, MIB)]  # no Created yet: its range is not backed
    assert s.core.stats().populated == 0
    s.rid += 1
    lease = s.lease("w", s.rid, MIB)  # the next range: its own Populate, held back too
    assert lease == [Populate(MIB, 2 * MIB)]
    # backed out of order: the lease goes out at once, not behind the range below it
    assert replies(s.backing_done(MIB, 2 * MIB)) == [w.Leased(2, 1, MIB, MIB, fresh=True)]
    assert s.core.stats().populated == 0  # counted from the arena's start up
    assert replies(s.backing_done(0, MIB)) == [w.Created(1, 0, fresh=True)]
    assert s.core.stats().populated == 2 * MIB
    assert s.backing_done(0, MIB) == []  # a report twice changes nothing


def test_a_range_that_straddles_two_backings_waits_for_both():
    s = Store(capacity=8 * MIB, backing=False)
    assert s.prefill(4 * MIB) == [Populate(0, MIB)]  # a step ahead, being backed
    s.new("w", "a", MIB // 2)  # [0, 512K): inside the step
    effects = s.new("w", "b", MIB)  # [512K, 1.5M): half in the step, half its own
    assert effects == [Populate(MIB, MIB + MIB // 2)]
    assert replies(s.backing_done(MIB, MIB + MIB // 2)) == []  # its first half is not backed
    done = replies(s.backing_done(0, MIB))
    assert done == [w.Created(1, 0, fresh=True), w.Created(2, MIB // 2, fresh=True)]


def test_a_range_backed_in_the_background_is_awaited_not_backed_twice():
    s = Store(capacity=8 * MIB, backing=False)
    assert s.prefill(4 * MIB) == [Populate(0, MIB)]  # the shell is backing it meanwhile
    assert s.new("w", "a", 1000) == []  # inside that range: nothing more to back, held back
    assert replies(s.backing_done(0, MIB)) == [w.Created(1, 0, fresh=True)]


def test_backing_lets_each_held_effect_out_once_when_all_of_its_range_is_backed():
    """Random asks and background steps, backings reported in any order (some twice): every
    held effect goes out exactly once, as soon as (and only once) each byte of its range is
    backed."""
    import random

    from pymesos_rt.objects.backing import Backing

    for seed in range(100):
        rng = random.Random(seed)
        backing = Backing(64 * MIB, step=MIB)
        pending: list[Populate] = []
        done: list[tuple[int, int]] = []  # ranges reported backed
        out: dict[int, tuple[int, int]] = {}  # effect id -> its range, once let out
        ranges: dict[int, tuple[int, int]] = {}

        def covered(lo: int, hi: int) -> bool:
            pos = lo
            for a, b in sorted(done):
                if a <= pos < b:
                    pos = b
            return pos >= hi

        def let_out(effects) -> None:
            for eff in effects:
                assert eff.event not in out, "let out twice"
                lo, hi = ranges[eff.event]
                assert covered(lo, hi), "let out before its range was backed"
                out[eff.event] = (lo, hi)

        for n in range(60):
            roll = rng.random()
            if roll < 0.4:
                offset = rng.randrange(0, 48 * MIB, 64)
                size = rng.randrange(64, 4 * MIB, 64)
                pending += backing.ask(offset, size)
                ranges[n] = (offset, offset + size)
                let_out(backing.once_backed(offset, offset + size, Reply("c", n)))
            elif roll < 0.55:
                pending += backing.prefill(backing.populated + 2 * MIB)
            elif pending:
                eff = pending.pop(rng.randrange(len(pending)))
                done.append((eff.start, eff.upto))
                let_out(backing.done(eff.start, eff.upto))
                if rng.random() < 0.2:
                    assert backing.done(eff.start, eff.upto) == []  # reported twice
            backing.validate([])
            for n_held, (lo, hi) in ranges.items():  # nothing backed is still held back
                assert n_held in out or not covered(lo, hi), f"seed {seed}: held though backed"
        while pending:
            eff = pending.pop(rng.randrange(len(pending)))
            done.append((eff.start, eff.upto))
            let_out(backing.done(eff.start, eff.upto))
        assert set(out) == set(ranges), f"seed {seed}: held forever"
        assert backing.backed == backing.populated
