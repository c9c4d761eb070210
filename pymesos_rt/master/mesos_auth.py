"""Who a Mesos scheduler HTTP request speaks for (sans-IO): its HTTP Basic ``principal:secret``
checked against the cluster secret, and the framework credential it proves.

Rules kept here (the credential rules themselves are ``identity.py``'s):
- Without a cluster secret (loopback clusters) Basic credentials are optional. A request with
  them proves ``mesos_credential(principal, secret)``, whatever the secret; one without proves
  the anonymous credential that every unauthenticated Mesos framework shares (Mesos without
  ``--authenticate_frameworks``).
- With a cluster secret every request needs Basic credentials whose secret is a Mesos framework
  secret made for that principal under the cluster secret (``identity.mesos_secret``): ``401``
  otherwise. The cluster secret itself is refused as a Basic secret: every program holds it, so
  it could not tell one framework from another.
- What a request may then do with a framework id is decided by the Mesos core against
  ``identity.py`` (``403`` for another framework's id or credential).

Imports ``master.identity`` only (no I/O, no clock).
"""

from __future__ import annotations

import base64
import binascii
import hmac
from dataclasses import dataclass, field

from pymesos_rt.master.identity import mesos_credential, mesos_secret_valid, principal_problem

SECRET_HINT = "make one with `pymesos-rt mesos-secret PRINCIPAL`"


@dataclass(frozen=True)
class Authenticated:
    """A request that may go on: its principal (None: no Basic credentials) and the framework
    credential it proves (``identity.mesos_credential``; only its digest is ever kept)."""

    principal: str | None
    credential: str = field(repr=False)  # never print a secret


@dataclass(frozen=True)
class Refusal:
    """A request refused with an HTTP status as Mesos would answer it (400, 401, 403)."""

    status: int
    reason: str


ANONYMOUS = Authenticated(None, mesos_credential(None, ""))


def parse_basic(authorization: str) -> tuple[str, str] | Refusal:
    """``Basic base64(principal:secret)`` -> (principal, secret)."""
    scheme, _, token = authorization.strip().partition(" ")
    if scheme.lower() != "basic":
        return Refusal(401, "only HTTP Basic authentication is supported")
    try:
        text = base64.b64decode(token.strip(), validate=True).decode()
    except (binascii.Error, UnicodeDecodeError):
        return Refusal(401, "malformed Basic credentials (not base64 of UTF-8 principal:secret)")
    principal, sep, secret = text.partition(":")
    if not sep:
        return Refusal(401, "malformed Basic credentials (no ':' between principal and secret)")
    return principal, secret


class MesosAuthenticator:
    """Checks requests against the cluster secret (None: the cluster has none)."""

    def __init__(self, cluster_secret: str | None) -> None:
        self.cluster_secret = cluster_secret

    def authenticate(self, authorization: str | None) -> Authenticated | Refusal:
        if not authorization:
            if self.cluster_secret is not None:
                return Refusal(
                    401,
                    "authentication required: HTTP Basic with a principal and its Mesos "
                    f"framework secret ({SECRET_HINT})",
                )
            return ANONYMOUS
        parsed = parse_basic(authorization)
        if isinstance(parsed, Refusal):
            return parsed
        principal, secret = parsed
        if why := principal_problem(principal):
            return Refusal(401, f"bad Basic principal: {why}")
        cluster = self.cluster_secret
        if cluster is not None and not mesos_secret_valid(cluster, principal, secret):
            if hmac.compare_digest(secret.encode(), cluster.encode()):
                return Refusal(
                    401,
                    "the cluster secret is not a framework secret (every program holds it); "
                    f"{SECRET_HINT}",
                )
            return Refusal(401, f"wrong secret for principal {principal!r} ({SECRET_HINT})")
        return Authenticated(principal, mesos_credential(principal, secret))
