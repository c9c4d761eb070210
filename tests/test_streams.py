"""The driver's generator streams: items in order, first report wins, errors end the stream,
owned items are released when the generator is dropped."""

from __future__ import annotations

import threading

from pymesos_rt.protocol import messages as m
from pymesos_rt.scheduler.objects import FAILED, READY, ObjectTable
from pymesos_rt.scheduler.streams import END, StreamTable


def make() -> tuple[ObjectTable, StreamTable]:
    table = ObjectTable()
    return table, StreamTable(table, lambda ids: ",".join(ids).encode())


def test_items_in_order_and_first_report_wins():
    table, streams = make()
    streams.open("t", m.STREAMING, owned=True)
    assert streams.item("t", 1, READY, b"early") is None  # not the next index
    assert streams.item("t", 0, READY, b"a") == "t.y0"
    assert streams.item("t", 0, READY, b"retried") is None  # a retry yields it again
    assert table.peek("t.y0") == (READY, b"a")
    assert streams.next("t", 0, 0) == "t.y0"
    assert streams.next("t", 1, 0) is None  # not there yet: timed out
    assert streams.end("t", None) == (None, None)
    assert streams.next("t", 1, 0) == END
    assert streams.item("t", 1, READY, b"late") is None


def test_waiters_are_called_when_the_item_arrives_or_the_stream_ends():
    _, streams = make()
    streams.open("t", m.STREAMING, owned=False)
    got: list[str] = []
    streams.on_next("t", 0, got.append)
    streams.on_next("t", 1, got.append)
    assert got == []
    streams.item("t", 0, READY, b"a")
    assert got == ["t.y0"]
    streams.end("t", None)
    assert got == ["t.y0", END]


def test_blocking_next_wakes_from_another_thread():
    _, streams = make()
    streams.open("t", m.STREAMING, owned=True)
    result: list[str | None] = []
    waiter = threading.Thread(target=lambda: result.append(streams.next("t", 0, 30)))
    waiter.start()
    streams.item("t", 0, READY, b"a")
    waiter.join(30)
    assert result == ["t.y0"]


def test_failure_adds_an_error_item_then_ends():
    table, streams = make()
    streams.open("t", m.STREAMING, owned=True)
    streams.item("t", 0, READY, b"a")
    error_item, value = streams.end("t", b"boom")
    assert error_item == "t.y1" and value is None
    assert table.peek("t.y1") == (FAILED, b"boom")
    assert streams.next("t", 1, 0) == "t.y1" and streams.next("t", 2, 0) == END


def test_dynamic_stream_ends_with_its_item_list_as_value():
    table, streams = make()
    streams.open("t", m.DYNAMIC, owned=True)
    streams.item("t", 0, READY, b"a")
    streams.item("t", 1, READY, b"b")
    assert streams.end("t", None) == (None, b"t.y0,t.y1")
    table.drain_freed()
    assert table.peek("t.y0") is not None  # kept for the session (escaped)


def test_dropping_an_owned_generator_releases_what_it_did_not_hand_out():
    table, streams = make()
    table.create("t")  # the generator task's own object, held by the generator
    streams.open("t", m.STREAMING, owned=True)
    for i in range(3):
        streams.item("t", i, READY, b"x")
    table.complete("t", READY, b"3")
    streams.end("t", None)
    handed_out = "t.y0"  # an ObjectRef the user still holds keeps its reference
    streams.close("t", consumed=1)
    assert set(table.drain_freed()) == {"t", "t.y1", "t.y2"}
    assert table.peek(handed_out) is not None
    assert len(streams) == 0


def test_close_from_a_finalizer_never_waits_for_the_lock():
    """``ObjectRefGenerator.__del__`` may run (garbage collection inside an allocation) on the
    thread that holds the stream lock, in ``item``: close must queue, not wait (it deadlocked
    the driver's loop thread). Here another thread holds the lock while close runs."""
    table, streams = make()
    table.create("t")
    streams.open("t", m.STREAMING, owned=True)
    streams.item("t", 0, READY, b"x")
    closed = threading.Event()
    with streams._lock:  # as item() holds it when the collector runs the finalizer
        closer = threading.Thread(target=lambda: (streams.close("t", 0), closed.set()))
        closer.start()
        assert closed.wait(30), "close waited for the stream lock"
        assert table.drain_freed() == []  # queued, not applied under someone else's lock
    closer.join()
    streams.item("t", 1, READY, b"y")  # the next holder applies it: later items are not kept
    table.complete("t", READY, b"1")
    streams.end("t", None)
    assert set(table.drain_freed()) == {"t", "t.y0"}
    assert len(streams) == 0


class _Runner:
    """Stands in for the loop (client/loop.py): 'running the loop' delivers the next item."""

    def __init__(self, streams: StreamTable) -> None:
        self.streams = streams
        self.runs = 0
        self.waiting_now = 0

    def wait_for(self, waiter, deadline):
        self.runs += 1
        self.streams.item("t", 0, READY, b"a")  # what the loop would read meanwhile
        return waiter.event.is_set()

    def waiting(self, delta: int) -> None:
        self.waiting_now += delta


def test_a_thread_waiting_for_the_next_item_runs_the_loop_itself():
    """Else it waits on an event while it may own the idle loop (it ran the loop for a get a
    moment before): the item would wait for the loop's thread to take the loop back."""
    table, streams = make()
    runner = _Runner(streams)
    table.runner = runner
    streams.open("t", m.STREAMING, owned=True)
    assert streams.next("t", 0, 5.0) == "t.y0"
    assert runner.runs == 1 and runner.waiting_now == 0
    streams.end("t", None)
    assert streams.next("t", 1, 5.0) == END  # there already: no run
    assert runner.runs == 1
