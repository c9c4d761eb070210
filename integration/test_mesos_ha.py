"""A pymesos framework finds the leading master through ZooKeeper (``zk://``) and follows it:
three masters, the leader killed, the framework re-subscribes with its id and its credentials
(HTTP Basic principal and framework secret) and keeps its task; a second pymesos program naming
that id with another secret is refused by the new leader, which learnt the owner's digest from
the agent."""

from __future__ import annotations

import json
import signal
import urllib.error
import urllib.request

import pytest
from mesos_helpers import Framework, command_task
from test_ha import SESSION, leader_of

from pymesos_rt.master.identity import mesos_secret
from pymesos_rt.testing.daemons import start_agent, start_master, wait_for
from pymesos_rt.testing.zookeeper import unique_chroot, zookeeper_server

pytestmark = pytest.mark.integration

SECRET = "mesos-ha-test-secret"
ENV = {"PYMESOS_RT_SECRET": SECRET}


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


def post_subscribe(port):
    body = json.dumps({"type": "SUBSCRIBE", "subscribe": {"framework_info": {"name": "x"}}})
    req = urllib.request.Request(
        f"http://127.0.0.1:{port}/api/v1/scheduler",
        body.encode(),
        {"Content-Type": "application/json"},
        method="POST",
    )
    try:
        with urllib.request.build_opener(_NoRedirect).open(req, timeout=5) as resp:
            return resp.status, resp.headers.get("Location")
    except urllib.error.HTTPError as exc:
        return exc.code, exc.headers.get("Location")


def get_redirect(port):
    req = urllib.request.Request(f"http://127.0.0.1:{port}/redirect")
    try:
        with urllib.request.build_opener(_NoRedirect).open(req, timeout=5) as resp:
            return resp.status, resp.headers.get("Location")
    except urllib.error.HTTPError as exc:
        return exc.code, exc.headers.get("Location")


def test_leader_killed_framework_resubscribes_and_keeps_its_task(tmp_path):
    with zookeeper_server() as zk:
        url = zk.url(unique_chroot())
        masters = [
            start_master(
                tmp_path, "--zk", url, "--zk-session-timeout", SESSION, name=f"master{i}", env=ENV
            )
            for i in range(3)
        ]
        agent = start_agent(
            masters[0],
            tmp_path,
            "--master",
            url,
            "--resources",
            "cpus:2;mem:2048",
            "--no-warm-standby",
            wait=False,
            env=ENV,
        )
        fw = None
        try:
            first = wait_for(lambda: leader_of(masters), 30, "a leader")
            wait_for(lambda: first.state()["agents"], 30, "the agent on the leader")
            # a standby sends schedulers to the leader, as Mesos does
            standby = next(m for m in masters if m is not first)
            code, location = post_subscribe(standby.port)
            assert (code, location) == (307, f"//127.0.0.1:{first.port}/api/v1/scheduler")
            # `GET /redirect` names the leader on every master, the leader included
            for master in masters:
                assert get_redirect(master.port) == (307, f"//127.0.0.1:{first.port}")
            owner = ["--principal", "ops", "--secret", mesos_secret(SECRET, "ops")]
            fw = Framework(tmp_path, url, "--failover-timeout", "60", *owner, name="ha")
            fw_id = fw.wait(lambda e: e["event"] == "registered", what="registered")["framework_id"]
            fw.launch(command_task("survivor", "sleep 60"))
            fw.status("survivor", "TASK_RUNNING")
            first.signal(signal.SIGKILL)
            standby = [m for m in masters if m is not first]
            second = wait_for(lambda: leader_of(standby), 30, "a new leader")
            fw.wait(lambda e: e["event"] == "reregistered", what="re-subscription", timeout=60)

            def task_back():
                state = second.state()
                return any(
                    e["framework_id"] == fw_id and e["executor_id"] == "mt.survivor"
                    for e in state["executors"]
                ) and any(f["id"] == fw_id for f in state["frameworks"])

            wait_for(task_back, 60, "the framework and its task on the new leader")
            # the same principal with another of its secrets cannot take the id on the new
            # leader (its digest came back with the agent's report of the task)
            other = ["--principal", "ops", "--secret", mesos_secret(SECRET, "ops")]
            intruder = Framework(tmp_path, url, *other, "--framework-id", fw_id, name="intruder")
            try:
                message = intruder.refused()
            finally:
                intruder.kill()
            assert "403" in message and "another credential" in message, message
            assert any(f["id"] == fw_id and f["connected"] for f in second.state()["frameworks"])
            fw.send("reconcile", task_ids=["survivor"])
            # (an update the old master forwarded but whose ACK the agent never heard of is
            # resent by the agent: RUNNING may come again before the answer)
            answer = fw.wait(
                lambda e: (
                    e["event"] == "update" and e["status"].get("reason") == "REASON_RECONCILIATION"
                ),
                what="the reconciliation answer",
            )["status"]
            assert (answer["task_id"]["value"], answer["state"]) == ("survivor", "TASK_RUNNING")
            fw.send("kill", task_id="survivor")
            fw.status("survivor", "TASK_KILLED", timeout=30)
        finally:
            if fw is not None:
                fw.stop()
            agent.stop()
            for master in masters:
                master.stop()
