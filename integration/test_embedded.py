"""The core runtime end to end on the embedded cluster: real master, agent and executor
processes talking over real in-process and websocket connections."""

from __future__ import annotations

import asyncio
import concurrent.futures
import os
import signal
import threading
import time
from pathlib import Path

import pytest

import pymesos_rt as rt

pytestmark = pytest.mark.integration


@rt.remote
def square(x: int) -> int:
    return x * x


@rt.remote
def inc(x: int) -> int:
    return x + 1


@rt.remote
def total(values: list[int]) -> int:
    return sum(values)


@rt.remote
def total_of_refs(refs: list[rt.ObjectRef]) -> int:
    assert all(isinstance(r, rt.ObjectRef) for r in refs)
    return sum(rt.get(refs))


@rt.remote
def fan_out(n: int) -> int:
    # submits tasks and blocks in get while holding an executor
    return sum(rt.get([square.remote(i) for i in range(n)]))


@rt.remote
def fail(message: str) -> None:
    raise ValueError(message)


def _wait_for_line_count(path: Path, count: int, timeout: float = 20.0) -> list[str]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        lines = path.read_text().split()
        if len(lines) >= count:
            return lines
        time.sleep(0.01)
    raise AssertionError(f"{path} did not reach {count} lines")


@rt.remote
def record_pid_and_sleep(path: str, seconds: float) -> int:
    with open(path, "a") as f:
        f.write(f"{os.getpid()}\n")
    time.sleep(seconds)
    return os.getpid()


def test_ten_thousand_tasks(cluster):
    refs = [square.remote(i) for i in range(10_000)]
    assert rt.get(refs) == [i * i for i in range(10_000)]


def test_chain_of_1000(cluster):
    ref = inc.remote(0)
    for _ in range(999):
        ref = inc.remote(ref)
    assert rt.get(ref) == 1000


def test_refs_inside_containers_arrive_as_refs(cluster):
    refs = [square.remote(i) for i in range(5)]
    assert rt.get(total_of_refs.remote(refs)) == sum(i * i for i in range(5))
    assert rt.get(total.remote(rt.get(refs))) == sum(i * i for i in range(5))


def test_nested_tasks_do_not_deadlock_when_every_executor_is_busy(cluster):
    # more outer tasks than CPUs: each blocks in get on inner tasks of the same shape
    outers = [fan_out.remote(4) for _ in range(6)]
    assert rt.get(outers, timeout=60) == [14] * 6


def test_task_error_is_also_the_original_class(cluster):
    ref = fail.remote("bad input 42")
    with pytest.raises(ValueError) as info:
        rt.get(ref)
    err = info.value
    assert isinstance(err, rt.TaskError)
    assert "bad input 42" in str(err)
    assert "Remote traceback" in str(err) and "raise ValueError(message)" in str(err)
    assert isinstance(err.__cause__, ValueError)


def test_unpicklable_argument_fails_at_remote_naming_it(cluster):
    with pytest.raises(rt.SerializationError, match=r"argument 0 .*lock"):
        square.remote(threading.Lock())  # (arguments that do not bind fail before pickling)


def test_unpicklable_function_fails_at_remote_naming_the_capture(cluster):
    lock = threading.Lock()

    @rt.remote
    def uses_lock() -> bool:
        return lock.locked()

    with pytest.raises(rt.SerializationError, match=r"captured variable 'lock'"):
        uses_lock.remote()


def test_too_big_a_task_fails_at_once(cluster):
    with pytest.raises(rt.UnschedulableError, match=r"cpus:64"):
        square.options(num_cpus=64).remote(1)
    with pytest.raises(rt.UnschedulableError, match=r"mem"):
        square.options(memory="100TiB").remote(1)


def test_calling_remote_function_directly_says_use_remote(cluster):
    with pytest.raises(TypeError, match=r"square.remote"):
        square(3)


def test_sigkill_of_executor_retries_task_elsewhere(cluster, tmp_path):
    path = tmp_path / "pids"
    path.write_text("")
    ref = record_pid_and_sleep.remote(str(path), 1.0)
    first = int(_wait_for_line_count(path, 1)[0])
    os.kill(first, signal.SIGKILL)
    result = rt.get(ref, timeout=30)
    assert result != first
    assert int(path.read_text().split()[-1]) == result


def test_sigkill_without_retries_names_the_executor(cluster, tmp_path):
    path = tmp_path / "pids"
    path.write_text("")
    ref = record_pid_and_sleep.options(max_retries=0).remote(str(path), 5.0)
    victim = int(_wait_for_line_count(path, 1)[0])
    os.kill(victim, signal.SIGKILL)
    with pytest.raises(rt.ExecutorLostError, match=r"executor \S+-e\d+ on agent .*signal 9"):
        rt.get(ref, timeout=30)


def test_get_timeout(cluster, tmp_path):
    ref = record_pid_and_sleep.remote(str(tmp_path / "p"), 2.0)
    with pytest.raises(rt.GetTimeoutError):
        rt.get(ref, timeout=0.05)
    assert isinstance(rt.get(ref, timeout=30), int)


def test_wait_and_as_completed(cluster, tmp_path):
    slow = record_pid_and_sleep.remote(str(tmp_path / "p"), 1.5)
    fast = square.remote(7)
    ready, not_ready = rt.wait([slow, fast], num_returns=1, timeout=30)
    assert ready == [fast] and not_ready == [slow]
    order = list(rt.as_completed([slow, square.remote(2)]))
    assert order[-1] == slow


def test_put_and_future_and_await(cluster):
    data = rt.put(list(range(100)))
    ref = total.remote(data)
    assert ref.future().result(timeout=30) == 4950

    async def main() -> int:
        return await square.remote(12)

    assert asyncio.run(main()) == 144


def test_cancel_pending_task(cluster, tmp_path):
    blockers = [record_pid_and_sleep.remote(str(tmp_path / "p"), 1.0) for _ in range(2)]
    victim = square.remote(5)
    rt.cancel(victim)
    with pytest.raises(rt.TaskCancelledError):
        rt.get(victim, timeout=30)
    rt.get(blockers, timeout=30)


def test_concurrent_futures_executor(cluster):
    with rt.Executor(max_workers=4) as pool:
        assert list(pool.map(abs, [-1, -2, 3])) == [1, 2, 3]
        fut = pool.submit(divmod, 7, 2)
        assert fut.result(timeout=30) == (3, 1)
    assert isinstance(fut, concurrent.futures.Future)


def test_print_output_reaches_the_driver(cluster, capfd):
    @rt.remote
    def chatty(x: int) -> int:
        print(f"hello from task {x}")
        return x

    rt.get(chatty.remote(3))
    out = capfd.readouterr().out
    assert "hello from task 3" in out
    line = next(x for x in out.splitlines() if "hello from task 3" in x)
    assert line.startswith("(") and "chatty" in line


def test_every_printed_line_arrives_before_the_result_in_order(cluster, capfd):
    @rt.remote
    def very_chatty(n: int) -> int:
        for i in range(n):
            print(f"line {i} of {n}")
        return n

    assert rt.get(very_chatty.remote(5000)) == 5000
    lines = [x for x in capfd.readouterr().out.splitlines() if "of 5000" in x]
    assert [int(x.split("line ")[1].split()[0]) for x in lines] == list(range(5000))


def test_cluster_resources_and_nodes(cluster):
    res = rt.cluster_resources()
    assert res["CPU"] == 2.0 and res["memory"] == 4 * 2**30
    assert cluster.resources == res
    nodes = rt.nodes()
    assert len(nodes) == 1 and nodes[0]["state"] == "active"
    assert nodes[0]["NodeID"] == nodes[0]["id"] and nodes[0]["Alive"] is True
    assert nodes[0]["Resources"]["CPU"] == 2.0
    assert set(rt.available_resources()) <= {"CPU", "memory"}


def test_init_twice_is_a_clear_error(cluster):
    with pytest.raises(rt.PymesosRTError, match="already"):
        rt.init()
    assert rt.init(ignore_reinit_error=True) == cluster


def test_sync_api_works_inside_a_running_event_loop(cluster):
    async def main() -> int:
        # a Jupyter kernel runs an event loop; the sync API must neither fail nor need it
        return rt.get(square.remote(9), timeout=30)

    assert asyncio.run(main()) == 81


def test_nested_print_and_error_from_inner_task(cluster, capfd):
    @rt.remote
    def inner() -> None:
        raise KeyError("deep")

    @rt.remote
    def outer() -> None:
        print("outer is about to wait")
        rt.get(inner.remote())

    with pytest.raises(KeyError) as info:
        rt.get(outer.remote(), timeout=30)
    assert "deep" in str(info.value)
    assert "outer is about to wait" in capfd.readouterr().out


def test_cancelled_running_task_keeps_its_slot_until_it_ends(cluster, tmp_path):
    # time.sleep cannot be interrupted at once: the cancelled task keeps its executor busy,
    # so the next task must go to the other executor instead of queueing behind it
    path = tmp_path / "p"
    path.write_text("")
    rt.get([record_pid_and_sleep.remote(str(path), 0.3) for _ in range(2)])  # two warm executors
    sleepy = record_pid_and_sleep.remote(str(path), 30.0)
    _wait_for_line_count(path, 3)
    rt.cancel(sleepy)
    with pytest.raises(rt.TaskCancelledError):
        rt.get(sleepy, timeout=30)
    assert rt.get(square.remote(3), timeout=15) == 9


def test_large_objects_go_through_the_object_store(cluster):
    big = rt.put(b"x" * (8 * 2**20))

    @rt.remote
    def size_and_echo(data: bytes) -> bytes:
        assert len(data) == 8 * 2**20
        return data + b"y"

    out = rt.get(size_and_echo.remote(big), timeout=60)
    assert len(out) == 8 * 2**20 + 1 and out.endswith(b"xy")


@rt.remote
def step(x: int, fail_at: int = -1) -> int:
    if x == fail_at:
        raise ValueError(f"step {x} fails")
    return x + 1


def test_failure_in_a_chain_fails_every_later_link_with_the_same_error(cluster):
    rt.get([step.remote(i) for i in range(50)])  # known-short: later chains are dispatched ahead
    ref = step.remote(0, 30)
    refs = [ref]
    for _ in range(60):
        ref = step.remote(ref, 30)
        refs.append(ref)
    assert rt.get(refs[:30]) == list(range(1, 31))
    for later in refs[30:]:
        with pytest.raises(ValueError, match="step 30 fails"):
            rt.get(later, timeout=30)


@rt.remote
def slow_step(x: int, path: str) -> int:
    with open(path, "a") as f:
        f.write(f"{os.getpid()}\n")
    time.sleep(0.002)
    return x + 1


def test_executor_killed_in_the_middle_of_a_chain(cluster, tmp_path):
    path = tmp_path / "pids"
    path.write_text("")
    rt.get([slow_step.remote(i, str(path)) for i in range(20)])
    ref = slow_step.remote(0, str(path))
    for _ in range(399):
        ref = slow_step.remote(ref, str(path))
    victim = int(_wait_for_line_count(path, 120)[-1])
    os.kill(victim, signal.SIGKILL)
    assert rt.get(ref, timeout=60) == 400
