"""The runtime's loop goes to the thread that waits (client/loop.py): a waiting thread runs the
loop itself, keeps the idle loop for a moment, and the loop's own thread takes it back; one
thread runs loop code at a time; Ctrl-C in the main thread is raised only once the loop is
left."""

from __future__ import annotations

import asyncio
import os
import signal
import threading
import time
from collections.abc import Iterator

import pytest

from pymesos_rt.client.loop import HOLD_S, LoopThread
from pymesos_rt.scheduler.objects import Waiter
from pymesos_rt.transport.polling import POLL_MAX_S


@pytest.fixture
def lt() -> Iterator[LoopThread]:
    loop = LoopThread("test-loop")
    yield loop
    loop.stop()


def hit_from_loop(lt: LoopThread, waiter: Waiter, seen: list[str]) -> None:
    """Schedule loop code that hits ``waiter`` once it runs on a thread other than the loop's
    own (the waiting one, when it has taken the loop), recording where it ran."""

    def work() -> None:
        seen.append(threading.current_thread().name)
        if threading.current_thread() is lt.thread and len(seen) < 10_000:
            lt.loop.call_later(0.001, work)  # not taken yet: try again
        else:
            waiter.hit()

    lt.loop.call_soon_threadsafe(work)


def test_a_waiting_thread_runs_the_loop_itself(lt):
    seen: list[str] = []
    waiter = Waiter(1)
    hit_from_loop(lt, waiter, seen)
    assert lt.wait_for(waiter, time.monotonic() + 10) is True
    assert seen[-1] == threading.current_thread().name


def test_the_waiting_thread_then_runs_work_at_once_and_the_loop_thread_takes_it_back(lt):
    waiter = Waiter(1)
    hit_from_loop(lt, waiter, [])
    assert lt.wait_for(waiter, time.monotonic() + 10)
    ran: list[str] = []
    # within HOLD_S: this thread owns the idle loop (no other thread may use it meanwhile)
    assert lt.run_here(lambda: ran.append(threading.current_thread().name))
    assert ran == [threading.current_thread().name]
    # once per wait: a second submission in a row goes to the loop's thread, in a batch
    assert not lt.run_here(lambda: ran.append("again"))
    other: list[bool] = []
    thread = threading.Thread(target=lambda: other.append(lt.run_here(lambda: None)))
    thread.start()
    thread.join(10)
    assert other == [False]  # not its loop
    # once idle for HOLD_S, the loop's thread runs what others hand it
    done = threading.Event()
    where: list[str] = []
    lt.call_soon_threadsafe(lambda: (where.append(threading.current_thread().name), done.set()))
    assert done.wait(10) and where == ["test-loop"]
    deadline = time.monotonic() + 10
    while lt.run_here(lambda: None) and time.monotonic() < deadline:
        time.sleep(HOLD_S)
    assert not lt.run_here(lambda: None)  # no longer this thread's


def test_a_thread_running_its_own_event_loop_never_takes_the_runtime_loop(lt):
    waiter = Waiter(1)

    async def inside() -> bool | None:
        return lt.wait_for(waiter, time.monotonic() + 1)

    assert asyncio.run(inside()) is None  # the caller waits on the event instead


def test_only_one_thread_runs_loop_code_and_every_waiter_is_woken(lt):
    inside = 0
    most = 0
    lock = threading.Lock()

    def tick() -> None:
        nonlocal inside, most
        with lock:
            inside += 1
            most = max(most, inside)
        time.sleep(0.0005)
        with lock:
            inside -= 1

    def waiter_thread(results: list[bool]) -> None:
        for _ in range(50):
            waiter = Waiter(1)
            lt.loop.call_soon_threadsafe(tick)
            lt.loop.call_soon_threadsafe(waiter.hit)
            outcome = lt.wait_for(waiter, time.monotonic() + 10)
            if outcome is None:  # another thread runs the loop: wait as before
                lt.waiting(+1)
                outcome = waiter.event.wait(10)
                lt.waiting(-1)
            results.append(bool(outcome))

    results: list[bool] = []
    threads = [threading.Thread(target=waiter_thread, args=(results,)) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert results == [True] * 150 and most == 1


def test_short_waits_make_the_next_wait_poll_first(lt):
    for _ in range(20):
        waiter = Waiter(1)
        hit_from_loop(lt, waiter, [])
        assert lt.wait_for(waiter, time.monotonic() + 10)
    assert lt._waits.average < POLL_MAX_S  # polls (up to twice that) before sleeping next time
    waiter = Waiter(1)
    lt.loop.call_soon_threadsafe(lambda: lt.loop.call_later(0.05, waiter.hit))
    for _ in range(20):  # waits of 50 ms: no more polling
        waiter = Waiter(1)
        lt.loop.call_soon_threadsafe(lambda w=waiter: lt.loop.call_later(0.05, w.hit))
        assert lt.wait_for(waiter, time.monotonic() + 10)
    assert lt._waits.average >= POLL_MAX_S


def test_ctrl_c_while_the_main_thread_runs_the_loop_is_raised_after_it(lt):
    if threading.current_thread() is not threading.main_thread():
        pytest.skip("needs the main thread")
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        waiter = Waiter(1)  # never hit: only Ctrl-C ends the wait
        with pytest.raises(KeyboardInterrupt):  # sent from loop code, 10 ms into the wait
            lt.loop.call_soon_threadsafe(
                lambda: lt.loop.call_later(0.01, os.kill, os.getpid(), signal.SIGINT)
            )
            lt.wait_for(waiter, time.monotonic() + 30)
        assert not lt.holding()  # the loop was left (and can be used again)
        done = threading.Event()
        lt.call_soon_threadsafe(done.set)
        assert done.wait(10)
    finally:
        signal.signal(signal.SIGINT, previous)
