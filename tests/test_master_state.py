"""The master's sans-IO core: feed connection messages and times, compare the effects.

Connections are plain strings ("a1" for an agent, "f1"/"f2" for frameworks); the master id is
fixed so offer ids are predictable ("M-O1", "M-O2", ...).
"""

from __future__ import annotations

import pytest

from pymesos_rt.master.allocator import RandomAllocator
from pymesos_rt.master.identity import digest
from pymesos_rt.master.records import Close, MasterConfig, Send
from pymesos_rt.master.snapshot import StateQuery
from pymesos_rt.master.state import MasterState
from pymesos_rt.protocol import messages as m
from pymesos_rt.protocol.resources import Resources
from pymesos_rt.protocol.states import ExecutorState

R = Resources
CMD = m.CommandInfo(["python", "-m", "pymesos_rt.executor"])
AGENT_RES = R(cpus=4, mem=4096)
FW1 = digest("secret-of-fw1")  # what agents are told with each launch of fw1 (identity.py)


def launch(eid: str, **res: float) -> m.ExecutorLaunch:
    return m.ExecutorLaunch(eid, R(**res), CMD)


def cluster(*agents: tuple[str, str, Resources]) -> m.ClusterChanged:
    return m.ClusterChanged([m.AgentSummary(*a) for a in agents])


HOST_A = ("ag1", "host-a", AGENT_RES)


def offers_msg(*offers: tuple[str, str, Resources], agent: str = "ag1") -> m.Offers:
    host = {"ag1": "host-a", "ag2": "host-b"}[agent]
    return m.Offers([m.Offer(oid, fw, agent, host, res) for oid, fw, res in offers])


def update(uid: str, eid: str, state: ExecutorState, fw: str = "fw1", **kw) -> m.StatusUpdate:
    return m.StatusUpdate(uid, "ag1", fw, eid, state, **kw)


def refused(fw: str, eid: str, why: str, agent: str = "") -> m.ExecutorUpdate:
    """The FAILED update the master sends for a launch it did not carry out."""
    return m.ExecutorUpdate(
        m.StatusUpdate(f"M-refused-{fw}-{eid}", agent, fw, eid, ExecutorState.FAILED, why)
    )


class CheckedMaster(MasterState):
    """Checks every invariant of the registry and the allocator after each input."""

    def on_framework_call(self, conn, call, now):
        effects = super().on_framework_call(conn, call, now)
        self.validate()
        return effects

    def on_agent_call(self, conn, call, now):
        effects = super().on_agent_call(conn, call, now)
        self.validate()
        return effects

    def on_disconnected(self, conn, now):
        effects = super().on_disconnected(conn, now)
        self.validate()
        return effects

    def tick(self, now):
        effects = super().tick(now)
        self.validate()
        return effects

    def allocate(self, now):
        effects = super().allocate(now)
        self.validate()
        return effects


def make_master(**config) -> MasterState:
    config.setdefault("agent_timeout", 1e9)  # tests of heartbeats set their own
    config.setdefault("reclaim", False)  # and so do tests of fair-share reclaims
    return CheckedMaster(config=MasterConfig(**config), master_id="M")


def register_agent(ms, conn="a1", agent_id="ag1", host="host-a", res=AGENT_RES, now=0.0, **kw):
    kw.setdefault("credential", f"secret-of-{agent_id}")  # the same at every re-registration
    return ms.on_agent_call(conn, m.RegisterAgent(host, res, agent_id, **kw), now)


def subscribe(ms, conn, fw_id, now=0.0, **kw):
    kw.setdefault("credential", f"secret-of-{fw_id}")  # the same at every re-subscription
    return ms.on_framework_call(conn, m.Subscribe(f"app-{fw_id}", framework_id=fw_id, **kw), now)


@pytest.fixture
def ms() -> MasterState:
    """One agent (4 cpus, 4096 mem) and two frameworks, fw1 subscribed first."""
    ms = make_master()
    register_agent(ms)
    subscribe(ms, "f1", "fw1")
    subscribe(ms, "f2", "fw2")
    return ms


def running_two_executors(ms: MasterState) -> None:
    """fw1 runs e1 (2 cpus, 1024) and e2 (1 cpu, 2048) on ag1; (1 cpu, 1024) is free."""
    ms.allocate(1.0)
    ms.on_framework_call(
        "f1",
        m.Accept(["M-O1"], [launch("e1", cpus=2, mem=1024), launch("e2", cpus=1, mem=2048)]),
        1.0,
    )


# --- the seed's example -----------------------------------------------------------------------


def test_seed_offer_example():
    ms = make_master()
    assert register_agent(ms) == [Send("a1", m.AgentRegistered("ag1", "M"))]
    assert subscribe(ms, "f1", "fw1") == [
        Send("f1", m.Subscribed("fw1", "M")),
        Send("f1", cluster(HOST_A)),
    ]
    assert subscribe(ms, "f2", "fw2") == [
        Send("f2", m.Subscribed("fw2", "M")),
        Send("f2", cluster(HOST_A)),
    ]

    assert ms.allocate(1.0) == [Send("f1", offers_msg(("M-O1", "fw1", R(cpus=4, mem=4096))))]

    e1, e2 = launch("e1", cpus=2, mem=1024), launch("e2", cpus=1, mem=2048)
    assert ms.on_framework_call("f1", m.Accept(["M-O1"], [e1, e2]), 1.0) == [
        Send("a1", m.LaunchExecutor("fw1", e1, FW1)),
        Send("a1", m.LaunchExecutor("fw1", e2, FW1)),
    ]

    assert ms.allocate(2.0) == [Send("f2", offers_msg(("M-O2", "fw2", R(cpus=1, mem=1024))))]

    snap = ms.snapshot(StateQuery(detail=frozenset({"frameworks"})))
    assert snap["resources"] == {
        "total": {"cpus": 4.0, "mem": 4096.0},
        "used": {"cpus": 3.0, "mem": 3072.0},
        "offered": {"cpus": 1.0, "mem": 1024.0},
    }
    (agent,) = snap["agents"]
    assert agent["used"] == {"cpus": 3.0, "mem": 3072.0}
    assert agent["offered"] == {"cpus": 1.0, "mem": 1024.0}
    assert agent["state"] == "active"
    fw1, fw2 = snap["frameworks"]
    assert (fw1["id"], fw1["executors"], fw1["offers"], fw1["share"]) == (
        "fw1",
        ["e1", "e2"],
        [],
        0.75,
    )
    assert (fw2["id"], fw2["executors"], fw2["offers"], fw2["share"]) == (
        "fw2",
        [],
        [{"cpus": 1.0, "mem": 1024.0}],
        0.25,
    )
    assert sorted((e["executor_id"], e["state"], e["agent_id"]) for e in snap["executors"]) == [
        ("e1", "STAGING", "ag1"),
        ("e2", "STAGING", "ag1"),
    ]


# --- offers: decline, filters, timeouts -------------------------------------------------------


def test_decline_with_filter_keeps_the_agent_from_that_framework(ms):
    ms.on_framework_call("f2", m.Suppress(), 0.0)
    assert ms.allocate(1.0) == [Send("f1", offers_msg(("M-O1", "fw1", AGENT_RES)))]
    assert ms.on_framework_call("f1", m.Decline(["M-O1"], refuse_seconds=10.0), 2.0) == []
    assert ms.offers == {}
    assert ms.allocate(5.0) == []
    assert ms.allocate(11.999) == []
    assert ms.allocate(12.0) == [Send("f1", offers_msg(("M-O2", "fw1", AGENT_RES)))]


def test_declined_resources_go_to_the_other_framework(ms):
    ms.allocate(1.0)
    ms.on_framework_call("f1", m.Decline(["M-O1"], refuse_seconds=10.0), 2.0)
    assert ms.allocate(2.0) == [Send("f2", offers_msg(("M-O2", "fw2", AGENT_RES)))]


def test_decline_is_idempotent_and_ignores_foreign_offers(ms):
    ms.allocate(1.0)
    assert ms.on_framework_call("f2", m.Decline(["M-O1"]), 1.0) == []
    assert "M-O1" in ms.offers  # fw2 cannot decline fw1's offer
    assert ms.on_framework_call("f1", m.Decline(["M-O1"], refuse_seconds=0.0), 1.0) == []
    assert ms.on_framework_call("f1", m.Decline(["M-O1"], refuse_seconds=0.0), 1.0) == []
    assert ms.allocate(1.0) == [Send("f1", offers_msg(("M-O2", "fw1", AGENT_RES)))]


def test_offer_timeout_rescinds_in_tick():
    ms = make_master(offer_timeout=30.0)
    register_agent(ms)
    subscribe(ms, "f1", "fw1")
    ms.allocate(10.0)
    assert ms.tick(39.9) == []
    assert ms.tick(40.0) == [Send("f1", m.Rescind("M-O1"))]
    assert ms.offers == {}
    assert ms.tick(41.0) == []
    # no filter on a rescinded offer
    assert ms.allocate(40.0) == [Send("f1", offers_msg(("M-O2", "fw1", AGENT_RES)))]


def test_suppress_and_revive(ms):
    ms.on_framework_call("f1", m.Suppress(), 0.0)
    ms.on_framework_call("f2", m.Suppress(), 0.0)
    assert ms.allocate(1.0) == []
    assert [f["suppressed"] for f in ms.snapshot()["frameworks"]] == [True, True]
    ms.on_framework_call("f2", m.Revive(), 1.0)
    assert ms.allocate(1.0) == [Send("f2", offers_msg(("M-O1", "fw2", AGENT_RES)))]


def test_revive_clears_decline_filters(ms):
    ms.on_framework_call("f2", m.Suppress(), 0.0)
    ms.allocate(1.0)
    ms.on_framework_call("f1", m.Decline(["M-O1"], refuse_seconds=100.0), 1.0)
    assert ms.allocate(2.0) == []
    ms.on_framework_call("f1", m.Revive(), 2.0)
    assert ms.allocate(2.0) == [Send("f1", offers_msg(("M-O2", "fw1", AGENT_RES)))]


# --- accept -----------------------------------------------------------------------------------


def test_accept_of_a_foreign_offer_is_an_error(ms):
    ms.allocate(1.0)
    effects = ms.on_framework_call("f2", m.Accept(["M-O1"], [launch("x", cpus=1)]), 1.0)
    why = "offer M-O1 is no longer valid"
    assert effects == [Send("f2", m.Error(why)), Send("f2", refused("fw2", "x", why))]
    assert "M-O1" in ms.offers  # still fw1's to use
    assert ms.executors == {}


def test_accept_of_a_stale_offer_is_an_error(ms):
    ms.allocate(1.0)
    ms.on_framework_call("f1", m.Decline(["M-O1"], refuse_seconds=0.0), 1.0)
    effects = ms.on_framework_call("f1", m.Accept(["M-O1"], [launch("e1", cpus=1)]), 2.0)
    why = "offer M-O1 is no longer valid"
    assert effects == [Send("f1", m.Error(why)), Send("f1", refused("fw1", "e1", why))]
    assert ms.executors == {}


def test_accept_with_one_bad_offer_returns_the_good_ones():
    ms = make_master()
    register_agent(ms)
    subscribe(ms, "f1", "fw1")
    ms.allocate(1.0)
    effects = ms.on_framework_call("f1", m.Accept(["M-O1", "M-O9"], [launch("e1", cpus=1)]), 1.0)
    why = "offer M-O9 is no longer valid"
    assert effects == [Send("f1", m.Error(why)), Send("f1", refused("fw1", "e1", why))]
    assert ms.offers == {}
    # given back without a filter
    assert ms.allocate(1.0) == [Send("f1", offers_msg(("M-O2", "fw1", AGENT_RES)))]


def test_accept_of_offers_of_two_agents_is_an_error():
    ms = make_master()
    register_agent(ms)
    register_agent(ms, conn="a2", agent_id="ag2", host="host-b", res=R(cpus=1))
    subscribe(ms, "f1", "fw1")
    assert ms.allocate(1.0) == [
        Send(
            "f1",
            m.Offers(
                [
                    m.Offer("M-O1", "fw1", "ag1", "host-a", AGENT_RES),
                    m.Offer("M-O2", "fw1", "ag2", "host-b", R(cpus=1)),
                ]
            ),
        )
    ]
    effects = ms.on_framework_call("f1", m.Accept(["M-O1", "M-O2"], [launch("e1", cpus=1)]), 1.0)
    why = "offers of one Accept must be of one agent"
    assert effects == [Send("f1", m.Error(why)), Send("f1", refused("fw1", "e1", why))]
    assert ms.offers == {}
    assert ms.executors == {}


def test_launch_that_does_not_fit_is_an_error_and_the_rest_launches(ms):
    ms.on_framework_call("f2", m.Suppress(), 0.0)
    ms.allocate(1.0)
    ok = launch("e1", cpus=3, mem=1024)
    effects = ms.on_framework_call(
        "f1", m.Accept(["M-O1"], [ok, launch("big", cpus=2, mem=1024)], refuse_seconds=5.0), 1.0
    )
    why = "launch big (cpus:2;mem:1024) does not fit offer (cpus:1;mem:3072)"
    assert effects == [
        Send("a1", m.LaunchExecutor("fw1", ok, FW1)),
        Send("f1", m.Error(why)),
        Send("f1", refused("fw1", "big", why, "ag1")),
    ]
    assert set(ms.executors) == {("fw1", "e1")}
    # the unused rest comes back after the Accept's refuse_seconds
    assert ms.allocate(5.9) == []
    assert ms.allocate(6.0) == [Send("f1", offers_msg(("M-O2", "fw1", R(cpus=1, mem=3072))))]


def test_launch_holding_nothing_is_accepted_and_takes_nothing(ms):
    """An actor without num_cpus holds nothing while it lives (Ray's default actor)."""
    ms.allocate(1.0)
    effects = ms.on_framework_call("f1", m.Accept(["M-O1"], [launch("e0")]), 1.0)
    assert [type(e.message) for e in effects if isinstance(e, Send)] == [m.LaunchExecutor]
    assert ms.executors[("fw1", "e0")].resources == R()
    assert ms.used_total == R()


def test_launch_of_negative_resources_is_an_error(ms):
    """A negative launch must not grow the offer for the launches after it."""
    ms.on_framework_call("f2", m.Suppress(), 0.0)
    ms.allocate(1.0)
    effects = ms.on_framework_call(
        "f1",
        m.Accept(["M-O1"], [launch("neg", cpus=-100), launch("huge", cpus=100, mem=1)]),
        1.0,
    )
    assert [type(e.message) for e in effects] == [m.Error, m.ExecutorUpdate] * 2
    assert effects[0].message.message.startswith("launch neg (cpus:-100) does not fit")
    assert effects[2].message.message.startswith("launch huge (cpus:100;mem:1) does not fit")
    assert ms.executors == {}


def test_executor_id_taken_is_an_error(ms):
    running_two_executors(ms)
    ms.allocate(2.0)  # (1 cpu, 1024) to fw2
    ms.on_framework_call("f2", m.Decline(["M-O2"], refuse_seconds=100.0), 2.0)
    (offer,) = ms.allocate(6.0)[0].message.offers  # fw1's Accept refused the rest until 6.0
    assert offer.framework_id == "fw1"
    effects = ms.on_framework_call("f1", m.Accept([offer.offer_id], [launch("e1", cpus=1)]), 6.0)
    # no FAILED update here: it would end the framework's running executor e1
    assert effects == [Send("f1", m.Error("executor id e1 is taken"))]
    assert ms.executors[("fw1", "e1")].resources == R(cpus=2, mem=1024)


def test_a_refused_launch_is_reported_as_a_failed_executor(ms):
    """The framework counts a launched executor as starting until it hears of it: a launch the
    master refuses is reported as FAILED, or the framework would wait for it forever."""
    ms.allocate(1.0)
    effects = ms.on_framework_call("f1", m.Accept(["M-O1"], [launch("big", cpus=8)]), 1.0)
    why = "launch big (cpus:8) does not fit offer (cpus:4;mem:4096)"
    assert effects == [Send("f1", m.Error(why)), Send("f1", refused("fw1", "big", why, "ag1"))]
    # the framework's acknowledgement of it is routed to the agent, which ignores it
    assert ms.on_framework_call("f1", m.Acknowledge("ag1", "M-refused-fw1-big"), 1.0) == [
        Send("a1", m.StatusAcked("M-refused-fw1-big"))
    ]
    assert ms.on_framework_call("f1", m.Acknowledge("", "M-refused-fw1-big"), 1.0) == []


# --- status updates and acknowledgements ------------------------------------------------------


def test_status_updates_are_forwarded_and_acks_routed_back(ms):
    running_two_executors(ms)
    up = update("u1", "e1", ExecutorState.RUNNING)
    assert ms.on_agent_call("a1", m.AgentStatus(up), 2.0) == [Send("f1", m.ExecutorUpdate(up))]
    assert ms.executors[("fw1", "e1")].state is ExecutorState.RUNNING
    assert ms.on_framework_call("f1", m.Acknowledge("ag1", "u1"), 2.0) == [
        Send("a1", m.StatusAcked("u1"))
    ]
    # a resent duplicate is forwarded again (the framework acks again) and changes nothing
    assert ms.on_agent_call("a1", m.AgentStatus(up), 3.0) == [Send("f1", m.ExecutorUpdate(up))]
    assert ms.executors[("fw1", "e1")].state is ExecutorState.RUNNING


def test_terminal_update_frees_the_executors_resources(ms):
    running_two_executors(ms)
    ms.on_framework_call("f2", m.Suppress(), 1.0)
    assert ms.allocate(1.5) == []  # (1 cpu, 1024) refused by fw1's Accept for 5 s
    done = update("u2", "e2", ExecutorState.FINISHED, exit_code=0)
    assert ms.on_agent_call("a1", m.AgentStatus(done), 2.0) == [Send("f1", m.ExecutorUpdate(done))]
    assert set(ms.executors) == {("fw1", "e1")}
    assert [e.executor_id for e in ms.completed_executors] == ["e2"]
    assert ms.allocate(6.0) == [Send("f1", offers_msg(("M-O2", "fw1", R(cpus=2, mem=3072))))]
    # the duplicate terminal update does not free the resources twice
    ms.on_agent_call("a1", m.AgentStatus(done), 6.0)
    assert ms.allocator.share("fw1") == 1.0


def test_ack_for_an_unknown_or_disconnected_agent_is_dropped(ms):
    assert ms.on_framework_call("f1", m.Acknowledge("nobody", "u1"), 1.0) == []
    ms.on_disconnected("a1", 1.0)
    assert ms.on_framework_call("f1", m.Acknowledge("ag1", "u1"), 1.0) == []


def test_update_for_a_removed_framework_is_acked_by_the_master(ms):
    running_two_executors(ms)
    ms.on_framework_call("f1", m.Teardown(), 2.0)
    killed = update("u3", "e1", ExecutorState.KILLED)
    assert ms.on_agent_call("a1", m.AgentStatus(killed), 3.0) == [Send("a1", m.StatusAcked("u3"))]


def test_update_for_a_disconnected_framework_waits_for_the_agents_resend(ms):
    subscribe(ms, "f3", "fw3", failover_timeout=60.0)
    up = update("u1", "e1", ExecutorState.RUNNING, fw="fw3")
    ms.on_disconnected("f3", 1.0)
    assert ms.on_agent_call("a1", m.AgentStatus(up), 2.0) == []
    subscribe(ms, "f3b", "fw3", now=3.0)
    assert ms.on_agent_call("a1", m.AgentStatus(up), 4.0) == [Send("f3b", m.ExecutorUpdate(up))]


def test_kill_executor_asks_its_agent_to_stop_it(ms):
    running_two_executors(ms)
    assert ms.on_framework_call("f1", m.KillExecutor("ag1", "e1"), 2.0) == [
        Send("a1", m.StopExecutor("fw1", "e1"))
    ]
    assert ms.on_framework_call("f1", m.KillExecutor("ag1", "nope"), 2.0) == []
    assert ms.on_framework_call("f2", m.KillExecutor("ag1", "e1"), 2.0) == []  # not fw2's


# --- agents going away ------------------------------------------------------------------------


def test_agent_disconnect_rescinds_offers_then_timeout_makes_executors_lost():
    ms = make_master(agent_reregister_timeout=10.0)
    register_agent(ms)
    subscribe(ms, "f1", "fw1")
    subscribe(ms, "f2", "fw2")
    running_two_executors(ms)
    ms.allocate(2.0)  # (1 cpu, 1024) to fw2 as M-O2

    assert ms.on_disconnected("a1", 5.0) == [Send("f2", m.Rescind("M-O2"))]
    assert ms.snapshot()["agents"][0]["state"] == "disconnected"
    assert ms.allocate(6.0) == []  # a disconnected agent is not offered
    assert ms.tick(14.9) == []

    effects = ms.tick(15.0)
    lost = sorted(
        (e for e in effects if isinstance(e.message, m.ExecutorUpdate)),
        key=lambda e: e.message.update.executor_id,
    )
    reason = "agent ag1 (host-a) was lost: did not re-register in time"
    assert lost == [
        Send(
            "f1",
            m.ExecutorUpdate(
                m.StatusUpdate("M-lost-ag1-e1", "ag1", "fw1", "e1", ExecutorState.LOST, reason)
            ),
        ),
        Send(
            "f1",
            m.ExecutorUpdate(
                m.StatusUpdate("M-lost-ag1-e2", "ag1", "fw1", "e2", ExecutorState.LOST, reason)
            ),
        ),
    ]
    assert effects[2:] == []  # frameworks hear of it in the next allocation cycle
    gone = m.ClusterDelta([], ["ag1"])
    assert ms.allocate(15.0) == [Send("f1", gone), Send("f2", gone)]
    assert ms.allocate(16.0) == []
    assert ms.agents == {}
    assert ms.executors == {}
    assert ms.frameworks["fw1"].executors == set()
    assert ms.allocator.total() == R()
    assert ms.allocator.share("fw1") == 0.0
    assert ms.tick(100.0) == []


def test_agent_back_in_time_keeps_its_executors():
    ms = make_master(agent_reregister_timeout=10.0)
    register_agent(ms)
    subscribe(ms, "f1", "fw1")
    running_two_executors(ms)
    ms.on_disconnected("a1", 5.0)
    records = [
        m.ExecutorRecord("fw1", "e1", R(cpus=2, mem=1024)),
        m.ExecutorRecord("fw1", "e2", R(cpus=1, mem=2048)),
    ]
    assert register_agent(ms, conn="a1b", now=8.0, executors=records) == [
        Send("a1b", m.AgentRegistered("ag1", "M")),
    ]  # the same agent with the same resources: frameworks need not hear of it
    assert ms.tick(20.0) == []
    assert set(ms.executors) == {("fw1", "e1"), ("fw1", "e2")}
    assert ms.allocator.share("fw1") == pytest.approx(0.75)
    assert ms.allocate(20.0) == [Send("f1", offers_msg(("M-O2", "fw1", R(cpus=1, mem=1024))))]
    assert ms.on_framework_call("f1", m.KillExecutor("ag1", "e1"), 21.0) == [
        Send("a1b", m.StopExecutor("fw1", "e1"))
    ]


def test_agent_re_registering_on_a_new_connection_closes_the_old_and_rescinds_offers(ms):
    ms.allocate(1.0)  # everything offered to fw1 as M-O1
    effects = register_agent(ms, conn="a1b", now=2.0)
    assert effects == [
        Close("a1", "agent re-registered elsewhere"),
        Send("f1", m.Rescind("M-O1")),
        Send("a1b", m.AgentRegistered("ag1", "M")),
    ]
    assert ms.offers == {}
    # the agent is offered once, not twice
    assert ms.allocate(2.0) == [Send("f1", offers_msg(("M-O2", "fw1", AGENT_RES)))]
    assert ms.allocate(2.0) == []
    # the old connection closing later changes nothing
    assert ms.on_disconnected("a1", 3.0) == []
    assert ms.agents["ag1"].conn == "a1b"


def test_master_failover_rebuilds_from_agents_and_frameworks():
    ms = make_master()
    records = [m.ExecutorRecord("fw1", "e1", R(cpus=3, mem=1024))]
    register_agent(ms, executors=records)
    assert ms.executors[("fw1", "e1")].state is ExecutorState.RUNNING
    subscribe(ms, "f2", "fw2")
    assert ms.allocate(0.0) == [Send("f2", offers_msg(("M-O1", "fw2", R(cpus=1, mem=3072))))]
    subscribe(ms, "f1", "fw1", now=1.0)
    assert ms.frameworks["fw1"].executors == {"e1"}
    assert ms.allocator.share("fw1") == pytest.approx(0.75)


# --- frameworks going away --------------------------------------------------------------------


def test_teardown_shuts_the_framework_down_on_its_agents(ms):
    running_two_executors(ms)
    assert ms.on_framework_call("f1", m.Teardown(), 2.0) == [
        Send("a1", m.ShutdownFramework("fw1")),
        Close("f1", "teardown"),
    ]
    assert set(ms.frameworks) == {"fw2"}
    assert ms.executors == {}
    assert ms.allocate(3.0) == [Send("f2", offers_msg(("M-O2", "fw2", AGENT_RES)))]
    assert ms.on_disconnected("f1", 3.0) == []
    assert ms.on_framework_call("f1", m.Revive(), 3.0) == [Close("f1", "Revive before Subscribe")]


def test_framework_without_failover_timeout_is_removed_on_disconnect(ms):
    running_two_executors(ms)
    ms.allocate(2.0)  # M-O2 to fw2
    assert ms.on_disconnected("f1", 3.0) == [Send("a1", m.ShutdownFramework("fw1"))]
    assert "fw1" not in ms.frameworks


def test_framework_failover_within_timeout_keeps_executors():
    ms = make_master()
    register_agent(ms)
    subscribe(ms, "f1", "fw1", failover_timeout=60.0)
    running_two_executors(ms)
    ms.allocate(10.0)  # the rest, refused by the Accept until 6.0, as M-O2
    assert ms.on_disconnected("f1", 10.0) == []
    assert ms.offers == {}
    assert ms.allocate(11.0) == []  # suppressed while away
    assert ms.tick(69.9) == []
    assert subscribe(ms, "f1b", "fw1", now=30.0) == [
        Send("f1b", m.Subscribed("fw1", "M")),
        Send("f1b", cluster(HOST_A)),
    ]
    assert ms.tick(100.0) == []
    assert ms.frameworks["fw1"].executors == {"e1", "e2"}
    assert ms.allocate(100.0) == [Send("f1b", offers_msg(("M-O3", "fw1", R(cpus=1, mem=1024))))]


def test_framework_past_failover_timeout_is_removed_in_tick():
    ms = make_master()
    register_agent(ms)
    subscribe(ms, "f1", "fw1", failover_timeout=60.0)
    running_two_executors(ms)
    ms.on_disconnected("f1", 10.0)
    assert ms.tick(69.9) == []
    assert ms.tick(70.0) == [Send("a1", m.ShutdownFramework("fw1"))]
    assert ms.frameworks == {}
    assert ms.executors == {}


def test_re_subscribing_on_a_new_connection_closes_the_old(ms):
    effects = subscribe(ms, "f1b", "fw1", now=1.0)
    assert effects[0] == Close("f1", "framework re-subscribed elsewhere")
    assert ms.on_framework_call("f1", m.Suppress(), 1.0) == [
        Close("f1", "Suppress before Subscribe")
    ]
    assert ms.on_disconnected("f1", 1.0) == []
    assert ms.allocate(1.0) == [Send("f1b", offers_msg(("M-O1", "fw1", AGENT_RES)))]


def test_subscribe_without_an_id_gets_a_new_one():
    ms = make_master()
    effects = ms.on_framework_call("f1", m.Subscribe("app", credential="mine"), 0.0)
    (fw_id,) = ms.frameworks
    assert fw_id.startswith("fw-")
    assert effects == [Send("f1", m.Subscribed(fw_id, "M")), Send("f1", cluster())]


# --- calls before registration ----------------------------------------------------------------


@pytest.mark.parametrize(
    "call",
    [
        m.Accept(["M-O1"], []),
        m.Decline(["M-O1"]),
        m.Suppress(),
        m.Revive(),
        m.KillExecutor("ag1", "e1"),
        m.Acknowledge("ag1", "u1"),
        m.Teardown(),
    ],
    ids=lambda c: type(c).__name__,
)
def test_framework_call_before_subscribe_closes_only_that_connection(ms, call):
    ms.allocate(1.0)
    before = ms.snapshot()
    assert ms.on_framework_call("x", call, 2.0) == [
        Close("x", f"{type(call).__name__} before Subscribe")
    ]
    assert ms.snapshot() == before


@pytest.mark.parametrize(
    "call",
    [m.Heartbeat(), m.AgentStatus(update("u1", "e1", ExecutorState.RUNNING))],
    ids=lambda c: type(c).__name__,
)
def test_agent_call_before_register_closes_only_that_connection(ms, call):
    before = ms.snapshot()
    assert ms.on_agent_call("y", call, 1.0) == [
        Close("y", f"{type(call).__name__} before RegisterAgent")
    ]
    assert ms.snapshot() == before
    assert ms.on_agent_call("a1", m.Heartbeat(), 1.0) == []


def test_framework_connection_cannot_speak_for_an_agent(ms):
    assert ms.on_agent_call("f1", m.Heartbeat(), 1.0) == [
        Close("f1", "Heartbeat before RegisterAgent")
    ]
    assert ms.on_framework_call("a1", m.Revive(), 1.0) == [Close("a1", "Revive before Subscribe")]


def test_unknown_connection_disconnecting_is_ignored(ms):
    assert ms.on_disconnected("nobody", 1.0) == []


# --- other policies ---------------------------------------------------------------------------


def test_master_works_with_the_random_allocator():
    ms = MasterState(allocator=RandomAllocator(seed=1), master_id="M")
    register_agent(ms)
    subscribe(ms, "f1", "fw1")
    assert ms.allocate(0.0) == [Send("f1", offers_msg(("M-O1", "fw1", AGENT_RES)))]


def test_agent_that_misses_heartbeats_is_removed_and_its_executors_lost():
    ms = make_master(agent_timeout=15.0)
    register_agent(ms, now=0.0)
    subscribe(ms, "f1", "fw1")
    ms.on_agent_call("a1", m.Heartbeat(), 10.0)
    assert ms.tick(24.9) == []  # last word at 10.0
    effects = ms.tick(25.0)
    assert "ag1" not in ms.agents
    assert Close("a1", "agent removed: missed its heartbeats") in effects


def test_busy_framework_is_asked_for_an_executor_when_another_starves():
    ms = make_master(reclaim=True, agent_reregister_timeout=0.5, reclaim_interval=1.0)
    register_agent(ms, res=Resources(cpus=4))
    subscribe(ms, "f1", "fw1")
    [offers] = ms.allocate(0.0)
    offer = offers.message.offers[0]
    launches = [
        m.ExecutorLaunch(f"e{i}", Resources(cpus=1), m.CommandInfo(["x"])) for i in range(4)
    ]
    ms.on_framework_call("f1", m.Accept([offer.offer_id], launches), 0.0)
    subscribe(ms, "f2", "fw2")  # wants resources, none are free
    assert ms.allocate(0.5) == []
    effects = ms.tick(1.0)  # it has wanted for reclaim_interval and launched nothing
    assert Send("f1", m.Reclaim(1, "another framework is below its fair share")) in effects
    assert ms.tick(1.5) == []  # asked already: left alone for reclaim_interval


def test_no_reclaim_while_agents_may_still_re_register():
    """After a failover the shares are those of the agents that came back first."""
    ms = make_master(reclaim=True, agent_reregister_timeout=10.0)
    records = [m.ExecutorRecord("fw1", f"e{i}", Resources(cpus=1)) for i in range(4)]
    register_agent(ms, res=Resources(cpus=4), executors=records)
    subscribe(ms, "f1", "fw1")
    subscribe(ms, "f2", "fw2")
    assert not [e for e in ms.tick(9.9) if isinstance(e.message, m.Reclaim)]
    assert Send("f1", m.Reclaim(1, "another framework is below its fair share")) in ms.tick(10.0)


def test_a_framework_that_launched_lately_is_not_starving():
    """Without an offer for a moment (filling up: its next offer is on the way) a framework
    that launched within ``reclaim_interval`` is not starving: nobody is asked to give back."""
    ms = make_master(reclaim=True, agent_reregister_timeout=0.5, reclaim_interval=5.0)
    records = [m.ExecutorRecord("fw1", f"e{i}", Resources(cpus=1)) for i in range(4)]
    register_agent(ms, res=Resources(cpus=4), executors=records)
    subscribe(ms, "f1", "fw1")
    ms.on_framework_call("f1", m.Suppress(), 0.0)
    subscribe(ms, "f2", "fw2")
    register_agent(ms, "a2", "ag2", "host-b", res=Resources(cpus=1), now=4.0)
    [offers] = [e for e in ms.allocate(4.0) if isinstance(e.message, m.Offers)]
    (offer,) = offers.message.offers
    launch = m.ExecutorLaunch("x1", Resources(cpus=1), m.CommandInfo(["x"]))
    ms.on_framework_call("f2", m.Accept([offer.offer_id], [launch]), 4.0)
    assert not [e for e in ms.tick(5.0) if isinstance(e.message, m.Reclaim)]
    assert not [e for e in ms.tick(8.9) if isinstance(e.message, m.Reclaim)]
    assert Send("f1", m.Reclaim(1, "another framework is below its fair share")) in ms.tick(9.0)


def test_an_agent_that_unregisters_is_removed_at_once():
    ms = make_master()
    register_agent(ms)
    subscribe(ms, "f1", "fw1")
    ms.allocate(0.0)
    effects = ms.on_agent_call("a1", m.Unregister("the agent is stopping"), 1.0)
    assert "ag1" not in ms.agents
    assert Close("a1", "agent removed: the agent is stopping") in effects
    # nothing of it is offered any more; the framework hears it is gone
    assert ms.allocate(2.0) == [Send("f1", m.ClusterDelta([], ["ag1"]))]


# --- reconciliation -------------------------------------------------------------------------
def ref(eid: str, agent: str = "ag1") -> m.ExecutorRef:
    return m.ExecutorRef(agent, eid)


def lost_answer(eid: str, why: str, agent: str = "ag1") -> m.ExecutorUpdate:
    return m.ExecutorUpdate(
        m.StatusUpdate("", agent, "fw1", eid, ExecutorState.LOST, f"reconciliation: {why}")
    )


def test_reconcile_answers_lost_for_executors_no_agent_runs(ms):
    running_two_executors(ms)
    effects = ms.on_framework_call(
        "f1", m.Reconcile([ref("e1"), ref("e2"), ref("ghost"), ref("x", "gone-agent")]), 20.0
    )
    assert effects == [
        Send("f1", lost_answer("ghost", "its agent does not run it")),
        Send("f1", lost_answer("x", "agent gone-agent is gone", agent="gone-agent")),
    ]


def test_reconcile_stops_executors_the_framework_does_not_know(ms):
    running_two_executors(ms)
    effects = ms.on_framework_call("f1", m.Reconcile([ref("e1")]), 20.0)
    assert effects == [Send("a1", m.StopExecutor("fw1", "e2"))]
    # another framework's reconciliation never touches fw1's executors
    assert ms.on_framework_call("f2", m.Reconcile([]), 20.0) == []


def test_reconcile_after_failover_waits_for_agents_to_re_register():
    """A new master: the framework is back before its agents. Queries about executors of agents
    not yet registered wait; a re-registering agent answers them, a missing one expires them."""
    ms = make_master(agent_reregister_timeout=10.0)
    ms.started_at = 100.0
    subscribe(ms, "f1", "fw1", now=100.5)
    calls = m.Reconcile([ref("e1"), ref("launch-lost"), ref("e9", "ag2")])
    assert ms.on_framework_call("f1", calls, 101.0) == []
    record = m.ExecutorRecord("fw1", "e1", R(cpus=1, mem=512))
    effects = register_agent(ms, now=102.0, executors=[record])
    assert Send("f1", lost_answer("launch-lost", "its agent does not run it")) in effects
    assert not [
        e
        for e in effects
        if isinstance(e.message, m.ExecutorUpdate) and e.message.update.executor_id == "e1"
    ]
    assert not [
        e for e in ms.tick(109.0) if isinstance(getattr(e, "message", None), m.ExecutorUpdate)
    ]
    expired = [
        e for e in ms.tick(110.0) if isinstance(getattr(e, "message", None), m.ExecutorUpdate)
    ]
    assert expired == [Send("f1", lost_answer("e9", "agent ag2 did not re-register", agent="ag2"))]
    assert ms.tick(111.0) == []  # answered once


def test_reconcile_long_after_start_answers_at_once():
    ms = make_master(agent_reregister_timeout=10.0)
    subscribe(ms, "f1", "fw1", now=0.0)
    effects = ms.on_framework_call("f1", m.Reconcile([ref("e9", "ag2")]), 50.0)
    assert effects == [Send("f1", lost_answer("e9", "agent ag2 is gone", agent="ag2"))]


def test_reconcile_answers_are_dropped_for_a_framework_that_left():
    ms = make_master(agent_reregister_timeout=10.0)
    subscribe(ms, "f1", "fw1", now=0.0, failover_timeout=60.0)
    ms.on_framework_call("f1", m.Reconcile([ref("e9", "ag2")]), 1.0)
    ms.on_disconnected("f1", 2.0)
    assert [e for e in ms.tick(11.0) if isinstance(e, Send)] == []


def test_an_agent_re_registering_after_reconciliation_has_orphans_stopped():
    ms = make_master(agent_reregister_timeout=10.0)
    subscribe(ms, "f1", "fw1", now=0.0)
    ms.on_framework_call("f1", m.Reconcile([ref("e1")]), 1.0)
    records = [
        m.ExecutorRecord("fw1", "e1", R(cpus=1, mem=512)),
        m.ExecutorRecord("fw1", "orphan", R(cpus=1, mem=512)),
    ]
    effects = register_agent(ms, now=2.0, executors=records)
    assert effects.index(Send("a1", m.StopExecutor("fw1", "orphan"))) > effects.index(
        Send("a1", m.AgentRegistered("ag1", "M"))
    )
    assert Send("a1", m.StopExecutor("fw1", "e1")) not in effects
    # executors launched after reconciling are held too: re-registering again stops nothing new
    ms.allocate(3.0)
    offer = next(iter(ms.frameworks["fw1"].offers))
    ms.on_framework_call("f1", m.Accept([offer], [launch("e2", cpus=1, mem=512)]), 3.0)
    records.append(m.ExecutorRecord("fw1", "e2", R(cpus=1, mem=512)))
    again = register_agent(ms, conn="a1b", now=4.0, executors=records)
    stops = [
        e.message.executor_id
        for e in again
        if isinstance(getattr(e, "message", None), m.StopExecutor)
    ]
    assert stops == ["orphan"]


def stops_in(effects) -> list[str]:
    return [e.message.executor_id for e in effects if isinstance(e.message, m.StopExecutor)]


def test_an_executor_of_an_absent_framework_is_no_orphan_when_its_agent_returns():
    """Agent and framework both cut off from the master (but not from each other): the master
    removes the agent; the framework never hears of it and still holds the executor."""
    ms = make_master(agent_reregister_timeout=10.0, agent_timeout=5.0)
    subscribe(ms, "f1", "fw1", now=0.0, failover_timeout=60.0)
    ms.on_framework_call("f1", m.Reconcile([ref("e1")]), 0.0)
    register_agent(ms, now=0.0, executors=[m.ExecutorRecord("fw1", "e1", R(cpus=1, mem=512))])
    ms.on_disconnected("f1", 1.0)
    ms.tick(20.0)  # the agent missed its heartbeats: removed, e1 LOST (nobody to tell)
    assert ms.agents == {}
    again = register_agent(
        ms, conn="a1b", now=21.0, executors=[m.ExecutorRecord("fw1", "e1", R(cpus=1, mem=512))]
    )
    assert stops_in(again) == []


def test_an_executor_reported_lost_by_reconciliation_is_stopped_if_it_comes_back():
    ms = make_master(agent_reregister_timeout=10.0)
    subscribe(ms, "f1", "fw1", now=0.0)
    answer = ms.on_framework_call("f1", m.Reconcile([ref("e1", "ag9")]), 20.0)
    assert answer == [Send("f1", lost_answer("e1", "agent ag9 is gone", agent="ag9"))]
    back = register_agent(
        ms, agent_id="ag9", now=21.0, executors=[m.ExecutorRecord("fw1", "e1", R(cpus=1))]
    )
    assert stops_in(back) == ["e1"]  # the framework dropped it on the LOST answer


# --- cluster notices and indexes at scale -----------------------------------------------------


def summary(agent_id: str, host: str = "h", res: Resources = AGENT_RES) -> m.AgentSummary:
    return m.AgentSummary(agent_id, host, res)


def test_frameworks_hear_of_agents_as_one_delta_per_cycle():
    ms = make_master()
    subscribe(ms, "f1", "fw1")
    ms.on_framework_call("f1", m.Suppress(), 0.0)
    for i in range(3):
        assert register_agent(ms, f"a{i}", f"ag{i}", "h", now=1.0) == [
            Send(f"a{i}", m.AgentRegistered(f"ag{i}", "M"))
        ]
    delta = m.ClusterDelta([summary("ag0"), summary("ag1"), summary("ag2")], [])
    assert ms.allocate(1.0) == [Send("f1", delta)]
    # a framework subscribing mid-cycle gets the full list, then only later changes
    ms.on_agent_call("a1", m.Unregister(), 2.0)
    assert subscribe(ms, "f2", "fw2", now=2.0)[1] == Send(
        "f2", m.ClusterChanged([summary("ag0"), summary("ag2")])
    )
    ms.on_framework_call("f2", m.Suppress(), 2.0)
    register_agent(ms, "a3", "ag3", "h", res=R(cpus=1), now=2.0)
    register_agent(ms, "a0b", "ag0", "h", res=R(cpus=8), now=2.0)  # re-registers, bigger
    assert ms.allocate(2.0) == [
        Send(
            "f1",
            m.ClusterDelta([summary("ag3", res=R(cpus=1)), summary("ag0", res=R(cpus=8))], ["ag1"]),
        ),
        Send(
            "f2", m.ClusterDelta([summary("ag3", res=R(cpus=1)), summary("ag0", res=R(cpus=8))], [])
        ),
    ]
    assert ms.allocate(3.0) == []


def test_a_disconnected_agent_is_not_offered_until_it_returns(ms):
    ms.on_disconnected("a1", 1.0)
    assert ms.allocate(1.0) == []
    assert ms.allocate(2.0) == []
    register_agent(ms, conn="a1b", now=3.0)
    assert ms.allocate(3.0) == [Send("f1", offers_msg(("M-O1", "fw1", AGENT_RES)))]


def test_an_executor_reported_by_a_second_agent_moves_there():
    ms = make_master()
    subscribe(ms, "f1", "fw1")
    ms.on_framework_call("f1", m.Suppress(), 0.0)
    rec = [m.ExecutorRecord("fw1", "e1", R(cpus=1))]
    register_agent(ms, "a1", "ag1", executors=rec)
    register_agent(ms, "a2", "ag2", host="host-b", executors=rec)
    assert ms.executors[("fw1", "e1")].agent_id == "ag2"
    assert ms.agents["ag1"].used == R() and ms.agents["ag2"].used == R(cpus=1)
    assert ms.allocator.allocation("fw1") == R(cpus=1)


def test_heartbeat_timeouts_find_only_the_silent_agents():
    ms = make_master(agent_timeout=15.0)
    subscribe(ms, "f1", "fw1")
    for i in range(5):
        register_agent(ms, f"a{i}", f"ag{i}", now=0.0)
    for i in (0, 2, 3):
        ms.on_agent_call(f"a{i}", m.Heartbeat(), 10.0)
    effects = ms.tick(15.0)
    assert [e for e in effects if isinstance(e, Close)] == [
        Close("a1", "agent removed: missed its heartbeats"),
        Close("a4", "agent removed: missed its heartbeats"),
    ]
    assert sorted(ms.agents) == ["ag0", "ag2", "ag3"]
    assert ms.tick(24.9) == []
    assert len([e for e in ms.tick(25.0) if isinstance(e, Close)]) == 3


def test_a_thousand_agents_with_executors_keep_every_index_consistent():
    ms = MasterState(config=MasterConfig(reclaim=False, agent_timeout=1e9), master_id="M")
    for j in range(4):
        subscribe(ms, f"f{j}", f"fw{j}")
    for i in range(1000):
        recs = [m.ExecutorRecord(f"fw{(i + k) % 5}", f"e{i}-{k}", R(cpus=1)) for k in range(3)]
        register_agent(ms, f"a{i}", f"ag{i}", res=R(cpus=4, mem=100), executors=recs)
    effects = ms.allocate(1.0)
    offered = [o for e in effects if isinstance(e.message, m.Offers) for o in e.message.offers]
    assert len(offered) == 1000
    ms.validate()
    # fw4 is not subscribed: its executors wait for it
    subscribe(ms, "f4", "fw4", now=2.0)
    assert len(ms.frameworks["fw4"].executors) == 600
    ms.on_framework_call("f1", m.Teardown(), 3.0)
    for i in range(0, 1000, 7):
        ms.on_disconnected(f"a{i}", 4.0)
    ms.validate()
    assert ms.used_total == R(cpus=3000 - 600)  # fw1's 600 executors are gone
    ms.tick(20.0)  # the disconnected ones did not come back
    ms.validate()
    assert len(ms.agents) == 1000 - 143


def test_a_kill_before_its_agent_re_registers_stops_the_executor_when_it_does():
    """A new master: the framework comes back first, reconciles, and sends the kill it decided
    while the master was away (issue 9, point 6). The agent re-registers afterwards with the
    executor: it is stopped, not kept."""
    ms = make_master(agent_reregister_timeout=10.0)
    ms.started_at = 100.0
    subscribe(ms, "f1", "fw1", now=100.5, failover_timeout=60.0)
    assert ms.on_framework_call("f1", m.Reconcile([ref("idle"), ref("busy")]), 101.0) == []
    assert ms.on_framework_call("f1", m.KillExecutor("ag1", "idle"), 101.0) == []
    records = [
        m.ExecutorRecord("fw1", "idle", R(cpus=1, mem=512)),
        m.ExecutorRecord("fw1", "busy", R(cpus=1, mem=512)),
    ]
    effects = register_agent(ms, now=102.0, executors=records)
    assert stops_in([e for e in effects if isinstance(e, Send)]) == ["idle"]


def test_a_kill_while_its_agent_is_disconnected_stops_the_executor_when_it_returns(ms):
    running_two_executors(ms)
    ms.on_framework_call("f1", m.Reconcile([ref("e1"), ref("e2")]), 2.0)
    ms.on_disconnected("a1", 3.0)
    assert ms.on_framework_call("f1", m.KillExecutor("ag1", "e1"), 4.0) == []
    records = [
        m.ExecutorRecord("fw1", "e1", R(cpus=2, mem=1024)),
        m.ExecutorRecord("fw1", "e2", R(cpus=1, mem=2048)),
    ]
    effects = register_agent(ms, conn="a1b", now=5.0, executors=records)
    assert stops_in([e for e in effects if isinstance(e, Send)]) == ["e1"]


# --- GPUs (Mesos's --filter_gpu_resources) -----------------------------------------------------


def offered_to(effects) -> list[tuple[str, str]]:
    return [
        (e.conn, o.agent_id)
        for e in effects
        if isinstance(e, Send) and isinstance(e.message, m.Offers)
        for o in e.message.offers
    ]


def test_gpu_agents_are_offered_only_to_frameworks_that_use_gpus():
    ms = make_master()
    register_agent(ms, "a1", "ag-gpu", res=Resources(cpus=4, mem=4096, gpus=2))
    subscribe(ms, "f1", "fw1")
    assert offered_to(ms.allocate(1.0)) == []
    ms.on_framework_call("f1", m.UpdateFramework([m.GPU_RESOURCES]), 2.0)
    assert offered_to(ms.allocate(2.0)) == [("f1", "ag-gpu")]
    # a framework that subscribes with the capability is offered them at once
    ms2 = make_master()
    register_agent(ms2, "a1", "ag-gpu", res=Resources(cpus=4, gpus=1))
    subscribe(ms2, "f1", "fw1", capabilities=[m.GPU_RESOURCES])
    assert offered_to(ms2.allocate(1.0)) == [("f1", "ag-gpu")]


def test_without_the_filter_gpu_agents_go_to_anyone():
    ms = make_master(filter_gpu_resources=False)
    register_agent(ms, "a1", "ag-gpu", res=Resources(cpus=4, gpus=2))
    subscribe(ms, "f1", "fw1")
    assert offered_to(ms.allocate(1.0)) == [("f1", "ag-gpu")]


def test_a_framework_churning_short_tasks_below_its_share_is_starving():
    """A framework that only ever replaces its own short tasks in the one CPU it has launches
    all the time but never grows: it starves below its share as surely as one that launches
    nothing (a pymesos framework beside a busy program stayed at 1 of 4 CPUs for good)."""
    ms = make_master(reclaim=True, agent_reregister_timeout=0.5, reclaim_interval=1.0)
    register_agent(ms, res=Resources(cpus=4))
    subscribe(ms, "f1", "fw1")
    subscribe(ms, "f2", "fw2")
    records = {"fw1": [f"a{i}" for i in range(3)], "fw2": ["b0"]}
    for fw_id, conn in (("fw1", "f1"), ("fw2", "f2")):
        for offers in [e for e in ms.allocate(0.0) if isinstance(e.message, m.Offers)]:
            for offer in offers.message.offers:
                if offer.framework_id == fw_id:
                    eids = records[fw_id]
                    launches = [launch(eid, cpus=1) for eid in eids]
                    ms.on_framework_call(conn, m.Accept([offer.offer_id], launches), 0.0)
    assert ms.used_by("fw1") == Resources(cpus=3) and ms.used_by("fw2") == Resources(cpus=1)
    now, n, reclaims = 0.0, 0, []
    while now < 3.0 and not reclaims:  # fw2's task ends every 0.25 s and it launches another
        now += 0.25
        done = update(f"u{n}", f"b{n}", ExecutorState.FINISHED, fw="fw2", exit_code=0)
        ms.on_agent_call("a1", m.AgentStatus(done), now)
        n += 1
        for offers in [e for e in ms.allocate(now) if isinstance(e.message, m.Offers)]:
            (offer,) = offers.message.offers
            assert offer.framework_id == "fw2"  # the lowest share is offered what fw2 freed
            ms.on_framework_call("f2", m.Accept([offer.offer_id], [launch(f"b{n}", cpus=1)]), now)
        reclaims = [e for e in ms.tick(now) if isinstance(e.message, m.Reclaim)]
        ms.validate()
    assert reclaims == [Send("f1", m.Reclaim(1, "another framework is below its fair share"))]
    assert 1.0 <= now <= 1.5  # after reclaim_interval without growing, not before


# --- offers of an agent's spare memory do not rank their holder last ----------------------------


def test_an_offer_of_the_agents_spare_memory_does_not_give_the_holders_freed_cpu_away(ms):
    """fw1 runs 2 one-CPU tasks, fw2 two one-CPU executors; fw1 holds (slow to answer) the
    offer of the agent's spare memory, which no task of either can use alone. One of fw1's
    tasks ends: its CPU goes back to fw1 (1 CPU used, below fw2's 2), not to fw2. Counted as
    fw1's share, that offer of nearly all the agent's memory would rank fw1 last for every
    CPU freed on the agent, and the framework holding executors would take them all."""
    ms.allocate(0.0)  # M-O1: the whole agent to fw1
    tasks = [launch("t1", cpus=1, mem=32), launch("t2", cpus=1, mem=32)]
    ms.on_framework_call("f1", m.Accept(["M-O1"], tasks, refuse_seconds=0.0), 0.0)
    assert ms.allocate(0.1) == [Send("f2", offers_msg(("M-O2", "fw2", R(cpus=2, mem=4032))))]
    execs = [launch("x1", cpus=1), launch("x2", cpus=1)]
    ms.on_framework_call("f2", m.Accept(["M-O2"], execs, refuse_seconds=1.0), 0.1)
    assert ms.allocate(0.2) == [Send("f1", offers_msg(("M-O3", "fw1", R(mem=4032))))]
    done = update("u1", "t1", ExecutorState.FINISHED, exit_code=0)
    ms.on_agent_call("a1", m.AgentStatus(done), 0.5)
    assert ms.allocate(0.5) == [Send("f1", offers_msg(("M-O4", "fw1", R(cpus=1, mem=32))))]


def test_a_framework_holding_only_an_offer_of_spare_memory_is_starving():
    """fw1's executors hold every CPU; fw2 wants some and holds, whenever it is looked at, the
    offer of the agent's spare memory (offered round again after each decline): it is starving
    all the same, and fw1 is asked for an executor back."""
    ms = make_master(reclaim=True, agent_reregister_timeout=0.5, reclaim_interval=1.0)
    register_agent(ms)
    subscribe(ms, "f1", "fw1")
    ms.allocate(0.0)
    execs = [launch(f"e{i}", cpus=1) for i in range(4)]
    ms.on_framework_call("f1", m.Accept(["M-O1"], execs, refuse_seconds=0.0), 0.0)
    subscribe(ms, "f2", "fw2")
    assert ms.allocate(0.5) == [Send("f2", offers_msg(("M-O2", "fw2", R(mem=4096))))]
    effects = ms.tick(1.0)
    assert Send("f1", m.Reclaim(1, "another framework is below its fair share")) in effects
