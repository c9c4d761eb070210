"""One frozen configuration dataclass per daemon; command-line flags are generated from them.

Each field's ``metadata["help"]`` is its flag's help text; the flag is ``--field-name``. Only
``str``, ``int``, ``float`` and ``bool`` fields (optionally ``| None``) are used.
"""

from __future__ import annotations

import argparse
import dataclasses
import types
import typing
from typing import Any, TypeVar

C = TypeVar("C")


def _help(text: str) -> dict[str, str]:
    return {"help": text}


@dataclasses.dataclass(frozen=True)
class UpConfig:
    """``pymesos-rt up``: a master and one agent in the foreground."""

    host: str = dataclasses.field(default="127.0.0.1", metadata=_help("address to bind"))
    port: int = dataclasses.field(default=5050, metadata=_help("master port (0: pick one)"))
    resources: str | None = dataclasses.field(
        default=None, metadata=_help('agent resources, e.g. "cpus:4;mem:4096" (mem in MiB)')
    )
    isolation: str = dataclasses.field(
        default="auto", metadata=_help("auto, cgroups-v2, cgroups-v1 or none")
    )
    allocator: str = dataclasses.field(default="drf", metadata=_help("drf, random or module:Class"))
    no_filter_gpu_resources: bool = dataclasses.field(
        default=False, metadata=_help("offer agents with GPUs to frameworks that use none too")
    )
    work_dir: str | None = dataclasses.field(default=None, metadata=_help("agent work directory"))
    object_store_memory: str | None = dataclasses.field(
        default=None, metadata=_help('object store size, e.g. "2GiB" (default: 30%% of memory)')
    )
    secret_file: str | None = dataclasses.field(
        default=None, metadata=_help("file holding the cluster secret (else PYMESOS_RT_SECRET)")
    )
    log_level: str = dataclasses.field(default="INFO", metadata=_help("DEBUG, INFO, WARNING"))


@dataclasses.dataclass(frozen=True)
class MasterOptions:
    """``pymesos-rt master``: run a master."""

    host: str = dataclasses.field(default="127.0.0.1", metadata=_help("address to bind"))
    port: int = dataclasses.field(default=5050, metadata=_help("port (0: pick a free one)"))
    port_file: str | None = dataclasses.field(
        default=None, metadata=_help("write the bound port to this file once listening")
    )
    allocator: str = dataclasses.field(default="drf", metadata=_help("drf, random or module:Class"))
    no_filter_gpu_resources: bool = dataclasses.field(
        default=False,
        metadata=_help(
            "offer agents with GPUs to every framework (default: only to frameworks with the "
            "GPU_RESOURCES capability, as Mesos's --filter_gpu_resources)"
        ),
    )
    weights: str | None = dataclasses.field(
        default=None, metadata=_help('role weights, e.g. "a=2,b=1" (default weight 1)')
    )
    offer_timeout: float = dataclasses.field(
        default=30.0, metadata=_help("seconds before an unanswered offer is rescinded")
    )
    agent_timeout: float = dataclasses.field(
        default=15.0, metadata=_help("seconds without a message before an agent is lost")
    )
    agent_reregister_timeout: float = dataclasses.field(
        default=10.0, metadata=_help("seconds a disconnected agent has to come back")
    )
    allocation_interval: float = dataclasses.field(
        default=1.0, metadata=_help("seconds between periodic allocation rounds")
    )
    reclaim_interval: float = dataclasses.field(
        default=5.0,
        metadata=_help("seconds before a framework over its fair share is asked again"),
    )
    zk: str | None = dataclasses.field(
        default=None,
        metadata=_help("zk://host:port[,host:port...]/path: elect one leader among masters"),
    )
    zk_session_timeout: float = dataclasses.field(
        default=10.0, metadata=_help("ZooKeeper session timeout (seconds)")
    )
    advertise_host: str | None = dataclasses.field(
        default=None, metadata=_help("address others reach this master at (default: --host)")
    )
    tls_cert: str | None = dataclasses.field(
        default=None, metadata=_help("PEM certificate: serve wss:// and https:// (with --tls-key)")
    )
    tls_key: str | None = dataclasses.field(default=None, metadata=_help("PEM private key"))
    mesos_heartbeat_interval: float = dataclasses.field(
        default=15.0, metadata=_help("seconds between HEARTBEAT events on Mesos v1 API streams")
    )
    secret_file: str | None = dataclasses.field(
        default=None, metadata=_help("file holding the cluster secret (else PYMESOS_RT_SECRET)")
    )
    log_level: str = dataclasses.field(default="INFO", metadata=_help("DEBUG, INFO, WARNING"))


@dataclasses.dataclass(frozen=True)
class AgentOptions:
    """``pymesos-rt agent``: run an agent that offers this node to a master."""

    master: str = dataclasses.field(
        default="ws://127.0.0.1:5050", metadata=_help("master address, ws://host:port")
    )
    resources: str | None = dataclasses.field(
        default=None, metadata=_help('e.g. "cpus:4;mem:4096" (mem in MiB; default: measured)')
    )
    gpu_devices: str | None = dataclasses.field(
        default=None,
        metadata=_help(
            "GPU device indices to offer, e.g. 0,1 (default: found with nvidia-smi/NVML, "
            "else 0..N-1 for gpus:N in --resources)"
        ),
    )
    isolation: str = dataclasses.field(
        default="auto", metadata=_help("auto, cgroups-v2, cgroups-v1 or none")
    )
    work_dir: str = dataclasses.field(
        default="/tmp/pymesos-rt-agent", metadata=_help("sandboxes and leftovers live here")
    )
    hostname: str | None = dataclasses.field(
        default=None, metadata=_help("name to report (default: this host's name)")
    )
    heartbeat_interval: float = dataclasses.field(
        default=5.0, metadata=_help("seconds between heartbeats to the master")
    )
    secret_file: str | None = dataclasses.field(
        default=None, metadata=_help("file holding the cluster secret (else PYMESOS_RT_SECRET)")
    )
    log_level: str = dataclasses.field(default="INFO", metadata=_help("DEBUG, INFO, WARNING"))
    no_warm_standby: bool = dataclasses.field(
        default=False,
        metadata=_help("keep no executor process started ahead of need (saves ~25 MiB)"),
    )
    status_resend_interval: float = dataclasses.field(
        default=5.0, metadata=_help("seconds between resends of an unacknowledged status update")
    )
    mesos_api_host: str = dataclasses.field(
        default="127.0.0.1",
        metadata=_help(
            "address of the Mesos executor API (MESOS_AGENT_ENDPOINT) for custom executors"
        ),
    )
    object_store_memory: str | None = dataclasses.field(
        default=None,
        metadata=_help('object store size, e.g. "2GiB" (default: 30%% of the agent\'s memory)'),
    )
    object_host: str | None = dataclasses.field(
        default=None,
        metadata=_help("address of the object endpoint (default: this host's towards the master)"),
    )


@dataclasses.dataclass(frozen=True)
class StatusConfig:
    """``pymesos-rt status``: print the cluster's state."""

    master: str = dataclasses.field(
        default="ws://127.0.0.1:5050", metadata=_help("master address, ws://host:port")
    )
    json: bool = dataclasses.field(default=False, metadata=_help("print JSON"))
    limit: int = dataclasses.field(
        default=100, metadata=_help("agents, frameworks and executors to show, each (max 10000)")
    )
    offset: int = dataclasses.field(default=0, metadata=_help("skip this many of each first"))
    watch: bool = dataclasses.field(
        default=False, metadata=_help("redraw every --interval seconds until Ctrl-C")
    )
    interval: float = dataclasses.field(
        default=2.0, metadata=_help("seconds between redraws with --watch")
    )


@dataclasses.dataclass(frozen=True)
class LogsConfig:
    """``pymesos-rt logs FRAMEWORK``: what a framework's tasks printed, and its failures."""

    master: str = dataclasses.field(
        default="ws://127.0.0.1:5050", metadata=_help("master address, ws://host:port")
    )
    follow: bool = dataclasses.field(
        default=False, metadata=_help("keep printing what comes until the framework ends")
    )


def add_flags(parser: argparse.ArgumentParser, cls: type[Any]) -> None:
    hints = typing.get_type_hints(cls)
    for field in dataclasses.fields(cls):
        flag = "--" + field.name.replace("_", "-")
        kind = hints[field.name]
        if isinstance(kind, types.UnionType):
            kind = next(t for t in typing.get_args(kind) if t is not type(None))
        help_text = field.metadata.get("help", "")
        if kind is bool:
            parser.add_argument(flag, action="store_true", help=help_text)
        else:
            parser.add_argument(
                flag,
                type=kind,
                default=field.default,
                help=f"{help_text} (default: {field.default})",
            )


def from_args(cls: type[C], args: argparse.Namespace) -> C:
    return cls(**{f.name: getattr(args, f.name) for f in dataclasses.fields(cls)})  # type: ignore[arg-type]
