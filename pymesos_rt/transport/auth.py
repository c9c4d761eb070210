"""The handshake proof of the cluster secret, sent as one HTTP header on the websocket upgrade.

``<unix-time>.<nonce>.<hex HMAC-SHA256(secret, "<time>.<nonce>.<path>")>``: the secret itself is
never sent. The server refuses a proof that is malformed, wrong, older than ``max_age`` seconds,
or whose nonce it has already seen (a replayed handshake). Pure functions plus a small replay
cache; time is passed in.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

HEADER = "X-Pymesos-Rt-Auth"


def make_proof(secret: str, path: str, now: float) -> str:
    stamp = str(int(now))
    nonce = secrets.token_hex(12)
    mac = hmac.new(secret.encode(), f"{stamp}.{nonce}.{path}".encode(), hashlib.sha256)
    return f"{stamp}.{nonce}.{mac.hexdigest()}"


class ProofChecker:
    def __init__(self, secret: str, max_age: float = 60.0) -> None:
        if not secret:
            raise ValueError("a cluster secret must not be empty")
        self._secret = secret.encode()
        self._max_age = max_age
        self._seen: dict[str, float] = {}

    def check(self, proof: str | None, path: str, now: float) -> str | None:
        """None when the proof is good; otherwise the reason it is refused."""
        if not proof:
            return "no proof of the cluster secret"
        parts = proof.split(".")
        if len(parts) != 3 or not parts[0].isdigit():
            return "malformed proof"
        stamp, nonce, mac = parts
        if abs(now - int(stamp)) > self._max_age:
            return "stale proof"
        want = hmac.new(self._secret, f"{stamp}.{nonce}.{path}".encode(), hashlib.sha256)
        if not hmac.compare_digest(want.hexdigest(), mac):
            return "wrong secret"
        self._expire(now)
        if nonce in self._seen:
            return "replayed proof"
        self._seen[nonce] = now
        return None

    def _expire(self, now: float) -> None:
        if len(self._seen) < 1024:
            return
        horizon = now - 2 * self._max_age
        self._seen = {n: t for n, t in self._seen.items() if t >= horizon}
