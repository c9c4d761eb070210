"""Clients of an agent's object store.

- :class:`StoreClient`: a process on the store's node (an executor, or a driver on the same
  host) connects to the store's unix socket, receives the arena's descriptor and maps it once;
  it then writes and reads objects in place (``access.put``/``access.load``). A reader thread
  answers its requests.
- :class:`RemoteStore`: a driver on another node (no arena of its own) speaks to the store's TCP
  endpoint: ``pull`` copies an object's bytes into this process once, ``push`` sends a new
  object's layout straight from the value's buffers, ``delete`` frees objects.
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import os
import socket
import threading
from typing import Any

from pymesos_rt.errors import ObjectLostError, ObjectStoreFullError
from pymesos_rt.objects import layout, wire
from pymesos_rt.objects.access import ObjectAccess, StoreGone
from pymesos_rt.objects.arena import Arena
from pymesos_rt.protocol import objects as w

log = logging.getLogger(__name__)

BUFFER_BYTES = 4 * 2**20
SOCKET_PREFIX = "pymesos-rt-store-"  # + store id: the store's unix socket (abstract namespace)
STORE_ENV = "PYMESOS_RT_STORE"  # executors: the abstract unix socket of their agent's store
STORE_TOKEN_ENV = "PYMESOS_RT_STORE_TOKEN"  # executors: the key that proves them to it


def tune(sock: socket.socket) -> None:
    """Socket options for bulk transfers on a TCP connection."""
    with contextlib.suppress(OSError):
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, BUFFER_BYTES)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, BUFFER_BYTES)


def handshake(
    sock: socket.socket, key: str, name: str, want_fd: bool
) -> tuple[w.Welcome, list[int]]:
    """Answer the store's challenge with a proof of ``key``; the welcome (and descriptors)."""
    codec = wire.client_codec()
    messages, _ = wire.receive(sock, codec)
    challenge = messages[0] if messages else None
    if not isinstance(challenge, w.Challenge):
        raise wire.ConnectionClosed("the store did not send a challenge")
    wire.send(sock, [w.Hello(wire.proof(key, challenge.nonce), name, want_fd)])
    try:
        messages, fds = wire.receive(sock, codec, with_fds=want_fd)
    except wire.ConnectionClosed:
        raise StoreGone("the object store refused this process (wrong key)") from None
    welcome = messages[0] if messages else None
    if not isinstance(welcome, w.Welcome):
        for fd in fds:
            os.close(fd)
        raise StoreGone("the object store did not welcome this process")
    return welcome, fds


def connect_tcp(
    address: str, secret: str, name: str, timeout: float = 10.0
) -> tuple[socket.socket, w.Welcome]:
    """A connection to a store's TCP endpoint ``host:port``, after the handshake."""
    host, _, port = address.rpartition(":")
    sock = socket.create_connection((host, int(port)), timeout=timeout)
    try:
        tune(sock)
        welcome = handshake(sock, secret, name, want_fd=False)[0]
        sock.settimeout(None)
        return sock, welcome
    except BaseException:
        sock.close()
        raise


class StoreClient(ObjectAccess):
    """A process on the store's node: the arena mapped here, requests over the unix socket."""

    def __init__(self, sock: socket.socket, welcome: w.Welcome, arena: Arena, name: str) -> None:
        super().__init__(name)
        self.sock = sock
        self.arena = arena
        self.view = arena.view
        self.map_in = arena.map_in
        self.store_id = welcome.store_id
        self.agent_id = welcome.agent_id
        self.address = welcome.address
        self._send_lock = threading.Lock()
        threading.Thread(target=self._read, name="store-reader", daemon=True).start()

    @classmethod
    def connect(cls, socket_name: str, key: str, name: str) -> StoreClient:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            sock.connect("\0" + socket_name)
            welcome, fds = handshake(sock, key, name, want_fd=True)
            if len(fds) != 1:
                raise StoreGone(f"the object store sent {len(fds)} descriptors, not one")
            return cls(sock, welcome, Arena.attach(fds[0], welcome.capacity), name)
        except BaseException:
            sock.close()
            raise

    def _read(self) -> None:
        codec = wire.client_codec()
        why = "closed"
        try:
            while True:
                messages, _ = wire.receive(self.sock, codec)
                for msg in messages:
                    if isinstance(msg, (w.Created, w.CreateFailed, w.Found, w.Stats, w.Leased)):
                        self.deliver(msg)
                    elif isinstance(msg, w.Recall):
                        self.space.recall(msg.lease)
        except (OSError, wire.ConnectionClosed) as exc:
            why = f"the object store connection ended: {exc}"
        self.fail_all(why)

    def _send(self, message: w.StoreCall) -> None:
        try:
            with self._send_lock:
                wire.send(self.sock, [message])
        except OSError as exc:
            raise StoreGone(f"the object store connection ended: {exc}") from None

    def _release_now(self, object_ids: list[str]) -> None:
        self._send(w.Release(object_ids))

    def close(self) -> None:
        super().close()
        with contextlib.suppress(OSError):
            self.sock.shutdown(socket.SHUT_RDWR)
        self.sock.close()
        if self.arena is not None:  # its descriptor now; the mapping too unless values use it
            self.arena.close()


class RemoteStore:
    """A store on another node, over its TCP endpoint (one connection, one request at a time)."""

    def __init__(self, address: str, secret: str, name: str = "driver") -> None:
        self.address = address
        self._secret = secret
        self._name = name
        self._sock: socket.socket | None = None
        self.store_id = ""
        self._lock = threading.Lock()
        self._ids = itertools.count(1)

    def connect(self) -> str:
        """Connect now (if not yet); the store's id."""
        with self._lock:
            self._conn()
        return self.store_id

    def _conn(self) -> socket.socket:
        if self._sock is None:
            self._sock, welcome = connect_tcp(self.address, self._secret, self._name)
            self.store_id = welcome.store_id
        return self._sock

    def _drop(self) -> None:
        if self._sock is not None:
            self._sock.close()
            self._sock = None

    def _exchange(self, message: w.StoreCall) -> w.StoreEvent:
        sock = self._conn()
        wire.send(sock, [message])
        messages, _ = wire.receive(sock, wire.client_codec())
        if len(messages) != 1:
            raise wire.ConnectionClosed(f"expected one answer, got {len(messages)}")
        answer: w.StoreEvent = messages[0]
        return answer

    def pull(self, object_id: str, size: int, lease: int = 0) -> memoryview:
        """The object's layout, copied once into memory of this process (read-only view)."""
        with self._lock:
            try:
                answer = self._exchange(w.Pull(next(self._ids), object_id, lease=lease))
                if not isinstance(answer, w.PullReply):
                    raise wire.ConnectionClosed(f"unexpected {type(answer).__name__}")
                if answer.error:
                    raise ObjectLostError(answer.error)
                buf = bytearray(answer.size)
                wire.recv_into(self._conn(), memoryview(buf))
            except (OSError, wire.ConnectionClosed) as exc:
                self._drop()
                raise ObjectLostError(
                    f"object {object_id} could not be read from {self.address}: {exc}"
                ) from None
        return memoryview(buf).toreadonly()

    def push(self, object_id: str, enc: layout.Encoded) -> None:
        """Store a new primary object there, sending its buffers without copying them."""
        with self._lock:
            try:
                answer = self._exchange(w.Push(next(self._ids), object_id, enc.size))
                if isinstance(answer, w.CreateFailed):
                    raise ObjectStoreFullError(answer.message)
                if not isinstance(answer, w.Created):
                    raise wire.ConnectionClosed(f"unexpected {type(answer).__name__}")
                if answer.exists:
                    return
                sock = self._conn()
                for piece in layout.pieces(enc):
                    sock.sendall(piece)
                messages, _ = wire.receive(sock, wire.client_codec())
                if not messages or not isinstance(messages[0], w.Pushed):
                    raise wire.ConnectionClosed("the store did not confirm the object")
            except (OSError, wire.ConnectionClosed):
                self._drop()
                raise

    def delete(self, object_ids: list[str]) -> None:
        with self._lock:
            try:
                wire.send(self._conn(), [w.Delete(object_ids)])
            except (OSError, wire.ConnectionClosed) as exc:
                self._drop()
                log.debug("cannot free %d object(s) at %s: %s", len(object_ids), self.address, exc)

    def stats(self) -> w.StoreStats:
        with self._lock:
            answer = self._exchange(w.StatsRequest(next(self._ids)))
        assert isinstance(answer, w.Stats)
        return answer.stats

    def close(self) -> None:
        with self._lock:
            self._drop()


def decode_copy(data: memoryview) -> Any:
    """A value from a layout held in this process's own memory."""
    return layout.decode(data)
