"""A joblib backend on the cluster: ``rt.util.joblib.register_pymesos_rt()``, then

    with joblib.parallel_backend("pymesos_rt"):
        GridSearchCV(model, grid, n_jobs=-1).fit(X, y)     # the fits run as tasks

joblib's batches go to :class:`rt.util.multiprocessing.Pool` (one task per batch, joblib's
auto-batching decides the batch size); ``n_jobs=-1`` means the cluster's CPUs. Needs
``joblib`` (the ``joblib`` extra); scikit-learn uses it as is.
"""

from __future__ import annotations

from typing import Any

import pymesos_rt as rt
from pymesos_rt.util.multiprocessing import Pool

BACKEND = "pymesos_rt"


def _backend_class() -> type:
    from joblib._parallel_backends import (
        AutoBatchingMixin,
        ParallelBackendBase,
        PoolManagerMixin,
    )

    class PymesosRTBackend(PoolManagerMixin, AutoBatchingMixin, ParallelBackendBase):  # type: ignore[misc]
        """joblib's multiprocessing backend, with a pool of cluster tasks."""

        supports_retrieve_callback = True
        supports_return_generator = False
        supports_timeout = True

        def effective_n_jobs(self, n_jobs: int | None) -> int:
            cpus = max(1, int(rt.cluster_resources().get("CPU", 1)))
            if n_jobs is None or n_jobs == 0:
                return 1 if n_jobs is None else cpus
            if n_jobs < 0:
                return max(1, cpus + 1 + n_jobs)
            return int(n_jobs)

        def configure(
            self,
            n_jobs: int = 1,
            parallel: Any = None,
            prefer: Any = None,
            require: Any = None,
            **memmapping_kwargs: Any,  # the multiprocessing backend's: nothing to map here
        ) -> int:
            n_jobs = self.effective_n_jobs(n_jobs)
            self._pool = Pool(n_jobs)
            self.parallel = parallel
            return n_jobs

    return PymesosRTBackend


def register_pymesos_rt() -> None:
    """Make ``"pymesos_rt"`` a joblib backend (``joblib.parallel_backend("pymesos_rt")``)."""
    import joblib

    joblib.register_parallel_backend(BACKEND, _backend_class())


__all__ = ["BACKEND", "register_pymesos_rt"]
