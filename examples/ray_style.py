"""A Ray program, written as a Ray user writes one; only the import line names pymesos_rt.

Estimates pi by Monte Carlo sampling with tasks, streams partial results from a generator task,
splits work with multiple return values, and handles a failing task, the way the Ray docs
show. Run it with ``python examples/ray_style.py``.
"""

import random
import time

import pymesos_rt as ray  # the one changed line: was `import ray`

ray.init()


@ray.remote
def sample(num_samples: int, seed: int) -> int:
    """How many random points of the unit square fall inside the quarter circle."""
    rng = random.Random(seed)
    return sum(1 for _ in range(num_samples) if rng.random() ** 2 + rng.random() ** 2 <= 1.0)


@ray.remote(num_returns=2)
def min_max(values: list[float]) -> tuple[float, float]:
    return min(values), max(values)


@ray.remote
def running_estimates(batches: int, per_batch: int):
    """A generator task: each estimate is available to the caller as soon as it is yielded."""
    inside = total = 0
    for i in range(batches):
        inside += ray.get(sample.remote(per_batch, 1000 + i))
        total += per_batch
        yield 4.0 * inside / total


@ray.remote(max_retries=0)
def flaky(x: int) -> int:
    if x == 3:
        raise ValueError(f"bad input {x}")
    return x


@ray.remote
def where_am_i() -> dict:
    ctx = ray.get_runtime_context()
    return {"task": ctx.get_task_id() is not None, "resources": ctx.get_assigned_resources()}


def main() -> None:
    # 1. fan out, fan in
    start = time.time()
    refs = [sample.remote(20_000, seed) for seed in range(8)]
    inside = sum(ray.get(refs))
    pi = 4.0 * inside / (8 * 20_000)
    print(f"pi is about {pi:.2f} ({time.time() - start:.2f}s)")
    assert abs(pi - 3.14159) < 0.05

    # 2. objects in the object store, passed by reference
    rng = random.Random(7)
    data = ray.put([rng.random() for _ in range(1000)])
    low_ref, high_ref = min_max.remote(data)
    low, high = ray.get([low_ref, high_ref])
    print(f"min_max: two return values, low < high: {low < high}")

    # 3. a generator task: consume results while it runs
    estimates = [round(ray.get(ref), 1) for ref in running_estimates.remote(4, 5_000)]
    print(f"streamed {len(estimates)} estimates, last {estimates[-1]}")

    # 4. wait for the first results, handle a failed task
    refs = [flaky.remote(x) for x in range(5)]
    ready, not_ready = ray.wait(refs, num_returns=2, timeout=30)
    print(f"wait: {len(ready)} ready, {len(not_ready)} not ready")
    try:
        ray.get(refs)
    except ray.exceptions.RayTaskError as err:
        print(f"caught RayTaskError, also a ValueError: {isinstance(err, ValueError)}")

    # 5. the runtime context and the cluster's resources, as Ray names them
    info = ray.get(where_am_i.options(num_cpus=0.5).remote())
    print(f"in a task: {info['task']}, assigned {info['resources']}")
    print(f"cluster CPUs: {ray.cluster_resources()['CPU'] > 0}")

    ray.shutdown()
    print("done")


if __name__ == "__main__":
    main()
