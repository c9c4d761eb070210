"""The object stores one process can reach, and how it reads, writes and frees objects in them.

- *Home*: the store of this process's node, with its arena mapped here (an executor's agent;
  the embedded driver's agent). Values are put there; objects of other stores are read by
  asking the home store to pull them (agent to agent, into its arena) and then mapped.
- *Mapped*: other stores whose arena this process maps: a process without a home store (a
  driver attached to a cluster) tries each store's unix socket once, proving the cluster
  secret; where that works (the same host and network namespace) it maps the arena and reads
  and writes objects there in place, as an executor does.
- *Remote*: any store, over its TCP endpoint: a process without a home store (a driver on a
  machine without an agent) pulls objects into its own memory, and pushes the values it puts
  to a store it picks.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

from pymesos_rt.errors import ObjectLostError
from pymesos_rt.objects import access, layout
from pymesos_rt.objects.access import ObjectAccess, StoreGone
from pymesos_rt.objects.client import SOCKET_PREFIX, RemoteStore, StoreClient
from pymesos_rt.protocol.objects import ObjectLocation

log = logging.getLogger(__name__)


class Stores:
    def __init__(self, secret: str = "", home: ObjectAccess | None = None) -> None:
        self.secret = secret
        self.home = home
        self.mapped: dict[str, ObjectAccess] = {}
        if home is not None:
            self.mapped[home.store_id] = home
        self._remote: dict[str, RemoteStore] = {}
        self._unmappable: set[str] = set()  # stores whose unix socket is out of reach
        self._lock = threading.Lock()
        # where a process without a home store pushes what it puts: (agent id, address)
        self.pick_target: Callable[[], tuple[str, str] | None] = lambda: None

    def set_home(self, home: ObjectAccess) -> None:
        self.home = home
        self.mapped[home.store_id] = home

    def remote(self, address: str) -> RemoteStore:
        with self._lock:
            store = self._remote.get(address)
            if store is None:
                store = self._remote[address] = RemoteStore(address, self.secret)
            return store

    def _map(self, store_id: str) -> ObjectAccess | None:
        """The store's arena mapped here, if this process can reach its unix socket."""
        mapped = self.mapped.get(store_id)
        if mapped is not None or self.home is not None or not store_id:
            return mapped
        with self._lock:
            mapped = self.mapped.get(store_id)
            if mapped is not None or store_id in self._unmappable:
                return mapped
            try:
                client = StoreClient.connect(SOCKET_PREFIX + store_id, self.secret, "driver")
            except (OSError, StoreGone) as exc:
                log.debug("store %s is not on this host (%s): reading it over TCP", store_id, exc)
                self._unmappable.add(store_id)
                return None
            self.mapped[store_id] = client
            return client

    def load(self, object_id: str, loc: ObjectLocation) -> Any:
        """The value of a stored object (raises ObjectLostError when it cannot be had)."""
        mapped = self.mapped.get(loc.store_id) or self._map(loc.store_id)
        if mapped is not None:
            try:
                return access.load(mapped, object_id, loc)
            except StoreGone as exc:  # its agent went away (with the object)
                if mapped is not self.home:
                    self.mapped.pop(loc.store_id, None)
                    mapped.close()
                raise ObjectLostError(
                    f"object {object_id} could not be read: the store of agent {loc.agent_id} "
                    f"is gone ({exc})"
                ) from None
        if self.home is not None:  # the home store pulls it, then it is read in place
            return access.load(self.home, object_id, loc)
        return layout.decode(self.remote(loc.address).pull(object_id, loc.size, loc.lease))

    def put(self, object_id: str, enc: layout.Encoded) -> ObjectLocation | None:
        """Store a value as a primary object; None when no store is reachable."""
        if self.home is not None:
            return access.put(self.home, object_id, enc)
        tried: set[str] = set()
        while (target := self.pick_target()) is not None and target[1] not in tried:
            agent_id, address = target
            tried.add(address)
            try:
                return self._put_at(agent_id, address, object_id, enc)
            except (OSError, StoreGone) as exc:  # that agent went away: the next one
                log.warning("cannot store object %s at %s: %s", object_id, address, exc)
        return None

    def _put_at(
        self, agent_id: str, address: str, object_id: str, enc: layout.Encoded
    ) -> ObjectLocation:
        remote = self.remote(address)
        mapped = self._map(remote.connect())
        if mapped is not None:  # on this host: write it in place
            return access.put(mapped, object_id, enc)
        remote.push(object_id, enc)
        return ObjectLocation(remote.store_id, agent_id, address, enc.size)

    def delete(self, by_address: dict[str, list[str]]) -> None:
        """Free objects in the stores (by TCP endpoint) holding them or copies of them."""
        mapped = {m.address: m for m in self.mapped.values()}
        for address, oids in by_address.items():
            try:
                near = mapped.get(address)
                if near is not None:
                    near.delete(oids)
                else:
                    self.remote(address).delete(oids)
            except OSError as exc:
                log.debug("cannot free %d object(s) at %s: %s", len(oids), address, exc)

    def close(self) -> None:
        with self._lock:
            remotes, self._remote = list(self._remote.values()), {}
        for store in remotes:
            store.close()
        for mapped in self.mapped.values():
            if mapped is not self.home:
                mapped.close()
