"""The lean asyncio websocket server (transport/ws_server.py) from the client's side: what a
client must not send, from a raw socket; every such connection is closed alone, with a reason,
and the server goes on serving the others. (Well-behaved clients: test_blocking_link.py runs
the executors' client against it.)"""

from __future__ import annotations

import os
import socket
import struct
import time
from collections.abc import Iterator

import pytest
from test_blocking_link import PATH, SECRET, Server, open_link, put

from pymesos_rt.protocol import codec
from pymesos_rt.protocol import messages as m
from pymesos_rt.transport.auth import HEADER, make_proof
from pymesos_rt.transport.blocking import mask
from pymesos_rt.transport.limits import DATA_PLANE_MAX


@pytest.fixture
def server() -> Iterator[Server]:
    s = Server("asyncio")
    yield s
    s.stop()


def upgrade(port: int, path: str = PATH, proof: bool = True, extra: str = "") -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port), timeout=10)
    lines = [
        f"GET {path} HTTP/1.1",
        "Host: x",
        "Upgrade: websocket",
        "Connection: Upgrade",
        "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==",
        "Sec-WebSocket-Version: 13",
    ]
    if proof:
        lines.append(f"{HEADER}: {make_proof(SECRET, path, time.time())}")
    sock.sendall(("\r\n".join(lines) + extra + "\r\n\r\n").encode())
    return sock


def response(sock: socket.socket) -> bytes:
    got = b""
    while b"\r\n\r\n" not in got:
        chunk = sock.recv(4096)
        if not chunk:
            break
        got += chunk
    return got


def client_frame(opcode: int, payload: bytes, fin: bool = True, masked: bool = True) -> bytes:
    first = (0x80 if fin else 0) | opcode
    n = len(payload)
    bit = 0x80 if masked else 0
    if n < 126:
        head = struct.pack("!BB", first, bit | n)
    elif n < 2**16:
        head = struct.pack("!BBH", first, bit | 126, n)
    else:
        head = struct.pack("!BBQ", first, bit | 127, n)
    if not masked:
        return head + payload
    key = os.urandom(4)
    return head + key + mask(key, payload)


def closed_with(sock: socket.socket) -> str:
    """Read until the server closes; the reason in its close frame."""
    data = b""
    while chunk := sock.recv(65536):
        data += chunk
    at = data.rfind(b"\x88")
    return data[at + 4 :].decode(errors="replace") if at >= 0 else ""


def test_the_upgrade_answers_101_with_the_accept_key(server):
    sock = upgrade(server.port)
    head = response(sock)
    assert head.startswith(b"HTTP/1.1 101")
    assert b"Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=" in head  # RFC 6455's example
    sock.close()


@pytest.mark.parametrize(
    ("path", "proof", "status"),
    [(PATH, False, b"401"), ("/elsewhere", True, b"404")],
)
def test_a_bad_upgrade_is_refused_and_closed(server, path, proof, status):
    sock = upgrade(server.port, path, proof)
    head = response(sock)
    assert head.split(b" ")[1] == status
    sock.settimeout(10)
    while sock.recv(4096):  # then the server closes the connection
        pass
    sock.close()


@pytest.mark.parametrize(
    ("frame", "why"),
    [
        (client_frame(0x2, codec.Codec.encode([m.StopWorker()]), masked=False), "unmasked"),
        (client_frame(0x1, b"text"), "text frame"),
        (client_frame(0x0, b"stray"), "unexpected frame"),
        (client_frame(0x2, b"\xc1\xc1\xc1"), "malformed frame"),
        (client_frame(0x9, b"x", fin=False), "bad control frame"),
        (client_frame(0x3, b"x"), "reserved opcode"),
        (struct.pack("!BBQ", 0x82, 0x80 | 127, DATA_PLANE_MAX + 1) + b"mask", "over"),
    ],
    ids=[
        "unmasked",
        "text",
        "stray-continuation",
        "undecodable",
        "ping-fragment",
        "reserved",
        "over-limit",
    ],
)
def test_what_a_client_must_not_send_closes_that_connection_alone(server, frame, why):
    good = open_link(server)
    bad = upgrade(server.port)
    assert response(bad).startswith(b"HTTP/1.1 101")
    bad.sendall(frame)  # (over the limit: the header alone, the server must not wait for more)
    assert why in closed_with(bad)
    bad.close()
    good.send(put("still-served"))
    assert good.receive() == [m.ObjectValues(0, [put("still-served").blob])]
    good.close()


def test_fragments_and_pings_from_a_client(server):
    sock = upgrade(server.port)
    assert response(sock).startswith(b"HTTP/1.1 101")
    whole = codec.Codec.encode([put("parts")])
    sock.sendall(
        client_frame(0x2, whole[:5], fin=False)
        + client_frame(0x9, b"are you there")
        + client_frame(0x0, whole[5:])
    )
    data = b""
    deadline = time.monotonic() + 10
    while b"parts" not in data and time.monotonic() < deadline:
        data += sock.recv(65536)
    assert data.startswith(b"\x8a\x0dare you there")  # the pong first, then the echo
    assert b"parts" in data
    sock.close()


def test_a_silent_peer_is_closed():
    server = Server("asyncio", ping_interval=0.2)
    try:
        sock = upgrade(server.port)
        assert response(sock).startswith(b"HTTP/1.1 101")
        sock.settimeout(10)
        data = b""
        while chunk := sock.recv(4096):  # pings (never answered), then the close
            data += chunk
        assert data.count(b"\x89\x00") >= 1
        assert server.echo.conns and server.echo.conns[0].closed
    finally:
        server.stop()
