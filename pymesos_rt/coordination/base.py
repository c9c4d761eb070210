"""What every election backend shares: the master's advertised identity (:class:`MasterInfo`, in
the JSON layout Mesos masters write to ZooKeeper), master addresses (:func:`parse_address`), and
the two roles of leader election, each an abstract class run on the caller's asyncio loop:

* :class:`Contender`: a master that wants to lead. It reports :class:`Leadership` changes.
* :class:`Detector`: anyone who must find the leading master (agents, drivers, standby masters).
  It reports the current leader's :class:`MasterInfo`, or ``None`` when no master leads.

Threading contract: every callback given to ``subscribe`` runs on the event loop that called
``start``, never on a backend's own thread, and callbacks of one object run in order. Only
:attr:`Contender.leading` may be read from any thread.

This module imports only the standard library and :mod:`.address` (re-exported here).
"""

from __future__ import annotations

import asyncio
import functools
import ipaddress
import json
import logging
import socket
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib import metadata
from typing import Any, Generic, TypeVar

from pymesos_rt.coordination.address import (
    MASTER_PORT,
    StandaloneAddress,
    ZooKeeperAddress,
    bracket,
    host_port,
    parse_address,
)

__all__ = [
    "Contender",
    "Detector",
    "Leadership",
    "MasterInfo",
    "StandaloneAddress",
    "ZooKeeperAddress",
    "parse_address",
]

log = logging.getLogger(__name__)
T = TypeVar("T")


@functools.cache
def _package_version() -> str:
    try:
        return metadata.version("pymesos_rt")
    except metadata.PackageNotFoundError:
        return "0.0.0"


def _is_ip(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


@dataclass(frozen=True)
class MasterInfo:
    """How to reach one master, as it advertises itself to detectors.

    ``ip`` is the address clients connect to (may be empty when only a hostname is known, as for
    a master given by a ``ws://name:port`` address); ``scheme`` is ``ws`` or ``wss`` (TLS).
    """

    id: str
    hostname: str
    ip: str
    port: int
    version: str = field(default_factory=_package_version)
    scheme: str = "ws"

    @property
    def address(self) -> str:
        """The master's websocket address, e.g. ``ws://10.0.0.1:5050``."""
        return f"{self.scheme}://{bracket(self.ip or self.hostname)}:{self.port}"

    @property
    def pid(self) -> str:
        """Mesos's libprocess id of the master, ``master@ip:port``."""
        return f"master@{self.ip or self.hostname}:{self.port}"

    @classmethod
    def from_address(cls, address: str, id: str = "") -> MasterInfo:
        """The info of the master at a ``ws://`` or ``wss://`` address (no id unless given)."""
        parsed = parse_address(address)
        if not isinstance(parsed, StandaloneAddress):
            raise ValueError(f"{address!r} names no single master")
        ip = parsed.host if _is_ip(parsed.host) else ""
        return cls(id=id, hostname=parsed.host, ip=ip, port=parsed.port, scheme=parsed.scheme)

    def to_json(self) -> str:
        """The JSON Mesos masters write in ``<path>/json.info_<seq>``: keys sorted, no spaces.

        ``ip`` at the top level is Mesos's legacy packed IPv4 (the 4 address bytes read as a
        little-endian uint32, 0 when not IPv4); ``address.ip`` is the text form. ``scheme`` is
        added only for ``wss`` (Mesos has no such field; readers of Mesos's layout ignore it).
        """
        ip4 = 0
        if self.ip and ipaddress.ip_address(self.ip).version == 4:
            ip4 = int.from_bytes(socket.inet_aton(self.ip), "little")
        out: dict[str, Any] = {
            "address": {"hostname": self.hostname, "ip": self.ip, "port": self.port},
            "hostname": self.hostname,
            "id": self.id,
            "ip": ip4,
            "pid": self.pid,
            "port": self.port,
            "version": self.version,
        }
        if self.scheme != "ws":
            out["scheme"] = self.scheme
        return json.dumps(out, separators=(",", ":"), sort_keys=True)

    @classmethod
    def from_json(cls, data: str | bytes) -> MasterInfo:
        """Parse Mesos's layout (ours, or a real Mesos master's). Raises ``ValueError``.

        The address is taken from ``address`` when present, else from ``pid``, else from the
        packed ``ip``; unknown keys (``capabilities``, ``domain``, ...) are ignored.
        """
        try:
            raw = json.loads(data)
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise ValueError(f"master info is not JSON: {exc}") from None
        if not isinstance(raw, dict):
            raise ValueError("master info is not a JSON object")
        addr: dict[str, Any] = raw["address"] if isinstance(raw.get("address"), dict) else {}
        hostname = str(addr.get("hostname") or raw.get("hostname") or "")
        ip = str(addr.get("ip") or "")
        port = addr.get("port", raw.get("port"))
        pid = raw.get("pid")
        if not ip and isinstance(pid, str) and "@" in pid:
            pid_host, pid_port = host_port(pid.split("@", 1)[1], MASTER_PORT, "pid")
            ip = pid_host if _is_ip(pid_host) else ""
            hostname = hostname or pid_host
            port = port if port is not None else pid_port
        if not ip and isinstance(raw.get("ip"), int) and raw["ip"]:
            ip = socket.inet_ntoa(int(raw["ip"]).to_bytes(4, "little"))
        if not isinstance(port, int) or not 0 < port < 65536:
            raise ValueError(f"master info has no valid port: {raw!r}")
        if not (ip or hostname):
            raise ValueError(f"master info has no address: {raw!r}")
        scheme = raw.get("scheme", "ws")
        if scheme not in ("ws", "wss"):
            raise ValueError(f"master info has an unknown scheme {scheme!r}")
        return cls(
            id=str(raw.get("id", "")),
            hostname=hostname or ip,
            ip=ip,
            port=port,
            version=str(raw.get("version", "")),
            scheme=scheme,
        )


@dataclass(frozen=True)
class Leadership:
    """A change of a contender's leadership, as reported to subscribers.

    ``epoch`` names the term: with ZooKeeper the sequence number of the contender's znode, which
    only grows from one leader to the next under a path (usable as a fencing token); 0 for a
    standalone master.
    """

    leading: bool
    epoch: int
    reason: str


class _Subscribers(Generic[T]):
    """Callbacks run in order on the loop; a failing callback is logged, not propagated."""

    def __init__(self) -> None:
        self._callbacks: list[Callable[[T], None]] = []
        self._changed = asyncio.Event()

    def add(self, callback: Callable[[T], None]) -> Callable[[], None]:
        self._callbacks.append(callback)

        def unsubscribe() -> None:
            if callback in self._callbacks:
                self._callbacks.remove(callback)

        return unsubscribe

    def notify(self, value: T) -> None:
        for callback in list(self._callbacks):
            try:
                callback(value)
            except Exception:
                log.exception("coordination subscriber %r failed", callback)
        changed, self._changed = self._changed, asyncio.Event()
        changed.set()

    async def wait_until(self, done: Callable[[], bool], timeout: float | None) -> None:
        async with asyncio.timeout(timeout):
            while not done():
                await self._changed.wait()


class Contender(ABC):
    """A master taking part in the election.

    Contract for the application (the master):

    * Subscribe, then ``await start(info)``: the contender joins and reports ``Leadership``
      events on the loop. ``leading=True``: act as the leader (accept agents and frameworks,
      offer resources) until a ``leading=False`` event, which means *stop at once*: drop every
      connection and all leader state, since another master may be elected soon.
    * :attr:`leading` is the authoritative, thread-safe truth at any instant; it turns false
      the moment the backend suspects its leadership or its lease runs out (before the event
      reaches the loop). Check it before an action that must not be done by two leaders.
    * Events alternate (elected, not leading, elected, ...); an elect-then-lose that both
      happen before the loop runs is reported as nothing.
    * ``await withdraw()`` leaves the election for good (clean shutdown); the contender reports
      not leading first, then lets the next contender take over. It cannot be restarted.
    """

    def __init__(self) -> None:
        self._leadership = _Subscribers[Leadership]()
        self._reported = False

    @property
    @abstractmethod
    def leading(self) -> bool:
        """Whether this contender leads now (any thread may read it)."""

    @abstractmethod
    async def start(self, info: MasterInfo) -> None:
        """Join the election advertising ``info``; returns once joined."""

    @abstractmethod
    async def withdraw(self) -> None:
        """Leave the election (reporting not leading first) and release all resources."""

    @property
    def reported_leading(self) -> bool:
        """The last state reported to subscribers (what the application was told)."""
        return self._reported

    def subscribe(self, callback: Callable[[Leadership], None]) -> Callable[[], None]:
        """Call ``callback(event)`` on the loop at each change; returns an unsubscribe function."""
        return self._leadership.add(callback)

    async def wait_leading(self, leading: bool = True, timeout: float | None = None) -> None:
        """Wait until the reported state is ``leading``; ``TimeoutError`` after ``timeout``."""
        await self._leadership.wait_until(lambda: self._reported == leading, timeout)

    def _report(self, event: Leadership) -> None:
        """Deliver ``event`` to subscribers; call on the loop only."""
        if event.leading == self._reported:
            return
        self._reported = event.leading
        log.info("leadership: %s (epoch %d): %s", event.leading, event.epoch, event.reason)
        self._leadership.notify(event)


class Detector(ABC):
    """Follows the leading master.

    Contract for the application (an agent, a driver, a standby master): ``await start()``,
    then :meth:`current` is the leader as last seen (``None``: no master leads, or unknown).
    After a change, connect to the new leader (or wait for one); a leader that is known but
    refuses connections (it lost its election and is standing by) is retried with backoff
    until the detector reports its successor. :meth:`stop` releases all resources.
    """

    def __init__(self) -> None:
        self._leader: MasterInfo | None = None
        self._changes = _Subscribers[MasterInfo | None]()

    @abstractmethod
    async def start(self) -> None:
        """Start following; returns once the first answer is known."""

    @abstractmethod
    async def stop(self) -> None:
        """Stop following and release all resources."""

    def current(self) -> MasterInfo | None:
        return self._leader

    def subscribe(self, callback: Callable[[MasterInfo | None], None]) -> Callable[[], None]:
        """Call ``callback(leader)`` on the loop at each change; returns an unsubscribe function."""
        return self._changes.add(callback)

    async def wait_change(
        self, previous: MasterInfo | None, timeout: float | None = None
    ) -> MasterInfo | None:
        """The leader once it differs from ``previous`` (at once if it already does), as
        Mesos's ``MasterDetector::detect(previous)``; ``TimeoutError`` after ``timeout``."""
        await self._changes.wait_until(lambda: self._leader != previous, timeout)
        return self._leader

    async def wait_leader(self, timeout: float | None = None) -> MasterInfo:
        """The leader, once there is one; ``TimeoutError`` after ``timeout``."""
        await self._changes.wait_until(lambda: self._leader is not None, timeout)
        assert self._leader is not None
        return self._leader

    def _update(self, leader: MasterInfo | None) -> None:
        """Record and report a new leader; call on the loop only."""
        if leader == self._leader:
            return
        self._leader = leader
        log.info("leading master: %s", leader.address if leader else "none")
        self._changes.notify(leader)
