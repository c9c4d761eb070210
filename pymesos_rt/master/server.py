"""The master's I/O shell: connections in, :class:`MasterState` effects out, allocation on
change (batched to once per loop iteration) and on an interval, and the HTTP endpoints
(``/health``, ``/state``, websockets under ``/api/v1/``)."""

from __future__ import annotations

import asyncio
import json
import logging
import ssl
import time
from typing import Any

import tornado.web

from pymesos_rt.master.state import Close, Effect, MasterState, Send
from pymesos_rt.protocol import codec
from pymesos_rt.transport import websocket as ws
from pymesos_rt.transport.auth import ProofChecker
from pymesos_rt.transport.base import Connection

log = logging.getLogger(__name__)


class MasterServer:
    def __init__(self, state: MasterState, allocation_interval: float = 1.0) -> None:
        self.state = state
        self.allocation_interval = allocation_interval
        self.conns: dict[str, Connection] = {}
        self._allocation_pending = False
        self._ticker: asyncio.Task[None] | None = None
        self.http: Any = None
        self.port = 0

    async def start(self) -> None:
        self._ticker = asyncio.ensure_future(self._tick_forever())

    async def stop(self) -> None:
        if self._ticker is not None:
            self._ticker.cancel()
        if self.http is not None:
            self.http.stop()
        for conn in list(self.conns.values()):
            conn.close("master stopping")

    # --- connections -------------------------------------------------------------------------
    def attach_framework(self, conn: Connection) -> _Side:
        side = _Side(self, framework=True)
        conn.receiver = side
        self.conns[conn.id] = conn
        return side

    def attach_agent(self, conn: Connection) -> _Side:
        side = _Side(self, framework=False)
        conn.receiver = side
        self.conns[conn.id] = conn
        return side

    def _apply(self, effects: list[Effect]) -> None:
        for eff in effects:
            conn = self.conns.get(eff.conn)
            if conn is None:
                continue
            if isinstance(eff, Send):
                conn.send(eff.message)
            elif isinstance(eff, Close):
                log.info("closing %r: %s", conn, eff.reason)
                conn.close(eff.reason)
        self._schedule_allocation()

    def _schedule_allocation(self) -> None:
        if not self._allocation_pending:
            self._allocation_pending = True
            asyncio.get_running_loop().call_soon(self._allocate)

    def _allocate(self) -> None:
        self._allocation_pending = False
        effects = self.state.allocate(time.monotonic())
        for eff in effects:
            conn = self.conns.get(eff.conn)
            if conn is not None and isinstance(eff, Send):
                conn.send(eff.message)

    async def _tick_forever(self) -> None:
        while True:
            await asyncio.sleep(self.allocation_interval)
            try:
                self._apply(self.state.tick(time.monotonic()))
            except Exception:
                log.exception("master tick failed")

    # --- HTTP --------------------------------------------------------------------------------
    def serve_http(
        self, host: str, port: int, secret: str | None, tls: ssl.SSLContext | None = None
    ) -> int:
        checker = ProofChecker(secret) if secret else None
        routes: list[Any] = [
            ("/health", _Health, {"master": self}),
            ("/state", _State, {"master": self}),
            ws.ws_route(
                "/api/v1/scheduler", codec.master_framework_side, self.attach_framework, checker
            ),
            ws.ws_route("/api/v1/agent", codec.master_agent_side, self.attach_agent, checker),
        ]
        self.http, self.port = ws.serve(ws.make_app(routes), host, port, tls)
        self.state.address = f"{'wss' if tls else 'ws'}://{host}:{self.port}"
        return self.port


class _Side:
    """Receives one connection's batches and feeds them to the core."""

    def __init__(self, master: MasterServer, framework: bool) -> None:
        self.master = master
        self.framework = framework

    def on_messages(self, conn: Connection, messages: list[Any]) -> None:
        state = self.master.state
        now = time.monotonic()
        effects: list[Effect] = []
        for msg in messages:
            if self.framework:
                effects += state.on_framework_call(conn.id, msg, now)
            else:
                effects += state.on_agent_call(conn.id, msg, now)
        self.master._apply(effects)

    def on_closed(self, conn: Connection, reason: str) -> None:
        self.master.conns.pop(conn.id, None)
        self.master._apply(self.master.state.on_disconnected(conn.id, time.monotonic()))


class _Health(tornado.web.RequestHandler):
    def initialize(self, master: MasterServer) -> None:
        self.master = master

    def get(self) -> None:
        self.write({"status": "leading", "master_id": self.master.state.master_id})


class _State(tornado.web.RequestHandler):
    def initialize(self, master: MasterServer) -> None:
        self.master = master

    def get(self) -> None:
        self.set_header("Content-Type", "application/json")
        self.write(json.dumps(self.master.state.snapshot()))
