"""Ray API workloads (``--only num_returns,streaming``): run on systems whose adapter has
``supports_ray_api`` (pymesos_rt and Ray).

- ``num_returns``: N tasks (default 10,000) of ``num_returns=2``, then get all 2N values.
- ``streaming``: one generator task that yields N items (default 10,000); the driver takes
  each ref as it arrives and gets all the values.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

import bench_tasks as tasks

if TYPE_CHECKING:
    from bench_systems import Adapter
    from bench_workloads import Context, Metric, Sizes, Workload


def run_num_returns(a: Adapter, ctx: Context) -> dict[str, Any]:
    n = ctx.sizes.noop_large
    start = time.perf_counter()
    refs = [ref for i in range(n) for ref in a.submit_returns(tasks.pair, 2, i)]
    values = a.get_many(refs)
    elapsed = time.perf_counter() - start
    assert sum(values) == n * n, f"sum of returns {sum(values)}, expected {n * n}"
    return {"tasks_per_s": n / elapsed, "s": elapsed, "n": n}


def run_streaming(a: Adapter, ctx: Context) -> dict[str, Any]:
    n = ctx.sizes.noop_large
    start = time.perf_counter()
    refs = list(a.stream(tasks.count_up, n))
    values = a.get_many(refs)
    elapsed = time.perf_counter() - start
    assert values == list(range(n)), "the generator's items came back out of order"
    return {"items_per_s": n / elapsed, "s": elapsed, "n": n}


def rayapi_workloads(s: Sizes, workload: type[Workload], metric: type[Metric]) -> list[Workload]:
    n = f"{s.noop_large:,}"
    return [
        workload(
            "num_returns",
            (metric("tasks_per_s", f"{n} tasks of num_returns=2 (tasks/s)", True),),
            run_num_returns,
        ),
        workload(
            "streaming",
            (metric("items_per_s", f"generator task of {n} yields, streamed (items/s)", True),),
            run_streaming,
        ),
    ]


RAYAPI_WORKLOADS = ("num_returns", "streaming")
