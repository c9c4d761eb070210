"""What ``rt.init`` returns (kept apart from the session so that importing the API stays light)."""

from __future__ import annotations

import dataclasses


@dataclasses.dataclass(frozen=True)
class ClusterInfo:
    """What ``init`` connected to."""

    address: str
    mode: str  # "embedded" | "attached"
    framework_id: str
    dashboard_url: str
    resources: dict[str, float]
