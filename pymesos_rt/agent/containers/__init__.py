"""Containerizers: one interface (:mod:`.base`) and its backends (:mod:`.cgroups_v2`,
:mod:`.cgroups_v1`, :mod:`.none`); :mod:`.cgroupfs` holds what the two cgroups backends share.

``make_containerizer("auto" | "cgroups-v1" | "cgroups-v2" | "none", ...)`` builds one. ``auto``
picks the strongest backend that works on this machine (v2, then v1, then none) and logs which
and why the stronger ones were passed over; the agent reports the choice as its isolation (in
the master's ``/state``). Naming a cgroups backend that cannot work here raises
:class:`Unavailable` (a ``ValueError``) with the reason.
"""

from __future__ import annotations

import logging
from pathlib import Path

from pymesos_rt.agent.containers.base import Container, Containerizer
from pymesos_rt.agent.containers.cgroupfs import Unavailable
from pymesos_rt.agent.containers.cgroups_v1 import CgroupsV1Containerizer
from pymesos_rt.agent.containers.cgroups_v2 import CgroupsV2Containerizer
from pymesos_rt.agent.containers.none import NoneContainerizer

__all__ = [
    "ISOLATIONS",
    "CgroupsV1Containerizer",
    "CgroupsV2Containerizer",
    "Container",
    "Containerizer",
    "NoneContainerizer",
    "Unavailable",
    "make_containerizer",
]

log = logging.getLogger(__name__)

ISOLATIONS = ("auto", "cgroups-v2", "cgroups-v1", "none")


def make_containerizer(isolation: str, agent_tag: str, work_dir: Path) -> Containerizer:
    kinds: dict[str, type[Containerizer]] = {
        "cgroups-v2": CgroupsV2Containerizer,
        "cgroups-v1": CgroupsV1Containerizer,
        "none": NoneContainerizer,
    }
    if isolation in kinds:
        chosen = kinds[isolation](agent_tag, work_dir)
        log.info("isolation: %s", chosen.name)
        return chosen
    if isolation != "auto":
        raise ValueError(f"unknown isolation {isolation!r}: use one of {', '.join(ISOLATIONS)}")
    passed: list[str] = []
    for kind in (CgroupsV2Containerizer, CgroupsV1Containerizer):
        try:
            chosen = kind(agent_tag, work_dir)
        except Unavailable as exc:
            passed.append(f"{kind.name}: {exc}")
            continue
        break
    else:
        chosen = NoneContainerizer(agent_tag, work_dir)
    log.info("isolation: %s (auto)%s", chosen.name, "".join(f"; not {why}" for why in passed))
    return chosen
