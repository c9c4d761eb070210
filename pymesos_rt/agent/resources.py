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
