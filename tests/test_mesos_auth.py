"""Mesos frameworks' identity (issue 13, authentication): HTTP Basic principal and secret are
the framework's credential (identity.py, kind MESOS), checked on SUBSCRIBE and on every call,
kept across a master failover through the digests agents report, and neither a program of ours
nor another Mesos framework takes a Mesos framework's id (nor a Mesos framework a program's).
Cores only: MasterState, MesosMaster, MesosAuthenticator; validate() after every step."""

from __future__ import annotations

import base64
import re

import pytest

from pymesos_rt.master.identity import (
    ANONYMOUS_MESOS,
    Kind,
    Trust,
    digest,
    mesos_credential,
    mesos_secret,
    mesos_secret_valid,
)
from pymesos_rt.master.mesos_auth import (
    ANONYMOUS,
    Authenticated,
    MesosAuthenticator,
    Refusal,
)
from pymesos_rt.master.mesos_core import MesosMaster, Subscription
from pymesos_rt.master.records import Close, MasterConfig, Send
from pymesos_rt.master.state import MasterState
from pymesos_rt.protocol import mesos as ms
from pymesos_rt.protocol import mesos_calls as mc
from pymesos_rt.protocol import messages as m
from pymesos_rt.protocol.resources import Resources

CLUSTER = "the-cluster-secret"
ALICE = mesos_secret(CLUSTER, "alice")  # the framework's own secret
ALICE_2 = mesos_secret(CLUSTER, "alice")  # another secret of the same principal
MALLORY = mesos_secret(CLUSTER, "mallory")


def basic(principal: str, secret: str) -> str:
    return "Basic " + base64.b64encode(f"{principal}:{secret}".encode()).decode()


# --- secrets and authentication ---------------------------------------------------------------
def test_a_mesos_framework_secret_is_bound_to_its_principal_and_the_cluster_secret():
    assert ALICE != ALICE_2  # random: another holder of the cluster secret cannot remake it
    assert mesos_secret_valid(CLUSTER, "alice", ALICE)
    assert mesos_secret_valid(CLUSTER, "alice", ALICE_2)
    assert not mesos_secret_valid(CLUSTER, "mallory", ALICE)
    assert not mesos_secret_valid("another-cluster", "alice", ALICE)
    nonce, _, mac = ALICE.rpartition(".")
    assert not mesos_secret_valid(CLUSTER, "alice", f"{nonce}x.{mac}")
    assert not mesos_secret_valid(CLUSTER, "alice", CLUSTER)
    assert ALICE.isascii() and ":" not in ALICE  # pymesos sends principal:secret as ASCII
    # hex and a dot only: an argument that no command line takes for an option (a secret
    # starting with "-" made `--secret VALUE` fail, 1 run in 64)
    made = [mesos_secret(CLUSTER, "alice") for _ in range(200)]
    assert all(re.fullmatch(r"[0-9a-f]{48}\.[0-9a-f]{64}", s) for s in made), made[:3]
    for bad in ("", "a:b", "tab\there", "é"):
        with pytest.raises(ValueError, match="principal"):
            mesos_secret(CLUSTER, bad)


def test_with_a_cluster_secret_only_a_framework_secret_authenticates():
    auth = MesosAuthenticator(CLUSTER)
    ok = auth.authenticate(basic("alice", ALICE))
    assert ok == Authenticated("alice", mesos_credential("alice", ALICE))
    assert ALICE not in repr(ok)  # never logged
    refusals = {
        None: "authentication required",
        basic("alice", CLUSTER): "the cluster secret is not a framework secret",
        basic("alice", "guess"): "wrong secret for principal 'alice'",
        basic("mallory", ALICE): "wrong secret for principal 'mallory'",
        basic("", ALICE): "principal is empty",
        "Bearer abc": "only HTTP Basic",
        "Basic !!!": "malformed Basic credentials",
        "Basic " + base64.b64encode(b"no-colon").decode(): "malformed Basic credentials",
    }
    for header, why in refusals.items():
        refusal = auth.authenticate(header)
        assert isinstance(refusal, Refusal) and refusal.status == 401, header
        assert why in refusal.reason, (header, refusal.reason)


def test_without_a_cluster_secret_basic_is_optional_and_still_names_the_credential():
    auth = MesosAuthenticator(None)
    assert auth.authenticate(None) == ANONYMOUS
    assert ANONYMOUS.credential == ANONYMOUS_MESOS
    assert auth.authenticate(basic("alice", "anything")) == Authenticated(
        "alice", mesos_credential("alice", "anything")
    )


# --- the Mesos core ---------------------------------------------------------------------------
AGENT = "agent-conn"
R = Resources


def subscribe_call(fw_id: str | None = None, principal: str | None = None) -> mc.Subscribe:
    info = ms.FrameworkInfo(name="fw", user="u", principal=principal, failover_timeout=60.0)
    return mc.Subscribe(
        framework_id=ms.Id(value=fw_id) if fw_id else None,
        subscribe=mc.SubscribeBody(framework_info=info),
    )


def command_task(task_id: str) -> ms.TaskInfo:
    return ms.TaskInfo(
        name=task_id,
        task_id=ms.Id(value=task_id),
        command=ms.CommandInfo(value="sleep 60"),
        resources=ms.to_mesos_resources(R(cpus=1, mem=64)),
    )


class Master:
    """A master (MasterState + MesosMaster with the cluster secret) and one agent."""

    def __init__(self, agent_executors: tuple[m.ExecutorRecord, ...] = ()) -> None:
        config = MasterConfig(agent_timeout=1e9, reclaim=False)
        self.state = MasterState(config=config, master_id="M")
        self.core = MesosMaster(self.state, heartbeat_interval=2.0, cluster_secret=CLUSTER)
        self.now = 10.0
        self.agent_effects = self.register_agent(agent_executors)
        self.agent_id = "ag1"

    def register_agent(self, executors: tuple[m.ExecutorRecord, ...]) -> list:
        call = m.RegisterAgent(
            "host", R(cpus=4, mem=4096), "ag1", list(executors), "none", credential="agent"
        )
        effects = self.state.on_agent_call(AGENT, call, self.now)
        self.check()
        return effects

    def check(self) -> None:
        self.state.validate()
        self.core.validate()

    def auth(self, principal: str, secret: str) -> Authenticated:
        auth = self.core.authenticate(basic(principal, secret))
        assert isinstance(auth, Authenticated), auth
        return auth

    def subscribe(
        self, conn: str, principal: str, secret: str, fw_id: str | None = None
    ) -> Subscription | Refusal:
        call = subscribe_call(fw_id, principal)
        result = self.core.subscribe(conn, call, self.now, self.auth(principal, secret))
        self.check()
        return result

    def launch(self, conn: str, fw_id: str, auth: Authenticated, task_id: str) -> list:
        fw = self.core.framework_for(fw_id, self.core.frameworks[fw_id].stream_id, auth)
        assert not isinstance(fw, Refusal), fw
        offers = [
            e.message
            for e in self.state.allocate(self.now)
            if isinstance(e, Send) and e.conn == conn and isinstance(e.message, m.Offers)
        ]
        offer_id = ms.Id(value=offers[0].offers[0].offer_id)
        launch = mc.Operation(type="LAUNCH", launch=mc.Launch(task_infos=[command_task(task_id)]))
        body = mc.AcceptBody(offer_ids=[offer_id], operations=[launch])
        effects = self.core.call(fw, mc.Accept(framework_id=ms.Id(value=fw_id), accept=body), 1)
        self.check()
        return effects


def subscribed(result: Subscription | Refusal) -> tuple[str, Subscription]:
    assert isinstance(result, Subscription), result
    (answer,) = [
        e.message
        for e in result.effects
        if isinstance(e, Send) and isinstance(e.message, m.Subscribed)
    ]
    return answer.framework_id, result


def test_resubscribing_a_mesos_framework_needs_its_principal_and_secret():
    w = Master()
    fw_id, first = subscribed(w.subscribe("s1", "alice", ALICE))
    assert w.state.identity.frameworks[fw_id].trust is Trust.OWNED
    assert w.state.identity.kind_of(fw_id) is Kind.MESOS
    # the same principal with another of its secrets, another principal: 403, nothing changes
    for principal, secret in (("alice", ALICE_2), ("mallory", MALLORY)):
        refusal = w.subscribe("evil", principal, secret, fw_id)
        assert isinstance(refusal, Refusal) and refusal.status == 403, refusal
        assert "another credential" in refusal.reason
        assert w.core.frameworks[fw_id].conn == "s1"
        assert w.core.framework_of_stream(first.stream_id) is not None
        assert w.state.frameworks[fw_id].conn == "s1"
        assert not w.core.is_stream("evil")
    # its own credentials re-subscribe it (driver reconnect)
    _, again = subscribed(w.subscribe("s2", "alice", ALICE, fw_id))
    assert Close("s1", "framework re-subscribed elsewhere") in again.effects
    assert w.core.frameworks[fw_id].conn == "s2"


def test_framework_info_principal_must_be_the_authenticated_one():
    w = Master()
    call = subscribe_call(principal="ops")
    refusal = w.core.subscribe("s1", call, w.now, w.auth("alice", ALICE))
    assert isinstance(refusal, Refusal) and refusal.status == 403
    assert not w.core.frameworks and not w.state.frameworks


def test_calls_need_the_stream_id_and_the_credentials_the_framework_subscribed_with():
    w = Master()
    fw_id, sub = subscribed(w.subscribe("s1", "alice", ALICE))
    owner = w.auth("alice", ALICE)
    assert w.core.framework_for(fw_id, sub.stream_id, owner) is w.core.frameworks[fw_id]
    for who in (w.auth("alice", ALICE_2), w.auth("mallory", MALLORY), ANONYMOUS):
        refusal = w.core.framework_for(fw_id, sub.stream_id, who)
        assert isinstance(refusal, Refusal) and refusal.status == 403, who
        assert "not framework" in refusal.reason
    assert w.core.framework_for(fw_id, "another-stream", owner) == Refusal(
        400, "Mesos-Stream-Id another-stream is not this framework's stream"
    )
    assert w.core.framework_for(fw_id, None, owner).status == 400
    assert w.core.framework_for(None, sub.stream_id, owner).status == 400
    assert w.core.framework_for("fw-none", sub.stream_id, owner).status == 403


def test_a_program_cannot_subscribe_as_a_mesos_framework():
    """A websocket Subscribe naming a Mesos framework's id is refused whatever it presents:
    the principal alone (which today's stopgap made the credential), another credential, or
    even the Mesos framework's own (its kind is fixed at registration)."""
    w = Master()
    fw_id, _ = subscribed(w.subscribe("s1", "alice", ALICE))
    w.launch("s1", fw_id, w.auth("alice", ALICE), "t1")
    for credential in ("mesos-principal:alice", "", "x", mesos_credential("alice", ALICE)):
        call = m.Subscribe("impostor", "*", fw_id, 60.0, credential)
        effects = w.state.on_framework_call("ws-evil", call, w.now)
        w.check()
        assert Close("ws-evil", effects[-1].reason) == effects[-1], effects
        assert isinstance(effects[0].message, m.Error)
        assert w.state.frameworks[fw_id].conn == "s1" and w.core.frameworks[fw_id].conn == "s1"
        assert w.state.on_framework_call("ws-evil", m.Teardown(), w.now) == [
            Close("ws-evil", "Teardown before Subscribe")
        ]
    assert "is a mesos framework" in effects[0].message.message
    assert (fw_id, ms.task_lease("t1")) in w.state.executors


def test_a_mesos_framework_cannot_subscribe_as_a_program():
    w = Master()
    call = m.Subscribe("program", "*", None, 60.0, "program-credential")
    effects = w.state.on_framework_call("ws1", call, w.now)
    program_id = next(
        e.message.framework_id for e in effects if isinstance(e.message, m.Subscribed)
    )
    refusal = w.subscribe("s-evil", "alice", ALICE, program_id)
    assert isinstance(refusal, Refusal) and refusal.status == 403
    assert program_id not in w.core.frameworks and not w.core.is_stream("s-evil")
    assert w.state.frameworks[program_id].conn == "ws1"
    # nor without credentials on a cluster without a secret
    open_core = MesosMaster(w.state)
    call2 = subscribe_call(program_id)
    refusal = open_core.subscribe("s-evil", call2, w.now, ANONYMOUS)
    assert isinstance(refusal, Refusal) and refusal.status == 403
    assert w.state.frameworks[program_id].conn == "ws1"


def test_launches_carry_the_mesos_frameworks_digest_and_a_new_master_checks_it():
    w = Master()
    fw_id, _ = subscribed(w.subscribe("s1", "alice", ALICE))
    effects = w.launch("s1", fw_id, w.auth("alice", ALICE), "t1")
    (launch,) = [e.message for e in effects if isinstance(e.message, m.LaunchExecutor)]
    theirs = digest(mesos_credential("alice", ALICE))
    assert launch.framework_digest == theirs
    # master failover: the agent reports the task with that digest; the new leader checks
    lease = ms.task_lease("t1")
    record = m.ExecutorRecord(fw_id, lease, launch.launch.resources, launch.framework_digest)
    new = Master(agent_executors=(record,))
    assert new.state.identity.frameworks[fw_id].trust is Trust.VOUCHED
    for principal, secret in (("alice", ALICE_2), ("mallory", MALLORY)):
        refusal = new.subscribe("evil", principal, secret, fw_id)
        assert isinstance(refusal, Refusal) and refusal.status == 403
    program = m.Subscribe("impostor", "*", fw_id, 60.0, "mesos-principal:alice")
    assert isinstance(new.state.on_framework_call("ws", program, new.now)[0].message, m.Error)
    subscribed(new.subscribe("s2", "alice", ALICE, fw_id))
    assert new.state.identity.frameworks[fw_id].trust is Trust.OWNED
    assert new.state.identity.kind_of(fw_id) is Kind.MESOS
    assert new.state.frameworks[fw_id].executors == {lease}


def test_a_claimant_of_a_mesos_framework_id_is_evicted_when_the_agent_comes_back():
    """The new leader hears from the wrong credentials first (nothing to check against yet):
    they claim the id; the agent running the owner's task comes back and vouches for the owner:
    the claimant's stream gets ERROR and is closed, and the owner re-subscribes afresh."""
    w = Master()
    fw_id, _ = subscribed(w.subscribe("s1", "alice", ALICE))
    effects = w.launch("s1", fw_id, w.auth("alice", ALICE), "t1")
    (launch,) = [e.message for e in effects if isinstance(e.message, m.LaunchExecutor)]
    lease = ms.task_lease("t1")

    config = MasterConfig(agent_timeout=1e9, reclaim=False)
    state = MasterState(config=config, master_id="M2")
    core = MesosMaster(state, cluster_secret=CLUSTER)
    claim = core.subscribe("s-claim", subscribe_call(fw_id, "alice"), 1.0, w.auth("alice", ALICE_2))
    assert isinstance(claim, Subscription)
    assert state.identity.frameworks[fw_id].trust is Trust.CLAIMED
    record = m.ExecutorRecord(fw_id, lease, launch.launch.resources, launch.framework_digest)
    reg = m.RegisterAgent("host", R(cpus=4, mem=4096), "ag1", [record], "none", credential="a")
    effects = state.on_agent_call(AGENT, reg, 2.0)
    state.validate()
    core.validate()
    errors = [e.message for e in effects if isinstance(e, Send) and isinstance(e.message, m.Error)]
    assert errors and any(isinstance(e, Close) and e.conn == "s-claim" for e in effects)
    events, _ = core.translate("s-claim", errors[0], 2.0)
    assert isinstance(events[0], mc.Error) and "another credential" in events[0].error.message
    assert fw_id not in state.frameworks
    # the owner comes back before the core's tick forgot the claimant: nothing of it stays
    claimant = core.frameworks[fw_id]
    subscribed(core.subscribe("s2", subscribe_call(fw_id, "alice"), 3.0, w.auth("alice", ALICE)))
    core.validate()
    assert core.frameworks[fw_id] is not claimant and core.frameworks[fw_id].conn == "s2"
    assert state.frameworks[fw_id].executors == {lease}
    assert state.identity.frameworks[fw_id].trust is Trust.OWNED


def test_an_unauthenticated_mesos_framework_is_owned_by_unauthenticated_mesos_clients_only():
    """Without a cluster secret and without Basic credentials (Mesos without framework
    authentication), re-subscribing works for any Mesos client, never for a program."""
    state = MasterState(config=MasterConfig(agent_timeout=1e9, reclaim=False), master_id="M")
    core = MesosMaster(state)
    fw_id, _ = subscribed(core.subscribe("s1", subscribe_call(), 1.0))
    subscribed(core.subscribe("s2", subscribe_call(fw_id), 2.0))
    auth = core.authenticate(basic("alice", "x"))
    assert isinstance(auth, Authenticated)
    assert isinstance(core.subscribe("s3", subscribe_call(fw_id), 3.0, auth), Refusal)
    program = m.Subscribe("p", "*", fw_id, 0.0, ANONYMOUS_MESOS)
    assert isinstance(state.on_framework_call("ws", program, 3.0)[0].message, m.Error)
    core.validate()
    state.validate()
