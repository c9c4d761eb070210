"""Hierarchical Dominant Resource Fairness, as Mesos's default allocator.

Roles are ordered by weighted dominant share (share / weight), then frameworks inside a role by
their own dominant share; ties go to the role with the smaller name and to the framework that
subscribed first. Shares are computed against the whole cluster's total resources and include
resources offered but not yet used. The order is :class:`DRFSorter`'s (``drf_sorter.py``).
"""

from __future__ import annotations

from pymesos_rt.master.allocator.base import Allocator
from pymesos_rt.master.allocator.drf_sorter import DRFSorter

__all__ = ["DRFAllocator", "DRFSorter"]


class DRFAllocator(Allocator):
    """The hierarchical allocator with DRF sorters for roles and for frameworks (the base's
    default sorter; other policies override ``_make_sorter`` or ``order``)."""
