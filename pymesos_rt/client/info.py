"""What ``rt.init`` returns (kept apart from the session so that importing the API stays light).

In Jupyter it shows as a small table with a link to the dashboard (``_repr_html_``); its text
form names the dashboard's URL too.
"""

from __future__ import annotations

import dataclasses
import html


def _human(key: str, value: float) -> str:
    if key == "memory":
        amount, unit = float(value), "B"
        for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
            if amount < 1024 or unit == "TiB":
                break
            amount /= 1024
        return f"{amount:.1f} {unit}".replace(".0 ", " ")
    if key == "cpus":
        return f"{value:g} CPU" + ("s" if value != 1 else "")
    return f"{value:g} {key}"


@dataclasses.dataclass(frozen=True)
class ClusterInfo:
    """What ``init`` connected to."""

    address: str
    mode: str  # "embedded" | "attached"
    framework_id: str
    dashboard_url: str
    resources: dict[str, float]

    def __str__(self) -> str:
        resources = ", ".join(_human(k, v) for k, v in sorted(self.resources.items()))
        return (
            f"pymesos_rt {self.mode} cluster at {self.address} ({resources}); "
            f"framework {self.framework_id}; dashboard: {self.dashboard_url}/"
        )

    def _repr_html_(self) -> str:
        e = html.escape
        rows = [
            ("mode", e(self.mode)),
            ("address", e(self.address)),
            ("framework", e(self.framework_id)),
            ("resources", e(", ".join(_human(k, v) for k, v in sorted(self.resources.items())))),
        ]
        url = e(self.dashboard_url + "/", quote=True)
        job = e(f"{self.dashboard_url}/#/job/{self.framework_id}", quote=True)
        body = "".join(
            f"<tr><th style='text-align:left'>{k}</th><td style='text-align:left'>{v}</td></tr>"
            for k, v in rows
        )
        links = (
            f"<a href='{url}' target='_blank' rel='noopener'>{url}</a>"
            f" (<a href='{job}' target='_blank' rel='noopener'>this job</a>)"
        )
        body += f"<tr><th style='text-align:left'>dashboard</th><td>{links}</td></tr>"
        return f"<div><b>pymesos_rt</b><table>{body}</table></div>"
