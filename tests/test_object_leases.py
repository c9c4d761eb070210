"""Leases of arena space (issue 11): a client places small objects in a range granted ahead,
with no round trip per object. The store core's side, ``validate()`` after every step, and the
client's side (:class:`LeasedSpace`) against a real store in this process."""

from __future__ import annotations

import random

import numpy as np
import pytest
from test_object_core import Store as CoreStore
from test_object_core import replies

from pymesos_rt.objects import access, layout
from pymesos_rt.objects.core import Populate, Reply
from pymesos_rt.objects.leases import SHARE, LeaseError
from pymesos_rt.objects.placing import LeasedSpace
from pymesos_rt.objects.service import StoreService
from pymesos_rt.protocol import objects as w

MIB = 2**20
CAP = 64 * MIB
LEASE = CAP // SHARE


class Store(CoreStore):
    """The core tests' store (validates after every call), with a larger arena."""

    def __init__(self, capacity: int = CAP, timeout: float = 10.0) -> None:
        super().__init__(capacity, timeout)

    def lease_for(self, client: str, want: int = LEASE) -> w.Leased:
        self.rid += 1
        (leased,) = replies(self.lease(client, self.rid, want))
        assert isinstance(leased, w.Leased)
        return leased

    def read(self, client: str, *oids: str, lease: int = 0):
        self.rid += 1
        here = w.ObjectLocation("store-here", "agent-1", "127.0.0.1:1", MIB, lease)
        return self.get(client, self.rid, [w.GetItem(o, here) for o in oids], 0.0)


def test_a_lease_is_granted_backed_by_memory_and_objects_are_born_sealed():
    s = Store()
    s.rid += 1
    effects = s.lease("w", s.rid, LEASE)
    assert isinstance(effects[0], Populate) and effects[0].upto >= LEASE
    (leased,) = replies(effects)
    assert leased == w.Leased(1, 1, 0, LEASE, fresh=True)
    assert s.core.stats().leased == LEASE and s.core.stats().used == 0
    assert s.seal_leased("w", leased.lease, "a", 0, 1000, 0.0) == []
    assert s.seal_leased("w", leased.lease, "b", 1024, MIB, 0.0) == []
    assert s.core.stats().used == 1024 + MIB and s.core.stats().objects == 2
    (found,) = replies(s.read("r", "b"))
    assert found.objects == [w.FoundObject("b", 1024, MIB)]
    s.end_lease("w", leased.lease, 0.0)  # the rest of the lease goes back
    assert s.core.stats().leased == 0 and s.core.alloc.used == 1024 + MIB
    s.release("r", ["b"], 0.0)
    s.delete(["a", "b"], 0.0)
    assert s.core.alloc.used == 0


def test_an_object_freed_before_its_lease_ends_is_not_freed_twice():
    s = Store()
    lease = s.lease_for("w").lease
    s.seal_leased("w", lease, "a", 0, MIB, 0.0)
    s.delete(["a"], 0.0)
    assert s.core.alloc.used == LEASE - MIB  # the object's range is free, the rest leased
    s.end_lease("w", lease, 0.0)
    assert s.core.alloc.used == 0


@pytest.mark.parametrize(
    ("client", "offset", "size", "why"),
    [
        ("other", 0, 10, "not held by other"),
        ("w", 32, 10, "not inside lease"),  # unaligned
        ("w", LEASE - 64, 1000, "not inside lease"),  # runs past its end
        ("w", 0, 100, "already used"),  # runs into "a"
        ("w", 1024 - 64, 100, "already used"),  # starts inside "a"
    ],
)
def test_a_report_outside_the_lease_is_refused_and_changes_nothing(client, offset, size, why):
    s = Store()
    lease = s.lease_for("w").lease
    s.seal_leased("w", lease, "a", 64, 900, 0.0)  # [64, 1024)
    before = (s.core.stats(), dict(s.core.entries))
    with pytest.raises(LeaseError, match=why):
        s.core.seal_leased(client, lease, "b", offset, size, 0.0)
    s.core.validate()
    assert (s.core.stats(), dict(s.core.entries)) == before


def test_client_gone_frees_what_it_never_sealed():
    s = Store()
    one, two = s.lease_for("w").lease, s.lease_for("w").lease
    s.seal_leased("w", one, "a", 0, MIB, 0.0)
    s.client_gone("w", 0.0)  # wrote more, sealed nothing else: all of that comes back
    assert s.core.leases.by_id == {} and s.core.alloc.used == MIB
    assert two != one


def test_a_read_that_overtakes_the_seal_waits_for_it():
    s = Store()
    lease = s.lease_for("w").lease
    assert replies(s.read("r", "a", lease=lease)) == []  # seal still on its way
    (found,) = replies(s.seal_leased("w", lease, "a", 0, MIB, 0.0))
    assert found.objects == [w.FoundObject("a", 0, MIB)]
    # a lease that ends without the object answers its readers with why
    assert replies(s.read("r", "never", lease=lease)) == []
    (found,) = replies(s.end_lease("w", lease, 0.0))
    assert "never was never sealed" in found.objects[0].error
    # with no live lease named, an unknown object is lost at once
    (found,) = replies(s.read("r", "gone", lease=lease))
    assert found.objects[0].error == "object gone is not in this store"


def test_a_retry_sealing_an_existing_object_gives_its_range_back():
    s = Store()
    lease = s.lease_for("w").lease
    s.seal_leased("w", lease, "a", 0, MIB, 0.0)
    s.seal_leased("w", lease, "a", MIB, MIB, 0.0)
    assert s.core.entries["a"].offset == 0
    s.end_lease("w", lease, 0.0)
    assert s.core.alloc.used == MIB


def test_leases_are_refused_when_room_is_short_and_recalled_for_a_waiting_create():
    s = Store()
    held = [s.lease_for(f"w{i}") for i in range(5)]
    assert [h.size for h in held] == [LEASE] * 4 + [0]  # at most a quarter of the arena leased
    for i in range(44):  # fill the arena to 60 of 64 MiB
        s.rid += 1
        s.create("c", s.rid, f"o{i}", MIB, True, 0.0)
        s.seal("c", f"o{i}", 0.0)
    assert s.lease_for("w9").size == 0  # less than a quarter would be left free
    s.seal_leased("w0", held[0].lease, "x", held[0].offset, LEASE, 0.0)  # w0's is all used
    s.rid += 1
    effects = s.create("c", s.rid, "big", 6 * MIB, True, 0.0)  # does not fit: leases recalled
    recalls = {(e.client, e.event.lease) for e in effects if isinstance(e, Reply)}
    assert recalls == {(f"w{i}", held[i].lease) for i in (1, 2, 3)}
    assert s.lease_for("w9").size == 0  # never while a create waits
    s.end_lease("w1", held[1].lease, 0.0)
    (created,) = replies(s.end_lease("w2", held[2].lease, 0.0), w.Created)
    assert created.request_id == s.rid - 1


def test_random_lease_operations_keep_every_invariant():
    rng = random.Random(11)
    s = Store(capacity=16 * MIB, timeout=1.0)
    now = 0.0
    leases: dict[str, list[list[int]]] = {}  # client -> [lease id, cursor, end]
    for step in range(3000):
        now += 0.01
        client = f"c{rng.randrange(3)}"
        op = rng.random()
        mine = leases.setdefault(client, [])
        if op < 0.15:
            s.rid += 1
            for leased in replies(s.lease(client, s.rid, rng.randrange(1, 2 * MIB)), w.Leased):
                if leased.size:
                    mine.append([leased.lease, leased.offset, leased.offset + leased.size])
        elif op < 0.55 and mine:
            held = rng.choice(mine)
            size = rng.randrange(1, MIB // 2)
            if held[1] + size <= held[2]:
                if rng.random() < 0.9:
                    s.seal_leased(client, held[0], f"o{step}", held[1], size, now)
                held[1] += (size + 63) // 64 * 64
        elif op < 0.65 and mine:
            s.end_lease(client, mine.pop(rng.randrange(len(mine)))[0], now)
        elif op < 0.75:
            s.rid += 1
            s.create(client, s.rid, f"n{step}", rng.randrange(1, 3 * MIB), True, now)
            s.seal(client, f"n{step}", now)
        elif op < 0.85 and s.core.entries:
            s.delete([rng.choice(sorted(s.core.entries))], now)
        elif op < 0.88:
            s.client_gone(client, now)
            mine.clear()
        else:
            for oid, e in list(s.core.entries.items()):
                if e.state.value == "SPILLING":
                    s.spilled(oid, True, now)
            s.tick(now)
    for client in leases:
        s.client_gone(client, now)
    for oid, e in list(s.core.entries.items()):
        if e.state.value == "SPILLING":
            s.spilled(oid, True, now)
    s.delete(list(s.core.entries), now)
    assert s.core.entries == {} and s.core.alloc.used == 0


# --- the client's side, against a real store in this process --------------------------------


@pytest.fixture
def service(tmp_path):
    svc = StoreService(CAP, tmp_path / "spill", secret="s")
    svc.start()
    yield svc
    svc.stop()


def test_puts_go_into_leases_without_a_create_each(service):
    # no backing ahead in the background: a lease granted in a range still being backed
    # arrives only once it is, and puts meanwhile would go one by one
    service._prefill_limit = lambda: 0
    client = service.local("executor")
    creates = 0
    create = client.create

    def counting(*args, **kwargs):
        nonlocal creates
        creates += 1
        return create(*args, **kwargs)

    client.create = counting  # type: ignore[method-assign]
    value = np.arange(MIB // 8, dtype=np.float64)
    locs = [access.put(client, f"o{i}", layout.encode(value)) for i in range(20)]
    assert creates == 1  # the first put, while its lease was asked for
    assert client.space.carved == 19
    assert {loc.lease for loc in locs[1:]} >= {1} and locs[0].lease == 0
    reader = service.local("reader")
    for i, loc in enumerate(locs):
        assert (access.load(reader, f"o{i}", loc) == value).all()
    service.validate()
    client.close()  # its leases end with it: only the objects stay
    stats = service.stats()
    assert stats.leased == 0 and stats.objects == 20
    assert service.core.alloc.used == sum(-(-loc.size // 64) * 64 for loc in locs)
    reader.close()


def test_objects_over_the_lease_limit_are_created_one_by_one(service):
    client = service.local("executor")
    big = np.zeros((LeasedSpace.MAX_OBJECT + MIB) // 8)
    assert access.put(client, "big", layout.encode(big)).lease == 0
    assert client.space.carved == 0
    client.close()


def test_a_recalled_lease_is_ended_by_its_client(service):
    client = service.local("executor")
    small = np.ones(MIB // 8)
    access.put(client, "first", layout.encode(small))  # asks for a lease
    access.put(client, "second", layout.encode(small))  # placed in it
    assert service.stats().leased > 0
    filler = service.local("filler")
    huge = np.ones((CAP - 3 * MIB) // 8)  # fits only once the lease is back
    access.put(filler, "huge", layout.encode(huge))
    assert service.stats().leased == 0
    service.validate()
    client.close()
    filler.close()
