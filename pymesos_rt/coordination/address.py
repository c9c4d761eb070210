"""Master addresses: ``ws://host:port`` (one master) and ``zk://hosts/path`` (masters electing
a leader through ZooKeeper), parsed by :func:`parse_address`.

This module imports only the standard library.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from urllib.parse import unquote

#: ZooKeeper's default client port, used when a ``zk://`` host names none.
ZOOKEEPER_PORT = 2181
#: A master's default port (as Mesos's), used when a ``ws://`` address names none.
MASTER_PORT = 5050


def host_port(text: str, default_port: int, what: str) -> tuple[str, int]:
    """``host``, ``host:port``, ``[v6]`` or ``[v6]:port`` -> (host, port)."""
    if text.startswith("["):
        host, sep, rest = text[1:].partition("]")
        if not sep or (rest and not rest.startswith(":")):
            raise ValueError(f"bad {what} {text!r}")
        port_text = rest[1:]
    else:
        host, _, port_text = text.partition(":") if text.count(":") == 1 else (text, "", "")
    if not host:
        raise ValueError(f"bad {what} {text!r}: no host")
    if not port_text:
        return host, default_port
    if not port_text.isdigit() or not 0 < int(port_text) < 65536:
        raise ValueError(f"bad {what} {text!r}: port must be a number in 1..65535")
    return host, int(port_text)


def bracket(host: str) -> str:
    return f"[{host}]" if ":" in host else host


@dataclass(frozen=True)
class StandaloneAddress:
    """One master at a fixed address (``ws://host:port`` or ``wss://``)."""

    scheme: str
    host: str
    port: int

    @property
    def url(self) -> str:
        return f"{self.scheme}://{bracket(self.host)}:{self.port}"


@dataclass(frozen=True)
class ZooKeeperAddress:
    """Masters that elect a leader through ZooKeeper: ``zk://[user:pass@]h1:p1,h2:p2/path``.

    ``hosts`` is the connection string kazoo takes; ``path`` the znode under which contenders
    register (as Mesos's ``--zk``); ``credentials`` is ``(user, password)`` for digest auth.
    """

    hosts: str
    path: str
    credentials: tuple[str, str] | None = field(default=None, repr=False)

    @property
    def url(self) -> str:
        """The address without credentials (safe to log)."""
        return f"zk://{self.hosts}{self.path}"


def parse_address(address: str) -> StandaloneAddress | ZooKeeperAddress:
    """Parse a master address; raises ``ValueError`` saying what is accepted.

    * ``ws://host[:port]``, ``wss://host[:port]``: one master, no election (port 5050 default);
    * ``zk://[user:password@]host1[:port1],host2[:port2]/path``: the leader of the masters
      registered under ``path`` (ZooKeeper port 2181 by default; ``/`` alone is refused, as by
      Mesos, since the path is what separates clusters sharing an ensemble).
    """
    scheme, sep, rest = address.strip().partition("://")
    if not sep or scheme not in ("ws", "wss", "zk"):
        raise ValueError(
            f"bad master address {address!r}: expected ws://host:port, wss://host:port or "
            "zk://host1:port1,host2:port2/path"
        )
    if scheme in ("ws", "wss"):
        hostport = rest.rstrip("/")
        if not hostport or "/" in hostport or "@" in hostport:
            raise ValueError(f"bad master address {address!r}: expected {scheme}://host:port")
        host, port = host_port(hostport, MASTER_PORT, "master address")
        return StandaloneAddress(scheme=scheme, host=host, port=port)
    credentials = None
    if "@" in rest.split("/", 1)[0]:
        userinfo, rest = rest.split("@", 1)
        user, colon, password = userinfo.partition(":")
        if not user or not colon:
            raise ValueError(f"bad ZooKeeper address {address!r}: credentials must be user:pass")
        credentials = (unquote(user), unquote(password))
    hosts_text, slash, path = rest.partition("/")
    path = "/" + path.rstrip("/")
    if not slash or path == "/":
        raise ValueError(
            f"bad ZooKeeper address {address!r}: a path is required, as in zk://host:2181/mesos"
        )
    if any(not part for part in path.split("/")[1:]):
        raise ValueError(f"bad ZooKeeper address {address!r}: empty path component")
    hosts = []
    for item in hosts_text.split(","):
        host, port = host_port(item.strip(), ZOOKEEPER_PORT, "ZooKeeper host")
        hosts.append(f"{bracket(host)}:{port}")
    return ZooKeeperAddress(hosts=",".join(hosts), path=path, credentials=credentials)


DEFAULT_MASTER = "ws://127.0.0.1:5050"


def normalize_address(address: str) -> str:
    """A master address as users type it, in the form the runtime uses: ``http(s)://host:port``
    becomes ``ws(s)://host:port`` and a bare ``host:port`` ``ws://host:port``; ``ws://``,
    ``wss://`` and ``zk://`` stay (without a trailing slash). ``rt.init`` and ``pymesos-rt``
    accept the same. Raises ``ValueError`` saying what is accepted."""
    text = address.strip()
    scheme, sep, rest = text.partition("://")
    if not sep:
        text = f"ws://{text}"
    elif scheme in ("http", "https"):
        text = ("wss://" if scheme == "https" else "ws://") + rest
    elif scheme not in ("ws", "wss", "zk"):
        raise ValueError(
            f"bad master address {address!r}: expected host:port, ws://host:port, "
            "wss://host:port, http(s)://host:port or zk://host1:port1,host2:port2/path"
        )
    if not text.startswith("zk://"):
        text = text.rstrip("/")
    parse_address(text)
    return text
