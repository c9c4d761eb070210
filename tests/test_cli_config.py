"""The command line's flags come from one frozen config per daemon (issue 9, point 9): the
core's defaults written once, booleans as --x/--no-x, help without markup, --version, and
the same addresses as rt.init."""

from __future__ import annotations

import dataclasses
import re

import pytest

from pymesos_rt import __version__
from pymesos_rt.agent.state import AgentConfig
from pymesos_rt.cli import UsageError, _store_size, build_parser, master_address
from pymesos_rt.config import AgentOptions, MasterOptions, UpConfig, from_args
from pymesos_rt.coordination.address import normalize_address
from pymesos_rt.master.records import MasterConfig


def parse(*argv: str):
    return build_parser().parse_args(list(argv))


def test_the_cores_configs_are_the_daemons_flags_with_their_defaults_written_once():
    opts = from_args(MasterOptions, parse("master"))
    assert opts.core == MasterConfig()
    opts = from_args(MasterOptions, parse("master", "--offer-timeout", "7", "--no-reclaim"))
    assert opts.core.offer_timeout == 7.0 and opts.core.reclaim is False
    agent = from_args(AgentOptions, parse("agent", "--status-resend-interval", "2"))
    assert agent.core == AgentConfig(resend_interval=2.0) and agent.warm_standby is True
    assert from_args(AgentOptions, parse("agent", "--no-warm-standby")).warm_standby is False
    for cls in (MasterConfig, AgentConfig, MasterOptions, AgentOptions):
        assert cls.__dataclass_params__.frozen, cls  # type: ignore[attr-defined]
    names = {f.name for f in dataclasses.fields(MasterOptions)}
    assert not names & {f.name for f in dataclasses.fields(MasterConfig)}  # nothing twice


@pytest.mark.parametrize("command", ["master", "agent", "up", "status", "logs"])
def test_help_has_no_markup_and_one_default_each(command, capsys):
    with pytest.raises(SystemExit):
        parse(command, "--help")
    text = capsys.readouterr().out
    assert "``" not in text and "(default: None)" not in text
    assert not re.search(r"\(default: [^)]*\)\s*\(default:", text)  # never twice


def test_version(capsys):
    with pytest.raises(SystemExit) as info:
        parse("--version")
    assert info.value.code == 0 and capsys.readouterr().out.strip() == f"pymesos-rt {__version__}"


@pytest.mark.parametrize(
    ("given", "address"),
    [
        ("ws://10.0.0.1:5050", "ws://10.0.0.1:5050"),
        ("http://10.0.0.1:5050/", "ws://10.0.0.1:5050"),
        ("https://m.example:443", "wss://m.example:443"),
        ("10.0.0.1:5050", "ws://10.0.0.1:5050"),
        ("zk://z1:2181,z2:2181/mesos", "zk://z1:2181,z2:2181/mesos"),
    ],
)
def test_init_and_status_take_the_same_addresses(given, address):
    assert normalize_address(given) == address
    assert master_address(given) == address


def test_status_reads_pymesos_rt_address_as_init_does(monkeypatch):
    monkeypatch.setenv("PYMESOS_RT_ADDRESS", "127.0.0.1:6060")
    assert master_address(None) == "ws://127.0.0.1:6060"
    monkeypatch.delenv("PYMESOS_RT_ADDRESS")
    assert master_address(None) == "ws://127.0.0.1:5050"


@pytest.mark.parametrize(("command", "cls"), [("agent", AgentOptions), ("up", UpConfig)])
def test_the_object_store_prefill_is_a_flag_of_both_commands_off_by_default(command, cls):
    assert from_args(cls, parse(command)).object_store_prefill is None
    opts = from_args(cls, parse(command, "--object-store-prefill", "256MiB"))
    assert _store_size(opts.object_store_prefill, "--object-store-prefill") == 256 * 2**20
    with pytest.raises(UsageError, match=r"^bad --object-store-prefill: cannot parse"):
        _store_size("256 apples", "--object-store-prefill")
