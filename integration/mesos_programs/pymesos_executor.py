"""A custom executor written with douban pymesos's MesosExecutorDriver (started by the agent
for the integration tests). Each task: TASK_RUNNING, then TASK_FINISHED whose ``data`` is
``b"done:" + the task's data`` (base64) after ``sleep`` seconds from the task's data when it
is a number; a killed task ends TASK_KILLED. A framework message is echoed back."""

from __future__ import annotations

import threading

from pymesos import Executor, MesosExecutorDriver, decode_data, encode_data


class Echo(Executor):
    def __init__(self) -> None:
        self.killed: dict[str, threading.Event] = {}

    def launchTask(self, driver, task):
        task_id = task["task_id"]["value"]
        data = decode_data(task.get("data", "")) if task.get("data") else b""
        self.killed[task_id] = killed = threading.Event()

        def run() -> None:
            driver.sendStatusUpdate({"task_id": task["task_id"], "state": "TASK_RUNNING"})
            wait = float(data.split(b":")[1]) if data.startswith(b"sleep:") else 0.0
            if killed.wait(wait):
                driver.sendStatusUpdate({"task_id": task["task_id"], "state": "TASK_KILLED"})
                return
            driver.sendStatusUpdate(
                {
                    "task_id": task["task_id"],
                    "state": "TASK_FINISHED",
                    "data": encode_data(b"done:" + data),
                    "message": "echoed",
                }
            )

        threading.Thread(target=run, daemon=True).start()

    def killTask(self, driver, task_id):
        event = self.killed.get(task_id["value"])
        if event is not None:
            event.set()

    def frameworkMessage(self, driver, message):
        driver.sendFrameworkMessage(encode_data(b"echo:" + decode_data(message)))


if __name__ == "__main__":
    MesosExecutorDriver(Echo()).run()
