"""The command line a new user meets (issue 9, points 2, 8): names users choose cannot drive
the operator's terminal; errors are one line naming what failed, within a deadline."""

from __future__ import annotations

import asyncio
import socket
import subprocess
import sys

import pytest
from cluster_helpers import BareFramework

from pymesos_rt.protocol import messages as m
from pymesos_rt.testing.daemons import start_master

pytestmark = pytest.mark.integration

HOSTILE = "x\x1b]0;pwned\x07\x1b[2J"


def run_cli(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pymesos_rt", *args],
        check=False,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def test_status_escapes_control_characters_of_names(tmp_path):
    master = start_master(tmp_path)
    try:

        async def scenario() -> str:
            fw = BareFramework()
            await fw.subscribe(master.url, HOSTILE, failover_timeout=60.0)
            await fw.first(m.Subscribed)
            done = await asyncio.to_thread(run_cli, "status", "--master", master.url)
            assert done.returncode == 0, done.stderr
            return done.stdout

        out = asyncio.run(scenario())
        assert "\x1b" not in out and "\x07" not in out
        assert "x\\x1b]0;pwned\\x07" in out
    finally:
        master.stop()


def test_up_on_a_busy_port_is_one_line(tmp_path):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        done = run_cli("up", "--port", str(port), "--work-dir", str(tmp_path / "w"))
    assert done.returncode == 2
    lines = [line for line in done.stderr.splitlines() if "level=" not in line]
    assert len(lines) == 1, done.stderr
    assert f"127.0.0.1:{port}" in lines[0] and "--port" in lines[0]


@pytest.mark.parametrize(
    ("args", "line"),
    [
        (
            ["up", "--port", "0", "--object-store-memory", "64MiB"],
            "--object-store-prefill 1024 MiB is larger than the object store "
            "(--object-store-memory 64 MiB)",
        ),
        (
            ["agent", "--master", "ws://127.0.0.1:1", "--object-store-memory", "64MiB"],
            "--object-store-prefill 1024 MiB is larger than the object store "
            "(--object-store-memory 64 MiB)",
        ),
        (
            ["agent", "--master", "ws://127.0.0.1:1", "--object-store-prefill", "lots"],
            "bad --object-store-prefill: cannot parse memory size 'lots'",
        ),
    ],
)
def test_an_object_store_prefill_it_cannot_hold_is_one_line(tmp_path, args, line):
    prefill = [] if "--object-store-prefill" in args else ["--object-store-prefill", "1GiB"]
    done = run_cli(*args, *prefill, "--work-dir", str(tmp_path / "w"), timeout=30)
    assert done.returncode == 2
    lines = [text for text in done.stderr.splitlines() if "level=" not in text]
    assert len(lines) == 1 and lines[0].startswith(f"pymesos-rt: {line}"), done.stderr
    assert not (tmp_path / "w").exists()  # refused before anything started


def test_init_with_nobody_at_the_address_is_one_clear_error():
    script = (
        "import pymesos_rt as rt\n"
        "try:\n"
        "    rt.init('ws://127.0.0.1:1')\n"
        "except Exception as exc:\n"
        "    print(type(exc).__name__, '|', exc, '|', exc.__cause__, exc.__suppress_context__)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], check=False, capture_output=True, text=True, timeout=60
    )
    out = done.stdout.strip()
    assert "ws://127.0.0.1:1" in out and "s:" in out, out  # names the address and the deadline
    assert "\n" not in out and out.endswith("None True"), out


def test_init_with_a_zookeeper_nobody_answers_is_one_clear_error_within_its_deadline():
    script = (
        "import time, pymesos_rt as rt\n"
        "t0 = time.monotonic()\n"
        "try:\n"
        "    rt.init('zk://127.0.0.1:1/nothing-here')\n"
        "except Exception as exc:\n"
        "    print(round(time.monotonic() - t0), '|', exc, '|', exc.__suppress_context__)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], check=False, capture_output=True, text=True, timeout=90
    )
    out = done.stdout.strip()
    assert "zk://127.0.0.1:1/nothing-here" in out and "within 10 s" in out, (out, done.stderr)
    assert int(out.split("|")[0]) <= 20  # the deadline, not kazoo's retries for ever
    assert len(done.stderr.strip().splitlines()) <= 1, done.stderr  # no kazoo log storm
