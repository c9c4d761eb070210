"""One kazoo session driven from an asyncio loop: the plumbing under the ZooKeeper contender
and detector (:mod:`.zookeeper`).

kazoo runs its own threads: the connection thread calls the state listener, the callback thread
completes asynchronous results and runs watches. Here each of them only takes a short lock and
hands work to the loop with ``call_soon_threadsafe``; the loop awaits kazoo's asynchronous
results with a timeout (kazoo's own calls have none), so it never blocks on ZooKeeper.

Imports: kazoo.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from collections.abc import Awaitable, Callable
from typing import Any

from kazoo.client import KazooClient
from kazoo.protocol.states import KazooState

from pymesos_rt.coordination.address import ZooKeeperAddress

log = logging.getLogger(__name__)

INFO_PREFIX = "json.info_"
_BACKOFF_MIN, _BACKOFF_MAX = 0.05, 2.0


def seq_key(name: str) -> int:
    """A sort key: the sequence number, 0 for other names."""
    return sequence_of(name) or 0


def sequence_of(name: str) -> int | None:
    """The sequence number of a contender's znode name (``json.info_0000000007`` -> 7)."""
    if name.startswith(INFO_PREFIX) and name[len(INFO_PREFIX) :].isdigit():
        return int(name[len(INFO_PREFIX) :])
    return None


def _settle(fut: asyncio.Future[Any], result: Any) -> None:
    if fut.done():
        return
    try:
        fut.set_result(result.get_nowait())
    except Exception as exc:
        fut.set_exception(exc)


class ZooKeeperSession:
    """One kazoo client and a worker task on the loop that runs ``step`` on each wake-up.

    ``on_state_locked(state)`` runs in kazoo's thread with :attr:`lock` held, at the moment the
    session changes state; ``step`` runs on the loop after every state change and watch event,
    and again with backoff after it raises.
    """

    def __init__(
        self,
        address: ZooKeeperAddress,
        session_timeout: float,
        step: Callable[[], Awaitable[None]],
        on_state_locked: Callable[[str], None],
    ) -> None:
        self.address = address
        self.session_timeout = session_timeout
        self.lock = threading.Lock()
        self.connected = False  # guarded by lock
        self.generation = 0  # guarded by lock: +1 each time a session is lost
        self.closing = False
        self.ready = asyncio.Event()  # set by ``step`` once it has done its first job
        self.client: Any = None
        self._step = step
        self._on_state_locked = on_state_locked
        self._loop: asyncio.AbstractEventLoop | None = None
        self._wakeup = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def open(self) -> None:
        self._loop = asyncio.get_running_loop()
        creds = self.address.credentials
        self.client = KazooClient(
            hosts=self.address.hosts,
            timeout=self.session_timeout,
            auth_data=[("digest", f"{creds[0]}:{creds[1]}")] if creds else None,
            connection_retry={"max_tries": -1, "delay": 0.05, "max_delay": 1.0, "max_jitter": 0.2},
        )
        self.client.add_listener(self._on_state)
        self.client.start_async()
        self._task = asyncio.create_task(self._run(), name=f"zk {self.address.url}")

    async def wait_ready(self, timeout: float | None) -> None:
        try:
            async with asyncio.timeout(timeout):
                await self.ready.wait()
        except TimeoutError:
            await self.close()
            raise TimeoutError(
                f"ZooKeeper at {self.address.url} did not answer within {timeout}s"
            ) from None

    async def close(self) -> None:
        """Stop the worker and close the session (its ephemeral znodes go at once)."""
        self.closing = True
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        client, self.client = self.client, None
        if client is not None:
            await asyncio.to_thread(_stop_client, client)

    @property
    def session_id(self) -> int | None:
        client_id = self.client.client_id if self.client is not None else None
        return int(client_id[0]) if client_id else None

    def post(self, fn: Callable[..., None], *args: Any) -> None:
        """Run ``fn(*args)`` on the loop (from any thread); dropped once the loop is closed."""
        if self._loop is not None:
            with contextlib.suppress(RuntimeError):
                self._loop.call_soon_threadsafe(fn, *args)

    def wake(self) -> None:
        """Run ``step`` again soon; call on the loop."""
        self._wakeup.set()

    def watch(self, _event: Any) -> None:
        """A kazoo watch callback (kazoo's thread)."""
        self.post(self.wake)

    async def call(self, result: Any) -> Any:
        """Await a kazoo asynchronous result on the loop, within the session timeout."""
        fut: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        result.rawlink(lambda done: self.post(_settle, fut, done))
        async with asyncio.timeout(self.session_timeout):
            return await fut

    def _on_state(self, state: str) -> None:  # kazoo's thread: must not block
        with self.lock:
            self.connected = state == KazooState.CONNECTED
            if state == KazooState.LOST:
                self.generation += 1
            self._on_state_locked(state)
        log.info("ZooKeeper %s: session %s", self.address.url, state)
        self.post(self.wake)

    async def _run(self) -> None:
        delay = _BACKOFF_MIN
        self._wakeup.set()
        while not self.closing:
            await self._wakeup.wait()
            self._wakeup.clear()
            try:
                await self._step()
                delay = _BACKOFF_MIN
            except Exception as exc:
                if self.closing:
                    return
                log.warning(
                    "ZooKeeper %s: %s; retrying in %.2fs",
                    self.address.url,
                    str(exc) or type(exc).__name__,
                    delay,
                )
                await asyncio.sleep(delay)
                delay = min(delay * 2, _BACKOFF_MAX)
                self._wakeup.set()


def _stop_client(client: Any) -> None:
    try:
        client.stop()
        client.close()
    except Exception:
        log.exception("closing the ZooKeeper client failed")
