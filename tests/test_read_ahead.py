"""``ReadAhead``: a ``get`` of several refs reads stored values while it waits for the rest;
large ones on reader threads (their copies overlap), small ones on the waiting thread."""

from __future__ import annotations

import threading

import pytest

from pymesos_rt.client.refs import ReadAhead, _Readers
from pymesos_rt.protocol.objects import ObjectLocation

BIG = ReadAhead.PARALLEL_MIN


class Backend:
    """Loads record the thread they ran on; "bad" fails the first time it is read."""

    def __init__(self) -> None:
        self.threads: dict[str, str] = {}
        self.loads = 0
        self.failed = False

    def load(self, oid: str, location: ObjectLocation) -> bytes:
        self.loads += 1
        self.threads[oid] = threading.current_thread().name
        if oid == "bad" and not self.failed:
            self.failed = True
            raise OSError("first read of bad fails")
        return oid.encode() * 2


def _at(size: int) -> ObjectLocation:
    return ObjectLocation("store", "agent", "127.0.0.1:1", size)


def test_large_values_are_read_on_reader_threads_small_ones_here():
    backend = Backend()
    ahead = ReadAhead(backend)  # type: ignore[arg-type]
    ahead.read("big", _at(BIG))
    ahead.read("small", _at(100))
    ahead.read("big", _at(BIG))  # read once
    assert ahead.value("big", _at(BIG), backend) == b"bigbig"  # type: ignore[arg-type]
    assert ahead.value("small", _at(100), backend) == b"smallsmall"  # type: ignore[arg-type]
    assert backend.threads["big"].startswith("pymesos-rt-read-")
    assert backend.threads["small"] == threading.current_thread().name
    assert backend.loads == 2
    # a second place of the same ref reads it again, as without reading ahead
    assert ahead.value("big", _at(BIG), backend) == b"bigbig"  # type: ignore[arg-type]
    assert backend.loads == 3


def test_a_read_that_failed_ahead_is_done_again_in_order():
    backend = Backend()
    ahead = ReadAhead(backend)  # type: ignore[arg-type]
    ahead.read("bad", _at(BIG))
    assert ahead.value("bad", _at(BIG), backend) == b"badbad"  # type: ignore[arg-type]
    assert backend.loads == 2


def test_a_read_that_fails_again_raises_where_its_value_is_taken():
    class Broken(Backend):
        def load(self, oid: str, location: ObjectLocation) -> bytes:
            raise OSError(f"cannot read {oid}")

    backend = Broken()
    ahead = ReadAhead(backend)  # type: ignore[arg-type]
    ahead.read("x", _at(BIG))
    with pytest.raises(OSError, match="cannot read x"):
        ahead.value("x", _at(BIG), backend)  # type: ignore[arg-type]


def test_a_forked_child_reads_on_threads_of_its_own():
    import os

    ahead = ReadAhead(Backend())  # type: ignore[arg-type]
    ahead.read("before", _at(BIG))  # the parent's readers exist now
    assert _Readers._queue is not None
    pid = os.fork()
    if pid == 0:  # the child: a read ahead must not wait for the parent's threads
        code = 1
        try:
            if _Readers._queue is not None:  # the parent's queue: its readers are gone
                os._exit(3)
            backend = Backend()
            child = ReadAhead(backend)  # type: ignore[arg-type]
            child.read("x", _at(BIG))
            got = child._values["x"].result(timeout=30)
            code = 0 if got == b"xx" else 2
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0


def test_close_drops_reads_not_started():
    started = threading.Event()
    release = threading.Event()

    class Slow(Backend):
        def load(self, oid: str, location: ObjectLocation) -> bytes:
            started.set()
            release.wait(30)
            return super().load(oid, location)

    backend = Slow()
    ahead = ReadAhead(backend)  # type: ignore[arg-type]
    for oid in ("a", "b", "c"):  # two readers: "c" waits for one of them
        ahead.read(oid, _at(BIG))
    assert started.wait(30)
    pending = ahead._values["c"]
    ahead.close()
    release.set()
    assert pending.cancelled()
