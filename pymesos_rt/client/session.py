"""A driver session: the loop thread, the embedded cluster or a master connection, the framework
driver and its backend; started by ``rt.init`` and torn down by ``rt.shutdown``."""

from __future__ import annotations

import asyncio
import dataclasses
import ipaddress
import logging
import os
import secrets
import socket
import subprocess
import time
from typing import Any
from urllib.parse import urlparse

from pymesos_rt import logs, serialization
from pymesos_rt.client import backend as backend_mod
from pymesos_rt.client.driver_backend import DriverBackend
from pymesos_rt.client.generators import dynamic_value
from pymesos_rt.client.info import ClusterInfo
from pymesos_rt.client.loop import LoopThread
from pymesos_rt.client.resource_names import to_ray
from pymesos_rt.coordination import make_detector
from pymesos_rt.coordination.address import normalize_address
from pymesos_rt.coordination.follow import LeaderLink
from pymesos_rt.errors import PymesosRTError
from pymesos_rt.local import LocalCluster
from pymesos_rt.protocol import codec
from pymesos_rt.protocol.ids import IdSequence, process_prefix
from pymesos_rt.protocol.resources import Resources
from pymesos_rt.scheduler.driver import Driver
from pymesos_rt.scheduler.objects import ObjectTable
from pymesos_rt.scheduler.records import SchedulerConfig
from pymesos_rt.transport import websocket as ws
from pymesos_rt.transport.base import Connection

log = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True)
class SessionOptions:
    address: str | None
    num_cpus: float | None
    memory: int | None
    resources: dict[str, float] | None
    isolation: str
    name: str
    role: str
    secret: str | None  # the cluster's secret: proves this program to the master
    idle_timeout: float
    failover_timeout: float = 60.0
    namespace: str = "default"
    # a warm standby executor rt.init() started early, for the embedded agent (agent/standby.py)
    first_standby: subprocess.Popen[bytes] | None = None
    object_store_memory: int | None = None  # bytes of the embedded agent's object store
    object_store_prefill: int = 0  # bytes of its arena backed with memory from the start


CONNECT_DEADLINE_S = 5.0  # rt.init gives up on a master that does not answer after this
LEADER_DEADLINE_S = 10.0  # ... and on a zk:// address that names no leader after this


class MasterUnreachableError(PymesosRTError, ConnectionError):
    """``rt.init(address)`` found no master to attach to in time."""


class Session:
    def __init__(self, options: SessionOptions) -> None:
        self.options = options
        self.loop = LoopThread()
        prefix = process_prefix()
        self.table = ObjectTable()
        self.driver = Driver(
            name=options.name,
            role=options.role,
            prefix=prefix,
            table=self.table,
            secret=secrets.token_hex(16),  # the data plane's own: executors prove it to us
            config=SchedulerConfig(idle_timeout=options.idle_timeout),
            # attached: survive a master restart or failover (re-subscribe with the same id)
            failover_timeout=0.0 if options.address is None else options.failover_timeout,
            dynamic_value=lambda ids: serialization.dumps_value(dynamic_value(ids)),
        )
        self.driver.state_source = self._raw_state
        # the loop goes to the thread that waits for results (client/loop.py)
        self.driver.access = self.loop
        self.table.runner = self.loop
        self.cluster: LocalCluster | None = None
        self.master_http = ""
        self.link: LeaderLink | None = None
        self.ids = IdSequence(prefix)
        self._stopped = False

    def start(self) -> ClusterInfo:
        started = time.monotonic()
        try:
            if self.options.address is None:
                self._start_embedded()
            else:
                self._attach(self.options.address)
        except BaseException:
            self.stop()
            raise
        backend = DriverBackend(self.driver, self.table, self.ids, self.cluster_state, self.stop)
        backend.namespace = self.options.namespace
        backend.dashboard_url = self.master_http
        if self.cluster is not None:
            backend.node_id = self.cluster.agent.agent_id or ""
        backend_mod.set_backend(backend)
        total = Resources()
        for agent_total in list(self.driver.core.agents.values()):
            total = total + agent_total
        public = to_ray(total)
        info = ClusterInfo(
            self.options.address or "embedded",
            "embedded" if self.cluster else "attached",
            self.driver.framework_id or "",
            self.master_http,
            public,
        )
        log.info("pymesos_rt ready in %.2fs (%s)", time.monotonic() - started, info.address)
        if self.master_http:  # shown by default, as Ray's "View the dashboard at ..." line
            logs.announce.info("pymesos_rt dashboard: %s/", self.master_http)
        return info

    def _start_embedded(self) -> None:
        opts = self.options
        self.cluster = LocalCluster(
            secret=opts.secret or secrets.token_hex(16),
            num_cpus=opts.num_cpus,
            memory=opts.memory,
            resources=opts.resources,
            isolation=opts.isolation,
            first_standby=opts.first_standby,
            object_store_memory=opts.object_store_memory,
            object_store_prefill=opts.object_store_prefill,
        )
        self.loop.run(self.cluster.start(), timeout=30)
        self.driver.stores.set_home(self.cluster.agent.store.local("driver"))
        self.driver.command_env.update(self._command_env(self.cluster.http_url))
        self.loop.run(self.driver.start(self.cluster.connect_framework), timeout=30)
        self.master_http = self.cluster.http_url

    def _attach(self, address: str) -> None:
        try:
            address = normalize_address(address)  # also http://host:port and host:port
            detector = make_detector(address)
        except ValueError as exc:
            raise ValueError(f"unsupported address {address!r}: {exc}") from None
        self.link = link = LeaderLink(
            detector, "/api/v1/scheduler", codec.scheduler_side, self.options.secret
        )
        self.driver.stores.secret = self.options.secret or ""
        self.driver.stores.pick_target = self.driver.objects.push_target
        try:
            self.loop.run(link.start(), timeout=LEADER_DEADLINE_S)
            leader = self.loop.run(detector.wait_leader(LEADER_DEADLINE_S), timeout=35)
        except TimeoutError:
            raise MasterUnreachableError(
                f"no leading master found at {address} within {LEADER_DEADLINE_S:g} s: check "
                "that ZooKeeper answers there and a `pymesos-rt master --zk` is running"
            ) from None
        # executors dial back to this program: listen where the master's network reaches us
        self.driver.host = os.environ.get("PYMESOS_RT_DRIVER_HOST") or local_address_towards(
            urlparse(leader.address).hostname or "127.0.0.1"
        )
        first = True

        async def connect() -> Connection:
            """The first connection retries until ``CONNECT_DEADLINE_S``, then says so in one
            line; later ones (reconnects) go through the driver's own back-off."""
            nonlocal first
            if not first:
                return await link.connect()
            first = False
            loop = asyncio.get_running_loop()
            deadline = loop.time() + CONNECT_DEADLINE_S
            while True:
                try:
                    return await link.connect()
                except ws.Refused:
                    raise
                except (OSError, TimeoutError) as exc:
                    if loop.time() >= deadline:
                        why = getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
                        raise MasterUnreachableError(
                            f"cannot reach the master at {address} ({why}) within "
                            f"{CONNECT_DEADLINE_S:g} s: start one with `pymesos-rt master` or "
                            "`pymesos-rt up`, or check the address"
                        ) from None
                    await asyncio.sleep(0.2)

        try:
            self.loop.run(self.driver.start(connect, link.pause), timeout=30)
        except ws.Refused as exc:
            raise PymesosRTError(
                f"the master at {address} refused this program ({exc}): "
                "set PYMESOS_RT_SECRET (or secret=) to the cluster's secret"
            ) from None
        self.master_http = _http_of(leader.address)
        self.driver.command_env.update(self._command_env(self.master_http))

    def _command_env(self, dashboard_url: str) -> dict[str, str]:
        """What every executor of this program gets in its environment besides the driver's."""
        return {
            "PYMESOS_RT_NAMESPACE": self.options.namespace,
            "PYMESOS_RT_DASHBOARD_URL": dashboard_url,
        }

    def cluster_state(self, params: str = "") -> dict[str, Any]:
        """The master's ``/state``, and this framework's idle executors (``cluster_view``)."""
        return self.loop.run(self.driver.cluster_view(params), timeout=15)

    async def _raw_state(self, params: str = "") -> dict[str, Any]:
        cluster = self.cluster
        if cluster is not None:
            return cluster.snapshot(params)
        leader = self.link.leader if self.link is not None else None
        url = _http_of(leader.address) if leader else self.master_http
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(None, DriverBackend.fetch_state, url, params)

    def stop(self) -> None:
        if self._stopped:
            return
        self._stopped = True
        backend_mod.set_backend(None)
        try:
            self.loop.run(self.driver.stop(), timeout=10)
            if self.link is not None:
                self.loop.run(self.link.stop(), timeout=10)
            self.driver.stores.close()
            if self.cluster is not None:
                self.loop.run(self.cluster.stop(), timeout=30)
        except Exception:
            log.exception("error while shutting down")
        finally:
            self.loop.stop()


def local_address_towards(host: str) -> str:
    """This machine's address on the route to ``host`` (127.0.0.1 for loopback masters)."""
    try:
        infos = socket.getaddrinfo(host, None, socket.AF_INET)
        target = str(infos[0][4][0])
    except (OSError, IndexError):
        return "127.0.0.1"
    if ipaddress.ip_address(target).is_loopback:
        return "127.0.0.1"
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.connect((target, 9))  # UDP: no packet is sent, the kernel picks the route
            return str(probe.getsockname()[0])
        except OSError:
            return "127.0.0.1"


def _http_of(ws_address: str) -> str:
    scheme, _, rest = ws_address.partition("://")
    return ("https://" if scheme == "wss" else "http://") + rest.rstrip("/")
