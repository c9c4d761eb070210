"""``rt.util``: Ray's utility namespace. Submodules load on first use (several of them need
optional packages: ``dask``, ``joblib``), so ``import pymesos_rt`` stays light.

- ``rt.util.scheduling_strategies``: ``NodeAffinitySchedulingStrategy``
- ``rt.util.multiprocessing.Pool``: ``multiprocessing.Pool`` on the cluster
- ``rt.util.joblib.register_pymesos_rt()``: a joblib backend
- ``rt.util.dask.get``: a Dask scheduler
"""

from __future__ import annotations

import importlib
from typing import Any

_SUBMODULES = ("dask", "joblib", "multiprocessing", "scheduling_strategies")


def __getattr__(name: str) -> Any:
    if name in _SUBMODULES:
        return importlib.import_module(f"{__name__}.{name}")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), *_SUBMODULES])
