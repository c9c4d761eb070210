"""The dashboard served at ``GET /``: a static page, script and style sheet (``static/``) whose
script reads the master's JSON (``/state``, ``/jobs``, ``/jobs/<framework id>``) and draws the
cluster (resources as bars, agents, jobs with their DRF share and progress, the history of
finished jobs) and each job (progress per function, a task stream with one lane per executor,
executors with CPU and memory sparklines, failures with their tracebacks, output).

The page holds no data of its own and its script writes every value as text (never as HTML),
so names chosen by frameworks cannot inject markup; charts are SVG drawn by that script (no
library, nothing fetched from elsewhere). Everything is served with a Content-Security-Policy
that allows only this origin's script, style and requests.
"""

from __future__ import annotations

from pathlib import Path

CSP = (
    "default-src 'none'; script-src 'self'; connect-src 'self'; style-src 'self'; "
    "img-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)

_STATIC = Path(__file__).with_name("static")

FILES = {
    "/": ((_STATIC / "index.html").read_text(), "text/html"),
    "/dashboard.js": ((_STATIC / "dashboard.js").read_text(), "text/javascript"),
    "/dashboard.css": ((_STATIC / "dashboard.css").read_text(), "text/css"),
    "/favicon.svg": ((_STATIC / "favicon.svg").read_text(), "image/svg+xml"),
}
SCRIPT = FILES["/dashboard.js"][0]
