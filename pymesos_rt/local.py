"""The embedded cluster: a master and one agent on the runtime's loop thread, joined to each
other (and to the driver) by in-process connections; executors are child processes that
connect to the driver over websockets. The master's HTTP endpoints (``/``, ``/state``, ``/health``)
are served on 127.0.0.1 at a free port.
"""

from __future__ import annotations

import logging
import shutil
import socket
import subprocess
import tempfile
import urllib.parse
from pathlib import Path
from typing import Any

from pymesos_rt.agent.containers import make_containerizer
from pymesos_rt.agent.resources import check_prefill, detect, split_store
from pymesos_rt.agent.server import Agent
from pymesos_rt.master.allocator import make_allocator
from pymesos_rt.master.records import MasterConfig
from pymesos_rt.master.server import MasterServer
from pymesos_rt.master.snapshot import StateQuery
from pymesos_rt.master.state import MasterState
from pymesos_rt.protocol.resources import Resources
from pymesos_rt.transport import inproc
from pymesos_rt.transport.base import Connection

log = logging.getLogger(__name__)
NAMES = ("object_store_prefill", "object_store_memory")  # as rt.init calls them


class LocalCluster:
    def __init__(
        self,
        *,
        secret: str | None,
        num_cpus: float | None = None,
        memory: int | None = None,
        resources: dict[str, float] | None = None,
        isolation: str = "auto",
        allocator: str = "drf",
        work_dir: Path | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        resources_text: str | None = None,
        first_standby: subprocess.Popen[bytes] | None = None,
        filter_gpu_resources: bool = False,
        object_store_memory: int | None = None,
        object_store_prefill: int = 0,
        store_names: tuple[str, str] = NAMES,
    ) -> None:
        """``filter_gpu_resources`` is off by default: the embedded cluster serves one program,
        which may use its GPU agent for any work (``pymesos-rt up`` turns it on, as Mesos).
        ``object_store_prefill``: bytes of the agent's arena backed with memory from the start
        (ValueError, before anything starts, if the store is smaller; ``store_names`` are what
        the caller calls the prefill and the store's size, for that message)."""
        self.secret = secret
        if resources_text:
            total = Resources.parse(resources_text)
        else:
            total = detect(num_cpus, memory) + Resources(resources or {})
        detected = not resources_text and memory is None
        total, store_bytes = split_store(total, object_store_memory, detected)
        check_prefill(object_store_prefill, store_bytes, store_names)
        self.host, self.port = host, port
        self._own_dir = work_dir is None
        self.work_dir = work_dir or Path(tempfile.mkdtemp(prefix="pymesos-rt-"))
        config = MasterConfig(filter_gpu_resources=filter_gpu_resources)
        self.master = MasterServer(MasterState(make_allocator(allocator), config))
        hostname = socket.gethostname()
        containerizer = make_containerizer(isolation, "local", self.work_dir / "agent")
        self.agent = Agent(
            hostname=hostname,
            resources=total,
            containerizer=containerizer,
            work_dir=self.work_dir / "agent",
            first_standby=first_standby,
            object_store_memory=store_bytes,
            secret=secret,
            object_store_prefill=object_store_prefill,
        )
        self.http_url = ""

    async def start(self) -> None:
        await self.master.start()
        self.port = self.master.serve_http(self.host, self.port, self.secret)
        self.http_url = f"http://{self.host}:{self.port}"
        await self.agent.start(self._connect_agent)
        log.info(
            "embedded cluster up: %s, dashboard at %s/", self.agent.core.resources, self.http_url
        )

    async def _connect_agent(self) -> Connection:
        agent_end, master_end = inproc.pipe()
        self.master.attach_agent(master_end)
        return agent_end

    async def connect_framework(self) -> Connection:
        driver_end, master_end = inproc.pipe()
        self.master.attach_framework(master_end)
        return driver_end

    async def stop(self) -> None:
        await self.agent.stop()
        await self.master.stop()
        if self._own_dir:
            shutil.rmtree(self.work_dir, ignore_errors=True)

    def snapshot(self, params: str = "") -> dict[str, Any]:
        """The master's ``/state`` for the URL query ``params`` (see master/snapshot.py)."""
        query = StateQuery.parse(urllib.parse.parse_qs(params)) if params else None
        return self.master.state.snapshot(query)
