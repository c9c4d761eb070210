"""``@remote`` options with Ray's names: validation, and what a call submits."""

from __future__ import annotations

import pytest

from pymesos_rt import serialization
from pymesos_rt.client.options import RemoteOptions
from pymesos_rt.protocol import messages as m
from pymesos_rt.protocol.resources import Resources
from pymesos_rt.util.scheduling_strategies import NodeAffinitySchedulingStrategy


def fn(x):
    return x


def gen(n):
    yield from range(n)


async def agen(n):
    yield n


class Stored:
    def __init__(self, oid: str) -> None:
        self.object_id = oid


def submitted(**options):
    puts: list[bytes] = []

    def put(data: bytes) -> Stored:
        puts.append(data)
        return Stored(f"obj{len(puts)}")

    return RemoteOptions().merged(**options).task_options(fn, put, owner=object()), puts


def test_plain_options_carry_no_extra():
    task, _ = submitted()
    assert task.extra is None and task.num_returns == 1
    assert task.shape == Resources(cpus=1)


def test_ray_resource_names_become_the_wire_shape():
    task, _ = submitted(num_cpus=0.5, num_gpus=0.25, memory="1GiB", resources={"Custom": 2})
    assert task.shape == Resources(cpus=0.5, gpus=0.25, mem=1024, Custom=2)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"resources": {"CPU": 1}}, "num_cpus"),
        ({"resources": {"GPU": 1}}, "num_gpus"),
        ({"resources": {"memory": 1}}, "memory"),
        ({"num_gpus": 1.5}, "whole number"),
        ({"num_gpus": -1}, "num_gpus"),
        ({"max_retries": -2}, "max_retries"),
        ({"max_calls": -1}, "max_calls"),
        ({"num_returns": "many"}, "num_returns"),
        ({"num_returns": -1}, "num_returns"),
        ({"scheduling_strategy": "PACK"}, "scheduling_strategy"),
        ({"runtime_env": {"pip": ["requests"]}}, "not supported"),
        ({"runtime_env": {"conda": "env"}}, "not supported"),
        ({"runtime_env": {"nonsense": 1}}, "unknown runtime_env key"),
        ({"runtime_env": {"working_dir": "/no/such/dir"}}, "not a local directory"),
    ],
)
def test_bad_options_are_refused_with_a_clear_message(options, message):
    with pytest.raises((ValueError, TypeError), match=message):
        RemoteOptions().merged(**options)


def test_bad_retry_exceptions():
    with pytest.raises(TypeError, match="retry_exceptions"):
        RemoteOptions(retry_exceptions=[ValueError, "KeyError"])  # type: ignore[list-item]


def test_num_returns_for_generators_and_explicit_values():
    assert RemoteOptions().returns_for(fn) == 1
    assert RemoteOptions().returns_for(gen) == m.STREAMING
    assert RemoteOptions().returns_for(agen) == m.STREAMING
    assert RemoteOptions(num_returns=3).returns_for(gen) == 3
    assert RemoteOptions(num_returns="dynamic").returns_for(gen) == m.DYNAMIC
    assert RemoteOptions(num_returns=0).returns_for(fn) == 0


def test_extras_on_the_wire():
    task, _ = submitted(
        num_returns=2,
        max_calls=5,
        retry_exceptions=[KeyError],
        scheduling_strategy=NodeAffinitySchedulingStrategy("agent-1", soft=True),
    )
    extra = task.extra
    assert extra is not None and task.num_returns == 2
    assert (extra.max_calls, extra.node, extra.soft, extra.spread) == (5, "agent-1", True, False)
    assert serialization.loads(extra.retry_on) == (KeyError,)
    assert task.retry_exceptions is True
    spread, _ = submitted(scheduling_strategy="SPREAD")
    assert spread.extra is not None and spread.extra.spread


def test_runtime_env_is_packed_once_and_keyed_by_content(tmp_path):
    work = tmp_path / "work"
    work.mkdir()
    (work / "helper.py").write_text("VALUE = 1\n")
    (work / "__pycache__").mkdir()
    (work / "__pycache__" / "x.pyc").write_bytes(b"junk")
    options = RemoteOptions(runtime_env={"working_dir": str(work), "env_vars": {"A": "1"}})
    puts: list[bytes] = []

    def put(data: bytes) -> Stored:
        puts.append(data)
        return Stored(f"obj{len(puts)}")

    owner = object()
    first = options.task_options(fn, put, owner)
    again = options.task_options(fn, put, owner)
    assert len(puts) == 1  # stored once
    assert first.extra == again.extra and first.extra is not None
    spec = first.extra.runtime_env
    assert spec is not None and spec.env_vars == {"A": "1"} and spec.working_dir == "obj1"
    import io
    import zipfile

    assert zipfile.ZipFile(io.BytesIO(puts[0])).namelist() == ["helper.py"]
    (work / "helper.py").write_text("VALUE = 22\n")  # changed: packed again, new key
    changed = options.task_options(fn, put, owner)
    assert len(puts) == 2
    assert changed.extra is not None and changed.extra.runtime_env is not None
    assert changed.extra.runtime_env.key != spec.key
