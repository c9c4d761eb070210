"""Leader election and detection through ZooKeeper, with kazoo (the only kazoo code in the package).

Layout (Mesos's, so tools that find a Mesos leader find ours): each contender creates an
ephemeral sequential znode ``<path>/json.info_<seq>`` holding its :class:`MasterInfo` JSON. The
leader is the contender with the lowest sequence number. Contenders and detectors watch the
children of ``<path>``; a detector reports the lowest node's info.

Sessions and what the contender does in each kazoo state:

* ``CONNECTED``: re-read the children (watches do not survive a disconnection); lead iff our
  znode is the lowest. A connection whose session survived keeps its znode.
* ``SUSPENDED`` (connection lost, session maybe alive): stop leading *at once*, in kazoo's
  thread, before anything else: the session may expire while we cannot hear about it.
* ``LOST`` (session expired, or closed): our znode is gone. kazoo opens a new session; on its
  ``CONNECTED`` the contender creates a new znode and rejoins at the back of the line.

Why two masters never believe they lead at once. Another contender can lead only after the
leader's znode is deleted, and only after it has read that deletion; the znode goes only
(a) when the leader withdraws, which clears its leadership first; (b) when someone deletes it,
which the leader hears through its watch (an operator error: a short overlap is possible); or
(c) when the server expires the leader's session, at least T (the session timeout) after the
server last heard from it. Against (c) a contender holds a *lease*: :attr:`leading` is true
only while its session is CONNECTED, its znode was the lowest at its last read, and less than
2/3 T has passed since it *sent* a request that ZooKeeper answered (the server heard from it
after that instant, so cannot expire the session before it + T). The leader renews the lease
with a read of its own znode every T/4. So even a leader whose process was frozen (SIGSTOP, a
stopped VM, a long GC) reads ``leading == False`` the moment it runs again, before kazoo has
noticed anything; and SUSPENDED clears the flag in kazoo's thread at once. What remains is
T/3 of margin for the clocks of the two machines to drift and for an application that checked
:attr:`leading` to finish what it started; events reach the loop later than the flag changes,
so gate actions that two leaders must never both take on :attr:`leading`, or fence them with
:attr:`Leadership.epoch` (the znode's sequence number, which grows from leader to leader). The
lease assumes the server grants the requested session timeout (ZooKeeper lowers it only above
its ``maxSessionTimeout``, 20 ticks by default).

Asyncio: kazoo's requests are asynchronous results whose completion callbacks run on kazoo's
threads; they and the watches and the state listener are marshalled onto the caller's loop
with ``call_soon_threadsafe``, so the loop never blocks, and every request has a timeout (a
request can otherwise wait forever when the ensemble has no quorum).

Timeouts: the session timeout defaults to 10 s (as Mesos's ``--zk_session_timeout``): a dead
leader is replaced after about that long. Tests use 1-4 s with a server ``tickTime`` of 500 ms;
the server clamps the session timeout to 2..20 ticks.

Imports: kazoo, :mod:`.base`, :mod:`.session` (the kazoo session plumbing).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time

from kazoo.exceptions import ConnectionLoss, NoNodeError
from kazoo.protocol.states import KazooState

from pymesos_rt.coordination.base import (
    Contender,
    Detector,
    Leadership,
    MasterInfo,
    ZooKeeperAddress,
    parse_address,
)
from pymesos_rt.coordination.session import INFO_PREFIX, ZooKeeperSession, seq_key, sequence_of

log = logging.getLogger(__name__)
# kazoo logs each failed connection attempt at WARNING; with no logging set up, Python would
# print them all to stderr (59 lines for a zk:// address nobody answers): keep them out unless
# the program configured logging (they still propagate to its handlers)
logging.getLogger("kazoo").addHandler(logging.NullHandler())

DEFAULT_SESSION_TIMEOUT = 10.0
DEFAULT_START_TIMEOUT = 30.0


def _zk_address(address: ZooKeeperAddress | str) -> ZooKeeperAddress:
    parsed = parse_address(address) if isinstance(address, str) else address
    if not isinstance(parsed, ZooKeeperAddress):
        raise ValueError(f"{address!r} is not a zk:// address")
    return parsed


class ZooKeeperContender(Contender):
    """A master in the election under ``address`` (``zk://hosts/path``); see the module doc.

    ``start_timeout``: how long :meth:`start` waits to join (``None``: forever) before it gives
    up, closes the session and raises ``TimeoutError``.
    """

    def __init__(
        self,
        address: ZooKeeperAddress | str,
        session_timeout: float = DEFAULT_SESSION_TIMEOUT,
        start_timeout: float | None = DEFAULT_START_TIMEOUT,
    ) -> None:
        super().__init__()
        self._zk = ZooKeeperSession(
            _zk_address(address), session_timeout, self._step, self._on_state
        )
        self._path = self._zk.address.path
        self._start_timeout = start_timeout
        self._data = b""
        self._started = False
        # Guarded by self._zk.lock (written from kazoo's thread and the loop):
        self._znode: str | None = None  # our znode's full path in the current session
        self._leading = False
        self._epoch = 0  # our znode's sequence number while leading
        self._term = 0  # +1 each time leadership is gained
        self._reason = ""
        self._lease_until = 0.0  # monotonic time until which leading may be believed
        self._uncertain: int | None = None  # generation in which a create may have succeeded
        self._lease_s = session_timeout * 2 / 3
        # Loop only: what subscribers were told; the lease keeper.
        self._told_term = 0
        self._told_epoch = 0
        self._keeper: asyncio.Task[None] | None = None

    @property
    def leading(self) -> bool:
        """True while elected, connected and within the lease (see the module doc)."""
        with self._zk.lock:
            return self._leading and time.monotonic() < self._lease_until

    @property
    def znode(self) -> str | None:
        """Our znode's path in the current session, if joined."""
        with self._zk.lock:
            return self._znode

    @property
    def session_id(self) -> int | None:
        """The ZooKeeper session id while connected (for logs and ``cons`` diagnostics)."""
        return self._zk.session_id

    async def start(self, info: MasterInfo) -> None:
        if self._started:
            raise RuntimeError("a contender starts once; make a new one to rejoin")
        self._started = True
        self._data = info.to_json().encode()
        self._zk.open()
        self._keeper = asyncio.create_task(self._keep_lease(), name="zk lease")
        try:
            await self._zk.wait_ready(self._start_timeout)
        except BaseException:
            self._keeper.cancel()
            raise

    async def withdraw(self) -> None:
        with self._zk.lock:
            self._set_leading_locked(False, "withdrew")
        self._deliver()
        if self._keeper is not None:
            self._keeper.cancel()
        await self._zk.close()

    # --- kazoo's thread ----------------------------------------------------------------------
    def _on_state(self, state: str) -> None:
        if state != KazooState.CONNECTED:
            self._set_leading_locked(False, f"ZooKeeper session {state.lower()}")
        if state == KazooState.LOST:
            self._znode = None

    # --- either thread, lock held ------------------------------------------------------------
    def _set_leading_locked(self, leading: bool, reason: str, epoch: int = 0) -> None:
        if leading == self._leading:
            return
        self._leading, self._reason = leading, reason
        if leading:
            self._term += 1
            self._epoch = epoch
        self._zk.post(self._deliver)

    # --- the loop ----------------------------------------------------------------------------
    def _deliver(self) -> None:
        """Tell subscribers the current state; a term they were told of that ended (even if a
        new one began since) is reported ended first."""
        with self._zk.lock:
            leading, term, epoch, reason = self._leading, self._term, self._epoch, self._reason
        if self._told_term and (not leading or term != self._told_term):
            self._told_term = 0
            ended = reason if not leading else "connection lost and regained"
            self._report(Leadership(leading=False, epoch=self._told_epoch, reason=ended))
        if leading and not self._told_term:
            self._told_term, self._told_epoch = term, epoch
            self._report(Leadership(leading=True, epoch=epoch, reason=reason))

    async def _keep_lease(self) -> None:
        """While leading, renew the lease every T/4; report the end of leadership as soon as
        it lapses (:attr:`leading` reads false from that instant anyway)."""
        period = self._zk.session_timeout / 8
        renewal: asyncio.Task[None] | None = None
        try:
            while True:
                now = time.monotonic()
                with self._zk.lock:
                    leading, until, znode = self._leading, self._lease_until, self._znode
                    if leading and now >= until:
                        leading = False
                        self._set_leading_locked(False, "lease lapsed: ZooKeeper did not answer")
                        self._zk.wake()
                fresh = until - now > self._lease_s - self._zk.session_timeout / 4
                if leading and znode and not fresh and (renewal is None or renewal.done()):
                    renewal = asyncio.create_task(self._renew(znode))
                await asyncio.sleep(period)
        finally:
            if renewal is not None:
                renewal.cancel()

    async def _renew(self, znode: str) -> None:
        sent = time.monotonic()
        try:
            stat = await self._zk.call(self._zk.client.exists_async(znode))
        except Exception:
            return  # the lease runs out unless a later renewal succeeds
        if stat is None:
            self._zk.wake()  # our znode is gone: the step finds out and steps down
            return
        with self._zk.lock:
            if self._znode == znode:
                self._lease_until = max(self._lease_until, sent + self._lease_s)

    async def _step(self) -> None:
        with self._zk.lock:
            connected, znode, gen = self._zk.connected, self._znode, self._zk.generation
        if not connected or self._zk.closing:
            return
        if znode is None:
            znode = await self._join(gen)
            if znode is None:
                return
        client = self._zk.client
        sent = time.monotonic()
        children = await self._zk.call(client.get_children_async(self._path, self._zk.watch))
        seqs = {name: seq for name in children if (seq := sequence_of(name)) is not None}
        mine = znode.rsplit("/", 1)[1]
        with self._zk.lock:
            if self._znode != znode or self._zk.generation != gen or not self._zk.connected:
                return  # the session changed meanwhile; that change woke us up again
            if mine not in seqs:
                self._znode = None
                self._set_leading_locked(False, f"our znode {znode} was deleted")
                self._zk.wake()
                return
            self._lease_until = max(self._lease_until, sent + self._lease_s)
            lowest = min(seqs, key=seqs.__getitem__)
            late = time.monotonic() >= self._lease_until
            if lowest == mine and not late:
                self._set_leading_locked(True, f"{mine} is the lowest", seqs[mine])
            elif lowest != mine:
                self._set_leading_locked(False, f"{lowest} leads")
        if late and lowest == mine:
            raise TimeoutError("ZooKeeper answered after the lease it would grant")
        self._zk.ready.set()

    async def _join(self, gen: int) -> str | None:
        """Create our znode (or find the one an unanswered create made); None if the session
        was lost meanwhile."""
        path = await self._find_own() if self._uncertain == gen else None
        if path is None:
            create = self._zk.client.create_async(
                f"{self._path}/{INFO_PREFIX}",
                self._data,
                ephemeral=True,
                sequence=True,
                makepath=True,
            )
            try:
                path = str(await self._zk.call(create))
            except (ConnectionLoss, TimeoutError):
                self._uncertain = gen  # the node may exist without our knowing its name
                raise
        self._uncertain = None
        with self._zk.lock:
            if self._zk.generation != gen:
                return None
            self._znode = path
        log.info("contending for leadership under %s as %s", self._zk.address.url, path)
        return path

    async def _find_own(self) -> str | None:
        """Our session's znodes: keep the lowest, delete the others."""
        session = self._zk.session_id
        client = self._zk.client
        ours = []
        for name in await self._zk.call(client.get_children_async(self._path)):
            if sequence_of(name) is None:
                continue
            stat = await self._zk.call(client.exists_async(f"{self._path}/{name}"))
            if stat is not None and stat.ephemeralOwner == session:
                ours.append(name)
        ours.sort(key=seq_key)
        for extra in ours[1:]:
            with contextlib.suppress(NoNodeError):
                await self._zk.call(client.delete_async(f"{self._path}/{extra}"))
        return f"{self._path}/{ours[0]}" if ours else None


class ZooKeeperDetector(Detector):
    """Follows the leader registered under ``address`` (``zk://hosts/path``).

    The leader stays known while the connection is SUSPENDED (it may still lead; if not, it
    refuses connections until its successor is detected); it becomes ``None`` when the session
    is LOST, until the new session has read the path again. ``start_timeout`` as for
    :class:`ZooKeeperContender`.
    """

    def __init__(
        self,
        address: ZooKeeperAddress | str,
        session_timeout: float = DEFAULT_SESSION_TIMEOUT,
        start_timeout: float | None = DEFAULT_START_TIMEOUT,
    ) -> None:
        super().__init__()
        self._zk = ZooKeeperSession(
            _zk_address(address), session_timeout, self._step, self._on_state
        )
        self._path = self._zk.address.path
        self._start_timeout = start_timeout

    async def start(self) -> None:
        self._zk.open()
        await self._zk.wait_ready(self._start_timeout)

    async def stop(self) -> None:
        await self._zk.close()

    def _on_state(self, state: str) -> None:  # kazoo's thread, lock held
        if state == KazooState.LOST and not self._zk.closing:
            self._zk.post(self._update, None)

    async def _step(self) -> None:
        with self._zk.lock:
            connected = self._zk.connected
        if not connected or self._zk.closing:
            return
        client, watch = self._zk.client, self._zk.watch
        try:
            children = await self._zk.call(client.get_children_async(self._path, watch))
        except NoNodeError:
            if await self._zk.call(client.exists_async(self._path, watch)) is not None:
                self._zk.wake()  # created in between: read its children
                return
            children = []
        leader = None
        for name in sorted((n for n in children if sequence_of(n) is not None), key=seq_key):
            try:
                data, _stat = await self._zk.call(client.get_async(f"{self._path}/{name}"))
            except NoNodeError:
                continue  # gone since we listed it; the watch fires for that too
            try:
                leader = MasterInfo.from_json(data)
            except ValueError as exc:
                log.error("leader znode %s/%s holds no master info: %s", self._path, name, exc)
            break
        self._update(leader)
        self._zk.ready.set()
