"""``pymesos-rt``: the command line (also ``python -m pymesos_rt``).

Sub-commands: ``up`` (a master and an agent in the foreground) and ``status`` (the cluster's
agents, frameworks and resources). Flags come from the dataclasses in :mod:`pymesos_rt.config`.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import ipaddress
import json
import os
import secrets
import signal
import sys
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from pymesos_rt import logs
from pymesos_rt.config import StatusConfig, UpConfig, add_flags, from_args
from pymesos_rt.local import LocalCluster


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


async def _serve_until_signal(cluster: LocalCluster) -> None:
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await cluster.start()
    print(
        f"pymesos-rt: master on ws://{cluster.host}:{cluster.port}, state at "
        f"{cluster.http_url}/state; Ctrl-C stops",
        file=sys.stderr,
        flush=True,
    )
    await stop.wait()
    await cluster.stop()


def cmd_up(cfg: UpConfig) -> int:
    logs.configure(cfg.log_level)
    secret = read_secret(cfg.secret_file)
    if secret is None:
        if not is_loopback(cfg.host):
            raise UsageError(
                f"refusing to bind {cfg.host} without a cluster secret: "
                "set PYMESOS_RT_SECRET or --secret-file"
            )
        secret = secrets.token_hex(16)
        print(
            f"pymesos-rt: no secret given; clients need: export PYMESOS_RT_SECRET={secret}",
            file=sys.stderr,
        )
    cluster = LocalCluster(
        secret=secret,
        isolation=cfg.isolation,
        allocator=cfg.allocator,
        work_dir=Path(cfg.work_dir) if cfg.work_dir else None,
        host=cfg.host,
        port=cfg.port,
        resources_text=cfg.resources,
    )
    asyncio.run(_serve_until_signal(cluster))
    return 0


def _http_base(master: str) -> str:
    if not master.startswith(("ws://", "http://")):
        raise UsageError(f"bad --master {master!r}: use ws://host:port")
    return "http://" + master.split("://", 1)[1].rstrip("/")


def _fmt(res: dict[str, float]) -> str:
    return ";".join(f"{k}:{v:g}" for k, v in sorted(res.items())) or "-"


def render_status(state: dict[str, Any]) -> str:
    lines = [f"master {state['master_id']}  total {_fmt(state['resources']['total'])}", ""]
    lines.append(f"{'AGENT':24} {'HOST':16} {'STATE':12} {'ISOLATION':10} {'TOTAL':28} {'USED':28}")
    for a in state["agents"]:
        lines.append(
            f"{a['id']:24} {a['hostname']:16} {a['state']:12} {a['isolation']:10} "
            f"{_fmt(a['resources']):28} {_fmt(a['used']):28}"
        )
    lines += ["", f"{'FRAMEWORK':20} {'NAME':20} {'ROLE':8} {'SHARE':>7} {'EXECUTORS':>9}"]
    for f in state["frameworks"]:
        name, executors = f["name"][:20], len(f["executors"])
        lines.append(f"{f['id']:20} {name:20} {f['role']:8} {f['share']:7.3f} {executors:9d}")
    return "\n".join(lines)


def cmd_status(cfg: StatusConfig) -> int:
    url = _http_base(cfg.master) + "/state"
    try:
        with urllib.request.urlopen(url, timeout=10) as resp:
            state = json.load(resp)
    except (urllib.error.URLError, OSError) as exc:
        print(f"pymesos-rt status: cannot reach {url}: {exc}", file=sys.stderr)
        return 1
    print(json.dumps(state, indent=2) if cfg.json else render_status(state))
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="pymesos-rt", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    add_flags(sub.add_parser("up", help=UpConfig.__doc__), UpConfig)
    add_flags(sub.add_parser("status", help=StatusConfig.__doc__), StatusConfig)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        if args.command == "up":
            return cmd_up(from_args(UpConfig, args))
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
