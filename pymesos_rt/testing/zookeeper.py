"""A real ZooKeeper for tests: a standalone server or a three-server ensemble on 127.0.0.1, each
on free ports with its own data directory, ready when it serves (no fixed sleeps), and ways to
fail it: stop, kill, pause (SIGSTOP, a server that hangs or is cut off) and resume.

    with zookeeper_server() as zk:                    # ~0.3-1 s
        address = zk.url(unique_chroot())             # zk://127.0.0.1:<port>/pymesos-rt-test-...
        ...
        zk.pause(); ...; zk.resume()

    with zookeeper_ensemble() as ens:                 # three peers, ~1-2 s
        address = ens.url(unique_chroot())
        ens.kill(ens.follower_indexes()[0]); ...; ens.restart(i)

It runs Debian's ZooKeeper (``apt-get install -y zookeeper``, 3.8) with the system's ``java``;
when either is missing, starting raises :class:`ZooKeeperNotInstalled`, which says what to
install (tests fail rather than skip). The servers die with the thread that started them
(Linux ``PR_SET_PDEATHSIG`` through ``setpriv``) and at interpreter exit, so a crashed test run
leaves none behind.

Imports only the standard library.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

JAVA_DIR = Path("/usr/share/java")
CLASSPATH = (JAVA_DIR / "zookeeper.jar", JAVA_DIR / "slf4j-simple.jar")
STANDALONE_MAIN = "org.apache.zookeeper.server.ZooKeeperServerMain"
QUORUM_MAIN = "org.apache.zookeeper.server.quorum.QuorumPeerMain"
SERVING_MODES = ("standalone", "leader", "follower")

_live: set[ZooKeeperServer] = set()


class ZooKeeperNotInstalled(RuntimeError):
    """Java or Debian's ZooKeeper jars are missing."""


def find_java() -> str:
    """The ``java`` to run ZooKeeper with (``$JAVA``, else ``PATH``); checks the jars too."""
    missing = [str(jar) for jar in CLASSPATH if not jar.is_file()]
    java = shutil.which(os.environ.get("JAVA") or "java")
    if missing or not java:
        what = ", ".join(missing + ([] if java else ["a java executable"]))
        raise ZooKeeperNotInstalled(
            f"ZooKeeper for tests needs Debian's zookeeper package: {what} not found. Install "
            "it with: apt-get install -y zookeeper (it brings java and libslf4j-java; do not "
            "install zookeeperd, which starts a server on port 2181)"
        )
    return java


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def four_letter_word(port: int, word: str = "srvr", timeout: float = 1.0) -> str:
    """Send a four-letter command (``srvr``, ``stat``, ``cons``, ``mntr``) and return the
    answer; raises ``OSError`` when nothing answers."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        sock.sendall(word.encode())
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks).decode(errors="replace")


def unique_chroot(prefix: str = "/pymesos-rt-test") -> str:
    """A fresh znode path for one test, e.g. ``/pymesos-rt-test-3f9a1c2e``."""
    return f"{prefix}-{secrets.token_hex(4)}"


class ZooKeeperServer:
    """One ZooKeeper JVM: standalone, or one peer of an ensemble when ``peers`` is given (a
    list of ``(client_port, quorum_port, election_port)``, this server being number ``myid``,
    counted from 1).

    ``die_with_parent``: the JVM is killed when the *thread* that started it exits (Linux
    ``PR_SET_PDEATHSIG``, through ``setpriv``), so no server outlives a crashed test run. Start
    servers from a long-lived thread (the main thread, or a thread pool's), or pass False.
    """

    def __init__(
        self,
        data_dir: Path,
        port: int = 0,
        tick_ms: int = 500,
        peers: list[tuple[int, int, int]] | None = None,
        myid: int = 0,
        heap: str = "128m",
        die_with_parent: bool = True,
    ) -> None:
        self.data_dir = data_dir
        self._auto_port = not port
        self.port = port or free_port()
        self.die_with_parent = die_with_parent
        self.tick_ms = tick_ms
        self.peers = peers
        self.myid = myid
        self.heap = heap
        self.proc: subprocess.Popen[bytes] | None = None
        self.paused = False

    @property
    def hosts(self) -> str:
        """``127.0.0.1:<port>``, a kazoo connection string."""
        return f"127.0.0.1:{self.port}"

    def url(self, path: str) -> str:
        """A ``zk://`` master address under ``path`` on this server."""
        return f"zk://{self.hosts}{path}"

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc is not None else None

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    @property
    def log_path(self) -> Path:
        return self.data_dir / "zookeeper.log"

    def log_tail(self, lines: int = 30) -> str:
        if not self.log_path.exists():
            return ""
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])

    def _write_config(self) -> Path:
        (self.data_dir / "data").mkdir(parents=True, exist_ok=True)
        lines = [
            f"tickTime={self.tick_ms}",
            f"dataDir={self.data_dir / 'data'}",
            f"clientPort={self.port}",
            "clientPortAddress=127.0.0.1",
            "maxClientCnxns=0",
            f"minSessionTimeout={2 * self.tick_ms}",
            f"maxSessionTimeout={max(60000, 20 * self.tick_ms)}",
            "admin.enableServer=false",
            "4lw.commands.whitelist=*",
            "forceSync=no",
            "autopurge.purgeInterval=0",
        ]
        if self.peers:
            lines += ["initLimit=10", "syncLimit=5"]
            for n, (_client, quorum, election) in enumerate(self.peers, start=1):
                lines.append(f"server.{n}=127.0.0.1:{quorum}:{election}")
            (self.data_dir / "data" / "myid").write_text(f"{self.myid}\n")
        cfg = self.data_dir / "zoo.cfg"
        cfg.write_text("\n".join(lines) + "\n")
        return cfg

    def spawn(self) -> None:
        """Start the JVM without waiting; see :meth:`wait_ready`."""
        if self.running:
            raise RuntimeError(f"ZooKeeper on port {self.port} is already running")
        java = find_java()
        cfg = self._write_config()
        argv = [
            java,
            "-Xms16m",
            f"-Xmx{self.heap}",
            "-XX:+UseSerialGC",
            "-XX:TieredStopAtLevel=1",
            "-Dorg.slf4j.simpleLogger.defaultLogLevel=info",
            "-cp",
            ":".join(str(jar) for jar in CLASSPATH),
            QUORUM_MAIN if self.peers else STANDALONE_MAIN,
            str(cfg),
        ]
        setpriv = shutil.which("setpriv")
        if setpriv and self.die_with_parent:
            argv = [setpriv, "--pdeathsig", "KILL", *argv]
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(
                argv, stdin=subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True
            )
        self.paused = False
        _live.add(self)

    def mode(self) -> str | None:
        """``standalone``, ``leader`` or ``follower`` while serving, else ``None``."""
        if not self.running or self.paused:
            return None
        try:
            answer = four_letter_word(self.port, "srvr", timeout=0.5)
        except OSError:
            return None
        found = re.search(r"^Mode: (\w+)", answer, re.MULTILINE)
        return found.group(1) if found and found.group(1) in SERVING_MODES else None

    def wait_ready(self, timeout: float = 30.0) -> str:
        """Wait until the server serves; returns its mode. Raises ``RuntimeError`` with the
        log's tail when the JVM exits or does not serve within ``timeout``."""
        deadline = time.monotonic() + timeout
        while True:
            if not self.running:
                raise RuntimeError(
                    f"ZooKeeper on port {self.port} exited during start-up; log tail:\n"
                    + self.log_tail()
                )
            mode = self.mode()
            if mode is not None:
                return mode
            if time.monotonic() >= deadline:
                raise RuntimeError(
                    f"ZooKeeper on port {self.port} not serving after {timeout}s; log tail:\n"
                    + self.log_tail()
                )
            time.sleep(0.02)

    def start(self, timeout: float = 30.0) -> None:
        """Start and wait until it serves (a peer only serves once a quorum is up). A
        standalone server on a free port that lost its port to another process moves to a new
        one (up to 3 tries)."""
        for attempt in range(3):
            self.spawn()
            try:
                self.wait_ready(timeout)
                return
            except RuntimeError as exc:
                self.kill()
                retry = self._auto_port and not self.peers and "already in use" in str(exc)
                if not retry or attempt == 2:
                    raise
                self.port = free_port()
            except BaseException:
                self.kill()
                raise

    def stop(self, grace: float = 10.0) -> None:
        """SIGTERM (resuming a paused server so it can act on it), SIGKILL after ``grace``."""
        proc = self.proc
        if proc is not None and proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            proc.send_signal(signal.SIGCONT)
            try:
                proc.wait(grace)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        self.paused = False
        _live.discard(self)

    def kill(self, wait: bool = True) -> None:
        """SIGKILL: the server vanishes without closing its connections cleanly (``wait``:
        until it is gone; else call :meth:`reap` later)."""
        proc = self.proc
        if proc is not None and proc.poll() is None:
            proc.kill()
            if wait:
                proc.wait()
        self.paused = False
        _live.discard(self)

    def reap(self) -> None:
        if self.proc is not None:
            self.proc.wait()

    def pause(self) -> None:
        """SIGSTOP: the server stops answering but keeps its sockets (a hung or cut-off
        server); clients see their connection time out."""
        if self.running:
            os.kill(self._pid(), signal.SIGSTOP)
            self.paused = True

    def resume(self) -> None:
        """SIGCONT after :meth:`pause`."""
        if self.running:
            os.kill(self._pid(), signal.SIGCONT)
        self.paused = False

    def session_ids(self) -> set[int]:
        """Ids of the sessions connected to this server now (from ``cons``)."""
        try:
            answer = four_letter_word(self.port, "cons")
        except OSError:
            return set()
        return {int(sid, 16) for sid in re.findall(r"sid=0x([0-9a-f]+)", answer)}

    def _pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid


class ZooKeeperEnsemble:
    """``size`` peers on 127.0.0.1 (client, quorum and election port each), data under
    ``base_dir``; kill or restart any of them by index."""

    def __init__(
        self, base_dir: Path, size: int = 3, tick_ms: int = 500, die_with_parent: bool = True
    ) -> None:
        peers = [(free_port(), free_port(), free_port()) for _ in range(size)]
        self.servers = [
            ZooKeeperServer(
                base_dir / f"zk{n}",
                port,
                tick_ms,
                peers=peers,
                myid=n,
                die_with_parent=die_with_parent,
            )
            for n, (port, _quorum, _election) in enumerate(peers, start=1)
        ]

    @property
    def hosts(self) -> str:
        return ",".join(server.hosts for server in self.servers)

    def url(self, path: str) -> str:
        return f"zk://{self.hosts}{path}"

    def start(self, timeout: float = 30.0) -> None:
        """Start every peer and wait until all serve."""
        for server in self.servers:
            server.spawn()
        try:
            for server in self.servers:
                server.wait_ready(timeout)
        except BaseException:
            self.stop()
            raise

    def stop(self) -> None:
        for server in self.servers:
            server.stop()

    def kill(self, index: int) -> None:
        self.servers[index].kill()

    def kill_all(self) -> None:
        """SIGKILL every server at once (one by one, a client cut from the first could
        reconnect to the next before it goes too)."""
        for server in self.servers:
            server.kill(wait=False)
        for server in self.servers:
            server.reap()

    def restart(self, index: int, timeout: float = 30.0) -> None:
        """Start a stopped or killed peer again (same ports and data) and wait until it serves."""
        self.servers[index].stop()
        self.servers[index].start(timeout)

    def modes(self) -> list[str | None]:
        return [server.mode() for server in self.servers]

    def leader_index(self) -> int | None:
        modes = self.modes()
        return modes.index("leader") if "leader" in modes else None

    def follower_indexes(self) -> list[int]:
        return [i for i, mode in enumerate(self.modes()) if mode == "follower"]

    def serving(self, session_id: int) -> int | None:
        """The index of the peer that the session ``session_id`` is connected to."""
        for i, server in enumerate(self.servers):
            if session_id in server.session_ids():
                return i
        return None


def _make_dir(data_dir: str | Path | None) -> tuple[Path, bool]:
    if data_dir is not None:
        Path(data_dir).mkdir(parents=True, exist_ok=True)
        return Path(data_dir), False
    return Path(tempfile.mkdtemp(prefix="pymesos-rt-zk-")), True


@contextlib.contextmanager
def zookeeper_server(
    tick_ms: int = 500, timeout: float = 30.0, data_dir: str | Path | None = None
) -> Iterator[ZooKeeperServer]:
    """A standalone server for the ``with`` block; stopped and its files removed after (files
    are kept when ``data_dir`` is given)."""
    path, owned = _make_dir(data_dir)
    server = ZooKeeperServer(path, tick_ms=tick_ms)
    try:
        server.start(timeout)
        yield server
    finally:
        server.stop()
        if owned:
            shutil.rmtree(path, ignore_errors=True)


@contextlib.contextmanager
def zookeeper_ensemble(
    size: int = 3, tick_ms: int = 500, timeout: float = 30.0, data_dir: str | Path | None = None
) -> Iterator[ZooKeeperEnsemble]:
    """An ensemble of ``size`` peers for the ``with`` block, as :func:`zookeeper_server`."""
    path, owned = _make_dir(data_dir)
    ensemble = ZooKeeperEnsemble(path, size=size, tick_ms=tick_ms)
    try:
        ensemble.start(timeout)
        yield ensemble
    finally:
        ensemble.stop()
        if owned:
            shutil.rmtree(path, ignore_errors=True)


@atexit.register
def _stop_all() -> None:
    for server in list(_live):
        server.kill()
