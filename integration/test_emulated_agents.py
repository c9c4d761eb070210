"""The master with many agents, over real websockets: a real master process, one helper
process emulating 250 agents (registering, heartbeating, reporting usage, answering launches
with RUNNING, no processes started) and 10 frameworks that want executors without end
(``pymesos_rt.testing.emulated``). Every framework gets offers and DRF gives each the same
number of executors within one; after the master is SIGKILLed and restarted on the same port
every agent re-registers with its executors and the shares are the same.

``benchmarks/emulated.py`` runs the same with 1,000 agents and prints the times, the master's
RSS and CPU per second."""

from __future__ import annotations

import pytest

from pymesos_rt.testing.emulated import measure

pytestmark = pytest.mark.integration

AGENTS, FRAMEWORKS = 250, 10


def test_fair_shares_with_emulated_agents_before_and_after_a_master_restart(tmp_path):
    report = measure(tmp_path, AGENTS, FRAMEWORKS, timeout=240.0, idle_s=2.0)
    full = AGENTS * 8  # agents of 8 cpus, executors of 1 cpu
    for shares in (report.executors, report.executors_after):
        assert len(shares) == FRAMEWORKS  # every framework got offers
        assert sum(shares.values()) == full
        assert max(shares.values()) - min(shares.values()) <= 1, shares
    assert report.executors_after == report.executors
    assert report.master_rss_mib > 0 and report.master_cpu_per_s >= 0
