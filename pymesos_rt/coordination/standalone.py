"""No election: one master at a fixed address (a plain ``ws://`` or ``wss://`` master address).

:class:`StandaloneContender` is elected as soon as it starts and leads until it withdraws;
:class:`StandaloneDetector` always names the one master. Both report on the caller's loop like
the ZooKeeper backend, so the daemons use one code path for both modes.

This module imports only :mod:`pymesos_rt.coordination.base`.
"""

from __future__ import annotations

from pymesos_rt.coordination.base import Contender, Detector, Leadership, MasterInfo


class StandaloneContender(Contender):
    """Always elected: the only master there is."""

    def __init__(self) -> None:
        super().__init__()
        self._leading = False
        self._withdrawn = False

    @property
    def leading(self) -> bool:
        return self._leading

    async def start(self, info: MasterInfo) -> None:
        if self._withdrawn:
            raise RuntimeError("a contender cannot rejoin after withdraw()")
        self._leading = True
        self._report(Leadership(leading=True, epoch=0, reason="standalone master"))

    async def withdraw(self) -> None:
        self._withdrawn = True
        self._leading = False
        self._report(Leadership(leading=False, epoch=0, reason="withdrew"))


class StandaloneDetector(Detector):
    """Names one fixed master; ``leader`` is a :class:`MasterInfo` or a ``ws://`` address."""

    def __init__(self, leader: MasterInfo | str) -> None:
        super().__init__()
        self._fixed = leader if isinstance(leader, MasterInfo) else MasterInfo.from_address(leader)

    async def start(self) -> None:
        self._update(self._fixed)

    async def stop(self) -> None:
        pass
