"""Resource names as Ray spells them in the Python API (``CPU``, ``GPU``, ``memory`` in bytes)
from the wire's Mesos names (``cpus``, ``gpus``, ``mem`` in MiB); custom names pass through."""

from __future__ import annotations

from collections.abc import Mapping

from pymesos_rt.protocol.resources import CPUS, MEM

GPUS = "gpus"
_TO_RAY = {CPUS: "CPU", GPUS: "GPU"}


def to_ray(resources: Mapping[str, float], *, zeros: bool = True) -> dict[str, float]:
    """``{"CPU": 2.0, "memory": 4294967296.0, "GPU": 1.0, ...}``; with ``zeros``, CPU and
    memory are present even when zero (as in Ray's ``cluster_resources()``)."""
    out: dict[str, float] = {"CPU": 0.0, "memory": 0.0} if zeros else {}
    for key, value in resources.items():
        if key == MEM:
            out["memory"] = float(int(value * 2**20))
        else:
            out[_TO_RAY.get(key, key)] = float(value)
    return out
