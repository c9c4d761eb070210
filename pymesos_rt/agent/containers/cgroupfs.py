"""Plain file operations on cgroup filesystems (v1 and v2), shared by both cgroups backends.

Holds: where this process lives in each hierarchy (``/proc/self/cgroup`` joined with
``/proc/self/mountinfo``), the agent's directory name (a stable tag derived from its work
dir, so two agents on one machine never touch each other's groups), the *ledger* (a file in
the work dir naming every agent directory ever created, so a restarted agent finds what a
killed one left), and killing the members of a group and removing it.

Contracts: executor groups are only ever created under the group this process lives in, inside
a directory named ``pymesos-rt-<tag>-<digest>``; removal only touches directories with that
name, and nothing here moves a process out of any group. Imports: the standard library only.
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


class Unavailable(Exception):
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


def agent_dir_name(agent_tag: str, work_dir: Path) -> str:
    """``pymesos-rt-<tag>-<digest of the work dir>``: the same across restarts of one agent,
    different for two agents with different work dirs."""
    digest = hashlib.sha1(str(work_dir.resolve()).encode()).hexdigest()[:10]
    tag = re.sub(r"[^A-Za-z0-9_.-]", "_", agent_tag)[:32] or "agent"
    return f"{PREFIX}{tag}-{digest}"


def safe_name(container_id: str) -> str:
    name = re.sub(r"[^A-Za-z0-9_.-]", "_", container_id)[:200]
    if name.strip(".") == "":
        raise ValueError(f"bad container id {container_id!r}")
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
    """``<work dir>/cgroups.txt``: one agent directory per line, written *before* the directory
    is made, so an agent killed at any point leaves nothing its next start cannot find."""

    def __init__(self, work_dir: Path, dir_name: str) -> None:
        self.path = work_dir / LEDGER
        self.dir_name = dir_name

    def entries(self) -> list[Path]:
        try:
            lines = self.path.read_text().splitlines()
        except OSError:
            return []
        # only ever our own directories, whatever the file says
        return [Path(line) for line in lines if line and Path(line).name == self.dir_name]

    def record(self, dirs: Iterable[Path]) -> None:
        known = self.entries()
        new = [d for d in dirs if d not in known]
        if new:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with open(self.path, "a") as f:
                f.writelines(f"{d}\n" for d in new)

    def clear(self) -> None:
        self.path.unlink(missing_ok=True)
