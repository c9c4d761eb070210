"""Placement decisions: executors to launch on an offer; pipelining limits of a lease."""

from __future__ import annotations

from pymesos_rt.protocol.resources import Resources
from pymesos_rt.scheduler.matching import (
    PIPELINE_BUDGET_S,
    PIPELINE_MAX,
    fits_somewhere,
    plan_launches,
)
from pymesos_rt.scheduler.records import Lease, Task

R = Resources
A = R(cpus=1, mem=1024)
B = R(cpus=2, mem=512)


def test_plan_launches_fills_the_oldest_shape_first():
    assert plan_launches(R(cpus=4, mem=4096), {A: 2, B: 5}, [A, B]) == [A, A, B]
    assert plan_launches(R(cpus=4, mem=4096), {A: 2, B: 5}, [B, A]) == [B, B]


def test_plan_launches_stops_at_the_need():
    assert plan_launches(R(cpus=64, mem=65536), {A: 3}, [A]) == [A, A, A]


def test_plan_launches_skips_shapes_that_do_not_fit_and_tries_the_next():
    big = R(cpus=8)
    assert plan_launches(R(cpus=4, mem=4096), {big: 1, A: 1}, [big, A]) == [A]


def test_plan_launches_with_nothing_to_do():
    assert plan_launches(R(cpus=4), {}, []) == []
    assert plan_launches(R(cpus=4), {A: 0}, [A]) == []
    assert plan_launches(R(), {A: 1}, [A]) == []


def test_plan_launches_handles_fractional_cpus_exactly():
    tenth = R(cpus=0.1)
    assert plan_launches(R(cpus=1), {tenth: 20}, [tenth]) == [tenth] * 10


def test_plan_launches_uses_custom_resources():
    gpu = R(cpus=1, gpus=1)
    assert plan_launches(R(cpus=8, gpus=2), {gpu: 4}, [gpu]) == [gpu, gpu]


def test_fits_somewhere():
    agents = {"ag1": R(cpus=4, mem=1024), "ag2": R(cpus=1, mem=8192)}
    assert fits_somewhere(R(cpus=4), agents)
    assert fits_somewhere(R(mem=8192), agents)
    assert not fits_somewhere(R(cpus=4, mem=8192), agents)  # no single agent has both
    assert not fits_somewhere(R(cpus=1), {})


# --- a lease's room for one more task ---------------------------------------------------------


def _task(tid: str, estimate: float | None) -> Task:
    t = Task(tid, "f", "f-id", A, [], 0, False)
    t.estimate = estimate
    return t


def test_lease_takes_one_task_of_unknown_duration_and_nothing_behind_it():
    lease = Lease("e1", "ag1", A)
    assert lease.can_take()
    lease.add(_task("t1", None))
    assert not lease.can_take()
    lease.blocked = 1  # t1 waits in get: its slot is given back
    assert lease.can_take()
    lease.add(_task("t2", 0.0001))
    assert not lease.can_take()  # t1's duration is still unknown


def test_lease_pipelines_up_to_the_budget():
    lease = Lease("e1", "ag1", A)
    n = 0
    while lease.can_take():
        lease.add(_task(f"t{n}", 0.0003))
        n += 1
    # 0.3 ms each: takes tasks while it holds under 2 ms (1.8 ms after 6), so ends at 2.1 ms
    assert n == 7
    assert lease.queued_work >= PIPELINE_BUDGET_S


def test_lease_pipeline_is_capped():
    lease = Lease("e1", "ag1", A)
    n = 0
    while lease.can_take():
        lease.add(_task(f"t{n}", 0.0))
        n += 1
    assert n == 1 + PIPELINE_MAX


def test_lease_remove_gives_back_the_work():
    lease = Lease("e1", "ag1", A)
    t1, t2 = _task("t1", None), _task("t2", 0.001)
    lease.blocked = 1
    lease.add(t1)
    lease.add(t2)
    lease.remove(t1)
    lease.remove(t2)
    lease.remove(t2)  # not held: ignored
    assert (list(lease.inflight), lease.unknown_work, lease.queued_work) == ([], 0, 0.0)
