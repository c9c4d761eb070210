"""The ``cgroups-v1`` backend: one group per executor in each v1 hierarchy it uses.

What it enforces, from the executor's resource shape:
- ``cpu``: ``cpu.cfs_quota_us = cpus * cpu.cfs_period_us`` (100 ms), a hard cap for the whole
  group, and ``cpu.shares = cpus * 1024`` for contention. Shapes of 0.01 cpus or less (what
  ``num_cpus=0`` becomes) get no quota.
- ``memory``: ``memory.limit_in_bytes = mem`` (and ``memory.memsw.limit_in_bytes`` the same,
  where swap is accounted, so the limit cannot be dodged by swapping). Shapes without ``mem``
  get no limit. A kill by the kernel's OOM killer shows as ``oom_kill N`` in
  ``memory.oom_control``; that counter (not the exit status, which a plain SIGKILL shares) is
  what :meth:`CgroupsV1Container.limitation` reports.
- ``pids``: ``pids.max`` (default 1024, or ``PYMESOS_RT_PIDS_MAX``): a fork bomb gets EAGAIN.
- ``cpuacct`` for cpu seconds; ``freezer`` (when mounted) to stop a forking tree before
  killing it.
- ``devices`` (when mounted): of the node's NVIDIA GPUs (``/dev/nvidia<N>``, char 195:N), the
  ones the executor does not hold are denied (``allow_devices``), as Mesos's GPU isolator
  does; everything else keeps the agent's own device rules (a v1 group that allows all can
  only carry exceptions: a wildcard deny could not be narrowed again by an allow).

The group directories are ``<this process's group>/pymesos-rt-<tag>-<digest>/<container id>``
in each hierarchy. cgroupspy's controller classes read and write the cpu, cpuacct and memory
files; plain file writes fill its gaps (pids, freezer, ``cgroup.procs``).
Imports: cgroupspy, ``.base``, ``.cgroupfs``, ``protocol``.
"""

from __future__ import annotations

import contextlib
import logging
import os
import time
from collections.abc import Callable
from pathlib import Path

from cgroupspy.controllers import CpuAcctController, CpuController, MemoryController
from cgroupspy.nodes import Node

from pymesos_rt.agent.containers import cgroupfs
from pymesos_rt.agent.containers.base import Container, Containerizer, oom_message
from pymesos_rt.protocol.resources import CPUS, MEM, Resources

log = logging.getLogger(__name__)

REQUIRED = ("cpu", "cpuacct", "memory", "pids")
OPTIONAL = ("freezer", "devices")
NVIDIA_MAJOR = 195  # /dev/nvidia<N> are c 195:N
CFS_PERIOD_US = 100_000
NO_QUOTA_AT_OR_BELOW = 0.01  # cpus


def cpu_settings(cpus: float) -> tuple[int, int]:
    """(cfs quota in us, or -1 for none; shares) for a shape of ``cpus``."""
    quota = max(1000, round(cpus * CFS_PERIOD_US)) if cpus > NO_QUOTA_AT_OR_BELOW else -1
    return quota, max(2, round(cpus * 1024))


def _unique(paths: list[Path]) -> list[Path]:
    return list(dict.fromkeys(paths))  # co-mounted controllers (cpu,cpuacct) share one dir


class CgroupsV1Container(Container):
    def __init__(
        self,
        container_id: str,
        resources: Resources,
        groups: dict[str, Path],
        remove_dir: Callable[[Path], None] = cgroupfs.rmdir,
    ) -> None:
        super().__init__(container_id, resources)
        self._remove = remove_dir
        self.groups = groups  # controller -> this container's directory in its hierarchy
        self.dirs = _unique(list(groups.values()))
        # for preexec: bytes prepared here, so the child only makes system calls
        self._procs_files = tuple(os.fsencode(d / "cgroup.procs") for d in self.dirs)
        self._cpu = CpuController(Node(os.fsencode(groups["cpu"])))
        self._cpuacct = CpuAcctController(Node(os.fsencode(groups["cpuacct"])))
        self._memory = MemoryController(Node(os.fsencode(groups["memory"])))

    def configure(self, pids_max: int) -> None:
        quota, shares = cpu_settings(self.resources.get(CPUS, 0.0))
        self._cpu.cfs_period_us = CFS_PERIOD_US
        self._cpu.cfs_quota_us = quota
        self._cpu.shares = shares
        mib = self.resources.get(MEM, 0.0)
        if mib > 0:
            limit = int(mib * 2**20)
            self._memory.limit_in_bytes = limit
            with contextlib.suppress(OSError):  # absent when swap is not accounted
                self._memory.memsw_limit_in_bytes = limit
        cgroupfs.write(self.groups["pids"] / "pids.max", pids_max)

    def allow_devices(self, gpus: list[int], node_gpus: list[int]) -> None:
        group = self.groups.get("devices")
        if group is None:
            return
        try:
            for rule in gpu_deny_rules(gpus, node_gpus):
                cgroupfs.write(group / "devices.deny", rule)
        except OSError as exc:
            raise OSError(f"cannot confine the GPUs of {self.container_id}: {exc}") from exc

    def preexec(self) -> None:
        self._join(b"0")

    def adopt(self, pid: int) -> None:
        self._join(str(pid).encode())

    def _join(self, who: bytes) -> None:
        for path in self._procs_files:
            fd = os.open(path, os.O_WRONLY)
            try:
                os.write(fd, who)
            finally:
                os.close(fd)

    def usage(self) -> dict[str, float]:
        out: dict[str, float] = {}
        with contextlib.suppress(OSError, ValueError, TypeError):
            out["cpu_seconds"] = self._cpuacct.usage / 1e9
        memory = self.groups["memory"]
        for key, name in (("memory", "usage_in_bytes"), ("memory_peak", "max_usage_in_bytes")):
            value = cgroupfs.read_int(memory / f"memory.{name}")
            if value is not None:
                out[key] = float(value)
        pids = cgroupfs.read_int(self.groups["pids"] / "pids.current")
        if pids is not None:
            out["pids"] = float(pids)
        return out

    def oom_kills(self) -> int:
        return cgroupfs.read_keyed(self.groups["memory"] / "memory.oom_control").get("oom_kill", 0)

    def limitation(self) -> str | None:
        return oom_message(self.resources) if self.oom_kills() > 0 else None

    def cleanup(self) -> None:
        cgroupfs.destroy(self.dirs, freezer(self.dirs), self._remove)


def gpu_deny_rules(gpus: list[int], node_gpus: list[int]) -> list[str]:
    """``devices.deny`` lines for a container that holds ``gpus`` of the node's GPUs."""
    return [f"c {NVIDIA_MAJOR}:{index} rwm" for index in node_gpus if index not in gpus]


def freezer(dirs: list[Path]) -> cgroupfs.Freeze | None:
    """A freeze/thaw function for the group among ``dirs`` that has ``freezer.state``."""
    state = next((d / "freezer.state" for d in dirs if (d / "freezer.state").exists()), None)
    if state is None:
        return None

    def freeze(frozen: bool) -> None:
        cgroupfs.write(state, "FROZEN" if frozen else "THAWED")
        deadline = time.monotonic() + 1.0
        while frozen and state.read_text().strip() != "FROZEN" and time.monotonic() < deadline:
            time.sleep(0.001)

    return freeze


class CgroupsV1Containerizer(Containerizer):
    name = "cgroups-v1"

    def __init__(
        self,
        agent_tag: str,
        work_dir: Path,
        *,
        hierarchies: dict[str, Path] | None = None,
        pids_max: int | None = None,
        remove_dir: Callable[[Path], None] = cgroupfs.rmdir,
    ) -> None:
        """``hierarchies``: controller -> the group to work under (default: this process's
        group in each mounted v1 hierarchy). Raises :class:`cgroupfs.Unavailable`."""
        super().__init__(agent_tag, work_dir)
        if hierarchies is None:
            try:
                hierarchies = cgroupfs.v1_dirs(REQUIRED, OPTIONAL)
            except OSError as exc:
                raise cgroupfs.Unavailable(f"cannot read the cgroup v1 layout: {exc}") from None
        missing = [c for c in REQUIRED if c not in hierarchies]
        if missing:
            raise cgroupfs.Unavailable(f"cgroup v1 hierarchies missing: {', '.join(missing)}")
        self.pids_max = pids_max if pids_max is not None else cgroupfs.pids_max_default()
        self.stem = cgroupfs.agent_stem(agent_tag, work_dir)
        self.dir_name = cgroupfs.agent_dir_name(agent_tag, work_dir)
        self.agent_dirs = {c: base / self.dir_name for c, base in hierarchies.items()}
        self.ledger = cgroupfs.Ledger(work_dir, self.stem)
        self._remove = remove_dir
        log.debug("cgroups-v1 under %s", sorted(set(map(str, self.agent_dirs.values()))))

    def prepare(self, container_id: str, resources: Resources) -> CgroupsV1Container:
        name = cgroupfs.safe_name(container_id)
        agent_dirs = _unique(list(self.agent_dirs.values()))
        groups = {c: d / name for c, d in self.agent_dirs.items()}
        dirs = _unique(list(groups.values()))
        self.ledger.record(agent_dirs)  # before anything exists: a crash leaves nothing unknown
        try:
            for d in agent_dirs:
                d.mkdir(exist_ok=True)
            if any(d.exists() for d in dirs):  # an earlier executor of that id was not removed
                cgroupfs.destroy(dirs, freezer(dirs), self._remove)
            for d in dirs:
                d.mkdir()
            container = CgroupsV1Container(container_id, resources, groups, self._remove)
            container.configure(self.pids_max)
        except (OSError, ValueError) as exc:
            cgroupfs.destroy([d for d in dirs if d.exists()], None, self._remove)
            raise OSError(f"cannot set up cgroups for {container_id}: {exc}") from exc
        return container

    def reap_leftovers(self) -> list[str]:
        bases = _unique([d.parent for d in self.agent_dirs.values()])
        leftovers = cgroupfs.leftover_dirs(bases, self.stem)
        removed = cgroupfs.reap(
            _unique([*self.ledger.entries(), *leftovers]), self._remove, freezer
        )
        self.ledger.clear()
        return removed

    def shutdown(self) -> None:
        cgroupfs.reap(_unique(list(self.agent_dirs.values())), self._remove, freezer)
        self.ledger.clear()
