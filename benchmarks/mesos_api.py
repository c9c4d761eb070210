"""Mesos v1 API: how fast a douban pymesos framework runs shell tasks on pymesos_rt.

Starts a master and an agent (real processes on 127.0.0.1), then a pymesos
``MesosSchedulerDriver`` in this process that launches ``--tasks`` command tasks (``true``,
0.05 CPU, 16 MiB each) on the offers it gets, at most ``--in-flight`` at a time, and prints a
table: time to SUBSCRIBED, tasks per second, and the latency of each task from its launch to
TASK_RUNNING and to TASK_FINISHED (median and p99). Each task is a process started by the agent
in a cgroup container of its own, as a Mesos command task is.

    python benchmarks/mesos_api.py --tasks 200 --in-flight 20

Needs pymesos (``python scripts/install_mesos_clients.py``). No peer hosts Mesos frameworks
(Ray and Dask cannot), so there is no comparison column; Apache Mesos itself is not packaged.
"""

from __future__ import annotations

import argparse
import tempfile
import threading
import time
from pathlib import Path

from pymesos import MesosSchedulerDriver, Scheduler

from pymesos_rt.testing.daemons import start_agent, start_master


def _res(cpus: float, mem: float) -> list[dict]:
    return [
        {"name": "cpus", "type": "SCALAR", "scalar": {"value": cpus}},
        {"name": "mem", "type": "SCALAR", "scalar": {"value": mem}},
    ]


class Bench(Scheduler):
    def __init__(self, tasks: int, in_flight: int) -> None:
        self.todo = list(range(tasks))
        self.in_flight = in_flight
        self.running_now = 0
        self.launched: dict[str, float] = {}
        self.running: dict[str, float] = {}
        self.finished: dict[str, float] = {}
        self.subscribed_at = 0.0
        self.done = threading.Event()
        self.lock = threading.Lock()
        self.total = tasks

    def registered(self, driver, framework_id, master_info):
        self.subscribed_at = time.monotonic()

    def resourceOffers(self, driver, offers):
        for offer in offers:
            cpus = sum(r["scalar"]["value"] for r in offer["resources"] if r["name"] == "cpus")
            batch = []
            with self.lock:
                while self.todo and cpus >= 0.05 and self.running_now < self.in_flight:
                    n = self.todo.pop(0)
                    cpus -= 0.05
                    self.running_now += 1
                    task_id = f"b{n}"
                    batch.append(
                        {
                            "task_id": {"value": task_id},
                            "agent_id": offer["agent_id"],
                            "name": task_id,
                            "command": {"value": "true"},
                            "resources": _res(0.05, 16),
                        }
                    )
                    self.launched[task_id] = time.monotonic()
            if batch:
                driver.launchTasks(offer["id"], batch, {"refuse_seconds": 5})
            else:  # at the in-flight limit: REVIVE when a task ends
                driver.declineOffer(offer["id"], {"refuse_seconds": 5})

    def statusUpdate(self, driver, status):
        now = time.monotonic()
        task_id, state = status["task_id"]["value"], status["state"]
        with self.lock:
            if state == "TASK_RUNNING":
                self.running.setdefault(task_id, now)
            elif state != "TASK_RUNNING" and task_id not in self.finished:
                self.finished[task_id] = now
                self.running_now -= 1
                if len(self.finished) == self.total:
                    self.done.set()
        if state != "TASK_RUNNING":
            driver.reviveOffers()


def _ms(values: list[float], q: float) -> str:
    values = sorted(values)
    return f"{values[min(len(values) - 1, int(q * len(values)))] * 1000:.1f}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=200)
    parser.add_argument("--in-flight", type=int, default=20)
    parser.add_argument("--isolation", default="auto")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-mesos-"))
    master = start_master(work, "--allocation-interval", "0.1")
    agent = start_agent(
        master, work, "--resources", "cpus:2;mem:4096", "--isolation", args.isolation
    )
    bench = Bench(args.tasks, args.in_flight)
    driver = MesosSchedulerDriver(bench, {"user": "", "name": "bench"}, f"127.0.0.1:{master.port}")
    try:
        started = time.monotonic()
        driver.start()
        if not bench.done.wait(600):
            print(f"only {len(bench.finished)} of {args.tasks} tasks ended")
            return 1
        ended = time.monotonic()
    finally:
        driver.stop()
        driver.join()
        agent.stop()
        master.stop()
    first = min(bench.launched.values())
    to_running = [bench.running[t] - bench.launched[t] for t in bench.running]
    to_end = [bench.finished[t] - bench.launched[t] for t in bench.finished]
    print("| measure | value |")
    print("| --- | --- |")
    print(f"| start to SUBSCRIBED | {(bench.subscribed_at - started) * 1000:.0f} ms |")
    print(
        f"| shell tasks per second ({args.in_flight} in flight) | "
        f"{args.tasks / (ended - first):.1f} |"
    )
    print(
        f"| launch to TASK_RUNNING, median / p99 | {_ms(to_running, 0.5)} / "
        f"{_ms(to_running, 0.99)} ms |"
    )
    print(
        f"| launch to TASK_FINISHED, median / p99 | {_ms(to_end, 0.5)} / {_ms(to_end, 0.99)} ms |"
    )
    print(f"| tasks | {args.tasks} (isolation {args.isolation}) |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
