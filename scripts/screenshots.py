#!/usr/bin/env python3
"""Regenerate the dashboard screenshots in docs/images/ (the README shows one).

Starts a real master and agent (``pymesos-rt master``/``agent``), runs a small job attached to
them (three functions, a few failures, some output), and photographs the overview and the
job's page in headless chromium. Run from the repository root: ``.venv/bin/python
scripts/screenshots.py`` (needs Debian's ``chromium``).
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

import pymesos_rt as rt
from pymesos_rt.testing.browser import Browser
from pymesos_rt.testing.daemons import start_agent, start_master

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "docs" / "images"


def spin(seconds: float) -> None:
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        pass


@rt.remote(memory="512MiB")
def load_partition(i: int) -> list[int]:
    time.sleep(0.2 + 0.1 * (i % 3))
    return list(range(i * 100, i * 100 + 100))


@rt.remote(memory="512MiB")
def transform(rows: list[int]) -> int:
    spin(0.3)
    if rows[0] % 1700 == 0 and rows[0]:
        raise ValueError(f"corrupt partition starting at row {rows[0]}")
    print(f"partition {rows[0] // 100}: {len(rows)} rows")
    return sum(rows)


@rt.remote(memory="512MiB")
def aggregate(*parts: int) -> int:
    time.sleep(0.3)
    return sum(parts)


@rt.remote(num_cpus=0.5)
class Catalog:
    def __init__(self) -> None:
        self.rows = 0

    def record(self, rows: int) -> int:
        self.rows += rows
        return self.rows


def main() -> int:
    work = Path(tempfile.mkdtemp(prefix="pymesos-rt-shots-"))
    master = start_master(work)
    agent = start_agent(master, work, "--resources", "cpus:4.5;mem:8192")
    browser = None
    try:
        rt.init(master.url, name="etl-hourly")  # a job that ended: the history lists it
        rt.get([load_partition.remote(i) for i in range(4)])
        rt.shutdown()
        info = rt.init(master.url, name="etl-nightly")
        catalog = Catalog.options(name="catalog").remote()
        rt.get(catalog.record.remote(0))
        loads = [load_partition.remote(i) for i in range(60)]
        sums = [transform.remote(ref) for ref in loads]
        total = aggregate.remote(*sums[:20])
        browser = Browser(width=1400, height=900)
        base = info.dashboard_url
        # wait for the job to be well under way: some done, some failed, some still queued
        browser.navigate(f"{base}/#/job/{info.framework_id}")
        browser.wait_for(
            "(() => { const t = document.getElementById('job-counts');"
            " return t && / failed/.test(t.textContent)"
            " && document.querySelectorAll('svg.stream rect.box').length > 30"
            " && document.querySelectorAll('svg.spark.cpu polyline').length > 2; })()",
            120,
            "the job page shows progress, failures and usage",
        )
        browser.screenshot(OUT / "dashboard-job.png")
        browser.navigate(f"{base}/")
        browser.wait_for("document.querySelectorAll('#jobs a.job-link').length > 0", 30)
        browser.screenshot(OUT / "dashboard-overview.png")
        rt.wait([total, *sums], num_returns=len(sums) + 1, timeout=300)
        print(f"wrote {OUT / 'dashboard-job.png'} and {OUT / 'dashboard-overview.png'}")
    finally:
        if browser is not None:
            browser.close()
        rt.shutdown()
        agent.stop()
        master.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
