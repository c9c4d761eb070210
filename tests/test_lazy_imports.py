"""Importing the package (as every executor does) loads no daemon: the session, the embedded
cluster, the master and the agent are imported by ``rt.init()`` only. Checked in a fresh
interpreter, by module names, not by time."""

from __future__ import annotations

import subprocess
import sys

HEAVY = (
    "pymesos_rt.client.session",
    "pymesos_rt.local",
    "pymesos_rt.master.server",
    "pymesos_rt.agent.server",
    "pymesos_rt.scheduler.driver",
    "kazoo",
    "tornado.websocket",  # executors speak websocket with transport/blocking.py
)


def loaded_after(statement: str) -> set[str]:
    probe = f"{statement}; import sys; print('\\n'.join(sys.modules))"
    out = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=60
    ).stdout
    return set(out.split())


def test_importing_the_api_or_the_executor_loads_no_daemon():
    for statement in ("import pymesos_rt", "import pymesos_rt.executor.worker"):
        assert not loaded_after(statement) & set(HEAVY), statement


def test_importing_the_api_loads_no_event_loop():
    """asyncio (and ssl with it) is a quarter of the import time: loaded where it is used."""
    assert "asyncio" not in loaded_after("import pymesos_rt")


def test_init_loads_the_session():
    assert "pymesos_rt.client.session" in loaded_after(
        "import pymesos_rt as rt; rt.init(num_cpus=1); rt.shutdown()"
    )
