"""A blocking websocket client (RFC 6455) for a process without an event loop: the executor.

An executor's connection to its driver carries one task and its result per round trip, and
each hop between threads costs tens of microseconds here. With this client the thread that
finishes a task writes the result frame itself (no hand-off to a loop thread), and one reader
thread blocks in ``recv``. The server end is tornado (``websocket.ws_route``), so the protocol
is the same as every other channel's: binary frames, each a MessagePack batch of messages.

- :meth:`BlockingLink.open` does the HTTP upgrade with the cluster-secret proof header.
- :meth:`BlockingLink.send_many` may be called from any thread; callers that arrive while
  another is writing leave their messages to it, so concurrent messages share a frame. A
  message that cannot be encoded is dropped alone (logged), and if the writing thread is
  interrupted (an exception raised into it) what others left is handed to ``on_stranded``.
  Messages over ``FRAGMENT`` bytes go out in fragments, so pongs are not held up behind them.
- :meth:`BlockingLink.receive` (one reader thread) returns the next batch, answers pings, and
  returns None when the connection ends (closed by either side, silent for too long, or a
  frame that breaks the protocol or does not decode: the reason is in :attr:`close_reason`).
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import logging
import os
import select
import socket
import struct
import threading
import time
import urllib.parse
from collections.abc import Callable
from typing import Any

from pymesos_rt.protocol.codec import Codec, ProtocolError
from pymesos_rt.transport.auth import HEADER, make_proof
from pymesos_rt.transport.polling import PollBudget

_c_mask: Callable[[bytes, bytes], bytes] | None
try:
    from tornado.speedups import websocket_mask as _c_mask
except ImportError:  # pragma: no cover - tornado built without its C extension
    _c_mask = None

log = logging.getLogger(__name__)

GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
OP_CONT, OP_TEXT, OP_BINARY, OP_CLOSE, OP_PING, OP_PONG = 0x0, 0x1, 0x2, 0x8, 0x9, 0xA
FRAGMENT = 1 << 20  # larger messages are sent in fragments of this size
CLOSE_WAIT_S = 5.0  # close() waits this long for a writing thread to finish
READ_SIZE = 1 << 16  # bytes one read asks for (larger payloads are read straight into place)


class HandshakeError(ConnectionError):
    """The server did not upgrade the connection (``status`` is its HTTP status, 0 if none)."""

    def __init__(self, message: str, status: int = 0) -> None:
        super().__init__(message)
        self.status = status


def mask(key: bytes, data: bytes) -> bytes:
    """``data`` XOR the repeated 4-byte ``key`` (client frames must be masked)."""
    if _c_mask is not None:
        return bytes(_c_mask(key, data))
    n = len(data)
    stream = (key * (n // 4 + 1))[:n]
    return (int.from_bytes(data, "little") ^ int.from_bytes(stream, "little")).to_bytes(n, "little")


def frame(opcode: int, payload: bytes, fin: bool = True) -> bytes:
    """One masked client frame."""
    n = len(payload)
    first = (0x80 if fin else 0) | opcode
    if n < 126:
        head = struct.pack("!BB", first, 0x80 | n)
    elif n < 2**16:
        head = struct.pack("!BBH", first, 0x80 | 126, n)
    else:
        head = struct.pack("!BBQ", first, 0x80 | 127, n)
    key = os.urandom(4)
    return head + key + mask(key, payload)


class BlockingLink:
    def __init__(self, sock: socket.socket, codec: Codec[Any], max_message_size: int) -> None:
        self.sock = sock
        self.codec = codec
        self.max_message_size = max_message_size
        self.close_reason = ""
        self._buf = bytearray()
        # every read lands in this one buffer: a fresh 1 MiB ``recv`` buffer per call costs an
        # mmap/munmap pair each time (about half of a small message's round trip here)
        self._rbuf = bytearray(READ_SIZE)
        self._rview = memoryview(self._rbuf)
        self._lock = threading.Lock()  # guards _outbox, _writing and _closed
        self._idle = threading.Condition(self._lock)  # notified when a writer finishes
        self._outbox: list[Any] = []
        self._writing = False
        self._wire = threading.Lock()  # one frame on the socket at a time
        self._closed = False
        self.pings = 0  # answered so far
        # poll before a blocking read when frames came in short gaps lately (see _poll)
        self.poll_frames = False
        self._gaps = PollBudget()  # between reads
        self._last_read = 0.0
        self._poller: select.poll | None = None
        # called (from the thread that was interrupted) when messages were left queued by a
        # writer that an exception stopped: someone must flush them
        self.on_stranded: Callable[[], None] | None = None

    # --- opening ---------------------------------------------------------------------------
    @classmethod
    def open(
        cls,
        url: str,
        codec: Codec[Any],
        secret: str | None,
        *,
        max_message_size: int,
        timeout: float = 10.0,
        idle_timeout: float = 30.0,
    ) -> BlockingLink:
        """Connect to ``ws://host:port/path``. ``idle_timeout``: the server pings every 10 s,
        so this long without any frame means the peer is gone."""
        parts = urllib.parse.urlparse(url)
        if parts.scheme != "ws" or not parts.hostname:
            raise ValueError(f"expected a ws://host:port/path address, got {url!r}")
        path = parts.path or "/"
        sock = socket.create_connection((parts.hostname, parts.port or 80), timeout=timeout)
        try:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            key = base64.b64encode(os.urandom(16)).decode()
            lines = [
                f"GET {path} HTTP/1.1",
                f"Host: {parts.hostname}:{parts.port or 80}",
                "Upgrade: websocket",
                "Connection: Upgrade",
                f"Sec-WebSocket-Key: {key}",
                "Sec-WebSocket-Version: 13",
            ]
            if secret:
                lines.append(f"{HEADER}: {make_proof(secret, path, time.time())}")
            sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
            link = cls(sock, codec, max_message_size)
            link._handshake(key)
        except BaseException:
            sock.close()
            raise
        sock.settimeout(idle_timeout)
        return link

    def _handshake(self, key: str) -> None:
        while b"\r\n\r\n" not in self._buf:
            if len(self._buf) > 65536:
                raise HandshakeError("handshake response too long")
            self._fill()
        end = self._buf.index(b"\r\n\r\n")
        head = bytes(self._buf[:end]).decode("latin-1").split("\r\n")
        del self._buf[: end + 4]
        status_line = head[0].split(" ", 2)
        status = int(status_line[1]) if len(status_line) > 1 and status_line[1].isdigit() else 0
        if status != 101:
            raise HandshakeError(f"server answered {head[0]!r} instead of upgrading", status)
        headers = {}
        for line in head[1:]:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        want = base64.b64encode(hashlib.sha1(key.encode() + GUID).digest()).decode()
        if headers.get("upgrade", "").lower() != "websocket":
            raise HandshakeError("server did not upgrade to websocket")
        if headers.get("sec-websocket-accept") != want:
            raise HandshakeError("server sent a wrong Sec-WebSocket-Accept")

    def _fill(self) -> None:
        if self.poll_frames:
            self._poll()
        got = self.sock.recv_into(self._rbuf)
        if not got:
            raise ConnectionError("connection closed by peer")
        now = time.monotonic()
        self._gaps.observed(now - self._last_read)
        self._last_read = now
        self._buf += self._rview[:got]

    def _poll(self) -> bool:
        """When reads came in short gaps lately, poll the socket (``poll`` with no timeout,
        yielding the CPU between tries) for up to twice the usual gap before the blocking
        read: a halted vCPU takes tens of microseconds to wake here. True when data (or the
        end) is there. The socket's own mode is left alone: other threads write to it."""
        budget = self._gaps.budget()
        if not budget:
            return False
        if self._poller is None:
            self._poller = select.poll()
            self._poller.register(self.sock.fileno(), select.POLLIN)
        until = time.monotonic() + budget
        while not self._poller.poll(0):
            if time.monotonic() >= until:
                return False
            os.sched_yield()  # a runnable thread here (the task's) goes first
        return True

    def _take(self, n: int) -> bytes | bytearray:
        if n > FRAGMENT:  # read a large payload straight into its own buffer
            out = bytearray(n)
            have = min(n, len(self._buf))
            out[:have] = self._buf[:have]
            del self._buf[:have]
            view = memoryview(out)
            while have < n:
                got = self.sock.recv_into(view[have:])
                if not got:
                    raise ConnectionError("connection closed by peer")
                have += got
            return out
        while len(self._buf) < n:
            self._fill()
        small = bytes(self._buf[:n])
        del self._buf[:n]
        return small

    # --- sending (any thread) --------------------------------------------------------------
    def send(self, message: Any) -> None:
        self.send_many([message])

    def queue(self, message: Any) -> int:
        """Queue ``message`` for the next write (a later :meth:`send_many` or :meth:`flush`);
        returns how many messages are queued now."""
        with self._lock:
            if not self._closed:
                self._outbox.append(message)
            return len(self._outbox)

    def flush(self) -> None:
        """Write whatever is queued."""
        self.send_many([])

    def send_many(self, messages: list[Any]) -> None:
        with self._lock:
            if self._closed:
                return
            self._outbox.extend(messages)
            if self._writing:
                return  # the thread writing now sends these too
            self._writing = True
        finished = False
        try:
            while True:
                with self._lock:
                    batch, self._outbox = self._outbox, []
                    if not batch or self._closed:
                        self._writing, finished = False, True
                        self._idle.notify_all()
                        return
                self._write_message(self._encode(batch))
        finally:
            if not finished:  # an exception stopped this writer
                with self._lock:
                    self._writing = False
                    self._idle.notify_all()
                    stranded = bool(self._outbox) and not self._closed
                if stranded and self.on_stranded is not None:
                    self.on_stranded()

    def _encode(self, batch: list[Any]) -> bytes:
        try:
            return self.codec.encode(batch)
        except Exception:
            good = []
            for message in batch:
                try:
                    self.codec.encode([message])
                except Exception as exc:
                    log.warning(
                        "dropped a %s that cannot be encoded: %s", type(message).__name__, exc
                    )
                else:
                    good.append(message)
            return self.codec.encode(good)

    def _write_message(self, payload: bytes) -> None:
        """One binary message; in fragments when large (control frames may go in between)."""
        if len(payload) <= FRAGMENT:
            self._write(OP_BINARY, payload)
            return
        view = memoryview(payload)
        try:
            for start in range(0, len(payload), FRAGMENT):
                opcode = OP_BINARY if start == 0 else OP_CONT
                last = start + FRAGMENT >= len(payload)
                self._write(opcode, bytes(view[start : start + FRAGMENT]), fin=last)
                if self._closed:
                    return
        except BaseException:
            # part of a message is on the wire: nothing else can follow it
            self._shut("interrupted in the middle of a message")
            raise

    def _write(self, opcode: int, payload: bytes, fin: bool = True) -> None:
        data = frame(opcode, payload, fin)
        with self._wire:
            try:
                self.sock.sendall(data)
            except OSError as exc:
                self._shut(f"send failed: {exc}")

    # --- receiving (one reader thread) -----------------------------------------------------
    def receive(self) -> list[Any] | None:
        """The next batch of messages, or None once the connection has ended."""
        try:
            return self._receive()
        except (OSError, ConnectionError) as exc:
            reason = "driver silent for too long" if isinstance(exc, TimeoutError) else str(exc)
            self._shut(reason)
            return None

    def _receive(self) -> list[Any] | None:
        parts: list[bytes | bytearray] = []
        size = 0
        while not self._closed:
            b0, b1 = self._take(2)
            fin, opcode, length = b0 & 0x80, b0 & 0x0F, b1 & 0x7F
            if b1 & 0x80 or b0 & 0x70:
                self._protocol_error("masked or extended frame from the server")
                return None
            if length == 126:
                (length,) = struct.unpack("!H", self._take(2))
            elif length == 127:
                (length,) = struct.unpack("!Q", self._take(8))
            if opcode not in (OP_CONT, OP_TEXT, OP_BINARY, OP_CLOSE, OP_PING, OP_PONG):
                self._protocol_error(f"reserved opcode {opcode}")
                return None
            if opcode >= 0x8:  # control frames: complete, short, may arrive between fragments
                if not fin or length > 125 or (opcode == OP_CLOSE and length == 1):
                    self._protocol_error("bad control frame")
                    return None
                body = bytes(self._take(length))
                if opcode == OP_PING:
                    self.pings += 1
                    self._write(OP_PONG, body)
                elif opcode == OP_CLOSE:
                    code = struct.unpack("!H", body[:2])[0] if len(body) >= 2 else 1005
                    self._write(OP_CLOSE, body[:2])
                    self._shut(f"closed by peer ({code} {body[2:].decode(errors='replace')})")
                    return None
                continue
            size += length
            if size > self.max_message_size:
                self._protocol_error(f"message over {self.max_message_size} bytes")
                return None
            if opcode == OP_TEXT or (opcode == OP_CONT) != bool(parts):
                self._protocol_error(f"unexpected frame (opcode {opcode})")
                return None
            parts.append(self._take(length))
            if fin:
                try:
                    whole = parts[0] if len(parts) == 1 else b"".join(parts)
                    return list(self.codec.decode(whole))
                except ProtocolError as exc:
                    self._protocol_error(f"malformed frame: {exc}")
                    return None
        return None

    def _protocol_error(self, why: str) -> None:
        self.close(why, code=1002)

    # --- closing ---------------------------------------------------------------------------
    def close(self, reason: str = "", code: int = 1000) -> None:
        """Send what is queued, then a close frame, and shut the socket. Waits (a little) for
        a thread that is writing, so that nothing it holds goes out after the close frame."""
        with self._lock:
            if self._closed:
                return
            self._idle.wait_for(lambda: not self._writing, CLOSE_WAIT_S)
            batch, self._outbox = self._outbox, []
            self._writing = True  # nobody else writes from now on
        try:
            if batch:
                self._write_message(self._encode(batch))
            self._write(OP_CLOSE, struct.pack("!H", code) + reason[:100].encode())
        finally:
            self._shut(reason or "closed")

    def _shut(self, reason: str) -> None:
        with self._lock:
            if self._closed:
                return
            self._closed = True
            self.close_reason = reason
            self._outbox.clear()
        with contextlib.suppress(OSError):
            self.sock.shutdown(socket.SHUT_RDWR)

    @property
    def closed(self) -> bool:
        return self._closed
