"""Leader election and detection for masters: standalone (a plain ``ws://`` address, one master)
and ZooKeeper (``zk://hosts/path``, any number of masters, one leads).

    contender = make_contender(address)            # in a master
    contender.subscribe(on_leadership)             # Leadership(leading, epoch, reason)
    await contender.start(MasterInfo(id, hostname, ip, port))
    ...
    await contender.withdraw()

    detector = make_detector(address)              # in an agent, a driver, a standby master
    await detector.start()
    leader = detector.current()                    # MasterInfo | None
    leader = await detector.wait_change(leader)    # or detector.subscribe(callback)

Everything runs on the caller's asyncio loop; see :mod:`.base` for the contracts and
:mod:`.zookeeper` for why two masters never both believe they lead. kazoo is imported only when
a ``zk://`` address is used, and only here (``session``, ``zookeeper``). The election modules
(``address``, ``base``, ``standalone``, ``session``, ``zookeeper``) import nothing else of
pymesos_rt; no module of this package imports the daemons (both checked by lint-imports).
"""

from __future__ import annotations

from pymesos_rt.coordination.base import (
    Contender,
    Detector,
    Leadership,
    MasterInfo,
    StandaloneAddress,
    ZooKeeperAddress,
    parse_address,
)
from pymesos_rt.coordination.standalone import StandaloneContender, StandaloneDetector

__all__ = [
    "Contender",
    "Detector",
    "Leadership",
    "MasterInfo",
    "StandaloneAddress",
    "StandaloneContender",
    "StandaloneDetector",
    "ZooKeeperAddress",
    "make_contender",
    "make_detector",
    "parse_address",
]


def make_contender(address: str, session_timeout: float | None = None) -> Contender:
    """The contender for a master address: ``ws://``/``wss://`` (always leads) or ``zk://``.

    ``session_timeout`` (seconds) applies to ZooKeeper only; default 10 s."""
    parsed = parse_address(address)
    if isinstance(parsed, StandaloneAddress):
        return StandaloneContender()
    from pymesos_rt.coordination import zookeeper

    timeout = session_timeout or zookeeper.DEFAULT_SESSION_TIMEOUT
    return zookeeper.ZooKeeperContender(parsed, session_timeout=timeout)


def make_detector(address: str, session_timeout: float | None = None) -> Detector:
    """The detector for a master address: ``ws://``/``wss://`` (that master) or ``zk://``."""
    parsed = parse_address(address)
    if isinstance(parsed, StandaloneAddress):
        return StandaloneDetector(MasterInfo.from_address(parsed.url))
    from pymesos_rt.coordination import zookeeper

    timeout = session_timeout or zookeeper.DEFAULT_SESSION_TIMEOUT
    return zookeeper.ZooKeeperDetector(parsed, session_timeout=timeout)
