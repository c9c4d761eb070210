"""The dashboard page served at ``GET /``: a static page whose script reads ``/state`` every two
seconds and draws the cluster (resources, agents, frameworks, executors and their usage).

The page holds no data of its own and the script writes every value as text (never as HTML),
so names chosen by frameworks cannot inject markup; it is served with a Content-Security-Policy
that allows only this origin's script.
"""

from __future__ import annotations

CSP = "default-src 'none'; script-src 'self'; connect-src 'self'; style-src 'self'"

PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>pymesos_rt</title>
<link rel="stylesheet" href="/dashboard.css">
<script src="/dashboard.js" defer></script>
</head>
<body>
<h1>pymesos_rt <span id="leader"></span></h1>
<p id="status">loading /state ...</p>
<h2>Resources</h2><table id="resources"></table>
<h2>Agents</h2><table id="agents"></table>
<h2>Frameworks</h2><table id="frameworks"></table>
<h2>Executors</h2><table id="executors"></table>
<p><a href="/state">/state</a> (JSON) &middot; <a href="/health">/health</a></p>
</body>
</html>
"""

STYLE = """
body { font: 14px system-ui, sans-serif; margin: 1.5em; color: #222; }
h1 span { font-size: 60%; color: #666; font-weight: normal; }
table { border-collapse: collapse; margin-bottom: 1em; }
th, td { border-bottom: 1px solid #ddd; padding: 3px 10px; text-align: left; }
th { background: #f4f4f4; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
#status.error { color: #b00; }
"""

SCRIPT = """
"use strict";
function fmt(value) {
  if (typeof value === "number") {
    return Number.isInteger(value) ? String(value) : value.toFixed(2);
  }
  if (value === null || value === undefined) { return ""; }
  if (typeof value === "object") {
    return Object.entries(value).map(([k, v]) => k + " " + fmt(v)).join(", ");
  }
  return String(value);
}
function fill(id, columns, rows) {
  const table = document.getElementById(id);
  table.replaceChildren();
  const head = table.insertRow();
  for (const [title] of columns) {
    const th = document.createElement("th");
    th.textContent = title;
    head.appendChild(th);
  }
  for (const row of rows) {
    const tr = table.insertRow();
    for (const [, get] of columns) {
      const td = tr.insertCell();
      const value = get(row);
      td.textContent = fmt(value);
      if (typeof value === "number") { td.className = "num"; }
    }
  }
  if (rows.length === 0) {
    const td = table.insertRow().insertCell();
    td.colSpan = columns.length;
    td.textContent = "none";
  }
}
function draw(state) {
  document.getElementById("leader").textContent =
    "master " + state.master_id + " at " + (state.leader.address || "?");
  fill("resources", [["total", s => s.total], ["used", s => s.used], ["offered", s => s.offered]],
    [state.resources]);
  fill("agents", [
    ["agent", a => a.id], ["host", a => a.hostname], ["state", a => a.state],
    ["isolation", a => a.isolation], ["total", a => a.resources], ["used", a => a.used],
    ["offered", a => a.offered],
  ], state.agents);
  fill("frameworks", [
    ["framework", f => f.id], ["name", f => f.name], ["role", f => f.role],
    ["share", f => f.share], ["connected", f => String(f.connected)],
    ["executors", f => f.executor_count], ["tasks", f => f.tasks],
  ], state.frameworks);
  fill("executors", [
    ["executor", e => e.executor_id], ["framework", e => e.framework_id],
    ["agent", e => e.agent_id], ["state", e => e.state], ["resources", e => e.resources],
    ["usage", e => e.usage],
  ], state.executors);
}
async function refresh() {
  const status = document.getElementById("status");
  try {
    const response = await fetch("/state", {cache: "no-store"});
    if (!response.ok) { throw new Error("/state answered " + response.status); }
    draw(await response.json());
    status.textContent = "updated " + new Date().toLocaleTimeString();
    status.className = "";
  } catch (error) {
    status.textContent = "cannot read /state: " + error.message;
    status.className = "error";
  }
}
refresh();
setInterval(refresh, 2000);
"""

FILES = {
    "/": (PAGE, "text/html"),
    "/dashboard.js": (SCRIPT, "text/javascript"),
    "/dashboard.css": (STYLE, "text/css"),
}
