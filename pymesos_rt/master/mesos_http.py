"""The Mesos v1 scheduler HTTP API's shell on the master: tornado handlers for
``POST /api/v1/scheduler`` (SUBSCRIBE streams and calls), ``GET /version`` and ``/redirect``,
and the heartbeat ticker. Decisions are :class:`~pymesos_rt.master.mesos_core.MesosMaster`'s.

- SUBSCRIBE answers ``200`` with ``Mesos-Stream-Id`` and keeps the response open as a chunked
  RecordIO stream of JSON events (one chunk per event), whatever the request's ``Connection``
  header says. The stream is a :class:`~pymesos_rt.transport.base.Connection` of the master
  like a websocket framework's, so what the master sends the framework is translated into
  Mesos events on the way out.
- Every other call is answered at once: ``202`` (empty body) when applied; ``400`` for a body
  that is not a call, a missing or wrong ``Mesos-Stream-Id``; ``403`` when the framework is not
  subscribed or the request's credentials are not its own; ``401`` without valid credentials
  when the master has a secret; ``415`` for
  protobuf bodies. A standby master answers ``307`` with ``Location: //leader/api/v1/scheduler``
  (``503`` while it knows no leader), as Mesos does.
- Authentication: HTTP Basic ``principal:secret``, checked by the core (``mesos_auth.py``,
  ``identity.py``; see docs/mesos-api.md): the shell hands it the header and answers its
  refusals with their status.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from typing import TYPE_CHECKING, Any

import tornado.httputil
import tornado.iostream
import tornado.routing
import tornado.web

from pymesos_rt.master.mesos_auth import Authenticated, Refusal
from pymesos_rt.master.mesos_core import MesosMaster
from pymesos_rt.master.records import Effect
from pymesos_rt.protocol import mesos as ms
from pymesos_rt.protocol import mesos_calls as mc
from pymesos_rt.transport.base import Connection

if TYPE_CHECKING:
    from pymesos_rt.master.server import MasterServer

log = logging.getLogger(__name__)

SCHEDULER_PATH = "/api/v1/scheduler"


class MesosApi:
    """The Mesos scheduler API of one :class:`MasterServer` (its core follows the server's
    state: a new term as leader starts a new core)."""

    def __init__(self, server: MasterServer, secret: str | None) -> None:
        self.server = server
        self.secret = secret
        self._core: MesosMaster | None = None
        self._ticker: asyncio.Task[None] | None = None

    @property
    def core(self) -> MesosMaster:
        state = self.server.state
        if self._core is None or self._core.state is not state:
            interval = state.config.mesos_heartbeat_interval
            self._core = MesosMaster(state, interval, cluster_secret=self.secret)
        return self._core

    def routes(self) -> list[Any]:
        return [
            tornado.routing.Rule(_PostTo(SCHEDULER_PATH), _SchedulerHandler, {"api": self}),
            ("/version", _Version),
            ("/redirect", _Redirect, {"api": self}),
            ("/master/redirect", _Redirect, {"api": self}),
        ]

    def start(self) -> None:
        self._ticker = asyncio.ensure_future(self._tick_forever())

    def stop(self) -> None:
        if self._ticker is not None:
            self._ticker.cancel()

    def apply(self, effects: list[Effect]) -> None:
        self.server._apply(effects)

    async def _tick_forever(self) -> None:
        while True:
            interval = self.server.state.config.mesos_heartbeat_interval
            await asyncio.sleep(min(1.0, interval / 2))
            if not self.server.leading or not self.server.lease_valid():
                continue
            try:
                self.apply(self.core.tick(time.monotonic()))
            except Exception:
                log.exception("Mesos API tick failed")


class _PostTo(tornado.routing.PathMatches):
    """Matches POST requests to one path (GET on the same path stays the websocket route)."""

    def match(self, request: tornado.httputil.HTTPServerRequest) -> dict[str, Any] | None:
        if request.method != "POST":
            return None
        return super().match(request)


class MesosStream(Connection):
    """A SUBSCRIBE response as the framework's connection to the master."""

    def __init__(self, api: MesosApi, handler: tornado.web.RequestHandler) -> None:
        super().__init__("mesos")
        self.api = api
        self.handler = handler
        self.peer = handler.request.remote_ip or ""
        self.done = asyncio.Event()

    def _write(self, batch: list[Any]) -> None:
        now = time.monotonic()
        core = self.api.core
        effects: list[Effect] = []
        for message in batch:
            if isinstance(message, mc.SCHEDULER_EVENTS):
                events: list[Any] = [message]
            else:
                events, more = core.translate(self.id, message, now)
                effects += more
            for event in events:
                self.handler.write(ms.record(event))
        flushed = self.handler.flush()
        flushed.add_done_callback(_ignore_closed)
        if effects:
            self.api.apply(effects)

    def close(self, reason: str = "") -> None:
        if not self.closed:
            self.flush()
            log.info("closing Mesos stream %s: %s", self.id, reason)
            self._closed(reason or "closed")

    def _closed(self, reason: str) -> None:
        if not self.closed:
            self.api.core.disconnected(self.id)
        self.done.set()
        super()._closed(reason)


def _ignore_closed(fut: asyncio.Future[None]) -> None:
    if not fut.cancelled():
        fut.exception()  # a client that went away: on_connection_close handles it


class _Base(tornado.web.RequestHandler):
    def refuse(self, code: int, why: str) -> None:
        if code == 401:
            self.set_header("WWW-Authenticate", 'Basic realm="mesos"')
        self.set_status(code)
        self.set_header("Content-Type", "text/plain; charset=utf-8")
        self.finish(why + "\n")


class _SchedulerHandler(_Base):
    def initialize(self, api: MesosApi) -> None:
        self.api = api
        self.stream: MesosStream | None = None

    async def post(self) -> None:
        server = self.api.server
        if not server.leading:
            self._to_leader()
            return
        ctype = self.request.headers.get("Content-Type", "application/json").split(";")[0]
        if ctype.strip().lower() != "application/json":
            self.refuse(415, f"unsupported Content-Type {ctype}: only application/json")
            return
        auth = self.api.core.authenticate(self.request.headers.get("Authorization"))
        if isinstance(auth, Refusal):
            self.refuse(auth.status, auth.reason)
            return
        try:
            call = mc.decode_scheduler_call(self.request.body)
        except mc.MesosDecodeError as exc:
            self.refuse(400, str(exc))
            return
        if isinstance(call, mc.Subscribe):
            await self._subscribe(call, auth)
            return
        core = self.api.core
        stream_id = self.request.headers.get("Mesos-Stream-Id")
        fw_id = call.framework_id.value if call.framework_id is not None else None
        fw = core.framework_for(fw_id, stream_id, auth)
        if isinstance(fw, Refusal):
            self.refuse(fw.status, fw.reason)
            return
        self.api.apply(core.call(fw, call, time.monotonic()))
        self.set_status(202)
        self.finish()

    async def _subscribe(self, call: mc.Subscribe, auth: Authenticated) -> None:
        stream = MesosStream(self.api, self)
        self.api.server.attach_framework(stream)
        admitted = self.api.core.subscribe(stream.id, call, time.monotonic(), auth)
        if isinstance(admitted, Refusal):
            stream._closed(admitted.reason)
            self.refuse(admitted.status, admitted.reason)
            return
        self.stream = stream
        self.set_status(200)
        self.set_header("Content-Type", "application/json")
        self.set_header("Mesos-Stream-Id", admitted.stream_id)
        self.set_header("Cache-Control", "no-cache")
        self.flush().add_done_callback(_ignore_closed)
        self.api.apply(admitted.effects)
        await stream.done.wait()
        if not self._finished:
            with contextlib.suppress(tornado.iostream.StreamClosedError):
                self.finish()

    def on_connection_close(self) -> None:
        if self.stream is not None:
            self.stream._closed("the framework closed its stream")

    def _to_leader(self) -> None:
        leader = self.api.server.leader_elsewhere()
        if not leader:
            self.refuse(503, "standby master; no leader known yet")
            return
        host = leader.split("://", 1)[1]
        self.set_status(307)
        self.set_header("Location", f"//{host}{SCHEDULER_PATH}")
        self.finish()


class _Version(_Base):
    def get(self) -> None:
        self.set_header("Content-Type", "application/json")
        body = {
            "version": ms.VERSION,
            "build_user": "pymesos_rt",
            "build_date": "",
            "build_time": 0,
        }
        self.finish(json.dumps(body))


class _Redirect(_Base):
    """``/redirect``: 307 to the leading master (itself, when leading), as Mesos answers."""

    def initialize(self, api: MesosApi) -> None:
        self.api = api

    def get(self) -> None:
        server = self.api.server
        address = server.state.address if server.leading else server.leader_elsewhere()
        if not address:
            self.refuse(503, "no leading master known")
            return
        self.set_status(307)
        self.set_header("Location", f"//{address.split('://', 1)[1]}")
        self.finish()
