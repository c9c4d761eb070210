"""Starting and stopping executor processes inside containers, and noticing when they exit.

Runs on the agent's event loop. Each executor is a child process in a new session (its own
process group), started with the container's ``preexec`` hook so it is confined before it runs
any code, with stdout/stderr in its sandbox directory. Exits are noticed through a pidfd
registered with the loop (no polling, no thread per child). :meth:`Launcher.poll`, called
about once a second, reads each container's usage and lets it enforce what the kernel does
not. An executor killed by SIGKILL whose container reports a limitation (its memory limit)
exits with that reason; the container is removed once the process is reaped.

With ``warm_standby`` the launcher keeps one executor process started ahead of need
(:mod:`.standby`) and launches the standard executor command by handing the launch to it.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import shutil
import signal
import subprocess
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from pymesos_rt.agent import spawner, standby
from pymesos_rt.agent.containers import Container, Containerizer
from pymesos_rt.agent.gpus import GPUS, GpuSet, visible_devices
from pymesos_rt.agent.mesos_user import RunAs
from pymesos_rt.protocol import messages as m
from pymesos_rt.protocol.resources import Resources

log = logging.getLogger(__name__)

ExitCallback = Callable[[str, str, int, str | None], None]

# a new standby waits this long after the last was taken, so that its imports do not compete
# for the CPU with the executor just launched (and the task it is about to run)
STANDBY_DELAY_S = 1.0
MAX_STANDBY_DEATHS = 3
_BASIC_ENV = (
    "PATH",
    "LANG",
    "LC_ALL",
    "TZ",
    "HOME",
    "TMPDIR",
)  # what Mesos processes inherit  # standbys that die unused before the launcher stops making them


@dataclass
class _Child:
    framework_id: str
    executor_id: str
    proc: subprocess.Popen[bytes]
    container: Container
    sandbox: Path
    pidfd: int
    kill_handle: asyncio.TimerHandle | None = None
    gpus: list[int] = field(default_factory=list)  # devices it holds (agent/gpus.py)
    gpu_amount: float = 0.0


class Launcher:
    def __init__(
        self,
        containerizer: Containerizer,
        work_dir: Path,
        extra_env: dict[str, str],
        on_exit: ExitCallback,
        stop_grace: float = 3.0,
        warm_standby: bool = False,
        first_standby: subprocess.Popen[bytes] | None = None,
        gpus: GpuSet | None = None,
    ) -> None:
        self.containerizer = containerizer
        self.work_dir = work_dir
        self.extra_env = extra_env
        self.on_exit = on_exit
        self.stop_grace = stop_grace
        self.children: dict[tuple[str, str], _Child] = {}
        self._exited: dict[tuple[str, str], asyncio.Event] = {}
        self._closing = False  # stop_all began: no new executors
        self.warm_standby = warm_standby
        # one started by rt.init() before the cluster existed, or by start_standby()
        self._standby: subprocess.Popen[bytes] | None = first_standby
        self._standby_deaths = 0
        self.gpus = gpus or GpuSet([])
        # whether another executor could start here (set by the agent): a standby is made
        # only then, so an agent whose resources are all taken starts no process it cannot use
        self.has_room: Callable[[], bool] = lambda: True

    def start(
        self,
        framework_id: str,
        executor_id: str,
        resources: Resources,
        command: m.CommandInfo,
        inherit_env: bool = True,
        run_as: RunAs | None = None,
    ) -> int:
        """Start the executor; raises OSError when it cannot be started. Without
        ``inherit_env`` (a Mesos framework's process) it gets only the basics of the agent's
        environment (never its secret), its own, and ``MESOS_SANDBOX``/``MESOS_DIRECTORY``.
        ``run_as``: started as that user (``agent/mesos_user.py``), owning its sandbox."""
        if self._closing:
            raise OSError(f"cannot start executor {executor_id}: the agent is stopping")
        loop = asyncio.get_running_loop()
        container_id = f"{framework_id}.{executor_id}"
        sandbox = self.work_dir / "executors" / container_id
        sandbox.mkdir(parents=True, exist_ok=True)
        gpu_amount = resources.get(GPUS)
        devices = self.gpus.allocate(gpu_amount)  # raises OSError: the launch fails
        try:
            container = self.containerizer.prepare(container_id, resources)
            container.allow_devices(devices, list(self.gpus.free))
        except BaseException:
            self.gpus.release(devices, gpu_amount)
            raise
        env = self._environment(
            framework_id, executor_id, resources, command, inherit_env, sandbox, devices
        )
        if run_as is not None:
            env |= run_as.env()
        proc = None if run_as is not None else self._take_standby(command)
        if proc is not None:
            try:
                container.adopt(proc.pid)
                standby.hand_over(proc, env, sandbox)
            except OSError as exc:
                log.info("standby executor unusable (%s); starting a new process", exc)
                standby.discard(proc)
                proc = None
        if self.warm_standby and self._standby is None:  # taken, or found dead
            loop.call_later(STANDBY_DELAY_S, self.start_standby)
        if proc is None:
            try:
                proc = self._popen(command.argv, env, sandbox, container, executor_id, run_as)
            except BaseException:
                self.gpus.release(devices, gpu_amount)
                raise
        container.isolate(proc.pid)
        pidfd = os.pidfd_open(proc.pid)
        key = (framework_id, executor_id)
        child = _Child(
            framework_id, executor_id, proc, container, sandbox, pidfd, None, devices, gpu_amount
        )
        self.children[key] = child
        self._exited[key] = asyncio.Event()
        loop.add_reader(pidfd, self._reap, key)
        log.debug(
            "started executor %s (pid %d) in %s", executor_id, proc.pid, self.containerizer.name
        )
        return proc.pid

    def _environment(
        self,
        framework_id: str,
        executor_id: str,
        resources: Resources,
        command: m.CommandInfo,
        inherit_env: bool,
        sandbox: Path,
        devices: list[int],
    ) -> dict[str, str]:
        if inherit_env:
            env = {**os.environ, **command.env, **self.extra_env}
        else:
            env = {k: os.environ[k] for k in _BASIC_ENV if k in os.environ} | command.env
            env["MESOS_SANDBOX"] = env["MESOS_DIRECTORY"] = str(sandbox)
        env["PYMESOS_RT_EXECUTOR_ID"] = executor_id
        env["PYMESOS_RT_FRAMEWORK_ID"] = framework_id
        env["PYMESOS_RT_SANDBOX"] = str(sandbox)
        env["PYMESOS_RT_PARENT_PID"] = str(os.getpid())
        env["PYMESOS_RT_CPUS"] = str(resources.get("cpus", 0.0))
        env["PYMESOS_RT_MEM_MIB"] = str(resources.get("mem", 0.0))
        env["PYMESOS_RT_RESOURCES"] = json.dumps(resources.to_dict())
        if devices or inherit_env:  # (empty: none, whatever this agent's environment says)
            env["PYMESOS_RT_GPU_IDS"] = visible_devices(devices)
        if devices:
            env["CUDA_VISIBLE_DEVICES"] = visible_devices(devices)
        return env

    def _popen(
        self,
        argv: list[str],
        env: dict[str, str],
        sandbox: Path,
        container: Container,
        executor_id: str,
        run_as: RunAs | None = None,
    ) -> subprocess.Popen[bytes]:
        # join the container (as root), then become the user
        preexec = container.preexec if run_as is None else _both(container.preexec, run_as.demote)
        with open(sandbox / "stdout", "ab") as out, open(sandbox / "stderr", "ab") as err:
            try:
                if run_as is not None:
                    run_as.own(sandbox, sandbox / "stdout", sandbox / "stderr")
                return spawner.popen(
                    argv,
                    env=env,
                    cwd=sandbox,
                    stdin=subprocess.DEVNULL,
                    stdout=out,
                    stderr=err,
                    start_new_session=True,
                    preexec_fn=preexec,
                    close_fds=True,
                )
            except subprocess.SubprocessError as exc:  # preexec failed: could not join
                container.cleanup()
                why = f"cannot start executor {executor_id} in its container: {exc}"
                raise OSError(why) from exc
            except BaseException:
                container.cleanup()
                raise

    # --- warm standby ------------------------------------------------------------------------
    def start_standby(self) -> None:
        """Start a standby executor process if there should be one and is none."""
        if not self.warm_standby or self._closing or self._standby is not None:
            return
        if not self.has_room():
            return  # started again when an executor ends (``_reap``)
        try:
            self._standby = standby.spawn(
                self.work_dir, self.extra_env, self.work_dir / "standby.stderr"
            )
        except OSError as exc:
            log.warning("cannot start a standby executor: %s", exc)

    def _standby_died(self, proc: subprocess.Popen[bytes]) -> None:
        self._standby = None
        self._standby_deaths += 1
        why = f"standby executor exited with {proc.returncode} (see standby.stderr)"
        if self._standby_deaths >= MAX_STANDBY_DEATHS:
            self.warm_standby = False
            why += "; no more standbys: every executor starts a new process"
        log.warning("%s", why)

    def _take_standby(self, command: m.CommandInfo) -> subprocess.Popen[bytes] | None:
        proc = self._standby
        if proc is None or not self.warm_standby:
            return None
        if not standby.usable(proc, command.argv):
            if proc.poll() is not None:  # died waiting: replaced after this launch
                self._standby_died(proc)
            return None
        self._standby = None
        return proc

    def _reap(self, key: tuple[str, str]) -> None:
        child = self.children.pop(key, None)
        if child is None:
            return
        loop = asyncio.get_running_loop()
        loop.remove_reader(child.pidfd)
        os.close(child.pidfd)
        code = child.proc.wait()
        if child.kill_handle is not None:
            child.kill_handle.cancel()
        # a memory-limit kill is a SIGKILL (137 from a shell whose child it killed, as for
        # Mesos command tasks); any other end is not the container's doing
        killed = code in (-signal.SIGKILL, 128 + signal.SIGKILL)
        oom = child.container.limitation() if killed else None
        child.container.cleanup()
        self.gpus.release(child.gpus, child.gpu_amount)
        if oom is not None:
            log.warning("executor %s was killed: %s", child.executor_id, oom)
        log.debug("executor %s exited with %s", child.executor_id, code)
        self._exited.pop(key).set()
        self.on_exit(child.framework_id, child.executor_id, code, oom)
        if self.warm_standby and self._standby is None:  # there may be room for one now
            loop.call_later(STANDBY_DELAY_S, self.start_standby)

    def stop(self, framework_id: str, executor_id: str) -> None:
        """SIGTERM the executor's process group, SIGKILL after the grace period."""
        child = self.children.get((framework_id, executor_id))
        if child is None:
            return
        _signal_group(child.proc.pid, signal.SIGTERM)
        loop = asyncio.get_running_loop()
        child.kill_handle = loop.call_later(
            self.stop_grace, _signal_group, child.proc.pid, signal.SIGKILL
        )

    def usage(self, framework_id: str, executor_id: str) -> dict[str, float]:
        child = self.children.get((framework_id, executor_id))
        return child.container.usage() if child else {}

    def poll(self) -> list[tuple[str, str, dict[str, float]]]:
        """Each running executor's usage, after letting its container enforce its limits.
        Also replaces a standby that died while waiting."""
        if self._standby is not None and self._standby.poll() is not None:
            self._standby_died(self._standby)
            self.start_standby()
        out = []
        for (framework_id, executor_id), child in list(self.children.items()):
            why = child.container.enforce()
            if why is not None:
                log.warning("executor %s: %s", executor_id, why)
                continue
            out.append((framework_id, executor_id, child.container.usage()))
        return out

    async def stop_all(self, timeout: float = 5.0) -> None:
        self._closing = True
        if self._standby is not None:
            standby.discard(self._standby)
            self._standby = None
        waits = [event.wait() for event in self._exited.values()]
        for fw, eid in list(self.children):
            self.stop(fw, eid)
        if waits:
            _, pending = await asyncio.wait(
                [asyncio.ensure_future(w) for w in waits], timeout=timeout
            )
            for fut in pending:
                fut.cancel()
        for child in list(self.children.values()):  # did not exit in time
            _signal_group(child.proc.pid, signal.SIGKILL)
            with contextlib.suppress(ChildProcessError, subprocess.TimeoutExpired):
                child.proc.wait(timeout=1)
            self._reap((child.framework_id, child.executor_id))

    def remove_sandboxes(self) -> None:
        shutil.rmtree(self.work_dir / "executors", ignore_errors=True)


def _both(first: Callable[[], None], then: Callable[[], None]) -> Callable[[], None]:
    def both() -> None:
        first()
        then()

    return both


def _signal_group(pid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, sig)
