"""Following the leading master from an agent, a driver or a command: resolve the leader
through a :class:`Detector`, open a channel to it, and close that channel as soon as the
leader changes (the caller's reconnect loop then reaches the new leader).

Imports ``transport`` and ``protocol`` (to open websockets), nothing of the daemons.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

from pymesos_rt.coordination.base import Detector, MasterInfo
from pymesos_rt.protocol.codec import Codec
from pymesos_rt.transport import websocket as ws
from pymesos_rt.transport.base import Connection
from pymesos_rt.transport.limits import CONTROL_PLANE_MAX

log = logging.getLogger(__name__)

LEADER_WAIT_S = 10.0  # one attempt of the caller's reconnect loop waits this long for a leader


class LeaderLink:
    """Opens ``path`` on the current leader; one open connection at a time."""

    def __init__(
        self,
        detector: Detector,
        path: str,
        codec_factory: Callable[[], Codec[Any]],
        secret: str | None,
        max_message_size: int = CONTROL_PLANE_MAX,
    ) -> None:
        self.detector = detector
        self.path = path
        self.codec_factory = codec_factory
        self.secret = secret
        self.max_message_size = max_message_size
        self.conn: Connection | None = None
        self.leader: MasterInfo | None = None
        self._unsubscribe: Callable[[], None] | None = None

    async def start(self) -> None:
        await self.detector.start()
        self._unsubscribe = self.detector.subscribe(self._changed)

    async def stop(self) -> None:
        if self._unsubscribe is not None:
            self._unsubscribe()
        await self.detector.stop()

    async def connect(self) -> Connection:
        """A reading connection to the leader's ``path`` (raises ``ConnectionError`` when no
        leader is known in time or it cannot be reached: callers retry with backoff)."""
        try:
            leader = await self.detector.wait_leader(LEADER_WAIT_S)
        except TimeoutError:
            raise ConnectionError("no leading master known yet") from None
        conn = await ws.connect(
            leader.address + self.path,
            self.codec_factory(),
            self.secret,
            max_message_size=self.max_message_size,
        )
        conn.start_reading()
        self.conn, self.leader = conn, leader
        return conn

    async def pause(self, seconds: float) -> None:
        """A reconnect loop's back-off: sleeps ``seconds``, or less if the leader changes (so
        a new leader is reached at once, not after the back-off has grown)."""
        changed = asyncio.Event()
        unsubscribe = self.detector.subscribe(lambda _leader: changed.set())
        try:
            await asyncio.wait_for(changed.wait(), seconds)
        except TimeoutError:
            pass
        finally:
            unsubscribe()

    def _changed(self, leader: MasterInfo | None) -> None:
        conn = self.conn
        if conn is not None and not conn.closed and leader != self.leader:
            log.info("leading master changed to %s", leader.address if leader else "none")
            conn.close("the leading master changed")
