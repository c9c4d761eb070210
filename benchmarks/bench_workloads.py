"""The workloads, their sizes, and the worker-side loop that runs them against one system.

A workload is a function ``(adapter, context) -> dict of metrics`` written only against the
:class:`bench_systems.Adapter` shape, so it measures the same thing on every system. The worker
loop (:func:`run_worker`) reports events as JSON lines on a private copy of stdout, so output
printed by the systems themselves (redirected to stderr) can never corrupt the results.
"""

from __future__ import annotations

import contextlib
import gc
import json
import logging
import math
import os
import statistics
import time
import traceback
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import IO, Any

import bench_tasks as tasks
from bench_actors import ACTOR_WORKLOADS, actor_workloads
from bench_rayapi import RAYAPI_WORKLOADS, rayapi_workloads
from bench_systems import MIB, Adapter, SystemNotInstalledError, make_adapter, process_tree_memory

log = logging.getLogger("bench")


@dataclass(frozen=True)
class Sizes:
    """Every size the workloads use; :meth:`quick` shrinks them for a smoke run."""

    latency_warmup: int = 100
    latency_calls: int = 1000
    noop_small: int = 1000
    noop_large: int = 10_000
    square_tasks: int = 10_000
    results: int = 200
    result_bytes: int = MIB
    big_bytes: int = 100 * MIB
    huge_bytes: int = 1024 * MIB
    chain: int = 1000
    wc_partitions: int = 32
    wc_bytes: int = MIB
    wc_big_bytes: int = 16 * MIB
    cpu_tasks: int = 8
    cpu_task_s: float = 0.5
    memory_settle_s: float = 2.0
    actors: int = 10
    actor_calls: int = 10_000

    @classmethod
    def quick(cls) -> Sizes:
        return cls(
            latency_warmup=20,
            latency_calls=200,
            noop_small=200,
            noop_large=1000,
            square_tasks=1000,
            results=20,
            big_bytes=10 * MIB,
            huge_bytes=64 * MIB,
            chain=100,
            wc_partitions=8,
            wc_bytes=256 * 1024,
            wc_big_bytes=MIB,
            cpu_tasks=4,
            cpu_task_s=0.1,
            memory_settle_s=0.5,
            actors=4,
            actor_calls=1000,
        )


@dataclass(frozen=True)
class Context:
    sizes: Sizes
    num_cpus: int
    spin_iterations: int


@dataclass(frozen=True)
class Metric:
    key: str
    label: str
    higher_is_better: bool


@dataclass(frozen=True)
class Workload:
    name: str
    metrics: tuple[Metric, ...]
    run: Callable[[Adapter, Context], dict[str, Any]] | None


def _timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    start = time.perf_counter()
    value = fn()
    return time.perf_counter() - start, value


def _throughput(a: Adapter, fn: Callable[..., Any], args: list[Any]) -> tuple[float, list[Any]]:
    elapsed, values = _timed(lambda: a.get_many(a.map(fn, args)))
    return elapsed, values


def run_latency(a: Adapter, ctx: Context) -> dict[str, Any]:
    for _ in range(ctx.sizes.latency_warmup):
        a.get(a.submit(tasks.noop))
    samples: list[float] = []
    for _ in range(ctx.sizes.latency_calls):
        start = time.perf_counter_ns()
        a.get(a.submit(tasks.noop))
        samples.append((time.perf_counter_ns() - start) / 1000)
    ordered = sorted(samples)
    p99 = ordered[max(0, math.ceil(0.99 * len(ordered)) - 1)]
    return {
        "median_us": statistics.median(samples),
        "p99_us": p99,
        "mean_us": statistics.fmean(samples),
        "samples_us": [round(s, 1) for s in samples],
    }


def _noop_rate(a: Adapter, n: int) -> dict[str, Any]:
    elapsed, values = _throughput(a, tasks.noop, list(range(n)))
    assert len(values) == n and all(v is None for v in values)
    return {"tasks_per_s": n / elapsed, "s": elapsed, "n": n}


def run_noop_small(a: Adapter, ctx: Context) -> dict[str, Any]:
    return _noop_rate(a, ctx.sizes.noop_small)


def run_noop_large(a: Adapter, ctx: Context) -> dict[str, Any]:
    return _noop_rate(a, ctx.sizes.noop_large)


def run_square(a: Adapter, ctx: Context) -> dict[str, Any]:
    n = ctx.sizes.square_tasks
    elapsed, values = _throughput(a, tasks.square, list(range(n)))
    assert values == [x * x for x in range(n)], "wrong results"
    return {"tasks_per_s": n / elapsed, "s": elapsed, "n": n}


def run_results(a: Adapter, ctx: Context) -> dict[str, Any]:
    n, size = ctx.sizes.results, ctx.sizes.result_bytes
    elapsed, values = _throughput(a, tasks.make_bytes, [size] * n)
    assert all(len(v) == size for v in values), "wrong result sizes"
    total_mib = n * size / MIB
    del values
    return {"mib_per_s": total_mib / elapsed, "s": elapsed, "total_mib": total_mib}


def run_big_array(a: Adapter, ctx: Context) -> dict[str, Any]:
    value, kind = tasks.make_big_value(ctx.sizes.big_bytes)
    start = time.perf_counter()
    ref = a.put(value)
    put_s = time.perf_counter() - start
    out = a.get(a.submit(tasks.identity, ref))
    elapsed = time.perf_counter() - start
    assert tasks.same_big_value(value, out), "round trip changed the value"
    del ref, out
    return {"s": elapsed, "put_s": put_s, "kind": kind, "mib": ctx.sizes.big_bytes / MIB}


def run_put(a: Adapter, ctx: Context) -> dict[str, Any]:
    """``put`` of a 100 MiB array (best of three: the first may fault the store's pages in)."""
    value, kind = tasks.make_big_value(ctx.sizes.big_bytes)
    times = []
    for _ in range(3):
        start = time.perf_counter()
        ref = a.put(value)
        times.append(time.perf_counter() - start)
        del ref
        gc.collect()
    return {"s": min(times), "first_s": times[0], "kind": kind}


def run_big_arg(a: Adapter, ctx: Context) -> dict[str, Any]:
    """A 100 MiB array passed directly as an argument to an identity task, result fetched."""
    value, kind = tasks.make_big_value(ctx.sizes.big_bytes)
    a.get(a.submit(tasks.identity, value[:16]))  # the function is there already
    start = time.perf_counter()
    out = a.get(a.submit(tasks.identity, value))
    elapsed = time.perf_counter() - start
    assert tasks.same_big_value(value, out), "round trip changed the value"
    return {"s": elapsed, "kind": kind}


def run_huge(a: Adapter, ctx: Context) -> dict[str, Any]:
    """A 1 GiB array through put, an identity task and get."""
    value, kind = tasks.make_big_value(ctx.sizes.huge_bytes)
    start = time.perf_counter()
    ref = a.put(value)
    out = a.get(a.submit(tasks.identity, ref))
    elapsed = time.perf_counter() - start
    assert tasks.same_big_value(value, out), "round trip changed the value"
    del ref, out, value
    gc.collect()
    return {"s": elapsed, "kind": kind, "gib_per_s": ctx.sizes.huge_bytes / 2**30 / elapsed}


def run_cross_node(a: Adapter, ctx: Context) -> dict[str, Any]:
    """A 100 MiB result made on one node and consumed by a task on another (two nodes that
    share no memory); the consumer's time covers pulling the bytes."""
    return a.cross_node(ctx.sizes.big_bytes)


def run_chain(a: Adapter, ctx: Context) -> dict[str, Any]:
    n = ctx.sizes.chain

    def chain() -> int:
        ref = a.submit(tasks.inc, 0)
        for _ in range(n - 1):
            ref = a.submit(tasks.inc, ref)
        return int(a.get(ref))

    elapsed, value = _timed(chain)
    assert value == n, f"chain ended at {value}, expected {n}"
    return {"s": elapsed, "tasks_per_s": n / elapsed, "n": n}


def run_wordcount(a: Adapter, ctx: Context) -> dict[str, Any]:
    s = ctx.sizes
    vocab = tasks.vocabulary()
    partitions = [tasks.make_partition(i, s.wc_bytes, vocab) for i in range(s.wc_partitions)]
    expected_words = sum(len(p.split()) for p in partitions)

    def wordcount() -> Any:
        counted = a.map(tasks.count_words, partitions)
        return a.get(a.submit(tasks.merge_counts, *counted))

    elapsed, total = _timed(wordcount)
    assert sum(total.values()) == expected_words, "word counts do not add up"
    return {"s": elapsed, "words": expected_words, "distinct": len(total)}


def run_wordcount_big(a: Adapter, ctx: Context) -> dict[str, Any]:
    """The word count's shuffle at a larger size: each partition is first stored with ``put``
    (16 MiB of text), the mappers count them, one reducer merges."""
    s = ctx.sizes
    vocab = tasks.vocabulary()
    partitions = [tasks.make_partition(i, s.wc_big_bytes, vocab) for i in range(s.wc_partitions)]
    expected_words = sum(len(p.split()) for p in partitions)
    refs = [a.put(p) for p in partitions]

    def wordcount() -> Any:
        counted = a.map(tasks.count_words, refs)
        return a.get(a.submit(tasks.merge_counts, *counted))

    elapsed, total = _timed(wordcount)
    assert sum(total.values()) == expected_words, "word counts do not add up"
    return {"s": elapsed, "words": expected_words, "distinct": len(total)}


def run_cpu_bound(a: Adapter, ctx: Context) -> dict[str, Any]:
    n = ctx.sizes.cpu_tasks
    elapsed, _ = _throughput(a, tasks.spin, [ctx.spin_iterations] * n)
    ideal = math.ceil(n / ctx.num_cpus) * ctx.sizes.cpu_task_s
    return {"s": elapsed, "ideal_s": ideal, "efficiency": ideal / elapsed}


def _size(n_bytes: int) -> str:
    return f"{n_bytes // MIB} MiB" if n_bytes % MIB == 0 else f"{n_bytes // 1024} KiB"


def _m(key: str, label: str, higher: bool = False) -> Metric:
    return Metric(key, label, higher)


def workloads(sizes: Sizes) -> list[Workload]:
    """All workloads in run order, with table labels that show the sizes in force."""
    s = sizes
    return [
        Workload(
            "init",
            (_m("import_s", "import the system (s)"), _m("init_s", "init to first result (s)")),
            None,
        ),
        Workload("memory", (_m("uss_mib", "idle memory, USS of tree (MiB)"),), None),
        Workload(
            "latency",
            (
                _m("median_us", f"no-op round trip median, {s.latency_calls:,} serial (us)"),
                _m("p99_us", f"no-op round trip p99, {s.latency_calls:,} serial (us)"),
            ),
            run_latency,
        ),
        Workload(
            "noop_1k", (_m("tasks_per_s", f"{s.noop_small:,} no-op tasks/s", True),), run_noop_small
        ),
        Workload(
            "noop_10k",
            (_m("tasks_per_s", f"{s.noop_large:,} no-op tasks/s", True),),
            run_noop_large,
        ),
        Workload(
            "square_10k", (_m("tasks_per_s", f"{s.square_tasks:,} x*x tasks/s", True),), run_square
        ),
        Workload(
            "results_1mib",
            (_m("mib_per_s", f"{s.results} results of {_size(s.result_bytes)} (MiB/s)", True),),
            run_results,
        ),
        Workload(
            "big_array",
            (_m("s", f"{_size(s.big_bytes)} array: put, identity task, get (s)"),),
            run_big_array,
        ),
        Workload("put", (_m("s", f"put of a {_size(s.big_bytes)} array (s)"),), run_put),
        Workload(
            "big_arg",
            (_m("s", f"{_size(s.big_bytes)} array as a direct argument, identity, get (s)"),),
            run_big_arg,
        ),
        Workload(
            "huge",
            (_m("s", f"{_size(s.huge_bytes)} array: put, identity task, get (s)"),),
            run_huge,
        ),
        Workload("chain", (_m("s", f"chain of {s.chain:,} dependent tasks (s)"),), run_chain),
        Workload(
            "wordcount",
            (
                _m(
                    "s",
                    f"word count, {s.wc_partitions} partitions of {_size(s.wc_bytes)} (s)",
                ),
            ),
            run_wordcount,
        ),
        Workload(
            "wordcount_big",
            (
                _m(
                    "s",
                    f"word count, {s.wc_partitions} partitions of {_size(s.wc_big_bytes)} (s)",
                ),
            ),
            run_wordcount_big,
        ),
        Workload(
            "cpu_bound",
            (_m("s", f"{s.cpu_tasks} CPU-bound tasks of {s.cpu_task_s} s (s)"),),
            run_cpu_bound,
        ),
        Workload(
            "cross_node",
            (
                _m(
                    "mib_per_s",
                    f"{_size(s.big_bytes)} result consumed on another node (MiB/s)",
                    True,
                ),
            ),
            run_cross_node,
        ),
        *actor_workloads(s, Workload, Metric),
        *rayapi_workloads(s, Workload, Metric),
    ]


WORKLOAD_NAMES = tuple(w.name for w in workloads(Sizes()))


class Emitter:
    """Writes one JSON object per line to the results channel."""

    def __init__(self, stream: IO[str]) -> None:
        self._stream = stream

    def __call__(self, event: str, **fields: Any) -> None:
        self._stream.write(json.dumps({"event": event, **fields}) + "\n")
        self._stream.flush()


def _error_text(exc: BaseException) -> str:
    lines = traceback.format_exception_only(type(exc), exc)
    return "".join(lines).strip().splitlines()[-1] if lines else repr(exc)


def _warm_up(a: Adapter, ctx: Context) -> None:
    a.get_many(a.map(tasks.noop, list(range(4 * ctx.num_cpus))))
    for _ in range(20):
        a.get(a.submit(tasks.noop))


def run_worker(system: str, names: list[str], ctx: Context) -> int:
    """Measure ``names`` on ``system`` in this process, reporting events on the original stdout."""
    results_fd = os.dup(1)
    os.dup2(2, 1)  # anything the systems print goes to stderr, not into the results
    emit = Emitter(os.fdopen(results_fd, "w", buffering=1))
    emit("hello", system=system, pid=os.getpid(), sizes=asdict(ctx.sizes))
    # as a user's script does (``import numpy as np`` before ``import ray``): numpy, when it is
    # installed, is imported before the system; what a system's workers import is its own choice
    with contextlib.suppress(ImportError):
        import numpy  # noqa: F401
    try:
        adapter = make_adapter(system)
    except SystemNotInstalledError as exc:
        emit("skipped", reason=str(exc))
        return 0
    except Exception as exc:
        log.exception("%s: import failed", system)
        emit("fatal", error=f"import failed: {_error_text(exc)}")
        return 1
    emit("meta", version=adapter.version, import_s=adapter.import_s, notes=adapter.notes)
    log.info("%s %s: imported in %.2f s; starting", system, adapter.version, adapter.import_s)
    emit("start", workload="init")
    try:
        start = time.perf_counter()
        adapter.start(ctx.num_cpus)
        adapter.get(adapter.submit(tasks.noop))
        init_s = time.perf_counter() - start
        emit("result", workload="init", data={"init_s": init_s, "import_s": adapter.import_s})
        log.info("%s: ready %.2f s after init", system, init_s)
        _warm_up(adapter, ctx)
    except Exception as exc:
        log.exception("%s: init failed", system)
        emit("fatal", error=f"init failed: {_error_text(exc)}")
        _shutdown(adapter)
        return 1
    try:
        if "memory" in names:
            emit("start", workload="memory")
            time.sleep(ctx.sizes.memory_settle_s)
            try:
                emit("result", workload="memory", data=process_tree_memory())
            except Exception as exc:
                emit("error", workload="memory", error=_error_text(exc))
        for workload in workloads(ctx.sizes):
            if workload.run is None or workload.name not in names:
                continue
            has_actors = getattr(adapter, "supports_actors", False)
            has_ray_api = getattr(adapter, "supports_ray_api", False)
            unsupported = (workload.name in ACTOR_WORKLOADS and not has_actors) or (
                workload.name in RAYAPI_WORKLOADS and not has_ray_api
            )
            if unsupported:  # reported, so the parent does not take it for a crash: shown as "-"
                emit("result", workload=workload.name, data={"unsupported": True})
                continue
            emit("start", workload=workload.name)
            log.info("%s: running %s", system, workload.name)
            gc.collect()
            try:
                data = workload.run(adapter, ctx)
            except Exception as exc:
                log.exception("%s: %s failed", system, workload.name)
                emit("error", workload=workload.name, error=_error_text(exc))
            else:
                emit("result", workload=workload.name, data=data)
                shown = {k: v for k, v in data.items() if k != "samples_us"}
                log.info("%s: %s -> %s", system, workload.name, shown)
    finally:
        _shutdown(adapter)
    emit("done")
    return 0


def _shutdown(adapter: Adapter) -> None:
    try:
        adapter.shutdown()
    except Exception as exc:
        log.warning("%s: shutdown failed: %s", adapter.name, _error_text(exc))
