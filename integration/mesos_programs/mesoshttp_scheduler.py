"""A mesoshttp framework for the integration tests: subscribes, runs one command task on the
first offer that fits, prints each status update as a JSON line, and tears down once the task
has ended. mesoshttp reads the event stream line by line, so an event reaches it when the next
one (at the latest, a heartbeat) arrives."""

from __future__ import annotations

import json
import sys
import threading

from mesoshttp.client import MesosClient

TERMINAL = {"TASK_FINISHED", "TASK_FAILED", "TASK_KILLED", "TASK_ERROR", "TASK_LOST"}


def main() -> int:
    url, command = sys.argv[1], sys.argv[2]
    client = MesosClient(mesos_urls=[url], frameworkName="mesoshttp-test", frameworkUser="")
    launched = threading.Event()
    state: dict[str, object] = {}

    def on_subscribed(driver: MesosClient.SchedulerDriver) -> None:
        state["driver"] = driver
        print(json.dumps({"event": "subscribed", "framework_id": client.frameworkId}), flush=True)

    def on_offers(offers: list) -> None:
        for offer in offers:
            if launched.is_set():
                offer.decline()
                continue
            launched.set()
            info = offer.get_offer()
            task = {
                "name": "mh-task",
                "task_id": {"value": "mh-task"},
                "agent_id": info["agent_id"],
                "command": {"value": command},
                "resources": [
                    {"name": "cpus", "type": "SCALAR", "scalar": {"value": 0.5}},
                    {"name": "mem", "type": "SCALAR", "scalar": {"value": 32}},
                ],
            }
            offer.accept([task])

    def on_update(update: dict) -> None:
        print(json.dumps({"event": "update", "status": update["status"]}), flush=True)
        if update["status"]["state"] in TERMINAL:
            client.tearDown()

    client.on(MesosClient.SUBSCRIBED, on_subscribed)
    client.on(MesosClient.OFFERS, on_offers)
    client.on(MesosClient.UPDATE, on_update)
    client.register()
    print(json.dumps({"event": "ended"}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
