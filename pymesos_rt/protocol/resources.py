"""Scalar resource vectors: ``cpus``, ``mem`` (MiB, as in Mesos) and custom names.

Pure data with arithmetic (``+``, ``-``, :meth:`Resources.fits`, :meth:`Resources.dominant_share`).
Imports nothing of the package. Values are floats rounded to 1e-6 so repeated additions and
subtractions of fractional CPUs do not drift.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterator, Mapping

CPUS = "cpus"
MEM = "mem"

_EPSILON = 1e-6
_UNITS = {
    "": 1,
    "b": 1,
    "k": 1000,
    "kb": 1000,
    "kib": 1024,
    "m": 1000**2,
    "mb": 1000**2,
    "mib": 1024**2,
    "g": 1000**3,
    "gb": 1000**3,
    "gib": 1024**3,
    "t": 1000**4,
    "tb": 1000**4,
    "tib": 1024**4,
}
_SIZE = re.compile(r"^\s*([0-9]*\.?[0-9]+)\s*([a-zA-Z]*)\s*$")


def _clean(value: float) -> float:
    return round(float(value), 6)


class Resources(Mapping[str, float]):
    """An immutable, hashable vector of named scalar resources; zero entries are dropped."""

    __slots__ = ("_hash", "_items")

    def __init__(self, items: Mapping[str, float] | None = None, /, **kwargs: float) -> None:
        merged: dict[str, float] = {}
        for source in (items or {}, kwargs):
            for name, value in source.items():
                if not isinstance(name, str) or not name:
                    raise ValueError(f"resource names must be non-empty strings, got {name!r}")
                if not isinstance(value, int | float) or isinstance(value, bool):
                    raise ValueError(f"resource {name!r} must be a number, got {value!r}")
                if not math.isfinite(value):
                    raise ValueError(f"resource {name!r} must be finite, got {value!r}")
                cleaned = _clean(value)
                if abs(cleaned) > _EPSILON:
                    merged[name] = cleaned
        self._items: dict[str, float] = dict(sorted(merged.items()))
        self._hash: int | None = None

    @classmethod
    def _valid(cls, items: dict[str, float]) -> Resources:
        """Wrap amounts already cleaned and ordered by arithmetic on valid vectors."""
        out = object.__new__(cls)
        out._items = items
        out._hash = None
        return out

    def _combine(self, other: Resources, sign: float) -> Resources:
        """``self + sign * other``, rounded to 1e-6, zeros dropped, names in order."""
        out = dict(self._items)
        tidy = False  # a new name (to sort in) or an amount that became zero (to drop)
        for name, value in other._items.items():
            before = out.get(name)
            if before is None:
                tidy = True
                before = 0.0
            total = before + sign * value
            if not total.is_integer():
                total = round(total, 6)
            if -_EPSILON <= total <= _EPSILON:
                tidy = True
            out[name] = total
        if tidy:
            out = {k: v for k, v in sorted(out.items()) if not -_EPSILON <= v <= _EPSILON}
        return Resources._valid(out)

    # Mapping protocol
    def __getitem__(self, name: str) -> float:
        return self._items[name]

    def get(self, name: str, default: float = 0.0) -> float:  # type: ignore[override]
        return self._items.get(name, default)

    def __iter__(self) -> Iterator[str]:
        return iter(self._items)

    def __len__(self) -> int:
        return len(self._items)

    def __hash__(self) -> int:
        if self._hash is None:
            self._hash = hash(tuple(self._items.items()))
        return self._hash

    def __eq__(self, other: object) -> bool:
        if self is other:
            return True
        if isinstance(other, Resources):
            return self._items == other._items
        if isinstance(other, Mapping):
            return self._items == Resources(other)._items
        return NotImplemented

    def __repr__(self) -> str:
        inner = ", ".join(f"{k}={v:g}" for k, v in self._items.items())
        return f"Resources({inner})"

    def __str__(self) -> str:
        return ";".join(f"{k}:{v:g}" for k, v in self._items.items()) or "(none)"

    # Arithmetic
    def __add__(self, other: Resources) -> Resources:
        if not other._items:
            return self
        if not self._items:
            return other
        return self._combine(other, 1.0)

    def __sub__(self, other: Resources) -> Resources:
        if not other._items:
            return self
        return self._combine(other, -1.0)

    def __mul__(self, factor: float) -> Resources:
        return Resources({k: v * factor for k, v in self._items.items()})

    def is_empty(self) -> bool:
        return not self._items

    def is_nonnegative(self) -> bool:
        return all(v > -_EPSILON for v in self._items.values())

    def fits(self, other: Resources) -> bool:
        """True when ``self`` can be carved out of ``other`` (every amount is available)."""
        return all(other._items.get(k, 0.0) + _EPSILON >= v for k, v in self._items.items())

    def clamp_nonnegative(self) -> Resources:
        if all(v > 0 for v in self._items.values()):
            return self
        return Resources._valid({k: v for k, v in self._items.items() if v > 0})

    def dominant_share(self, total: Resources) -> float:
        """max of ``self[r] / total[r]`` over resources (those absent from ``total`` ignored)."""
        share = 0.0
        for name, value in self._items.items():
            cap = total._items.get(name, 0.0)
            if cap > _EPSILON:
                share = max(share, value / cap)
        return share

    def to_dict(self) -> dict[str, float]:
        return dict(self._items)

    @classmethod
    def parse(cls, text: str) -> Resources:
        """Parse Mesos's ``"cpus:4;mem:4096;gpus:1"`` form (``mem`` in MiB)."""
        items: dict[str, float] = {}
        for raw in text.split(";"):
            part = raw.strip()
            if not part:
                continue
            name, sep, value = part.partition(":")
            if not sep:
                raise ValueError(f"bad resource {part!r} in {text!r}: expected name:value")
            try:
                items[name.strip()] = float(value)
            except ValueError:
                raise ValueError(f"bad value {value!r} for resource {name!r} in {text!r}") from None
        return cls(items)


def parse_memory(value: int | float | str) -> int:
    """Bytes from a number of bytes or a string such as ``"512MiB"`` or ``"2GB"``."""
    if isinstance(value, bool):
        raise ValueError(f"memory must be bytes or a size string, got {value!r}")
    if isinstance(value, int | float):
        if value < 0:
            raise ValueError(f"memory must be >= 0, got {value!r}")
        return int(value)
    match = _SIZE.match(value)
    if not match or match.group(2).lower() not in _UNITS:
        raise ValueError(f"cannot parse memory size {value!r} (try '512MiB' or a number of bytes)")
    return int(float(match.group(1)) * _UNITS[match.group(2).lower()])


def bytes_to_mib(value: int) -> float:
    return value / 1024**2
