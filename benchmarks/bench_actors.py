"""The actor workloads (``--only actor_create,actor_latency,actor_calls,actor_calls_4,
actor_async``): run on systems whose adapter has ``supports_actors`` (pymesos_rt and Ray).

- ``actor_create``: create N actors (default 10) and get one call from each.
- ``actor_latency``: serial method-call round trip on one actor (median and p99 of 1,000).
- ``actor_calls``: N calls (default 10,000) from the driver to one actor, then wait for all.
- ``actor_calls_4``: N calls spread round-robin over 4 actors.
- ``actor_async``: N calls to one async actor.

Actors are created before the timed part (except in ``actor_create``) and a first call has
answered, so process start is not counted in the call rates.
"""

from __future__ import annotations

import math
import statistics
import time
from typing import TYPE_CHECKING, Any

import bench_tasks as tasks

if TYPE_CHECKING:
    from bench_systems import Adapter
    from bench_workloads import Context, Metric, Sizes, Workload


def run_actor_create(a: Adapter, ctx: Context) -> dict[str, Any]:
    n = ctx.sizes.actors
    start = time.perf_counter()
    handles = [a.actor(tasks.BenchActor) for _ in range(n)]
    a.get_many([a.call(h, "noop") for h in handles])
    elapsed = time.perf_counter() - start
    for h in handles:
        a.kill(h)
    return {"s": elapsed, "n": n}


def run_actor_latency(a: Adapter, ctx: Context) -> dict[str, Any]:
    h = a.actor(tasks.BenchActor)
    for _ in range(ctx.sizes.latency_warmup):
        a.get(a.call(h, "noop"))
    samples: list[float] = []
    for _ in range(ctx.sizes.latency_calls):
        start = time.perf_counter_ns()
        a.get(a.call(h, "noop"))
        samples.append((time.perf_counter_ns() - start) / 1000)
    a.kill(h)
    ordered = sorted(samples)
    return {
        "median_us": statistics.median(samples),
        "p99_us": ordered[max(0, math.ceil(0.99 * len(ordered)) - 1)],
        "mean_us": statistics.fmean(samples),
        "samples_us": [round(s, 1) for s in samples],
    }


def _call_rate(a: Adapter, cls: type, n_actors: int, n: int) -> dict[str, Any]:
    handles = [a.actor(cls) for _ in range(n_actors)]
    a.get_many([a.call(h, "noop") for h in handles])  # all started
    start = time.perf_counter()
    refs = [a.call(handles[i % n_actors], "noop", i) for i in range(n)]
    a.get_many(refs)
    elapsed = time.perf_counter() - start
    counts = a.get_many([a.call(h, "count") for h in handles])
    assert sum(counts) == n + n_actors, f"calls counted {sum(counts)}, sent {n + n_actors}"
    for h in handles:
        a.kill(h)
    return {"calls_per_s": n / elapsed, "s": elapsed, "n": n}


def run_actor_calls(a: Adapter, ctx: Context) -> dict[str, Any]:
    return _call_rate(a, tasks.BenchActor, 1, ctx.sizes.actor_calls)


def run_actor_calls_4(a: Adapter, ctx: Context) -> dict[str, Any]:
    return _call_rate(a, tasks.BenchActor, 4, ctx.sizes.actor_calls)


def run_actor_async(a: Adapter, ctx: Context) -> dict[str, Any]:
    return _call_rate(a, tasks.AsyncBenchActor, 1, ctx.sizes.actor_calls)


def actor_workloads(s: Sizes, workload: type[Workload], metric: type[Metric]) -> list[Workload]:
    calls = f"{s.actor_calls:,}"
    return [
        workload(
            "actor_create",
            (metric("s", f"create {s.actors} actors, one call each (s)", False),),
            run_actor_create,
        ),
        workload(
            "actor_latency",
            (
                metric(
                    "median_us",
                    f"actor call round trip median, {s.latency_calls:,} serial (us)",
                    False,
                ),
                metric(
                    "p99_us", f"actor call round trip p99, {s.latency_calls:,} serial (us)", False
                ),
            ),
            run_actor_latency,
        ),
        workload(
            "actor_calls",
            (metric("calls_per_s", f"{calls} calls to one actor (calls/s)", True),),
            run_actor_calls,
        ),
        workload(
            "actor_calls_4",
            (metric("calls_per_s", f"{calls} calls over 4 actors (calls/s)", True),),
            run_actor_calls_4,
        ),
        workload(
            "actor_async",
            (metric("calls_per_s", f"{calls} calls to an async actor (calls/s)", True),),
            run_actor_async,
        ),
    ]


ACTOR_WORKLOADS = ("actor_create", "actor_latency", "actor_calls", "actor_calls_4", "actor_async")
