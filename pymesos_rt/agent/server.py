"""The agent's I/O shell: keeps a connection to the master, runs :class:`AgentState`'s effects
through the :class:`Launcher`, and reconnects (re-registering its executors) when the master
connection drops."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import subprocess
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from pymesos_rt.agent import gpus
from pymesos_rt.agent import state as core
from pymesos_rt.agent.containers import Containerizer
from pymesos_rt.agent.launcher import Launcher
from pymesos_rt.agent.mesos_http import MesosAgentApi
from pymesos_rt.objects.client import STORE_ENV, STORE_TOKEN_ENV
from pymesos_rt.objects.service import StoreService
from pymesos_rt.protocol import messages as m
from pymesos_rt.protocol.objects import StoreStats
from pymesos_rt.protocol.resources import Resources
from pymesos_rt.transport.base import Connection

log = logging.getLogger(__name__)

ConnectFn = Callable[[], Awaitable[Connection]]


class Agent:
    def __init__(
        self,
        *,
        hostname: str,
        resources: Resources,
        containerizer: Containerizer,
        work_dir: Path,
        config: core.AgentConfig | None = None,
        warm_standby: bool = True,
        first_standby: subprocess.Popen[bytes] | None = None,
        mesos_api_host: str = "127.0.0.1",
        switch_user: bool = True,
        gpu_devices: list[int] | None = None,
        object_store_memory: int = 64 * 2**20,
        secret: str | None = None,
        object_host: str = "127.0.0.1",
        object_store_prefill: int = 0,
    ) -> None:
        found = gpus.detect() if gpu_devices is None else []
        devices = gpus.devices_for(resources, gpu_devices, found)
        resources = gpus.with_gpus(resources, devices)
        if devices:
            log.info("GPUs %s offered as gpus:%d", devices, len(devices))
        # the agent's own credential: only it can re-register with the id the master gives it
        credential = secrets.token_urlsafe(32)
        self.core = core.AgentState(hostname, resources, containerizer.name, config, credential)
        self.work_dir = work_dir
        # the node's object store (started with the agent; its arena is not offered as memory;
        # ``object_store_prefill`` bytes of it are backed with memory from the start)
        self.store = StoreService(
            object_store_memory,
            work_dir / "spill",
            secret=secret,
            host=object_host,
            prefill=object_store_prefill,
        )
        env = {
            "PYMESOS_RT_NODE": hostname,
            STORE_ENV: self.store.socket_name,
            STORE_TOKEN_ENV: self.store.token,
        }
        self.launcher = Launcher(
            containerizer,
            work_dir,
            env,
            self._on_exit,
            warm_standby=warm_standby,
            first_standby=first_standby,
            gpus=gpus.GpuSet(devices),
        )
        self.launcher.has_room = lambda: self.core.free().get("cpus", 0.0) > 0
        # Mesos frameworks' tasks and executors (and the executor API, served once needed)
        self.mesos = MesosAgentApi(
            self.core, self.launcher, self._apply, mesos_api_host, switch_user
        )
        self.conn: Connection | None = None
        self.registered = asyncio.Event()
        self._connect: ConnectFn | None = None
        self._tasks: list[asyncio.Task[Any]] = []
        self._stopping = False
        self._pause: Callable[[float], Awaitable[None]] = asyncio.sleep
        self._store_sent: StoreStats | None = None
        self._store_sent_on: Connection | None = None

    @property
    def agent_id(self) -> str | None:
        return self.core.agent_id

    async def start(
        self, connect: ConnectFn, pause: Callable[[float], Awaitable[None]] = asyncio.sleep
    ) -> None:
        """Connect (retrying with back-off; ``pause`` may cut a back-off short, e.g. when a
        new leading master is known) and register."""
        self._connect = connect
        self._pause = pause
        self.work_dir.mkdir(parents=True, exist_ok=True)
        self.launcher.containerizer.reap_leftovers()
        self.store.start()  # also removes what a crashed predecessor spilled
        self.core.object_address = self.store.address
        self.launcher.start_standby()
        await self._reconnect()  # retries until the master answers (it may start after us)
        self._tasks.append(asyncio.ensure_future(self._tick_forever()))
        await self.registered.wait()

    async def _open(self) -> None:
        assert self._connect is not None
        conn = await self._connect()
        conn.receiver = self
        self.conn = conn
        self._apply(self.core.connected(time.monotonic()))

    async def _reconnect(self) -> None:
        delay = 0.1
        while not self._stopping:
            try:
                await self._open()
                return
            except (TimeoutError, OSError) as exc:
                log.info("master unreachable (%s); retrying in %.1fs", exc, delay)
                await self._pause(delay)
                delay = min(delay * 2, 5.0)

    async def stop(self) -> None:
        """Leave the master first (so nothing new is launched here and its frameworks move
        their tasks elsewhere), then stop every executor and remove what the agent made."""
        self._stopping = True
        for task in self._tasks:
            task.cancel()
        if self.conn is not None and self.core.registered:
            self.conn.send(m.Unregister("the agent is stopping"))
            self.conn.flush()
        await self.launcher.stop_all()
        self.mesos.stop()
        self.launcher.containerizer.shutdown()
        if self.conn is not None:
            self.conn.close("agent stopping")
        self.launcher.remove_sandboxes()
        self.store.stop()

    # --- receiver ----------------------------------------------------------------------------
    def on_messages(self, conn: Connection, messages: list[Any]) -> None:
        now = time.monotonic()
        for msg in messages:
            if self.mesos.on_master_event(msg, now):
                continue  # for Mesos frameworks only
            self._apply(self.core.on_master_event(msg, now))
            if isinstance(msg, m.AgentRegistered):
                log.info("registered as agent %s", msg.agent_id)
                self.launcher.extra_env["PYMESOS_RT_AGENT_ID"] = msg.agent_id
                self.store.agent_id = msg.agent_id
                self.registered.set()

    def on_closed(self, conn: Connection, reason: str) -> None:
        if conn is not self.conn or self._stopping:
            return
        log.warning("master connection lost: %s", reason)
        self.conn = None
        self.registered.clear()
        self.core.registered = False
        self._tasks.append(asyncio.ensure_future(self._reconnect()))

    # --- effects -----------------------------------------------------------------------------
    def _apply(self, effects: list[core.Effect]) -> None:
        for eff in effects:
            if isinstance(eff, core.ToMaster):
                if self.conn is not None:
                    self.conn.send(eff.message)
            elif isinstance(eff, core.StartProcess):
                now = time.monotonic()
                if self._stopping:  # no new executors while the agent shuts down
                    why = "the agent is stopping"
                    fid, eid = eff.framework_id, eff.executor_id
                    self._apply(self.core.process_failed_to_start(fid, eid, why, now))
                    continue
                if self.mesos.owns(eff.framework_id, eff.executor_id):
                    self.mesos.start(eff)
                    continue
                try:
                    self.launcher.start(
                        eff.framework_id, eff.executor_id, eff.resources, eff.command
                    )
                except OSError as exc:
                    log.error("cannot start executor %s: %s", eff.executor_id, exc)
                    self._apply(
                        self.core.process_failed_to_start(
                            eff.framework_id, eff.executor_id, str(exc), now
                        )
                    )
                else:
                    self._apply(self.core.process_started(eff.framework_id, eff.executor_id, now))
            elif isinstance(eff, core.StopProcess):
                if self.mesos.owns(eff.framework_id, eff.executor_id):
                    self.mesos.stop_lease(eff)
                else:
                    self.launcher.stop(eff.framework_id, eff.executor_id)

    def _on_exit(self, framework_id: str, executor_id: str, code: int, oom: str | None) -> None:
        self._apply(
            self.core.process_exited(framework_id, executor_id, code, oom, time.monotonic())
        )
        self.mesos.exited(framework_id, executor_id, oom)

    async def _tick_forever(self) -> None:
        while True:
            await asyncio.sleep(1.0)
            with contextlib.suppress(Exception):
                self._apply(self.core.tick(time.monotonic()))
            try:
                self._report_usage()
            except Exception:
                log.exception("reading executor usage failed")

    def _report_usage(self) -> None:
        """Let containers enforce what the kernel does not, and send the master each running
        executor's usage and the object store's (shown in its ``/state``)."""
        records = [m.UsageRecord(*rec) for rec in self.launcher.poll()]
        if self.conn is None or not self.core.registered:
            return
        if records and self.core.usage_due(time.monotonic()):
            self.conn.send(m.ExecutorUsage(records))
        stats = self.store.stats()
        if stats != self._store_sent or self.conn is not self._store_sent_on:
            self._store_sent, self._store_sent_on = stats, self.conn
            self.conn.send(m.StoreUsage(stats))

    def usage(self) -> dict[str, dict[str, float]]:
        return {
            run.executor_id: self.launcher.usage(run.framework_id, run.executor_id)
            for run in self.core.running()
        }
