"""Fast tests of pymesos_rt.coordination: MasterInfo in Mesos's JSON layout, master addresses,
the standalone contender and detector, and the ZooKeeper backend's behaviour without a server."""

from __future__ import annotations

import ast
import asyncio
import json
import threading
from pathlib import Path

import pytest

from pymesos_rt.coordination import (
    Leadership,
    MasterInfo,
    StandaloneAddress,
    StandaloneContender,
    StandaloneDetector,
    ZooKeeperAddress,
    make_contender,
    make_detector,
    parse_address,
)
from pymesos_rt.coordination.session import sequence_of
from pymesos_rt.coordination.zookeeper import ZooKeeperContender, ZooKeeperDetector
from pymesos_rt.testing.zookeeper import free_port

PACKAGE = Path(__file__).resolve().parent.parent / "pymesos_rt"

# What a Mesos 1.x master writes to <zk path>/json.info_<seq> (capabilities and domain included).
MESOS_JSON_INFO = (
    '{"address":{"hostname":"leader.example","ip":"192.168.33.10","port":5050},'
    '"capabilities":[{"type":"AGENT_UPDATE"},{"type":"AGENT_DRAINING"}],'
    '"domain":{"fault_domain":{"region":{"name":"eu-1"},"zone":{"name":"eu-1a"}}},'
    '"hostname":"leader.example","id":"7eb34f10-b07c-4921-aece-bbaece09dfd1",'
    '"ip":169978048,"pid":"master@192.168.33.10:5050","port":5050,"version":"1.11.0"}'
)


# --- MasterInfo ------------------------------------------------------------------------------
def test_master_info_reads_a_real_mesos_znode():
    info = MasterInfo.from_json(MESOS_JSON_INFO.encode())
    assert info == MasterInfo(
        id="7eb34f10-b07c-4921-aece-bbaece09dfd1",
        hostname="leader.example",
        ip="192.168.33.10",
        port=5050,
        version="1.11.0",
    )
    assert info.address == "ws://192.168.33.10:5050"
    assert info.pid == "master@192.168.33.10:5050"


def test_master_info_writes_mesos_layout():
    info = MasterInfo(id="m-1", hostname="localhost", ip="127.0.0.1", port=5050, version="0.1.0")
    text = info.to_json()
    # Mesos's exact layout: keys sorted, no spaces, legacy packed IPv4 (127.0.0.1 -> 16777343).
    assert text == (
        '{"address":{"hostname":"localhost","ip":"127.0.0.1","port":5050},"hostname":"localhost",'
        '"id":"m-1","ip":16777343,"pid":"master@127.0.0.1:5050","port":5050,"version":"0.1.0"}'
    )
    assert MasterInfo.from_json(text) == info


def test_master_info_packed_ip_matches_mesos():
    # The sample above: 192.168.33.10 is written by Mesos as 169978048.
    info = MasterInfo(id="x", hostname="h", ip="192.168.33.10", port=5050)
    assert json.loads(info.to_json())["ip"] == 169978048


def test_master_info_round_trips_tls_ipv6_and_missing_ip():
    for info in [
        MasterInfo(id="a", hostname="m1", ip="10.0.0.1", port=6000, scheme="wss"),
        MasterInfo(id="b", hostname="m2", ip="::1", port=6001),
        MasterInfo(id="c", hostname="master.example", ip="", port=6002),
    ]:
        assert MasterInfo.from_json(info.to_json()) == info
    assert MasterInfo(id="b", hostname="m2", ip="::1", port=1).address == "ws://[::1]:1"
    assert MasterInfo(id="c", hostname="m.example", ip="", port=2).address == "ws://m.example:2"
    assert json.loads(MasterInfo(id="a", hostname="h", ip="::1", port=1).to_json())["ip"] == 0


def test_master_info_from_older_layouts():
    # Only the pid (Mesos before `address` existed) or only the packed ip.
    old = MasterInfo.from_json('{"id":"o","pid":"master@10.1.2.3:5051","port":5051,"ip":0}')
    assert (old.ip, old.port, old.hostname) == ("10.1.2.3", 5051, "10.1.2.3")
    packed = MasterInfo.from_json('{"id":"p","ip":16777343,"port":5050,"hostname":"lh"}')
    assert (packed.ip, packed.hostname) == ("127.0.0.1", "lh")


@pytest.mark.parametrize(
    "data",
    [b"\xff\xfe", "not json", "[1, 2]", '{"id":"x"}', '{"hostname":"h","port":0}',
     '{"hostname":"h","port":1,"scheme":"http"}'],
)  # fmt: skip
def test_master_info_rejects_garbage(data):
    with pytest.raises(ValueError):
        MasterInfo.from_json(data)


def test_master_info_from_address():
    info = MasterInfo.from_address("wss://10.0.0.5:7000", id="m")
    assert (info.ip, info.port, info.scheme, info.address) == (
        "10.0.0.5", 7000, "wss", "wss://10.0.0.5:7000",
    )  # fmt: skip
    named = MasterInfo.from_address("ws://master.example")
    assert (named.hostname, named.ip, named.port) == ("master.example", "", 5050)
    with pytest.raises(ValueError):
        MasterInfo.from_address("zk://h:2181/mesos")


# --- addresses -------------------------------------------------------------------------------
def test_parse_standalone_addresses():
    assert parse_address("ws://127.0.0.1:5050") == StandaloneAddress("ws", "127.0.0.1", 5050)
    assert parse_address("wss://m.example/") == StandaloneAddress("wss", "m.example", 5050)
    assert parse_address("ws://[::1]:99").url == "ws://[::1]:99"


def test_parse_zookeeper_addresses():
    addr = parse_address("zk://h1:2181,h2:2182,h3/mesos")
    assert addr == ZooKeeperAddress(hosts="h1:2181,h2:2182,h3:2181", path="/mesos")
    assert addr.url == "zk://h1:2181,h2:2182,h3:2181/mesos"
    nested = parse_address("zk://u%40x:p%3Aw@[::1]:2181/a/b/")
    assert nested == ZooKeeperAddress("[::1]:2181", "/a/b", credentials=("u@x", "p:w"))
    assert "p:w" not in repr(nested) and "p:w" not in nested.url


@pytest.mark.parametrize(
    "bad",
    ["127.0.0.1:5050", "http://h:1", "ws://", "ws://h:0", "ws://h:x", "ws://h/p",
     "zk://h:2181", "zk://h:2181/", "zk://h1,,h2/p", "zk://h//p", "zk://user@h/p"],
)  # fmt: skip
def test_parse_address_refuses(bad):
    with pytest.raises(ValueError):
        parse_address(bad)


def test_sequence_of_znode_names():
    assert sequence_of("json.info_0000000007") == 7
    assert sequence_of("info_0000000007") is None
    assert sequence_of("log_replicas") is None
    assert sequence_of("json.info_") is None


# --- standalone ------------------------------------------------------------------------------
def test_standalone_contender_leads_until_withdraw():
    async def main():
        contender = StandaloneContender()
        events: list[Leadership] = []
        contender.subscribe(events.append)
        assert not contender.leading
        await contender.start(MasterInfo.from_address("ws://127.0.0.1:5050"))
        assert contender.leading
        await contender.wait_leading(True, timeout=1)
        await contender.withdraw()
        await contender.wait_leading(False, timeout=1)
        assert [e.leading for e in events] == [True, False]
        with pytest.raises(RuntimeError):
            await contender.start(MasterInfo.from_address("ws://127.0.0.1:5050"))

    asyncio.run(main())


def test_standalone_detector_names_the_one_master():
    async def main():
        detector = make_detector("ws://127.0.0.1:5050")
        assert isinstance(detector, StandaloneDetector)
        seen = []
        detector.subscribe(seen.append)
        assert detector.current() is None
        await detector.start()
        leader = await detector.wait_leader(timeout=1)
        assert leader.address == "ws://127.0.0.1:5050"
        assert seen == [leader]
        assert await detector.wait_change(None, timeout=1) == leader
        with pytest.raises(TimeoutError):
            await detector.wait_change(leader, timeout=0.05)
        await detector.stop()

    asyncio.run(main())


def test_make_picks_the_backend():
    assert isinstance(make_contender("ws://127.0.0.1:1"), StandaloneContender)
    assert isinstance(make_contender("zk://127.0.0.1:1/x"), ZooKeeperContender)
    assert isinstance(make_detector("zk://127.0.0.1:1/x"), ZooKeeperDetector)
    with pytest.raises(ValueError):
        ZooKeeperContender("ws://127.0.0.1:1")


def test_subscriber_errors_are_contained():
    async def main():
        contender = StandaloneContender()
        seen = []

        def broken(_event):
            raise RuntimeError("boom")

        contender.subscribe(broken)
        unsubscribe = contender.subscribe(seen.append)
        await contender.start(MasterInfo.from_address("ws://127.0.0.1:5050"))
        unsubscribe()
        await contender.withdraw()
        assert [e.leading for e in seen] == [True]

    asyncio.run(main())


# --- ZooKeeper backend without a server -----------------------------------------------------
@pytest.mark.parametrize("kind", ["contender", "detector"])
def test_zookeeper_start_times_out_and_cleans_up(kind):
    """Nothing listens: start gives up after start_timeout, closes its session, leaks no thread."""
    before = set(threading.enumerate())
    url = f"zk://127.0.0.1:{free_port()}/nowhere"

    async def main():
        if kind == "contender":
            member = ZooKeeperContender(url, session_timeout=1.0, start_timeout=0.3)
            with pytest.raises(TimeoutError, match="did not answer"):
                await member.start(MasterInfo.from_address("ws://127.0.0.1:5050"))
            assert not member.leading
        else:
            detector = ZooKeeperDetector(url, session_timeout=1.0, start_timeout=0.3)
            with pytest.raises(TimeoutError, match="did not answer"):
                await detector.start()

    asyncio.run(main())
    assert not [t for t in set(threading.enumerate()) - before if t.is_alive()]


# --- import rule -----------------------------------------------------------------------------
def test_only_coordination_imports_kazoo():
    """Also covers modules added after the import-linter contract listed the package's parts."""
    offenders = []
    for path in PACKAGE.rglob("*.py"):
        if path.is_relative_to(PACKAGE / "coordination"):
            continue
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            names = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            if any(name == "kazoo" or name.startswith("kazoo.") for name in names):
                offenders.append(f"{path.relative_to(PACKAGE.parent)}:{node.lineno}")
    assert not offenders, f"kazoo imported outside pymesos_rt/coordination: {offenders}"
