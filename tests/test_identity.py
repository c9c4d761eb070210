"""Framework and agent credentials (issue 9, point 1): the identity core's transitions, and
the master core refusing a connection that has not proved the framework or agent it claims to
be, also after a failover (digests learnt from agents)."""

from __future__ import annotations

import pytest

from pymesos_rt.master.identity import Accepted, Identities, Refused, Trust, digest
from pymesos_rt.master.records import Close, MasterConfig, Send
from pymesos_rt.master.state import MasterState
from pymesos_rt.protocol import messages as m
from pymesos_rt.protocol.resources import Resources
from pymesos_rt.protocol.states import ExecutorState

R = Resources
CMD = m.CommandInfo(["sleep", "600"])
A, B = "credential-of-the-owner", "credential-of-someone-else"


# --- the identity core ------------------------------------------------------------------------
def test_a_new_framework_owns_its_id_and_only_its_credential_re_subscribes():
    ids = Identities()
    assert ids.subscribe("fw1", A, new=True) == Accepted()
    assert ids.frameworks["fw1"].trust is Trust.OWNED
    assert ids.frameworks["fw1"].digest == digest(A) != A  # only the digest is kept
    assert ids.subscribe("fw1", A, new=False) == Accepted()
    assert isinstance(ids.subscribe("fw1", B, new=False), Refused)
    assert isinstance(ids.subscribe("fw1", "", new=False), Refused)
    ids.validate({"fw1"}, set())


def test_a_framework_presenting_no_credential_is_issued_one():
    ids = Identities()
    verdict = ids.subscribe("fw1", "", new=True)
    assert isinstance(verdict, Accepted) and len(verdict.issued) >= 32
    assert ids.subscribe("fw1", verdict.issued, new=False) == Accepted()


def test_after_failover_agents_vouch_for_the_owner():
    ids = Identities()
    assert ids.vouch("fw1", digest(A)).evict is False
    assert ids.frameworks["fw1"].trust is Trust.VOUCHED
    ids.validate(set(), set())
    assert isinstance(ids.subscribe("fw1", B, new=False), Refused)
    assert ids.frameworks["fw1"].trust is Trust.VOUCHED  # a refusal changes nothing
    assert ids.subscribe("fw1", A, new=False) == Accepted()
    assert ids.frameworks["fw1"].trust is Trust.OWNED


def test_a_claim_is_confirmed_or_evicted_by_what_agents_report():
    ids = Identities()
    ids.subscribe("fw1", A, new=False)
    assert ids.frameworks["fw1"].trust is Trust.CLAIMED
    assert ids.vouch("fw1", digest(A)).evict is False
    assert ids.frameworks["fw1"].trust is Trust.OWNED
    ids.subscribe("fw2", B, new=False)
    assert ids.vouch("fw2", digest(A)).evict is True
    assert ids.vouch("fw1", digest(B)).stop is True  # an owner's executor of another digest
    assert ids.vouch("fw1", "").evict is False  # no digest reported: nothing learnt


def test_agents_keep_their_id_against_other_credentials():
    ids = Identities()
    assert ids.register_agent("ag1", A) == Accepted()
    assert ids.register_agent("ag1", A) == Accepted()
    assert isinstance(ids.register_agent("ag1", B), Refused)
    ids.forget_agent("ag1")  # removed for good: the id is free again
    assert ids.register_agent("ag1", B) == Accepted()


# --- the master core --------------------------------------------------------------------------
def make_master(**config) -> MasterState:
    config.setdefault("agent_timeout", 1e9)
    config.setdefault("reclaim", False)
    return MasterState(config=MasterConfig(**config), master_id="M")


def subscribe(ms, conn, fw_id, credential, now=0.0):
    call = m.Subscribe(f"app-{fw_id}", "*", fw_id, 60.0, credential)
    effects = ms.on_framework_call(conn, call, now)
    ms.validate()
    return effects


def register(ms, conn, agent_id, credential, executors=(), now=0.0):
    call = m.RegisterAgent(
        "host", R(cpus=4, mem=4096), agent_id, list(executors), "none", credential=credential
    )
    effects = ms.on_agent_call(conn, call, now)
    ms.validate()
    return effects


def refused(effects, conn) -> bool:
    return any(isinstance(e, Close) and e.conn == conn for e in effects) and any(
        isinstance(e, Send) and e.conn == conn and isinstance(e.message, m.Error) for e in effects
    )


def running_executor(ms) -> None:
    """fw1 (credential A, on conn f1) runs e1 on ag1."""
    register(ms, "a1", "ag1", "agent-credential")
    subscribe(ms, "f1", "fw1", A)
    offer = next(e for e in ms.allocate(1.0) if isinstance(e.message, m.Offers))
    offer_id = offer.message.offers[0].offer_id
    launch = m.ExecutorLaunch("e1", R(cpus=1, mem=256), CMD)
    effects = ms.on_framework_call("f1", m.Accept([offer_id], [launch]), 1.0)
    assert Send("a1", m.LaunchExecutor("fw1", launch, digest(A))) in effects


def test_another_connection_cannot_take_a_framework_over():
    ms = make_master()
    running_executor(ms)
    effects = subscribe(ms, "evil", "fw1", B, now=2.0)
    assert refused(effects, "evil")
    assert not any(isinstance(e, Close) and e.conn == "f1" for e in effects)
    assert ms.frameworks["fw1"].conn == "f1"
    # nor can it tear the framework down or kill its executors: it never subscribed
    for call in (m.Teardown(), m.KillExecutor("ag1", "e1")):
        assert ms.on_framework_call("evil", call, 3.0) == [
            Close("evil", f"{type(call).__name__} before Subscribe")
        ]
    assert ("fw1", "e1") in ms.executors and "fw1" in ms.frameworks
    # the owner re-subscribes from a new connection with its credential
    again = subscribe(ms, "f1b", "fw1", A, now=4.0)
    assert Close("f1", "framework re-subscribed elsewhere") in again


def test_a_framework_id_alone_does_not_subscribe():
    ms = make_master()
    running_executor(ms)
    assert refused(subscribe(ms, "evil", "fw1", "", now=2.0), "evil")


def record(eid: str, credential: str, fw: str = "fw1") -> m.ExecutorRecord:
    return m.ExecutorRecord(fw, eid, R(cpus=1, mem=256), digest(credential) if credential else "")


def test_a_new_master_checks_re_subscriptions_against_what_agents_report():
    ms = make_master()  # a new leader: it knows nothing yet
    register(ms, "a1", "ag1", "agent-credential", [record("e1", A)])
    assert refused(subscribe(ms, "evil", "fw1", B, now=1.0), "evil")
    assert "fw1" not in ms.frameworks
    effects = subscribe(ms, "f1", "fw1", A, now=2.0)
    assert Send("f1", m.Subscribed("fw1", "M")) in effects
    assert ms.frameworks["fw1"].executors == {"e1"}


def test_a_claimant_is_evicted_when_an_agent_vouches_for_the_owner():
    """A new leader hears from the impostor first: it claims the id (nothing to check
    against) and launches an executor; then the agent running the owner's executor comes
    back. The impostor is closed and what it launched is stopped; the owner subscribes."""
    ms = make_master()
    register(ms, "a2", "ag2", "agent-2")
    assert not refused(subscribe(ms, "evil", "fw1", B, now=1.0), "evil")
    offer = next(e for e in ms.allocate(1.0) if isinstance(e.message, m.Offers))
    launch = m.ExecutorLaunch("bad", R(cpus=1, mem=256), CMD)
    ms.on_framework_call("evil", m.Accept([offer.message.offers[0].offer_id], [launch]), 1.0)
    effects = register(ms, "a1", "ag1", "agent-1", [record("e1", A)], now=2.0)
    assert refused(effects, "evil")
    assert Send("a2", m.ShutdownFramework("fw1")) in effects  # stops "bad"
    assert "fw1" not in ms.frameworks and ("fw1", "e1") in ms.executors
    assert ms.frameworks.get("fw1") is None
    back = subscribe(ms, "f1", "fw1", A, now=3.0)
    assert Send("f1", m.Subscribed("fw1", "M")) in back
    assert ms.frameworks["fw1"].executors == {"e1"}


def test_an_executor_launched_under_another_digest_is_stopped():
    ms = make_master()
    subscribe(ms, "f1", "fw1", A)
    effects = register(ms, "a1", "ag1", "agent-1", [record("e1", A), record("forged", B)])
    stops = [
        e.message for e in effects if isinstance(e, Send) and isinstance(e.message, m.StopExecutor)
    ]
    assert stops == [m.StopExecutor("fw1", "forged")]


def test_another_connection_cannot_take_an_agent_id_over():
    ms = make_master()
    running_executor(ms)
    effects = register(ms, "evil", "ag1", "not-the-agent", now=2.0)
    assert effects == [Close("evil", effects[0].reason)] and "ag1" in effects[0].reason
    assert ms.agents["ag1"].conn == "a1" and ("fw1", "e1") in ms.executors
    back = register(ms, "a1b", "ag1", "agent-credential", [record("e1", A)], now=3.0)
    assert Send("a1b", m.AgentRegistered("ag1", "M")) in back


def test_an_agent_presenting_no_credential_is_issued_one():
    ms = make_master()
    (registered,) = [e for e in register(ms, "a1", None, "") if isinstance(e, Send)]
    issued = registered.message.credential
    assert issued and registered.message.agent_id in ms.agents
    agent_id = registered.message.agent_id
    again = register(ms, "a1b", agent_id, issued, now=1.0)
    assert Send("a1b", m.AgentRegistered(agent_id, "M")) in again


def test_removal_forgets_identities():
    ms = make_master(agent_reregister_timeout=5.0)
    running_executor(ms)
    ms.on_framework_call("f1", m.Teardown(), 2.0)
    ms.validate()
    assert "fw1" not in ms.identity.frameworks
    ms.on_disconnected("a1", 3.0)
    ms.tick(9.0)
    ms.validate()
    assert "ag1" not in ms.identity.agents


@pytest.mark.parametrize("state", [ExecutorState.RUNNING])
def test_status_updates_keep_flowing_for_the_owner(state):
    ms = make_master()
    running_executor(ms)
    update = m.StatusUpdate("u1", "ag1", "fw1", "e1", state)
    assert ms.on_agent_call("a1", m.AgentStatus(update), 2.0) == [
        Send("f1", m.ExecutorUpdate(update))
    ]
