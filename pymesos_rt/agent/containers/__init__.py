"""Containerizers: one interface (:mod:`.base`) and its backends.

``make_containerizer("auto" | "cgroups-v1" | "cgroups-v2" | "none", ...)`` builds one; ``auto``
picks the strongest backend that works on this machine.
"""

from __future__ import annotations

from pathlib import Path

from pymesos_rt.agent.containers.base import Container, Containerizer
from pymesos_rt.agent.containers.none import NoneContainerizer

__all__ = ["Container", "Containerizer", "NoneContainerizer", "make_containerizer"]


def make_containerizer(isolation: str, agent_tag: str, work_dir: Path) -> Containerizer:
    if isolation in ("auto", "none"):
        return NoneContainerizer(agent_tag, work_dir)
    raise ValueError(f"isolation {isolation!r} is not available in this build: use auto or none")
