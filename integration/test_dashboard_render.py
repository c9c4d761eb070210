"""The dashboard's drawing of what today's cluster cannot show yet (GPUs, object stores, a
paginated list of agents), checked in headless chromium against fixed JSON: the page and its
assets are the master's own (``dashboard.FILES``, same headers), served by a small tornado app
whose ``/state`` and ``/jobs`` answer with the documents below."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Iterator
from typing import Any

import pytest
import tornado.web

from pymesos_rt.master import dashboard
from pymesos_rt.testing.browser import Browser, find_chromium

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(find_chromium() is None, reason="Debian's chromium is not installed"),
]

GIB = 2**30
STATE = {
    "master_id": "master-1",
    "leader": {"master_id": "master-1", "address": "ws://127.0.0.1:5050"},
    "resources": {
        "total": {"cpus": 16.0, "mem": 65536.0, "gpus": 2.0},
        "used": {"cpus": 8.0, "mem": 16384.0, "gpus": 1.0},
        "offered": {"cpus": 4.0, "mem": 0.0},
    },
    "counts": {"agents": 150, "frameworks": 0, "executors": 0},
    "agents": [
        {
            "id": "agent-gpu",
            "hostname": "gpu-node",
            "isolation": "cgroups-v1",
            "state": "active",
            "resources": {"cpus": 8.0, "mem": 32768.0, "gpus": 2.0},
            "used": {"cpus": 4.0, "mem": 8192.0, "gpus": 1.0},
            "offered": {"cpus": 4.0},
            "object_store": {
                "capacity": 4 * GIB,
                "used": GIB,
                "objects": 12,
                "pinned": 1,
                "spilled_objects": 2,
                "spilled_bytes": 512 * 2**20,
            },
        },
        {
            "id": "agent-cpu",
            "hostname": "cpu-node",
            "isolation": "none",
            "state": "disconnected",
            "resources": {"cpus": 8.0, "mem": 32768.0},
            "used": {"cpus": 4.0, "mem": 8192.0},
            "offered": {},
        },
    ],
    "frameworks": [],
    "executors": [],
}
JOBS: dict[str, Any] = {"active": [], "finished": [], "finished_kept": 50}


@pytest.fixture
def fake_master() -> Iterator[str]:
    ready = threading.Event()
    box: dict[str, Any] = {}

    class Json(tornado.web.RequestHandler):
        def initialize(self, body: Any) -> None:
            self.body = body

        def get(self) -> None:
            self.set_header("Content-Type", "application/json")
            self.write(json.dumps(self.body))

    class Static(tornado.web.RequestHandler):
        def initialize(self, body: str, kind: str) -> None:
            self.body, self.kind = body, kind

        def get(self) -> None:
            self.set_header("Content-Type", f"{self.kind}; charset=utf-8")
            self.set_header("Content-Security-Policy", dashboard.CSP)
            self.write(self.body)

    def serve() -> None:
        loop = asyncio.new_event_loop()
        asyncio.set_event_loop(loop)
        routes: list[Any] = [("/state", Json, {"body": STATE}), ("/jobs", Json, {"body": JOBS})]
        routes += [(p, Static, {"body": b, "kind": k}) for p, (b, k) in dashboard.FILES.items()]
        server = tornado.web.Application(routes).listen(0, "127.0.0.1")
        box["port"] = next(iter(server._sockets.values())).getsockname()[1]
        box["loop"], box["server"] = loop, server
        loop.call_soon(ready.set)
        loop.run_forever()
        server.stop()
        loop.close()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    assert ready.wait(30)
    yield f"http://127.0.0.1:{box['port']}"
    box["loop"].call_soon_threadsafe(box["loop"].stop)
    thread.join(30)


def test_gpus_object_stores_and_paginated_agents_are_drawn_in_human_units(fake_master):
    with Browser(width=1400, height=900) as browser:
        browser.navigate(fake_master + "/")
        text = browser.wait_for(
            "(document.querySelector('main section') || {}).innerText", 30, "overview drawn"
        )
        body = browser.evaluate("document.body.innerText")
        # the cluster's sums as bars: cores, GiB, GPUs, and the object store
        assert "8 cores used of 16 cores (50%), 4 cores offered, 4 cores free" in text
        assert "16 GiB used of 64 GiB (25%)" in text
        assert "1 GPU used of 2 GPUs (50%)" in text
        assert "1 GiB used of 4 GiB (25%)" in text
        widths = browser.evaluate(
            "[...document.querySelectorAll('.resource .bar')].map(b =>"
            " [...b.children].map(p => p.style.width))"
        )
        assert widths[0] == ["50%", "25%"]  # CPU: used, offered
        # agents: resources as bars, the store with its objects and what spilled
        assert "1 GiB / 4 GiB, 12 objects, 512 MiB spilled" in body
        assert "1 GPU / 2 GPUs" in body and "disconnected" in body
        assert "The first 2 of 150 agents." in body
        assert browser.errors() == []
