"""Who may act as which framework or agent: the master's credential checks (sans-IO).

Every program holds the cluster secret, so the cluster secret cannot prove which framework a
connection speaks for. Each framework and agent has a credential of its own instead.

Rules kept here:
- A framework gets its credential at its first subscription: the one it presents in
  ``Subscribe.credential``, or, if it presents none, one the master issues (answered in
  ``Subscribed.credential``). Agents likewise (``RegisterAgent`` / ``AgentRegistered``).
- The master keeps only the credential's SHA-256 digest; a re-subscription or
  re-registration with an id must present the credential of that digest, or it is refused.
- Master state is soft, so digests must survive a failover. Each ``LaunchExecutor`` carries
  the framework's digest; agents keep it with the executor and report it when they
  re-register (``ExecutorRecord.framework_digest``). A new leader thus learns the digest of
  every framework that runs something (VOUCHED) and checks the framework against it when it
  re-subscribes.
- A framework that re-subscribes with an id no agent has vouched for (nothing running
  anywhere, or its agents not back yet) is CLAIMED by the first connection that presents a
  credential. If an agent later vouches for another digest, the claimant is evicted (its
  connection closed and the framework it made removed, which stops what it launched: while
  CLAIMED, no registered agent reported an executor of it with another digest) and the
  vouched digest holds.
- An executor an agent reports with another digest than the framework's was not launched
  by the framework: it is stopped.
- Agents: nobody vouches for an agent, so after a failover the first registration with an
  agent id claims it; until it is removed for good, only that credential re-registers it.
- A framework is of one KIND, fixed at its first subscription: a program of ours (websocket
  API) or a Mesos framework (v1 HTTP API). Neither kind re-subscribes the other's id, whatever
  it presents. A vouched identity has no kind yet (agents report digests only): the owner's
  re-subscription sets it.
- A Mesos framework's credential is its HTTP Basic principal and secret
  (:func:`mesos_credential`), so its principal is fixed at registration as in Mesos. With a
  cluster secret, the Basic secret must be a *Mesos framework secret* made for that principal
  from the cluster secret (:func:`mesos_secret`: a random part and an HMAC of principal and
  random part under the cluster secret). Verifying its HMAC proves the cluster secret; its
  random part, which no other holder of the cluster secret knows, proves the framework.

Transitions of a framework's identity (event: from -> to); anything else is refused and
changes nothing:

    subscribe, no id ................... (none)  -> OWNED    (new framework; kind set)
    subscribe with id, nothing known ... (none)  -> CLAIMED  (kind set)
    agent vouches ...................... (none)  -> VOUCHED  (no kind)
    subscribe, same digest ............. VOUCHED -> OWNED    (kind set)
    subscribe, same digest, same kind .. OWNED/CLAIMED -> unchanged
    agent vouches, same digest ......... CLAIMED -> OWNED
    agent vouches, other digest ........ CLAIMED -> VOUCHED  (claimant evicted)
    framework removed .................. any     -> (none)

Imports ``protocol`` only (no I/O, no clock).
"""

from __future__ import annotations

import enum
import hashlib
import hmac
import secrets
from dataclasses import dataclass


class Kind(enum.Enum):
    """Which API a framework speaks: fixed at its first subscription."""

    PROGRAM = "program"  # a pymesos_rt driver over the websocket scheduler API
    MESOS = "mesos"  # a Mesos framework over the v1 scheduler HTTP API


class Trust(enum.Enum):
    OWNED = "owned"  # a subscribed framework whose digest the master holds for sure
    CLAIMED = "claimed"  # re-subscribed to a master that knew no digest; no agent vouched yet
    VOUCHED = "vouched"  # agents report this digest; the framework has not re-subscribed


def digest(credential: str) -> str:
    return hashlib.sha256(credential.encode()).hexdigest()


def _same(a: str, b: str) -> bool:
    return hmac.compare_digest(a.encode(), b.encode())


_API = {Kind.PROGRAM: "the websocket scheduler API", Kind.MESOS: "the Mesos scheduler HTTP API"}


@dataclass(frozen=True)
class Accepted:
    """Go on. ``issued``: a credential the master made up (the caller presented none)."""

    issued: str = ""


@dataclass(frozen=True)
class Refused:
    reason: str


Verdict = Accepted | Refused


@dataclass(frozen=True)
class Vouched:
    """What an agent's report of one executor means for its framework."""

    evict: bool = False  # a claimant was wrong: remove it, then vouch again
    stop: bool = False  # this executor was not launched by the framework: stop it


@dataclass
class FrameworkIdentity:
    digest: str
    trust: Trust
    kind: Kind | None = None  # None while VOUCHED: agents report digests, not kinds


class Identities:
    def __init__(self) -> None:
        self.frameworks: dict[str, FrameworkIdentity] = {}
        self.agents: dict[str, str] = {}  # agent id -> digest

    # --- frameworks --------------------------------------------------------------------------
    def subscribe(
        self, framework_id: str, credential: str, new: bool, kind: Kind = Kind.PROGRAM
    ) -> Verdict:
        """May this connection act as ``framework_id``? ``new``: the id was made up just now
        for a framework subscribing for the first time; ``kind``: the API it came through."""
        issued = "" if credential else secrets.token_urlsafe(32)
        presented = digest(credential or issued)
        known = self.frameworks.get(framework_id)
        if known is None:
            trust = Trust.OWNED if new else Trust.CLAIMED
            self.frameworks[framework_id] = FrameworkIdentity(presented, trust, kind)
            return Accepted(issued)
        if not credential or not _same(known.digest, presented):
            return Refused(
                f"framework {framework_id} is subscribed with another credential: "
                "present the credential of its first subscription"
            )
        if known.kind is not None and known.kind is not kind:
            return Refused(
                f"framework {framework_id} is a {known.kind.value} framework: only "
                f"{_API[known.kind]} re-subscribes it"
            )
        known.kind = kind
        if known.trust is Trust.VOUCHED:
            known.trust = Trust.OWNED
        return Accepted()

    def holds(self, framework_id: str, credential: str, kind: Kind) -> bool:
        """Does ``credential`` prove the subscribed framework ``framework_id`` of ``kind``?
        (Mesos calls come on connections of their own, each with its credentials.)"""
        known = self.frameworks.get(framework_id)
        return (
            known is not None
            and known.kind is kind
            and known.trust is not Trust.VOUCHED
            and _same(known.digest, digest(credential))
        )

    def kind_of(self, framework_id: str) -> Kind | None:
        known = self.frameworks.get(framework_id)
        return known.kind if known is not None else None

    def vouch(self, framework_id: str, reported: str) -> Vouched:
        """An agent (re-)registering reports an executor launched with digest ``reported``."""
        if not reported:
            return Vouched()  # launched before credentials existed: nothing to learn
        known = self.frameworks.get(framework_id)
        if known is None:
            self.frameworks[framework_id] = FrameworkIdentity(reported, Trust.VOUCHED)
            return Vouched()
        if _same(known.digest, reported):
            if known.trust is Trust.CLAIMED:
                known.trust = Trust.OWNED
            return Vouched()
        if known.trust is Trust.CLAIMED:
            return Vouched(evict=True)
        return Vouched(stop=True)

    def digest_of(self, framework_id: str) -> str:
        """The digest an agent is handed with each launch of the framework."""
        return self.frameworks[framework_id].digest

    def forget_framework(self, framework_id: str) -> None:
        self.frameworks.pop(framework_id, None)

    # --- agents ------------------------------------------------------------------------------
    def register_agent(self, agent_id: str, credential: str) -> Verdict:
        issued = "" if credential else secrets.token_urlsafe(32)
        presented = digest(credential or issued)
        known = self.agents.get(agent_id)
        if known is None:
            self.agents[agent_id] = presented
            return Accepted(issued)
        if not credential or not _same(known, presented):
            return Refused(
                f"agent {agent_id} is registered with another credential: "
                "present the credential of its first registration"
            )
        return Accepted()

    def forget_agent(self, agent_id: str) -> None:
        self.agents.pop(agent_id, None)

    # --- invariants --------------------------------------------------------------------------
    def validate(self, frameworks: set[str], agents: set[str]) -> None:
        """Every registered framework and agent has an identity; VOUCHED ones are frameworks
        that are not registered; digests are SHA-256."""
        for fw_id, ident in self.frameworks.items():
            assert len(ident.digest) == 64, fw_id
            assert (ident.trust is Trust.VOUCHED) == (fw_id not in frameworks), (fw_id, ident)
            assert (ident.kind is None) == (ident.trust is Trust.VOUCHED), (fw_id, ident)
        assert frameworks <= set(self.frameworks), frameworks - set(self.frameworks)
        assert agents <= set(self.agents), agents - set(self.agents)
        for agent_id, known in self.agents.items():
            assert len(known) == 64, agent_id


# --- Mesos frameworks: HTTP Basic principal and secret ------------------------------------------
ANONYMOUS_MESOS = "mesos-anonymous"  # what every Mesos framework without Basic credentials shares
_MESOS_SECRET_CONTEXT = b"pymesos-rt Mesos framework secret\0"


def mesos_credential(principal: str | None, secret: str) -> str:
    """The framework credential that HTTP Basic ``principal:secret`` stands for (a principal
    holds no ``:``, so the pair is unambiguous); no principal: :data:`ANONYMOUS_MESOS`."""
    return ANONYMOUS_MESOS if principal is None else f"mesos:{principal}:{secret}"


def principal_problem(principal: str) -> str:
    """Why ``principal`` cannot be a Mesos framework principal ("" when it can)."""
    if not principal:
        return "the principal is empty"
    if len(principal) > 256:
        return "the principal is longer than 256 characters"
    if not (principal.isascii() and principal.isprintable()) or ":" in principal:
        return f"the principal {principal!r} must be printable ASCII without ':'"
    return ""


def mesos_secret(cluster_secret: str, principal: str) -> str:
    """A new Mesos framework secret for ``principal``: ``<random>.<HMAC-SHA256 of principal
    and random under the cluster secret>`` (``pymesos-rt mesos-secret PRINCIPAL``)."""
    if why := principal_problem(principal):
        raise ValueError(why)
    nonce = secrets.token_hex(24)  # hex: safe as a command-line argument (never "-...")
    return f"{nonce}.{_mesos_mac(cluster_secret, principal, nonce)}"


def mesos_secret_valid(cluster_secret: str, principal: str, secret: str) -> bool:
    """Was ``secret`` made by :func:`mesos_secret` for ``principal`` under ``cluster_secret``?"""
    nonce, dot, mac = secret.rpartition(".")
    if not dot or not nonce:
        return False
    return _same(mac, _mesos_mac(cluster_secret, principal, nonce))


def _mesos_mac(cluster_secret: str, principal: str, nonce: str) -> str:
    text = _MESOS_SECRET_CONTEXT + principal.encode() + b"\0" + nonce.encode()
    return hmac.new(cluster_secret.encode(), text, hashlib.sha256).hexdigest()
