"""The guarded door: the cluster secret on every handshake, non-loopback binds refused without
one, and malformed frames closing only their own connection while a job runs on."""

from __future__ import annotations

import asyncio
import os
import random
import shutil
import subprocess
import sys
import time

import msgspec
import pytest
import tornado.httpclient
import tornado.websocket
from cluster_helpers import run_driver

from pymesos_rt.protocol import messages as m
from pymesos_rt.protocol.codec import Codec
from pymesos_rt.protocol.resources import Resources
from pymesos_rt.testing.daemons import start_agent, start_master
from pymesos_rt.transport.auth import HEADER, make_proof

pytestmark = pytest.mark.integration

SECRET = "integration-secret-42"

MARKER_DRIVER = """
import sys
import pymesos_rt as rt

try:
    rt.init()
except Exception as exc:
    print("refused:", exc, flush=True)
    sys.exit(3)

@rt.remote
def touch(path):
    open(path, "w").write("ran")
    return "ran"

print(rt.get(touch.remote(sys.argv[1]), timeout=60), flush=True)
rt.shutdown()
"""


@pytest.fixture
def guarded(tmp_path):
    env = {"PYMESOS_RT_SECRET": SECRET}
    master = start_master(tmp_path, env=env)
    agent = start_agent(master, tmp_path, "--resources", "cpus:2;mem:4096", env=env)
    yield master
    agent.stop()
    master.stop()


@pytest.mark.parametrize("secret", ["", "not-the-secret"], ids=["none", "wrong"])
def test_program_without_the_secret_is_refused_and_runs_nothing(guarded, tmp_path, secret):
    marker = tmp_path / "marker"
    env = {"PYMESOS_RT_SECRET": secret}
    proc = run_driver(tmp_path, "intruder", MARKER_DRIVER, guarded.url, str(marker), env=env)
    out, _ = proc.communicate(timeout=60)
    assert proc.returncode == 3 and "refused" in out and "secret" in out
    assert not marker.exists()
    assert guarded.state()["frameworks"] == []


def test_program_with_the_secret_runs(guarded, tmp_path):
    marker = tmp_path / "marker"
    env = {"PYMESOS_RT_SECRET": SECRET}
    proc = run_driver(tmp_path, "friend", MARKER_DRIVER, guarded.url, str(marker), env=env)
    out, _ = proc.communicate(timeout=60)
    assert proc.returncode == 0 and "ran" in out and marker.read_text() == "ran"


def test_replayed_handshake_is_refused(guarded):
    url = f"{guarded.url}/api/v1/scheduler"
    proof = make_proof(SECRET, "/api/v1/scheduler", time.time())

    async def main() -> None:
        first = await tornado.websocket.websocket_connect(
            tornado.httpclient.HTTPRequest(url, headers={HEADER: proof})
        )
        first.close()
        with pytest.raises(tornado.httpclient.HTTPClientError) as info:
            await tornado.websocket.websocket_connect(
                tornado.httpclient.HTTPRequest(url, headers={HEADER: proof})
            )
        assert info.value.code == 401

    asyncio.run(main())


def test_non_loopback_bind_without_a_secret_exits_with_a_clear_error():
    env = {k: v for k, v in os.environ.items() if k != "PYMESOS_RT_SECRET"}
    proc = subprocess.run(
        [sys.executable, "-m", "pymesos_rt", "master", "--host", "0.0.0.0", "--port", "0"],
        check=False,
        capture_output=True,
        text=True,
        timeout=30,
        env=env,
    )
    assert proc.returncode == 2
    assert "refusing to bind 0.0.0.0 without a cluster secret" in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1


JOB_DRIVER = """
import time
import pymesos_rt as rt

rt.init()

@rt.remote
def work(i):
    time.sleep(0.01)
    return i * i

print(rt.get([work.remote(i) for i in range(600)], timeout=300) == [i * i for i in range(600)],
      flush=True)
rt.shutdown()
"""


def _bad_frames(rng: random.Random) -> list[bytes | str]:
    valid = Codec.encode([m.Subscribe("x", "*")])
    register = Codec.encode([m.RegisterAgent("h", Resources(cpus=1))])
    frames: list[bytes | str] = []
    for i in range(999):
        kind = i % 7
        if kind == 0:
            frames.append(rng.randbytes(rng.randint(1, 2048)))  # random bytes
        elif kind == 1:
            frames.append(msgspec.msgpack.encode([["subscribe", 5, None, "x", []]]))  # wrong types
        elif kind == 2:
            frames.append(valid[: rng.randint(1, len(valid) - 1)])  # truncated
        elif kind == 3:
            frames.append(msgspec.msgpack.encode([["no_such_message", 1]]))  # unknown type
        elif kind == 4:
            frames.append(register[: rng.randint(1, len(register) - 1)])
        elif kind == 5:
            frames.append(msgspec.msgpack.encode({"not": "a list"}))
        else:
            frames.append("a text frame on a binary channel")
    frames.append(b"\x91" + b"\x00" * (100 * 2**20))  # a 100 MB frame
    return frames


async def _send_bad(url: str, path: str, frame: bytes | str) -> bool:
    """True when the server closes the connection after the bad frame."""
    request = tornado.httpclient.HTTPRequest(
        url + path, headers={HEADER: make_proof(SECRET, path, time.time())}
    )
    conn = await tornado.websocket.websocket_connect(request, max_message_size=2**31)
    try:
        await conn.write_message(frame, binary=isinstance(frame, bytes))
    except tornado.websocket.WebSocketClosedError:
        return True
    async with asyncio.timeout(20):
        return await conn.read_message() is None


def test_malformed_frames_close_only_their_connection_while_a_job_runs(guarded, tmp_path):
    env = {"PYMESOS_RT_SECRET": SECRET}
    job = run_driver(tmp_path, "job", JOB_DRIVER, guarded.url, env=env)
    frames = _bad_frames(random.Random(7))
    paths = ["/api/v1/scheduler", "/api/v1/agent"]

    async def fuzz() -> list[bool]:
        gate = asyncio.Semaphore(16)

        async def one(i: int, frame: bytes | str) -> bool:
            async with gate:
                return await _send_bad(guarded.url, paths[i % 2], frame)

        return await asyncio.gather(*(one(i, f) for i, f in enumerate(frames)))

    try:
        closed = asyncio.run(fuzz())
        assert len(closed) == 1000 and all(closed)
        out, _ = job.communicate(timeout=300)
        assert job.returncode == 0 and out.strip() == "True"
        state = guarded.state()
        assert len(state["agents"]) == 1 and state["agents"][0]["state"] == "active"
    finally:
        job.kill()


def _self_signed(tmp_path):
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=127.0.0.1",
            "-addext",
            "subjectAltName=IP:127.0.0.1",
            "-keyout",
            str(key),
            "-out",
            str(cert),
        ],
        check=True,
        capture_output=True,
    )
    return cert, key


def test_tls_master_serves_wss_to_agents_and_programs(tmp_path):
    if shutil.which("openssl") is None:
        pytest.skip("openssl is needed to make a test certificate")
    cert, key = _self_signed(tmp_path)
    env = {"PYMESOS_RT_SECRET": SECRET, "PYMESOS_RT_TLS_CA": str(cert)}
    master = start_master(tmp_path, "--tls-cert", str(cert), "--tls-key", str(key), env=env)
    master_wss = f"wss://127.0.0.1:{master.port}"
    agent = start_agent(
        master,
        tmp_path,
        "--master",
        master_wss,
        "--resources",
        "cpus:1;mem:1024",
        env=env,
        wait=False,
    )
    marker = tmp_path / "marker"
    try:
        proc = run_driver(tmp_path, "tls", MARKER_DRIVER, master_wss, str(marker), env=env)
        out, _ = proc.communicate(timeout=60)
        assert proc.returncode == 0 and "ran" in out, agent.log_text()[-2000:]
        # plain ws:// to a TLS master does not get through
        plain = run_driver(tmp_path, "plain", MARKER_DRIVER, master.url, str(marker), env=env)
        out, _ = plain.communicate(timeout=60)
        assert plain.returncode == 3 and "refused" in out
    finally:
        agent.stop()
        master.stop()


def test_malformed_frames_to_a_programs_executor_endpoint(tmp_path):
    """The other listening endpoint that can run code: a program's, where executors connect."""
    import pymesos_rt as rt
    from pymesos_rt.client import backend as backend_mod

    rt.init(num_cpus=2)
    try:
        driver = backend_mod.current().driver  # type: ignore[attr-defined]
        url = driver.executor_url.rsplit("/api/", 1)[0]
        path = "/api/v1/executor"

        @rt.remote
        def square(x: int) -> int:
            time.sleep(0.01)
            return x * x

        refs = [square.remote(i) for i in range(300)]
        frames = _bad_frames(random.Random(11))[:300]
        frames.append(Codec.encode([m.Hello("not-an-executor-of-ours", 1, "h")]))

        async def fuzz() -> list[bool]:
            async def one(frame: bytes | str) -> bool:
                request = tornado.httpclient.HTTPRequest(
                    url + path, headers={HEADER: make_proof(driver.secret, path, time.time())}
                )
                conn = await tornado.websocket.websocket_connect(request, max_message_size=2**31)
                try:
                    await conn.write_message(frame, binary=isinstance(frame, bytes))
                except tornado.websocket.WebSocketClosedError:
                    return True
                async with asyncio.timeout(20):
                    return await conn.read_message() is None

            return [await one(f) for f in frames]

        assert all(asyncio.run(fuzz()))
        assert rt.get(refs, timeout=120) == [i * i for i in range(300)]
    finally:
        rt.shutdown()
