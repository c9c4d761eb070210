"""The shared memory of one store: a memfd mapped once into each process that uses it.

The agent creates the arena (``memfd_create``: nothing appears in ``/dev/shm``, and the memory
goes back to the system when the last process holding it exits, even after a crash) and backs
it with memory range by range before handing a range to a writer (:meth:`Arena.back`,
``fallocate``: 0.2 ms per MiB here), so its pages are charged to the agent and a write never
faults. Executors and drivers on the node receive the descriptor over the store's unix socket
and map it.

A process maps in the ranges it copies into through its mapping, once (:meth:`Arena.map_in`):
it reads one byte every 64 KiB, and the kernel maps the 16 pages around each read at once
("fault-around", for pages that hold written data), writable since the mapping is shared:
0.06 ms per MiB on this machine's VM, where ``madvise(MADV_POPULATE_WRITE)`` takes 0.23-0.37
and write faults page by page 0.46. Which 2 MiB chunks this process has mapped in is a bitmap.
A reader maps nothing in advance: its read-only views fault in 64 KiB at a time as they are
read, which costs what mapping in first would, and nothing if the value is never read.

A writer copies into a range whose pages may hold no data yet through the descriptor instead
(:meth:`Arena.write`, ``pwrite``: 0.21-0.27 ms per MiB; such pages are not mapped by fault-around
and would fault in one by one, 0.37-0.46 ms per MiB). The store says which ranges those are
(``fresh``: beyond every range it handed to a writer before). A stored ``bytes`` value is copied
out of the mapping into a new object whose own pages are mapped in by one call first
(:func:`fresh_bytes`): the arena's pages, which hold data, come in 64 KiB at a time as they are
read (0.15-0.19 ms per MiB with the copy, where ``pread`` took 0.28-0.32).
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import mmap
import os
import threading
from collections.abc import Iterator
from typing import Any

MADV_POPULATE_WRITE = 23  # Linux 5.14
CHUNK = 2 * 2**20
FAULT_AROUND = 64 * 2**10  # what the kernel maps around a read fault (its default)
CLOSE_WAIT_S = 5.0  # close waits this long at most for calls using the descriptor

_libc = ctypes.CDLL(None, use_errno=True)
_madvise = _libc.madvise
_madvise.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]
_madvise.restype = ctypes.c_int
_supported = True
_PAGE = mmap.PAGESIZE
_new_bytes = ctypes.pythonapi.PyBytes_FromStringAndSize
_new_bytes.argtypes = [ctypes.c_void_p, ctypes.c_ssize_t]
_new_bytes.restype = ctypes.py_object
_BYTES_DATA = bytes.__basicsize__ - 1  # where a bytes object's contents start (CPython)
_FRESH_MIN = 256 * 1024
_fresh_ok = ctypes.string_at(id(b"probe") + _BYTES_DATA, 5) == b"probe"


def fresh_bytes(data: Any) -> bytes:
    """``bytes(data)``, with the new object's memory mapped in by one call before the copy
    (a large ``bytes`` value read out of the arena: its fresh pages would otherwise fault in
    one by one, which costs more than the copy itself on this machine)."""
    src = memoryview(data)
    n = src.nbytes
    if n < _FRESH_MIN or not _fresh_ok or not src.c_contiguous:
        return bytes(src)
    out, addr = _new_mapped_bytes(n)
    if src.readonly:
        memoryview((ctypes.c_char * n).from_address(addr)).cast("B")[:] = src.cast("B")
    else:  # without the GIL (the copy and the faults that map the source in take a while)
        source = ctypes.c_char.from_buffer(src)  # (its address; holds the source's export)
        try:
            ctypes.memmove(addr, ctypes.addressof(source), n)
        finally:
            del source  # its export of the source
    return out


def _new_mapped_bytes(n: int) -> tuple[bytes, int]:
    """A new ``bytes`` object of ``n`` bytes whose contents are not set yet (nothing else can
    see it), its fresh pages mapped in by one call, and the address of its contents."""
    global _supported
    out: bytes = _new_bytes(None, n)
    addr = id(out) + _BYTES_DATA
    lo, hi = (addr + _PAGE - 1) // _PAGE * _PAGE, (addr + n) // _PAGE * _PAGE
    failed = _supported and hi > lo and _madvise(lo, hi - lo, MADV_POPULATE_WRITE) != 0
    if failed and ctypes.get_errno() in (errno.EINVAL, errno.ENOSYS):
        _supported = False  # an older kernel: pages fault in as they are written
    return out, addr


def write_all(fd: int, offset: int, pieces: list[bytes | memoryview]) -> None:
    """Write ``pieces`` one after another at ``offset`` of ``fd`` (``pwritev``: no copy here)."""
    views = [memoryview(p).cast("B") for p in pieces]
    views = [v for v in views if v.nbytes]
    while views:
        n = os.pwritev(fd, views[:_IOV_MAX], offset)
        if n <= 0:
            raise OSError(f"the arena took no bytes at {offset}")
        offset += n
        while views and n >= views[0].nbytes:
            n -= views[0].nbytes
            views.pop(0)
        if n:
            views[0] = views[0][n:]


_IOV_MAX = 512


class Arena:
    def __init__(self, fd: int, capacity: int, *, owner: bool) -> None:
        self.fd = fd  # -1 once closed
        self.capacity = capacity
        self.owner = owner
        self._users = 0  # calls using the descriptor now (close waits for them)
        self._idle = threading.Condition()
        self._map = mmap.mmap(fd, capacity) if capacity else None
        self.view = memoryview(self._map) if self._map is not None else memoryview(b"")
        self._mapped = bytearray(-(-capacity // CHUNK))  # chunks mapped in by this process

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

    @contextlib.contextmanager
    def descriptor(self) -> Iterator[int]:
        """The arena's descriptor, not closed while the block runs (:meth:`close` waits): a
        call on another thread can never reach a descriptor number that was closed and given
        to another file meanwhile. Raises OSError (EBADF) once the arena is closed."""
        with self._idle:
            fd = self.fd
            if fd < 0:
                raise OSError(errno.EBADF, "the object store's arena is closed")
            self._users += 1
        try:
            yield fd
        finally:
            with self._idle:
                self._users -= 1
                if not self._users:
                    self._idle.notify_all()

    def back(self, start: int, end: int) -> None:
        """Back ``[start, end)`` with memory (raises OSError, e.g. ENOMEM, if it cannot). Not
        mapped into this process: the store's own process touches few of its pages (a reader
        maps in what it reads; mapping in costs as much as backing)."""
        end = min(end, self.capacity)
        if end > start:
            with self.descriptor() as fd:
                os.posix_fallocate(fd, start, end - start)

    def write(self, offset: int, pieces: list[bytes | memoryview]) -> None:
        """Write ``pieces`` one after another at ``offset``, through the descriptor."""
        with self.descriptor() as fd:
            write_all(fd, offset, pieces)

    def map_in(self, offset: int, size: int) -> None:
        """Map ``[offset, offset + size)`` into this process's page tables, unless every chunk
        of it is mapped in already: one read every ``FAULT_AROUND`` bytes (pages that hold
        data come in 64 KiB at a time, writable; any others fault in when written). Only the
        range is read (a read fault on a page nobody backed would allocate it, charged to
        this process); chunks it covers whole count as mapped from now on."""
        end = min(offset + size, self.capacity)
        if end <= offset or self._map is None:
            return
        if all(self._mapped[offset // CHUNK : (end - 1) // CHUNK + 1]):
            return
        self.view[offset:end:FAULT_AROUND].tobytes()  # the reads that map the pages in
        self.view[end - 1 : end].tobytes()  # and the last 64 KiB, if the stride stepped over it
        first, last = -(-offset // CHUNK), end // CHUNK  # chunks inside the range
        if last > first:
            self._mapped[first:last] = b"\x01" * (last - first)

    def close(self) -> None:
        """Unmap (unless views of it are still alive: then the mapping stays until exit), and
        close the descriptor once the calls using it ended (at most ``CLOSE_WAIT_S``)."""
        with contextlib.suppress(BufferError, ValueError):
            self.view.release()
            if self._map is not None:
                self._map.close()
        with self._idle:
            fd, self.fd = self.fd, -1  # nothing is read or written through it from now on
            self._idle.wait_for(lambda: not self._users, timeout=CLOSE_WAIT_S)
        with contextlib.suppress(OSError):
            if fd >= 0:
                os.close(fd)
