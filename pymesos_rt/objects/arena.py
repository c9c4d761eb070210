"""The shared memory of one store: a memfd mapped once into each process that uses it.

The agent creates the arena (``memfd_create``: nothing appears in ``/dev/shm``, and the memory
goes back to the system when the last process holding it exits, even after a crash) and backs
it with memory range by range before handing a range to a writer (:meth:`Arena.populate`,
``fallocate``), so its pages are charged to the agent and a write never faults. Executors and
drivers on the node receive the descriptor over the store's unix socket and map it.
"""

from __future__ import annotations

import contextlib
import mmap
import os


class Arena:
    def __init__(self, fd: int, capacity: int, *, owner: bool) -> None:
        self.fd = fd
        self.capacity = capacity
        self.owner = owner
        self.populated = 0
        self._map = mmap.mmap(fd, capacity) if capacity else None
        self.view = memoryview(self._map) if self._map is not None else memoryview(b"")

    @classmethod
    def create(cls, capacity: int, name: str = "pymesos-rt-arena") -> Arena:
        fd = os.memfd_create(name, os.MFD_CLOEXEC)
        try:
            os.ftruncate(fd, capacity)
            return cls(fd, capacity, owner=True)
        except BaseException:
            os.close(fd)
            raise

    @classmethod
    def attach(cls, fd: int, capacity: int) -> Arena:
        """Map an arena whose descriptor this process received (takes the descriptor)."""
        try:
            return cls(fd, capacity, owner=False)
        except BaseException:
            os.close(fd)
            raise

    def populate(self, upto: int) -> None:
        """Back ``[0, upto)`` with memory (raises OSError, e.g. ENOMEM, if it cannot)."""
        upto = min(upto, self.capacity)
        if upto > self.populated:
            os.posix_fallocate(self.fd, self.populated, upto - self.populated)
            self.populated = upto

    def close(self) -> None:
        """Unmap (unless views of it are still alive: then the mapping stays until exit)."""
        with contextlib.suppress(BufferError, ValueError):
            self.view.release()
            if self._map is not None:
                self._map.close()
        with contextlib.suppress(OSError):
            os.close(self.fd)
