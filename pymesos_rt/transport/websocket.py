"""Websocket connections over tornado: the only tornado client/server code in the package.

- :func:`ws_route` makes a tornado handler for one channel: it checks the cluster-secret proof
  before the upgrade (refused with 401, nothing read), decodes each binary frame with the
  channel's codec, and closes *that one connection* on a frame that does not decode.
- :func:`connect` opens a client connection with the proof in its headers.
- :func:`serve` starts a tornado HTTP server on ``host:port`` (port 0 picks one) and returns it
  with the bound port.
"""

from __future__ import annotations

import logging
import os
import resource
import socket
import ssl
import time
import urllib.parse
from asyncio import Future
from collections.abc import Callable
from typing import Any

import tornado.httpclient
import tornado.httpserver
import tornado.httputil
import tornado.iostream
import tornado.netutil
import tornado.web
import tornado.websocket

from pymesos_rt.protocol.codec import Codec, ProtocolError
from pymesos_rt.transport.auth import HEADER, ProofChecker, make_proof
from pymesos_rt.transport.base import Connection, Receiver
from pymesos_rt.transport.limits import CONTROL_PLANE_MAX, DATA_PLANE_MAX

log = logging.getLogger(__name__)

TLS_CA_ENV = "PYMESOS_RT_TLS_CA"


class Refused(ConnectionError):
    """The server refused the handshake (no or wrong proof of the cluster secret)."""


class _WsConnection(Connection):
    """Shared by both ends: write batches as binary frames, decode incoming ones."""

    def __init__(self, kind: str, codec: Codec[Any]) -> None:
        super().__init__(kind)
        self.codec = codec

    def _frame(self, data: bytes | str) -> None:
        if isinstance(data, str):
            self._fail("text frame on a binary channel")
            return
        try:
            batch = self.codec.decode(data)
        except ProtocolError as exc:
            self._fail(f"malformed frame: {exc}")
            return
        self._deliver(batch)

    def _fail(self, reason: str) -> None:
        log.warning("closing %r: %s", self, reason)
        self.close(reason)

    def _watch(self, pending: Future[None]) -> None:
        """A write still in the socket's buffer fails if the peer goes away meanwhile: take
        its error (else asyncio logs it as never retrieved) and report the close once."""
        if pending.done():
            self._written(pending)
        else:
            pending.add_done_callback(self._written)

    def _written(self, pending: Future[None]) -> None:
        if pending.cancelled():
            return
        error = pending.exception()
        if isinstance(error, tornado.websocket.WebSocketClosedError):
            self._closed("peer went away")
        elif error is not None:
            self._fail(f"write failed: {error!r}")


class ServerConnection(_WsConnection):
    def __init__(self, handler: tornado.websocket.WebSocketHandler, codec: Codec[Any]) -> None:
        super().__init__("ws-in", codec)
        self.handler = handler
        self.peer = handler.request.remote_ip or ""

    def _write(self, batch: list[Any]) -> None:
        try:
            pending = self.handler.write_message(self.codec.encode(batch), binary=True)
        except tornado.websocket.WebSocketClosedError:
            self._closed("peer went away")
            return
        self._watch(pending)

    def close(self, reason: str = "") -> None:
        if not self.closed:
            self.flush()  # what was sent before the close still goes out
            self.handler.close(1008 if reason else 1000, reason[:100])
            self._closed(reason or "closed")


class ClientConnection(_WsConnection):
    """The client end. Frames that arrive before :meth:`start_reading` wait in a list."""

    def __init__(
        self, ws: tornado.websocket.WebSocketClientConnection, codec: Codec[Any], url: str
    ) -> None:
        super().__init__("ws-out", codec)
        self.ws = ws
        self.peer = url
        self._early: list[bytes | str | None] | None = []

    def _write(self, batch: list[Any]) -> None:
        try:
            pending = self.ws.write_message(self.codec.encode(batch), binary=True)
        except tornado.websocket.WebSocketClosedError:
            self._closed("peer went away")
            return
        self._watch(pending)

    def close(self, reason: str = "") -> None:
        if not self.closed:
            self.flush()  # what was sent before the close still goes out
            self.ws.close(1000, reason[:100])
            self._closed(reason or "closed")

    def start_reading(self) -> None:
        """Deliver incoming batches to ``receiver`` from now on (set it first)."""
        early, self._early = self._early or [], None
        for data in early:
            self._incoming(data)

    def _incoming(self, data: bytes | str | None) -> None:
        if self._early is not None:
            self._early.append(data)
        elif data is None:
            code, why = self.ws.close_code, self.ws.close_reason
            self._closed(f"closed by peer ({code} {why or ''})".strip())
        elif not self.closed:
            self._frame(data)


def ws_route(
    path: str,
    codec_factory: Callable[[], Codec[Any]],
    accept: Callable[[Connection], Receiver],
    checker: ProofChecker | None,
    max_message_size: int = CONTROL_PLANE_MAX,
) -> tuple[str, type[tornado.web.RequestHandler]]:
    """A tornado route for one channel. ``accept`` returns the receiver of a new connection."""

    class Handler(tornado.websocket.WebSocketHandler):
        conn: ServerConnection

        @property
        def max_message_size(self) -> int:
            return max_message_size

        async def get(self, *args: Any, **kwargs: Any) -> None:
            if checker is not None:
                refused = checker.check(self.request.headers.get(HEADER), path, time.time())
                if refused is not None:
                    log.warning("refused %s on %s: %s", self.request.remote_ip, path, refused)
                    self.set_status(401)
                    self.finish(f"refused: {refused}\n")
                    return
            await super().get(*args, **kwargs)

        def get_compression_options(self) -> None:
            return None

        def open(self, *args: str, **kwargs: str) -> None:
            self.conn = ServerConnection(self, codec_factory())
            self.set_nodelay(True)
            self.conn.receiver = accept(self.conn)

        def on_message(self, message: str | bytes) -> None:
            self.conn._frame(message)

        def on_close(self) -> None:
            if hasattr(self, "conn"):
                self.conn._closed(f"closed by peer ({self.close_code})")

    return path, Handler


def make_app(routes: list[Any]) -> tornado.web.Application:
    """An application for ``routes``; each websocket route carries its own frame-size limit."""
    return tornado.web.Application(
        routes,
        websocket_ping_interval=10,
        websocket_ping_timeout=10,
    )


def raise_open_files_limit(wanted: int = 65536) -> int:
    """Raise this process's soft limit of open files towards ``wanted`` (up to the hard limit):
    every agent and framework holds a connection to the master. Returns the new soft limit."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
    if soft != resource.RLIM_INFINITY and soft < target:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
        return target
    return soft


def tls_server_context(cert: str, key: str) -> ssl.SSLContext:
    """A server-side TLS context from PEM files (raises a clear error when they are bad)."""
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    try:
        ctx.load_cert_chain(cert, key)
    except (OSError, ssl.SSLError) as exc:
        raise ValueError(f"cannot load TLS certificate {cert} / key {key}: {exc}") from None
    return ctx


def tls_client_context() -> ssl.SSLContext:
    """Verifies servers against the system CAs, or ``PYMESOS_RT_TLS_CA`` (a PEM file)."""
    return ssl.create_default_context(cafile=os.environ.get(TLS_CA_ENV) or None)


def serve(
    app: tornado.web.Application,
    host: str,
    port: int,
    tls: ssl.SSLContext | None = None,
    backlog: int = 1024,
) -> tuple[tornado.httpserver.HTTPServer, int]:
    """Listen on ``host:port`` (0 picks a free port), with TLS when given; returns the server
    and its port. ``backlog``: connections the kernel queues before they are accepted (a master
    after failover has every agent connecting at once; tornado's default is 128)."""
    sockets = tornado.netutil.bind_sockets(
        port, address=host, family=socket.AF_INET, backlog=backlog
    )
    server = tornado.httpserver.HTTPServer(
        app, max_body_size=DATA_PLANE_MAX, max_buffer_size=DATA_PLANE_MAX, ssl_options=tls
    )
    server.add_sockets(sockets)
    return server, sockets[0].getsockname()[1]


async def connect(
    url: str,
    codec: Codec[Any],
    secret: str | None,
    *,
    max_message_size: int = CONTROL_PLANE_MAX,
    timeout: float = 10.0,
) -> ClientConnection:
    """Open a client connection; the caller sets ``receiver`` then calls ``start_reading()``."""
    path = urllib.parse.urlparse(url).path or "/"
    headers = {HEADER: make_proof(secret, path, time.time())} if secret else {}
    request = tornado.httpclient.HTTPRequest(
        url,
        headers=headers,
        connect_timeout=timeout,
        request_timeout=timeout,
        ssl_options=tls_client_context() if url.startswith("wss://") else None,
    )
    holder: list[ClientConnection] = []
    early: list[bytes | str | None] = []

    def on_message(data: bytes | str | None) -> None:
        if holder:
            holder[0]._incoming(data)
        else:
            early.append(data)

    try:
        ws = await tornado.websocket.websocket_connect(
            request,
            max_message_size=max_message_size,
            ping_interval=10,
            ping_timeout=10,
            on_message_callback=on_message,
        )
    except tornado.httpclient.HTTPClientError as exc:
        if exc.code in (401, 403):
            raise Refused(f"HTTP {exc.code}: the cluster secret was not accepted") from None
        raise ConnectionError(f"cannot open {url}: {exc}") from None
    except tornado.iostream.StreamClosedError as exc:
        raise ConnectionError(f"cannot open {url}: connection closed ({exc})") from None
    stream = ws.protocol.stream  # type: ignore[union-attr]
    assert stream is not None
    stream.set_nodelay(True)
    stream.max_buffer_size = max(max_message_size, stream.max_buffer_size)  # tornado's is 100MB
    conn = ClientConnection(ws, codec, url)
    conn._early = early
    holder.append(conn)
    return conn
