"""``rt.util``: helpers built on the public API, as Ray's ``ray.util``.

Only lazy re-exports live here (several modules add to this package): each name is imported
from its module the first time it is used. Submodules load on first use too (some need
optional packages): ``rt.util.scheduling_strategies`` (``NodeAffinitySchedulingStrategy``),
``rt.util.multiprocessing.Pool``, ``rt.util.joblib.register_pymesos_rt()``, ``rt.util.dask.get``.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "ActorPool": "pymesos_rt.util.actor_pool",
}
_SUBMODULES = ("dask", "joblib", "multiprocessing", "scheduling_strategies")

__all__ = ["ActorPool"]


def __getattr__(name: str) -> Any:
    if name in _SUBMODULES:
        return importlib.import_module(f"{__name__}.{name}")
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'pymesos_rt.util' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)


def __dir__() -> list[str]:
    return sorted([*_EXPORTS, *_SUBMODULES])
