"""Which user a Mesos framework's process runs as, as Mesos's agent ``--switch_user`` decides:
``CommandInfo.user`` if set, else ``FrameworkInfo.user`` (the master puts the one that applies
in the launch's ``CommandInfo.user``). An empty user, or the agent's own, needs no switch.

With ``switch_user`` (the default, as in Mesos) another user's process is started as that user:
the agent must run as root, and the user must exist on the agent's machine; otherwise the
launch fails with a one-line reason (the task is TASK_FAILED with it). Without it every process
runs as the agent's user (Mesos's ``--no-switch_user``).

The switch happens in the forked child after it joined its container (joining needs root):
:meth:`RunAs.demote` makes system calls only, on values resolved beforehand.
"""

from __future__ import annotations

import os
import pwd
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class RunAs:
    """A resolved user to start a process as."""

    name: str
    uid: int
    gid: int
    groups: tuple[int, ...]
    home: str

    def demote(self) -> None:
        """In the forked child: drop to this user (groups first, then gid, then uid)."""
        os.setgroups(list(self.groups))
        os.setgid(self.gid)
        os.setuid(self.uid)

    def own(self, *paths: Path) -> None:
        """Give the sandbox (and the files the agent made in it) to this user."""
        for path in paths:
            os.chown(path, self.uid, self.gid)

    def env(self) -> dict[str, str]:
        return {"USER": self.name, "LOGNAME": self.name, "HOME": self.home}


def resolve(user: str, switch_user: bool) -> RunAs | None:
    """The user to switch to for a process that asks for ``user``; None to run it as the
    agent's user. Raises OSError saying why it cannot run as ``user``."""
    if not user or not switch_user:
        return None
    try:
        entry = pwd.getpwnam(user)
    except KeyError:
        raise OSError(f"cannot run as user {user!r}: no such user on this agent") from None
    if entry.pw_uid == os.geteuid():
        return None
    if os.geteuid() != 0:
        agent = pwd.getpwuid(os.geteuid()).pw_name
        raise OSError(
            f"cannot run as user {user!r}: the agent runs as {agent!r}, not root "
            "(start it with --no-switch-user to run every task as the agent's user)"
        )
    groups = tuple(os.getgrouplist(entry.pw_name, entry.pw_gid))
    return RunAs(entry.pw_name, entry.pw_uid, entry.pw_gid, groups, entry.pw_dir)
