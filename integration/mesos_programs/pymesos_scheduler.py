"""A douban pymesos framework driven by the integration tests (run as a script: pymesos needs
the main thread). Every scheduler callback is printed as one JSON line on stdout; commands come
as JSON lines on stdin:

  {"op": "launch", "task": {...TaskInfo...}}   launched on the next offer it fits (first fit)
  {"op": "kill", "task_id": "t"}               killTask
  {"op": "reconcile", "task_ids": [...]}       reconcileTasks ([] = implicit)
  {"op": "ack", "uuid": "..."}                 acknowledge a status received earlier
  {"op": "decline", "refuse_seconds": 5}       filter used when declining offers from now on
  {"op": "message", "agent_id": "...", "executor_id": "...", "data": "<base64>"}
  {"op": "stop", "failover": false}            driver.stop() and exit

A SUBSCRIBE the master refuses (pymesos raises the HTTP error in the main thread) prints
{"event": "failed", "message": "..."} and exits with status 3.
"""

from __future__ import annotations

import argparse
import json
import sys
import threading
import time

from pymesos import MesosSchedulerDriver, Scheduler


def out(event: str, **fields: object) -> None:
    fields.update(event=event, t=time.monotonic())
    sys.stdout.write(json.dumps(fields) + "\n")
    sys.stdout.flush()


def scalar(resources: list[dict], name: str) -> float:
    return sum(r["scalar"]["value"] for r in resources if r["name"] == name and "scalar" in r)


class Recorder(Scheduler):
    def __init__(self, refuse: float) -> None:
        self.lock = threading.Lock()
        self.queue: list[dict] = []
        self.refuse = refuse
        self.statuses: dict[str, dict] = {}
        self.subscribed = threading.Event()

    def registered(self, driver, framework_id, master_info):
        out("registered", framework_id=framework_id["value"], master=master_info)
        self.subscribed.set()

    def reregistered(self, driver, master_info):
        out("reregistered", master=master_info)

    def disconnected(self, driver):
        out("disconnected")

    def resourceOffers(self, driver, offers):
        for offer in offers:
            out("offer", offer=offer)
            with self.lock:
                fit, rest = [], []
                cpus, mem = scalar(offer["resources"], "cpus"), scalar(offer["resources"], "mem")
                for task in self.queue:
                    need = task["resources"] + task.get("executor", {}).get("resources", [])
                    c, m = scalar(need, "cpus"), scalar(need, "mem")
                    if c <= cpus + 1e-9 and m <= mem + 1e-9:
                        cpus, mem = cpus - c, mem - m
                        fit.append(dict(task, agent_id=offer["agent_id"]))
                    else:
                        rest.append(task)
                self.queue = rest
                refuse = self.refuse
            if fit:
                driver.launchTasks(offer["id"], fit, {"refuse_seconds": refuse})
                out("launched", task_ids=[t["task_id"]["value"] for t in fit])
            else:
                driver.declineOffer(offer["id"], {"refuse_seconds": refuse})
                out("declined", offer_id=offer["id"]["value"], refuse_seconds=refuse)

    def offerRescinded(self, driver, offer_id):
        out("rescinded", offer_id=offer_id["value"])

    def statusUpdate(self, driver, status):
        if "uuid" in status:
            self.statuses[status["uuid"]] = status
        out("update", status=status)

    def frameworkMessage(self, driver, executor_id, agent_id, data):
        out("message", executor_id=executor_id["value"], agent_id=agent_id["value"], data=data)

    def executorLost(self, driver, executor_id, agent_id, status):
        out("executor_lost", executor_id=executor_id["value"], status=status)

    def error(self, driver, message):
        out("error", message=message)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("master")
    parser.add_argument("--name", default="pymesos-test")
    parser.add_argument("--role", default="*")
    parser.add_argument("--failover-timeout", type=float, default=100.0)
    parser.add_argument("--principal")
    parser.add_argument("--secret")
    parser.add_argument("--framework-id", help="subscribe as this framework (re-subscribe)")
    parser.add_argument("--refuse-seconds", type=float, default=1.0)
    parser.add_argument("--no-implicit-acks", action="store_true")
    args = parser.parse_args()
    sched = Recorder(args.refuse_seconds)
    framework = {
        "user": "",
        "name": args.name,
        "role": args.role,
        "failover_timeout": args.failover_timeout,
        "checkpoint": False,
    }
    if args.framework_id:
        framework["id"] = {"value": args.framework_id}
    driver = MesosSchedulerDriver(
        sched,
        framework,
        args.master,
        implicit_acknowledgements=not args.no_implicit_acks,
        principal=args.principal,
        secret=args.secret,
    )
    # commands wait for SUBSCRIBED: pymesos counts as connected (and sends calls) as soon as
    # the stream's headers arrive, before it knows its framework id
    # (short waits: pymesos hands its thread's error to this thread as a simulated SIGINT,
    # which is only handled between bytecodes, never inside one long wait)
    deadline = time.monotonic() + 60
    try:
        driver.start()
        out("started")
        while not sched.subscribed.wait(0.1):
            if time.monotonic() > deadline:
                out("error", message="not subscribed within 60 s")
                return 1
    except RuntimeError as exc:  # pymesos re-raises its thread's error here (SIGINT handler)
        out("failed", message=str(exc))
        return 3
    for line in sys.stdin:
        cmd = json.loads(line)
        op = cmd["op"]
        if op == "launch":
            with sched.lock:
                sched.queue.append(cmd["task"])
            driver.reviveOffers()
        elif op == "kill":
            driver.killTask({"value": cmd["task_id"]})
        elif op == "reconcile":
            driver.reconcileTasks([{"task_id": {"value": t}} for t in cmd["task_ids"]])
        elif op == "ack":
            driver.acknowledgeStatusUpdate(sched.statuses[cmd["uuid"]])
        elif op == "decline":
            with sched.lock:
                sched.refuse = cmd["refuse_seconds"]
        elif op == "message":
            driver.sendFrameworkMessage(
                {"value": cmd["executor_id"]}, {"value": cmd["agent_id"]}, cmd["data"]
            )
        elif op == "stop":
            driver.stop(failover=cmd.get("failover", False))
            driver.join()
            out("stopped")
            return 0
        out("done", op=op)
    return 0


if __name__ == "__main__":
    sys.exit(main())
