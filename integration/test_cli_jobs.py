"""``pymesos-rt status`` (with ``--watch``) and ``pymesos-rt logs FRAMEWORK [--follow]``
against a real master and agent, with this process attached as the framework ``cli-job``."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator

import pytest
from cluster_helpers import read_line

import pymesos_rt as rt
from pymesos_rt.testing.daemons import Daemon, start_agent, start_master

pytestmark = pytest.mark.integration


@rt.remote
def talk(i: int) -> int:
    print(f"line {i} from talk")
    return i


@rt.remote
def broken() -> None:
    raise KeyError("missing-key")


@pytest.fixture(scope="module")
def daemons(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Daemon]:
    work = tmp_path_factory.mktemp("cli-jobs")
    master = start_master(work)
    agent = None
    try:
        agent = start_agent(master, work, "--resources", "cpus:2;mem:2048")
        yield master
    finally:
        if agent is not None:
            agent.stop()
        master.stop()


def _as_from_a_terminal() -> None:
    """Ctrl-C as a shell's foreground job gets it: a test run started in the background
    (``cmd &`` in a script) ignores SIGINT, and its children inherit that."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def cli(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "pymesos_rt", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
        preexec_fn=_as_from_a_terminal,
    )


def test_status_and_logs_of_a_job(daemons):
    master = daemons
    info = rt.init(master.url, name="cli-job")
    try:
        follow = cli("logs", "cli-job", "--follow", "--master", master.url)
        refs = [talk.remote(i) for i in range(10)]
        bad = broken.remote()
        assert rt.get(refs) == list(range(10))
        with pytest.raises(KeyError):
            rt.get(bad)
        read_line(follow, "FAILED broken", 60)  # the failure, with its exception line
        status = subprocess.run(
            [sys.executable, "-m", "pymesos_rt", "status", "--master", master.url],
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
        ).stdout
        assert f"cli-job ({info.framework_id}" in status
        talk_row = next(line.split() for line in status.splitlines() if "  talk " in line)
        assert talk_row[1:6] == ["0", "0", "10", "0", "0"]  # queued running done failed cancelled
        assert next(line for line in status.splitlines() if "  broken " in line).split()[4] == "1"
    finally:
        rt.shutdown()
    # the job ended: --follow prints what is left and exits by itself
    _, err = follow.communicate(timeout=60)
    assert follow.returncode == 0, err
    done = subprocess.run(
        [sys.executable, "-m", "pymesos_rt", "logs", info.framework_id, "--master", master.url],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout
    for i in range(10):
        assert f"line {i} from talk" in done
    assert "KeyError: 'missing-key'" in done and 'raise KeyError("missing-key")' in done
    missing = subprocess.run(
        [sys.executable, "-m", "pymesos_rt", "logs", "nobody", "--master", master.url],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert missing.returncode == 2 and "no framework 'nobody'" in missing.stderr
    assert len(missing.stderr.strip().splitlines()) == 1


def test_status_watch_redraws_until_interrupted(daemons):
    watch = cli("status", "--watch", "--interval", "0.2", "--master", daemons.url)
    try:
        read_line(watch, "(updated", 60)
        read_line(watch, "(updated", 60)  # drawn again
        watch.send_signal(signal.SIGINT)
        watch.communicate(timeout=30)  # keep reading, as a terminal does
        assert watch.returncode == 0
    finally:
        if watch.poll() is None:
            watch.kill()
            watch.wait()
