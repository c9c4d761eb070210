"""Plain file operations on cgroup filesystems (v1 and v2), shared by both cgroups backends.

Holds: where this process lives in each hierarchy (``/proc/self/cgroup`` joined with
``/proc/self/mountinfo``); the agent's directory name ``pymesos-rt-<tag>-<digest>-<owner>``
(tag and a digest of the work dir: stable across restarts, different for two agents, so they
never touch each other's groups; owner: the pid and start time of the agent's process, so a
killed agent's directories are recognised by any agent that starts later); the *ledger* (a
file in the work dir naming every agent directory created, so a restarted agent finds what a
killed one left even from another group); and killing a group's members and removing it.

Contracts: executor groups are only ever created under the group this process lives in, inside
the agent's directory; removal only touches ``pymesos-rt-*`` directories of this agent (same
stem) or of agents whose owner process is gone, and nothing here moves a process out of any
group. Imports: the standard library only.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import logging
import os
import re
import signal
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger(__name__)

PREFIX = "pymesos-rt-"
LEDGER = "cgroups.txt"
DEFAULT_PIDS_MAX = 1024
PIDS_MAX_ENV = "PYMESOS_RT_PIDS_MAX"
KILL_TIMEOUT = 5.0


class Unavailable(ValueError):
    """This backend cannot work here; the message says why."""


@dataclass(frozen=True)
class Mount:
    fstype: str  # "cgroup" (v1) or "cgroup2"
    root: str  # the path inside the hierarchy that is mounted at ``point``
    point: Path
    options: frozenset[str]  # v1: the controllers of the hierarchy (and rw/ro)


def read_mounts(proc: Path = Path("/proc")) -> list[Mount]:
    mounts = []
    for line in (proc / "self" / "mountinfo").read_text().splitlines():
        left, _, right = line.partition(" - ")
        fields, tail = left.split(), right.split()
        if len(fields) < 5 or len(tail) < 3 or tail[0] not in ("cgroup", "cgroup2"):
            continue
        point = fields[4].replace("\\040", " ")
        options = frozenset(tail[2].split(",")) | frozenset(fields[5].split(","))
        mounts.append(Mount(tail[0], fields[3], Path(point), options))
    return mounts


def read_membership(proc: Path = Path("/proc")) -> dict[str, str]:
    """Controller (``"cpu"``, ``"memory"``, ...; ``""`` for the v2 hierarchy) -> this process's
    group path in it."""
    out: dict[str, str] = {}
    for line in (proc / "self" / "cgroup").read_text().splitlines():
        parts = line.split(":", 2)
        if len(parts) != 3:
            continue
        if parts[1] == "":
            out[""] = parts[2]
        for controller in parts[1].split(","):
            if controller:
                out[controller] = parts[2]
    return out


def _under(mount: Mount, own: str) -> Path | None:
    root = mount.root.rstrip("/")
    if own != root and not own.startswith(root + "/"):
        return None  # our group is not visible through this mount
    return mount.point / own[len(root) :].lstrip("/")


def v1_dirs(
    controllers: Iterable[str], optional: Iterable[str] = (), proc: Path = Path("/proc")
) -> dict[str, Path]:
    """Controller -> the directory of this process's group in that v1 hierarchy. Raises
    :class:`Unavailable` naming what is missing or not writable; ``optional`` ones are
    left out when missing."""
    mounts = [mnt for mnt in read_mounts(proc) if mnt.fstype == "cgroup"]
    own = read_membership(proc)
    dirs: dict[str, Path] = {}
    missing: list[str] = []
    for controller in [*controllers, *optional]:
        mount = next((mnt for mnt in mounts if controller in mnt.options), None)
        path = _under(mount, own[controller]) if mount and controller in own else None
        if mount is None or path is None or not path.is_dir():
            missing.append(controller)
        elif "ro" in mount.options or not os.access(path, os.W_OK):
            missing.append(f"{controller} (not writable at {path})")
        else:
            dirs[controller] = path
    required = [c for c in missing if c.split()[0] not in set(optional)]
    if required:
        raise Unavailable("cgroup v1 hierarchies missing or not writable: " + ", ".join(required))
    return dirs


def v2_dir(proc: Path = Path("/proc")) -> Path:
    """The directory of this process's group in the cgroup2 hierarchy."""
    mount = next((mnt for mnt in read_mounts(proc) if mnt.fstype == "cgroup2"), None)
    own = read_membership(proc).get("")
    if mount is None or own is None:
        raise Unavailable("no cgroup2 hierarchy is mounted")
    path = _under(mount, own)
    if path is None or not path.is_dir():
        raise Unavailable(f"this process's cgroup2 group {own} is not visible under {mount.point}")
    return path


def agent_stem(agent_tag: str, work_dir: Path) -> str:
    """``pymesos-rt-<tag>-<digest of the work dir>``: the same across restarts of one agent,
    different for two agents with different work dirs."""
    digest = hashlib.sha1(str(work_dir.resolve()).encode()).hexdigest()[:10]
    tag = re.sub(r"[^A-Za-z0-9_.-]", "_", agent_tag)[:32] or "agent"
    return f"{PREFIX}{tag}-{digest}"


def agent_dir_name(agent_tag: str, work_dir: Path) -> str:
    """``<stem>-<pid>.<start time>``: the stem, and the process that owns the directory (so any
    agent can tell the directories of agents that were killed and never came back)."""
    return f"{agent_stem(agent_tag, work_dir)}-{_owner()}"


def _owner(pid: int | None = None) -> str:
    pid = os.getpid() if pid is None else pid
    return f"{pid}.{_start_time(pid)}"


def _start_time(pid: int) -> str | None:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return stat.rpartition(")")[2].split()[19]  # field 22: start time in clock ticks


def owner_gone(dir_name: str) -> bool:
    """The directory names an owner process that no longer runs (False when it names none)."""
    pid, _, start = dir_name.rpartition("-")[2].partition(".")
    return pid.isdigit() and start.isdigit() and _start_time(int(pid)) != start


def leftover_dirs(bases: Iterable[Path], stem: str) -> list[Path]:
    """Agent directories under ``bases`` to reap at start: those of earlier runs of this agent
    (same ``stem``) and those of any agent whose owner process is gone."""
    mine = f"{stem}-{_owner()}"
    found = []
    for base in bases:
        with contextlib.suppress(OSError):
            for child in sorted(base.iterdir()):
                name = child.name
                if not name.startswith(PREFIX) or name == mine or not child.is_dir():
                    continue
                if name.startswith(f"{stem}-") or owner_gone(name):
                    found.append(child)
    return found


def safe_name(container_id: str) -> str:
    name = re.sub(r"[^A-Za-z0-9_.-]", "_", container_id)[:200]
    if name.strip(".") == "":
        raise OSError(errno.EINVAL, f"bad container id {container_id!r}")
    return name


def pids_max_default() -> int:
    text = os.environ.get(PIDS_MAX_ENV, "")
    return int(text) if text.strip() else DEFAULT_PIDS_MAX


def fmt_mib(mib: float) -> str:
    return f"{mib:g} MiB"


# --- files ------------------------------------------------------------------------------------
def write(path: Path, value: str | int) -> None:
    with open(path, "w") as f:
        f.write(str(value))


def read_keyed(path: Path) -> dict[str, int]:
    """``key value`` lines (``memory.events``, ``cpu.stat``, ``memory.oom_control``)."""
    out: dict[str, int] = {}
    with contextlib.suppress(OSError):
        for line in path.read_text().splitlines():
            key, _, value = line.partition(" ")
            with contextlib.suppress(ValueError):
                out[key] = int(value)
    return out


def read_int(path: Path) -> int | None:
    try:
        text = path.read_text().strip()
        return None if text in ("", "max") else int(text)
    except (OSError, ValueError):
        return None


def members(group: Path) -> list[int]:
    try:
        text = (group / "cgroup.procs").read_text()
    except OSError:
        return []
    return [pid for pid in (int(w) for w in text.split() if w.isdigit()) if pid > 0]


# --- killing and removing ---------------------------------------------------------------------
Freeze = Callable[[bool], None]


def kill_members(
    groups: list[Path], freeze: Freeze | None = None, timeout: float = KILL_TIMEOUT
) -> bool:
    """SIGKILL every process in ``groups`` (frozen first when ``freeze`` is given, so a
    forking tree cannot outrun it) until they are empty; False if some survive ``timeout``."""
    me = os.getpid()
    deadline = time.monotonic() + timeout
    while True:
        pids = {pid for group in groups for pid in members(group)} - {me}
        if not pids:
            return True
        if time.monotonic() > deadline:
            log.warning("processes %s in %s did not die", sorted(pids), groups)
            return False
        if freeze is not None:
            with contextlib.suppress(OSError):
                freeze(True)
        for pid in pids:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)
        if freeze is not None:
            with contextlib.suppress(OSError):
                freeze(False)
        time.sleep(0.002)


def rmdir(group: Path, timeout: float = KILL_TIMEOUT) -> None:
    """Remove an empty group (its child groups first); a group whose last members are still
    exiting answers EBUSY for a moment, so retry until ``timeout``."""
    if not group.is_dir():
        return
    for child in sorted(p for p in group.iterdir() if p.is_dir()):
        rmdir(child, timeout)
    deadline = time.monotonic() + timeout
    while True:
        try:
            os.rmdir(group)
            return
        except FileNotFoundError:
            return
        except OSError as exc:
            if exc.errno != errno.EBUSY or time.monotonic() > deadline:
                raise
            time.sleep(0.005)


def destroy(
    groups: list[Path], freeze: Freeze | None = None, remove: Callable[[Path], None] = rmdir
) -> None:
    """Kill what is in ``groups`` and remove them; errors are logged, not raised."""
    kill_members(groups, freeze)
    for group in groups:
        try:
            remove(group)
        except OSError as exc:
            log.warning("cannot remove cgroup %s: %s", group, exc)


def reap(
    agent_dirs: list[Path],
    remove: Callable[[Path], None],
    freeze_for: Callable[[list[Path]], Freeze | None],
) -> list[str]:
    """Kill and remove every container group under ``agent_dirs``, then those directories;
    returns the container names found. The groups of one container in several hierarchies are
    killed together (``freeze_for`` gives their freezer, if any)."""
    by_name: dict[str, list[Path]] = {}
    for agent_dir in agent_dirs:
        with contextlib.suppress(OSError):
            for child in agent_dir.iterdir():
                if child.is_dir():
                    by_name.setdefault(child.name, []).append(child)
    for _, groups in sorted(by_name.items()):
        destroy(groups, freeze_for(groups), remove)
    for agent_dir in agent_dirs:
        try:
            remove(agent_dir)
        except OSError as exc:
            log.warning("cannot remove cgroup %s: %s", agent_dir, exc)
    if by_name:
        log.info("removed %d leftover container(s): %s", len(by_name), ", ".join(sorted(by_name)))
    return sorted(by_name)


# --- the ledger: agent directories to reap after a crash ---------------------------------------
class Ledger:
    """``<work dir>/cgroups.txt``: one agent directory per line, each written *before* the
    directory is made, so an agent killed at any point leaves nothing its next start cannot
    find, even when it starts again in another group (a new session's memory cgroup)."""

    def __init__(self, work_dir: Path, stem: str) -> None:
        self.path = work_dir / LEDGER
        self.stem = stem

    def _lines(self) -> list[str]:
        try:
            return self.path.read_text().splitlines()
        except OSError:
            return []

    def entries(self) -> list[Path]:
        # only ever our own directories, whatever the file says
        return [
            Path(line)
            for line in self._lines()
            if line.startswith("/") and Path(line).name.startswith(f"{self.stem}-")
        ]

    def record(self, dirs: Iterable[Path]) -> None:
        known = self.entries()
        new = [d for d in dirs if d not in known]
        if not new:
            return
        lines = self._lines()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text("".join(f"{line}\n" for line in [*lines, *map(str, new)]))
        os.replace(tmp, self.path)  # readers never see a half-written ledger

    def clear(self) -> None:
        self.path.unlink(missing_ok=True)
