"""The driver's object table: completion, blocking reads, wait, and lifetime."""

from __future__ import annotations

import threading
import time

import pytest

from pymesos_rt.scheduler.objects import FAILED, PENDING, READY, ObjectTable


@pytest.fixture
def table() -> ObjectTable:
    return ObjectTable()


def _in_thread(fn, *args):
    """Run ``fn(*args)`` in a thread; returns (thread, result list)."""
    out: list = []
    t = threading.Thread(target=lambda: out.append(fn(*args)))
    t.start()
    return t, out


# --- completion and reading -------------------------------------------------------------------


def test_complete_once(table):
    table.create("a")
    assert table.peek("a") == (PENDING, b"")
    assert table.complete("a", READY, b"1")
    assert not table.complete("a", FAILED, b"2")
    assert table.peek("a") == (READY, b"1")
    assert not table.complete("unknown", READY, b"")
    assert table.peek("unknown") is None


def test_get_many_of_done_objects_returns_at_once(table):
    table.put("a", b"1")
    table.create("b")
    table.complete("b", FAILED, b"err")
    assert table.get_many(["a", "b", "a"], timeout=0) == [
        (READY, b"1"),
        (FAILED, b"err"),
        (READY, b"1"),
    ]


def test_get_many_times_out_with_none(table):
    table.put("a", b"1")
    table.create("b")
    assert table.get_many(["a", "b"], timeout=0.01) is None
    # the timed-out waiter is gone: completing later still works
    assert table.complete("b", READY, b"2")
    assert table.get_many(["a", "b"], timeout=0) == [(READY, b"1"), (READY, b"2")]


def test_get_many_of_unknown_object_raises(table):
    with pytest.raises(KeyError, match="object x is unknown here"):
        table.get_many(["x"], timeout=0)


def test_complete_from_another_thread_wakes_get_many(table):
    table.create("a")
    table.create("b")
    completer = threading.Thread(
        target=lambda: (table.complete("a", READY, b"1"), table.complete("b", READY, b"2"))
    )
    completer.start()
    try:
        assert table.get_many(["a", "b"], timeout=10.0) == [(READY, b"1"), (READY, b"2")]
    finally:
        completer.join()


def test_several_threads_wait_for_one_object(table):
    table.create("a")
    waiters = [_in_thread(table.get_many, ["a"], 10.0) for _ in range(4)]
    table.complete("a", READY, b"v")
    for t, out in waiters:
        t.join()
        assert out == [[(READY, b"v")]]


def test_wait_returns_once_num_returns_are_done(table):
    for oid in ("a", "b", "c"):
        table.create(oid)
    table.complete("a", READY, b"")
    assert table.wait(["a", "b", "c"], num_returns=1, timeout=None) == {"a"}
    assert table.wait(["a", "b", "c"], num_returns=2, timeout=0) == {"a"}
    assert table.wait(["a", "b", "c"], num_returns=2, timeout=0.01) == {"a"}
    t, out = _in_thread(table.wait, ["a", "b", "c"], 2, 10.0)
    table.complete("c", FAILED, b"err")
    t.join()
    assert out == [{"a", "c"}]
    assert table.peek("b") == (PENDING, b"")


def test_wait_answers_the_first_done_in_the_callers_order(table):
    table.create("a")
    table.put("b", b"")
    table.create("c")
    table.put("d", b"")
    assert table.wait(["d", "c", "b", "a"], num_returns=1, timeout=0) == {"d"}
    assert table.wait(["a", "b", "c", "d"], num_returns=1, timeout=0) == {"b"}
    assert table.wait(["a", "b", "c", "d"], num_returns=4, timeout=0) == {"b", "d"}
    assert table.wait(["a", "b"], num_returns=0, timeout=None) == set()
    with pytest.raises(KeyError, match="object zz is unknown here"):
        table.wait(["a", "zz"], num_returns=1, timeout=0)


def test_wait_leaves_no_waiter_behind(table):
    """A timed-out wait on many pending objects unhooks itself from every one of them."""
    oids = [f"o{i}" for i in range(1000)]
    for oid in oids:
        table.create(oid)
    assert table.wait(oids, num_returns=1, timeout=0.01) == set()
    table.complete("o500", READY, b"")
    t, out = _in_thread(table.wait, oids, 2, 10.0)
    table.complete("o7", READY, b"")
    t.join()
    assert out == [{"o7", "o500"}]
    assert all(not table._entries[oid].waiters for oid in oids)


def test_on_done_runs_now_or_on_completion(table):
    calls = []
    table.put("a", b"1")
    table.on_done("a", lambda *args: calls.append(args))
    assert calls == [("a", READY, b"1")]
    table.create("b")
    table.on_done("b", lambda *args: calls.append(args))
    assert calls == [("a", READY, b"1")]
    table.complete("b", FAILED, b"e")
    assert calls == [("a", READY, b"1"), ("b", FAILED, b"e")]


def test_fail_all_pending(table):
    table.put("a", b"1")
    table.create("b")
    table.create("c")
    table.fail_all_pending(b"shutdown")
    assert [table.peek(o) for o in ("a", "b", "c")] == [
        (READY, b"1"),
        (FAILED, b"shutdown"),
        (FAILED, b"shutdown"),
    ]


# --- lifetime ---------------------------------------------------------------------------------


def test_release_frees_done_objects(table):
    table.put("a", b"1")
    table.add_ref("a")
    table.release("a")
    assert table.drain_freed() == []
    table.release("a")
    assert table.drain_freed() == ["a"]
    assert table.drain_freed() == []
    assert table.peek("a") is None
    assert len(table) == 0


def test_pending_objects_are_freed_when_they_complete(table):
    table.create("a")
    table.release("a")
    assert table.drain_freed() == []
    assert len(table) == 1
    table.complete("a", READY, b"1")
    assert table.drain_freed() == ["a"]


def test_pins_keep_objects_alive(table):
    table.put("a", b"1")
    table.put("b", b"2")
    table.pin(["a", "b", "a", "unknown"])
    table.release("a")
    table.release("b")
    assert table.drain_freed() == []
    table.unpin(["a", "b", "unknown"])
    assert table.drain_freed() == ["b"]
    table.unpin(["a"])
    assert table.drain_freed() == ["a"]


def test_escaped_objects_are_never_freed_here(table):
    table.put("a", b"1")
    table.escape("a")
    table.release("a")
    assert table.drain_freed() == []
    assert table.peek("a") == (READY, b"1")
    table.put("b", b"2", refs=0, escaped=True)
    assert len(table) == 2


def test_lifetime_calls_on_unknown_ids_are_ignored(table):
    table.add_ref("x")
    table.release("x")
    table.escape("x")
    assert table.drain_freed() == []


def test_release_never_waits_for_the_lock(table):
    """ObjectRef.__del__ calls release from inside any allocation, including one made while
    this thread holds the table's lock (a garbage collection in the middle of create): it must
    queue, not wait for the lock, which would wait for itself forever."""
    table.put("a", b"1")
    done = threading.Event()

    def finalizer_inside_a_locked_call() -> None:
        with table._lock:
            table.release("a")
        done.set()

    threading.Thread(target=finalizer_inside_a_locked_call, daemon=True).start()
    assert done.wait(10)
    assert table.drain_freed() == ["a"]


# --- progress and interrupts ------------------------------------------------------------------


def test_get_many_reports_progress_while_it_waits(table):
    for oid in "abc":
        table.create(oid)
    table.put("d", b"4")
    seen: list[int] = []

    def report(done: int) -> None:
        seen.append(done)
        if len(seen) == 1:  # the first report: complete the rest from here
            for oid in "bc":
                table.complete(oid, READY, b"x")

    table.complete("a", READY, b"1")
    found = table.get_many(list("abcd"), 5.0, report)
    assert found is not None and [s for s, _ in found] == [READY] * 4
    assert seen[0] == 2 and seen[-1] == 4 and seen == sorted(seen)  # d was done before


def _loc(oid: str):
    from pymesos_rt.protocol.objects import ObjectLocation

    return ObjectLocation("store-1", "agent-1", "127.0.0.1:1", 100 + len(oid))


def test_get_many_hands_stored_objects_to_read_as_they_complete(table):
    """A get of several objects reads stored ones on its own thread while it still waits for
    others: first those done already, then each as it completes (inline ones are not handed)."""
    for oid in "bcd":
        table.create(oid)
    table.put("a", _loc("a"))
    table.put("i", b"inline")
    me = threading.get_ident()
    read: list[str] = []

    def reading(oid, location) -> None:
        assert threading.get_ident() == me and location == _loc(oid)
        read.append(oid)
        if oid == "a":  # while this get waits: b completes (stored), then c (inline)
            table.complete("b", READY, _loc("b"))
            table.complete("c", READY, b"inline")
        elif oid == "b":
            table.complete("d", READY, _loc("d"))  # the last: nothing left to wait for

    found = table.get_many(list("aibcd"), 5.0, None, reading)
    assert read == ["a", "b"]  # d completed last: the caller reads it, as without reading ahead
    values = [_loc("a"), b"inline", _loc("b"), b"inline", _loc("d")]
    assert found == [(READY, v) for v in values]


def test_a_thread_running_the_loop_leaves_it_to_read_a_stored_object(table):
    """With a loop runner, the waiting thread runs the loop until a stored object arrives,
    then leaves the loop (to the loop's own thread) and reads it while the rest are made."""
    table.create("a")
    table.create("b")
    steps: list[str] = []

    class Runner:
        def wait_for(self, waiter, deadline):
            waiter.wake = lambda: steps.append("loop stopped")
            try:  # loop code on this thread: a stored result arrives
                table.complete("a", READY, _loc("a"))
            finally:
                waiter.wake = None
            return True if waiter.event.is_set() else None

        def waiting(self, delta: int) -> None:
            steps.append(f"waiting {delta:+d}")

    def reading(oid, location) -> None:
        steps.append(f"read {oid}")
        table.complete("b", READY, b"inline")  # the loop's own thread, meanwhile

    table.runner = Runner()
    found = table.get_many(["a", "b"], 5.0, None, reading)
    assert found == [(READY, _loc("a")), (READY, b"inline")]
    assert steps == ["loop stopped", "waiting +1", "read a", "waiting -1"]


def test_get_many_of_done_objects_reads_nothing_ahead(table):
    table.put("a", _loc("a"))
    table.put("b", _loc("b"))
    read: list[str] = []
    assert table.get_many(["a", "b"], 0, None, lambda oid, loc: read.append(oid)) is not None
    assert read == []  # nothing to wait for: nothing to overlap


def test_get_many_reading_ahead_still_times_out(table):
    table.create("a")
    table.create("b")
    table.complete("a", READY, _loc("a"))
    read: list[str] = []
    assert table.get_many(["a", "b"], 0.01, None, lambda oid, loc: read.append(oid)) is None
    assert read == ["a"]
    assert table.complete("b", READY, b"2")  # no waiter left behind


def test_wait_reports_progress_up_to_num_returns(table):
    for oid in "abc":
        table.create(oid)
    seen: list[int] = []

    def report(done: int) -> None:
        seen.append(done)
        if len(seen) <= 2:
            table.complete("abc"[len(seen) - 1], READY, b"x")

    assert table.wait(list("abc"), 2, 5.0, report) == {"a", "b"}
    assert seen[-1] == 2


def test_an_interrupted_get_leaves_no_waiter_behind(table):
    table.create("a")

    def interrupt(done: int) -> None:
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        table.get_many(["a"], None, interrupt)
    with pytest.raises(KeyboardInterrupt):
        table.wait(["a"], 1, None, interrupt)
    assert table.unneeded(["a"]) == ["a"]  # nothing waits on it any more


def test_unneeded_objects_are_pending_ones_nothing_else_waits_for(table):
    for oid in ("free", "pinned", "escaped", "awaited", "watched", "done"):
        table.create(oid)
    table.pin(["pinned"])  # an argument of an unfinished task
    table.escape("escaped")  # a reference left this process
    table.on_done("watched", lambda *_: None)  # a future or as_completed waits on it
    table.complete("done", READY, b"")
    waiter, _ = _in_thread(table.get_many, ["awaited"], 10.0)
    deadline = time.monotonic() + 10
    while table.unneeded(["awaited"]) and time.monotonic() < deadline:
        time.sleep(0.001)  # until the other thread's get is registered
    everything = ["free", "pinned", "escaped", "awaited", "watched", "done", "free", "gone"]
    assert table.unneeded(everything) == ["free"]
    table.complete("awaited", READY, b"")
    waiter.join(10)


# --- borrowers and holders ----------------------------------------------------------------------


def test_borrowed_object_lives_until_the_last_borrower_drops_it(table):
    table.put("a", b"1")
    table.borrow("e1", ["a"])
    table.borrow("e2", ["a"])
    table.borrow("e2", ["a"])
    table.release("a")  # the driver's own ref
    assert table.drain_freed() == []
    table.unborrow("e1", ["a"])
    table.unborrow("e2", ["a"])
    assert table.drain_freed() == []
    table.unborrow("e2", ["a"])
    assert table.drain_freed() == ["a"]


def test_executor_gone_drops_its_borrows(table):
    table.create("t", refs=0, borrower="e1")  # a nested task's result, held by its submitter
    table.complete("t", READY, b"x")
    assert table.drain_freed() == []
    table.drop_borrower("e1")
    assert table.drain_freed() == ["t"]


def test_value_holds_the_objects_it_references(table):
    table.put("inner", b"i")
    table.put("outer", b"o", contained=["inner"])
    table.release("inner")
    assert table.drain_freed() == []
    table.release("outer")
    assert table.drain_freed() == ["outer", "inner"]


def test_result_containing_refs_holds_them(table):
    table.create("r")
    table.put("inner", b"i", refs=0, borrower="e1")
    table.complete("r", READY, b"v", contained=["inner"])
    table.unborrow("e1", ["inner"])  # the executor dropped its ref after returning it
    assert table.drain_freed() == []
    table.release("r")
    assert table.drain_freed() == ["r", "inner"]


def test_a_long_chain_of_holders_frees_without_recursion(table):
    n = 50_000
    table.put("o0", b"0")
    for i in range(1, n):
        table.put(f"o{i}", b"x", contained=[f"o{i - 1}"])
        table.release(f"o{i - 1}")
    table.release(f"o{n - 1}")
    assert len(table.drain_freed()) == n
    assert len(table) == 0


def test_stored_objects_are_reported_when_freed(table):
    from pymesos_rt.protocol.objects import ObjectLocation

    loc = ObjectLocation("store-1", "agent-1", "127.0.0.1:1", 100)
    table.put("s", loc)
    table.put("i", b"inline")
    table.release("s")
    table.release("i")
    assert table.drain_dropped() == [("s", loc)]
