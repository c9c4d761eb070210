"""Frames on the object-store sockets: a 4-byte little-endian length, then a MessagePack list
of messages (``protocol/objects.py``); the handshake proof; blocking exact reads and writes.

Imports nothing of the package but ``protocol``.
"""

from __future__ import annotations

import array
import hashlib
import hmac
import socket
import struct
from typing import Any

from pymesos_rt.protocol import objects as w
from pymesos_rt.protocol.codec import Codec, ProtocolError

_LEN = struct.Struct("<I")
MAX_FRAME = 16 * 2**20  # control frames only: object bytes travel raw, outside frames
CHUNK = 4 * 2**20


class ConnectionClosed(ConnectionError):
    """The peer closed the stream (or sent a frame that does not decode)."""


def server_codec() -> Codec[w.StoreCall]:
    return Codec(w.StoreCall)


def client_codec() -> Codec[w.StoreEvent]:
    return Codec(w.StoreEvent)


def proof(key: str, nonce: str) -> str:
    return hmac.new(key.encode(), f"store.{nonce}".encode(), hashlib.sha256).hexdigest()


def proven(keys: list[str], nonce: str, given: str) -> bool:
    return any(k and hmac.compare_digest(proof(k, nonce), given) for k in keys)


def frame(messages: list[Any]) -> bytes:
    body = Codec.encode(messages)
    return _LEN.pack(len(body)) + body


def send(sock: socket.socket, messages: list[Any], fds: list[int] | None = None) -> None:
    data = frame(messages)
    if fds:
        sent = sock.sendmsg([data], [(socket.SOL_SOCKET, socket.SCM_RIGHTS, array.array("i", fds))])
        if sent < len(data):
            sock.sendall(data[sent:])
    else:
        sock.sendall(data)


def recv_exact(sock: socket.socket, n: int) -> bytes:
    buf = bytearray(n)
    recv_into(sock, memoryview(buf))
    return bytes(buf)


def recv_into(sock: socket.socket, dst: memoryview) -> None:
    """Fill ``dst`` from the stream (no intermediate copy)."""
    got = 0
    total = dst.nbytes
    while got < total:
        n = sock.recv_into(dst[got:], min(total - got, CHUNK))
        if n == 0:
            raise ConnectionClosed(f"stream ended after {got} of {total} bytes")
        got += n


def receive(
    sock: socket.socket, codec: Codec[Any], with_fds: bool = False
) -> tuple[list[Any], list[int]]:
    """One frame's messages (and descriptors passed with it, when asked for)."""
    fds: list[int] = []
    if with_fds:
        head, ancillary, _, _ = sock.recvmsg(_LEN.size, socket.CMSG_SPACE(4 * 4))
        for level, kind, data in ancillary:
            if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
                got = array.array("i")
                got.frombytes(data[: len(data) - len(data) % got.itemsize])
                fds.extend(got)
        if len(head) < _LEN.size:
            if not head:
                raise ConnectionClosed("closed")
            head += recv_exact(sock, _LEN.size - len(head))
    else:
        head = recv_exact(sock, _LEN.size)
    (length,) = _LEN.unpack(head)
    if length > MAX_FRAME:
        raise ConnectionClosed(f"frame of {length} bytes is over the limit of {MAX_FRAME}")
    body = recv_exact(sock, length)
    try:
        return codec.decode(body), fds
    except ProtocolError as exc:
        raise ConnectionClosed(f"bad frame: {exc}") from None
