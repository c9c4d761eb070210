"""What this node offers: measured with psutil unless given."""

from __future__ import annotations

import os

import psutil

from pymesos_rt.protocol.resources import CPUS, MEM, Resources


def detect(num_cpus: float | None = None, memory_bytes: int | None = None) -> Resources:
    cpus = float(num_cpus if num_cpus is not None else (os.cpu_count() or 1))
    mem = memory_bytes if memory_bytes is not None else psutil.virtual_memory().total
    return Resources({CPUS: cpus, MEM: mem / 2**20})


STORE_FRACTION = 0.3  # of the agent's memory, for its object store unless told otherwise
MIN_STORE = 64 * 2**20


def split_store(
    total: Resources, object_store_memory: int | None, detected: bool
) -> tuple[Resources, int]:
    """The resources to offer and the object store's size in bytes. The store defaults to
    ``STORE_FRACTION`` of the agent's memory; memory that was measured (not given) is offered
    without the store, memory given explicitly is offered as given."""
    mem_bytes = int(total.get(MEM, 0.0) * 2**20)
    size = object_store_memory
    if size is None:
        size = max(MIN_STORE, int(mem_bytes * STORE_FRACTION))
    if detected and mem_bytes:
        left = max(0, mem_bytes - size)
        total = Resources({**total.to_dict(), MEM: left / 2**20})
    return total, size


def check_prefill(prefill: int, store_bytes: int, names: tuple[str, str]) -> None:
    """Refuse an object store prefill (bytes of the arena backed with memory at start) that
    the store cannot hold, in one line naming both values (``names``: what the caller calls
    the prefill and the store's size, e.g. its flags)."""
    if prefill < 0:
        raise ValueError(f"{names[0]} must be >= 0, got {prefill}")
    if prefill > store_bytes:
        raise ValueError(
            f"{names[0]} {_size(prefill)} is larger than the object store "
            f"({names[1]} {_size(store_bytes)})"
        )


def _size(n: int) -> str:
    return f"{n / 2**20:g} MiB" if n % 2**20 == 0 else f"{n / 2**20:.1f} MiB ({n} bytes)"
