"""Existing Mesos frameworks attach: douban's pymesos (MesosSchedulerDriver and
MesosExecutorDriver, in processes of their own) and mesoshttp against real masters and agents,
through the v1 Scheduler and Executor HTTP APIs (docs/mesos-api.md)."""

from __future__ import annotations

import base64
import json
import os
import pwd
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from mesos_helpers import Framework, command_task, executor_task

from pymesos_rt.testing.browser import Browser, find_chromium
from pymesos_rt.testing.daemons import start_agent, start_master, wait_for

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    work = tmp_path_factory.mktemp("mesos-api")
    master = start_master(work, "--mesos-heartbeat-interval", "1")
    agent = start_agent(
        master,
        work,
        "--resources",
        "cpus:4;mem:4096",
        "--no-warm-standby",
        "--status-resend-interval",
        "1",
    )
    yield master, agent, work
    agent.stop()
    master.stop()


def address(master) -> str:
    return f"127.0.0.1:{master.port}"


def sandbox(work: Path, framework_id: str, task_id: str) -> Path:
    return work / "agent" / "executors" / f"{framework_id}.mt.{task_id}"


def no_duplicate_uuids(fw: Framework) -> None:
    uuids = [s["uuid"] for s in fw.updates() if "uuid" in s]
    assert len(uuids) == len(set(uuids)), f"an update came twice: {fw.updates()}"


def test_shell_task_runs_in_its_sandbox_and_finishes(cluster, tmp_path):
    master, _, work = cluster
    fw = Framework(tmp_path, address(master), name="shell")
    try:
        fw_id = fw.wait(lambda e: e["event"] == "registered", what="registered")["framework_id"]
        fw.launch(command_task("hello", "echo hello > out.txt && echo to-stdout"))
        running = fw.status("hello", "TASK_RUNNING")
        finished = fw.status("hello", "TASK_FINISHED")
        assert [s["state"] for s in fw.updates("hello")] == ["TASK_RUNNING", "TASK_FINISHED"]
        for status in (running, finished):
            assert status["agent_id"]["value"] and base64.b64decode(status["uuid"])
        box = sandbox(work, fw_id, "hello")
        assert (box / "out.txt").read_text() == "hello\n"
        assert (box / "stdout").read_text() == "to-stdout\n"
        assert (box / "stderr").exists()
        # the framework and its task in /state
        state = master.state()
        assert any(f["id"] == fw_id and f["name"] == "shell" for f in state["frameworks"])
    finally:
        fw.stop()
    no_duplicate_uuids(fw)


def test_a_command_without_shell_gets_its_arguments_and_environment(cluster, tmp_path):
    """``shell: false``: ``value`` is the program, ``arguments`` its whole argv (argv[0]
    included), run without a shell; ``environment.variables`` and the sandbox variables are
    set, and nothing else of the agent's environment but its locale and PATH-like variables."""
    master, _, work = cluster
    fw = Framework(tmp_path, address(master), name="noshell")
    program = (
        "import json, os, sys; json.dump({'argv': sys.argv[1:], 'cwd': os.getcwd(),"
        " 'env': dict(os.environ)}, open('seen.json', 'w'))"
    )
    task = command_task("argv", "")
    task["command"] = {
        "shell": False,
        "value": sys.executable,
        "arguments": ["python-of-the-test", "-c", program, "two words", "$HOME", "; exit 1"],
        "environment": {"variables": [{"name": "GREETING", "value": "hello there"}]},
    }
    try:
        fw_id = fw.wait(lambda e: e["event"] == "registered", what="registered")["framework_id"]
        fw.launch(task)
        fw.status("argv", "TASK_RUNNING")
        fw.status("argv", "TASK_FINISHED")
    finally:
        fw.stop()
    box = sandbox(work, fw_id, "argv")
    seen = json.loads((box / "seen.json").read_text())
    assert seen["argv"] == ["two words", "$HOME", "; exit 1"]  # no shell expanded or split them
    assert Path(seen["cwd"]) == box
    env = seen["env"]
    assert env["GREETING"] == "hello there"
    assert Path(env["MESOS_SANDBOX"]) == box and Path(env["MESOS_DIRECTORY"]) == box
    assert (env["MESOS_TASK_ID"], env["MESOS_FRAMEWORK_ID"]) == ("argv", fw_id)
    # the launcher's bookkeeping (ids, sandbox, sizes) but nothing that proves anything: not
    # the cluster secret, not the object store's socket or token
    assert not {"PYMESOS_RT_SECRET", "PYMESOS_RT_STORE", "PYMESOS_RT_STORE_TOKEN"} & set(env)


@pytest.mark.skipif(os.geteuid() != 0, reason="switching users needs an agent running as root")
def test_a_task_runs_as_its_user_and_an_unknown_user_fails(cluster, tmp_path):
    """As Mesos's agent with ``--switch_user`` (our default): the task's process runs as
    ``CommandInfo.user`` (else ``FrameworkInfo.user``), owning its sandbox; a user the agent's
    machine does not know fails the task, saying so."""
    master, _, work = cluster
    fw = Framework(tmp_path, address(master), name="users")
    as_nobody = command_task("as-nobody", 'id -un > who.txt && echo "$USER $HOME" >> who.txt')
    as_nobody["command"]["user"] = "nobody"
    as_ghost = command_task("as-ghost", "true")
    as_ghost["command"]["user"] = "no-such-user-here"
    try:
        fw_id = fw.wait(lambda e: e["event"] == "registered", what="registered")["framework_id"]
        fw.launch(as_nobody)
        fw.status("as-nobody", "TASK_FINISHED")
        fw.launch(as_ghost)
        failed = fw.status("as-ghost", "TASK_FAILED")
    finally:
        fw.stop()
    box = sandbox(work, fw_id, "as-nobody")
    nobody = pwd.getpwnam("nobody")
    assert (box / "who.txt").read_text().split() == ["nobody", "nobody", nobody.pw_dir]
    assert (box.stat().st_uid, (box / "who.txt").stat().st_uid) == (nobody.pw_uid,) * 2
    assert "no such user" in failed["message"] and "no-such-user-here" in failed["message"]


def test_kill_task_kills_a_sleeping_shell_task(cluster, tmp_path):
    master, _, _ = cluster
    fw = Framework(tmp_path, address(master), name="killer")
    try:
        fw_id = fw.wait(lambda e: e["event"] == "registered", what="registered")["framework_id"]
        fw.launch(command_task("sleeper", "sleep 30"))
        fw.status("sleeper", "TASK_RUNNING")
        # /state and `pymesos-rt status` show the Mesos framework, its task and its counts
        state = master.state()
        (record,) = [f for f in state["frameworks"] if f["id"] == fw_id]
        assert record["tasks"]["running"] == 1 and record["used"]["cpus"] == 0.5
        assert any(e["executor_id"] == "mt.sleeper" for e in state["executors"])
        status = subprocess.run(
            [sys.executable, "-m", "pymesos_rt", "status", "--master", master.url],
            check=True,
            capture_output=True,
            text=True,
            timeout=30,
        ).stdout
        assert "killer" in status and "mt.sleeper" in status
        fw.send("kill", task_id="sleeper")
        killed = fw.status("sleeper", "TASK_KILLED", timeout=30)
        assert killed["source"] == "SOURCE_EXECUTOR"
        # killing an unknown task answers TASK_LOST, as Mesos does
        fw.send("kill", task_id="nobody")
        assert fw.status("nobody", "TASK_LOST")["reason"] == "REASON_RECONCILIATION"
    finally:
        fw.stop()
    no_duplicate_uuids(fw)


def test_a_task_over_its_memory_limit_fails_with_the_mesos_reason(cluster, tmp_path):
    master, _, _ = cluster
    fw = Framework(tmp_path, address(master), name="hog")
    hog = f"{sys.executable} -c 'import time; b = bytearray(400 * 2**20); time.sleep(30)'"
    try:
        fw.launch(command_task("hog", hog, cpus=0.5, mem=48))
        failed = fw.status("hog", "TASK_FAILED", timeout=60)
        assert failed.get("reason") == "REASON_CONTAINER_LIMITATION_MEMORY", failed
        assert "memory limit of 48 MiB" in failed["message"]
    finally:
        fw.stop()


def test_updates_are_resent_until_acknowledged_then_never_again(cluster, tmp_path):
    master, _, _ = cluster
    fw = Framework(tmp_path, address(master), "--no-implicit-acks", name="acker")
    try:
        fw.launch(command_task("acked", "sleep 0.2"))
        first = fw.status("acked", "TASK_RUNNING")
        # not acknowledged: the agent sends it again (resend interval 1 s), with the same uuid
        again = fw.wait(
            lambda e: e["event"] == "update" and e["status"].get("uuid") == first["uuid"],
            what="a resent RUNNING",
        )["status"]
        assert again["state"] == "TASK_RUNNING"
        fw.send("ack", uuid=first["uuid"])
        done = fw.status("acked", "TASK_FINISHED")
        sent = time.monotonic()
        fw.send("ack", uuid=done["uuid"])
        fw.wait(lambda e: e["event"] == "done" and e["op"] == "ack" and e["t"] > sent, what="ack")
        # watch for three resend intervals (1 s): neither update comes again once the agent has
        # the acknowledgement (a resend already on its way then is at-least-once delivery)
        acked_at = time.monotonic()
        with pytest.raises(AssertionError):
            fw.wait(
                lambda e: e["event"] == "update" and e["t"] > acked_at + 1.5,
                timeout=4.5,
                what="an update after the acknowledgements",
            )
    finally:
        fw.stop()


def test_decline_with_refuse_seconds_keeps_the_agent_from_that_framework(cluster, tmp_path):
    master, _, _ = cluster
    # nothing of the earlier tests still running: resources freed during the 5 s would be
    # offered at once (a filter covers only what was refused, as in Mesos)
    wait_for(lambda: not master.state()["executors"], 60, "the agent idle")
    first = Framework(tmp_path, address(master), "--refuse-seconds", "5", name="decliner")
    second = Framework(tmp_path, address(master), "--refuse-seconds", "0.5", name="other")
    try:
        declined = first.wait(lambda e: e["event"] == "declined", what="a declined offer")
        # meanwhile the other framework is offered that agent (it declines for 0.5 s only) ...
        second.wait(
            lambda e: e["event"] == "offer" and declined["t"] < e["t"] < declined["t"] + 5,
            what="an offer to the other framework within the 5 s",
        )
        second.stop()
        # ... and the decliner sees it again only once its 5 s filter is over
        again = first.wait(lambda e: e["event"] == "offer", timeout=30, what="the next offer")
        assert again["t"] - declined["t"] >= 5 - 0.05, (declined, again)
    finally:
        first.stop()
        second.stop()


def test_driver_stop_tears_the_framework_down(cluster, tmp_path):
    master, _, _ = cluster
    fw = Framework(tmp_path, address(master), name="teardown")
    fw_id = fw.wait(lambda e: e["event"] == "registered", what="registered")["framework_id"]
    fw.launch(command_task("long", "sleep 30"))
    fw.status("long", "TASK_RUNNING")
    assert any(f["id"] == fw_id for f in master.state()["frameworks"])
    fw.stop()  # driver.stop(): TEARDOWN

    def released():
        state = master.state()
        return None if any(e["framework_id"] == fw_id for e in state["executors"]) else state

    state = wait_for(released, 30, "the task's resources back")
    assert not any(f["id"] == fw_id for f in state["frameworks"])


def test_custom_executor_written_with_pymesos(cluster, tmp_path):
    master, _, _ = cluster
    fw = Framework(tmp_path, address(master), name="custom")
    try:
        fw.launch(executor_task("echo-1", b"payload"))
        running = fw.status("echo-1", "TASK_RUNNING")
        assert running["executor_id"]["value"] == "echo"
        finished = fw.status("echo-1", "TASK_FINISHED")
        assert base64.b64decode(finished["data"]) == b"done:payload"
        assert finished["message"] == "echoed"
        # the executor keeps running: a second task goes to it, and is killed
        fw.launch(executor_task("echo-2", b"sleep:30"))
        fw.status("echo-2", "TASK_RUNNING")
        fw.send("kill", task_id="echo-2")
        fw.status("echo-2", "TASK_KILLED")
        # framework messages both ways
        agent_id = running["agent_id"]["value"]
        data = base64.b64encode(b"ping").decode()
        fw.send("message", agent_id=agent_id, executor_id="echo", data=data)
        echoed = fw.wait(lambda e: e["event"] == "message", what="the echo")
        assert base64.b64decode(echoed["data"]) == b"echo:ping"
    finally:
        fw.stop()
    no_duplicate_uuids(fw)


def test_http_answers_as_mesos_does(cluster):
    master, _, _ = cluster
    base = f"http://127.0.0.1:{master.port}"
    with urllib.request.urlopen(f"{base}/version", timeout=5) as resp:
        assert json.load(resp)["version"] == "1.11.0"

    def post(body: bytes, headers: dict[str, str]) -> int:
        req = urllib.request.Request(f"{base}/api/v1/scheduler", body, headers, method="POST")
        try:
            with urllib.request.urlopen(req, timeout=5) as resp:
                return resp.status
        except urllib.error.HTTPError as exc:
            return exc.code

    json_type = {"Content-Type": "application/json"}
    call = json.dumps({"type": "REVIVE", "framework_id": {"value": "fw-nobody"}}).encode()
    assert post(call, {"Content-Type": "application/x-protobuf"}) == 415
    assert post(b"{not json", json_type) == 400
    assert post(b'{"type": "LAUNCH_THE_MISSILES"}', json_type) == 400
    assert post(call, json_type) == 403  # not subscribed

    # SUBSCRIBE by hand (urllib asks for `Connection: close`: the stream stays open anyway)
    info = {"user": "", "name": "by-hand", "failover_timeout": 0}
    body = json.dumps({"type": "SUBSCRIBE", "subscribe": {"framework_info": info}}).encode()
    req = urllib.request.Request(f"{base}/api/v1/scheduler", body, json_type, method="POST")
    with urllib.request.urlopen(req, timeout=10) as stream:
        assert stream.status == 200
        assert stream.headers["Transfer-Encoding"] == "chunked"
        stream_id = stream.headers["Mesos-Stream-Id"]
        length = int(stream.readline())
        event = json.loads(stream.read(length))
        assert event["type"] == "SUBSCRIBED"
        fw_id = event["subscribed"]["framework_id"]["value"]
        assert event["subscribed"]["heartbeat_interval_seconds"] == 1
        revive = json.dumps({"type": "REVIVE", "framework_id": {"value": fw_id}}).encode()
        assert post(revive, json_type) == 400  # no Mesos-Stream-Id
        assert post(revive, {**json_type, "Mesos-Stream-Id": "not-the-stream"}) == 400
        assert post(revive, {**json_type, "Mesos-Stream-Id": stream_id}) == 202
        headers = {**json_type, "Mesos-Stream-Id": stream_id}
        req = urllib.request.Request(f"{base}/api/v1/scheduler", revive, headers, method="POST")
        with urllib.request.urlopen(req, timeout=5) as resp:  # answered at once, no body
            assert (resp.status, resp.headers["Content-Length"], resp.read()) == (202, "0", b"")
        # the stream goes on: OFFERS or HEARTBEAT next, each a RecordIO record of ASCII JSON
        length = int(stream.readline())
        record = stream.read(length)
        assert record.isascii() and json.loads(record)["type"] in ("OFFERS", "HEARTBEAT")
    # closing the stream disconnects the framework (failover_timeout 0: it is removed)
    wait_for(
        lambda: not any(f["id"] == fw_id for f in master.state()["frameworks"]),
        30,
        "the framework removed",
    )


def test_mesoshttp_framework_runs_a_command_task(cluster, tmp_path):
    master, _, work = cluster
    script = Path(__file__).parent / "mesos_programs" / "mesoshttp_scheduler.py"
    url = f"http://127.0.0.1:{master.port}"
    with open(tmp_path / "mesoshttp.stderr", "w") as err:
        proc = subprocess.Popen(
            [sys.executable, str(script), url, "echo from-mesoshttp > out.txt"],
            stdout=subprocess.PIPE,
            stderr=err,
            text=True,
        )
    try:
        out, _ = proc.communicate(timeout=90)
    finally:
        if proc.poll() is None:
            proc.kill()
    events = [json.loads(line) for line in out.splitlines() if line.startswith("{")]
    tail = (tmp_path / "mesoshttp.stderr").read_text()[-2000:]
    assert events and events[0]["event"] == "subscribed", tail
    states = [e["status"]["state"] for e in events if e["event"] == "update"]
    assert states == ["TASK_RUNNING", "TASK_FINISHED"], tail
    assert events[-1]["event"] == "ended"
    box = sandbox(work, events[0]["framework_id"], "mh-task")
    assert (box / "out.txt").read_text() == "from-mesoshttp\n"
    fw_id = events[0]["framework_id"]
    wait_for(
        lambda: not any(f["id"] == fw_id for f in master.state()["frameworks"]),
        30,
        "the mesoshttp framework torn down",
    )


@pytest.mark.skipif(
    find_chromium() is None,
    reason="Debian's chromium is not installed (scripts/test installs it when run as root)",
)
def test_the_dashboard_shows_a_mesos_framework_and_its_tasks(cluster, tmp_path):
    master, _, _ = cluster
    fw = Framework(tmp_path, address(master), name="mesos-on-the-dashboard")
    browser = Browser()
    try:
        fw_id = fw.wait(lambda e: e["event"] == "registered", what="registered")["framework_id"]
        fw.launch(command_task("shown", "sleep 30"))
        fw.status("shown", "TASK_RUNNING")
        base = f"http://127.0.0.1:{master.port}"
        browser.navigate(f"{base}/")
        jobs = "(document.getElementById('jobs') || {innerText: ''}).innerText"
        browser.wait_for(
            f"{jobs}.includes('mesos-on-the-dashboard') && {jobs}.includes({json.dumps(fw_id)})",
            60,
            "the Mesos framework in the jobs table",
        )
        browser.navigate(f"{base}/#/job/{fw_id}")
        executors = "(document.getElementById('executors') || {innerText: ''}).innerText"
        browser.wait_for(f"{executors}.includes('mt.shown')", 60, "the Mesos task's executor")
        assert not browser.errors()
    finally:
        browser.close()
        fw.stop()
