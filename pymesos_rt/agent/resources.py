"""What this node offers: measured with psutil unless given."""

from __future__ import annotations

import os

import psutil

from pymesos_rt.protocol.resources import CPUS, MEM, Resources


def detect(num_cpus: float | None = None, memory_bytes: int | None = None) -> Resources:
    cpus = float(num_cpus if num_cpus is not None else (os.cpu_count() or 1))
    mem = memory_bytes if memory_bytes is not None else psutil.virtual_memory().total
    return Resources({CPUS: cpus, MEM: mem / 2**20})
