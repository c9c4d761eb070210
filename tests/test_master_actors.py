"""Actors in ``/state``: what frameworks report (``ActorSummary``) is kept per framework, every
live actor and the last ``MAX_DEAD`` dead ones, and listed (paginated) in the snapshot."""

from __future__ import annotations

from test_snapshot import cluster, q

from pymesos_rt.master.actors import MAX_DEAD
from pymesos_rt.protocol import messages as m


def brief(aid: str, state: str = "ALIVE", agent: str = "ag0001") -> m.ActorBrief:
    return m.ActorBrief(aid, "Counter", f"n-{aid}", state, agent, f"e-{aid}", 1, 3)


def test_frameworks_report_their_actors_and_state_lists_them():
    ms = cluster(2)
    ms.on_framework_call("f0", m.ActorSummary([brief("a1"), brief("a2", agent="ag0000")]), 2.0)
    ms.on_framework_call("f1", m.ActorSummary([brief("b1", "PENDING", "")]), 2.0)
    snap = ms.snapshot()
    assert snap["counts"]["actors"] == 3
    assert snap["actors"][0] == {
        "framework_id": "fw0",
        "actor_id": "a1",
        "class": "Counter",
        "name": "n-a1",
        "state": "ALIVE",
        "agent_id": "ag0001",
        "executor_id": "e-a1",
        "restarts": 1,
        "pending": 3,
    }
    assert [a["actor_id"] for a in ms.snapshot(q("framework=fw1"))["actors"]] == ["b1"]
    assert [a["actor_id"] for a in ms.snapshot(q("agent=ag0000"))["actors"]] == ["a2"]
    assert [a["actor_id"] for a in ms.snapshot(q("limit=1&offset=1"))["actors"]] == ["a2"]
    # an update replaces the actor's entry in place
    ms.on_framework_call("f0", m.ActorSummary([brief("a1", "RESTARTING", "")]), 3.0)
    assert ms.snapshot()["actors"][0]["state"] == "RESTARTING"


def test_only_the_last_dead_actors_are_kept():
    ms = cluster(1)
    ms.on_framework_call("f0", m.ActorSummary([brief("live")]), 1.0)
    dead = [brief(f"d{i}", "DEAD") for i in range(MAX_DEAD + 10)]
    ms.on_framework_call("f0", m.ActorSummary(dead), 2.0)
    fw = ms.frameworks["fw0"]
    assert len(fw.actors) == 1 + MAX_DEAD
    assert "live" in fw.actors and "d9" not in fw.actors and f"d{MAX_DEAD + 9}" in fw.actors
