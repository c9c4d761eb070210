"""Actors end to end on the embedded cluster: real executor processes hold the instances.

Several tests are ports of Ray's public-API actor tests (python/ray/tests/test_actor.py,
test_actor_advanced.py, test_asyncio.py), with their assertions kept; the source test is
named in each docstring.
"""

from __future__ import annotations

import asyncio
import json
import os
import threading
import time
import urllib.request
from pathlib import Path

import psutil
import pytest

import pymesos_rt as rt
from pymesos_rt.testing.daemons import wait_for

pytestmark = pytest.mark.integration


@rt.remote
class Counter:
    def __init__(self, start: int = 0) -> None:
        self.value = start

    def incr(self, by: int = 1) -> int:
        self.value += by
        return self.value

    def get(self) -> int:
        return self.value

    def reset(self) -> None:
        self.value = 0

    def wait_on(self, signal) -> None:
        rt.get(signal.wait.remote())

    def pid(self) -> int:
        return os.getpid()

    def fail(self) -> None:
        raise ValueError("bad call")


@rt.remote
def slow_value(x: int, seconds: float) -> int:
    time.sleep(seconds)
    return x


def _gone(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


# --- calls and state --------------------------------------------------------------------------


def test_state_and_submission_order(cluster):
    c = Counter.remote(10)
    refs = [c.incr.remote() for _ in range(200)]
    assert rt.get(refs, timeout=60) == list(range(11, 211))
    assert rt.get(c.get.remote(), timeout=30) == 210


def test_multiple_actors(cluster):
    """Ray: test_multiple_actors."""
    num_actors, num_increases = 3, 20
    actors = [Counter.remote(i) for i in range(num_actors)]
    results = []
    for i in range(num_actors):
        results += [actors[i].incr.remote() for _ in range(num_increases)]
    values = rt.get(results, timeout=60)
    for i in range(num_actors):
        chunk = values[num_increases * i : num_increases * (i + 1)]
        assert chunk == list(range(i + 1, num_increases + i + 1))
    # interweave the calls on the different actors
    for a in actors:
        a.reset.remote()
    results = []
    for _ in range(num_increases):
        results += [a.incr.remote() for a in actors]
    values = rt.get(results, timeout=60)
    for j in range(num_increases):
        assert values[num_actors * j : num_actors * (j + 1)] == num_actors * [j + 1]


def test_plain_classes_arguments_and_names(cluster):
    """Ray: test_no_args, test_no_constructor, test_custom_classes, test_inherit_actor_from_class,
    test_actor_name_conflict, test_random_id_generation."""
    import random

    @rt.remote
    class NoArgs:
        def __init__(self):
            pass

        def get_values(self):
            pass

    @rt.remote
    class NoConstructor:
        def get_values(self):
            pass

    assert rt.get(NoArgs.remote().get_values.remote(), timeout=30) is None
    assert rt.get(NoConstructor.remote().get_values.remote(), timeout=30) is None

    class Foo:
        def __init__(self, x):
            self.x = x

        def f(self):
            return self.x

        def g(self, y):
            return self.x + y

    @rt.remote
    class Custom:
        def __init__(self, f2):
            self.f1 = Foo(1)
            self.f2 = f2

        def get_values1(self):
            return self.f1, self.f2

        def get_values2(self, f3):
            return self.f1, self.f2, f3

    actor = Custom.remote(Foo(2))
    results1 = rt.get(actor.get_values1.remote(), timeout=30)
    assert results1[0].x == 1 and results1[1].x == 2
    results2 = rt.get(actor.get_values2.remote(Foo(3)), timeout=30)
    assert [r.x for r in results2] == [1, 2, 3]

    @rt.remote
    class FromClass(Foo):
        def __init__(self, x):
            Foo.__init__(self, x)

        def get_value(self):
            return self.f()

    inherited = FromClass.remote(1)
    assert rt.get(inherited.get_value.remote(), timeout=30) == 1
    assert rt.get(inherited.g.remote(5), timeout=30) == 6

    @rt.remote
    class A:
        def foo(self):
            return 100000

    results = [A.remote().foo.remote()]
    for x in range(10):

        @rt.remote
        class A:  # type: ignore[no-redef]
            def foo(self):
                return x

        results.append(A.remote().foo.remote())
    assert rt.get(results, timeout=60) == [100000, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9]

    random.seed(1234)
    f1 = NoArgs.remote()
    random.seed(1234)
    f2 = NoArgs.remote()
    assert f1._actor_id != f2._actor_id


def test_object_ref_arguments_are_resolved_first_and_order_holds(cluster):
    c = Counter.remote()
    late = slow_value.remote(100, 0.5)
    first = c.incr.remote(late)  # waits for its argument...
    second = c.incr.remote(1)  # ...and the same caller's next call waits behind it
    assert rt.get([first, second], timeout=60) == [100, 101]


def test_an_exception_fails_only_that_call(cluster):
    c = Counter.remote()
    bad = c.fail.remote()
    good = c.incr.remote()
    with pytest.raises(ValueError, match="bad call") as err:
        rt.get(bad, timeout=30)
    assert isinstance(err.value, rt.TaskError)
    assert "Counter.fail" in str(err.value)
    assert rt.get(good, timeout=30) == 1


def test_keyword_and_variable_arguments(cluster):
    """Ray: test_keyword_args, test_variable_number_of_args."""

    @rt.remote
    class Actor:
        def __init__(self, arg0, arg1=1, arg2="a"):
            self.arg0, self.arg1, self.arg2 = arg0, arg1, arg2

        def get_values(self, arg0, arg1=2, arg2="b"):
            return self.arg0 + arg0, self.arg1 + arg1, self.arg2 + arg2

    actor = Actor.remote(1, arg2="c", arg1=2)
    assert rt.get(actor.get_values.remote(0, arg2="d"), timeout=30) == (1, 4, "cd")
    assert rt.get(actor.get_values.remote(arg2="d", arg1=0, arg0=2), timeout=30) == (3, 2, "cd")
    # arguments that do not bind raise at .remote(), naming the class or method
    with pytest.raises(TypeError, match=r"Actor\(\)"):
        Actor.remote()
    with pytest.raises(TypeError):
        Actor.remote(0, 1, 2, arg3=3)
    with pytest.raises(TypeError):
        Actor.remote(0, arg0=1)
    with pytest.raises(TypeError, match=r"Actor.get_values\(\)"):
        actor.get_values.remote()

    @rt.remote
    class Varargs:
        def __init__(self, *args):
            self.args = args

        def get_values(self, *args):
            return self.args, args

    a = Varargs.remote(1, 2)
    assert rt.get(a.get_values.remote(3, 4), timeout=30) == ((1, 2), (3, 4))


def test_direct_calls_and_inheritance_are_refused(cluster):
    """Ray: test_define_actor, test_actor_inheritance."""
    with pytest.raises(TypeError, match="cannot be instantiated directly"):
        Counter()
    c = Counter.remote()
    with pytest.raises(TypeError, match=r"use handle.incr.remote"):
        c.incr(1)
    with pytest.raises(AttributeError, match="has no method 'nope'"):
        c.nope.remote()
    with pytest.raises(TypeError, match="Inheriting from actor classes is not currently supported"):

        class Derived(Counter):  # type: ignore[misc,valid-type]
            pass

    with pytest.raises(TypeError, match="unknown actor option"):
        Counter.options(num_gpus_typo=1)
    with pytest.raises(ValueError, match="detached"):
        Counter.options(lifetime="detached").remote()


def test_class_and_static_attributes_inside_methods(cluster):
    """Ray: test_actor_class_attributes, test_actor_static_attributes."""

    class Grandparent:
        GRANDPARENT = 2

    class Parent1(Grandparent):
        PARENT1 = 6

        @staticmethod
        def parent1_static():
            return 2

    @rt.remote
    class TestActor(Parent1):
        X = 3

        @staticmethod
        def f():
            assert TestActor.GRANDPARENT == 2
            assert TestActor.PARENT1 == 6
            return 4

        @classmethod
        def c(cls):
            return cls.X

        def g(self):
            assert TestActor.f() == 4
            assert self.parent1_static() == 2
            return TestActor.X

    t = TestActor.remote()
    assert rt.get([t.g.remote(), t.f.remote(), t.c.remote()], timeout=30) == [3, 4, 3]


def test_multiple_return_values(cluster):
    """Ray: test_multiple_return_values, test_options_num_returns."""

    @rt.remote
    class Foo:
        def method0(self):
            return 1

        @rt.method(num_returns=2)
        def method2(self):
            return 1, 2

        @rt.method(num_returns=3)
        def method3(self):
            return 1, 2, 3

        def pair(self):
            return 1, 2

        @rt.method(num_returns=0)
        def nothing(self):
            return None

    f = Foo.remote()
    assert rt.get(f.method0.remote(), timeout=30) == 1
    id2a, id2b = f.method2.remote()
    assert rt.get([id2a, id2b], timeout=30) == [1, 2]
    id3a, id3b, id3c = f.method3.remote()
    assert rt.get([id3a, id3b, id3c], timeout=30) == [1, 2, 3]
    assert rt.get(f.pair.remote(), timeout=30) == (1, 2)
    obj1, obj2 = f.pair.options(num_returns=2).remote()
    assert rt.get([obj1, obj2], timeout=30) == [1, 2]
    assert f.nothing.remote() is None
    # a wrong count fails every return
    bad = f.pair.options(num_returns=3).remote()
    for ref in bad:
        with pytest.raises(ValueError, match="num_returns=3"):
            rt.get(ref, timeout=30)
    # returns feed tasks like any ref
    assert rt.get(slow_value.remote(id3c, 0), timeout=30) == 3


def test_constructor_error_is_raised_by_every_call(cluster):
    """Ray: test_actor_init_error_propagated."""

    @rt.remote
    class Actor:
        def __init__(self, error=False):
            if error:
                raise Exception("oops")

        def foo(self):
            return "OK"

    assert rt.get(Actor.remote(error=False).foo.remote(), timeout=30) == "OK"
    actor = Actor.remote(error=True)
    with pytest.raises(Exception, match=r".*oops.*"):
        rt.get(actor.foo.remote(), timeout=30)
    with pytest.raises(Exception, match=r".*oops.*"):
        rt.get(actor.foo.remote(), timeout=30)


# --- handles passed around --------------------------------------------------------------------


@rt.remote
def call_handle(handle) -> int:
    return rt.get(handle.incr.remote(), timeout=30)


def test_actors_defined_inside_tasks(cluster):
    """Ray: test_define_actor_within_remote_function, test_actor_import_counter."""

    @rt.remote
    def f(x, n):
        @rt.remote
        class Actor1:
            def __init__(self, x):
                self.x = x

            def get_value(self):
                return self.x

        actor = Actor1.remote(x)
        return rt.get([actor.get_value.remote() for _ in range(n)])

    assert rt.get(f.remote(3, 1), timeout=60) == [3]
    assert rt.get([f.remote(i, 20) for i in range(4)], timeout=120) == [20 * [i] for i in range(4)]

    num_remote_functions = 50
    for i in range(num_remote_functions):

        @rt.remote
        def h():
            return i

    @rt.remote
    def g():
        @rt.remote
        class Actor:
            def __init__(self):
                self.x = rt.get(h.remote())  # the last version of h

            def get_val(self):
                return self.x

        actor = Actor.remote()
        return rt.get(actor.get_val.remote())

    assert rt.get(g.remote(), timeout=60) == num_remote_functions - 1


def test_handles_go_to_tasks_and_to_other_actors(cluster):
    """Ray: test_use_actor_twice, test_use_actor_within_actor."""
    a = Counter.remote()

    @rt.remote
    class Actor2:
        def inc(self, handle):
            return rt.get(handle.incr.remote())

    a2 = Actor2.remote()
    assert rt.get(a2.inc.remote(a), timeout=30) == 1
    assert rt.get(a2.inc.remote(a), timeout=30) == 2
    assert sorted(rt.get([call_handle.remote(a) for _ in range(3)], timeout=60)) == [3, 4, 5]
    assert rt.get(a.get.remote(), timeout=30) == 5


@rt.remote
class Queue:
    def __init__(self):
        self.queue = []

    def enqueue(self, key, item):
        self.queue.append((key, item))

    def read(self):
        return self.queue


@rt.remote
def fork(queue, key, num_items):
    x = None
    for item in range(num_items):
        x = queue.enqueue.remote(key, item)
    return rt.get(x)


def _each_in_order(items, keys, num_items):
    for i in keys:
        assert [item[1] for item in items if item[0] == i] == list(range(num_items)), i


def test_calls_of_each_handle_copy_stay_in_order(cluster):
    """Ray: test_fork, test_fork_consistency, test_pickled_handle_consistency,
    test_nested_fork (each caller's calls arrive in its order, whatever the others do)."""
    import cloudpickle

    queue = Queue.remote()
    rt.get(queue.read.remote(), timeout=30)
    rt.get([fork.remote(queue, i, 1) for i in range(20)], timeout=120)
    _each_in_order(rt.get(queue.read.remote(), timeout=30), range(20), 1)

    queue = Queue.remote()
    num_forks, num_items = 5, 100
    forks = [fork.remote(queue, i, num_items) for i in range(num_forks)]
    for item in range(num_items):
        local_fork = queue.enqueue.remote(num_forks, item)
    rt.get([*forks, local_fork], timeout=120)
    _each_in_order(rt.get(queue.read.remote(), timeout=30), range(num_forks + 1), num_items)

    @rt.remote
    def pickled_fork(pickled_queue, key, num_items):
        queue = cloudpickle.loads(pickled_queue)
        x = None
        for item in range(num_items):
            x = queue.enqueue.remote(key, item)
        return rt.get(x)

    queue = Queue.remote()
    pickled = cloudpickle.dumps(queue)
    forks = [pickled_fork.remote(pickled, i, num_items) for i in range(num_forks)]
    for item in range(num_items):
        local_fork = queue.enqueue.remote(num_forks, item)
    rt.get([*forks, local_fork], timeout=120)
    _each_in_order(rt.get(queue.read.remote(), timeout=30), range(num_forks + 1), num_items)

    @rt.remote
    def nested_fork(queue, key, num_items):
        rt.get(fork.remote(queue, key + 1, num_items))
        x = None
        for item in range(num_items):
            x = queue.enqueue.remote(key, item)
        return rt.get(x)

    queue = Queue.remote()
    rt.get([nested_fork.remote(queue, i, num_items) for i in range(0, 4, 2)], timeout=120)
    _each_in_order(rt.get(queue.read.remote(), timeout=30), range(4), num_items)


def test_handles_through_put_pickle_and_closures(cluster):
    """Ray: test_calling_put_on_actor_handle, test_pickling_actor_handle,
    test_pickled_actor_handle_call_in_method_twice."""
    import cloudpickle

    counter = Counter.remote()
    new_counter = rt.get(rt.put(counter), timeout=30)
    assert rt.get(new_counter.incr.remote(), timeout=30) == 1
    assert rt.get(counter.incr.remote(), timeout=30) == 2
    assert rt.get(new_counter.incr.remote(), timeout=30) == 3

    @rt.remote
    def g():
        return [Counter.remote(5)]

    (made,) = rt.get(g.remote(), timeout=60)  # a handle inside a task's result
    assert rt.get(made.get.remote(), timeout=30) == 5

    unpickled = cloudpickle.loads(cloudpickle.dumps(counter))
    assert rt.get(unpickled.get.remote(), timeout=30) == 3

    @rt.remote
    class Actor2:
        def __init__(self, constructor):
            self.actor = constructor()

        def step(self):
            return rt.get(self.actor.incr.remote())

    b = Actor2.remote(lambda: counter)
    assert rt.get(b.step.remote(), timeout=30) == 4
    assert rt.get(b.step.remote(), timeout=30) == 5


def test_tasks_never_run_in_an_actors_process(cluster):
    """Ray: test_remote_functions_not_scheduled_on_actors."""
    a = Counter.remote()
    actor_pid = rt.get(a.pid.remote(), timeout=30)

    @rt.remote
    def f():
        return os.getpid()

    assert actor_pid not in rt.get([f.remote() for _ in range(100)], timeout=60)


def test_actors_made_and_used_inside_tasks_and_actors(cluster):
    """Ray: test_use_actor_within_remote_function, test_define_actor_within_actor,
    test_remote_function_within_actor."""

    @rt.remote
    def f(x):
        actor = Counter.remote(x)
        return rt.get([actor.incr.remote(0) for _ in range(3)])

    assert rt.get(f.remote(3), timeout=60) == [3, 3, 3]

    @rt.remote
    class Maker:
        def __init__(self, x):
            self.x = x
            self.refs = [slow_value.remote(i, 0) for i in range(3)]
            self.values = rt.get([slow_value.remote(i, 0) for i in range(3)])

        def get_values(self):
            return self.x, self.refs, self.values

        def new_actor(self, z):
            self.child = Counter.remote(z)
            return rt.get(self.child.get.remote())

    m = Maker.remote(1)
    x, refs, values = rt.get(m.get_values.remote(), timeout=60)
    assert x == 1 and rt.get(refs, timeout=30) == [0, 1, 2] and values == [0, 1, 2]
    assert rt.get(m.new_actor.remote(5), timeout=60) == 5


# --- names ------------------------------------------------------------------------------------


def test_named_actors(cluster):
    named = Counter.options(name="counter-1").remote()
    assert rt.get(named.incr.remote(), timeout=30) == 1
    assert rt.get(rt.get_actor("counter-1").incr.remote(), timeout=30) == 2
    with pytest.raises(ValueError, match="already taken"):
        Counter.options(name="counter-1").remote()
    same = Counter.options(name="counter-1", get_if_exists=True).remote()
    assert rt.get(same.incr.remote(), timeout=30) == 3
    other = Counter.options(name="counter-1", namespace="other").remote(100)
    assert rt.get(rt.get_actor("counter-1", namespace="other").get.remote(), timeout=30) == 100
    with pytest.raises(ValueError, match="Failed to look up actor with name 'nobody'"):
        rt.get_actor("nobody")

    @rt.remote
    def by_name():
        return rt.get(rt.get_actor("counter-1").incr.remote())

    assert rt.get(by_name.remote(), timeout=30) == 4
    rt.kill(named)
    with pytest.raises(ValueError, match="Failed to look up"):
        rt.get_actor("counter-1")
    del other


def test_named_actors_from_a_ref_callback(cluster):
    """A future's done callback runs on the driver's loop thread: looking up or creating a
    named actor there runs at once instead of waiting for that same thread."""
    named = Counter.options(name="from-callback").remote(7)
    rt.get(named.get.remote(), timeout=30)
    found: list[object] = []
    done = threading.Event()

    def callback(_fut: object) -> None:
        try:
            found.append(rt.get_actor("from-callback"))
            found.append(Counter.options(name="made-in-callback").remote(3))
        except BaseException as exc:
            found.append(exc)
        done.set()

    signal = Signal.remote()
    signal.wait.remote().future().add_done_callback(callback)  # not done yet: runs on the loop
    rt.get(signal.send.remote(), timeout=30)
    assert done.wait(60), "the callback never finished"
    looked_up, made = found
    assert rt.get(looked_up.get.remote(), timeout=30) == 7
    assert rt.get(made.get.remote(), timeout=30) == 3
    assert rt.get(rt.get_actor("made-in-callback").incr.remote(), timeout=30) == 4


# --- stopping ---------------------------------------------------------------------------------


def test_kill_fails_pending_and_later_calls(cluster):
    @rt.remote
    class Sleeper:
        def sleep(self, s):
            time.sleep(s)

        def pid(self):
            return os.getpid()

    s = Sleeper.remote()
    pid = rt.get(s.pid.remote(), timeout=30)
    pending = s.sleep.remote(30)
    rt.kill(s)
    with pytest.raises(rt.ActorDiedError, match=r"Sleeper .* was killed by rt.kill\(\)"):
        rt.get(pending, timeout=30)
    with pytest.raises(rt.ActorDiedError):
        rt.get(s.pid.remote(), timeout=30)
    wait_for(lambda: _gone(pid), 30, "killed actor's process gone")
    with pytest.raises(ValueError, match=r"for tasks use rt\.cancel"):
        rt.kill("not a handle")  # type: ignore[arg-type]


def test_kill_with_restarts_allowed_fails_the_running_call_and_restarts(cluster):
    """Ray: test_kill (``no_restart=False``); the actor comes back when it has restarts."""

    @rt.remote(max_restarts=1)
    class Actor:
        def hang(self):
            while True:
                time.sleep(1)

        def pid(self):
            return os.getpid()

    actor = Actor.remote()
    pid = rt.get(actor.pid.remote(), timeout=30)
    result = actor.hang.remote()
    ready, _ = rt.wait([result], timeout=0.5)
    assert len(ready) == 0
    rt.kill(actor, no_restart=False)
    with pytest.raises(rt.ActorDiedError):
        rt.get(result, timeout=30)
    wait_for(lambda: _gone(pid), 30, "killed actor's process gone")
    assert rt.get(actor.pid.remote(), timeout=60) != pid  # restarted
    rt.kill(actor)  # no_restart=True: for good
    with pytest.raises(rt.ActorDiedError):
        rt.get(actor.pid.remote(), timeout=30)


@pytest.mark.parametrize("how", ["__rt_terminate__", "__ray_terminate__", "exit_actor", "kill"])
def test_exit_handlers_run_on_graceful_stops_only(cluster, tmp_path, how):
    """Ray: test_atexit_handler (rt.kill runs no exit handlers, the other ways do)."""

    @rt.remote
    class A:
        def __init__(self, path, data):
            import atexit

            def write():
                Path(path).write_text(data)

            atexit.register(write)

        def ready(self):
            return os.getpid()

        def exit(self):
            rt.exit_actor()

    out = tmp_path / "atexit"
    a = A.remote(str(out), "hello")
    pid = rt.get(a.ready.remote(), timeout=30)
    if how == "exit_actor":
        with pytest.raises(rt.ActorDiedError, match="exit_actor"):
            rt.get(a.exit.remote(), timeout=30)
    elif how == "kill":
        rt.kill(a)
    else:
        rt.wait([getattr(a, how).remote()], timeout=30)
    wait_for(lambda: _gone(pid), 30, "actor process gone")
    with pytest.raises(rt.ActorDiedError):
        rt.get(a.ready.remote(), timeout=30)
    if how == "kill":
        assert not out.exists()
    else:
        assert out.read_text() == "hello"


def test_exit_actor_outside_an_actor_is_refused(cluster):
    with pytest.raises(TypeError, match="inside an actor"):
        rt.exit_actor()


def test_dropped_handles_stop_the_actor(cluster):
    """Ray: test_actor_deletion, test_actor_method_deletion."""
    a = Counter.remote()
    pid = rt.get(a.pid.remote(), timeout=30)
    a = None
    wait_for(lambda: _gone(pid), 30, "actor stopped after its handle went")

    actors = [Counter.remote() for _ in range(3)]
    pids = rt.get([a.pid.remote() for a in actors], timeout=60)
    actors = None
    for pid in pids:
        wait_for(lambda pid=pid: _gone(pid), 30, "actors stopped after their handles went")
    # a call made on a handle dropped at once still runs
    assert rt.get(Counter.remote(7).get.remote(), timeout=30) == 7


@rt.remote
class Signal:
    def __init__(self):
        self.event = asyncio.Event()

    async def send(self):
        self.event.set()

    async def wait(self):
        await self.event.wait()


def test_a_handle_in_a_waiting_task_keeps_the_actor(cluster):
    """Ray: test_distributed_actor_handle_deletion."""

    @rt.remote
    def f(actor, signal):
        rt.get(signal.wait.remote())
        return rt.get(actor.incr.remote())

    signal = Signal.remote()
    a = Counter.remote()
    pid = rt.get(a.pid.remote(), timeout=30)
    x = f.remote(a, signal)  # the task cannot run its call yet
    del a
    # The driver takes in the dropped handle with the next call it is given (send, below), so
    # it decides about the actor's scope before the task can make its call: a wrongly stopped
    # actor fails that call.
    rt.get(signal.send.remote(), timeout=30)
    assert rt.get(x, timeout=30) == 1
    wait_for(lambda: _gone(pid), 30, "actor stopped once the task ended")


# --- concurrency ------------------------------------------------------------------------------


def test_async_actor_runs_calls_concurrently(cluster):
    """Ray: test_asyncio_actor, test_asyncio_actor_same_thread."""

    @rt.remote
    class AsyncBatcher:
        def __init__(self):
            self.batch = []
            self.event = asyncio.Event()

        async def add(self, x):
            self.batch.append(x)
            if len(self.batch) >= 3:
                self.event.set()
            else:
                await self.event.wait()
            return sorted(self.batch)

        def sync_thread_id(self):
            return threading.get_ident()

        async def async_thread_id(self):
            return threading.get_ident()

    a = AsyncBatcher.remote()
    x1, x2, x3 = a.add.remote(1), a.add.remote(2), a.add.remote(3)
    r1, r2, r3 = rt.get([x1, x2, x3], timeout=30)
    assert r1 == [1, 2, 3] and r1 == r2 == r3
    sync_id, async_id = rt.get([a.sync_thread_id.remote(), a.async_thread_id.remote()], timeout=30)
    assert sync_id == async_id


def test_async_actor_max_concurrency_one_runs_one_at_a_time(cluster):
    """Ray: test_asyncio_actor_concurrency."""

    @rt.remote
    class RecordOrder:
        def __init__(self):
            self.history = []

        async def do_work(self):
            self.history.append("STARTED")
            await asyncio.sleep(0)
            self.history.append("ENDED")

        def get_history(self):
            return self.history

    a = RecordOrder.options(max_concurrency=1).remote()
    rt.get([a.do_work.remote() for _ in range(10)], timeout=30)
    assert rt.get(a.get_history.remote(), timeout=30) == ["STARTED", "ENDED"] * 10


def test_await_ref_inside_an_async_actor(cluster):
    """Ray: test_asyncio_actor_async_get (and a waiting call does not block the others)."""

    @rt.remote
    class AsyncGetter:
        async def get(self):
            return await slow_value.remote(1, 0)

        async def put_get(self, value):
            return await rt.put(value)

        async def plasma_get(self, plasma_object):
            return await plasma_object[0]  # refs nested in arguments arrive as refs

        async def slow(self, signal):
            await signal.wait.remote()
            return "slow"

        async def ping(self):
            return "pong"

    getter = AsyncGetter.remote()
    assert rt.get(getter.get.remote(), timeout=30) == 1
    assert rt.get(getter.put_get.remote(2), timeout=30) == 2
    assert rt.get(getter.plasma_get.remote([rt.put(2)]), timeout=30) == 2
    signal = Signal.remote()
    slow = getter.slow.remote(signal)
    assert rt.get(getter.ping.remote(), timeout=30) == "pong"  # not blocked by the waiting call
    assert not rt.wait([slow], timeout=0)[0]
    rt.get(signal.send.remote(), timeout=30)
    assert rt.get(slow, timeout=30) == "slow"


def test_asyncio_get_of_actor_calls_from_the_driver(cluster):
    """Ray: test_asyncio_get (``await ref.as_future()`` of actor calls: small, large, failed,
    and after the actor died) and test_asyncio_double_await."""
    str_len = 200 * 1024

    @rt.remote
    class Actor:
        def echo(self, i):
            return i

        def big_object(self):
            return "a" * str_len

        def throw_error(self):
            1 / 0

    async def main() -> None:
        actor = Actor.remote()
        assert await actor.echo.remote(2).as_future() == 2
        assert await actor.big_object.remote().as_future() == "a" * str_len
        with pytest.raises(ZeroDivisionError) as err:
            await actor.throw_error.remote().as_future()
        assert isinstance(err.value, rt.TaskError)
        rt.kill(actor)
        with pytest.raises(rt.ActorDiedError):
            await actor.echo.remote(1)

        signal = Signal.remote()
        waiting = signal.wait.remote()
        future = waiting.as_future()
        with pytest.raises(asyncio.TimeoutError):
            await asyncio.wait_for(future, timeout=0.1)
        assert future.cancelled()
        await signal.send.remote()
        await waiting
        await waiting

    asyncio.run(asyncio.wait_for(main(), 120))


def test_exit_actor_in_an_async_actor_exits_at_once(cluster):
    """Ray: test_asyncio_exit_actor (exit_actor does not wait for the running calls)."""

    @rt.remote
    class Actor:
        async def exit(self):
            rt.exit_actor()

        async def ping(self):
            return "pong"

        async def loop_forever(self):
            while True:
                await asyncio.sleep(5)

    a = Actor.options(max_task_retries=0).remote()
    forever = a.loop_forever.remote()
    with pytest.raises(rt.PymesosRTError):
        rt.get(a.exit.remote(), timeout=60)
    with pytest.raises(rt.PymesosRTError):
        rt.get(a.ping.remote(), timeout=30)
    with pytest.raises(rt.ActorDiedError):
        rt.get(forever, timeout=30)
    actor_id = a._actor_id
    wait_for(
        lambda: any(
            x["actor_id"] == actor_id and x["state"] == "DEAD" for x in _state(cluster)["actors"]
        ),
        30,
        "the actor DEAD in /state",
    )


def test_async_actor_with_large_max_concurrency_runs_on_one_thread(cluster):
    """Ray: test_asyncio_actor_with_large_concurrency (no pool of max_concurrency threads)."""

    @rt.remote
    class Actor:
        def sync_thread_id(self):
            return threading.get_ident(), threading.active_count()

        async def async_thread_id(self):
            return threading.get_ident(), threading.active_count()

    a = Actor.options(max_concurrency=100000).remote()
    (sync_id, threads), (async_id, _) = rt.get(
        [a.sync_thread_id.remote(), a.async_thread_id.remote()], timeout=30
    )
    assert sync_id == async_id
    assert threads < 50, threads


def test_threaded_actor_runs_calls_at_once_and_get_does_not_block_the_others(cluster):
    @rt.remote(max_concurrency=4)
    class Threaded:
        def __init__(self):
            self.barrier = threading.Barrier(4)

        def meet(self):
            self.barrier.wait(timeout=60)  # breaks unless four calls run at once
            return threading.get_ident()

        def wait_for(self, ref_list):
            return rt.get(ref_list[0])

        def ping(self):
            return "pong"

    t = Threaded.remote()
    rt.get(t.ping.remote(), timeout=30)
    idents = rt.get([t.meet.remote() for _ in range(4)], timeout=90)
    assert len(set(idents)) == 4
    signal = Signal.remote()
    blocked = t.wait_for.remote([signal.wait.remote()])
    assert rt.get(t.ping.remote(), timeout=30) == "pong"  # not blocked by the waiting get
    assert not rt.wait([blocked], timeout=0)[0]
    rt.get(signal.send.remote(), timeout=30)
    assert rt.get(blocked, timeout=30) is None


def test_method_output_reaches_the_driver(cluster, capfd):
    @rt.remote
    class Talker:
        def say(self, text):
            print(text)

    t = Talker.remote()
    rt.get(t.say.remote("hello from an actor"), timeout=30)
    wait_for(
        lambda: "hello from an actor" in capfd.readouterr().out or None,
        10,
        "actor output in the driver",
    )


def _state(cluster: rt.ClusterInfo) -> dict:
    url = f"{cluster.dashboard_url}/state?limit=10000&framework={cluster.framework_id}"
    with urllib.request.urlopen(url, timeout=10) as resp:
        return json.load(resp)


def test_state_and_status_show_actors(cluster):
    from pymesos_rt.cli import render_status

    a = Counter.options(name="shown").remote()
    rt.get(a.incr.remote(), timeout=30)
    node = rt.nodes()[0]["id"]

    def listed():
        state = _state(cluster)
        found = [x for x in state["actors"] if x["name"] == "shown" and x["state"] == "ALIVE"]
        return (state, found[0]) if found else None

    state, shown = wait_for(listed, 30, "the actor in /state")
    assert shown["class"] == "Counter" and shown["agent_id"] == node
    assert shown["restarts"] == 0 and shown["pending"] == 0
    assert state["counts"]["actors"] >= 1
    text = render_status(state)
    assert "ACTOR" in text and "shown" in text and "ALIVE" in text
    # unanswered calls: one blocked in the actor and three queued behind it
    signal = Signal.remote()
    blocked = a.wait_on.remote(signal)
    queued = [a.incr.remote() for _ in range(3)]
    wait_for(
        lambda: [
            x for x in _state(cluster)["actors"] if x["name"] == "shown" and x["pending"] == 4
        ],
        30,
        "4 pending calls in /state",
    )
    rt.get(signal.send.remote(), timeout=30)
    assert rt.get([blocked, *queued], timeout=30) == [None, 2, 3, 4]
    wait_for(
        lambda: [
            x for x in _state(cluster)["actors"] if x["name"] == "shown" and x["pending"] == 0
        ],
        30,
        "no pending call in /state",
    )
    rt.kill(a)
    wait_for(
        lambda: any(
            x["name"] == "shown" and x["state"] == "DEAD" for x in _state(cluster)["actors"]
        ),
        30,
        "the dead actor in /state",
    )


def test_result_of_an_actor_made_in_a_finished_task_stays(cluster):
    """Ray: test_actor_exit_from_task (the actor is out of scope when the task ends; its call
    still answers)."""

    @rt.remote
    def f():
        a = Counter.remote(41)
        return [a.incr.remote()]

    x = rt.get(f.remote(), timeout=60)[0]
    assert rt.get(x, timeout=60) == 42


def test_async_actor_concurrency_above_the_recursion_limit(cluster):
    """Ray: test_asyncio_actor_high_concurrency (and calls beyond max_concurrency wait)."""
    import sys

    @rt.remote
    class AsyncConcurrencyBatcher:
        def __init__(self, batch_size):
            self.batch = []
            self.event = asyncio.Event()
            self.batch_size = batch_size

        async def add(self, x):
            self.batch.append(x)
            if len(self.batch) >= self.batch_size:
                self.event.set()
            else:
                await self.event.wait()
            return sorted(self.batch)

    batch_size = sys.getrecursionlimit() * 4
    actor = AsyncConcurrencyBatcher.options(max_concurrency=batch_size * 2).remote(batch_size)
    result = rt.get([actor.add.remote(i) for i in range(batch_size)], timeout=120)
    assert result[0] == list(range(batch_size))
    assert result[-1] == list(range(batch_size))
    # with room for 2 at once, a batch of 3 waits for ever: the third never starts
    small = AsyncConcurrencyBatcher.options(max_concurrency=2).remote(3)
    refs = [small.add.remote(i) for i in range(3)]
    ready, _ = rt.wait(refs, num_returns=1, timeout=1.0)
    assert ready == []
    rt.kill(small)


def test_cancel_actor_calls(cluster):
    @rt.remote
    class Slow:
        async def wait(self):
            await asyncio.sleep(60)

        def ping(self):
            return "pong"

    s = Slow.remote()
    assert rt.get(s.ping.remote(), timeout=30) == "pong"
    running = s.wait.remote()
    rt.cancel(running)  # cancelled on the actor's loop (or before it started)
    with pytest.raises(rt.TaskCancelledError):
        rt.get(running, timeout=30)
    assert rt.get(s.ping.remote(), timeout=30) == "pong"
    # a call still waiting in the driver for its argument; the caller's next call goes on
    c = Counter.remote()
    waiting = c.incr.remote(slow_value.remote(5, 30))
    rt.cancel(waiting)
    with pytest.raises(rt.TaskCancelledError):
        rt.get(waiting, timeout=30)
    assert rt.get(c.incr.remote(), timeout=30) == 1
