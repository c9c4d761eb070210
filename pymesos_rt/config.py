"""One frozen configuration dataclass per daemon; command-line flags are generated from them.

Each field's ``metadata["help"]`` is its flag's help text; the flag is ``--field-name`` (or
``metadata["flag"]``). Only ``str``, ``int``, ``float`` and ``bool`` fields (optionally
``| None``) are used, and nested config dataclasses: a daemon's config holds its core's
(``MasterConfig``, ``AgentConfig``), whose fields become flags too, so each default is written
once. Booleans are ``--name/--no-name``.
"""

from __future__ import annotations

import argparse
import dataclasses
import types
import typing
from typing import Any, TypeVar

from pymesos_rt.agent.state import AgentConfig
from pymesos_rt.master.records import MasterConfig

C = TypeVar("C")
MASTER_HELP = (
    "master address: ws://host:port, http://host:port, host:port or zk://host:port/path "
    "(default: PYMESOS_RT_ADDRESS, else ws://127.0.0.1:5050)"
)


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
    filter_gpu_resources: bool = dataclasses.field(
        default=True, metadata=_help("offer agents with GPUs only to frameworks that use GPUs")
    )
    work_dir: str | None = dataclasses.field(default=None, metadata=_help("agent work directory"))
    object_store_memory: str | None = dataclasses.field(
        default=None, metadata=_help('object store size, e.g. "2GiB" (default: 30%% of memory)')
    )
    object_store_prefill: str | None = dataclasses.field(
        default=None,
        metadata=_help(
            'object store memory backed from the start, e.g. "256MiB": held while idle, for a '
            "faster first burst of large values (default: none, backed as used)"
        ),
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
    weights: str | None = dataclasses.field(
        default=None, metadata=_help('role weights, e.g. "a=2,b=1" (default weight 1)')
    )
    allocation_interval: float = dataclasses.field(
        default=1.0, metadata=_help("seconds between periodic allocation rounds")
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
    secret_file: str | None = dataclasses.field(
        default=None, metadata=_help("file holding the cluster secret (else PYMESOS_RT_SECRET)")
    )
    log_level: str = dataclasses.field(default="INFO", metadata=_help("DEBUG, INFO, WARNING"))
    # the core's own config: its fields are flags too (one place for each default)
    core: MasterConfig = dataclasses.field(default_factory=MasterConfig)


@dataclasses.dataclass(frozen=True)
class AgentOptions:
    """``pymesos-rt agent``: run an agent that offers this node to a master."""

    master: str | None = dataclasses.field(default=None, metadata=_help(MASTER_HELP))
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
    secret_file: str | None = dataclasses.field(
        default=None, metadata=_help("file holding the cluster secret (else PYMESOS_RT_SECRET)")
    )
    log_level: str = dataclasses.field(default="INFO", metadata=_help("DEBUG, INFO, WARNING"))
    warm_standby: bool = dataclasses.field(
        default=True,
        metadata=_help("keep one executor process started ahead of need (about 25 MiB)"),
    )
    mesos_api_host: str = dataclasses.field(
        default="127.0.0.1",
        metadata=_help(
            "address of the Mesos executor API (MESOS_AGENT_ENDPOINT) for custom executors"
        ),
    )
    switch_user: bool = dataclasses.field(
        default=True,
        metadata=_help(
            "run Mesos tasks and executors as their CommandInfo/FrameworkInfo user (needs root)"
        ),
    )
    object_store_memory: str | None = dataclasses.field(
        default=None,
        metadata=_help('object store size, e.g. "2GiB" (default: 30%% of the agent\'s memory)'),
    )
    object_store_prefill: str | None = dataclasses.field(
        default=None,
        metadata=_help(
            'object store memory backed from the start, e.g. "256MiB": held while idle, for a '
            "faster first burst of large values (default: none, backed as used)"
        ),
    )
    object_host: str | None = dataclasses.field(
        default=None,
        metadata=_help("address of the object endpoint (default: this host's towards the master)"),
    )
    # the core's own config: its fields are flags too (one place for each default)
    core: AgentConfig = dataclasses.field(default_factory=AgentConfig)


@dataclasses.dataclass(frozen=True)
class StatusConfig:
    """``pymesos-rt status``: print the cluster's state."""

    master: str | None = dataclasses.field(default=None, metadata=_help(MASTER_HELP))
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

    master: str | None = dataclasses.field(default=None, metadata=_help(MASTER_HELP))
    follow: bool = dataclasses.field(
        default=False, metadata=_help("keep printing what comes until the framework ends")
    )


@dataclasses.dataclass(frozen=True)
class MesosSecretConfig:
    """``pymesos-rt mesos-secret PRINCIPAL``: print a new HTTP Basic secret for a Mesos framework
    of that principal (docs/mesos-api.md)."""

    secret_file: str | None = dataclasses.field(
        default=None, metadata=_help("file holding the cluster secret (else PYMESOS_RT_SECRET)")
    )


def _plain(text: str) -> str:
    """Help text without reStructuredText markup (``literal`` -> literal)."""
    return text.replace("``", "").strip()


def description(cls: type[Any]) -> str:
    """A config class's docstring as plain help text."""
    return _plain(cls.__doc__ or "")


def add_flags(parser: argparse.ArgumentParser, cls: type[Any]) -> None:
    """One flag per field (``--field-name``, or ``metadata["flag"]``); the fields of a nested
    config dataclass (a daemon's core config) become flags too. Booleans are
    ``--name/--no-name`` (``argparse.BooleanOptionalAction``)."""
    hints = typing.get_type_hints(cls)
    for field in dataclasses.fields(cls):
        kind = hints[field.name]
        if dataclasses.is_dataclass(kind):
            add_flags(parser, kind)  # type: ignore[arg-type]
            continue
        flag = "--" + field.metadata.get("flag", field.name).replace("_", "-")
        if isinstance(kind, types.UnionType):
            kind = next(t for t in typing.get_args(kind) if t is not type(None))
        help_text = _plain(field.metadata.get("help", ""))
        default = field.default
        if kind is bool:
            parser.add_argument(
                flag,
                dest=field.name,
                action=argparse.BooleanOptionalAction,
                default=default,
                help=f"{help_text} (default: {'on' if default else 'off'})",
            )
            continue
        if default is not None and "default" not in help_text:
            help_text += f" (default: {default})"
        parser.add_argument(
            flag,
            dest=field.name,
            type=kind,
            default=default,
            help=help_text,
            metavar=kind.__name__.upper(),
        )


def from_args(cls: type[C], args: argparse.Namespace) -> C:
    """The config (with its nested configs) from parsed flags."""
    hints = typing.get_type_hints(cls)
    values: dict[str, Any] = {}
    for field in dataclasses.fields(cls):  # type: ignore[arg-type]
        kind = hints[field.name]
        if dataclasses.is_dataclass(kind):
            values[field.name] = from_args(kind, args)  # type: ignore[arg-type]
        else:
            values[field.name] = getattr(args, field.name)
    return cls(**values)
