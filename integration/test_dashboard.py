"""The dashboard at ``GET /`` of a real embedded master: the page and its assets are served with
a strict Content-Security-Policy, and the page's script, run under Node.js against a stand-in
DOM and the master's real ``/state``, draws the agent, the framework and its executor."""

from __future__ import annotations

import json
import shutil
import subprocess
import urllib.request

import pytest

import pymesos_rt as rt
from pymesos_rt.master import dashboard

pytestmark = pytest.mark.integration

# A stand-in for the few DOM calls the dashboard makes; prints what each table shows.
HARNESS = """
const elements = {};
function node() {
  return {
    children: [], textContent: "", className: "", colSpan: 1,
    replaceChildren() { this.children = []; },
    appendChild(child) { this.children.push(child); return child; },
    insertRow() { return this.appendChild(node()); },
    insertCell() { return this.appendChild(node()); },
  };
}
globalThis.document = {
  getElementById(id) { return elements[id] || (elements[id] = node()); },
  createElement() { return node(); },
};
globalThis.fetch = async (url) => ({ ok: url === "/state", status: 200, json: async () => STATE });
globalThis.setInterval = () => 0;
process.on("beforeExit", () => {
  const text = (n) => n.children.length ? n.children.map(text) : n.textContent;
  const out = {};
  for (const [id, element] of Object.entries(elements)) {
    out[id] = element.children.length ? text(element) : element.textContent;
  }
  console.log(JSON.stringify(out));
});
"""


@rt.remote
def square(x: int) -> int:
    return x * x


def fetch(url: str) -> tuple[int, dict[str, str], str]:
    with urllib.request.urlopen(url, timeout=10) as resp:
        return resp.status, dict(resp.headers), resp.read().decode()


def test_dashboard_page_and_assets_are_served_with_a_strict_policy(cluster):
    status, headers, body = fetch(cluster.dashboard_url + "/")
    assert status == 200 and headers["Content-Type"].startswith("text/html")
    assert headers["Content-Security-Policy"] == dashboard.CSP
    assert '<script src="/dashboard.js"' in body and "<script>" not in body  # no inline code
    for path, kind in (("/dashboard.js", "text/javascript"), ("/dashboard.css", "text/css")):
        status, headers, asset = fetch(cluster.dashboard_url + path)
        assert status == 200 and headers["Content-Type"].startswith(kind) and asset.strip()


@pytest.mark.skipif(shutil.which("node") is None, reason="Node.js is not installed")
def test_dashboard_script_draws_the_real_state(cluster, tmp_path):
    assert rt.get(square.remote(7)) == 49  # a framework with a warm executor
    _, _, state = fetch(cluster.dashboard_url + "/state")
    script = tmp_path / "dashboard.js"
    script.write_text(f"const STATE = {state};\n{HARNESS}\n{dashboard.SCRIPT}")
    run = subprocess.run(
        ["node", str(script)], capture_output=True, text=True, timeout=60, check=False
    )
    assert run.returncode == 0, run.stderr
    drawn = json.loads(run.stdout)
    snapshot = json.loads(state)
    assert drawn["status"].startswith("updated")
    assert snapshot["master_id"] in drawn["leader"]
    agents = drawn["agents"]
    assert agents[0][0] == "agent" and agents[1][0] == snapshot["agents"][0]["id"]
    ours = next(f for f in snapshot["frameworks"] if f["id"] == cluster.framework_id)
    assert [ours["id"], ours["name"]] in [row[:2] for row in drawn["frameworks"][1:]]
    executors = [row[0] for row in drawn["executors"][1:]]
    assert set(executors) == {e["executor_id"] for e in snapshot["executors"]} != set()
