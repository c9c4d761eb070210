"""The task bodies the benchmark runs on every system, plus deterministic input generators.

Every function here is module-level so that all three systems pickle it by reference; the worker
subprocess puts this directory on ``PYTHONPATH`` so that the systems' worker processes can import
it. This module imports only the standard library (numpy optionally, inside functions).
"""

from __future__ import annotations

import random
import time
from collections import Counter
from typing import Any

VOCABULARY_SIZE = 1000
_WORD_SEED = 1234


def noop(*_args: Any) -> None:
    """The trivial task (batches pass it an index that it ignores)."""
    return None


def square(x: int) -> int:
    return x * x


def inc(x: int) -> int:
    return x + 1


def identity(x: Any) -> Any:
    return x


def make_bytes(n: int) -> bytes:
    """A result of ``n`` bytes."""
    return b"\x5a" * n


def spin(iterations: int) -> int:
    """A pure-Python CPU-bound loop; the parent calibrates ``iterations`` to a target duration."""
    acc = 0
    for i in range(iterations):
        acc = (acc * 31 + i) & 0xFFFFF  # stays a small int, so every iteration costs the same
    return acc


def count_words(text: str) -> Counter[str]:
    return Counter(text.split())


def merge_counts(*counters: Counter[str]) -> Counter[str]:
    merged: Counter[str] = Counter()
    for counter in counters:
        merged.update(counter)
    return merged


def calibrate_spin(target_s: float, probe_iterations: int = 2_000_000, repeats: int = 3) -> int:
    """Iterations of :func:`spin` that take about ``target_s`` seconds on this interpreter."""
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        spin(probe_iterations)
        best = min(best, time.perf_counter() - start)
    return max(1, int(probe_iterations * target_s / best))


def vocabulary(size: int = VOCABULARY_SIZE, seed: int = _WORD_SEED) -> list[str]:
    """``size`` distinct pseudo-words of 2 to 10 lowercase letters, always the same for a seed."""
    rng = random.Random(seed)
    letters = "abcdefghijklmnopqrstuvwxyz"
    words: set[str] = set()
    while len(words) < size:
        words.add("".join(rng.choices(letters, k=rng.randint(2, 10))))
    return sorted(words)


def make_partition(index: int, size_bytes: int, vocab: list[str]) -> str:
    """Text of exactly ``size_bytes`` ASCII bytes (cut at a word boundary, padded with spaces)."""
    rng = random.Random(_WORD_SEED * 7919 + index)
    mean_len = sum(len(w) for w in vocab) / len(vocab) + 1
    n_words = int(size_bytes / mean_len * 1.1) + 16
    text = " ".join(rng.choices(vocab, k=n_words))
    if len(text) > size_bytes:
        text = text[:size_bytes]
        text = text[: text.rfind(" ")]
    return text.ljust(size_bytes)


def make_big_value(n_bytes: int) -> tuple[Any, str]:
    """A float64 numpy array of ``n_bytes`` (bytes if numpy is missing), and which it is."""
    try:
        import numpy as np
    except ImportError:
        return b"\x01" * n_bytes, "bytes"
    return np.arange(n_bytes // 8, dtype=np.float64), "numpy"


def same_big_value(a: Any, b: Any) -> bool:
    """Cheap equality check for :func:`make_big_value` results (length and a few samples)."""
    if len(a) != len(b):
        return False
    n = len(a)
    return all(a[i] == b[i] for i in (0, n // 3, n // 2, n - 1))


def make_array(n_bytes: int) -> Any:
    """A large value of ``n_bytes`` (numpy float64 when numpy is installed)."""
    return make_big_value(n_bytes)[0]


def size_of(x: Any) -> int:
    return len(x)


def pair(x: int) -> tuple[int, int]:
    """Two return values (the ``num_returns`` workload): their sum over 0..N-1 is N*N."""
    return x, x + 1


def count_up(n: int) -> Any:
    """A generator task (the ``streaming`` workload). A loop, not ``yield from range(n)``:
    Ray drives its generators with ``send``, which a ``range`` iterator does not have."""
    for i in range(n):  # noqa: UP028
        yield i


class BenchActor:
    """The actor the actor workloads call (a sync actor: calls run one at a time, in order)."""

    def __init__(self) -> None:
        self.calls = 0

    def noop(self, *_args: Any) -> None:
        self.calls += 1

    def count(self) -> int:
        return self.calls


class AsyncBenchActor:
    """An async actor (its methods run on an event loop in the actor's process)."""

    def __init__(self) -> None:
        self.calls = 0

    async def noop(self, *_args: Any) -> None:
        self.calls += 1

    async def count(self) -> int:
        return self.calls
