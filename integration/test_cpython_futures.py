"""CPython 3.11's own ``concurrent.futures`` tests, run against ``rt.Executor`` (issue 9,
point 7) with no assertion changed.

The test file is Debian's (package ``libpython3.11-testsuite``, which ``scripts/test`` installs
as root where apt-get exists): ``/usr/lib/python3.11/test/test_concurrent_futures.py``. It is
loaded by file under a module name of its own (the interpreter running the tests may be
another 3.11 build whose ``test`` package lacks the file), from a directory on ``sys.path``, so
executors import it too and its functions travel by reference, as with a process pool.

The executor under test attaches to real daemons (a master and an agent process), so the
suite's ``reap_children()`` never reaps an executor process of ours. The mixins run are those
the issue names (``ExecutorTest``, ``WaitTests``, ``AsCompletedTests``,
``ExecutorShutdownTest``) plus ``InitializerMixin``; skipped tests name their reason, and the
behaviour each covers is tested in ``test_executor_exit.py`` instead.
"""

from __future__ import annotations

import atexit
import importlib
import os
import shutil
import sys
import tempfile
import threading
import time
import unittest
import weakref
from pathlib import Path

import pytest

import pymesos_rt as rt
from pymesos_rt.testing.daemons import start_agent, start_master

pytestmark = pytest.mark.integration

CPYTHON_TESTS = Path("/usr/lib/python3.11/test/test_concurrent_futures.py")
MODULE = "cpython_test_concurrent_futures"

if sys.version_info[:2] != (3, 11):
    pytest.skip("the CPython test file is 3.11's", allow_module_level=True)
if not CPYTHON_TESTS.is_file():
    pytest.skip(
        f"{CPYTHON_TESTS} is missing: install Debian's libpython3.11-testsuite "
        "(scripts/test does, as root where apt-get exists)",
        allow_module_level=True,
    )

_dir = tempfile.mkdtemp(prefix="pymesos-rt-cpython-tests-")
atexit.register(shutil.rmtree, _dir, True)
os.symlink(CPYTHON_TESTS, os.path.join(_dir, f"{MODULE}.py"))
sys.path.append(_dir)  # executors get the driver's sys.path: they import it by this name
cf = importlib.import_module(MODULE)

INTERPRETER_EXIT = (
    "its script imports the executor class by name from concurrent.futures and helpers from "
    "test.test_concurrent_futures; the same behaviour of rt.Executor is tested by "
    "test_executor_exit.py"
)


@pytest.fixture(scope="module", autouse=True)
def attached_cluster(tmp_path_factory):
    work = tmp_path_factory.mktemp("cpython-futures")
    master = start_master(work)
    agent = start_agent(master, work, "--resources", "cpus:8;mem:8192", "--isolation", "none")
    try:
        rt.init(master.url, idle_timeout=30.0)
        yield
    finally:
        rt.shutdown()
        agent.stop()
        master.stop()


class RtExecutorMixin(cf.ExecutorMixin):
    executor_type = rt.Executor


class RtExecutorTest(cf.ExecutorTest, RtExecutorMixin, cf.BaseTestCase):
    pass


class RtWaitTest(cf.WaitTests, RtExecutorMixin, cf.BaseTestCase):
    pass


class RtAsCompletedTest(cf.AsCompletedTests, RtExecutorMixin, cf.BaseTestCase):
    pass


class RtInitializerTest(cf.InitializerMixin, RtExecutorMixin, cf.BaseTestCase):
    pass


class RtShutdownTest(cf.ExecutorShutdownTest, RtExecutorMixin, cf.BaseTestCase):
    @unittest.skip(INTERPRETER_EXIT)
    def test_interpreter_shutdown(self):
        pass

    @unittest.skip(INTERPRETER_EXIT)
    def test_submit_after_interpreter_shutdown(self):
        pass

    @unittest.skip(INTERPRETER_EXIT)
    def test_hang_gh83386(self):
        pass


# --- what the issue saw, beyond the CPython suite ---------------------------------------------
# (helpers are defined inside the tests: pickled by value, executors never import this module)


def test_submit_never_blocks_and_waiting_futures_can_be_cancelled(tmp_path):
    def wait_for(path: Path) -> None:
        while not path.exists():
            time.sleep(0.01)

    gate = tmp_path / "go"
    with rt.Executor(max_workers=1) as pool:
        first = pool.submit(wait_for, gate)
        t0 = time.monotonic()
        rest = [pool.submit(pow, 2, i) for i in range(20)]  # would block on a full pool
        assert time.monotonic() - t0 < 10
        deadline = time.monotonic() + 30
        while not first.running() and time.monotonic() < deadline:
            time.sleep(0.01)
        assert first.running()
        assert not first.cancel()  # running: the stdlib refuses, and so do we
        assert rest[-1].cancel() and rest[-1].cancelled()
        gate.touch()
        assert first.result(timeout=30) is None
        assert [f.result(timeout=30) for f in rest[:-1]] == [2**i for i in range(19)]


def test_submitted_callables_are_not_kept():
    class Holder:
        def method(self, x: int) -> int:
            return x + 1

    holder = Holder()
    gone = threading.Event()
    weakref.finalize(holder, gone.set)
    with rt.Executor() as pool:
        assert pool.submit(holder.method, 1).result(timeout=30) == 2
        assert pool.submit(lambda: 3).result(timeout=30) == 3
        del holder
        assert gone.wait(10), "the executor keeps a bound method's object alive"
