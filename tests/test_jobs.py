"""The master's jobs (``master/jobs.py``), fed through the master core: summaries replace the
counts and append events (rebased into the master's clock), executors' usage becomes a rate,
and frameworks that end move to a bounded history. The views (``jobs_view.py``) read them."""

from __future__ import annotations

from pymesos_rt.master import jobs as jobs_mod
from pymesos_rt.master.jobs_view import job_detail, jobs_overview
from pymesos_rt.master.records import MasterConfig
from pymesos_rt.master.state import MasterState
from pymesos_rt.protocol import messages as m
from pymesos_rt.protocol.resources import Resources
from pymesos_rt.protocol.states import ExecutorState

R = Resources
CMD = m.CommandInfo(["python"])


def make(**config) -> MasterState:
    config.setdefault("agent_timeout", 1e9)
    config.setdefault("reclaim", False)
    return MasterState(config=MasterConfig(**config), master_id="M")


def start(ms: MasterState, conn: str, fw_id: str, name: str, now: float = 0.0) -> None:
    ms.on_framework_call(conn, m.Subscribe(name, framework_id=fw_id), now)


def summary(now: float, done: int = 0, **kw) -> m.JobSummary:
    return m.JobSummary(now, [m.FunctionCounts("f", 1, 2, done, 0, 0, done, done * 0.5)], **kw)


def test_summaries_become_counts_and_events_in_the_masters_clock():
    ms = make()
    start(ms, "f1", "fw1", "etl", now=100.0)
    box = m.TaskBox("e1", "f", 9.0, 9.5, True)
    fail = m.TaskFailure(9.6, "t9", "f", "e1", "ValueError: x", "Traceback ...")
    out = [m.OutputLine(9.7, "t1", "f", "stdout", f"line {i}") for i in range(3)]
    # the framework's clock reads 10.0 when the master's reads 110.0
    ms.on_framework_call("f1", summary(10.0, 5, boxes=[box], failures=[fail], output=out), 110.0)
    assert ms.frameworks["fw1"].tasks == {
        "queued": 1,
        "running": 2,
        "finished": 5,
        "failed": 0,
        "cancelled": 0,
    }
    job = ms.jobs.get("fw1")
    assert job is not None and job.boxes[0].start == 109.0 and job.failures[0].at == 109.6
    assert [line.seq for line in job.output] == [1, 2, 3] and job.output[2].at == 109.7
    ms.jobs.validate()
    view = job_detail(ms, "fw1", 110.0, since=1)
    assert view is not None
    assert [line["text"] for line in view["output"]] == ["line 1", "line 2"]
    assert view["boxes"] == [["e1", "f", -1.0, -0.5, True]]
    assert view["functions"][0]["mean_seconds"] == 0.5
    assert view["failures"][0]["error"] == "ValueError: x" and view["failures"][0]["at"] == -0.4
    assert job_detail(ms, "nobody", 110.0) is None


def test_output_beyond_the_bound_keeps_the_newest_lines_and_their_numbers():
    ms = make()
    start(ms, "f1", "fw1", "etl")
    n = jobs_mod.OUTPUT_KEPT + 20
    lines = [m.OutputLine(1.0, "t", "f", "stdout", str(i)) for i in range(n)]
    for i in range(0, n, 200):
        ms.on_framework_call("f1", summary(1.0, output=lines[i : i + 200]), 1.0)
    job = ms.jobs.get("fw1")
    assert job is not None and len(job.output) == jobs_mod.OUTPUT_KEPT
    assert job.output[0].seq == 21 and job.output_seq == n
    assert [x.seq for x in job.lines_after(n - 2)] == [n - 1, n]
    assert job.lines_after(n) == [] and len(job.lines_after(0)) == jobs_mod.OUTPUT_KEPT
    ms.jobs.validate()


def test_executor_usage_becomes_a_cpu_rate_sampled_every_few_seconds():
    ms = make()
    ms.on_agent_call("a1", m.RegisterAgent("host-a", R(cpus=4, mem=4096), "ag1"), 0.0)
    start(ms, "f1", "fw1", "etl")
    (offer,) = ms.allocate(0.0)[0].message.offers
    ms.on_framework_call(
        "f1", m.Accept([offer.offer_id], [m.ExecutorLaunch("e1", R(cpus=1, mem=512), CMD)]), 0.0
    )
    for t, cpu_s in ((1.0, 0.5), (2.0, 1.0), (3.0, 2.0), (5.0, 3.0)):
        usage = m.ExecutorUsage(
            [m.UsageRecord("fw1", "e1", {"cpu_seconds": cpu_s, "memory": 2**20 * t})]
        )
        ms.on_agent_call("a1", usage, t)
    job = ms.jobs.get("fw1")
    assert job is not None
    trace = job.executors["e1"]
    # one sample per 2 s: at 1 (no rate yet), 3 (1.5 cpu-s over 2 s) and 5 (1 cpu-s over 2 s)
    assert list(trace.samples) == [(1.0, 0.0, 2**20), (3.0, 0.75, 3 * 2**20), (5.0, 0.5, 5 * 2**20)]
    view = job_detail(ms, "fw1", 5.0)
    assert view is not None
    (ex,) = view["executor_list"]
    assert ex["id"] == "e1" and ex["memory_limit"] == 512 * 2**20 and ex["cpu"] == 0.5
    assert ex["samples"][0] == [-4.0, 0.0, 2**20]
    update = m.StatusUpdate("u1", "ag1", "fw1", "e1", ExecutorState.FINISHED)
    ms.on_agent_call("a1", m.AgentStatus(update), 6.0)
    assert trace.ended == 6.0 and trace.state == "FINISHED"
    view = job_detail(ms, "fw1", 6.0)
    assert view is not None and view["executor_list"][0]["ended"] == 0.0
    ms.jobs.validate()


def test_finished_frameworks_move_to_a_bounded_history():
    ms = make(completed_frameworks_kept=2)
    for i in range(3):
        start(ms, f"c{i}", f"fw{i}", f"job{i}", now=float(i))
        ms.on_framework_call(f"c{i}", summary(0.0, done=i), float(i))
        ms.on_framework_call(f"c{i}", m.Teardown(), float(i) + 0.5)
    start(ms, "c9", "fw9", "live", now=9.0)
    ms.jobs.validate()
    view = jobs_overview(ms, 10.0)
    assert [j["name"] for j in view["active"]] == ["live"]
    assert [j["name"] for j in view["finished"]] == ["job2", "job1"]  # newest first, 2 kept
    assert view["finished"][0]["ended"] == -7.5 and view["finished"][0]["reason"] == "finished"
    assert view["finished"][0]["totals"]["finished"] == 2
    assert view["finished_kept"] == 2
    assert job_detail(ms, "fw2", 10.0) is not None and job_detail(ms, "fw0", 10.0) is None


def test_a_framework_that_disconnects_without_failover_ends_with_that_reason():
    ms = make()
    start(ms, "f1", "fw1", "etl")
    ms.on_disconnected("f1", 3.0)
    (ended,) = jobs_overview(ms, 3.0)["finished"]
    assert ended["reason"] == "disconnected" and ended["state"] == "finished"
    assert ms.frameworks == {}
