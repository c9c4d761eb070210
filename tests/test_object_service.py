"""The object store's shell with real sockets, in one process: the unix socket (a client maps
the arena), the TCP endpoint (pull, push, the secret), pulls between two stores (in ranges over
several connections for a large object), spilling to disk and reading back."""

from __future__ import annotations

import gc
import logging
import mmap
import os
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from pymesos_rt.errors import ObjectLostError
from pymesos_rt.objects import access, arena, layout
from pymesos_rt.objects.access import StoreGone
from pymesos_rt.objects.client import RemoteStore, StoreClient
from pymesos_rt.objects.service import StoreService
from pymesos_rt.protocol import objects as w

MIB = 2**20
SECRET = "store-secret"


@pytest.fixture
def stores(tmp_path):
    made = []

    def make(capacity: int = 64 * MIB, name: str = "a", prefill: int = 0) -> StoreService:
        svc = StoreService(capacity, tmp_path / name / "spill", secret=SECRET, prefill=prefill)
        svc.start()
        svc.agent_id = f"agent-{name}"
        made.append(svc)
        return svc

    yield make
    for svc in made:
        svc.stop()


def _until(predicate, what: str, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.01)


def test_a_client_maps_the_arena_and_reads_in_place(stores):
    svc = stores()
    client = StoreClient.connect(svc.socket_name, svc.token, "executor")
    value = np.arange(MIB, dtype=np.float64)
    loc = access.put(client, "x", layout.encode(value))
    assert loc == w.ObjectLocation(svc.store_id, "agent-a", svc.address, loc.size)
    got = access.load(svc.local("driver"), "x")
    assert not got.flags.writeable
    assert np.shares_memory(got, np.frombuffer(svc.arena.view, np.uint8))
    assert (got == value).all()
    assert svc.stats().pinned == 1
    del got
    gc.collect()
    _until(lambda: svc.stats().pinned == 0, "the view's pin released")
    svc.validate()
    client.close()


def test_wrong_key_is_refused(stores):
    svc = stores()
    with pytest.raises(StoreGone, match="refused"):
        StoreClient.connect(svc.socket_name, "not-the-token", "intruder")
    with pytest.raises(ObjectLostError, match="refused this process"):
        RemoteStore(svc.address, "wrong secret").pull("x", 1)


def test_remote_push_and_pull_over_tcp(stores):
    svc = stores()
    remote = RemoteStore(svc.address, SECRET)
    value = np.arange(2 * MIB, dtype=np.float64)
    remote.push("pushed", layout.encode(value))
    assert svc.stats().objects == 1
    data = remote.pull("pushed", svc.stats().used)
    assert (layout.decode(data) == value).all()
    with pytest.raises(ObjectLostError, match="not in this store"):
        remote.pull("missing", 10)
    remote.delete(["pushed"])
    _until(lambda: svc.stats().objects == 0, "the object deleted")
    remote.close()


def test_a_store_pulls_from_another_in_ranges(stores):
    """40 MiB: over the parallel threshold, so four ranges over four connections."""
    a, b = stores(name="a"), stores(name="b")
    value = np.arange(40 * MIB // 8, dtype=np.float64)
    loc = access.put(a.local("producer"), "big", layout.encode(value))
    reader = b.local("consumer")
    got = access.load(reader, "big", loc)  # b pulls it from a, then maps its own copy
    assert (got == value).all()
    assert np.shares_memory(got, np.frombuffer(b.arena.view, np.uint8))
    assert b.stats().secondary == 1
    with pytest.raises(ObjectLostError, match="not in this store"):
        gone = w.ObjectLocation(a.store_id, "agent-a", a.address, 10)
        access.load(reader, "never-made", gone)
    a.validate()
    b.validate()


def test_spilled_objects_are_read_back_and_served_from_disk(stores):
    a = stores(capacity=24 * MIB, name="a")
    writer = a.local("writer")
    values = [np.full(MIB, i, dtype=np.float64) for i in range(5)]  # 40 MiB in a 24 MiB arena
    locs = [access.put(writer, f"o{i}", layout.encode(v)) for i, v in enumerate(values)]
    assert a.stats().spilled_total >= 2
    remote = RemoteStore(a.address, SECRET)
    first = remote.pull("o0", locs[0].size)  # spilled: sent from its file
    assert layout.decode(first)[0] == 0
    for i, v in enumerate(values):  # each read brings one back
        got = access.load(writer, f"o{i}")
        assert got[0] == i and len(got) == len(v)
        del got
    gc.collect()
    assert a.stats().restored >= 1
    a.validate()
    remote.close()


def test_large_bytes_go_out_of_band_without_a_copy_into_the_pickle():
    value = bytes(range(256)) * 4096  # 1 MiB
    enc = layout.encode(value)
    assert isinstance(enc, layout.Encoded) and len(enc.inband) < 100
    (buf,) = enc.buffers
    assert buf.obj is value  # the value's own memory, written once into the arena
    dst = bytearray(enc.size)
    layout.write(memoryview(dst), enc)
    back = layout.decode(memoryview(dst))
    assert type(back) is bytes and back == value


def test_fresh_bytes_is_a_copy_of_a_writable_or_read_only_source():
    region = mmap.mmap(-1, 2 * MIB)
    region[:] = bytes(range(256)) * (2 * MIB // 256)
    view = memoryview(region)
    got = arena.fresh_bytes(view[3 : 3 + MIB])  # copied without the GIL
    assert type(got) is bytes and got == bytes(view[3 : 3 + MIB])
    view[3:4] = b"\xff"  # the source changes; the copy does not
    assert got[0] == 3
    frozen = arena.fresh_bytes(view[:MIB].toreadonly())
    assert frozen == bytes(view[:MIB])
    del view
    region.close()


def test_a_bytes_value_is_copied_out_and_unpinned_at_once(stores):
    """A stored ``bytes`` is copied out (as in Ray) and its pin ends at once. Other values are
    views of the mapping; the reader maps nothing in advance (its views fault in as they are
    read)."""
    svc = stores()
    writer = svc.local("executor")
    value = bytes(range(256)) * 4096  # 1 MiB
    loc = access.put(writer, "b", layout.encode(value))
    array = np.arange(MIB // 8, dtype=np.float64)
    loc_array = access.put(writer, "n", layout.encode(array))
    reader = StoreClient.connect(svc.socket_name, svc.token, "driver")
    try:
        got = access.load(reader, "b", loc)
        assert type(got) is bytes and got == value
        _until(lambda: svc.stats().pinned == 0, "the bytes value's pin released")
        view = access.load(reader, "n", loc_array)
        assert (view == array).all() and not view.flags.writeable
        assert not any(reader.arena._mapped)  # chunks of the arena mapped in by the reader
        del view
    finally:
        reader.close()
        writer.close()


def test_fresh_ranges_are_written_through_the_descriptor_reused_ones_mapped_in(stores):
    """A writer copies into a range that never held data with pwrite (its pages would fault
    in one by one), small (in a lease) or large; into a range used before through the
    mapping, which it maps in first."""
    svc = stores()
    writer = StoreClient.connect(svc.socket_name, svc.token, "executor")
    reader = svc.local("driver")
    try:
        small = [access.put(writer, f"s{i}", layout.encode(b"%d" % i * MIB)) for i in range(3)]
        value = np.arange(5 * MIB // 8, dtype=np.float64)  # over LeasedSpace.MAX_OBJECT
        loc = access.put(writer, "a", layout.encode(value))
        assert not any(writer.arena._mapped)
        assert [access.load(reader, f"s{i}", x) for i, x in enumerate(small)] == [
            b"%d" % i * MIB for i in range(3)
        ]
        assert (access.load(reader, "a", loc) == value).all()
        reader.delete(["a"])
        _until(lambda: svc.stats().objects == 3, "the large object freed")
        again = access.put(writer, "a2", layout.encode(value + 1))  # where "a" was
        assert any(writer.arena._mapped)
        assert (access.load(reader, "a2", again) == value + 1).all()
    finally:
        writer.close()
        reader.close()


def test_map_in_maps_chunks_once_and_keeps_the_data():
    from pymesos_rt.objects.arena import CHUNK, Arena

    arena = Arena.create(8 * MIB)
    try:
        data = bytes(range(256)) * (3 * MIB // 256)
        os.pwrite(arena.fd, data, MIB)
        allocated = os.fstat(arena.fd).st_blocks
        arena.map_in(MIB, 3 * MIB)
        assert list(arena._mapped) == [0, 1, 0, 0]  # only [2, 4) MiB lies whole in the range
        assert os.fstat(arena.fd).st_blocks == allocated  # nothing read outside the range
        assert arena.view[MIB : 4 * MIB] == data
        arena.view[MIB : MIB + 4] = b"abcd"  # writable through the mapping
        assert os.pread(arena.fd, 4, MIB) == b"abcd"
        arena.map_in(4 * MIB, 2 * CHUNK)
        assert list(arena._mapped) == [0, 1, 1, 1]
    finally:
        arena.close()


def test_a_closed_arena_is_not_written_or_read_through_its_old_descriptor(stores):
    """Values go through the arena's descriptor: once closed it reads -1, never a number the
    process may have reused for another file."""
    svc = stores()
    client = StoreClient.connect(svc.socket_name, svc.token, "executor")
    assert client.fd == client.arena.fd >= 0
    client.close()
    assert client.fd == -1


def test_write_all_writes_every_piece_in_order(tmp_path):
    from pymesos_rt.objects.arena import Arena, write_all

    arena = Arena.create(4 * MIB)
    try:
        pieces = [bytes([i % 251]) * (i % 7) for i in range(1500)]  # more than one pwritev
        write_all(arena.fd, 100, [*pieces, memoryview(b"end")])
        data = b"".join(pieces) + b"end"
        assert bytes(arena.view[100 : 100 + len(data)]) == data
    finally:
        arena.close()


def test_the_store_backs_memory_ahead_of_its_highest_range(stores, monkeypatch):
    from pymesos_rt.objects import service

    monkeypatch.setattr(service, "PREFILL_BYTES", 8 * MIB)
    svc = stores(capacity=128 * MIB)
    client = svc.local("writer")
    assert svc.stats().populated == 0  # an unused store holds no memory
    access.put(client, "a", layout.encode(np.zeros(40 * MIB // 8)))  # backed to 64 MiB on grant
    access.put(client, "b", layout.encode(np.zeros(20 * MIB // 8)))  # ends near 60 MiB
    high = svc.core.alloc.high_water
    assert 60 * MIB < high < 61 * MIB
    # the grant needed nothing more; the store backs 8 MiB ahead of it in the background
    _until(lambda: svc.stats().populated >= high + 8 * MIB, "memory backed ahead of use")
    svc.validate()
    client.close()


def test_a_prefill_backs_that_much_of_the_arena_from_the_start_and_no_more(stores):
    svc = stores(capacity=64 * MIB, prefill=20 * MIB)
    _until(lambda: svc.stats().populated >= 20 * MIB, "the prefill backed")
    assert svc.stats().populated == 20 * MIB  # nothing handed out: nothing ahead of it
    client = svc.local("writer")
    value = np.arange(MIB // 8, dtype=np.float64)
    access.put(client, "x", layout.encode(value))  # inside the prefill: nothing more backed
    assert (access.load(client, "x") == value).all()
    assert svc.stats().populated == 20 * MIB
    svc.validate()
    client.close()


def _prefillers() -> set[threading.Thread]:
    return {t for t in threading.enumerate() if t.name == "store-prefill"}


def test_a_store_stopped_while_it_prefills_stops_its_prefill_first(tmp_path, caplog):
    before = _prefillers()
    svc = StoreService(512 * MIB, tmp_path / "spill", prefill=512 * MIB)
    svc.start()
    with caplog.at_level(logging.ERROR, logger="pymesos_rt.objects"):
        svc.stop()  # at once: the prefill is a few steps in at most
    assert _prefillers() <= before  # joined before the arena's descriptor closed
    assert not caplog.records  # so no step ran into a closed descriptor


def test_a_prefill_larger_than_the_store_is_refused():
    with pytest.raises(ValueError, match=r"prefill 65 is not within the store's 0\.\.64 bytes"):
        StoreService(64, Path("/nonexistent"), prefill=65)


def test_closing_an_arena_waits_for_a_call_that_uses_its_descriptor(monkeypatch):
    """A range backed on another thread (a client's request) while the store stops: the
    descriptor is not closed under it, so its number cannot go to another file meanwhile."""
    region = arena.Arena.create(4 * MIB, name="close-waits")
    fd = region.fd
    entered, release = threading.Event(), threading.Event()
    fallocate = os.posix_fallocate

    def held(descriptor: int, offset: int, length: int) -> None:
        entered.set()
        assert release.wait(10)
        fallocate(descriptor, offset, length)

    monkeypatch.setattr(os, "posix_fallocate", held)
    backing = threading.Thread(target=region.back, args=(0, MIB))
    backing.start()
    try:
        assert entered.wait(10)
        closing = threading.Thread(target=region.close)
        closing.start()
        _until(lambda: region.fd == -1, "close to begin")
        assert os.readlink(f"/proc/self/fd/{fd}") == "/memfd:close-waits (deleted)"  # open
        assert closing.is_alive()
        with pytest.raises(OSError, match="arena is closed"):  # no new call gets it
            region.back(MIB, 2 * MIB)
    finally:
        release.set()
        backing.join(10)
    closing.join(10)
    assert not closing.is_alive()
    try:
        now = os.readlink(f"/proc/self/fd/{fd}")
    except FileNotFoundError:
        now = "closed"
    assert now != "/memfd:close-waits (deleted)"  # closed (the number may serve another file)
