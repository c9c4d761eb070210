"""Resources: construction, arithmetic, fits, dominant share, parsing."""

from __future__ import annotations

import pytest

from pymesos_rt.protocol.resources import Resources, bytes_to_mib, parse_memory


def test_zero_entries_are_dropped_and_names_sorted():
    r = Resources(mem=0, cpus=2, gpus=0.0)
    assert dict(r) == {"cpus": 2.0}
    assert list(Resources(mem=1, cpus=1, disk=1)) == ["cpus", "disk", "mem"]
    assert Resources().is_empty()
    assert len(Resources(cpus=1, mem=2)) == 2


def test_mapping_and_kwargs_merge():
    assert Resources({"cpus": 1}, mem=512) == Resources(cpus=1, mem=512)


def test_values_are_rounded_so_fractions_do_not_drift():
    r = Resources()
    for _ in range(10):
        r = r + Resources(cpus=0.1)
    assert r == Resources(cpus=1)
    for _ in range(10):
        r = r - Resources(cpus=0.1)
    assert r.is_empty()


def test_add_sub_mul():
    a = Resources(cpus=4, mem=4096)
    b = Resources(cpus=1, mem=1024, gpus=1)
    assert a + b == Resources(cpus=5, mem=5120, gpus=1)
    assert a - b == Resources(cpus=3, mem=3072, gpus=-1)
    assert (a - b).is_nonnegative() is False
    assert (a - b).clamp_nonnegative() == Resources(cpus=3, mem=3072)
    assert a * 0.5 == Resources(cpus=2, mem=2048)


def test_fits():
    offer = Resources(cpus=4, mem=4096)
    assert Resources(cpus=4, mem=4096).fits(offer)
    assert Resources(cpus=2).fits(offer)
    assert Resources().fits(offer)
    assert not Resources(cpus=4.5).fits(offer)
    assert not Resources(cpus=1, gpus=1).fits(offer)
    # within the rounding epsilon
    assert Resources(cpus=0.3).fits(Resources(cpus=0.1) + Resources(cpus=0.2))


def test_dominant_share():
    total = Resources(cpus=9, mem=18432)
    assert Resources(cpus=1, mem=4096).dominant_share(total) == pytest.approx(4096 / 18432)
    assert Resources(cpus=3, mem=1024).dominant_share(total) == pytest.approx(3 / 9)
    # resources absent from the total are ignored
    assert Resources(gpus=5).dominant_share(total) == 0.0
    assert Resources().dominant_share(total) == 0.0


def test_equality_hash_and_dict_comparison():
    a = Resources(cpus=1, mem=2)
    assert a == Resources(mem=2.0, cpus=1.0)
    assert hash(a) == hash(Resources(mem=2, cpus=1))
    assert a == {"cpus": 1, "mem": 2}
    assert a != Resources(cpus=1)
    assert (a == 3) is False
    assert {a: "x"}[Resources(cpus=1, mem=2)] == "x"


def test_get_and_getitem():
    r = Resources(cpus=2)
    assert r["cpus"] == 2.0
    assert r.get("mem") == 0.0
    assert r.get("mem", 7.0) == 7.0
    with pytest.raises(KeyError):
        r["mem"]


def test_repr_str_to_dict():
    r = Resources(cpus=1.5, mem=512)
    assert repr(r) == "Resources(cpus=1.5, mem=512)"
    assert str(r) == "cpus:1.5;mem:512"
    assert str(Resources()) == "(none)"
    assert r.to_dict() == {"cpus": 1.5, "mem": 512.0}


@pytest.mark.parametrize(
    "items",
    [
        {"": 1},
        {"cpus": "1"},
        {"cpus": True},
        {"cpus": float("nan")},
        {"cpus": float("inf")},
        {"cpus": None},
    ],
)
def test_invalid_values_raise(items):
    with pytest.raises(ValueError):
        Resources(items)


def test_parse():
    assert Resources.parse("cpus:4;mem:4096;gpus:1") == Resources(cpus=4, mem=4096, gpus=1)
    assert Resources.parse(" cpus : 2 ; ") == Resources(cpus=2)
    assert Resources.parse("") == Resources()
    with pytest.raises(ValueError, match="expected name:value"):
        Resources.parse("cpus")
    with pytest.raises(ValueError, match="bad value 'x'"):
        Resources.parse("cpus:x")


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (1024, 1024),
        (1.9, 1),
        ("512MiB", 512 * 1024**2),
        ("2GB", 2 * 1000**3),
        ("1.5 kib", 1536),
        ("10", 10),
        ("3t", 3 * 1000**4),
    ],
)
def test_parse_memory(value, expected):
    assert parse_memory(value) == expected


@pytest.mark.parametrize("value", [-1, True, "lots", "5 parsecs", "", "1e3MB"])
def test_parse_memory_rejects(value):
    with pytest.raises(ValueError):
        parse_memory(value)


def test_bytes_to_mib():
    assert bytes_to_mib(3 * 1024**2) == 3.0
