"""The examples run as a user runs them: each in a subprocess of this interpreter, checked by its
exit status and the lines it prints."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from pymesos_rt.testing.daemons import wait_for

pytestmark = pytest.mark.integration

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
TIMEOUT = 90


def run_example(name: str, *args: str) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(
        [sys.executable, str(EXAMPLES / name), *args],
        cwd=EXAMPLES.parent,
        check=False,
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
    )
    output = f"--- stdout\n{proc.stdout}\n--- stderr\n{proc.stderr}"
    assert proc.returncode == 0, f"{name} exited with {proc.returncode}\n{output}"
    return proc


def test_quickstart() -> None:
    lines = run_example("quickstart.py").stdout.splitlines()
    assert "squares: [0, 1, 4, 9, 16, 25, 36, 49, 64, 81]" in lines
    assert "3*3 + 4*4 = 25" in lines
    assert any(line.startswith("caught: TaskError") and "ValueError" in line for line in lines)


def test_parameter_server() -> None:
    out = run_example("parameter_server.py", "--workers", "3", "--steps", "25").stdout
    lines = out.splitlines()
    assert lines[-1] == "OK: weights within 0.05 of the truth"
    assert "updates applied: 75" in lines
    before, after = (float(line.split()[-1]) for line in lines if line.startswith("loss"))
    assert after < before / 100


def test_wordcount_small() -> None:
    out = run_example(
        "wordcount.py", "--partitions", "6", "--size-kib", "16", "--reducers", "3"
    ).stdout
    lines = out.splitlines()
    assert lines[-1] == "OK: counts equal Counter's"
    assert lines[0] == "text: 6 partitions, 0.1 MiB"
    top = lines[-11:-1]  # the ten most common words, "<count>  <word>", most common first
    counts = [int(line.split()[0]) for line in top]
    assert len(counts) == 10
    assert counts == sorted(counts, reverse=True)


def test_dask_dataframe() -> None:
    """The data-frame path (examples/dask_dataframe.py): Dask's graph, our tasks."""
    pytest.importorskip("dask.dataframe")
    out = run_example("dask_dataframe.py", "--rows", "20000", "--partitions", "4").stdout
    lines = out.splitlines()
    assert lines[0] == "sales: 20000 rows in 4 partitions"
    assert [line.split(":")[0].split()[0] for line in lines[1:4]] == ["store"] * 3
    assert lines[-1] == "OK: equal to pandas"


def test_wordcount_one_reducer_and_more_reducers_than_words() -> None:
    for reducers in ("1", "64"):
        args = ["--partitions", "3", "--size-kib", "2", "--vocabulary", "40"]
        out = run_example("wordcount.py", *args, "--reducers", reducers).stdout
        assert out.splitlines()[-1] == "OK: counts equal Counter's"


def test_mesos_framework_on_pymesos_rt_up(tmp_path) -> None:
    """examples/mesos_framework.py (douban pymesos) against `pymesos-rt up` with a cluster
    secret, authenticating with a framework secret from `pymesos-rt mesos-secret`."""
    env = {**os.environ, "PYMESOS_RT_SECRET": "examples-test-secret"}
    log = tmp_path / "up.log"
    with open(log, "w") as out:
        up = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "pymesos_rt",
                "up",
                "--port",
                "0",
                "--resources",
                "cpus:2;mem:2048",
                "--work-dir",
                str(tmp_path / "up"),
            ],
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
        )
    try:

        def address() -> str | None:
            if up.poll() is not None:
                raise AssertionError(f"pymesos-rt up exited: {log.read_text()}")
            found = re.search(r"master on ws://([0-9.]+:\d+)", log.read_text())
            return found.group(1) if found else None

        master = wait_for(address, 60, "pymesos-rt up listening")
        secret = subprocess.run(
            [sys.executable, "-m", "pymesos_rt", "mesos-secret", "ops"],
            env=env,
            capture_output=True,
            text=True,
            check=True,
            timeout=TIMEOUT,
        ).stdout.strip()
        auth = ["--principal", "ops", "--secret", secret]
        lines = run_example("mesos_framework.py", master, "--tasks", "3", *auth).stdout.splitlines()
        assert lines[0].startswith("registered as framework ")
        for n in range(3):
            states = [line.split(": ")[1] for line in lines if line.startswith(f"shell-{n}: ")]
            assert states == ["TASK_RUNNING", "TASK_FINISHED"]
        assert lines[-1] == "3 of 3 tasks finished"
    finally:
        up.terminate()
        up.wait(timeout=30)


def test_ray_style():
    lines = run_example("ray_style.py").stdout.splitlines()
    assert lines[0].startswith("pi is about 3.1")
    assert lines[1:] == [
        "min_max: two return values, low < high: True",
        "streamed 4 estimates, last 3.2",
        "wait: 2 ready, 3 not ready",
        "caught RayTaskError, also a ValueError: True",
        "in a task: True, assigned {'CPU': 0.5}",
        "cluster CPUs: True",
        "done",
    ]
