"""``pymesos-rt``: the command line (also ``python -m pymesos_rt``).

Sub-commands: ``master`` and ``agent`` (the daemons), ``up`` (a master and an agent in the
foreground), ``status`` (the cluster's agents, frameworks, resources and jobs; ``--watch``
redraws it) and ``logs`` (a framework's task output and failures). Flags come from the
dataclasses in :mod:`pymesos_rt.config`. Daemons log to stderr, stop cleanly on SIGTERM/SIGINT,
and refuse bad flags with a one-line error (exit status 2).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import ipaddress
import json
import logging
import os
import signal
import socket
import sys
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any, NoReturn

from pymesos_rt import __version__, console, logs
from pymesos_rt.agent.containers import make_containerizer
from pymesos_rt.agent.gpus import parse_devices
from pymesos_rt.agent.resources import check_prefill, detect, split_store
from pymesos_rt.agent.server import Agent
from pymesos_rt.config import (
    AgentOptions,
    LogsConfig,
    MasterOptions,
    MesosSecretConfig,
    StatusConfig,
    UpConfig,
    add_flags,
    description,
    from_args,
)
from pymesos_rt.coordination import Contender, Detector, Leadership, MasterInfo, make_detector
from pymesos_rt.coordination.address import DEFAULT_MASTER, normalize_address
from pymesos_rt.coordination.follow import LeaderLink
from pymesos_rt.local import LocalCluster
from pymesos_rt.master.allocator import make_allocator
from pymesos_rt.master.identity import mesos_secret
from pymesos_rt.master.server import MasterServer
from pymesos_rt.master.state import MasterState
from pymesos_rt.protocol import codec
from pymesos_rt.protocol.resources import Resources, parse_memory
from pymesos_rt.transport import websocket as ws


class UsageError(Exception):
    """A bad flag or environment: printed as one line, exit status 2."""


def read_secret(secret_file: str | None) -> str | None:
    if secret_file:
        try:
            text = Path(secret_file).read_text().strip()
        except OSError as exc:
            raise UsageError(f"cannot read --secret-file {secret_file}: {exc.strerror}") from None
        if not text:
            raise UsageError(f"--secret-file {secret_file} is empty")
        return text
    return os.environ.get("PYMESOS_RT_SECRET") or None


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _stop_event() -> asyncio.Event:
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    return stop


def parse_weights(text: str | None) -> dict[str, float]:
    weights: dict[str, float] = {}
    for part in (text or "").split(","):
        if not part.strip():
            continue
        role, sep, value = part.partition("=")
        try:
            weights[role.strip()] = float(value)
        except ValueError:
            sep = ""
        if not sep or not role.strip() or weights[role.strip()] <= 0:
            raise UsageError(f'bad --weights {text!r}: use "role=weight,..." with weights > 0')
    return weights


def check_bind(host: str, secret: str | None) -> None:
    if secret is None and not is_loopback(host):
        raise UsageError(
            f"refusing to bind {host} without a cluster secret: "
            "set PYMESOS_RT_SECRET or --secret-file"
        )


def _write_port(path: str | None, port: int) -> None:
    if path:
        tmp = f"{path}.tmp"
        Path(tmp).write_text(f"{port}\n")
        os.replace(tmp, path)


async def _run_master(opts: MasterOptions, secret: str | None) -> None:
    stop = _stop_event()
    weights = parse_weights(opts.weights)
    config = opts.core

    def make_state() -> MasterState:  # a fresh registry for each term as leader
        allocator = make_allocator(opts.allocator)
        allocator.set_weights(weights)
        return MasterState(allocator, config)

    try:
        state = make_state()
    except (ValueError, ImportError, AttributeError, TypeError) as exc:
        raise UsageError(f"bad --allocator {opts.allocator!r}: {exc}") from None
    server = MasterServer(
        state, opts.allocation_interval, make_state=make_state, leading=not opts.zk
    )
    await server.start()
    tls = None
    if opts.tls_cert or opts.tls_key:
        if not (opts.tls_cert and opts.tls_key):
            raise UsageError("--tls-cert and --tls-key go together")
        try:
            tls = ws.tls_server_context(opts.tls_cert, opts.tls_key)
        except ValueError as exc:
            raise UsageError(str(exc)) from None
    try:
        port = server.serve_http(opts.host, opts.port, secret, tls)
    except OSError as exc:
        raise UsageError(f"cannot listen on {opts.host}:{opts.port}: {exc.strerror}") from None
    election = await _join_election(opts, server, port) if opts.zk else None
    _write_port(opts.port_file, port)
    logging.getLogger("pymesos_rt.master").info(
        "master %s listening on %s", server.state.master_id, server.state.address
    )
    await stop.wait()
    if election is not None:
        contender, detector = election
        await contender.withdraw()  # hand over at once instead of after the session timeout
        await detector.stop()
    await server.stop()


async def _join_election(
    opts: MasterOptions, server: MasterServer, port: int
) -> tuple[Contender, Detector]:
    """Contend for leadership under ``--zk``; follow the leader while standing by."""
    from pymesos_rt.coordination.zookeeper import ZooKeeperContender

    assert opts.zk is not None
    advertise = opts.advertise_host or opts.host
    if advertise in ("0.0.0.0", ""):
        advertise = socket.gethostbyname(socket.gethostname())
    scheme = "wss" if opts.tls_cert else "ws"
    info = MasterInfo.from_address(f"{scheme}://{advertise}:{port}", id=server.state.master_id)
    try:
        contender = ZooKeeperContender(opts.zk, opts.zk_session_timeout)
        detector = _detector(opts.zk, opts.zk_session_timeout)
    except ValueError as exc:
        raise UsageError(f"bad --zk: {exc}") from None

    def on_leadership(event: Leadership) -> None:
        if event.leading:
            server.become_leader()
        else:
            server.step_down(event.reason)

    def on_leader(leader: MasterInfo | None) -> None:
        server.leader_address = leader.address if leader else ""

    contender.subscribe(on_leadership)
    detector.subscribe(on_leader)
    await detector.start()
    await contender.start(info)
    # fencing: allocate only while the contender's ZooKeeper lease holds (it lapses before
    # ZooKeeper can expire the session, so two masters never both believe they lead)
    server.lease_valid = lambda: contender.leading
    return contender, detector


async def _run_agent(opts: AgentOptions, secret: str | None) -> None:
    stop = _stop_event()
    master = master_address(opts.master)
    link = LeaderLink(_detector(master), "/api/v1/agent", codec.agent_side, secret)
    try:
        total = Resources.parse(opts.resources) if opts.resources else detect()
    except ValueError as exc:
        raise UsageError(f"bad --resources: {exc}") from None
    try:
        devices = parse_devices(opts.gpu_devices) if opts.gpu_devices else None
    except ValueError as exc:
        raise UsageError(f"bad --gpu-devices: {exc}") from None
    total, store_bytes = split_store(
        total, _store_size(opts.object_store_memory), detected=not opts.resources
    )
    prefill = _store_size(opts.object_store_prefill, STORE_FLAGS[0]) or 0
    try:
        check_prefill(prefill, store_bytes, STORE_FLAGS)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    object_host = opts.object_host or _host_towards(master)
    if secret is None and not is_loopback(object_host):
        raise UsageError(
            f"refusing to serve objects on {object_host} without a cluster secret: "
            "set PYMESOS_RT_SECRET or --secret-file (or --object-host 127.0.0.1)"
        )
    work_dir = Path(opts.work_dir)
    try:
        containerizer = make_containerizer(opts.isolation, "agent", work_dir)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    agent = Agent(
        hostname=opts.hostname or socket.gethostname(),
        resources=total,
        containerizer=containerizer,
        work_dir=work_dir,
        config=opts.core,
        warm_standby=opts.warm_standby,
        mesos_api_host=opts.mesos_api_host,
        switch_user=opts.switch_user,
        gpu_devices=devices,
        object_store_memory=store_bytes,
        secret=secret,
        object_host=object_host,
        object_store_prefill=prefill,
    )

    await link.start()
    starting = asyncio.ensure_future(agent.start(link.connect, link.pause))
    await stop.wait()
    starting.cancel()
    await agent.stop()
    await link.stop()


STORE_FLAGS = ("--object-store-prefill", "--object-store-memory")


def _store_size(text: str | None, flag: str = STORE_FLAGS[1]) -> int | None:
    if not text:
        return None
    try:
        return parse_memory(text)
    except ValueError as exc:
        raise UsageError(f"bad {flag}: {exc}") from None


def _host_towards(master: str) -> str:
    """This host's address on the way to the master (for zk:// addresses: loopback)."""
    from pymesos_rt.client.session import local_address_towards

    host = urllib.parse.urlparse(master).hostname if master.startswith("ws") else None
    return local_address_towards(host or "127.0.0.1")


def _detector(address: str, session_timeout: float | None = None) -> Detector:
    try:
        return make_detector(address, session_timeout)
    except ValueError as exc:
        raise UsageError(f"bad --master: {exc}") from None


def cmd_master(opts: MasterOptions) -> int:
    logs.configure(opts.log_level)
    secret = read_secret(opts.secret_file)
    check_bind(opts.host, secret)
    asyncio.run(_run_master(opts, secret))
    return 0


def cmd_agent(opts: AgentOptions) -> int:
    logs.configure(opts.log_level)
    asyncio.run(_run_agent(opts, read_secret(opts.secret_file)))
    return 0


async def _serve_until_signal(cluster: LocalCluster) -> None:
    stop = _stop_event()
    await cluster.start()
    print(
        f"pymesos-rt: master on ws://{cluster.host}:{cluster.port}, dashboard at "
        f"{cluster.http_url}/; Ctrl-C stops",
        file=sys.stderr,
        flush=True,
    )
    await stop.wait()
    await cluster.stop()


def cmd_up(cfg: UpConfig) -> int:
    logs.configure(cfg.log_level)
    secret = read_secret(cfg.secret_file)
    check_bind(cfg.host, secret)
    try:
        cluster = LocalCluster(
            secret=secret,
            isolation=cfg.isolation,
            allocator=cfg.allocator,
            work_dir=Path(cfg.work_dir) if cfg.work_dir else None,
            host=cfg.host,
            port=cfg.port,
            resources_text=cfg.resources,
            filter_gpu_resources=cfg.filter_gpu_resources,
            object_store_memory=_store_size(cfg.object_store_memory),
            object_store_prefill=_store_size(cfg.object_store_prefill, STORE_FLAGS[0]) or 0,
            store_names=STORE_FLAGS,
        )
    except ValueError as exc:  # e.g. an isolation that cannot work on this machine
        raise UsageError(str(exc)) from None
    try:
        asyncio.run(_serve_until_signal(cluster))
    except OSError as exc:
        raise UsageError(
            f"cannot listen on {cfg.host}:{cfg.port}: {exc.strerror or exc}; "
            "stop what uses it or pick another --port (0: any free one)"
        ) from None
    return 0


def master_address(given: str | None) -> str:
    """``--master``, else ``PYMESOS_RT_ADDRESS`` (as ``rt.init`` reads it), else the default
    master; ``http://host:port`` and ``host:port`` mean ``ws://host:port``."""
    try:
        return normalize_address(given or os.environ.get("PYMESOS_RT_ADDRESS") or DEFAULT_MASTER)
    except ValueError as exc:
        raise UsageError(f"bad --master: {exc}") from None


def _http_base(master: str) -> str:
    scheme, sep, rest = master.partition("://")
    if scheme not in ("ws", "wss", "http", "https") or not sep or not rest:
        raise UsageError(f"bad --master {master!r}: use ws://host:port")
    secure = scheme in ("wss", "https")
    return ("https://" if secure else "http://") + rest.rstrip("/")


def _fmt(res: dict[str, float]) -> str:
    return ";".join(f"{k}:{v:g}" for k, v in sorted(res.items())) or "-"


def render_status(state: dict[str, Any]) -> str:
    res, counts = state["resources"], state.get("counts", {})
    lines = [
        f"master {state['master_id']}  total {_fmt(res['total'])}  used {_fmt(res.get('used', {}))}"
        f"  offered {_fmt(res.get('offered', {}))}",
        _shown(state, counts),
        "",
    ]
    lines.append(f"{'AGENT':24} {'HOST':16} {'STATE':12} {'ISOLATION':10} {'TOTAL':28} {'USED':28}")
    for a in state["agents"]:
        lines.append(
            f"{a['id']:24} {a['hostname']:16} {a['state']:12} {a['isolation']:10} "
            f"{_fmt(a['resources']):28} {_fmt(a['used']):28}"
        )
    lines += [
        "",
        f"{'FRAMEWORK':20} {'NAME':20} {'ROLE':8} {'SHARE':>7} {'EXECUTORS':>9} "
        f"{'QUEUED':>7} {'RUNNING':>7} {'DONE':>7} {'FAILED':>7}",
    ]
    for f in state["frameworks"]:
        name, executors, t = f["name"][:20], f["executor_count"], f.get("tasks", {})
        counts = " ".join(f"{t.get(k, 0):7d}" for k in ("queued", "running", "finished", "failed"))
        lines.append(
            f"{f['id']:20} {name:20} {f['role']:8} {f['share']:7.3f} {executors:9d} {counts}"
        )
    stores = _store_lines(state["agents"])
    lines += stores + _executor_lines(state.get("executors", []))
    return "\n".join(lines + _actor_lines(state.get("actors", [])))


def _store_lines(agents: list[dict[str, Any]]) -> list[str]:
    """One line per agent's object store: arena use, objects, pinned, spilled (MiB)."""
    rows = [(a["id"], a["object_store"]) for a in agents if a.get("object_store")]
    if not rows:
        return []
    lines = [
        "",
        f"{'OBJECT STORE':24} {'USED-MIB':>9} {'SIZE-MIB':>9} {'OBJECTS':>8} {'PINNED':>7} "
        f"{'COPIES':>7} {'SPILLED':>8} {'SPILL-MIB':>10}",
    ]
    for agent_id, st in rows:
        lines.append(
            f"{agent_id:24} {st['used'] / 2**20:9.1f} {st['capacity'] / 2**20:9.1f} "
            f"{st['objects']:8d} {st['pinned']:7d} {st['secondary']:7d} "
            f"{st['spilled_objects']:8d} {st['spilled_bytes'] / 2**20:10.1f}"
        )
    return lines


def _shown(state: dict[str, Any], counts: dict[str, int]) -> str:
    """Which part of each list this page shows (``/state`` is paginated)."""
    offset = state.get("page", {}).get("offset", 0)
    parts = []
    for name in ("agents", "frameworks", "executors"):
        shown, total = len(state[name]), counts.get(name, len(state[name]))
        span = f"{offset + 1}-{offset + shown}" if shown else "none"
        parts.append(f"{name} {span} of {total}" if shown < total else f"{total} {name}")
    return "showing " + ", ".join(parts) + " (--limit, --offset)"


def _actor_lines(actors: list[dict[str, Any]]) -> list[str]:
    """One line per actor: class, name, state, where it runs, restarts, unanswered calls."""
    if not actors:
        return []
    lines = [
        "",
        f"{'ACTOR':20} {'CLASS':20} {'NAME':16} {'STATE':10} {'AGENT':24} "
        f"{'RESTARTS':>8} {'PENDING':>8}",
    ]
    for a in actors:
        lines.append(
            f"{a['actor_id']:20} {a['class'][:20]:20} {a['name'][:16] or '-':16} {a['state']:10} "
            f"{a['agent_id'] or '-':24} {a['restarts']:8d} {a['pending']:8d}"
        )
    return lines


def _executor_lines(executors: list[dict[str, Any]]) -> list[str]:
    """One line per executor with its usage (cpu seconds, memory now and peak, in MiB)."""
    if not executors:
        return []
    lines = [
        "",
        f"{'EXECUTOR':24} {'AGENT':24} {'STATE':9} {'RESOURCES':24} "
        f"{'CPU-S':>8} {'MEM-MIB':>8} {'PEAK-MIB':>8}",
    ]
    for e in executors:
        use = e.get("usage") or {}
        cpu = f"{use['cpu_seconds']:8.1f}" if "cpu_seconds" in use else f"{'-':>8}"
        mem, peak = (
            f"{use[k] / 2**20:8.1f}" if k in use else f"{'-':>8}" for k in ("memory", "memory_peak")
        )
        lines.append(
            f"{e['executor_id']:24} {e['agent_id']:24} {e['state']:9} "
            f"{_fmt(e['resources']):24} {cpu} {mem} {peak}"
        )
    return lines


async def _leader_of(address: str) -> str:
    detector = _detector(address)
    await detector.start()
    try:
        leader = await detector.wait_leader(15)
    except TimeoutError:
        raise UsageError(f"no leading master found at {address}") from None
    finally:
        await detector.stop()
    return leader.address


def cmd_status(cfg: StatusConfig) -> int:
    given = master_address(cfg.master)
    master = asyncio.run(_leader_of(given)) if given.startswith("zk://") else given
    base = _http_base(master)
    url = base + f"/state?limit={cfg.limit}&offset={cfg.offset}"
    tls = ws.tls_client_context() if url.startswith("https") else None

    def render() -> str:
        with urllib.request.urlopen(url, timeout=10, context=tls) as resp:
            state = json.load(resp)
        if cfg.json:
            return json.dumps(state, indent=2)
        text = render_status(state) + console.render_jobs(console.fetch(base, "/jobs", tls))
        return logs.printable(text, keep_newlines=True)  # names are the users' choice

    try:
        if cfg.watch:
            console.watch(render, max(0.1, cfg.interval))
        print(render())
    except (urllib.error.URLError, OSError) as exc:
        print(f"pymesos-rt status: cannot reach {url}: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:  # how --watch ends
        return 0
    return 0


def cmd_logs(framework: str, cfg: LogsConfig) -> int:
    given = master_address(cfg.master)
    master = asyncio.run(_leader_of(given)) if given.startswith("zk://") else given
    base = _http_base(master)
    tls = ws.tls_client_context() if base.startswith("https") else None
    try:
        console.print_logs(base, console.find_framework(base, framework, tls), cfg.follow, tls=tls)
    except console.NotFound as exc:
        raise UsageError(str(exc)) from None
    except (urllib.error.URLError, OSError) as exc:
        print(f"pymesos-rt logs: cannot reach {base}: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:  # how --follow ends early
        return 0
    return 0


def cmd_mesos_secret(principal: str, cfg: MesosSecretConfig) -> int:
    cluster_secret = read_secret(cfg.secret_file)
    if cluster_secret is None:
        raise UsageError(
            "no cluster secret (PYMESOS_RT_SECRET or --secret-file): without one, a Mesos "
            "framework may use any secret of its own"
        )
    try:
        print(mesos_secret(cluster_secret, principal))
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    return 0


class _Parser(argparse.ArgumentParser):
    """Bad flags: one line on stderr (not argparse's usage dump), exit status 2."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: {message} (see --help)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="pymesos-rt", description=__doc__.splitlines()[0])
    parser.add_argument("--version", action="version", version=f"pymesos-rt {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    for name, cls in (
        ("master", MasterOptions),
        ("agent", AgentOptions),
        ("up", UpConfig),
        ("status", StatusConfig),
    ):
        text = description(cls)
        add_flags(sub.add_parser(name, help=text, description=text), cls)
    logs_parser = sub.add_parser(
        "logs", help=description(LogsConfig), description=description(LogsConfig)
    )
    logs_parser.add_argument("framework", help="the framework's id or name")
    add_flags(logs_parser, LogsConfig)
    text = description(MesosSecretConfig)
    secret_parser = sub.add_parser("mesos-secret", help=text, description=text)
    secret_parser.add_argument("principal", help="the framework's HTTP Basic principal")
    add_flags(secret_parser, MesosSecretConfig)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        if args.command == "master":
            return cmd_master(from_args(MasterOptions, args))
        if args.command == "agent":
            return cmd_agent(from_args(AgentOptions, args))
        if args.command == "up":
            return cmd_up(from_args(UpConfig, args))
        if args.command == "logs":
            return cmd_logs(args.framework, from_args(LogsConfig, args))
        if args.command == "mesos-secret":
            return cmd_mesos_secret(args.principal, from_args(MesosSecretConfig, args))
        return cmd_status(from_args(StatusConfig, args))
    except UsageError as exc:
        print(f"pymesos-rt: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        with contextlib.suppress(Exception):
            sys.stderr.write("\n")
        return 130


if __name__ == "__main__":
    sys.exit(main())
