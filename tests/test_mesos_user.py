"""Whom a Mesos framework's process runs as (agent/mesos_user.py), as Mesos's --switch_user."""

from __future__ import annotations

import os
import pwd

import pytest

from pymesos_rt.agent.mesos_user import resolve

ME = pwd.getpwuid(os.geteuid()).pw_name


def test_no_user_the_agents_own_or_no_switching_run_as_the_agent():
    assert resolve("", switch_user=True) is None
    assert resolve(ME, switch_user=True) is None
    assert resolve("nobody", switch_user=False) is None
    assert resolve("no-such-user-here", switch_user=False) is None


def test_an_unknown_user_is_refused_naming_it():
    with pytest.raises(OSError, match="cannot run as user 'no-such-user-here': no such user"):
        resolve("no-such-user-here", switch_user=True)


@pytest.mark.skipif(os.geteuid() != 0, reason="the agent switches users only as root")
def test_as_root_another_user_is_resolved_with_its_groups_and_home():
    nobody = pwd.getpwnam("nobody")
    run_as = resolve("nobody", switch_user=True)
    assert run_as is not None
    assert (run_as.uid, run_as.gid, run_as.home) == (nobody.pw_uid, nobody.pw_gid, nobody.pw_dir)
    assert nobody.pw_gid in run_as.groups
    assert run_as.env() == {"USER": "nobody", "LOGNAME": "nobody", "HOME": nobody.pw_dir}


@pytest.mark.skipif(os.geteuid() == 0, reason="as root every user can be switched to")
def test_not_as_root_another_user_is_refused_saying_how_to_run_it():
    other = next(p.pw_name for p in pwd.getpwall() if p.pw_uid != os.geteuid())
    with pytest.raises(OSError, match=r"not root.*--no-switch-user"):
        resolve(other, switch_user=True)
