"""Building a driver session: the loop thread, the embedded cluster or a master connection,
the framework driver and its backend; and tearing them down again."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from urllib.parse import urlparse

from pymesos_rt.client import backend as backend_mod
from pymesos_rt.client.driver_backend import DriverBackend
from pymesos_rt.client.loop import LoopThread
from pymesos_rt.protocol import codec
from pymesos_rt.protocol.ids import IdSequence, process_prefix
from pymesos_rt.protocol.resources import MEM
from pymesos_rt.scheduler.driver import Driver
from pymesos_rt.scheduler.objects import ObjectTable
from pymesos_rt.scheduler.state import SchedulerConfig
from pymesos_rt.transport import websocket as ws
from pymesos_rt.transport.base import Connection

log = logging.getLogger(__name__)


def start_session(
    *,
    address: str | None,
    num_cpus: float | None,
    memory: int | None,
    resources: dict[str, float] | None,
    isolation: str,
    name: str,
    role: str,
    secret: str,
    idle_timeout: float,
) -> tuple[object, Callable[[], None]]:
    from pymesos_rt.api import ClusterInfo

    started = time.monotonic()
    loop = LoopThread()
    prefix = process_prefix()
    table = ObjectTable()
    driver = Driver(
        name=name, role=role, prefix=prefix, table=table, secret=secret,
        config=SchedulerConfig(idle_timeout=idle_timeout),
    )
    cluster = None
    try:
        if address is None:
            from pymesos_rt.local import LocalCluster

            cluster = LocalCluster(
                secret=secret, num_cpus=num_cpus, memory=memory, resources=resources,
                isolation=isolation,
            )
            loop.run(cluster.start(), timeout=30)
            loop.run(driver.start(cluster.connect_framework), timeout=30)
            state_source: object = cluster.snapshot
            dashboard = cluster.http_url
            shown = "embedded"
        else:
            url = urlparse(address)
            if url.scheme != "ws" or not url.hostname:
                raise ValueError(f"unsupported address {address!r}: use ws://host:port")

            async def connect() -> Connection:
                conn = await ws.connect(
                    f"ws://{url.hostname}:{url.port or 5050}/api/v1/scheduler",
                    codec.scheduler_side(),
                    secret,
                )
                conn_task = conn.read_loop()
                import asyncio

                asyncio.ensure_future(conn_task)
                return conn

            loop.run(driver.start(connect), timeout=30)
            dashboard = f"http://{url.hostname}:{url.port or 5050}"
            state_source = dashboard
            shown = address
    except BaseException:
        if cluster is not None:
            loop.run(cluster.stop(), timeout=30)
        loop.stop()
        raise

    def snapshot_on_loop() -> dict[str, object]:
        async def snap() -> dict[str, object]:
            return cluster.snapshot()  # type: ignore[union-attr]

        return loop.run(snap(), timeout=10)

    stopped = False

    def stop() -> None:
        nonlocal stopped
        if stopped:
            return
        stopped = True
        backend_mod.set_backend(None)
        try:
            loop.run(driver.stop(), timeout=10)
            if cluster is not None:
                loop.run(cluster.stop(), timeout=30)
        except Exception:
            log.exception("error while shutting down")
        finally:
            loop.stop()

    backend = DriverBackend(
        driver,
        table,
        loop,
        IdSequence(prefix),
        snapshot_on_loop if cluster is not None else str(state_source),
        stop,
    )
    backend_mod.set_backend(backend)
    total: dict[str, float] = {}
    for agent in driver.agents:
        for key, value in agent.total.items():
            total[key] = total.get(key, 0.0) + value
    if MEM in total:
        total["memory"] = float(int(total.pop(MEM) * 2**20))
    info = ClusterInfo(shown, "embedded" if cluster else "attached", driver.framework_id or "", dashboard, total)
    log.info("pymesos_rt ready in %.2fs (%s)", time.monotonic() - started, shown)
    return info, stop
