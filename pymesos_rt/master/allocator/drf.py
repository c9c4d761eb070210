"""Hierarchical Dominant Resource Fairness, as Mesos's default allocator.

Roles are ordered by weighted dominant share (share / weight), then frameworks inside a role by
their own dominant share; ties go to the framework that subscribed first. Shares are computed
against the whole cluster's total resources and include resources offered but not yet used.
"""

from __future__ import annotations

from pymesos_rt.master.allocator.base import Allocator, FrameworkEntry


class DRFAllocator(Allocator):
    def order(self) -> list[FrameworkEntry]:
        total = self.total()
        role_shares = {fw.role: self.role_share(fw.role) for fw in self._frameworks.values()}
        return sorted(
            self._frameworks.values(),
            key=lambda fw: (
                role_shares[fw.role],
                fw.role,
                fw.allocated.dominant_share(total),
                fw.order,
            ),
        )
