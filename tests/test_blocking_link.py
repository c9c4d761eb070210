"""The blocking websocket client (transport/blocking.py) against both real servers running in a
thread: tornado's (``websocket.ws_route``: the master's channels) and the lean asyncio one
(``ws_server``: a driver's executor endpoint); protocol violations neither would send come from
a raw socket peer, and what a client must not send goes to the asyncio server from a raw
socket."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import socket
import struct
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
import tornado.web

from pymesos_rt.protocol import codec
from pymesos_rt.protocol import messages as m
from pymesos_rt.transport import websocket as ws
from pymesos_rt.transport import ws_server
from pymesos_rt.transport.auth import ProofChecker
from pymesos_rt.transport.base import Connection
from pymesos_rt.transport.blocking import BlockingLink, HandshakeError
from pymesos_rt.transport.limits import DATA_PLANE_MAX

SECRET = "test-secret"
PATH = "/api/v1/executor"


class Echo:
    """Server side: answers each PutObject with ObjectValues carrying the same blob back."""

    def __init__(self) -> None:
        self.received: list[Any] = []
        self.conns: list[Connection] = []

    def on_messages(self, conn: Connection, messages: list[Any]) -> None:
        self.received.extend(messages)
        for msg in messages:
            if isinstance(msg, m.PutObject):
                conn.send(m.ObjectValues(0, [msg.blob]))

    def on_closed(self, conn: Connection, reason: str) -> None:
        pass


class Server:
    def __init__(self, kind: str = "tornado", ping_interval: float = 10.0) -> None:
        self.echo = Echo()
        self.loop = asyncio.new_event_loop()
        self.port = 0
        ready = threading.Event()

        def accept(conn: Connection) -> Echo:
            self.echo.conns.append(conn)
            return self.echo

        def serve() -> None:
            asyncio.set_event_loop(self.loop)
            if kind == "tornado":
                route = ws.ws_route(
                    PATH, codec.driver_side, accept, ProofChecker(SECRET), DATA_PLANE_MAX
                )
                app = tornado.web.Application(
                    [route],
                    websocket_ping_interval=ping_interval,
                    websocket_ping_timeout=ping_interval,
                )
                http, self.port = ws.serve(app, "127.0.0.1", 0)
                self._stop_serving = http.stop
            else:
                channel = ws_server.Channel(
                    PATH,
                    codec.driver_side,
                    accept,
                    ProofChecker(SECRET),
                    DATA_PLANE_MAX,
                    ping_interval,
                    ping_interval,
                )
                server, self.port = self.loop.run_until_complete(
                    ws_server.serve(channel, "127.0.0.1")
                )
                self._stop_serving = server.close
            ready.set()
            self.loop.run_forever()

        self.thread = threading.Thread(target=serve, daemon=True)
        self.thread.start()
        ready.wait(10)

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self.port}{PATH}"

    def call(self, fn: Any) -> None:
        self.loop.call_soon_threadsafe(fn)

    def stop(self) -> None:
        self.loop.call_soon_threadsafe(self._stop_serving)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)


@pytest.fixture(params=["tornado", "asyncio"])
def server(request: pytest.FixtureRequest) -> Iterator[Server]:
    s = Server(request.param)
    yield s
    s.stop()


def open_link(server: Server, **kw: Any) -> BlockingLink:
    kw.setdefault("max_message_size", DATA_PLANE_MAX)
    return BlockingLink.open(server.url, codec.worker_side(), SECRET, **kw)


def put(oid: str, size: int = 3) -> m.PutObject:
    return m.PutObject(m.ObjectBlob(oid, bytes(range(256)) * (size // 256) + b"x" * (size % 256)))


@pytest.mark.parametrize("size", [3, 125, 126, 1000, 65535, 65536, 300_000, 3_000_000])
def test_round_trip_of_every_frame_length_form(server, size):
    link = open_link(server)
    link.send(put("a", size))
    (values,) = link.receive()
    assert values == m.ObjectValues(0, [put("a", size).blob])
    link.close()


@pytest.mark.parametrize("secret", [None, "wrong-secret"])
def test_handshake_without_the_secret_is_refused(server, secret):
    with pytest.raises(HandshakeError) as info:
        BlockingLink.open(server.url, codec.worker_side(), secret, max_message_size=1000)
    assert info.value.status == 401
    assert server.echo.received == []


def test_concurrent_senders_share_frames_and_keep_their_order(server):
    link = open_link(server)
    threads = [
        threading.Thread(target=lambda t=t: [link.send(put(f"{t}-{i}")) for i in range(200)])
        for t in range(8)
    ]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    seen: list[str] = []
    deadline = time.monotonic() + 10
    while len(seen) < 1600 and time.monotonic() < deadline:
        batch = link.receive()
        assert batch is not None
        seen += [v.objects[0].object_id for v in batch]
    assert len(seen) == 1600
    for t in range(8):
        mine = [int(oid.split("-")[1]) for oid in seen if oid.startswith(f"{t}-")]
        assert mine == list(range(200))
    link.close()


def test_queued_messages_go_with_the_next_write(server):
    link = open_link(server)
    link.queue(put("first"))
    link.send(put("second"))
    got: list[str] = []
    while len(got) < 2:
        got += [v.objects[0].object_id for v in link.receive()]
    assert got == ["first", "second"]
    link.close()


def test_a_message_that_cannot_be_encoded_is_dropped_alone(server):
    link = open_link(server)
    link.send_many([put("a"), m.Output("t", "stdout", "lone surrogate \udc80"), put("b")])
    got: list[str] = []
    while len(got) < 2:
        got += [v.objects[0].object_id for v in link.receive()]
    assert got == ["a", "b"]
    assert not [x for x in server.echo.received if isinstance(x, m.Output)]
    link.close()


def test_messages_left_by_an_interrupted_writer_are_handed_on(server):
    """An exception raised into the writing thread (a task cancelled while it sends its
    result) must not strand what other threads queued for it to send."""
    link = open_link(server)
    stranded: list[bool] = []
    link.on_stranded = lambda: stranded.append(True)
    real_write = link._write_message

    def interrupted(payload: bytes) -> None:
        real_write(payload)
        link.queue(put("left-behind"))  # another thread arrives while this one writes
        raise KeyboardInterrupt

    link._write_message = interrupted  # type: ignore[method-assign]
    with pytest.raises(KeyboardInterrupt):
        link.send(put("first"))
    link._write_message = real_write  # type: ignore[method-assign]
    assert stranded == [True]
    link.flush()  # what on_stranded's owner does
    got: list[str] = []
    while len(got) < 2:
        got += [v.objects[0].object_id for v in link.receive()]
    assert got == ["first", "left-behind"]
    link.close()


@pytest.mark.parametrize("kind", ["tornado", "asyncio"])
def test_pings_are_answered_so_the_server_keeps_the_connection(kind):
    # tornado closes the link when a pong is not back within the interval: 0.5 s leaves room
    # for a loaded machine (parallel tests) to schedule our reader thread
    server = Server(kind, ping_interval=0.5)
    try:
        link = open_link(server)
        done = threading.Event()
        batches: list[Any] = []

        def read() -> None:
            while (batch := link.receive()) is not None:
                batches.append(batch)
            done.set()

        threading.Thread(target=read, daemon=True).start()
        deadline = time.monotonic() + 10
        while link.pings < 4 and time.monotonic() < deadline:  # about 2 s of pings
            assert not done.is_set(), link.close_reason
            time.sleep(0.01)
        assert link.pings >= 4
        link.send(put("still-here"))
        while not batches and time.monotonic() < deadline:
            time.sleep(0.01)
        assert batches == [[m.ObjectValues(0, [put("still-here").blob])]]
        link.close()
        assert done.wait(5)
    finally:
        server.stop()


def test_server_close_ends_receive_with_the_reason(server):
    link = open_link(server)
    link.send(put("hello"))
    assert link.receive() is not None
    server.call(lambda: server.echo.conns[0].close("bye"))
    assert link.receive() is None
    assert "closed by peer" in link.close_reason and "bye" in link.close_reason


def test_a_message_over_the_limit_closes_the_link(server):
    link = open_link(server, max_message_size=1000)
    link.send(put("big", 5000))
    assert link.receive() is None
    assert "over 1000 bytes" in link.close_reason


# --- a raw peer, for what tornado would never send ------------------------------------------
def raw_server(frames: list[bytes]) -> tuple[int, threading.Thread]:
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]

    def serve() -> None:
        conn, _ = listener.accept()
        with conn, listener:
            request = b""
            while b"\r\n\r\n" not in request:
                request += conn.recv(4096)
            key = next(
                line.split(b":", 1)[1].strip()
                for line in request.split(b"\r\n")
                if line.lower().startswith(b"sec-websocket-key")
            )
            accept = base64.b64encode(
                hashlib.sha1(key + b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11").digest()
            )
            conn.sendall(
                b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                b"Connection: Upgrade\r\nSec-WebSocket-Accept: " + accept + b"\r\n\r\n"
            )
            for f in frames:
                conn.sendall(f)
            conn.recv(4096)  # the client's close frame

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    return port, thread


def server_frame(opcode: int, payload: bytes, fin: bool = True, masked: bool = False) -> bytes:
    head = struct.pack("!BB", (0x80 if fin else 0) | opcode, (0x80 if masked else 0) | len(payload))
    return head + (b"\0\0\0\0" if masked else b"") + payload


@pytest.mark.parametrize(
    ("frames", "why"),
    [
        ([server_frame(0x2, b"\x90", masked=True)], "masked"),
        ([server_frame(0x1, b"text")], "unexpected frame"),
        ([server_frame(0x0, b"\x90")], "unexpected frame"),
        ([server_frame(0x2, b"\xc1")], "malformed frame"),
        ([server_frame(0x9, b"p", fin=False)], "bad control frame"),
        ([server_frame(0x8, b"x")], "bad control frame"),
        ([server_frame(0x3, b"")], "reserved opcode"),
    ],
    ids=[
        "masked",
        "text",
        "stray-continuation",
        "undecodable",
        "fragmented-ping",
        "one-byte-close",
        "reserved-opcode",
    ],
)
def test_protocol_violations_close_the_link_with_a_reason(frames, why):
    port, thread = raw_server(frames)
    link = BlockingLink.open(
        f"ws://127.0.0.1:{port}/x", codec.worker_side(), None, max_message_size=1000
    )
    assert link.receive() is None
    assert why in link.close_reason
    thread.join(5)


def test_fragments_are_joined_and_pings_between_them_answered():
    whole = codec.Codec.encode([m.StopWorker()])
    port, thread = raw_server(
        [
            server_frame(0x2, whole[:1], fin=False),
            server_frame(0x9, b"ping"),
            server_frame(0x0, whole[1:]),
        ]
    )
    link = BlockingLink.open(
        f"ws://127.0.0.1:{port}/x", codec.worker_side(), None, max_message_size=1000
    )
    assert link.receive() == [m.StopWorker()]
    assert link.pings == 1
    link.close()
    thread.join(5)


class _RecordingSocket:
    """The link's socket, recording how it is read."""

    def __init__(self, sock: socket.socket) -> None:
        self._sock = sock
        self.recv_calls = 0
        self.buffers: set[int] = set()

    def recv(self, n: int) -> bytes:
        self.recv_calls += 1
        return self._sock.recv(n)

    def recv_into(self, buf, n: int = 0) -> int:
        base = buf.obj if isinstance(buf, memoryview) else buf
        self.buffers.add(id(base))
        return self._sock.recv_into(buf, n)

    def __getattr__(self, name: str):
        return getattr(self._sock, name)


def test_small_messages_are_read_into_one_reused_buffer():
    """A fresh 1 MiB buffer per read costs an mmap/munmap pair each (issue 9, point 12)."""
    frames = [server_frame(0x2, codec.Codec.encode([m.CancelTask(f"t{i}")])) for i in range(20)]
    frames.append(server_frame(0x2, codec.Codec.encode([m.StopWorker()])))
    port, thread = raw_server(frames)
    link = BlockingLink.open(
        f"ws://127.0.0.1:{port}/x", codec.worker_side(), None, max_message_size=1000
    )
    recording = _RecordingSocket(link.sock)
    link.sock = recording  # type: ignore[assignment]
    got = []
    while not got or got[-1] != m.StopWorker():
        batch = link.receive()
        assert batch is not None
        got += batch
    assert got == [m.CancelTask(f"t{i}") for i in range(20)] + [m.StopWorker()]
    assert recording.recv_calls == 0 and len(recording.buffers) <= 1
    link.close()
    thread.join(5)


def test_a_reader_polls_before_it_sleeps_only_after_short_gaps(server):
    """A halted vCPU takes tens of microseconds to wake here: when frames came in short gaps
    lately the reader polls for a while first (BlockingLink._poll), without touching the
    socket's mode (other threads write to it)."""
    link = open_link(server)
    link.poll_frames = True
    link._gaps.average = 1.0  # frames came seconds apart: no polling, the blocking read waits
    assert link._poll() is False
    link._gaps.average = 50e-6  # frames came 50 us apart: poll (up to 100 us) before sleeping
    link.send(put("quick"))
    deadline = time.monotonic() + 10
    while not link._poll() and time.monotonic() < deadline:
        pass  # the echo arrives while polling, or a later poll finds it
    assert link.sock.gettimeout() == 30.0  # never switched to non-blocking
    assert link.receive() == [m.ObjectValues(0, [put("quick").blob])]
    link.close()
