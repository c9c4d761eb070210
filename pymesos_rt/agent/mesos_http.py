"""The agent's shell for Mesos frameworks: it carries out :class:`MesosAgent`'s effects (start
Mesos processes in containers, write executor streams, stop later) and serves the v1 Executor
HTTP API, ``POST /api/v1/executor``.

The endpoint is started on the first custom executor's launch, on ``host`` (127.0.0.1 unless
the agent is told its advertised host) at a free port; executors find it in
``MESOS_AGENT_ENDPOINT`` (``host:port``). SUBSCRIBE answers ``200`` and keeps a chunked RecordIO
stream of JSON events; UPDATE and MESSAGE answer ``202``; a body that is not a call, or that
names an executor or task this agent does not run, ``400``; protobuf bodies ``415``. As with
Mesos without executor authentication, the endpoint trusts any local process that names a
running executor: bind it to loopback unless the network is trusted (docs/mesos-api.md).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable

import tornado.httpserver
import tornado.iostream
import tornado.web

from pymesos_rt.agent import mesos_core as mcore
from pymesos_rt.agent import mesos_user
from pymesos_rt.agent import state as core
from pymesos_rt.agent.launcher import Launcher
from pymesos_rt.protocol import mesos as ms
from pymesos_rt.protocol import mesos_calls as mc
from pymesos_rt.protocol import messages as m
from pymesos_rt.transport import websocket as ws

log = logging.getLogger(__name__)

EXECUTOR_PATH = "/api/v1/executor"


class MesosAgentApi:
    def __init__(
        self,
        agent_core: core.AgentState,
        launcher: Launcher,
        apply_core: Callable[[list[core.Effect]], None],
        host: str = "127.0.0.1",
        switch_user: bool = True,
    ) -> None:
        self.core = mcore.MesosAgent(agent_core)
        self.switch_user = switch_user  # run processes as their user (agent/mesos_user.py)
        self.launcher = launcher
        self._apply_core = apply_core
        self.host = host
        self.port = 0
        self._http: tornado.httpserver.HTTPServer | None = None
        self._streams: dict[str, _ExecutorHandler] = {}
        self._seq = 0

    @property
    def endpoint(self) -> str:
        return f"{self.host}:{self.port}"

    def stop(self) -> None:
        for handler in list(self._streams.values()):
            handler.done.set()
        if self._http is not None:
            self._http.stop()

    def _serve(self) -> None:
        if self._http is not None:
            return
        app = tornado.web.Application([(EXECUTOR_PATH, _ExecutorHandler, {"api": self})])
        self._http, self.port = ws.serve(app, self.host, 0)
        log.info("Mesos executor API on http://%s%s", self.endpoint, EXECUTOR_PATH)

    # --- hooks from the agent ----------------------------------------------------------------
    def on_master_event(self, event: m.AgentEvent, now: float) -> bool:
        """Handle what is Mesos's in a master event; True when :class:`AgentState` must not
        see it (it is for Mesos only)."""
        match event:
            case m.LaunchExecutor():
                self.core.on_launch(event)
            case m.KillTask():
                self.apply(self.core.kill_task(event, now))
                return True
            case m.ToExecutor():
                self.apply(self.core.to_executor(event))
                return True
            case m.StatusAcked():
                self.apply(self.core.acked(event.update_id))
        return False

    def owns(self, framework_id: str, lease: str) -> bool:
        return self.core.owns(framework_id, lease)

    def start(self, eff: core.StartProcess) -> None:
        self.apply(self.core.start(eff, time.monotonic()))

    def stop_lease(self, eff: core.StopProcess) -> None:
        self.apply(self.core.stop(eff, time.monotonic()))

    def exited(self, framework_id: str, lease: str, oom: str | None) -> None:
        self.apply(self.core.exited(framework_id, lease, oom, time.monotonic()))

    # --- effects -----------------------------------------------------------------------------
    def apply(self, effects: list[mcore.Effect]) -> None:
        for eff in effects:
            if isinstance(eff, mcore.Spawn):
                self._spawn(eff)
            elif isinstance(eff, mcore.ToStream):
                handler = self._streams.get(eff.stream)
                if handler is not None:
                    handler.send(eff.event)
            elif isinstance(eff, mcore.CloseStream):
                handler = self._streams.pop(eff.stream, None)
                if handler is not None:
                    handler.done.set()
            elif isinstance(eff, mcore.StopLater):
                loop = asyncio.get_running_loop()
                loop.call_later(eff.delay, self.launcher.stop, eff.framework_id, eff.lease)
            else:
                self._apply_core([eff])

    def _spawn(self, eff: mcore.Spawn) -> None:
        now = time.monotonic()
        env = dict(eff.command.env)
        if eff.executor:
            self._serve()
            env["MESOS_AGENT_ENDPOINT"] = self.endpoint
            env["MESOS_EXECUTOR_SHUTDOWN_GRACE_PERIOD"] = f"{mcore.SHUTDOWN_GRACE_S:g}secs"
        command = m.CommandInfo(eff.command.argv, env)
        agent = self.core.agent
        try:
            run_as = mesos_user.resolve(eff.command.user, self.switch_user)
            self.launcher.start(eff.framework_id, eff.lease, eff.resources, command, False, run_as)
        except OSError as exc:
            log.error("cannot start Mesos %s %s: %s", "executor", eff.lease, exc)
            self._apply_core(
                agent.process_failed_to_start(eff.framework_id, eff.lease, str(exc), now)
            )
            self.exited(eff.framework_id, eff.lease, None)
            return
        self._apply_core(agent.process_started(eff.framework_id, eff.lease, now))

    # --- executor streams --------------------------------------------------------------------
    def open_stream(self, handler: _ExecutorHandler) -> str:
        self._seq += 1
        stream = f"exec-stream#{self._seq}"
        self._streams[stream] = handler
        return stream

    def stream_closed(self, stream: str) -> None:
        self._streams.pop(stream, None)
        self.core.stream_closed(stream)


class _ExecutorHandler(tornado.web.RequestHandler):
    def initialize(self, api: MesosAgentApi) -> None:
        self.api = api
        self.stream: str | None = None
        self.done = asyncio.Event()

    def refuse(self, code: int, why: str) -> None:
        self.set_status(code)
        self.set_header("Content-Type", "text/plain; charset=utf-8")
        self.finish(why + "\n")

    def send(self, event: mc.ExecutorEvent) -> None:
        self.write(ms.record(event))
        self.flush().add_done_callback(_ignore_closed)

    async def post(self) -> None:
        ctype = self.request.headers.get("Content-Type", "application/json").split(";")[0]
        if ctype.strip().lower() != "application/json":
            self.refuse(415, f"unsupported Content-Type {ctype}: only application/json")
            return
        try:
            call = mc.decode_executor_call(self.request.body)
        except mc.MesosDecodeError as exc:
            self.refuse(400, str(exc))
            return
        api = self.api
        now = time.monotonic()
        try:
            if isinstance(call, mc.ExecutorSubscribe):
                stream = api.open_stream(self)
                try:
                    effects = api.core.subscribe(stream, call, api.core.agent.hostname)
                except ValueError:
                    api.stream_closed(stream)
                    raise
                self.stream = stream
                self.set_status(200)
                self.set_header("Content-Type", "application/json")
                self.flush().add_done_callback(_ignore_closed)
                api.apply(effects)
                await self.done.wait()
                if not self._finished:
                    with contextlib.suppress(tornado.iostream.StreamClosedError):
                        self.finish()
                return
            if isinstance(call, mc.ExecutorUpdate):
                effects = api.core.update(call, now)
            else:
                effects = api.core.message(call)
        except ValueError as exc:
            log.warning("refused an executor call: %s", exc)
            self.refuse(400, str(exc))
            return
        api.apply(effects)
        self.set_status(202)
        self.finish()

    def on_connection_close(self) -> None:
        if self.stream is not None:
            self.api.stream_closed(self.stream)
        self.done.set()


def _ignore_closed(fut: asyncio.Future[None]) -> None:
    if not fut.cancelled():
        fut.exception()
