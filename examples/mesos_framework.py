"""An existing Mesos framework, unchanged, on pymesos_rt: douban's pymesos scheduler that runs
a few shell tasks and prints their status updates.

Run a cluster and the framework:

    pymesos-rt up                                   # master on 127.0.0.1:5050 and one agent
    python examples/mesos_framework.py 127.0.0.1:5050 --tasks 3

Install pymesos first. On Python 3.11 its dependency http-parser 0.9.0 does not build from
PyPI (a stale C extension), so use the repository's installer, which builds that dependency's
pure-Python part from its sdist and installs ``pymesos==0.3.15`` (every archive hash-pinned):

    python scripts/install_mesos_clients.py

The master speaks Mesos's v1 Scheduler HTTP API (docs/mesos-api.md); the address may also be
``zk://host:port/path`` for masters that elect a leader through ZooKeeper.

On a cluster with a secret, a framework authenticates with HTTP Basic: a principal and a
framework secret the operator makes for it (the cluster secret itself is refused):

    python examples/mesos_framework.py MASTER --principal ops \
        --secret "$(PYMESOS_RT_SECRET=... pymesos-rt mesos-secret ops)"
"""

from __future__ import annotations

import argparse
import sys
import threading

from pymesos import MesosSchedulerDriver, Scheduler

TERMINAL = {"TASK_FINISHED", "TASK_FAILED", "TASK_KILLED", "TASK_ERROR", "TASK_LOST"}


def scalar(resources: list[dict], name: str) -> float:
    return sum(r["scalar"]["value"] for r in resources if r["name"] == name)


class ShellTasks(Scheduler):
    """Launches ``count`` shell tasks (0.1 CPU, 32 MiB each) on whatever it is offered."""

    def __init__(self, count: int) -> None:
        self.to_launch = list(range(count))
        self.ended: dict[str, str] = {}
        self.count = count
        self.all_ended = threading.Event()
        self.lock = threading.Lock()

    def registered(self, driver, framework_id, master_info):
        print(f"registered as framework {framework_id['value']}", flush=True)

    def resourceOffers(self, driver, offers):
        for offer in offers:
            cpus, mem = scalar(offer["resources"], "cpus"), scalar(offer["resources"], "mem")
            tasks = []
            with self.lock:
                while self.to_launch and cpus >= 0.1 and mem >= 32:
                    n = self.to_launch.pop(0)
                    cpus, mem = cpus - 0.1, mem - 32
                    tasks.append(
                        {
                            "task_id": {"value": f"shell-{n}"},
                            "agent_id": offer["agent_id"],
                            "name": f"shell task {n}",
                            "command": {"value": f"echo hello from task {n} on $(hostname)"},
                            "resources": [
                                {"name": "cpus", "type": "SCALAR", "scalar": {"value": 0.1}},
                                {"name": "mem", "type": "SCALAR", "scalar": {"value": 32}},
                            ],
                        }
                    )
            if tasks:
                driver.launchTasks(offer["id"], tasks)
            else:
                driver.declineOffer(offer["id"], {"refuse_seconds": 60})

    def statusUpdate(self, driver, status):
        task_id, state = status["task_id"]["value"], status["state"]
        print(f"{task_id}: {state}", flush=True)
        if state in TERMINAL:
            with self.lock:
                self.ended[task_id] = state
                if len(self.ended) == self.count:
                    self.all_ended.set()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("master", nargs="?", default="127.0.0.1:5050")
    parser.add_argument("--tasks", type=int, default=3)
    parser.add_argument("--timeout", type=float, default=60.0)
    parser.add_argument("--principal", help="HTTP Basic principal (clusters with a secret)")
    parser.add_argument("--secret", help="its framework secret (pymesos-rt mesos-secret)")
    args = parser.parse_args()
    scheduler = ShellTasks(args.tasks)
    framework = {"user": "", "name": "pymesos shell tasks", "failover_timeout": 0}
    driver = MesosSchedulerDriver(
        scheduler, framework, args.master, principal=args.principal, secret=args.secret
    )
    driver.start()
    ok = scheduler.all_ended.wait(args.timeout)
    driver.stop()  # TEARDOWN: the framework leaves the cluster
    driver.join()
    finished = sum(state == "TASK_FINISHED" for state in scheduler.ended.values())
    print(f"{finished} of {args.tasks} tasks finished", flush=True)
    return 0 if ok and finished == args.tasks else 1


if __name__ == "__main__":
    sys.exit(main())
