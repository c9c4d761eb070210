"""The dashboard, served by a real master and drawn by a real browser.

A master and an agent run as processes (``pymesos-rt master``/``agent``); this test process
attaches to them as a framework named ``<img src=x onerror=alert(1)>`` and runs a job (a slow
function, a failing one, one that prints). Debian's ``chromium`` (headless, over the DevTools
protocol: ``pymesos_rt.testing.browser``) loads the page, and the test reads what it shows:
function names, a task stream with boxes, progress that advances, the failure's exception
line, sizes in MiB/GiB, the framework's name as text (no image element, no dialog), and, after
the job, the finished framework in the history. Screenshots go to ``test-artifacts/`` (or
``$PYMESOS_RT_ARTIFACTS``).
"""

from __future__ import annotations

import json
import os
import re
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

import pymesos_rt as rt
from pymesos_rt.master import dashboard
from pymesos_rt.testing.browser import Browser, find_chromium
from pymesos_rt.testing.daemons import Daemon, start_agent, start_master, wait_for

pytestmark = pytest.mark.integration

XSS = "<img src=x onerror=alert(1)>"
ARTIFACTS = Path(
    os.environ.get("PYMESOS_RT_ARTIFACTS")
    or Path(__file__).resolve().parent.parent / "test-artifacts"
)
needs_chromium = pytest.mark.skipif(
    find_chromium() is None,
    reason="Debian's chromium is not installed (scripts/test installs it when run as root)",
)


@rt.remote
def slow_square(x: int) -> int:
    time.sleep(0.08)
    return x * x


@rt.remote
def explode(x: int) -> int:
    raise ValueError(f"boom {x}")


@rt.remote
def chatty(x: int) -> int:
    print(f"hello from chatty {x}")
    return x


def shows(element_id: str, *needles: str) -> str:
    """A page expression: the element exists and its text holds every needle."""
    text = f"(document.getElementById({json.dumps(element_id)}) || {{innerText: ''}}).innerText"
    return " && ".join(f"{text}.includes({json.dumps(n)})" for n in needles)


@rt.remote(num_cpus=0.5)
class Tally:
    def __init__(self) -> None:
        self.total = 0

    def add(self, x: int) -> int:
        self.total += x
        return self.total


def fetch(url: str) -> tuple[int, dict[str, str], str]:
    with urllib.request.urlopen(url, timeout=10) as resp:
        return resp.status, dict(resp.headers), resp.read().decode()


@pytest.fixture(scope="module")
def daemons(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Daemon, Daemon]]:
    work = tmp_path_factory.mktemp("dashboard")
    master = start_master(work)
    agent = None
    try:
        agent = start_agent(master, work, "--resources", "cpus:2;mem:4096")
        yield master, agent
    finally:
        if agent is not None:
            agent.stop()
        master.stop()


def test_page_and_assets_are_served_with_a_strict_policy(daemons):
    base = f"http://127.0.0.1:{daemons[0].port}"
    status, headers, body = fetch(base + "/")
    assert status == 200 and headers["Content-Type"].startswith("text/html")
    assert headers["Content-Security-Policy"] == dashboard.CSP
    assert "script-src 'self'" in dashboard.CSP and "unsafe" not in dashboard.CSP
    assert '<script src="/dashboard.js"' in body and "<script>" not in body  # no inline code
    assert "http" not in body.replace('href="/', "")  # nothing from elsewhere
    for path, kind in (("/dashboard.js", "text/javascript"), ("/dashboard.css", "text/css")):
        status, headers, asset = fetch(base + path)
        assert status == 200 and headers["Content-Type"].startswith(kind) and asset.strip()
        assert headers["Content-Security-Policy"] == dashboard.CSP
        assert "innerHTML" not in asset and "insertAdjacentHTML" not in asset
        assert not re.search(r"https?://(?!www\.w3\.org/2000/svg)", asset)


@needs_chromium
def test_dashboard_in_a_real_browser(daemons):
    master, _ = daemons
    info = rt.init(master.url, name=XSS, idle_timeout=30.0)
    base = info.dashboard_url
    browser = Browser(width=1400, height=1000)
    try:
        tally = Tally.options(name="the-tally").remote()  # an actor, on an executor of its own
        assert rt.get(tally.add.remote(5)) == 5
        refs = [slow_square.remote(i) for i in range(200)]
        failing = [explode.remote(42)]
        printing = [chatty.remote(i) for i in range(3)]

        browser.navigate(f"{base}/#/job/{info.framework_id}")
        text = "document.body.innerText"
        browser.wait_for(
            f"{text}.includes('slow_square') && {text}.includes('explode')"
            f" && {text}.includes('chatty')",
            60,
            "function names shown",
        )
        browser.wait_for(
            "document.querySelectorAll('svg.stream rect.box').length > 0", 60, "task stream boxes"
        )
        done = "Number((/(\\d+) \\/ \\d+ done/.exec(document.getElementById('job-counts')"
        done += ".textContent) || [0, -1])[1])"
        first = browser.wait_for(f"{done} > 2 && {done} < 200 ? {done} : 0", 60, "progress")
        browser.wait_for(f"{done} > {first}", 60, f"progress past {first} tasks")
        browser.wait_for(shows("failures", "ValueError: boom 42"), 60, "the exception line")
        browser.wait_for(shows("output", "hello from chatty 2"), 60, "task output")
        browser.wait_for(shows("actors", "the-tally", "Tally", "ALIVE"), 60, "the actor")
        assert re.search(r"\d (MiB|GiB)\b", browser.evaluate(text)), "sizes in MiB/GiB"
        assert browser.evaluate("document.getElementById('job-name').textContent") == XSS
        browser.screenshot(ARTIFACTS / "dashboard-job.png")

        browser.navigate(f"{base}/")
        browser.wait_for(shows("jobs", XSS), 30, "the framework's name shown as text")
        body = browser.evaluate(text)
        assert re.search(r"\d(\.\d)? GiB", body) and "cores" in body  # human units
        browser.screenshot(ARTIFACTS / "dashboard-overview.png")
        assert rt.get(refs[-1]) == 199**2 and rt.get(printing) == [0, 1, 2]
        with pytest.raises(ValueError, match="boom 42"):
            rt.get(failing[0])
    finally:
        rt.shutdown()
    try:
        browser.wait_for(
            shows("history", XSS, "205 / 206 done, 1 failed"),
            30,
            "the finished framework in the history",
        )
        browser.screenshot(ARTIFACTS / "dashboard-history.png")
        # the name was text everywhere: no image was made, no script ran, nothing was refused
        assert browser.evaluate("document.images.length") == 0
        assert browser.evaluate("document.querySelectorAll('img').length") == 0
        assert browser.dialogs() == []
        assert browser.errors() == []
    finally:
        browser.close()
    jobs = json.loads(fetch(base + "/jobs")[2])
    ended = next(j for j in jobs["finished"] if j["id"] == info.framework_id)
    assert ended["reason"] == "finished" and ended["totals"]["failed"] == 1
    assert {f["name"] for f in ended["functions"]} == {
        "slow_square",
        "explode",
        "chatty",
        "Tally.__init__",
        "Tally.add",
    }
    wait_for(lambda: not master.state()["frameworks"], 10, "framework gone from /state")
