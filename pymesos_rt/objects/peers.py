"""Pulls from other agents' stores: idle TCP connections by address, and large objects
pulled in ranges over several connections at once (one TCP stream does not keep the two
cores of a small machine busy). Used by the store's fetches (``service.py``)."""

from __future__ import annotations

import concurrent.futures
import itertools
import socket
import threading

from pymesos_rt.objects import wire
from pymesos_rt.objects.client import connect_tcp
from pymesos_rt.protocol import objects as w


class PeerPool:
    """Idle TCP connections to other stores, by address (for fetches). An object of at least
    ``PARALLEL_MIN`` bytes is pulled in ``STREAMS`` ranges over as many connections at once
    (one TCP stream does not keep the two cores of a small machine busy)."""

    PARALLEL_MIN = 32 * 2**20
    STREAMS = 4

    def __init__(self, secret: str) -> None:
        self.secret = secret
        self._idle: dict[str, list[socket.socket]] = {}
        self._lock = threading.Lock()
        self._ids = itertools.count(1)
        self._streams = concurrent.futures.ThreadPoolExecutor(
            self.STREAMS - 1, thread_name_prefix="store-pull"
        )

    def pull(self, source: w.ObjectLocation, object_id: str, dst: memoryview) -> None:
        total = dst.nbytes
        if total < self.PARALLEL_MIN:
            self._pull_range(source, object_id, dst, 0, -1)
            return
        step = -(-total // self.STREAMS)
        ranges = [(start, min(step, total - start)) for start in range(0, total, step)]
        others = [
            self._streams.submit(self._pull_range, source, object_id, dst[a : a + n], a, n)
            for a, n in ranges[1:]
        ]
        first, n = ranges[0]
        errors: list[BaseException] = []
        try:
            self._pull_range(source, object_id, dst[first : first + n], first, n)
        except BaseException as exc:
            errors.append(exc)
        for fut in others:
            try:
                fut.result()
            except BaseException as exc:
                errors.append(exc)
        if errors:
            raise errors[0]

    def _pull_range(
        self, source: w.ObjectLocation, object_id: str, dst: memoryview, offset: int, length: int
    ) -> None:
        sock = self._take(source.address)
        try:
            wire.send(sock, [w.Pull(next(self._ids), object_id, offset, length, source.lease)])
            messages, _ = wire.receive(sock, wire.client_codec())
            reply = messages[0] if messages else None
            if not isinstance(reply, w.PullReply):
                raise wire.ConnectionClosed(f"unexpected answer {type(reply).__name__}")
            if reply.error:
                raise LookupError(reply.error)
            if reply.size != dst.nbytes:
                raise wire.ConnectionClosed(f"size {reply.size} != expected {dst.nbytes}")
            wire.recv_into(sock, dst)
        except BaseException:
            sock.close()
            raise
        with self._lock:
            self._idle.setdefault(source.address, []).append(sock)

    def _take(self, address: str) -> socket.socket:
        with self._lock:
            idle = self._idle.get(address)
            if idle:
                return idle.pop()
        return connect_tcp(address, self.secret, "agent")[0]

    def close(self) -> None:
        self._streams.shutdown(wait=False, cancel_futures=True)
        with self._lock:
            socks = [s for group in self._idle.values() for s in group]
            self._idle.clear()
        for sock in socks:
            sock.close()
