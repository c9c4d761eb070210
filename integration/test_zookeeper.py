"""Leader election and detection against a real ZooKeeper (Debian's package), started by
pymesos_rt.testing.zookeeper; every test works under a chroot of its own.

Safety is checked in every test that changes leadership: a shared log of leadership intervals
(as reported to the application) must never overlap, and a sampler of the contenders' ``leading``
flags must never see two set at once. Waits are on events with generous deadlines; the only
sleeps hold a failure (a paused or stopped ZooKeeper) for a set time. When ZooKeeper or java is
missing, the harness raises ZooKeeperNotInstalled: these tests fail, they do not skip.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import math
import signal
import sys
import threading
import time
from collections.abc import Callable
from functools import partial

import pytest
from kazoo.client import KazooClient

from pymesos_rt.coordination import Leadership, MasterInfo
from pymesos_rt.coordination.session import sequence_of
from pymesos_rt.coordination.zookeeper import ZooKeeperContender, ZooKeeperDetector
from pymesos_rt.testing.zookeeper import unique_chroot, zookeeper_ensemble, zookeeper_server

pytestmark = pytest.mark.integration

T = 2.0  # session timeout (s) of most tests; the servers' tickTime of 500 ms allows 1..30 s


def stepped_down_by_either_guard(reason: str) -> bool:
    """A silent ZooKeeper makes a leader step down through whichever guard fires first:
    kazoo suspends the session (missed pings), or the leader's own lease, renewed by round
    trips to ZooKeeper, runs out. Both are 2/3 of the session timeout: the order is a race."""
    return "suspended" in reason or "lease lapsed" in reason


@pytest.fixture(scope="module")
def zk():
    with zookeeper_server() as server:
        yield server


@pytest.fixture
def own_zk():
    """A server of the test's own, for tests that pause or kill it."""
    with zookeeper_server() as server:
        yield server


@pytest.fixture
def ensemble():
    with zookeeper_ensemble(3) as ens:
        yield ens


@pytest.fixture(autouse=True)
def no_leaked_threads():
    before = set(threading.enumerate())
    yield
    deadline = time.monotonic() + 10
    while True:
        left = [t for t in threading.enumerate() if t not in before and t.is_alive()]
        if not left or time.monotonic() > deadline:
            break
        time.sleep(0.02)
    assert not left, f"threads left behind: {left}"


def info(n: int) -> MasterInfo:
    return MasterInfo(id=f"master-{n}", hostname="localhost", ip="127.0.0.1", port=5050 + n)


async def wait_until(changed: asyncio.Event, done: Callable[[], bool], timeout: float) -> None:
    """Wait until ``done()``, re-checking when ``changed`` is set and at least every 10 ms (for
    conditions on properties that report no event); ``TimeoutError`` after ``timeout``."""
    async with asyncio.timeout(timeout):
        while not done():
            changed.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(changed.wait(), 0.01)


class Election:
    """Contenders 0..n-1 under one path (joined in order, so sequence order is index order),
    a detector, the log of what each was told, and the safety checks."""

    def __init__(self, url: str, n: int, session_timeout: float = T) -> None:
        self.contenders = [ZooKeeperContender(url, session_timeout) for _ in range(n)]
        self.detector = ZooKeeperDetector(url, session_timeout)
        self.events: list[tuple[float, int, Leadership]] = []
        self.seen: list[MasterInfo | None] = []
        self.open: dict[int, float] = {}
        self.intervals: list[tuple[float, float, int]] = []
        self.flags_max = 0
        self.flag_spans: list[list[list[float]]] = [[] for _ in range(n)]  # [first, last] True
        self.changed = asyncio.Event()
        for i, contender in enumerate(self.contenders):
            contender.subscribe(partial(self._on_leadership, i))
        self.detector.subscribe(self._on_leader)

    def _on_leadership(self, i: int, event: Leadership) -> None:
        now = time.monotonic()
        self.events.append((now, i, event))
        if event.leading:
            assert i not in self.open
            self.open[i] = now
        else:
            self.intervals.append((self.open.pop(i), now, i))
        self.changed.set()

    def _on_leader(self, leader: MasterInfo | None) -> None:
        self.seen.append(leader)
        self.changed.set()

    async def _sample(self) -> None:
        was = [False] * len(self.contenders)
        while True:
            now = time.monotonic()
            flags = [c.leading for c in self.contenders]
            self.flags_max = max(self.flags_max, sum(flags))
            for i, flag in enumerate(flags):
                if flag and was[i]:
                    self.flag_spans[i][-1][1] = now
                elif flag:
                    self.flag_spans[i].append([now, now])
                    self.changed.set()
            was = flags
            await asyncio.sleep(0.002)

    async def start(self) -> None:
        self._sampler = asyncio.create_task(self._sample())
        await self.detector.start()
        for i, contender in enumerate(self.contenders):
            await contender.start(info(i))

    def leaders(self) -> list[int]:
        return [i for i, c in enumerate(self.contenders) if c.reported_leading]

    def events_of(self, i: int) -> list[bool]:
        return [e.leading for _, j, e in self.events if j == i]

    async def wait_leader(self, timeout: float = 20.0) -> int:
        """The one contender leading once exactly one leads and the detector names it."""

        def settled() -> bool:
            leaders = self.leaders()
            return len(leaders) == 1 and self.detector.current() == info(leaders[0])

        await wait_until(self.changed, settled, timeout)
        return self.leaders()[0]

    async def wait(self, done: Callable[[], bool], timeout: float = 20.0) -> None:
        await wait_until(self.changed, done, timeout)

    def assert_safe(self) -> None:
        spans = sorted(self.intervals + [(s, math.inf, i) for i, s in self.open.items()])
        for (_s1, e1, i1), (s2, _e2, i2) in itertools.pairwise(spans):
            assert e1 <= s2, f"contenders {i1} and {i2} were both told they lead"
        assert self.flags_max <= 1, "two contenders' leading flags were set at once"

    async def close(self, check: bool = True) -> None:
        """Withdraw everyone (the detector must see the path empty), then check safety."""
        for contender in self.contenders:
            await contender.withdraw()
        await self.wait(lambda: self.detector.current() is None)
        if check:
            self.assert_safe()

    async def __aenter__(self) -> Election:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        for contender in self.contenders:  # after a failure too: leave no session behind
            await contender.withdraw()
        await self.detector.stop()
        self._sampler.cancel()


def read_znodes(hosts: str, path: str) -> dict[str, bytes]:
    client = KazooClient(hosts=hosts)
    client.start(timeout=10)
    try:
        return {name: client.get(f"{path}/{name}")[0] for name in client.get_children(path)}
    finally:
        client.stop()
        client.close()


# --- one server ------------------------------------------------------------------------------
def test_one_contender_is_elected_in_mesos_layout(zk):
    path = unique_chroot()

    async def main():
        async with Election(zk.url(path), 1) as election:
            assert await election.wait_leader() == 0
            (_t, _i, event), *_ = election.events
            assert event.leading and event.epoch == 0
            znodes = await asyncio.to_thread(read_znodes, zk.hosts, path)
            assert list(znodes) == ["json.info_0000000000"]  # Mesos's name: 10-digit sequence
            assert MasterInfo.from_json(znodes["json.info_0000000000"]) == info(0)
            await election.close()
            assert election.seen == [info(0), None]
            assert await asyncio.to_thread(read_znodes, zk.hosts, path) == {}

    asyncio.run(main())


def test_three_contenders_elect_exactly_the_lowest(zk):
    async def main():
        async with Election(zk.url(unique_chroot()), 3) as election:
            assert await election.wait_leader() == 0
            seqs = [sequence_of(c.znode.rsplit("/", 1)[1]) for c in election.contenders]
            assert seqs == sorted(seqs) and len(set(seqs)) == 3
            assert [c.leading for c in election.contenders] == [True, False, False]
            assert election.events_of(1) == election.events_of(2) == []
            await election.close()

    asyncio.run(main())


def test_withdraw_hands_over_within_milliseconds(zk):
    async def main():
        async with Election(zk.url(unique_chroot()), 3) as election:
            assert await election.wait_leader() == 0
            took = []
            for nxt in (1, 2):
                start = time.monotonic()
                await election.contenders[nxt - 1].withdraw()
                await election.wait(lambda nxt=nxt: election.leaders() == [nxt], timeout=10)
                took.append(time.monotonic() - start)
                assert await election.wait_leader() == nxt
            print(f"\nwithdraw -> next elected: {[f'{t * 1000:.1f} ms' for t in took]}")
            epochs = [e.epoch for _, _, e in election.events if e.leading]
            assert epochs == sorted(epochs) and len(set(epochs)) == 3  # usable as a fencing token
            await election.close()
            assert election.seen == [info(0), info(1), info(2), None]

    asyncio.run(main())


CHILD = """
import asyncio, signal, sys, time
from pymesos_rt.coordination import MasterInfo
from pymesos_rt.coordination.zookeeper import ZooKeeperContender

async def main():
    contender = ZooKeeperContender(sys.argv[1], session_timeout=float(sys.argv[2]))
    contender.subscribe(lambda e: print("event", int(e.leading), flush=True))
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    await contender.start(MasterInfo(id="child", hostname="localhost", ip="127.0.0.1", port=6000))
    was, last_true = False, 0.0
    while not stop.is_set():  # report when the leading flag turns on and when it was last on
        now = time.monotonic()
        flag = contender.leading
        if flag:
            last_true = now
        if flag != was:
            print("flag", int(flag), now if flag else last_true, flush=True)
            was = flag
        await asyncio.sleep(0.0005)
    await contender.withdraw()

asyncio.run(main())
"""


class Child:
    """A contender in a process of its own (so it can be killed or frozen), and what it says."""

    def __init__(self, proc: asyncio.subprocess.Process) -> None:
        self.proc = proc
        self.lines: list[list[str]] = []
        self.changed = asyncio.Event()
        self._reader = asyncio.create_task(self._read())

    @classmethod
    async def start(cls, url: str, session_timeout: float) -> Child:
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-c", CHILD, url, str(session_timeout), stdout=asyncio.subprocess.PIPE
        )
        return cls(proc)

    async def _read(self) -> None:
        while line := await self.proc.stdout.readline():
            self.lines.append(line.decode().split())
            self.changed.set()

    async def wait_for(self, *words: str, timeout: float = 30.0) -> None:
        await wait_until(self.changed, lambda: list(words) in [w[:2] for w in self.lines], timeout)

    def flag_spans(self) -> list[tuple[float, float]]:
        """When the child read ``leading == True``: [(first, last), ...]."""
        marks = [(w[1], float(w[2])) for w in self.lines if w[0] == "flag"]
        starts = [t for on, t in marks if on == "1"]
        ends = [t for on, t in marks if on == "0"] + [math.inf]
        return list(zip(starts, ends[: len(starts)], strict=True))

    async def close(self) -> None:
        if self.proc.returncode is None:
            self.proc.terminate()  # SIGTERM: withdraws
            self.proc.send_signal(signal.SIGCONT)
        try:
            await asyncio.wait_for(self.proc.wait(), 30)
        finally:
            if self.proc.returncode is None:
                self.proc.kill()
            await self.proc.wait()
            await self._reader


@pytest.mark.parametrize("session_timeout", [2.0, 4.0])
def test_killed_leader_is_replaced_after_its_session_expires(zk, session_timeout):
    url = zk.url(unique_chroot())

    async def main():
        child = await Child.start(url, session_timeout)
        try:
            await child.wait_for("flag", "1")
            async with Election(url, 1, session_timeout) as election:
                assert election.leaders() == [] and election.detector.current().id == "child"
                start = time.monotonic()
                child.proc.kill()
                deadline = session_timeout * 3 + 10
                await election.wait(lambda: election.leaders() == [0], timeout=deadline)
                took = time.monotonic() - start
                print(f"\nSIGKILLed leader (session {session_timeout} s) -> elected: {took:.2f} s")
                # ZooKeeper must not hand over before the dead leader's session can expire.
                assert took >= session_timeout * 0.5
                assert await election.wait_leader() == 0
                await election.close()
        finally:
            await child.close()

    asyncio.run(main())


def test_frozen_leader_process_never_overlaps_its_successor(zk):
    """SIGSTOP the leader's process past its session timeout: a successor is elected, and when
    the old leader runs again its ``leading`` reads false at once (its lease ran out while it
    was frozen), before its ZooKeeper client has noticed anything; it then rejoins behind."""
    url = zk.url(unique_chroot())

    async def main():
        child = await Child.start(url, T)
        try:
            await child.wait_for("flag", "1")
            async with Election(url, 1) as election:
                child.proc.send_signal(signal.SIGSTOP)
                try:
                    await election.wait(lambda: election.leaders() == [0], timeout=T * 3 + 10)
                finally:
                    child.proc.send_signal(signal.SIGCONT)
                await child.wait_for("event", "0")
                # the child's poll prints when it last read the flag set; under load its
                # "event" line (the client's notice) can be read before that one
                await child.wait_for("flag", "0")
                assert await election.wait_leader() == 0
                await election.wait(lambda: election.flag_spans[0] != [])
                for s1, e1 in child.flag_spans():
                    for s2, e2 in election.flag_spans[0]:
                        assert e1 < s2 or e2 < s1, "the frozen leader and its successor overlap"
                assert child.flag_spans()[0][1] < election.flag_spans[0][0][0]
                assert election.leaders() == [0] and election.events_of(0) == [True]
                await child.close()
                await election.close()
        finally:
            await child.close()

    asyncio.run(main())


def test_detector_follows_every_change(zk):
    url = zk.url(unique_chroot())

    async def main():
        async with Election(url, 3) as election:
            late = ZooKeeperDetector(url, T)
            await late.start()
            assert late.current() == info(0)  # start() returns with the leader known
            for i in range(3):
                await election.wait(lambda i=i: election.detector.current() == info(i))
                assert await late.wait_change(info(i - 1) if i else None, timeout=10) == info(i)
                await election.contenders[i].withdraw()
            await election.wait(lambda: election.detector.current() is None)
            await late.stop()
            await election.close()
            assert election.seen == [info(0), info(1), info(2), None]

    asyncio.run(main())


def test_leader_whose_znode_is_deleted_steps_down_and_rejoins(zk):
    path = unique_chroot()

    async def main():
        async with Election(zk.url(path), 2) as election:
            assert await election.wait_leader() == 0
            first = election.contenders[0].znode

            def delete() -> None:
                client = KazooClient(hosts=zk.hosts)
                client.start(timeout=10)
                client.delete(first)
                client.stop()
                client.close()

            await asyncio.to_thread(delete)
            await election.wait(lambda: election.leaders() == [1])
            assert await election.wait_leader() == 1
            await election.wait(lambda: election.contenders[0].znode not in (None, first))
            assert sequence_of(election.contenders[0].znode.rsplit("/", 1)[1]) == 2
            assert election.events_of(0) == [True, False]
            # No exclusivity check: a deleted znode is an operator's error, which the old
            # leader learns from a watch at about the time its successor does (module doc).
            await election.close(check=False)

    asyncio.run(main())


def test_paused_server_the_leader_stops_leading_and_one_leads_after(own_zk):
    async def main():
        async with Election(own_zk.url(unique_chroot()), 3) as election:
            assert await election.wait_leader() == 0
            own_zk.pause()
            paused_at = time.monotonic()
            await election.wait(lambda: election.leaders() == [], timeout=T + 10)
            stepped_down = time.monotonic() - paused_at
            assert stepped_down_by_either_guard(election.events[-1][2].reason)
            # Hold the pause past the session timeout: nobody may lead meanwhile.
            await asyncio.sleep(max(0.0, paused_at + T + 1.0 - time.monotonic()))
            assert election.leaders() == [] and not any(c.leading for c in election.contenders)
            own_zk.resume()
            resumed_at = time.monotonic()
            leader = await election.wait_leader(timeout=30)
            print(
                f"\nZooKeeper paused: leader stepped down after {stepped_down:.2f} s; after resume "
                f"contender {leader} leads within {time.monotonic() - resumed_at:.2f} s"
            )
            # Everyone is back in the line (expired sessions rejoined with new znodes).
            await election.wait(lambda: all(c.znode for c in election.contenders))
            await election.close()

    asyncio.run(main())


# --- a three-server ensemble -----------------------------------------------------------------
def test_ensemble_survives_losing_a_server_with_no_leadership_change(ensemble):
    async def main():
        async with Election(ensemble.url(unique_chroot()), 3) as election:
            assert await election.wait_leader() == 0
            serving = ensemble.serving(election.contenders[0].session_id)
            assert serving is not None
            victim = next(i for i in ensemble.follower_indexes() if i != serving)
            ensemble.kill(victim)
            await asyncio.sleep(2 * T)  # hold: any leadership change would show up by now
            await asyncio.to_thread(ensemble.restart, victim)
            assert election.leaders() == [0] and election.contenders[0].leading
            assert [(i, e.leading) for _, i, e in election.events] == [(0, True)]
            assert election.seen == [info(0)]
            await election.close()

    asyncio.run(main())


def test_ensemble_leader_cut_from_its_server_steps_down_then_resumes(ensemble):
    """Killing the server the leader talks to suspends its session: it stops leading at once,
    reconnects to another server with the same session, and leads again in the same term."""

    async def main():
        async with Election(ensemble.url(unique_chroot()), 3, session_timeout=4.0) as election:
            assert await election.wait_leader() == 0
            ensemble.kill(ensemble.serving(election.contenders[0].session_id))
            await election.wait(lambda: election.events_of(0) == [True, False, True], timeout=30)
            assert await election.wait_leader() == 0
            epochs = {e.epoch for _, _, e in election.events}
            assert len(epochs) == 1, "the leader kept its znode (its session survived)"
            assert election.events_of(1) == election.events_of(2) == []
            await election.close()

    asyncio.run(main())


def test_ensemble_down_the_leader_stops_and_nobody_is_elected(ensemble):
    async def main():
        async with Election(ensemble.url(unique_chroot()), 3) as election:
            assert await election.wait_leader() == 0
            ensemble.kill_all()  # (one by one, the leader could resume on the next server)
            down_at = time.monotonic()
            await election.wait(lambda: election.leaders() == [], timeout=T + 10)
            assert stepped_down_by_either_guard(election.events[-1][2].reason)
            await asyncio.sleep(max(0.0, down_at + 2 * T - time.monotonic()))
            assert election.leaders() == [] and not any(c.leading for c in election.contenders)
            assert [(i, e.leading) for _, i, e in election.events] == [(0, True), (0, False)]
            await asyncio.to_thread(ensemble.start)
            await election.wait_leader(timeout=30)
            await election.close()

    asyncio.run(main())
