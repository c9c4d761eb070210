"""A lean websocket server on asyncio, for the data plane: the endpoint executors connect to.

The driver's loop runs on the thread that waits for a result (``client/loop.py``), and every
frame from an executor may be the result someone waits for, so this end does what it must and
no more: one ``data_received`` per read, frames parsed out of one buffer, one
``transport.write`` per batch (tornado's websocket took three read futures and two
``epoll_ctl`` calls per frame: a third of a small task's round trip in the driver).

It speaks RFC 6455 to the executors' :class:`~.blocking.BlockingLink` (and to any client):

- the upgrade is checked first: the path, a websocket upgrade, and the cluster-secret proof
  (``401``, nothing more read, when it is missing or wrong, as ``websocket.ws_route`` does);
- client frames must be masked; fragments are joined; pings are answered; a message over
  ``max_message_size``, a text frame, a reserved opcode or a frame that does not decode closes
  that one connection (with a close frame naming why), never the server;
- a ping goes out every ``ping_interval`` (10 s); a peer silent for ``ping_interval +
  ping_timeout`` is closed.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import logging
import socket
import struct
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pymesos_rt.protocol.codec import Codec, ProtocolError
from pymesos_rt.transport.auth import HEADER, ProofChecker
from pymesos_rt.transport.base import Connection, Receiver
from pymesos_rt.transport.blocking import (
    GUID,
    OP_BINARY,
    OP_CLOSE,
    OP_CONT,
    OP_PING,
    OP_PONG,
    OP_TEXT,
    mask,
)

log = logging.getLogger(__name__)

HANDSHAKE_MAX = 65536  # bytes of upgrade request accepted
HANDSHAKE_TIMEOUT_S = 10.0
PING_INTERVAL_S = 10.0
PING_TIMEOUT_S = 10.0
_OPCODES = (OP_CONT, OP_TEXT, OP_BINARY, OP_CLOSE, OP_PING, OP_PONG)
_JOIN_BELOW = 1 << 16  # smaller frames go out as one write (header and payload joined)


@dataclass(frozen=True)
class Channel:
    """One websocket path: how its connections decode, whom they report to, who may open."""

    path: str
    codec_factory: Callable[[], Codec[Any]]
    accept: Callable[[Connection], Receiver]
    checker: ProofChecker | None
    max_message_size: int
    ping_interval: float = PING_INTERVAL_S
    ping_timeout: float = PING_TIMEOUT_S


async def serve(
    channel: Channel, host: str, port: int = 0, backlog: int = 1024
) -> tuple[asyncio.Server, int]:
    """Listen on ``host:port`` (0 picks a free port); returns the server and its port."""
    loop = asyncio.get_running_loop()
    server = await loop.create_server(lambda: _Endpoint(channel), host, port, backlog=backlog)
    return server, server.sockets[0].getsockname()[1]


def server_frame(opcode: int, payload: bytes, fin: bool = True) -> bytes:
    """The header of one unmasked (server) frame carrying ``payload``."""
    n = len(payload)
    first = (0x80 if fin else 0) | opcode
    if n < 126:
        return struct.pack("!BB", first, n)
    if n < 2**16:
        return struct.pack("!BBH", first, 126, n)
    return struct.pack("!BBQ", first, 127, n)


class _Endpoint(asyncio.Protocol):
    """One client: the upgrade, then frames both ways."""

    def __init__(self, channel: Channel) -> None:
        self.channel = channel
        self.transport: asyncio.Transport | None = None
        self.conn: _Conn | None = None
        self.peer = ""
        self._buf = bytearray()
        self._parts: list[bytes] = []  # fragments of the message being received
        self._size = 0
        self._heard = time.monotonic()
        self._timer: asyncio.TimerHandle | None = None
        self._done = False

    # --- asyncio's side ----------------------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        sock = transport.get_extra_info("socket")
        if sock is not None and sock.family in (socket.AF_INET, socket.AF_INET6):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        peer = transport.get_extra_info("peername")
        self.peer = str(peer[0]) if isinstance(peer, tuple) else ""
        loop = asyncio.get_running_loop()
        self._timer = loop.call_later(HANDSHAKE_TIMEOUT_S, self._end, "no upgrade in time")

    def data_received(self, data: bytes) -> None:
        if self._done:
            return
        self._buf += data
        if self.conn is None and not self._upgrade():
            return
        self._frames()

    def connection_lost(self, exc: Exception | None) -> None:
        self._done = True
        if self._timer is not None:
            self._timer.cancel()
        if self.conn is not None:
            self.conn._closed("peer went away" if exc is None else f"connection lost: {exc}")

    # --- the upgrade -------------------------------------------------------------------------
    def _upgrade(self) -> bool:
        end = self._buf.find(b"\r\n\r\n")
        if end < 0:
            if len(self._buf) > HANDSHAKE_MAX:
                self._respond(431, "upgrade request too long")
            return False
        lines = bytes(self._buf[:end]).decode("latin-1").split("\r\n")
        del self._buf[: end + 4]
        request = lines[0].split(" ")
        headers: dict[str, str] = {}
        for line in lines[1:]:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        path = request[1].split("?", 1)[0] if len(request) == 3 else ""
        key = headers.get("sec-websocket-key", "")
        channel = self.channel
        if len(request) != 3 or request[0] != "GET":
            self._respond(400, "expected GET")
        elif path != channel.path:
            self._respond(404, f"no channel at {path}")
        elif headers.get("upgrade", "").lower() != "websocket" or not key:
            self._respond(400, "expected a websocket upgrade")
        elif headers.get("sec-websocket-version") != "13":
            self._respond(426, "websocket version 13 only")
        else:
            refused = None
            if channel.checker is not None:
                refused = channel.checker.check(headers.get(HEADER.lower()), path, time.time())
            if refused is None:
                self._open(key)
                return True
            log.warning("refused %s on %s: %s", self.peer, path, refused)
            self._respond(401, f"refused: {refused}")
        return False

    def _respond(self, status: int, text: str) -> None:
        body = (text + "\n").encode()
        head = f"HTTP/1.1 {status} {text}\r\nContent-Length: {len(body)}\r\nConnection: close\r\n"
        self._write(head.encode() + b"\r\n" + body)
        self._end("")

    def _open(self, key: str) -> None:
        accept = base64.b64encode(hashlib.sha1(key.encode() + GUID).digest())
        self._write(
            b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            b"Sec-WebSocket-Accept: " + accept + b"\r\n\r\n"
        )
        if self._timer is not None:
            self._timer.cancel()
        self._heard = time.monotonic()
        self._timer = asyncio.get_running_loop().call_later(self.channel.ping_interval, self._ping)
        conn = self.conn = _Conn(self, self.channel.codec_factory())
        conn.receiver = self.channel.accept(conn)

    # --- frames ------------------------------------------------------------------------------
    def _frames(self) -> None:
        buf, pos = self._buf, 0
        try:
            while not self._done:
                have = len(buf) - pos
                if have < 2:
                    break
                b0, b1 = buf[pos], buf[pos + 1]
                fin, opcode, length = b0 & 0x80, b0 & 0x0F, b1 & 0x7F
                head = 2
                if length == 126:
                    if have < 4:
                        break
                    (length,) = struct.unpack_from("!H", buf, pos + 2)
                    head = 4
                elif length == 127:
                    if have < 10:
                        break
                    (length,) = struct.unpack_from("!Q", buf, pos + 2)
                    head = 10
                why = self._check(b0, b1, fin, opcode, length)
                if why:
                    self._fail(why, 1009 if "over" in why else 1002)
                    return
                end = pos + head + 4 + length
                if len(buf) < end:
                    break
                key = bytes(buf[pos + head : pos + head + 4])
                payload = mask(key, bytes(buf[pos + head + 4 : end])) if length else b""
                pos = end
                self._frame(bool(fin), opcode, payload)
        finally:
            del buf[:pos]

    def _check(self, b0: int, b1: int, fin: int, opcode: int, length: int) -> str:
        if b0 & 0x70 or not b1 & 0x80:
            return "unmasked or extended frame from a client"
        if opcode not in _OPCODES:
            return f"reserved opcode {opcode}"
        if opcode >= OP_CLOSE:
            return "bad control frame" if not fin or length > 125 else ""
        if opcode == OP_TEXT:
            return "text frame on a binary channel"
        if (opcode == OP_CONT) != bool(self._parts):
            return f"unexpected frame (opcode {opcode})"
        if self._size + length > self.channel.max_message_size:
            return f"message over {self.channel.max_message_size} bytes"
        return ""

    def _frame(self, fin: bool, opcode: int, payload: bytes) -> None:
        self._heard = time.monotonic()
        if opcode == OP_PING:
            self._write(server_frame(OP_PONG, payload) + payload)
        elif opcode == OP_CLOSE:
            code = struct.unpack("!H", payload[:2])[0] if len(payload) >= 2 else 1005
            self._write(server_frame(OP_CLOSE, payload[:2]) + payload[:2])
            why = payload[2:].decode(errors="replace")
            self._end(f"closed by peer ({code} {why})".strip())
        elif opcode != OP_PONG:
            self._parts.append(payload)
            self._size += len(payload)
            if fin:
                whole = self._parts[0] if len(self._parts) == 1 else b"".join(self._parts)
                self._parts, self._size = [], 0
                assert self.conn is not None
                try:
                    batch = self.conn.codec.decode(whole)
                except ProtocolError as exc:
                    self._fail(f"malformed frame: {exc}", 1007)
                    return
                self.conn._deliver(batch)

    def _ping(self) -> None:
        if self._done:
            return
        channel = self.channel
        if time.monotonic() - self._heard > channel.ping_interval + channel.ping_timeout:
            self._end("peer silent for too long")
            return
        self._write(server_frame(OP_PING, b""))
        self._timer = asyncio.get_running_loop().call_later(channel.ping_interval, self._ping)

    # --- writing and ending ------------------------------------------------------------------
    def _write(self, data: bytes) -> None:
        if self.transport is not None and not self._done:
            self.transport.write(data)

    def send_message(self, payload: bytes) -> bool:
        """One binary message; False if the connection is ending."""
        transport = self.transport
        if transport is None or self._done or transport.is_closing():
            return False
        header = server_frame(OP_BINARY, payload)
        if len(payload) < _JOIN_BELOW:
            transport.write(header + payload)
        else:
            transport.write(header)
            transport.write(payload)
        return True

    def _fail(self, reason: str, code: int) -> None:
        log.warning("closing %s connection from %s: %s", self.channel.path, self.peer, reason)
        self.close_with(code, reason)

    def close_with(self, code: int, reason: str) -> None:
        if self._done:
            return
        body = struct.pack("!H", code) + reason.encode()[:100]
        self._write(server_frame(OP_CLOSE, body) + body)
        self._end(reason or "closed")

    def _end(self, reason: str) -> None:
        if self._done:
            return
        self._done = True
        if self._timer is not None:
            self._timer.cancel()
        if self.transport is not None:
            self.transport.close()  # after what is buffered
        if self.conn is not None:
            self.conn._closed(reason or "closed")


class _Conn(Connection):
    def __init__(self, endpoint: _Endpoint, codec: Codec[Any]) -> None:
        super().__init__("ws-in")
        self.endpoint = endpoint
        self.codec = codec
        self.peer = endpoint.peer

    def _write(self, batch: list[Any]) -> None:
        if not self.endpoint.send_message(self.codec.encode(batch)):
            self._closed("peer went away")

    def close(self, reason: str = "") -> None:
        if not self.closed:
            self.flush()  # what was sent before the close still goes out
            self.endpoint.close_with(1008 if reason else 1000, reason)
            self._closed(reason or "closed")
