"""Ray's core API beyond the basics, end to end on the embedded cluster: multiple returns,
generator tasks, the top-level-only argument rule, the runtime context, exception aliases,
cancellation and ``ObjectRef`` helpers.

Ported from Ray's tests (python/ray/tests/test_generators.py, test_streaming_generator.py,
test_runtime_context.py, test_cancel.py, test_failure.py), keeping their assertions; where
they use an actor to signal or count, a file often does the same here (written before actors
existed; the test_failure.py retry tests use their Counter actor).

The module shares one cluster, but a test that hangs it cannot take the later tests with it:
after a failed test, the ``cluster`` fixture checks that the cluster still runs a task (from a
thread, within ``HEALTH_TIMEOUT``) and starts a fresh one when it does not.
"""

from __future__ import annotations

import asyncio
import logging
import os
import subprocess
import sys
import threading
import time
import warnings
from pathlib import Path

import pytest

import pymesos_rt as ray

pytestmark = pytest.mark.integration
log = logging.getLogger(__name__)

HEALTH_TIMEOUT = 30.0


@ray.remote
def ping() -> str:
    return "pong"


def answers(timeout: float) -> bool:
    """Whether the cluster runs a task within ``timeout``; probed from a thread, so a wedged
    driver cannot hang the test process as well."""
    answered = threading.Event()

    def probe() -> None:
        try:
            if ray.get(ping.remote(), timeout=timeout) == "pong":
                answered.set()
        except Exception:
            log.exception("the cluster did not answer")

    threading.Thread(target=probe, name="cluster-probe", daemon=True).start()
    return answered.wait(timeout + 5.0)


_module: dict[str, object] = {"failed": 0}  # failures seen; the replacement cluster, if any


@pytest.fixture
def cluster(cluster: object, request: pytest.FixtureRequest) -> object:
    """The module's cluster (conftest's, which shuts down whichever runs at the end); after a
    failed test it is replaced by a fresh one if it no longer runs a task."""
    failed = request.session.testsfailed
    if failed != _module["failed"]:
        _module["failed"] = failed
        if not answers(HEALTH_TIMEOUT):
            log.warning("the cluster stopped answering after a failed test: starting another")
            ray.shutdown()
            _module["info"] = ray.init(num_cpus=2, memory="4GiB", idle_timeout=5.0)
    return _module.get("info", cluster)


def wait_for_file(path: Path, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not path.exists():
        if time.monotonic() > deadline:
            raise AssertionError(f"{path} did not appear within {timeout}s")
        time.sleep(0.01)


def bump(path: str) -> int:
    """A counter in a file (what Ray's tests do with an ExecutionCounter actor)."""
    p = Path(path)
    count = int(p.read_text() or "0") + 1 if p.exists() else 1
    p.write_text(str(count))
    return count


# --- num_returns ------------------------------------------------------------------------------


@ray.remote
def pair(x):
    return x, x + 1


@ray.remote(max_retries=0)
def generator(num_returns, fail=False):
    for i in range(num_returns):
        yield [i]
    if fail:
        raise Exception("error")


def test_num_returns_gives_that_many_refs(cluster):
    a, b = pair.options(num_returns=2).remote(1)
    assert ray.get([a, b]) == [1, 2]
    assert a.hex() != b.hex()
    assert pair.options(num_returns=0).remote(1) is None


def test_wrong_number_of_returns_fails_every_ref(cluster):
    refs = pair.options(num_returns=3).remote(1)
    for ref in refs:
        with pytest.raises(ray.exceptions.RayTaskError) as info:
            ray.get(ref)
        assert isinstance(info.value, ValueError)


def test_generator_returns(cluster):
    # test_generators.py::test_generator_returns (no actors, values inline)
    num_returns = 3
    with pytest.raises(ray.exceptions.RayTaskError) as info:
        ray.get(generator.options(num_returns=num_returns).remote(num_returns - 1))
    assert isinstance(info.value, ValueError)
    # more values than num_returns: the extra ones are ignored (Ray logs an error)
    ray.get(generator.options(num_returns=num_returns).remote(num_returns + 1))
    values = ray.get(generator.options(num_returns=num_returns).remote(num_returns))
    assert [x[0] for x in values] == list(range(num_returns))
    # works for num_returns=1 if the generator yields a single value
    assert ray.get(generator.options(num_returns=1).remote(1))[0] == 0


def test_generator_errors(cluster):
    # test_generators.py::test_generator_errors
    @ray.remote(max_retries=0)
    def failing(num_returns):
        for i in range(num_returns - 2):
            yield [i]
        raise Exception("error")

    ref1, ref2, ref3 = failing.options(num_returns=3).remote(3)
    ray.get(ref1)
    with pytest.raises(ray.exceptions.RayTaskError):
        ray.get(ref2)
    with pytest.raises(ray.exceptions.RayTaskError):
        ray.get(ref3)

    dynamic_ref = failing.options(num_returns="dynamic").remote(3)
    ref1, ref2 = ray.get(dynamic_ref)
    ray.get(ref1)
    with pytest.raises(ray.exceptions.RayTaskError):
        ray.get(ref2)


def test_multiple_returns_chain_into_other_tasks(cluster):
    @ray.remote
    def add(a, b):
        return a + b

    a, b = pair.options(num_returns=2).remote(10)
    assert ray.get(add.remote(a, b)) == 21
    refs = pair.options(num_returns=3).remote(1)  # fails: its dependents fail the same way
    with pytest.raises(ValueError):
        ray.get(add.remote(refs[0], refs[1]))


# --- generator tasks --------------------------------------------------------------------------


def test_generator_basic(cluster, tmp_path):
    # test_streaming_generator.py::test_generator_basic (no actors)
    @ray.remote
    def f():
        yield from range(5)

    gen = f.remote()
    assert isinstance(gen, ray.ObjectRefGenerator)
    i = 0
    for ref in gen:
        assert i == ray.get(ref)
        del ref
        i += 1
    assert i == 5

    @ray.remote
    def g():
        for i in range(5):
            if i == 2:
                raise ValueError
            yield i

    gen = g.options(num_returns="streaming").remote()
    ray.get(next(gen))
    ray.get(next(gen))
    with pytest.raises(ray.exceptions.RayTaskError) as e:
        ray.get(next(gen))
    assert isinstance(e.value, ValueError)
    with pytest.raises(StopIteration):
        ray.get(next(gen))
    with pytest.raises(StopIteration):
        ray.get(next(gen))

    # retry exceptions: a retried generator yields again from the start
    counter = str(tmp_path / "count")

    @ray.remote(retry_exceptions=[ValueError], max_retries=10)
    def h(counter):
        for i in range(5):
            if i == 3 and bump(counter) == 1:
                raise ValueError
            yield i

    gen = h.remote(counter)
    assert [ray.get(ref) for ref in gen] == [0, 1, 2, 3, 4]

    # cancel
    started = tmp_path / "started"

    @ray.remote
    def slow(path):
        yield 0
        Path(path).write_text("")
        for i in range(1, 5):
            time.sleep(5)
            yield i

    gen = slow.remote(str(started))
    assert ray.get(next(gen)) == 0
    wait_for_file(started)
    ray.cancel(gen)
    with pytest.raises(ray.exceptions.RayTaskError) as e:
        ray.get(next(gen))
    assert "was cancelled" in str(e.value)
    with pytest.raises(StopIteration):
        next(gen)


def test_streaming_generator_exception(cluster):
    # test_streaming_generator.py::test_streaming_generator_exception (as tasks)
    @ray.remote
    def f():
        raise ValueError
        yield 1

    @ray.remote
    async def async_f():
        raise ValueError
        yield 1

    for g in (f.remote(), async_f.remote()):
        with pytest.raises(ValueError):
            ray.get(next(g))
        with pytest.raises(StopIteration):
            ray.get(next(g))
        with pytest.raises(StopIteration):
            ray.get(next(g))


def test_generator_sync_and_async_interfaces(cluster):
    # test_streaming_generator.py::test_actor_streaming_generator, for tasks
    @ray.remote
    def f(ref):
        yield from range(3)

    @ray.remote
    async def async_f(ref):
        for i in range(3):
            await asyncio.sleep(0.01)
            yield i

    for fn in (f, async_f):
        generator = fn.remote(ray.put(3))
        assert isinstance(generator, ray.ObjectRefGenerator)
        assert ray.get(next(generator)) == 0
        assert ray.get(next(generator)) == 1
        assert ray.get(next(generator)) == 2
        with pytest.raises(StopIteration):
            ray.get(next(generator))
        for index, ref in enumerate(fn.remote(ray.put(3))):
            assert index == ray.get(ref)

    async def verify_async_generator(fn):
        async_generator = fn.remote(ray.put(3))
        for expected in range(3):
            ref = await async_generator.__anext__()
            assert await ref == expected
        with pytest.raises(StopAsyncIteration):
            await async_generator.__anext__()
        expected = 0
        async for ref in fn.remote(ray.put(3)):
            assert expected == await ref
            expected += 1
        assert expected == 3

    asyncio.run(verify_async_generator(f))
    asyncio.run(verify_async_generator(async_f))


def test_generator_items_arrive_while_it_runs(cluster, tmp_path):
    # the first item is ready before the generator goes on (it waits for a file we write)
    go = tmp_path / "go"

    @ray.remote
    def waits(path):
        yield "first"
        while not os.path.exists(path):
            time.sleep(0.01)
        yield "second"

    gen = waits.remote(str(go))
    assert ray.get(next(gen), timeout=30) == "first"
    go.write_text("")
    assert ray.get(next(gen), timeout=30) == "second"
    with pytest.raises(StopIteration):
        next(gen)


def test_generator_inside_a_task(cluster):
    @ray.remote
    def numbers(n):
        yield from range(n)

    @ray.remote
    def consume(n):
        return [ray.get(ref) for ref in numbers.remote(n)]

    assert ray.get(consume.remote(4)) == [0, 1, 2, 3]


def test_dynamic_generator(cluster):
    # test_generators.py::test_dynamic_generator (no actors)
    @ray.remote(num_returns="dynamic")
    def dynamic_generator(num_returns):
        for i in range(num_returns):
            yield [i]

    @ray.remote
    def read(gen):
        return all(ray.get(ref)[0] == i for i, ref in enumerate(gen))

    gen = ray.get(dynamic_generator.options(num_returns="dynamic").remote(10))
    for i, ref in enumerate(gen):
        assert ray.get(ref)[0] == i

    # empty generator
    gen = ray.get(dynamic_generator.remote(0))
    assert len(gen) == 0

    # passing as task arg
    gen = dynamic_generator.remote(10)
    assert ray.get(read.remote(gen))
    assert ray.get(read.remote(ray.get(gen)))

    # also works if we override num_returns with a static value
    assert ray.get(read.remote(dynamic_generator.options(num_returns=10).remote(10)))

    # normal remote functions don't work with num_returns="dynamic"
    @ray.remote(num_returns="dynamic")
    def static(num_returns):
        return list(range(num_returns))

    with pytest.raises(ray.exceptions.RayTaskError):
        ray.get(static.remote(3))


def test_dynamic_generator_retry_exception(cluster, tmp_path):
    # test_generators.py::test_dynamic_generator_retry_exception (a file counts, not an actor)
    class CustomException(Exception):
        pass

    @ray.remote(max_retries=1)
    def gen(num_returns, counter):
        for i in range(num_returns):
            yield [i]
            if bump(counter) == 1:  # fail on the first execution, succeed on the next
                raise CustomException("error")

    counter = tmp_path / "count"
    dynamic_ref = gen.options(num_returns="dynamic").remote(3, str(counter))
    ref1, ref2 = ray.get(dynamic_ref)
    ray.get(ref1)
    with pytest.raises(ray.exceptions.RayTaskError):
        ray.get(ref2)

    counter.unlink()
    dynamic_ref = gen.options(num_returns="dynamic", retry_exceptions=[CustomException]).remote(
        3, str(counter)
    )
    for i, ref in enumerate(ray.get(dynamic_ref)):
        assert ray.get(ref)[0] == i


# --- arguments --------------------------------------------------------------------------------


def test_only_top_level_refs_are_resolved(cluster):
    @ray.remote
    def kinds(top, nested):
        return type(top).__name__, [type(r).__name__ for r in nested["refs"]]

    @ray.remote
    def first_ready(refs):
        ready, _ = ray.wait(refs, num_returns=1, timeout=30)
        return ray.get(ready[0])

    x = ray.put(5)
    assert ray.get(kinds.remote(x, {"refs": [x, pair.remote(1)]})) == (
        "int",
        ["ObjectRef", "ObjectRef"],
    )
    assert ray.get(first_ready.remote([x])) == 5


# --- runtime context --------------------------------------------------------------------------


def test_get_context_dict(cluster):
    context_dict = ray.get_runtime_context().get()
    assert context_dict["node_id"] is not None
    assert context_dict["job_id"] is not None
    assert "actor_id" not in context_dict
    assert "task_id" not in context_dict

    @ray.remote
    def task(node_id, job_id):
        context_dict = ray.get_runtime_context().get()
        assert context_dict["node_id"] == node_id
        assert context_dict["job_id"] == job_id
        assert context_dict["task_id"] is not None
        assert "actor_id" not in context_dict
        assert context_dict["task_id"].hex() == ray.get_runtime_context().get_task_id()
        return True

    assert ray.get(task.remote(context_dict["node_id"], context_dict["job_id"]))


def test_task_context(cluster):
    @ray.remote
    def f():
        assert ray.get_runtime_context().get_actor_id() is None
        assert ray.get_runtime_context().get_task_id() is not None
        assert ray.get_runtime_context().get_node_id() is not None
        assert ray.get_runtime_context().get_job_id() is not None
        return True

    assert ray.get(f.remote())


def test_get_assigned_resources(cluster):
    @ray.remote
    def check():
        return ray.get_runtime_context().get_assigned_resources()

    assert ray.get(check.remote())["CPU"] == 1.0
    assert ray.get(check.options(num_cpus=2).remote())["CPU"] == 2.0


def test_ids(cluster):
    rtc = ray.get_runtime_context()
    assert isinstance(rtc.get_node_id(), str)
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        assert rtc.get_node_id() == rtc.node_id.hex()
        assert any("Use get_node_id() instead" in str(warning.message) for warning in w)
    assert isinstance(rtc.get_job_id(), str)
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        assert rtc.get_job_id() == rtc.job_id.hex()
        assert any("Use get_job_id() instead" in str(warning.message) for warning in w)
    assert rtc.get_actor_name() is None
    assert rtc.get_placement_group_id() is None
    assert rtc.get_task_id() is None
    assert rtc.get_actor_id() is None
    assert rtc.get_job_id() == cluster.framework_id
    assert rtc.get_node_id() in {n["NodeID"] for n in ray.nodes()}

    @ray.remote
    def foo_task():
        rtc = ray.get_runtime_context()
        assert isinstance(rtc.get_task_id(), str)
        with warnings.catch_warnings(record=True) as w:
            warnings.simplefilter("always")
            assert rtc.get_task_id() == rtc.task_id.hex()
            assert any("Use get_task_id() instead" in str(warning.message) for warning in w)
        return True

    assert ray.get(foo_task.remote())


def test_get_task_name_and_function_name(cluster):
    @ray.remote
    def get_task_name_for_normal_task():
        return ray.get_runtime_context().get_task_name()

    expected_task_name = "normal_task_name"
    task_name = ray.get(get_task_name_for_normal_task.options(name=expected_task_name).remote())
    assert task_name == expected_task_name

    @ray.remote
    def get_task_function_name_for_normal_task():
        return ray.get_runtime_context().get_task_function_name()

    expected = (
        __name__
        + ".test_get_task_name_and_function_name.<locals>."
        + "get_task_function_name_for_normal_task"
    )
    assert ray.get(get_task_function_name_for_normal_task.remote()) == expected


# --- errors, cancellation, refs ---------------------------------------------------------------


def test_exception_aliases(cluster):
    assert ray.exceptions.RayTaskError is ray.TaskError
    assert ray.exceptions.WorkerCrashedError is ray.ExecutorLostError
    assert issubclass(ray.exceptions.GetTimeoutError, TimeoutError)

    @ray.remote
    def boom():
        raise KeyError("k")

    with pytest.raises(ray.exceptions.RayTaskError) as info:
        ray.get(boom.remote())
    assert isinstance(info.value, KeyError)
    assert isinstance(info.value, ray.exceptions.RayError)


@pytest.mark.parametrize("use_force", [True, False])
def test_recursive_cancel(cluster, tmp_path, use_force):
    # test_cancel.py::test_recursive_cancel (a file signals, not an actor)
    signal = tmp_path / "inner-running"

    @ray.remote(num_cpus=1)
    def inner(path):
        Path(path).write_text("")
        while True:
            time.sleep(0.1)

    @ray.remote(num_cpus=1)
    def outer(path):
        _ = inner.remote(path)
        while True:
            time.sleep(0.1)

    @ray.remote(num_cpus=2)
    def many_resources():
        return True

    outer_fut = outer.remote(str(signal))
    wait_for_file(signal)  # both inner and outer are running
    many_fut = many_resources.remote()
    with pytest.raises(ray.exceptions.GetTimeoutError):
        ray.get(many_fut, timeout=1)
    ray.cancel(outer_fut, force=use_force)
    expected = ray.exceptions.WorkerCrashedError if use_force else ray.TaskCancelledError
    with pytest.raises((expected, ray.TaskCancelledError)):
        ray.get(outer_fut, timeout=10)
    assert ray.get(many_fut, timeout=30)


def test_cancel_not_recursive_leaves_children_running(cluster, tmp_path):
    signal, done = tmp_path / "inner-running", tmp_path / "inner-done"

    @ray.remote(num_cpus=0.5)
    def child(path, done_path):
        Path(path).write_text("")
        time.sleep(0.5)
        Path(done_path).write_text("")
        return 7

    @ray.remote(num_cpus=0.5)
    def parent(path, done_path):
        ref = child.remote(path, done_path)
        while True:
            time.sleep(0.1)
        return ref

    ref = parent.remote(str(signal), str(done))
    wait_for_file(signal)
    ray.cancel(ref, recursive=False)
    with pytest.raises(ray.TaskCancelledError):
        ray.get(ref, timeout=10)
    wait_for_file(done)  # the child was not cancelled


def test_object_ref_helpers(cluster):
    ref = pair.remote(3)
    assert isinstance(ref.hex(), str) and ref.hex() == ref.object_id
    assert ref.future().result(timeout=30) == (3, 4)

    async def main():
        return await ref.as_future()

    assert asyncio.run(main()) == (3, 4)
    ready, not_ready = ray.wait([ref], num_returns=1, timeout=10, fetch_local=True)
    assert ready == [ref] and not_ready == []


def test_available_resources_count_idle_executors_as_available(cluster):
    @ray.remote
    def one():
        return 1

    total = ray.cluster_resources()
    assert ray.get([one.remote() for _ in range(4)]) == [1] * 4
    # the executors that ran them are idle now (they stay for a while): still available
    assert ray.available_resources()["CPU"] == total["CPU"]

    @ray.remote
    def inside():
        return ray.available_resources()["CPU"]

    # inside a task: its own executor is busy, the rest is free
    assert ray.get(inside.remote()) == total["CPU"] - 1


def test_resource_names_as_ray_spells_them(cluster):
    with pytest.raises(ValueError, match="num_cpus"):
        pair.options(resources={"CPU": 1})
    with pytest.raises(ValueError, match="num_gpus"):
        pair.options(resources={"GPU": 1})
    with pytest.raises(ValueError, match="num_returns"):
        pair.options(num_returns="many")
    with pytest.raises(ray.UnschedulableError, match="gpus"):
        pair.options(num_gpus=1).remote(1)  # this cluster has no GPUs


# --- auto-init --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "first_call",
    ["ray.get(f.remote(1))", "ray.get_runtime_context().get_job_id()", "ray.get(ray.put(2))"],
)
def test_the_first_call_without_init_starts_the_runtime(first_call):
    # test_runtime_context.py::test_auto_init, and the same for remote/put/get
    script = (
        "import pymesos_rt as ray\n"
        "assert not ray.is_initialized()\n"
        "@ray.remote\n"
        "def f(x):\n"
        "    return x + 1\n"
        f"{first_call}\n"
        "assert ray.is_initialized()\n"
        "print('value', ray.get(f.remote(1)))\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "PYMESOS_RT_ADDRESS"}
    proc = subprocess.run(
        [sys.executable, "-c", script],
        check=False,
        capture_output=True,
        text=True,
        timeout=90,
        env=env,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines() == ["value 2"]
    assert proc.stderr.count("was not initialized: starting it") == 1


# --- retries, max_calls, async tasks ----------------------------------------------------------


def test_retry_exceptions_list_retries_only_those(cluster, tmp_path):
    class Flaky(Exception):
        pass

    @ray.remote(retry_exceptions=[Flaky], max_retries=3)
    def flaky(counter, exc_name):
        if bump(counter) < 3:
            raise {"Flaky": Flaky, "KeyError": KeyError}[exc_name]("again")
        return "done"

    assert ray.get(flaky.remote(str(tmp_path / "a"), "Flaky")) == "done"
    assert (tmp_path / "a").read_text() == "3"
    with pytest.raises(KeyError):
        ray.get(flaky.remote(str(tmp_path / "b"), "KeyError"))
    assert (tmp_path / "b").read_text() == "1"  # not one of the listed: no retry


def test_max_retries_minus_one_retries_until_it_succeeds(cluster, tmp_path):
    @ray.remote(max_retries=-1, retry_exceptions=True)
    def stubborn(counter):
        if bump(counter) < 8:  # more attempts than the default max_retries allows
            raise RuntimeError("not yet")
        return "finally"

    assert ray.get(stubborn.remote(str(tmp_path / "c")), timeout=60) == "finally"


# test_failure.py: the retry tests, with their Counter actor and assertions


@ray.remote
class Counter:
    def __init__(self):
        self.value = 0

    def increment(self):
        self.value += 1
        return self.value


class CountError(Exception):
    pass


def test_retry_system_level_error(cluster):
    @ray.remote(max_retries=1)
    def func(counter):
        count = counter.increment.remote()
        if ray.get(count) == 1:
            os._exit(0)
        else:
            return 1

    counter1 = Counter.remote()
    r1 = func.remote(counter1)
    assert ray.get(r1, timeout=90) == 1

    counter2 = Counter.remote()
    r2 = func.options(max_retries=0).remote(counter2)
    with pytest.raises(ray.exceptions.WorkerCrashedError):
        ray.get(r2, timeout=90)


def test_retry_application_level_error(cluster):
    @ray.remote(max_retries=1, retry_exceptions=True)
    def func(counter):
        count = counter.increment.remote()
        if ray.get(count) == 1:
            raise ValueError()
        else:
            return 2

    counter1 = Counter.remote()
    r1 = func.remote(counter1)
    assert ray.get(r1, timeout=90) == 2

    counter2 = Counter.remote()
    r2 = func.options(max_retries=0).remote(counter2)
    with pytest.raises(ValueError):
        ray.get(r2, timeout=90)

    counter3 = Counter.remote()
    r3 = func.options(retry_exceptions=False).remote(counter3)
    with pytest.raises(ValueError):
        ray.get(r3, timeout=90)


def test_retry_application_level_error_exception_filter(cluster):
    @ray.remote(max_retries=1, retry_exceptions=[CountError])
    def func(counter):
        if counter is None:
            raise ValueError()
        count = counter.increment.remote()
        if ray.get(count) == 1:
            raise CountError()
        else:
            return 2

    # Exception that doesn't satisfy the predicate should cause the task to immediately
    # fail.
    r0 = func.remote(None)
    with pytest.raises(ValueError):
        ray.get(r0, timeout=90)

    # Test against exceptions (CountError) that do satisfy the predicate.
    counter1 = Counter.remote()
    r1 = func.remote(counter1)
    assert ray.get(r1, timeout=90) == 2

    counter2 = Counter.remote()
    r2 = func.options(max_retries=0).remote(counter2)
    with pytest.raises(CountError):
        ray.get(r2, timeout=90)

    counter3 = Counter.remote()
    r3 = func.options(retry_exceptions=False).remote(counter3)
    with pytest.raises(CountError):
        ray.get(r3, timeout=90)


def test_max_calls_replaces_the_executor_process(cluster):
    @ray.remote(max_calls=2)
    def pid():
        return os.getpid()

    pids = [ray.get(pid.remote()) for _ in range(6)]
    assert pids[0] == pids[1] and pids[2] == pids[3] and pids[4] == pids[5]
    assert len({pids[0], pids[2], pids[4]}) == 3


def test_async_def_tasks_run_on_an_event_loop(cluster):
    @ray.remote
    async def double(x):
        await asyncio.sleep(0.01)
        return x * 2

    assert ray.get([double.remote(i) for i in range(5)]) == [0, 2, 4, 6, 8]


def test_runtime_context_inside_actors(cluster):
    # test_runtime_context.py: the actor parts of test_get_context_dict and test_ids
    context_dict = ray.get_runtime_context().get()

    @ray.remote
    class Actor:
        def check(self, node_id, job_id):
            context_dict = ray.get_runtime_context().get()
            assert context_dict["node_id"] == node_id
            assert context_dict["job_id"] == job_id
            assert context_dict["actor_id"] is not None
            assert context_dict["task_id"] is not None
            assert context_dict["actor_id"] != "not an ActorID"
            return True

        def ids(self):
            rtc = ray.get_runtime_context()
            return rtc.get_actor_id(), rtc.get_actor_name(), rtc.was_current_actor_reconstructed

    a = Actor.remote()
    assert ray.get(a.check.remote(context_dict["node_id"], context_dict["job_id"]))
    actor_id, name, reconstructed = ray.get(a.ids.remote())
    assert isinstance(actor_id, str) and name == "" and reconstructed is False
    named = Actor.options(name="ctx_actor_name").remote()
    assert ray.get(named.ids.remote())[1] == "ctx_actor_name"
    ray.kill(a)
    ray.kill(named)
