// The pymesos_rt dashboard: reads the master's /state and /jobs and draws the cluster (#/) or
// one job (#/job/<framework id>). Every value is written with textContent or as an SVG
// attribute holding a number or a colour we compute: nothing from the master becomes markup.
// Charts (bars, task stream, sparklines) are drawn as SVG and CSS boxes by this file alone.
"use strict";

const SVG_NS = "http://www.w3.org/2000/svg";
const OVERVIEW_EVERY_MS = 2000;
const JOB_EVERY_MS = 1000;
const STREAM_WINDOW_S = 60;
const OUTPUT_SHOWN = 300;

// ---- small DOM helpers ------------------------------------------------------------------
function el(tag, props, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(props || {})) {
    if (key === "class") { node.className = value; }
    else if (key === "title") { node.title = value; }
    else if (key === "href") { node.href = value; }
    else { node.setAttribute(key, value); }
  }
  for (const child of children) {
    if (child === null || child === undefined) { continue; }
    node.append(typeof child === "string" || typeof child === "number" ? String(child) : child);
  }
  return node;
}

function svg(tag, attrs, text) {
  const node = document.createElementNS(SVG_NS, tag);
  for (const [key, value] of Object.entries(attrs || {})) { node.setAttribute(key, String(value)); }
  if (text !== undefined) { node.textContent = text; }
  return node;
}

function section(title, ...children) {
  return el("section", {}, el("h2", {}, title), ...children);
}

function table(columns, rows, empty) {
  const t = el("table");
  const head = el("tr");
  for (const [title] of columns) { head.append(el("th", {}, title)); }
  t.append(head);
  for (const row of rows) {
    const tr = el("tr");
    for (const [, get, cls] of columns) {
      const value = get(row);
      const td = el("td", cls ? {class: cls} : {});
      td.append(value instanceof Node ? value : String(value ?? ""));
      tr.append(td);
    }
    t.append(tr);
  }
  if (rows.length === 0) {
    const td = el("td", {class: "none"}, empty || "none");
    td.colSpan = columns.length;
    t.append(el("tr", {}, td));
  }
  return t;
}

// ---- units ------------------------------------------------------------------------------
function fmtNumber(x, digits) {
  if (Number.isInteger(x)) { return String(x); }
  return x.toFixed(digits === undefined ? 1 : digits);
}

function fmtBytes(bytes) {
  if (bytes === null || bytes === undefined || Number.isNaN(bytes)) { return "-"; }
  const units = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];
  let value = bytes;
  let i = 0;
  while (Math.abs(value) >= 1024 && i < units.length - 1) { value /= 1024; i += 1; }
  const text = i === 0 || Math.abs(value) >= 100 ? value.toFixed(0) : value.toFixed(1);
  return text.replace(/\.0$/, "") + " " + units[i];
}

function fmtCores(cores) {
  return String(Math.round(cores * 100) / 100) + (cores === 1 ? " core" : " cores");
}

function fmtPct(fraction) { return (fraction * 100).toFixed(fraction < 0.1 && fraction > 0 ? 1 : 0) + "%"; }

function fmtSeconds(s) {
  if (s === null || s === undefined) { return "-"; }
  if (s < 1) { return (s * 1000).toFixed(s < 0.01 ? 1 : 0) + " ms"; }
  if (s < 60) { return s.toFixed(1) + " s"; }
  if (s < 3600) { return Math.floor(s / 60) + " min " + Math.round(s % 60) + " s"; }
  return Math.floor(s / 3600) + " h " + Math.round((s % 3600) / 60) + " min";
}

function fmtAgo(rel) { return rel === null || rel === undefined ? "-" : fmtSeconds(-rel) + " ago"; }

// A resource amount in its unit: Mesos keeps cpus in cores and mem/disk in MiB.
function fmtResource(name, amount) {
  if (name === "cpus") { return fmtCores(amount); }
  if (name === "mem" || name === "disk") { return fmtBytes(amount * 1048576); }
  if (name === "gpus") { return fmtNumber(amount) + (amount === 1 ? " GPU" : " GPUs"); }
  if (name === "store" || name.endsWith("_bytes")) { return fmtBytes(amount); }
  return fmtNumber(amount) + " " + name;
}

function fmtResources(res) {
  const keys = Object.keys(res || {}).sort((a, b) => order(a) - order(b) || a.localeCompare(b));
  return keys.map((k) => fmtResource(k, res[k])).join(", ") || "-";
}

const LABELS = {cpus: "CPU", mem: "Memory", gpus: "GPU", disk: "Disk", store: "Object store"};
function order(name) { const i = ["cpus", "mem", "gpus", "disk"].indexOf(name); return i < 0 ? 9 : i; }

// ---- colours and bars -------------------------------------------------------------------
function hue(name) {
  let h = 0;
  for (const ch of name) { h = (h * 31 + ch.codePointAt(0)) % 360; }
  return h;
}
function colour(name) { return "hsl(" + hue(name) + ", 62%, 52%)"; }

// A horizontal bar of parts [{value, cls, label}] out of total; each part's share is its width.
function bar(parts, total, wide) {
  const outer = el("div", {class: wide ? "bar wide" : "bar"});
  const sum = total > 0 ? total : 1;
  for (const part of parts) {
    if (!(part.value > 0)) { continue; }
    const span = el("span", {class: "part " + part.cls, title: part.label});
    span.style.width = Math.min(100, (100 * part.value) / sum) + "%";
    if (part.colour) { span.style.background = part.colour; }
    outer.append(span);
  }
  return outer;
}

function swatch(name) {
  const s = el("span", {class: "swatch"});
  s.style.background = colour(name);
  return s;
}

// ---- fetching ---------------------------------------------------------------------------
async function getJson(path) {
  const response = await fetch(path, {cache: "no-store"});
  if (!response.ok) { throw new Error(path + " answered " + response.status); }
  return response.json();
}

function setStatus(text, error) {
  const status = document.getElementById("status");
  status.textContent = text;
  status.className = error ? "error" : "";
}

// ---- overview ---------------------------------------------------------------------------
// Whether /state listed every executor (it pages long lists: see its "counts").
function allExecutorsListed(state) {
  return !state.counts || (state.executors || []).length >= state.counts.executors;
}

function clusterResources(state) {
  const resources = state.resources || {};
  const total = resources.total || {};
  let used = resources.used;
  let offered = resources.offered;
  if (!used || !offered) {  // a master that does not sum them: add up the agents
    used = {};
    offered = {};
    for (const a of state.agents || []) {
      for (const [k, v] of Object.entries(a.used || {})) { used[k] = (used[k] || 0) + v; }
      for (const [k, v] of Object.entries(a.offered || {})) { offered[k] = (offered[k] || 0) + v; }
    }
  }
  const rows = Object.keys(total).sort((a, b) => order(a) - order(b) || a.localeCompare(b));
  const inUse = Object.values(agentUsage(state).memory).reduce((a, b) => a + b, 0);
  const box = el("div", {class: "resources"});
  for (const name of rows) {
    const t = total[name];
    const u = used[name] || 0;
    const o = offered[name] || 0;
    const free = Math.max(0, t - u - o);
    let label = fmtResource(name, u) + " used of " + fmtResource(name, t) +
      " (" + fmtPct(t > 0 ? u / t : 0) + "), " + fmtResource(name, o) + " offered, " +
      fmtResource(name, free) + " free";
    if (name === "mem" && allExecutorsListed(state)) {
      label += "; executors hold " + fmtBytes(inUse) + " now";
    }
    box.append(el("div", {class: "resource"},
      el("span", {class: "rname"}, LABELS[name] || name),
      bar([
        {value: u, cls: "used", label: "used " + fmtResource(name, u)},
        {value: o, cls: "offered", label: "offered " + fmtResource(name, o)},
      ], t, true),
      el("span", {class: "rtext"}, label)));
  }
  const store = storeTotals(state);
  if (store) {
    box.append(el("div", {class: "resource"},
      el("span", {class: "rname"}, LABELS.store),
      bar([{value: store.used, cls: "used", label: "used " + fmtBytes(store.used)}], store.capacity, true),
      el("span", {class: "rtext"}, fmtBytes(store.used) + " used of " + fmtBytes(store.capacity) +
        " (" + fmtPct(store.capacity > 0 ? store.used / store.capacity : 0) + ")")));
  }
  return box;
}

// An agent's object store stats, once it reported them (/state's "object_store": capacity,
// used and spilled_bytes in bytes, objects, pinned).
function storeOf(agent) {
  const s = agent.object_store || agent.store;
  return s && typeof s === "object" ? s : null;
}

function storeTotals(state) {
  let used = 0;
  let capacity = 0;
  let seen = false;
  for (const a of state.agents || []) {
    const s = storeOf(a);
    if (s) {
      seen = true;
      used += Number(s.used || 0);
      capacity += Number(s.capacity || 0);
    }
  }
  return seen ? {used, capacity} : null;
}

function storeCell(agent) {
  const s = storeOf(agent);
  if (!s) { return "-"; }
  const used = Number(s.used || 0);
  const capacity = Number(s.capacity || 0);
  let text = fmtBytes(used) + " / " + fmtBytes(capacity);
  if (s.objects !== undefined) { text += ", " + s.objects + " objects"; }
  if (Number(s.spilled_bytes || 0) > 0) { text += ", " + fmtBytes(Number(s.spilled_bytes)) + " spilled"; }
  return el("div", {class: "cell-bar"},
    bar([{value: used, cls: "used", label: "used " + fmtBytes(used)}], capacity), el("span", {}, text));
}

function agentUsage(state) {
  const memory = {};
  const cpu = {};
  for (const e of state.executors || []) {
    const u = e.usage || {};
    if (typeof u.memory === "number") { memory[e.agent_id] = (memory[e.agent_id] || 0) + u.memory; }
    if (typeof u.cpu_seconds === "number") { cpu[e.agent_id] = (cpu[e.agent_id] || 0) + u.cpu_seconds; }
  }
  return {memory, cpu};
}

function resourceCell(agent, name) {
  const t = (agent.resources || {})[name] || 0;
  const u = (agent.used || {})[name] || 0;
  const o = (agent.offered || {})[name] || 0;
  return el("div", {class: "cell-bar"},
    bar([{value: u, cls: "used", label: "used"}, {value: o, cls: "offered", label: "offered"}], t),
    el("span", {}, fmtResource(name, u) + " / " + fmtResource(name, t)));
}

function agentsTable(state) {
  const usage = agentUsage(state);
  const kinds = new Set();
  for (const a of state.agents || []) { for (const k of Object.keys(a.resources || {})) { kinds.add(k); } }
  const columns = [
    ["agent", (a) => a.id], ["host", (a) => a.hostname], ["state", (a) => a.state],
    ["isolation", (a) => a.isolation],
  ];
  for (const k of [...kinds].sort((a, b) => order(a) - order(b) || a.localeCompare(b))) {
    columns.push([LABELS[k] || k, (a) => resourceCell(a, k)]);
  }
  if (allExecutorsListed(state)) {
    columns.push(["memory in use", (a) => fmtBytes(usage.memory[a.id] || 0), "num"]);
  }
  if ((state.agents || []).some((a) => storeOf(a))) {
    columns.push(["object store", storeCell]);
  }
  const agents = state.agents || [];
  const t = table(columns, agents);
  const all = state.counts ? state.counts.agents : agents.length;
  if (all > agents.length) {
    return el("div", {}, t, el("p", {class: "note"}, "The first " + agents.length + " of " + all + " agents."));
  }
  return t;
}

function progressBar(t, wide) {
  const total = t.queued + t.running + t.finished + t.failed + (t.cancelled || 0);
  return bar([
    {value: t.finished, cls: "done", label: t.finished + " done"},
    {value: t.failed, cls: "failed", label: t.failed + " failed"},
    {value: t.cancelled || 0, cls: "cancelled", label: (t.cancelled || 0) + " cancelled"},
    {value: t.running, cls: "running", label: t.running + " running"},
    {value: t.queued, cls: "queued", label: t.queued + " queued"},
  ], total, wide);
}

function countsText(t) {
  const total = t.queued + t.running + t.finished + t.failed + (t.cancelled || 0);
  let text = t.finished + " / " + total + " done";
  if (t.failed) { text += ", " + t.failed + " failed"; }
  if (t.cancelled) { text += ", " + t.cancelled + " cancelled"; }
  if (t.running) { text += ", " + t.running + " running"; }
  if (t.queued) { text += ", " + t.queued + " queued"; }
  return text;
}

function jobLink(job) {
  return el("a", {class: "job-link", href: "#/job/" + encodeURIComponent(job.id)}, job.name || job.id);
}

function jobsTable(jobs) {
  return table([
    ["job", jobLink], ["framework", (j) => j.id], ["role", (j) => j.role],
    ["connected", (j) => (j.connected ? "yes" : "no")],
    ["DRF share", (j) => el("div", {class: "cell-bar"},
      bar([{value: j.share, cls: "share", label: "dominant share " + fmtPct(j.share)}], 1),
      el("span", {}, fmtPct(j.share)))],
    ["executors", (j) => j.executors, "num"],
    ["tasks", (j) => el("div", {class: "cell-bar"}, progressBar(j.totals), el("span", {}, countsText(j.totals)))],
    ["started", (j) => fmtAgo(j.started)],
  ], jobs, "no framework is running");
}

function historyTable(jobs, kept) {
  const t = table([
    ["job", jobLink], ["framework", (j) => j.id],
    ["ended", (j) => fmtAgo(j.ended)], ["ran for", (j) => fmtSeconds(j.ended - j.started)],
    ["tasks", (j) => el("div", {class: "cell-bar"}, progressBar(j.totals), el("span", {}, countsText(j.totals)))],
    ["why it ended", (j) => j.reason],
  ], jobs, "no framework has ended yet");
  t.id = "history";
  return el("div", {}, t, el("p", {class: "note"}, "The last " + kept + " finished frameworks are kept."));
}

async function drawOverview(view) {
  const [state, jobs] = await Promise.all([getJson("/state?limit=500"), getJson("/jobs")]);
  showLeader(state);
  navJobs(jobs);
  const frameworks = el("div", {id: "jobs"}, jobsTable(jobs.active));
  view.replaceChildren(
    section("Cluster", clusterResources(state)),
    section("Agents", agentsTable(state)),
    section("Jobs (frameworks)", frameworks),
    section("History", historyTable(jobs.finished, jobs.finished_kept)),
  );
}

function showLeader(state) {
  const leader = state.leader || {};
  document.getElementById("leader").textContent =
    "master " + (state.master_id || "?") + " at " + (leader.address || "?");
}

function navJobs(jobs) {
  const nav = document.getElementById("nav");
  nav.replaceChildren(el("a", {href: "#/"}, "Overview"));
  for (const job of jobs.active.slice(0, 8)) { nav.append(jobLink(job)); }
}

// ---- one job ----------------------------------------------------------------------------
const jobCache = {id: null, seq: 0, lines: []};

function functionsTable(job) {
  const rows = job.functions.slice().sort((a, b) => a.name.localeCompare(b.name));
  return table([
    ["function", (f) => el("span", {class: "fname"}, swatch(f.name), f.name)],
    ["progress", (f) => progressBar({queued: f.queued, running: f.running, finished: f.done,
      failed: f.failed, cancelled: f.cancelled}, true)],
    ["tasks", (f) => countsText({queued: f.queued, running: f.running, finished: f.done,
      failed: f.failed, cancelled: f.cancelled})],
    ["mean run time", (f) => fmtSeconds(f.mean_seconds), "num"],
  ], rows, "no task submitted yet");
}

function taskStream(job) {
  const boxes = job.boxes;
  const lanes = [];
  for (const e of job.executor_list) { if (!lanes.includes(e.id)) { lanes.push(e.id); } }
  for (const b of boxes) { if (!lanes.includes(b[0])) { lanes.push(b[0]); } }
  const width = 1000;
  const left = 150;
  const lane = 22;
  const height = Math.max(1, lanes.length) * lane + 24;
  let earliest = 0;
  for (const b of boxes) { earliest = Math.min(earliest, b[2]); }
  const span = Math.max(5, Math.min(STREAM_WINDOW_S, -earliest));
  const x = (t) => left + ((t + span) / span) * (width - left - 10);
  const chart = svg("svg", {viewBox: "0 0 " + width + " " + height, class: "stream", role: "img"});
  chart.append(svg("title", {}, "task stream: one lane per executor, one box per task"));
  lanes.forEach((id, i) => {
    chart.append(svg("rect", {x: left, y: i * lane + 2, width: width - left - 10, height: lane - 4, class: "lane"}));
    chart.append(svg("text", {x: left - 6, y: i * lane + lane / 2 + 4, "text-anchor": "end", class: "lane-label"}, id));
  });
  let drawn = 0;
  for (const [executor, name, start, end, ok] of boxes) {
    if (end < -span) { continue; }
    const i = lanes.indexOf(executor);
    const x0 = x(Math.max(start, -span));
    const rect = svg("rect", {
      x: x0.toFixed(2), y: i * lane + 3, width: Math.max(1.5, x(end) - x0).toFixed(2),
      height: lane - 6, fill: colour(name), class: ok ? "box" : "box failed",
    });
    rect.append(svg("title", {}, name + (ok ? "" : " (failed)") + " on " + executor + ": " + fmtSeconds(end - start)));
    chart.append(rect);
    drawn += 1;
  }
  const axis = lanes.length * lane + 16;
  for (let k = 0; k <= 4; k += 1) {
    const t = -span + (k * span) / 4;
    chart.append(svg("text", {x: x(t), y: axis, "text-anchor": k === 4 ? "end" : "middle", class: "axis"},
      k === 4 ? "now" : "-" + fmtSeconds(-t)));
  }
  chart.setAttribute("data-boxes", String(drawn));
  return chart;
}

function sparkline(samples, index, max, cls) {
  const w = 140;
  const h = 28;
  const line = svg("svg", {viewBox: "0 0 " + w + " " + h, class: "spark " + cls, width: w, height: h});
  line.append(svg("rect", {x: 0, y: 0, width: w, height: h, class: "spark-bg"}));
  if (samples.length > 0) {
    // the last minute, or as far back as the samples go (at most five minutes)
    const window = Math.min(300, Math.max(60, -Math.min(...samples.map((s) => s[0]))));
    const top = Math.max(max || 0, ...samples.map((s) => s[index])) || 1;
    const points = samples.map((s) => {
      const px = w + (s[0] / window) * w;
      const py = h - 2 - (s[index] / top) * (h - 4);
      return px.toFixed(1) + "," + py.toFixed(1);
    });
    if (points.length === 1) {
      const [px, py] = points[0].split(",");
      line.append(svg("circle", {cx: Math.min(px, w - 2), cy: py, r: 2, class: "spark-dot"}));
    } else {
      line.append(svg("polyline", {points: points.join(" "), class: "spark-line"}));
    }
  }
  return line;
}

function executorsTable(job) {
  return table([
    ["executor", (e) => e.id], ["host", (e) => e.hostname], ["resources", (e) => fmtResources(e.resources)],
    ["state", (e) => e.state + (e.ended !== null ? " " + fmtAgo(e.ended) : "")],
    ["CPU (last minutes)", (e) => el("div", {class: "cell-spark"},
      sparkline(e.samples, 1, e.resources.cpus || 1, "cpu"),
      el("span", {}, e.cpu === null ? "-" : fmtCores(e.cpu)))],
    ["memory (last minutes)", (e) => el("div", {class: "cell-spark"},
      sparkline(e.samples, 2, e.memory_limit, "mem"),
      el("span", {}, e.memory === null ? "-" : fmtBytes(e.memory) +
        (e.memory_limit ? " of " + fmtBytes(e.memory_limit) : "")))],
  ], job.executor_list, "no executor");
}

// A job's actors (from /state, as its framework reports them), with the usage of the executor
// each runs in.
function actorsTable(job, actors) {
  const executors = {};
  for (const e of job.executor_list) { executors[e.id] = e; }
  const usage = (a, index, limit, format, cls) => {
    const e = executors[a.executor_id];
    if (!e) { return "-"; }
    const value = index === 1 ? e.cpu : e.memory;
    return el("div", {class: "cell-spark"}, sparkline(e.samples, index, limit(e), cls),
      el("span", {}, value === null ? "-" : format(value)));
  };
  return table([
    ["actor", (a) => el("span", {class: "fname"}, swatch(a.class || ""), a.name || a.actor_id)],
    ["class", (a) => a.class || ""],
    ["state", (a) => a.state + (a.restarts ? " (" + a.restarts + " restarts)" : "")],
    ["calls waiting", (a) => a.pending, "num"],
    ["executor", (a) => a.executor_id || "-"],
    ["CPU", (a) => usage(a, 1, (e) => e.resources.cpus || 1, fmtCores, "cpu")],
    ["memory", (a) => usage(a, 2, (e) => e.memory_limit, fmtBytes, "mem")],
  ], actors, "no actor");
}

function failuresList(job) {
  const box = el("div", {id: "failures"});
  const failures = job.failures.slice().reverse();
  if (failures.length === 0) { box.append(el("p", {class: "none"}, "no failures")); }
  for (const f of failures) {
    box.append(el("div", {class: "failure"},
      el("div", {class: "error"}, f.error),
      el("div", {class: "meta"}, f.name + " · task " + f.task_id +
        (f.executor_id ? " · on " + f.executor_id : "") + " · " + fmtAgo(f.at)),
      f.traceback ? el("pre", {class: "traceback"}, f.traceback) : null));
  }
  return box;
}

function outputTail(job) {
  if (jobCache.id !== job.id) { jobCache.id = job.id; jobCache.seq = 0; jobCache.lines = []; }
  for (const line of job.output) {
    if (line.seq > jobCache.seq) { jobCache.lines.push(line); jobCache.seq = line.seq; }
  }
  jobCache.lines = jobCache.lines.slice(-OUTPUT_SHOWN);
  const pre = el("pre", {id: "output"});
  if (jobCache.lines.length === 0) { pre.append("no output yet"); }
  for (const line of jobCache.lines) {
    pre.append(el("span", {class: "out-line " + line.stream},
      el("span", {class: "out-task"}, "(" + line.name + " " + line.task_id + ") "), line.text + "\n"));
  }
  return pre;
}

async function drawJob(view, id) {
  const since = jobCache.id === id ? jobCache.seq : 0;
  const [job, state, jobs] = await Promise.all([
    getJson("/jobs/" + encodeURIComponent(id) + "?since=" + since),
    getJson("/state?limit=500&framework=" + encodeURIComponent(id)).catch(() => null),
    getJson("/jobs").catch(() => null),
  ]);
  if (state) { showLeader(state); }
  if (jobs) { navJobs(jobs); }
  const running = job.state === "running";
  const title = el("div", {class: "job-title"},
    el("h1", {id: "job-name"}, job.name || job.id),
    el("span", {class: "badge " + job.state}, running ? (job.connected ? "running" : "disconnected") : "finished"),
    el("span", {class: "meta"}, "framework " + job.id + " · role " + job.role + " · started " +
      fmtAgo(job.started) + (running ? " · DRF share " + fmtPct(job.share) :
        " · ended " + fmtAgo(job.ended) + " (" + job.reason + ")")));
  const total = el("div", {class: "cell-bar total"}, progressBar(job.totals, true), el("span", {id: "job-counts"}, countsText(job.totals)));
  const children = [
    title, total,
    section("Progress by function", el("div", {id: "functions"}, functionsTable(job))),
    section("Task stream", el("div", {id: "stream"}, taskStream(job)),
      el("p", {class: "note"}, "One lane per executor, one box per task attempt, coloured by function; failed attempts outlined in red.")),
    section("Executors", el("div", {id: "executors"}, executorsTable(job))),
  ];
  const actors = ((state && state.actors) || []).filter((a) => a.framework_id === job.id);
  if (actors.length > 0) {
    children.push(section("Actors", el("div", {id: "actors"}, actorsTable(job, actors))));
  }
  children.push(section("Failures", failuresList(job)));
  children.push(section("Output", outputTail(job)));
  if (job.dropped) {
    children.push(el("p", {class: "note"}, job.dropped + " events were not sent to the master (it keeps a bounded summary)."));
  }
  view.replaceChildren(...children);
}

// ---- routing and refresh ----------------------------------------------------------------
let timer = null;
let generation = 0;

function route() {
  const match = /^#\/job\/(.+)$/.exec(location.hash);
  return match ? {job: decodeURIComponent(match[1])} : {job: null};
}

async function refresh() {
  clearTimeout(timer);
  const mine = ++generation;
  const view = document.getElementById("view");
  const where = route();
  try {
    if (where.job) { await drawJob(view, where.job); } else { await drawOverview(view); }
    setStatus("updated " + new Date().toLocaleTimeString(), false);
  } catch (error) {
    setStatus("cannot read the master: " + error.message, true);
  }
  if (mine !== generation) { return; }  // a newer refresh (e.g. after a click) runs
  timer = setTimeout(refresh, where.job ? JOB_EVERY_MS : OVERVIEW_EVERY_MS);
}

window.addEventListener("hashchange", refresh);
refresh();
