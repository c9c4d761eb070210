"""The agent's object store: the I/O shell around :class:`StoreCore`.

It owns the arena (``arena.py``) and serves the store on two sockets:
- a unix socket in the abstract namespace (``\\0pymesos-rt-store-<store id>``) for processes on
  the node: the agent's executors prove the store token the agent gave them, a driver on the
  node proves the cluster secret; each receives the arena's descriptor and maps it once;
- a TCP endpoint (``host:port``, advertised when the agent registers) for other agents and
  remote drivers, guarded by the cluster secret: ``Pull`` sends an object's bytes straight from
  the arena (or its spill file), ``Push`` receives a new object straight into the arena.

Threads: one per connection (blocking reads of small frames; bulk bytes go between the socket
and the arena with no copy in between), two for the disk (spills, restores), two for fetches
from other stores (each pulling a large object in ranges on helper threads: ``peers.py``), a
ticker, and one that keeps the arena backed with memory ahead of the highest range handed out
(by as much as was handed out, up to ``PREFILL_BYTES``), and at least ``prefill`` bytes of it
from the start (opt-in: by default an idle store holds no memory). Every core call runs under one
lock; its effects run after the lock is released, :class:`Populate` last (backing memory is
the slow one: 0.25-0.35 ms per MiB; the core holds back whatever hands out a range there until
:meth:`StoreCore.backing_done`, so no writer is told where to write before). An embedded driver uses
:class:`LocalClient` in the same process.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import functools
import hashlib
import hmac
import logging
import os
import secrets
import shutil
import socket
import threading
import time
from collections.abc import Callable
from pathlib import Path

from pymesos_rt.objects import wire
from pymesos_rt.objects.access import ObjectAccess
from pymesos_rt.objects.arena import Arena
from pymesos_rt.objects.client import SOCKET_PREFIX, tune
from pymesos_rt.objects.core import (
    ArenaSource,
    DropSpill,
    Effect,
    Fetch,
    FileSource,
    LeaseError,
    Populate,
    Reply,
    RestoreIn,
    SpillOut,
    StoreCore,
)
from pymesos_rt.objects.peers import PeerPool
from pymesos_rt.protocol import objects as w
from pymesos_rt.protocol.codec import Codec
from pymesos_rt.protocol.ids import new_id

log = logging.getLogger(__name__)

BUFFER_BYTES = 4 * 2**20
PREFILL_BYTES = 32 * 2**20  # backed with memory ahead of use, in the background


class StoreService:
    def __init__(
        self,
        capacity: int,
        spill_dir: Path,
        *,
        secret: str | None = None,
        host: str = "127.0.0.1",
        create_timeout: float = 60.0,
        prefill: int = 0,
    ) -> None:
        """``prefill``: bytes of the arena backed with memory from the start, in the background
        (at most ``capacity``)."""
        if not 0 <= prefill <= capacity:
            raise ValueError(f"prefill {prefill} is not within the store's 0..{capacity} bytes")
        self.store_id = new_id("store")
        self.token = secrets.token_hex(16)  # for this agent's executors (unix socket only)
        self.secret = secret or ""
        self.host = host
        self.spill_dir = spill_dir
        self.core = StoreCore(self.store_id, capacity, create_timeout=create_timeout)
        self.arena: Arena | None = None
        self.agent_id = ""
        self.address = ""
        self.socket_name = SOCKET_PREFIX + self.store_id
        self._lock = threading.Lock()
        self._clients: dict[str, Callable[[w.StoreEvent], None]] = {}
        self._conns: set[_Conn] = set()
        self._listeners: list[socket.socket] = []
        # disk and network apart: a fetch waiting for room must never hold up the spill
        # that makes the room
        self._disk = concurrent.futures.ThreadPoolExecutor(2, thread_name_prefix="store-disk")
        self._net = concurrent.futures.ThreadPoolExecutor(2, thread_name_prefix="store-fetch")
        self._peers = PeerPool(self.secret)
        self._stop = threading.Event()
        self._grown = threading.Event()  # the arena's use grew: back more of it ahead
        self.prefill = prefill
        self._prefiller: threading.Thread | None = None
        self._fetcher: LocalClient | None = None
        self._seq = 0

    # --- start and stop ----------------------------------------------------------------------
    def start(self) -> None:
        shutil.rmtree(self.spill_dir, ignore_errors=True)  # a crashed predecessor's leftovers
        self.spill_dir.mkdir(parents=True, exist_ok=True)
        self.arena = Arena.create(self.core.capacity)
        unix = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        unix.bind("\0" + self.socket_name)
        unix.listen(64)
        tcp = socket.create_server((self.host, 0), backlog=64)
        self.address = f"{self.host}:{tcp.getsockname()[1]}"
        self._listeners = [unix, tcp]
        self._fetcher = LocalClient(self, "~fetch")
        for sock, kind in ((unix, True), (tcp, False)):
            name = f"store-accept-{'unix' if kind else 'tcp'}"
            threading.Thread(target=self._accept, args=(sock, kind), name=name, daemon=True).start()
        threading.Thread(target=self._tick, name="store-tick", daemon=True).start()
        self._prefiller = threading.Thread(target=self._prefill, name="store-prefill", daemon=True)
        self._prefiller.start()
        log.info(
            "object store %s: %d MiB arena (%d MiB backed from the start), endpoint %s",
            self.store_id,
            self.core.capacity // 2**20,
            self.prefill // 2**20,
            self.address,
        )

    def stop(self) -> None:
        self._stop.set()
        self._grown.set()
        for sock in self._listeners:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()
        for conn in list(self._conns):
            conn.close()
        self._peers.close()
        if self._fetcher is not None:
            self._fetcher.close()
        self._net.shutdown(wait=False, cancel_futures=True)
        self._disk.shutdown(wait=True, cancel_futures=True)
        shutil.rmtree(self.spill_dir, ignore_errors=True)
        if self._prefiller is not None:  # it stops after its step (a few ms): not while the
            self._prefiller.join(timeout=5.0)  # arena's descriptor closes under it
        if self.arena is not None:
            self.arena.close()

    def local(self, name: str) -> LocalClient:
        """A client for this process (an embedded driver)."""
        return LocalClient(self, name)

    def stats(self) -> w.StoreStats:
        with self._lock:
            return self.core.stats()

    def validate(self) -> None:
        with self._lock:
            self.core.validate()

    # --- running the core --------------------------------------------------------------------
    def call(self, step: Callable[[float], list[Effect]]) -> None:
        with self._lock:
            effects = step(time.monotonic())
            if self.core.backing.populated < self._prefill_limit():
                self._grown.set()
        self._run(effects)

    def _populate(self, eff: Populate) -> None:
        """Back a range of the arena (no lock held: other requests go on meanwhile), then tell
        the core, which lets out what waited for it (whatever happened: nothing stays held)."""
        assert self.arena is not None
        try:
            self.arena.back(eff.start, eff.upto)
        except OSError as exc:  # writers fault their pages in themselves
            log.error("cannot back the object store with memory up to %d bytes: %s", eff.upto, exc)
        finally:
            self.call(lambda now: self.core.backing_done(eff.start, eff.upto))

    def _run(self, effects: list[Effect]) -> None:
        for eff in effects:
            if isinstance(eff, Populate):
                continue  # last: see below
            if isinstance(eff, Reply):
                deliver = self._clients.get(eff.client)
                if deliver is not None:
                    deliver(eff.event)
            elif isinstance(eff, SpillOut):
                self._disk.submit(self._spill, eff)
            elif isinstance(eff, RestoreIn):
                self._disk.submit(self._restore, eff)
            elif isinstance(eff, DropSpill):
                with contextlib.suppress(OSError):
                    os.unlink(self.spill_path(eff.object_id))
            elif isinstance(eff, Fetch):
                self._net.submit(self._fetch, eff)
        for eff in effects:
            if isinstance(eff, Populate):
                self._populate(eff)

    def handle(self, client: str, msg: w.StoreCall) -> None:
        """The requests every client may make."""
        match msg:
            case w.Create():
                rid, oid, size, primary = msg.request_id, msg.object_id, msg.size, msg.primary
                self.call(lambda now: self.core.create(client, rid, oid, size, primary, now))
            case w.Seal():
                self.call(lambda now: self.core.seal(client, msg.object_id, now))
            case w.Abort():
                self.call(lambda now: self.core.abort(client, msg.object_id, now))
            case w.Get():
                self.call(lambda now: self.core.get(client, msg.request_id, msg.items, now))
            case w.Release():
                self.call(lambda now: self.core.release(client, msg.object_ids, now))
            case w.Delete():
                self.call(lambda now: self.core.delete(msg.object_ids, now))
            case w.Lease():
                rid, want = msg.request_id, msg.size
                self.call(lambda now: self.core.lease(client, rid, want))
            case w.SealLeased():
                lease, oid, offset, size = msg.lease, msg.object_id, msg.offset, msg.size
                self._checked(
                    lambda now: self.core.seal_leased(client, lease, oid, offset, size, now)
                )
            case w.EndLease():
                self._checked(lambda now: self.core.end_lease(client, msg.lease, now))
            case w.StatsRequest():
                deliver = self._clients.get(client)
                if deliver is not None:
                    deliver(w.Stats(msg.request_id, self.stats()))
            case _:
                raise wire.ConnectionClosed(f"{type(msg).__name__} is not expected here")

    def _checked(self, step: Callable[[float], list[Effect]]) -> None:
        """A report about a lease: one the core refuses ends the client's connection."""
        try:
            self.call(step)
        except LeaseError as exc:
            log.warning("object store: %s; closing the connection", exc)
            raise wire.ConnectionClosed(str(exc)) from None

    def register(self, name: str, deliver: Callable[[w.StoreEvent], None]) -> str:
        with self._lock:
            self._seq += 1
            client = f"{name}#{self._seq}"
            self._clients[client] = deliver
        return client

    def unregister(self, client: str) -> None:
        with self._lock:
            self._clients.pop(client, None)
        self.call(lambda now: self.core.client_gone(client, now))

    # --- disk --------------------------------------------------------------------------------
    def spill_path(self, object_id: str) -> Path:
        return self.spill_dir / hashlib.sha1(object_id.encode()).hexdigest()

    def _spill(self, eff: SpillOut) -> None:
        assert self.arena is not None
        path = self.spill_path(eff.object_id)
        part = path.with_suffix(".part")
        ok = False
        try:
            with open(part, "wb") as f:
                f.write(self.arena.view[eff.offset : eff.offset + eff.size])
            os.replace(part, path)
            ok = True
        except OSError as exc:
            log.error("cannot spill object %s to %s: %s", eff.object_id, path, exc)
            with contextlib.suppress(OSError):
                os.unlink(part)
        self.call(lambda now: self.core.spilled(eff.object_id, ok, now))

    def _restore(self, eff: RestoreIn) -> None:
        assert self.arena is not None
        ok = False
        try:
            with open(self.spill_path(eff.object_id), "rb") as f:
                dst = self.arena.view[eff.offset : eff.offset + eff.size]
                got = 0
                while got < eff.size:
                    n = f.readinto(dst[got:])
                    if not n:
                        raise OSError(f"spill file ends after {got} of {eff.size} bytes")
                    got += n
            ok = True
        except OSError as exc:
            log.error("cannot restore object %s: %s", eff.object_id, exc)
        self.call(lambda now: self.core.restored(eff.object_id, ok, now))

    # --- other stores ------------------------------------------------------------------------
    def _fetch(self, eff: Fetch) -> None:
        """Pull an object from the store that holds it into this one, as a secondary copy."""
        fetcher = self._fetcher
        assert fetcher is not None and self.arena is not None
        oid, source = eff.object_id, eff.source
        try:
            created = fetcher.create(oid, source.size, primary=False)
        except Exception as exc:
            why = f"cannot be copied here: {exc}"
            self.call(lambda now: self.core.fetch_failed(oid, why, now))
            return
        if created is None:  # it arrived meanwhile
            self.call(lambda now: self.core.fetch_failed(oid, "arrived twice", now))
            return
        offset = created.offset
        started = time.monotonic()
        try:
            self._peers.pull(source, oid, self.arena.view[offset : offset + source.size])
        except (OSError, wire.ConnectionClosed, LookupError) as exc:
            why = f"could not be pulled from agent {source.agent_id} at {source.address}: {exc}"
            log.warning("object %s %s", oid, why)
            client = fetcher.client
            self.call(lambda now: self.core.abort(client, oid, now, why))
            self.call(lambda now: self.core.fetch_failed(oid, why, now))
            return
        self.call(lambda now: self.core.fetch_done(oid))
        fetcher.seal(oid)
        took = max(time.monotonic() - started, 1e-9)
        log.info(
            "pulled object %s (%.1f MiB) from agent %s in %.1f ms (%.0f MiB/s)",
            oid,
            source.size / 2**20,
            source.agent_id,
            took * 1e3,
            source.size / 2**20 / took,
        )

    # --- sockets -----------------------------------------------------------------------------
    def _accept(self, listener: socket.socket, unix: bool) -> None:
        while not self._stop.is_set():
            try:
                sock, _ = listener.accept()
            except OSError:
                return
            if not unix:
                tune(sock)
            conn = _Conn(self, sock, unix)
            self._conns.add(conn)
            threading.Thread(target=conn.run, name="store-conn", daemon=True).start()

    def _prefill(self) -> None:
        """Keep the arena backed with memory ahead of the highest range ever handed out (by as
        much as has been handed out, up to ``PREFILL_BYTES``), a step at a time, so objects are
        written (and pulled) into memory that is already there; a range beyond it is backed
        when it is handed out. The first ``prefill`` bytes are backed from the start, through
        the same steps (each one the core's :meth:`StoreCore.prefill`)."""
        while not self._stop.is_set():
            limit = self._prefill_limit()
            if self.core.backing.populated < limit:
                self.call(functools.partial(self._prefill_step, limit))
                continue
            self._grown.wait()
            self._grown.clear()

    def _prefill_limit(self) -> int:
        """Ahead by as much as has been handed out, up to ``PREFILL_BYTES``, and at least
        ``prefill`` from the start: an idle store (a program that never makes a large value)
        holds no memory it does not use, unless told to."""
        high = self.core.alloc.high_water
        return min(self.core.capacity, max(self.prefill, high + min(PREFILL_BYTES, high)))

    def _prefill_step(self, limit: int, now: float) -> list[Effect]:
        return self.core.prefill(limit)

    def _tick(self) -> None:
        while not self._stop.wait(1.0):
            self.call(self.core.tick)

    def serve_pull(
        self,
        client: str,
        msg: w.Pull,
        send_raw: Callable[[w.PullReply, ArenaSource | FileSource | None, int], None],
    ) -> None:
        """Send (a range of) one object to a remote reader, from the arena or its spill file."""
        with self._lock:
            source = self.core.open_pull(client, msg.object_id, msg.lease)
        if source is None:  # being written or restored here: wait until it is readable
            found = self._fetcher_get(msg.object_id, msg.lease)
            if found.error:
                source = found.error
            else:
                with self._lock:
                    source = self.core.open_pull(client, msg.object_id)
                self.call(lambda now: self.core.release(self._fetcher_id(), [msg.object_id], now))
                if source is None:
                    source = f"object {msg.object_id} is not readable here"
        length = 0
        if isinstance(source, ArenaSource | FileSource):
            opened = source
            length = source.size - msg.offset if msg.length < 0 else msg.length
            if msg.offset < 0 or length < 0 or msg.offset + length > source.size:
                oid = msg.object_id
                self.call(lambda now: self.core.end_pull(client, oid, opened, now))
                source = f"range {msg.offset}+{length} is outside object {oid}"
        if isinstance(source, str):
            send_raw(w.PullReply(msg.request_id, msg.object_id, 0, source), None, 0)
            return
        try:
            send_raw(w.PullReply(msg.request_id, msg.object_id, length), source, msg.offset)
        finally:
            oid = msg.object_id
            self.call(lambda now: self.core.end_pull(client, oid, source, now))

    def _fetcher_id(self) -> str:
        assert self._fetcher is not None
        return self._fetcher.client

    def _fetcher_get(self, object_id: str, lease: int) -> w.FoundObject:
        assert self._fetcher is not None
        here = w.ObjectLocation(self.store_id, self.agent_id, self.address, 0, lease)
        return self._fetcher.get([w.GetItem(object_id, here)])[0]


class LocalClient(ObjectAccess):
    """A client of a store in this very process (no socket)."""

    def __init__(self, service: StoreService, name: str) -> None:
        super().__init__(name)
        self.service = service
        self.client = service.register(f"local-{name}", self._deliver_event)
        self.store_id = service.store_id
        self.agent_id = service.agent_id
        self.address = service.address
        assert service.arena is not None
        self.arena = service.arena
        self.view = service.arena.view
        self.map_in = service.arena.map_in

    def _deliver_event(self, event: w.StoreEvent) -> None:
        if isinstance(event, (w.Created, w.CreateFailed, w.Found, w.Stats, w.Leased)):
            self.deliver(event)
        elif isinstance(event, w.Recall):
            self.space.recall(event.lease)

    def _send(self, message: w.StoreCall) -> None:
        self.service.handle(self.client, message)

    def _release_now(self, object_ids: list[str]) -> None:
        self.service.call(lambda now: self.service.core.release(self.client, object_ids, now))

    def location(self, size: int, lease: int = 0) -> w.ObjectLocation:
        service = self.service
        return w.ObjectLocation(service.store_id, service.agent_id, service.address, size, lease)

    def close(self) -> None:
        super().close()
        self.service.unregister(self.client)


class _Conn:
    """One client connection (unix or TCP), served on a thread of its own."""

    def __init__(self, service: StoreService, sock: socket.socket, unix: bool) -> None:
        self.service = service
        self.sock = sock
        self.unix = unix
        self.client = ""
        self._send_lock = threading.Lock()

    def deliver(self, event: w.StoreEvent) -> None:
        try:
            with self._send_lock:
                wire.send(self.sock, [event])
        except OSError:
            self.close()

    def send_raw(
        self, head: w.PullReply, source: ArenaSource | FileSource | None, start: int
    ) -> None:
        """The answer to a ``Pull``, then ``head.size`` bytes of the object from ``start``."""
        service = self.service
        assert service.arena is not None
        with self._send_lock:
            wire.send(self.sock, [head])
            if isinstance(source, FileSource):
                with open(service.spill_path(head.object_id), "rb") as f:
                    sent = 0
                    while sent < head.size:
                        n = os.sendfile(
                            self.sock.fileno(), f.fileno(), start + sent, head.size - sent
                        )
                        if n == 0:
                            raise OSError("spill file ended early")
                        sent += n
            elif source is not None:
                begin = source.offset + start
                self.sock.sendall(service.arena.view[begin : begin + head.size])

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.sock.shutdown(socket.SHUT_RDWR)

    def run(self) -> None:
        service = self.service
        codec = wire.server_codec()
        try:
            name = self._handshake(codec)
            self.client = service.register(name, self.deliver)
            while True:
                messages, _ = wire.receive(self.sock, codec)
                for msg in messages:
                    if isinstance(msg, w.Pull):
                        service.serve_pull(self.client, msg, self.send_raw)
                    elif isinstance(msg, w.Push):
                        self._receive_push(msg)
                    else:
                        service.handle(self.client, msg)
        except (OSError, wire.ConnectionClosed) as exc:
            log.debug("store connection %s ended: %s", self.client or "?", exc)
        except Exception:
            log.exception("store connection %s failed", self.client or "?")
        finally:
            service._conns.discard(self)
            if self.client:
                service.unregister(self.client)
            self.sock.close()

    def _handshake(self, codec: Codec[w.StoreCall]) -> str:
        service = self.service
        nonce = secrets.token_hex(16)
        wire.send(self.sock, [w.Challenge(nonce, service.store_id)])
        messages, _ = wire.receive(self.sock, codec)
        hello = messages[0] if len(messages) == 1 else None
        if not isinstance(hello, w.Hello):
            raise wire.ConnectionClosed("first message must be Hello")
        keys = [service.secret] + ([service.token] if self.unix else [])
        ok = wire.proven(keys, nonce, hello.proof)
        if not ok and not service.secret:  # a cluster without a secret (loopback only)
            ok = hmac.compare_digest(wire.proof("", nonce), hello.proof)
        if not ok:
            log.warning("object store refused a client (%s): wrong proof", hello.name)
            raise wire.ConnectionClosed("wrong proof")
        assert service.arena is not None
        core = service.core
        welcome = w.Welcome(
            service.store_id, service.agent_id, service.address, core.capacity, core.backing.backed
        )
        if hello.want_fd and self.unix:
            with service.arena.descriptor() as fd:  # not closed under the send
                wire.send(self.sock, [welcome], [fd])
        else:
            wire.send(self.sock, [welcome], None)
        return hello.name[:64] or "client"

    def _receive_push(self, msg: w.Push) -> None:
        """A new primary object from a remote producer: allocate, then read its bytes into the
        arena (answered ``Created`` first, so the producer sends bytes only when there is room)."""
        service = self.service
        fetcher = service._fetcher
        assert fetcher is not None and service.arena is not None
        try:
            created = fetcher.create(msg.object_id, msg.size, primary=True)
        except Exception as exc:
            self.deliver(w.CreateFailed(msg.request_id, str(exc)))
            return
        if created is None:
            self.deliver(w.Created(msg.request_id, -1, exists=True))
            return
        self.deliver(w.Created(msg.request_id, created.offset))
        try:
            offset = created.offset
            wire.recv_into(self.sock, service.arena.view[offset : offset + msg.size])
        except BaseException:
            fetcher.abort(msg.object_id)
            raise
        fetcher.seal(msg.object_id)
        self.deliver(w.Pushed(msg.request_id))
