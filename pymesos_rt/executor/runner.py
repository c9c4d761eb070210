"""Running tasks one at a time, except while a task is blocked in ``get``.

The runner keeps a FIFO of tasks and a set of threads. At most ``1 + blocked`` tasks run at
once: a task that blocks in ``get`` gives its slot to the next queued task (otherwise a task
waiting on tasks queued behind it would deadlock), and takes it back when it resumes.
"""

from __future__ import annotations

import ctypes
import threading
from collections import deque
from collections.abc import Callable

from pymesos_rt.protocol import messages as m


class Runner:
    def __init__(self, execute: Callable[[m.RunTask], None]) -> None:
        self._execute = execute
        self._queue: deque[m.RunTask] = deque()
        self._cv = threading.Condition()
        self._blocked = 0
        self._running: dict[str, int] = {}  # task id -> thread ident
        self._finishing: set[str] = set()  # running tasks whose user code has ended
        self._threads = 0
        self._idle = 0
        self._stopped = False

    def submit(self, task: m.RunTask) -> None:
        with self._cv:
            self._queue.append(task)
            self._wake()

    def cancel(self, task_id: str) -> m.RunTask | None:
        """Drop a queued task (returned) or interrupt a running one (None). A task whose user
        code has ended (it is reporting its result) is left alone; under the lock, so the
        thread cannot have moved on to another task."""
        with self._cv:
            for task in self._queue:
                if task.task_id == task_id:
                    self._queue.remove(task)
                    return task
            ident = self._running.get(task_id)
            if ident is not None and task_id not in self._finishing:
                ctypes.pythonapi.PyThreadState_SetAsyncExc(
                    ctypes.c_ulong(ident), ctypes.py_object(KeyboardInterrupt)
                )
        return None

    def finishing(self, task_id: str) -> None:
        """The task's user code has ended: from now on a cancel does not interrupt it (its
        thread is pickling and sending the result)."""
        with self._cv:
            if task_id in self._running:
                self._finishing.add(task_id)

    def blocked(self, delta: int) -> None:
        with self._cv:
            self._blocked += delta
            self._wake()

    def stop(self) -> None:
        with self._cv:
            self._stopped = True
            self._cv.notify_all()

    def _slots(self) -> int:
        return 1 + self._blocked - len(self._running)

    def _wake(self) -> None:
        if not self._queue or self._slots() <= 0:
            return
        if self._idle:
            self._cv.notify()
        else:
            self._threads += 1
            self._idle += 1
            threading.Thread(
                target=self._loop, name=f"task-runner-{self._threads}", daemon=True
            ).start()

    def _loop(self) -> None:
        while True:
            with self._cv:
                while not self._stopped and (not self._queue or self._slots() <= 0):
                    if self._threads > 1 + self._blocked:
                        self._threads -= 1
                        self._idle -= 1
                        return
                    self._cv.wait()
                if self._stopped:
                    return
                task = self._queue.popleft()
                self._idle -= 1
                self._running[task.task_id] = threading.get_ident()
            try:
                self._execute(task)
            except BaseException:
                pass
            finally:
                with self._cv:
                    self._running.pop(task.task_id, None)
                    self._finishing.discard(task.task_id)
                    self._idle += 1
                    self._wake()

    def queued(self) -> int:
        """Tasks waiting here for a slot."""
        with self._cv:
            return len(self._queue)

    def idle(self) -> bool:
        """No task queued or running here."""
        with self._cv:
            return not self._queue and not self._running

    def running_count(self) -> int:
        with self._cv:
            return len(self._running)

    def __repr__(self) -> str:
        queued, running = len(self._queue), len(self._running)
        return f"<Runner queued={queued} running={running} blocked={self._blocked}>"
