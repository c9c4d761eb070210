"""The master's I/O shell: connections in, :class:`MasterState` effects out, allocation on
change (batched to once per loop iteration) and on an interval, and the HTTP endpoints
(``/health``, ``/state``, websockets under ``/api/v1/``).

Leadership: a master runs leading (one master, or elected) or standing by. A standby refuses
agents and frameworks (they must find the leader), allocates nothing, answers ``/health`` with
``standby`` and redirects ``/state`` to the leader (307). Stepping down closes every connection
and forgets the state at once, so a master that lost its election can never offer resources;
becoming leader starts from an empty state that agents and frameworks rebuild by
re-registering and re-subscribing."""

from __future__ import annotations

import asyncio
import json
import logging
import ssl
import time
from collections.abc import Callable
from typing import Any

import tornado.web

from pymesos_rt.master import dashboard
from pymesos_rt.master.jobs_view import job_detail, jobs_overview
from pymesos_rt.master.mesos_http import MesosApi
from pymesos_rt.master.records import Close, Effect, Send
from pymesos_rt.master.snapshot import StateQuery
from pymesos_rt.master.state import MasterState
from pymesos_rt.protocol import codec
from pymesos_rt.protocol import messages as m
from pymesos_rt.transport import websocket as ws
from pymesos_rt.transport.auth import ProofChecker
from pymesos_rt.transport.base import Connection

log = logging.getLogger(__name__)


class MasterServer:
    def __init__(
        self,
        state: MasterState,
        allocation_interval: float = 1.0,
        make_state: Callable[[], MasterState] | None = None,
        leading: bool = True,
    ) -> None:
        self.state = state
        self.allocation_interval = allocation_interval
        self._make_state = make_state or (lambda: MasterState(config=state.config))
        self.leading = leading
        self.leader_address = ""  # the leader's ws:// address, when known (standby)
        # fencing: may this master still act as leader right now? (set in HA mode: false when
        # its loop was stalled longer than its ZooKeeper session can be trusted)
        self.lease_valid: Callable[[], bool] = lambda: True
        self.conns: dict[str, Connection] = {}
        self._allocation_pending = False
        self._ticker: asyncio.Task[None] | None = None
        self.http: Any = None
        self.port = 0
        self.mesos: MesosApi | None = None  # the Mesos v1 scheduler API (served with HTTP)

    def leader_elsewhere(self) -> str:
        """The leading master's address when it is another master, else "". ZooKeeper may
        still name this master as leader while it does not lead (it is taking over, or it
        stepped down when its lease lapsed and its znode has not expired yet): a standby must
        never send clients to itself."""
        leader = self.leader_address
        return "" if leader == self.state.address else leader

    async def start(self) -> None:
        self._ticker = asyncio.ensure_future(self._tick_forever())

    async def stop(self) -> None:
        if self._ticker is not None:
            self._ticker.cancel()
        if self.http is not None:
            self.http.stop()
        if self.mesos is not None:
            self.mesos.stop()
        for conn in list(self.conns.values()):
            conn.close("master stopping")

    # --- leadership --------------------------------------------------------------------------
    def become_leader(self) -> None:
        if self.leading:
            return
        log.info("master %s is now leading", self.state.master_id)
        self.state = self._fresh_state()
        self.state.started_at = time.monotonic()  # agents have from now to re-register
        self.leading = True

    def step_down(self, reason: str) -> None:
        """Stop acting as leader now: drop every connection and the whole state."""
        if not self.leading:
            return
        log.warning("master %s stops leading: %s", self.state.master_id, reason)
        self.leading = False
        for conn in list(self.conns.values()):
            conn.close(f"master stepped down: {reason}")
        self.conns.clear()
        self.state = self._fresh_state()

    def _fresh_state(self) -> MasterState:
        fresh = self._make_state()
        fresh.master_id, fresh.address = self.state.master_id, self.state.address
        return fresh

    # --- connections -------------------------------------------------------------------------
    def attach_framework(self, conn: Connection) -> _Side:
        return self._attach(conn, framework=True)

    def attach_agent(self, conn: Connection) -> _Side:
        return self._attach(conn, framework=False)

    def _attach(self, conn: Connection, framework: bool) -> _Side:
        side = _Side(self, framework=framework)
        conn.receiver = side
        if not self.leading:
            conn.close(f"not the leading master (leader: {self.leader_address or 'unknown'})")
            return side
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
        if not self.leading or not self.lease_valid():
            return
        effects = self.state.allocate(time.monotonic())
        for eff in effects:
            if isinstance(eff, Send) and isinstance(eff.message, m.Offers):
                for offer in eff.message.offers:
                    log.debug(
                        "offer %s: %s of agent %s to framework %s",
                        offer.offer_id,
                        offer.resources,
                        offer.agent_id,
                        offer.framework_id,
                    )
        for eff in effects:
            conn = self.conns.get(eff.conn)
            if conn is not None and isinstance(eff, Send):
                conn.send(eff.message)

    async def _tick_forever(self) -> None:
        while True:
            await asyncio.sleep(self.allocation_interval)
            if not self.leading or not self.lease_valid():
                continue
            try:
                self._apply(self.state.tick(time.monotonic()))
            except Exception:
                log.exception("master tick failed")

    # --- HTTP --------------------------------------------------------------------------------
    def serve_http(
        self, host: str, port: int, secret: str | None, tls: ssl.SSLContext | None = None
    ) -> int:
        checker = ProofChecker(secret) if secret else None
        ws.raise_open_files_limit()  # a connection per agent and per framework
        self.mesos = MesosApi(self, secret)
        self.mesos.start()
        routes: list[Any] = [
            *self.mesos.routes(),
            ("/health", _Health, {"master": self}),
            ("/state", _State, {"master": self}),
            ("/jobs", _Json, {"master": self, "render": _jobs}),
            (r"/jobs/([^/]+)", _Json, {"master": self, "render": _job}),
            *[
                (path, _Static, {"master": self, "body": body, "kind": kind})
                for path, (body, kind) in dashboard.FILES.items()
            ],
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
            elif isinstance(msg, m.FromExecutor) and self.master.mesos is not None:
                effects += self.master.mesos.core.from_executor(msg)
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
        m = self.master
        status = "leading" if m.leading else "standby"
        leader = m.state.address if m.leading else m.leader_address
        self.write({"status": status, "master_id": m.state.master_id, "leader": leader})


def _redirected_to_leader(handler: tornado.web.RequestHandler, master: MasterServer) -> bool:
    """On a standby: answer with a redirect to the same path on the leader (503 while no
    leader is known). False on the leader, which answers itself."""
    if master.leading:
        return False
    leader = master.leader_elsewhere()
    if not leader:
        handler.set_status(503)
        handler.write({"error": "standby master; no leader known yet"})
        return True
    scheme = "https" if leader.startswith("wss") else "http"
    host = leader.split("://", 1)[1]
    handler.redirect(f"{scheme}://{host}{handler.request.path}", status=307)
    return True


class _State(tornado.web.RequestHandler):
    def initialize(self, master: MasterServer) -> None:
        self.master = master

    def get(self) -> None:
        if _redirected_to_leader(self, self.master):
            return
        try:
            query = StateQuery.parse(self.request.query_arguments)
        except ValueError as exc:
            self.set_status(400)
            self.write({"error": str(exc)})
            return
        self.set_header("Content-Type", "application/json")
        self.write(json.dumps(self.master.state.snapshot(query)))


Render = Callable[..., Any]  # (master, handler, *path arguments) -> JSON-able or None


def _jobs(master: MasterServer, handler: tornado.web.RequestHandler, *_: str) -> Any:
    return jobs_overview(master.state, time.monotonic())


def _job(master: MasterServer, handler: tornado.web.RequestHandler, framework_id: str) -> Any:
    try:
        since = int(handler.get_query_argument("since", "0"))
    except ValueError:
        raise tornado.web.HTTPError(400, "since must be an integer") from None
    return job_detail(master.state, framework_id, time.monotonic(), since)


class _Json(tornado.web.RequestHandler):
    """A JSON view of the leader's state (``/jobs``, ``/jobs/<framework id>``); 404 if none."""

    def initialize(self, master: MasterServer, render: Render) -> None:
        self.master, self.view = master, render

    def get(self, *args: str) -> None:
        if _redirected_to_leader(self, self.master):
            return
        body = self.view(self.master, self, *args)
        if body is None:
            self.set_status(404)
            body = {"error": f"no framework {args[0] if args else ''} here"}
        self.set_header("Content-Type", "application/json")
        self.set_header("Cache-Control", "no-store")
        self.write(json.dumps(body))


class _Static(tornado.web.RequestHandler):
    """The dashboard's page, script and style (see :mod:`.dashboard`)."""

    def initialize(self, master: MasterServer, body: str, kind: str) -> None:
        self.master, self.body, self.kind = master, body, kind

    def get(self) -> None:
        if _redirected_to_leader(self, self.master):
            return
        self.set_header("Content-Type", f"{self.kind}; charset=utf-8")
        self.set_header("Content-Security-Policy", dashboard.CSP)
        self.set_header("X-Content-Type-Options", "nosniff")
        self.write(self.body)
