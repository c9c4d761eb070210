"""Containerizers against directories laid out like cgroupfs (v1 and v2), the none backend's
memory watch, the layout discovery from /proc, the ledger, and the launcher's use of
``limitation()``. Real cgroups are exercised in integration/test_isolation.py; the cgroup2
tests at the end run on the real hierarchy where it allows enabling controllers."""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import psutil
import pytest

from pymesos_rt.agent.containers import (
    CgroupsV1Containerizer,
    CgroupsV2Containerizer,
    NoneContainerizer,
    Unavailable,
    cgroupfs,
    make_containerizer,
)
from pymesos_rt.agent.containers.base import Container, Containerizer
from pymesos_rt.agent.containers.cgroups_v1 import cpu_settings
from pymesos_rt.agent.containers.cgroups_v2 import cpu_weight
from pymesos_rt.agent.launcher import Launcher
from pymesos_rt.protocol import messages as m
from pymesos_rt.protocol.resources import Resources

R = Resources
MiB = 2**20
V1 = ("cpu", "cpuacct", "memory", "pids", "freezer")


def read(path: Path) -> str:
    return path.read_text().strip()


# --- layout discovery -------------------------------------------------------------------------
MOUNTINFO = """\
31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
32 31 0:29 / /sys/fs/cgroup/cpu,cpuacct rw,relatime - cgroup cgroup rw,cpu,cpuacct
35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
39 31 0:36 /docker/abc /sys/fs/cgroup/pids rw,relatime - cgroup cgroup rw,pids
40 31 0:37 / /sys/fs/cgroup/freezer ro,relatime - cgroup cgroup ro,freezer
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
"""
CGROUP = """\
8:pids:/docker/abc/inner
6:freezer:/
4:memory:/process_api/x
1:cpu,cpuacct:/
0::/user.slice
"""


@pytest.fixture
def proc(tmp_path: Path) -> Path:
    (tmp_path / "self").mkdir()
    (tmp_path / "self" / "mountinfo").write_text(MOUNTINFO)
    (tmp_path / "self" / "cgroup").write_text(CGROUP)
    return tmp_path


def test_membership_and_mounts(proc: Path):
    own = cgroupfs.read_membership(proc)
    assert own == {
        "pids": "/docker/abc/inner",
        "freezer": "/",
        "memory": "/process_api/x",
        "cpu": "/",
        "cpuacct": "/",
        "": "/user.slice",
    }
    mounts = {str(mnt.point): mnt for mnt in cgroupfs.read_mounts(proc)}
    assert set(mounts) == {
        "/sys/fs/cgroup/cpu,cpuacct",
        "/sys/fs/cgroup/memory",
        "/sys/fs/cgroup/pids",
        "/sys/fs/cgroup/freezer",
        "/sys/fs/cgroup/unified",
    }
    assert {"cpu", "cpuacct"} <= mounts["/sys/fs/cgroup/cpu,cpuacct"].options
    assert mounts["/sys/fs/cgroup/pids"].root == "/docker/abc"


def test_v1_dirs_name_what_is_missing(proc: Path):
    # none of these directories exist on this machine under these names: all are missing
    with pytest.raises(Unavailable, match="cpu, cpuacct, memory, pids"):
        cgroupfs.v1_dirs(("cpu", "cpuacct", "memory", "pids"), ("freezer",), proc)


def test_agent_dir_name_is_stable_per_work_dir_and_names_its_owner(tmp_path: Path):
    a = cgroupfs.agent_stem("local", tmp_path / "a")
    assert a == cgroupfs.agent_stem("local", tmp_path / "a" / ".." / "a")
    assert a != cgroupfs.agent_stem("local", tmp_path / "b")
    assert a.startswith("pymesos-rt-local-")
    assert cgroupfs.agent_stem("a/b c", tmp_path).startswith("pymesos-rt-a_b_c-")
    name = cgroupfs.agent_dir_name("local", tmp_path / "a")
    assert name.startswith(f"{a}-{os.getpid()}.") and not cgroupfs.owner_gone(name)
    assert cgroupfs.owner_gone(f"{a}-{os.getpid()}.1")  # another process with that pid
    assert not cgroupfs.owner_gone(a)  # names no owner: never taken for a dead agent's
    assert cgroupfs.safe_name("fw-1.ex/../e2") == "fw-1.ex_.._e2"
    with pytest.raises(OSError):
        cgroupfs.safe_name("..")


def test_ledger_keeps_only_its_own_directories(tmp_path: Path):
    ledger = cgroupfs.Ledger(tmp_path, "pymesos-rt-x-1")
    ledger.record([Path("/cg/cpu/pymesos-rt-x-1-7.8"), Path("/cg/memory/pymesos-rt-x-1-7.8")])
    ledger.record([Path("/cg/cpu/pymesos-rt-x-1-7.8")])  # already known
    with open(ledger.path, "a") as f:
        f.write("/sys/fs/cgroup/cpu\n/cg/cpu/pymesos-rt-other-2-7.8\n")  # never reaped
    assert ledger.entries() == [
        Path("/cg/cpu/pymesos-rt-x-1-7.8"),
        Path("/cg/memory/pymesos-rt-x-1-7.8"),
    ]
    ledger.clear()
    assert ledger.entries() == []


def test_cpu_settings():
    assert cpu_settings(0.5) == (50_000, 512)
    assert cpu_settings(2) == (200_000, 2048)
    assert cpu_settings(0.01) == (-1, 10)  # the placeholder of num_cpus=0: no quota
    assert cpu_settings(0) == (-1, 2)
    assert (cpu_weight(2), cpu_weight(1024), cpu_weight(262144)) == (1, 39, 10000)


# --- cgroups-v1 against a fake layout ----------------------------------------------------------
def fake_v1(root: Path, comount: bool = False) -> dict[str, Path]:
    """Our own group in each hierarchy (memory nested, as on this machine)."""
    dirs = {}
    for c in V1:
        d = root / c / ("process_api/x" if c == "memory" else "")
        if comount and c == "cpuacct":
            d = dirs["cpu"]
        d.mkdir(parents=True, exist_ok=True)
        dirs[c] = d
    return dirs


def v1(tmp_path: Path, work: str = "work", **kw) -> CgroupsV1Containerizer:
    return CgroupsV1Containerizer(
        "local",
        tmp_path / work,
        hierarchies=kw.pop("hierarchies", None) or fake_v1(tmp_path / "cg"),
        remove_dir=shutil.rmtree,
        **kw,
    )


def test_v1_prepare_writes_limits(tmp_path: Path):
    cz = v1(tmp_path, pids_max=64)
    c = cz.prepare("fw1.e1", R(cpus=0.5, mem=100))
    name = cz.dir_name
    cpu = tmp_path / "cg/cpu" / name / "fw1.e1"
    mem = tmp_path / "cg/memory/process_api/x" / name / "fw1.e1"
    assert read(cpu / "cpu.cfs_period_us") == "100000"
    assert read(cpu / "cpu.cfs_quota_us") == "50000"
    assert read(cpu / "cpu.shares") == "512"
    assert read(mem / "memory.limit_in_bytes") == str(100 * MiB)
    assert read(mem / "memory.memsw.limit_in_bytes") == str(100 * MiB)
    assert read(tmp_path / "cg/pids" / name / "fw1.e1" / "pids.max") == "64"
    assert (tmp_path / "cg/freezer" / name / "fw1.e1").is_dir()
    assert cz.ledger.entries() == [
        tmp_path / "cg" / c / ("process_api/x" if c == "memory" else "") / name for c in V1
    ]
    assert c.limitation() is None


def test_v1_no_memory_limit_without_mem_and_default_pids(tmp_path: Path, monkeypatch):
    monkeypatch.delenv(cgroupfs.PIDS_MAX_ENV, raising=False)
    cz = v1(tmp_path)
    cz.prepare("fw1.e1", R(cpus=1))
    group = tmp_path / "cg/memory/process_api/x" / cz.dir_name / "fw1.e1"
    assert not (group / "memory.limit_in_bytes").exists()
    assert read(tmp_path / "cg/pids" / cz.dir_name / "fw1.e1" / "pids.max") == "1024"
    monkeypatch.setenv(cgroupfs.PIDS_MAX_ENV, "99")
    assert v1(tmp_path, work="other").pids_max == 99


def test_v1_oom_is_read_from_oom_control(tmp_path: Path):
    cz = v1(tmp_path)
    c = cz.prepare("fw1.e1", R(cpus=1, mem=100))
    mem = tmp_path / "cg/memory/process_api/x" / cz.dir_name / "fw1.e1"
    (mem / "memory.oom_control").write_text("oom_kill_disable 0\nunder_oom 0\noom_kill 0\n")
    assert c.limitation() is None
    (mem / "memory.oom_control").write_text("oom_kill_disable 0\nunder_oom 0\noom_kill 1\n")
    assert c.limitation() == "memory limit of 100 MiB reached (oom_kill)"


def test_v1_usage(tmp_path: Path):
    cz = v1(tmp_path)
    c = cz.prepare("fw1.e1", R(cpus=1, mem=100))
    g = {ctl: tmp_path / "cg" / ctl / cz.dir_name / "fw1.e1" for ctl in V1}
    g["memory"] = tmp_path / "cg/memory/process_api/x" / cz.dir_name / "fw1.e1"
    (g["cpuacct"] / "cpuacct.usage").write_text("2500000000\n")
    (g["memory"] / "memory.usage_in_bytes").write_text(f"{30 * MiB}\n")
    (g["memory"] / "memory.max_usage_in_bytes").write_text(f"{90 * MiB}\n")
    (g["pids"] / "pids.current").write_text("7\n")
    assert c.usage() == {
        "cpu_seconds": 2.5,
        "memory": 30.0 * MiB,
        "memory_peak": 90.0 * MiB,
        "pids": 7.0,
    }


def test_v1_preexec_joins_every_hierarchy_in_the_child(tmp_path: Path):
    hierarchies = fake_v1(tmp_path / "cg", comount=True)
    cz = v1(tmp_path, hierarchies=hierarchies)
    c = cz.prepare("fw1.e1", R(cpus=1))
    groups = {d / cz.dir_name / "fw1.e1" for d in hierarchies.values()}
    assert len(groups) == 4  # cpu and cpuacct share one directory
    for group in groups:
        (group / "cgroup.procs").write_text("")  # the kernel's file, which open() needs
    proc = subprocess.Popen(["true"], preexec_fn=c.preexec)
    assert proc.wait() == 0
    assert all(read(group / "cgroup.procs") == "0" for group in groups)


def test_v1_cleanup_and_restart_reap(tmp_path: Path):
    cz = v1(tmp_path)
    c1 = cz.prepare("fw1.e1", R(cpus=1))
    cz.prepare("fw1.e2", R(cpus=1))
    c1.cleanup()
    pids = tmp_path / "cg/pids" / cz.dir_name
    assert sorted(p.name for p in pids.iterdir()) == ["fw1.e2"]
    # the agent is killed; it starts again with the same work dir
    again = v1(tmp_path)
    assert again.reap_leftovers() == ["fw1.e2"]
    assert not any((tmp_path / "cg" / c / again.dir_name).exists() for c in V1 if c != "memory")
    assert not (tmp_path / "cg/memory/process_api/x" / again.dir_name).exists()
    assert again.ledger.entries() == []


def test_v1_reap_follows_the_ledger_when_the_agent_moved(tmp_path: Path):
    """A restarted agent may live in another group: the ledger still names the old ones."""
    old = v1(tmp_path, hierarchies=fake_v1(tmp_path / "old"))
    old.prepare("fw1.e1", R(cpus=1))
    new = v1(tmp_path, hierarchies=fake_v1(tmp_path / "new"))
    assert new.reap_leftovers() == ["fw1.e1"]
    assert not list((tmp_path / "old").rglob("pymesos-rt-*"))


def test_two_agents_never_touch_each_others_groups(tmp_path: Path):
    hierarchies = fake_v1(tmp_path / "cg")
    a = v1(tmp_path, work="a", hierarchies=hierarchies)
    b = v1(tmp_path, work="b", hierarchies=hierarchies)
    assert a.dir_name != b.dir_name
    a.prepare("fw1.e1", R(cpus=1))
    b.prepare("fw1.e1", R(cpus=1))
    assert b.reap_leftovers() == ["fw1.e1"]
    b.shutdown()
    assert (tmp_path / "cg/cpu" / a.dir_name / "fw1.e1").is_dir()
    a.shutdown()
    assert not list((tmp_path / "cg").rglob("pymesos-rt-*"))
    assert not (tmp_path / "a" / cgroupfs.LEDGER).exists()


def test_any_agent_reaps_the_groups_of_agents_killed_for_good(tmp_path: Path):
    """An embedded cluster's work dir is a fresh temporary one, and a killed agent may never
    start again: the next agent to start reaps directories whose owner process is gone."""
    hierarchies = fake_v1(tmp_path / "cg")
    gone = subprocess.Popen(["true"])
    gone.wait()  # its pid is no longer running
    dead = {c: d / f"pymesos-rt-local-0123456789-{gone.pid}.1" for c, d in hierarchies.items()}
    for group in dead.values():
        (group / "fw1.e1").mkdir(parents=True)
    alive = v1(tmp_path, work="b", hierarchies=hierarchies)
    alive.prepare("fw1.e1", R(cpus=1))
    new = v1(tmp_path, work="c", hierarchies=hierarchies)
    assert new.reap_leftovers() == ["fw1.e1"]
    assert not any(group.exists() for group in dead.values())
    assert (hierarchies["cpu"] / alive.dir_name / "fw1.e1").is_dir()  # its owner lives
    alive.shutdown()


def test_v1_prepare_failure_leaves_nothing(tmp_path: Path):
    hierarchies = fake_v1(tmp_path / "cg")
    cz = v1(tmp_path, hierarchies=hierarchies)
    (hierarchies["pids"] / cz.dir_name).mkdir()
    (hierarchies["pids"] / cz.dir_name / "fw1.e1").write_text("in the way")  # not a dir
    with pytest.raises(OSError, match=r"cannot set up cgroups for fw1\.e1"):
        cz.prepare("fw1.e1", R(cpus=1))
    assert not (hierarchies["cpu"] / cz.dir_name / "fw1.e1").exists()


# --- cgroups-v2 against a fake layout ----------------------------------------------------------
def fake_v2(base: Path, controllers: str = "cpuset cpu io memory hugetlb pids") -> Path:
    base.mkdir(parents=True)
    (base / "cgroup.controllers").write_text(controllers + "\n")
    (base / "cgroup.subtree_control").write_text("")
    (base / "cgroup.procs").write_text("")
    return base


def v2(tmp_path: Path, **kw) -> CgroupsV2Containerizer:
    base = kw.pop("base", None) or fake_v2(tmp_path / "cg2")
    return CgroupsV2Containerizer(
        "local", tmp_path / "work", base=base, remove_dir=shutil.rmtree, **kw
    )


def test_v2_delegates_and_writes_limits(tmp_path: Path):
    cz = v2(tmp_path, pids_max=64)
    base = tmp_path / "cg2"
    assert read(base / "cgroup.subtree_control") == "+cpu +memory +pids"
    c = cz.prepare("fw1.e1", R(cpus=0.5, mem=100))
    assert read(base / cz.dir_name / "cgroup.subtree_control") == "+cpu +memory +pids"
    g = base / cz.dir_name / "fw1.e1"
    assert read(g / "cpu.max") == "50000 100000"
    assert read(g / "cpu.weight") == str(cpu_weight(512))
    assert read(g / "memory.max") == str(100 * MiB)
    assert read(g / "memory.swap.max") == "0"
    assert read(g / "memory.oom.group") == "1"
    assert read(g / "pids.max") == "64"
    assert cz.ledger.entries() == [base / cz.dir_name]
    (g / "cgroup.procs").write_text("")  # the kernel's file, which open() needs
    subprocess.run(["true"], preexec_fn=c.preexec, check=True)
    assert read(g / "cgroup.procs") == "0"


def test_v2_no_quota_no_memory_limit(tmp_path: Path):
    cz = v2(tmp_path)
    cz.prepare("fw1.e1", R(cpus=0.01))
    g = tmp_path / "cg2" / cz.dir_name / "fw1.e1"
    assert read(g / "cpu.max") == "max 100000"
    assert not (g / "memory.max").exists()


def test_v2_oom_usage_and_cleanup(tmp_path: Path):
    cz = v2(tmp_path)
    c = cz.prepare("fw1.e1", R(cpus=1, mem=256))
    g = tmp_path / "cg2" / cz.dir_name / "fw1.e1"
    (g / "cpu.stat").write_text("usage_usec 1500000\nuser_usec 1000000\nsystem_usec 500000\n")
    (g / "memory.current").write_text(f"{40 * MiB}\n")
    (g / "pids.current").write_text("3\n")
    assert c.usage() == {
        "cpu_seconds": 1.5,
        "memory": 40.0 * MiB,
        "memory_peak": 40.0 * MiB,  # no memory.peak (old kernel): the highest seen
        "pids": 3.0,
    }
    (g / "memory.events").write_text("low 0\nhigh 0\nmax 12\noom 1\noom_kill 0\n")
    assert c.limitation() is None
    (g / "memory.events").write_text("low 0\nhigh 0\nmax 12\noom 1\noom_kill 1\n")
    assert c.limitation() == "memory limit of 256 MiB reached (oom_kill)"
    (g / "cgroup.kill").write_text("")
    c.cleanup()
    assert not g.exists()
    cz.shutdown()
    assert not (tmp_path / "cg2" / cz.dir_name).exists()


def test_v2_reap_after_restart(tmp_path: Path):
    cz = v2(tmp_path)
    cz.prepare("fw1.e1", R(cpus=1))
    again = v2(tmp_path, base=tmp_path / "cg2")
    assert again.reap_leftovers() == ["fw1.e1"]
    assert not (tmp_path / "cg2" / cz.dir_name).exists()


def test_v2_unavailable_names_the_reason(tmp_path: Path):
    with pytest.raises(Unavailable, match=r"controllers cpu memory pids are not available"):
        v2(tmp_path, base=fake_v2(tmp_path / "hybrid", controllers="hugetlb"))
    with pytest.raises(Unavailable, match=r"not a directory|No such file"):
        v2(tmp_path, base=tmp_path / "nowhere")


# --- none ---------------------------------------------------------------------------------------
def test_none_does_not_count_shared_memory_a_process_maps():
    """A process that fills 100 MiB of shared memory (the object store's arena) and 20 MiB of
    its own is charged the 20 MiB: USS without shared memory, not RSS."""
    code = (
        "import mmap, os\n"
        "fd = os.memfd_create('pymesos-rt-arena')\n"
        "os.ftruncate(fd, 100 * 2**20)\n"
        "m = mmap.mmap(fd, 100 * 2**20)\n"
        "m.write(b'x' * (100 * 2**20))\n"
        "own = bytearray(b'y' * (20 * 2**20))\n"
        "print('ready', flush=True)\n"
        "import time; time.sleep(60)\n"
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", code], stdout=subprocess.PIPE, start_new_session=True, text=True
    )
    try:
        assert proc.stdout is not None and proc.stdout.readline() == "ready\n"
        c = NoneContainerizer("t", Path("/nonexistent")).prepare("fw1.e1", R(cpus=1, mem=80))
        c.isolate(proc.pid)
        rss = psutil.Process(proc.pid).memory_info().rss
        used = c.usage()["memory"]
        assert rss > 120 * MiB  # the shared pages are resident...
        assert 20 * MiB <= used < 60 * MiB  # ...but not charged
        assert c.enforce() is None
    finally:
        proc.kill()
        proc.wait()


def test_none_watches_memory_and_kills_the_group():
    hog = "x = bytearray(200 * 2**20)\nimport time\nprint('ready', flush=True)\ntime.sleep(60)"
    proc = subprocess.Popen(
        [sys.executable, "-c", hog], stdout=subprocess.PIPE, start_new_session=True, text=True
    )
    try:
        assert proc.stdout is not None and proc.stdout.readline() == "ready\n"
        c = NoneContainerizer("t", Path("/nonexistent")).prepare("fw1.e1", R(cpus=1, mem=50))
        c.isolate(proc.pid)
        assert c.usage()["memory"] > 150 * MiB
        why = c.enforce()
        assert why is not None and why.startswith("memory limit of 50 MiB reached (uss ")
        assert proc.wait(timeout=10) == -signal.SIGKILL
        assert c.limitation() == why
        assert c.enforce() is None  # reported once
    finally:
        proc.kill()
        proc.wait()


def test_none_without_memory_limit_never_kills():
    c = NoneContainerizer("t", Path("/nonexistent")).prepare("fw1.e1", R(cpus=1))
    c.isolate(os.getpid())
    assert c.enforce() is None
    assert c.usage()["cpu_seconds"] > 0


def test_make_containerizer(tmp_path: Path):
    assert isinstance(make_containerizer("none", "t", tmp_path), NoneContainerizer)
    with pytest.raises(ValueError, match="unknown isolation 'lxc'"):
        make_containerizer("lxc", "t", tmp_path)
    assert make_containerizer("auto", "t", tmp_path).name in ("cgroups-v2", "cgroups-v1", "none")


# --- the launcher reports a limitation only for a SIGKILL ---------------------------------------
class _Limited(Container):
    def usage(self) -> dict[str, float]:
        return {}

    def limitation(self) -> str | None:
        return "memory limit of 1 MiB reached (oom_kill)"

    def cleanup(self) -> None:
        pass


class _LimitedContainerizer(Containerizer):
    name = "test"

    def prepare(self, container_id: str, resources: Resources) -> Container:
        return _Limited(container_id, resources)


@pytest.mark.parametrize(("sig", "expect"), [(signal.SIGKILL, True), (signal.SIGTERM, False)])
def test_launcher_limitation_only_for_sigkill(tmp_path: Path, sig, expect):
    exits: list[tuple[str, str, int, str | None]] = []

    async def main() -> None:
        done = asyncio.Event()

        def on_exit(*args) -> None:
            exits.append(args)
            done.set()

        launcher = Launcher(_LimitedContainerizer("t", tmp_path), tmp_path, {}, on_exit)
        pid = launcher.start("fw1", "e1", R(cpus=1), m.CommandInfo(["sleep", "60"], {}))
        os.kill(pid, sig)
        await asyncio.wait_for(done.wait(), 10)

    asyncio.run(main())
    oom = "memory limit of 1 MiB reached (oom_kill)" if expect else None
    assert exits == [("fw1", "e1", -sig, oom)]


# --- cgroup2 for real, where this machine allows it ---------------------------------------------
def _real_v2_base() -> Path:
    if os.geteuid() != 0:
        pytest.skip("cgroup2 tests need root")
    try:
        return cgroupfs.v2_dir()
    except (Unavailable, OSError) as exc:
        pytest.skip(f"no usable cgroup2 hierarchy: {exc}")


def test_v2_on_the_real_hierarchy(tmp_path: Path):
    _real_v2_base()
    try:
        cz = CgroupsV2Containerizer("unit", tmp_path)
    except Unavailable as exc:
        pytest.skip(f"cgroups-v2 cannot enable controllers here: {exc}")
    try:
        c = cz.prepare("fw1.e1", R(cpus=0.5, mem=64))
        assert read(c.group / "cpu.max") == "50000 100000"  # type: ignore[attr-defined]
        proc = subprocess.Popen(["sleep", "60"], preexec_fn=c.preexec, start_new_session=True)
        c.isolate(proc.pid)
        assert proc.pid in cgroupfs.members(c.group)  # type: ignore[attr-defined]
        c.cleanup()
        assert proc.wait(timeout=10) == -signal.SIGKILL
    finally:
        cz.shutdown()
    assert not (cz.base / cz.dir_name).exists()


def test_v2_core_files_on_the_real_hierarchy(tmp_path: Path):
    """Without controllers (this machine binds them to v1), the group mechanics still run on
    the real cgroup2: join in preexec, cpu.stat, cgroup.kill, removal, reap after restart."""
    base = _real_v2_base()
    cz = CgroupsV2Containerizer("unit", tmp_path, base=base, controllers=())
    try:
        c = cz.prepare("fw1.e1", R(cpus=1))
        group = base / cz.dir_name / "fw1.e1"
        proc = subprocess.Popen(["sleep", "60"], preexec_fn=c.preexec, start_new_session=True)
        c.isolate(proc.pid)
        assert cgroupfs.members(group) == [proc.pid]
        assert "cpu_seconds" in c.usage()
        again = CgroupsV2Containerizer("unit", tmp_path, base=base, controllers=())
        assert again.reap_leftovers() == ["fw1.e1"]  # as if the agent had restarted
        assert proc.wait(timeout=10) == -signal.SIGKILL
        assert not group.exists()
    finally:
        cz.shutdown()
    assert not (base / cz.dir_name).exists()
