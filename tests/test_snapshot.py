"""``/state``: bounded and paginated (``master/snapshot.py``), summaries by default and details
on request; bad query parameters are a 400 with a one-line reason."""

from __future__ import annotations

import asyncio
import json
import urllib.error
import urllib.parse
import urllib.request

import pytest

from pymesos_rt.master.records import MasterConfig
from pymesos_rt.master.server import MasterServer
from pymesos_rt.master.snapshot import MAX_LIMIT, StateQuery
from pymesos_rt.master.state import MasterState
from pymesos_rt.protocol import messages as m
from pymesos_rt.protocol.resources import Resources

R = Resources


def cluster(agents: int, per_agent: int = 2, frameworks: int = 3) -> MasterState:
    ms = MasterState(config=MasterConfig(reclaim=False, agent_timeout=1e9), master_id="M")
    for j in range(frameworks):
        ms.on_framework_call(f"f{j}", m.Subscribe(f"app{j}", framework_id=f"fw{j}"), 0.0)
    for i in range(agents):
        recs = [
            m.ExecutorRecord(f"fw{(i + k) % frameworks}", f"e{i}-{k}", R(cpus=1, mem=10))
            for k in range(per_agent)
        ]
        call = m.RegisterAgent(f"host{i}", R(cpus=4, mem=100), f"ag{i:04d}", recs)
        ms.on_agent_call(f"a{i}", call, 0.0)
    ms.allocate(1.0)
    return ms


def q(params: str) -> StateQuery:
    return StateQuery.parse(urllib.parse.parse_qs(params))


def test_default_is_a_bounded_summary():
    ms = cluster(250)
    snap = ms.snapshot()
    assert snap["counts"] == {
        "agents": 250,
        "agents_connected": 250,
        "frameworks": 3,
        "executors": 500,
        "offers": 250,
        "completed_executors": 0,
        "actors": 0,
    }
    assert snap["resources"] == {
        "total": {"cpus": 1000.0, "mem": 25000.0},
        "used": {"cpus": 500.0, "mem": 5000.0},
        "offered": {"cpus": 500.0, "mem": 20000.0},
    }
    assert snap["page"] == {"limit": 100, "offset": 0}
    assert [len(snap[k]) for k in ("agents", "frameworks", "executors")] == [100, 3, 100]
    agent = snap["agents"][0]
    assert agent == {
        "id": "ag0000",
        "hostname": "host0",
        "isolation": "none",
        "state": "active",
        "resources": {"cpus": 4.0, "mem": 100.0},
        "used": {"cpus": 2.0, "mem": 20.0},
        "offered": {"cpus": 2.0, "mem": 80.0},
        "executor_count": 2,
    }
    fw = snap["frameworks"][0]
    assert "executors" not in fw and "offers" not in fw  # summaries: counts only
    assert (fw["executor_count"], fw["used"]) == (167, {"cpus": 167.0, "mem": 1670.0})
    assert (
        fw["offer_count"]
        + snap["frameworks"][1]["offer_count"]
        + snap["frameworks"][2]["offer_count"]
        == 250
    )
    json.dumps(snap)


def test_pages_cover_every_agent_once_in_registration_order():
    ms = cluster(250)
    seen = []
    for offset in range(0, 300, 64):
        seen += [a["id"] for a in ms.snapshot(q(f"limit=64&offset={offset}"))["agents"]]
    assert seen == [f"ag{i:04d}" for i in range(250)]
    assert ms.snapshot(q("offset=1000"))["agents"] == []


def test_details_and_filters():
    ms = cluster(20)
    snap = ms.snapshot(q("detail=agents,frameworks&limit=5"))
    assert snap["agents"][0]["executors"] == [
        {"framework_id": "fw0", "executor_id": "e0-0"},
        {"framework_id": "fw1", "executor_id": "e0-1"},
    ]
    fw0 = snap["frameworks"][0]
    assert fw0["executor_count"] == 13 and len(fw0["executors"]) == 5  # cut at limit
    assert len(fw0["offers"]) == min(5, fw0["offer_count"])
    one = ms.snapshot(q("agent=ag0003"))
    assert [a["id"] for a in one["agents"]] == ["ag0003"]
    assert {(e["framework_id"], e["executor_id"]) for e in one["executors"]} == {
        ("fw0", "e3-0"),
        ("fw1", "e3-1"),
    }
    mine = ms.snapshot(q("framework=fw2&limit=1000"))
    assert [f["id"] for f in mine["frameworks"]] == ["fw2"]
    assert len(mine["executors"]) == 13
    assert all(e["framework_id"] == "fw2" for e in mine["executors"])
    both = ms.snapshot(q("framework=fw1&agent=ag0003"))
    assert [e["executor_id"] for e in both["executors"]] == ["e3-1"]
    assert ms.snapshot(q("agent=nobody"))["agents"] == []


@pytest.mark.parametrize(
    ("params", "error"),
    [
        ("limit=0", "limit must be between 1 and 10000, got 0"),
        (f"limit={MAX_LIMIT + 1}", "limit must be between 1 and 10000, got 10001"),
        ("limit=ten", "limit must be a whole number, got 'ten'"),
        ("offset=-1", "offset must be >= 0, got -1"),
        ("detail=tasks", "unknown detail 'tasks': use agents and/or frameworks"),
        ("page=2", "unknown /state parameter 'page'"),
    ],
)
def test_bad_parameters_are_named(params, error):
    with pytest.raises(ValueError) as exc:
        q(params)
    assert str(exc.value) == error


def test_query_round_trips_through_its_params():
    query = StateQuery(7, 14, frozenset({"agents"}), "ag1", "fw2")
    assert q(query.to_params()) == query


def test_http_state_answers_pages_and_400s():
    async def run() -> None:
        server = MasterServer(cluster(150))
        port = server.serve_http("127.0.0.1", 0, None)
        loop = asyncio.get_running_loop()

        def get(params: str) -> tuple[int, dict]:
            url = f"http://127.0.0.1:{port}/state?{params}"
            try:
                with urllib.request.urlopen(url, timeout=10) as resp:
                    return resp.status, json.load(resp)
            except urllib.error.HTTPError as exc:
                return exc.code, json.load(exc)

        try:
            status, body = await loop.run_in_executor(None, get, "limit=10&offset=145")
            assert status == 200
            assert [a["id"] for a in body["agents"]] == [f"ag{i:04d}" for i in range(145, 150)]
            assert await loop.run_in_executor(None, get, "limit=nope") == (
                400,
                {"error": "limit must be a whole number, got 'nope'"},
            )
        finally:
            await server.stop()

    asyncio.run(run())
