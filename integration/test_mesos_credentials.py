"""Mesos frameworks' identity with real daemons and real pymesos drivers (issue 13,
authentication): with a cluster secret, a Mesos framework authenticates with HTTP Basic and a
framework secret made for its principal (``pymesos-rt mesos-secret``); those credentials are
its framework credential, so neither another Mesos framework nor a program of ours takes its id,
calls need them too, and a Mesos SUBSCRIBE cannot take a program's id. docs/mesos-api.md."""

from __future__ import annotations

import asyncio
import base64
import json
import subprocess
import sys
import urllib.error
import urllib.request
from typing import Any

import pytest
from cluster_helpers import BareFramework
from mesos_helpers import Framework, command_task

from pymesos_rt.protocol import messages as m
from pymesos_rt.testing.daemons import start_agent, start_master, wait_for

pytestmark = pytest.mark.integration

SECRET = "mesos-auth-test-secret"
ENV = {"PYMESOS_RT_SECRET": SECRET}


def mint(principal: str) -> str:
    """A framework secret, made as an operator would: ``pymesos-rt mesos-secret PRINCIPAL``."""
    out = subprocess.run(
        [sys.executable, "-m", "pymesos_rt", "mesos-secret", principal],
        env={"PATH": "/usr/bin:/bin", **ENV},
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    return out.stdout.strip()


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    work = tmp_path_factory.mktemp("mesos-auth")
    master = start_master(work, "--mesos-heartbeat-interval", "1", env=ENV)
    agent = start_agent(
        master, work, "--resources", "cpus:4;mem:4096", "--no-warm-standby", env=ENV
    )
    yield master, agent
    agent.stop()
    master.stop()


def basic(principal: str, secret: str) -> dict[str, str]:
    token = base64.b64encode(f"{principal}:{secret}".encode()).decode()
    return {"Authorization": f"Basic {token}"}


def post(master, body: dict[str, Any], headers: dict[str, str]) -> tuple[int, str]:
    url = f"http://127.0.0.1:{master.port}/api/v1/scheduler"
    headers = {"Content-Type": "application/json", **headers}
    req = urllib.request.Request(url, json.dumps(body).encode(), headers, method="POST")
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.status, ""
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def subscribe_body(fw_id: str | None = None, principal: str | None = None) -> dict[str, Any]:
    info: dict[str, Any] = {"user": "", "name": "by-hand", "failover_timeout": 60}
    if principal is not None:
        info["principal"] = principal
    body: dict[str, Any] = {"type": "SUBSCRIBE", "subscribe": {"framework_info": info}}
    if fw_id is not None:
        body["framework_id"] = {"value": fw_id}
        info["id"] = {"value": fw_id}
    return body


def listed(master, fw_id: str) -> dict | None:
    return next((f for f in master.state()["frameworks"] if f["id"] == fw_id), None)


def address(master) -> str:
    return f"127.0.0.1:{master.port}"


def test_subscribe_needs_a_framework_secret_made_for_its_principal(cluster, tmp_path):
    master, _ = cluster
    ops = mint("ops")
    body = subscribe_body(principal="ops")
    assert post(master, body, {})[0] == 401
    code, why = post(master, body, basic("ops", SECRET))
    assert code == 401 and "cluster secret is not a framework secret" in why
    assert post(master, body, basic("ops", "a-guess"))[0] == 401
    assert post(master, body, basic("ops", mint("someone-else")))[0] == 401
    code, why = post(master, body, basic("someone-else", mint("someone-else")))
    assert code == 403 and "principal" in why  # framework_info.principal is not theirs
    fw = Framework(tmp_path, address(master), "--principal", "ops", "--secret", ops, name="ok")
    try:
        # the task runs without the agent's cluster secret in its environment (it fails if so)
        fw.launch(command_task("authed", f"! env | grep -q -e {SECRET} -e {ops}"))
        fw.status("authed", "TASK_FINISHED")
    finally:
        fw.stop()
    assert ops not in master.log_text()  # secrets are never logged


def test_neither_another_mesos_framework_nor_a_program_takes_a_mesos_frameworks_id(
    cluster, tmp_path
):
    master, _ = cluster
    ops = mint("ops")
    owner = Framework(
        tmp_path, address(master), "--principal", "ops", "--secret", ops, name="owner"
    )
    try:
        fw_id = owner.wait(lambda e: e["event"] == "registered", what="registered")["framework_id"]
        owner.launch(command_task("kept", "sleep 60"))
        owner.status("kept", "TASK_RUNNING")
        # pymesos drivers naming its id: the same principal with another of its secrets, and
        # another principal: SUBSCRIBE answered 403
        for n, (principal, secret) in enumerate((("ops", mint("ops")), ("eve", mint("eve")))):
            intruder = Framework(
                tmp_path,
                address(master),
                "--principal",
                principal,
                "--secret",
                secret,
                "--framework-id",
                fw_id,
                name=f"intruder{n}",
            )
            try:
                message = intruder.refused()
            finally:
                intruder.kill()
            assert "403" in message and "another credential" in message, message
        # a program of ours (it holds the cluster secret) naming it with what it can know
        for credential in ("", "mesos-principal:ops", f"mesos:ops:{mint('ops')}"):
            error = asyncio.run(program_refused(master, fw_id, credential))
            assert fw_id in error.message
        # the owner kept its stream, its task and its calls
        assert listed(master, fw_id)["connected"]
        owner.send("kill", task_id="kept")
        owner.status("kept", "TASK_KILLED", timeout=30)
    finally:
        owner.stop()


async def program_refused(master, fw_id: str, credential: str) -> m.Error:
    bare = BareFramework()
    await bare.subscribe(master.url, "impostor", SECRET, "*", fw_id, 60.0, credential)
    async with asyncio.timeout(20):
        await bare.closed.wait()
    errors = [e for e in bare.events if isinstance(e, m.Error)]
    assert errors and not [e for e in bare.events if isinstance(e, m.Subscribed)], bare.events
    return errors[0]


def test_calls_need_the_credentials_the_framework_subscribed_with(cluster):
    master, _ = cluster
    ops = mint("ops")
    url = f"http://127.0.0.1:{master.port}/api/v1/scheduler"
    headers = {"Content-Type": "application/json", **basic("ops", ops)}
    data = json.dumps(subscribe_body(principal="ops")).encode()
    req = urllib.request.Request(url, data, headers, method="POST")
    with urllib.request.urlopen(req, timeout=10) as stream:
        stream_id = stream.headers["Mesos-Stream-Id"]
        event = json.loads(stream.read(int(stream.readline())))
        fw_id = event["subscribed"]["framework_id"]["value"]
        on_stream = {"Mesos-Stream-Id": stream_id}
        revive = {"type": "REVIVE", "framework_id": {"value": fw_id}}
        teardown = {"type": "TEARDOWN", "framework_id": {"value": fw_id}}
        for others in (basic("ops", mint("ops")), basic("eve", mint("eve"))):
            for call in (revive, teardown):
                code, why = post(master, call, {**on_stream, **others})
                assert code == 403 and "credentials are not framework" in why, (code, why)
        assert listed(master, fw_id)["connected"]
        assert post(master, revive, {**on_stream, **basic("ops", ops)})[0] == 202
        assert post(master, teardown, {**on_stream, **basic("ops", ops)})[0] == 202
    wait_for(lambda: listed(master, fw_id) is None, 30, "the framework torn down")


def test_a_mesos_subscribe_cannot_take_a_programs_id(cluster):
    master, _ = cluster

    async def scenario() -> None:
        program = BareFramework()
        await program.subscribe(master.url, "program", SECRET, "*", None, 60.0, "its-own")
        fw_id = (await program.first(m.Subscribed)).framework_id
        for principal in ("ops", "eve"):
            body = subscribe_body(fw_id, principal)
            code, why = await asyncio.to_thread(
                post, master, body, basic(principal, mint(principal))
            )
            assert code == 403 and "another credential" in why, (code, why)
        assert not program.closed.is_set()
        assert listed(master, fw_id)["connected"]
        assert program.conn is not None
        program.conn.close()

    asyncio.run(scenario())
