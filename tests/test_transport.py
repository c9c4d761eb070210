"""The websocket transport against a real tornado server on 127.0.0.1 (no mocks)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
import tornado.httpclient
import tornado.websocket

from pymesos_rt.protocol import codec
from pymesos_rt.protocol import messages as m
from pymesos_rt.transport import inproc
from pymesos_rt.transport import websocket as ws
from pymesos_rt.transport.auth import ProofChecker
from pymesos_rt.transport.base import Connection

SECRET = "test-secret"


class Collect:
    def __init__(self) -> None:
        self.batches: list[list[Any]] = []
        self.closed: list[str] = []
        self.event = asyncio.Event()

    def on_messages(self, conn: Connection, messages: list[Any]) -> None:
        self.batches.append(messages)
        self.event.set()

    def on_closed(self, conn: Connection, reason: str) -> None:
        self.closed.append(reason)
        self.event.set()


async def _server(collector: Collect) -> tuple[Any, str]:
    route = ws.ws_route(
        "/api/v1/agent", codec.master_agent_side, lambda conn: collector, ProofChecker(SECRET)
    )
    server, port = ws.serve(ws.make_app([route]), "127.0.0.1", 0)
    return server, f"ws://127.0.0.1:{port}/api/v1/agent"


async def _until(cond, timeout: float = 5.0) -> None:
    async with asyncio.timeout(timeout):
        while not cond():
            await asyncio.sleep(0.005)


def test_messages_are_batched_and_delivered():
    async def main() -> None:
        got = Collect()
        server, url = await _server(got)
        conn = await ws.connect(url, codec.agent_side(), SECRET)
        conn.receiver = Collect()
        conn.start_reading()
        conn.send(m.Heartbeat())
        conn.send(m.Heartbeat())  # same loop iteration: one frame
        await _until(lambda: got.batches)
        assert got.batches[0] == [m.Heartbeat(), m.Heartbeat()]
        conn.close()
        server.stop()

    asyncio.run(main())


@pytest.mark.parametrize("secret", [None, "wrong-secret"])
def test_handshake_without_the_secret_is_refused(secret):
    async def main() -> None:
        got = Collect()
        server, url = await _server(got)
        with pytest.raises(ws.Refused, match="401"):
            await ws.connect(url, codec.agent_side(), secret)
        assert got.batches == []
        server.stop()

    asyncio.run(main())


def test_replayed_handshake_is_refused():
    async def main() -> None:
        got = Collect()
        server, url = await _server(got)
        import time

        from pymesos_rt.transport.auth import HEADER, make_proof

        proof = make_proof(SECRET, "/api/v1/agent", time.time())
        req = tornado.httpclient.HTTPRequest(url, headers={HEADER: proof})
        first = await tornado.websocket.websocket_connect(req)
        first.close()
        with pytest.raises(tornado.httpclient.HTTPClientError):
            await tornado.websocket.websocket_connect(
                tornado.httpclient.HTTPRequest(url, headers={HEADER: proof})
            )
        server.stop()

    asyncio.run(main())


@pytest.mark.parametrize(
    "frame",
    [
        b"\x00\x01garbage",
        codec.Codec.encode([m.Hello("e", 1, "h")]),
        b"\x91\x92\xa7unknown\x01",
        "text frame",
    ],
)
def test_malformed_frame_closes_only_that_connection(frame):
    async def main() -> None:
        got = Collect()
        server, url = await _server(got)
        good = await ws.connect(url, codec.agent_side(), SECRET)
        good.receiver = Collect()
        good.start_reading()
        bad = await ws.connect(url, codec.agent_side(), SECRET)
        bad_side = Collect()
        bad.receiver = bad_side
        bad.start_reading()
        await bad.ws.write_message(frame, binary=isinstance(frame, bytes))
        await _until(lambda: bad_side.closed)  # the server closed the bad connection
        good.send(m.Heartbeat())
        await _until(lambda: any(b == [m.Heartbeat()] for b in got.batches))
        assert len(got.closed) == 1
        good.close()
        server.stop()

    asyncio.run(main())


def test_inproc_pipe_delivers_in_order_and_closes_both_ends():
    async def main() -> None:
        a, b = inproc.pipe()
        ra, rb = Collect(), Collect()
        a.receiver, b.receiver = ra, rb
        a.send(1)
        a.send_many([2, 3])
        await _until(lambda: rb.batches)
        assert rb.batches == [[1, 2, 3]]
        a.close("bye")
        await _until(lambda: ra.closed and rb.closed)
        assert a.closed and b.closed

    asyncio.run(main())


def test_a_peer_closing_while_a_write_is_pending_leaves_no_unhandled_error():
    """The server queues more than the socket takes; the peer resets the connection without
    reading. The write's future fails: the connection reports the close once, and nothing is
    left for asyncio to log as an exception never retrieved."""
    import gc
    import socket

    async def main() -> None:
        loop = asyncio.get_running_loop()
        unhandled: list[dict[str, Any]] = []
        loop.set_exception_handler(lambda _loop, context: unhandled.append(context))
        got = Collect()
        conns: list[Connection] = []

        def accept(conn: Connection) -> Collect:
            conns.append(conn)
            return got

        route = ws.ws_route("/api/v1/agent", codec.master_agent_side, accept, None)
        server, port = ws.serve(ws.make_app([route]), "127.0.0.1", 0)
        raw = socket.create_connection(("127.0.0.1", port))
        raw.sendall(
            b"GET /api/v1/agent HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"
            b"Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
            b"Sec-WebSocket-Version: 13\r\n\r\n"
        )
        await _until(lambda: conns)
        big = [m.StatusAcked("x" * 1000)] * 4000  # ~4 MB a frame, never read
        for _ in range(8):
            conns[0].send_many(big)
            await asyncio.sleep(0)
        await asyncio.sleep(0.05)
        raw.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
        raw.close()  # reset: unread data and linger 0
        await _until(lambda: got.closed, 10.0)
        conns[0].send(m.StatusAcked("after"))  # sending to a closed connection is a no-op
        for _ in range(3):
            gc.collect()
            await asyncio.sleep(0.01)
        assert got.closed and len(got.closed) == 1
        assert unhandled == []
        server.stop()

    asyncio.run(main())
