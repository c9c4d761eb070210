"""The shared memory of one store: a memfd mapped once into each process that uses it.

The agent creates the arena (``memfd_create``: nothing appears in ``/dev/shm``, and the memory
goes back to the system when the last process holding it exits, even after a crash) and backs
it with memory range by range before handing a range to a writer (:meth:`Arena.back`,
``fallocate``: 0.2 ms per MiB here), so its pages are charged to the agent and a write never
faults. Executors and drivers on the node receive the descriptor over the store's unix socket
and map it.

Each process also *maps in* the ranges it uses before it touches them (:meth:`Arena.prefault`,
``madvise(MADV_POPULATE_WRITE)``): one call fills the page tables of a whole range in the
kernel, where touching it page by page takes one fault per 4 KiB page (measured on this
machine's VM under load: 0.4 ms per MiB in one call, 1.7-3.5 ms per MiB by faults). Which
2 MiB chunks this process has mapped in is a bitmap, so a range is mapped in once per process.
Only ranges about to be used are mapped in (an object read as views, or written into a range
this process wrote before): mapping the whole backed arena when a process attaches cost more
than it saved, and the agent does not map in what it backs (0.25 ms per MiB, as much again as
backing it, for pages only its readers and writers touch).
Kernels before 5.14 lack the call: then pages fault in as they are touched.

What is copied rather than viewed does not need the mapping: a value written into a range this
process never wrote goes in with ``pwrite`` (:func:`write_all`, :meth:`Arena.write_through_fd`:
0.19 ms per fresh MiB, against 0.33 to map it in and copy), and a stored ``bytes`` value is read
with ``pread`` straight into the new object (:func:`read_bytes`).
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import mmap
import os
from typing import Any

MADV_POPULATE_WRITE = 23  # Linux 5.14
CHUNK = 2 * 2**20
GRANULE = 64 * 2**10  # what this process has written of the arena is known at this grain

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
    out: bytes = _new_bytes(None, n)  # contents not set yet; nothing else can see it
    addr = id(out) + _BYTES_DATA
    lo, hi = (addr + _PAGE - 1) // _PAGE * _PAGE, (addr + n) // _PAGE * _PAGE
    if _supported and hi > lo:
        _madvise(lo, hi - lo, MADV_POPULATE_WRITE)  # a failure only means faults
    memoryview((ctypes.c_char * n).from_address(addr)).cast("B")[:] = src.cast("B")
    return out


def read_bytes(fd: int, offset: int, n: int) -> bytes:
    """A new ``bytes`` object of the ``n`` bytes at ``offset`` of ``fd``: one ``pread`` into
    the new object's memory (mapped in by one call first), so nothing of ``fd`` is mapped into
    this process (mapping a fresh MiB of the arena here costs more than copying it)."""
    if n < _FRESH_MIN or not _fresh_ok:
        return _pread_all(fd, offset, n)
    out: bytes = _new_bytes(None, n)  # contents not set yet; nothing else can see it
    addr = id(out) + _BYTES_DATA
    lo, hi = (addr + _PAGE - 1) // _PAGE * _PAGE, (addr + n) // _PAGE * _PAGE
    if _supported and hi > lo:
        _madvise(lo, hi - lo, MADV_POPULATE_WRITE)  # a failure only means faults
    dst = memoryview((ctypes.c_char * n).from_address(addr)).cast("B")
    got = 0
    while got < n:
        k = os.preadv(fd, [dst[got:]], offset + got)
        if k <= 0:
            raise OSError(f"the arena ends {got} bytes into a {n}-byte object at {offset}")
        got += k
    return out


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


def _pread_all(fd: int, offset: int, n: int) -> bytes:
    data = os.pread(fd, n, offset)
    if len(data) < n:
        raise OSError(f"the arena ends {len(data)} bytes into a {n}-byte object at {offset}")
    return data


class Arena:
    def __init__(self, fd: int, capacity: int, *, owner: bool) -> None:
        self.fd = fd
        self.capacity = capacity
        self.owner = owner
        self._map = mmap.mmap(fd, capacity) if capacity else None
        self.view = memoryview(self._map) if self._map is not None else memoryview(b"")
        self._base = 0
        if self._map is not None:
            first = ctypes.c_char.from_buffer(self._map)
            self._base = ctypes.addressof(first)
            del first  # the address stays valid while mapped; no export is kept
        self._mapped = bytearray(-(-capacity // CHUNK))  # chunks mapped in by this process
        self._written = bytearray(-(-capacity // GRANULE))  # granules this process wrote

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

    def back(self, start: int, end: int) -> None:
        """Back ``[start, end)`` with memory (raises OSError, e.g. ENOMEM, if it cannot). Not
        mapped into this process: the store's own process touches few of its pages (a reader
        maps in what it reads; mapping in costs as much as backing)."""
        end = min(end, self.capacity)
        if end > start:
            os.posix_fallocate(self.fd, start, end - start)

    def write_through_fd(self, offset: int, size: int) -> bool:
        """Whether to write ``[offset, offset + size)`` with ``pwrite`` rather than through the
        mapping: when this process has not mapped all of it in and some of it was never
        written by this process. A range written once (a burst of new results) is not worth
        mapping in (0.19 ms per MiB through the descriptor here, 0.33 to map in and copy); one
        used again is mapped in then and copied into (0.07 ms per MiB from then on). The range
        counts as written from now on."""
        if size <= 0 or self._map is None:
            return False
        first, last = offset // CHUNK, min(offset + size - 1, self.capacity - 1) // CHUNK
        if all(self._mapped[first : last + 1]):
            return False
        g0, g1 = offset // GRANULE, min(offset + size - 1, self.capacity - 1) // GRANULE + 1
        fresh = 0 in self._written[g0:g1]
        if fresh:
            self._written[g0:g1] = b"\x01" * (g1 - g0)
        return fresh

    def prefault(self, offset: int, size: int) -> None:
        """Map ``[offset, offset + size)`` into this process's page tables now, in one call
        per run of chunks not mapped in yet (the GIL is released meanwhile)."""
        global _supported
        if not _supported or size <= 0 or self._map is None:
            return
        first, last = offset // CHUNK, min(offset + size - 1, self.capacity - 1) // CHUNK
        i = first
        while i <= last:
            if self._mapped[i]:
                i += 1
                continue
            j = i
            while j + 1 <= last and not self._mapped[j + 1]:
                j += 1
            start, end = i * CHUNK, min((j + 1) * CHUNK, self.capacity)
            if _madvise(self._base + start, end - start, MADV_POPULATE_WRITE) != 0:
                if ctypes.get_errno() in (errno.EINVAL, errno.ENOSYS):
                    _supported = False  # an older kernel: pages fault in as touched
                return  # e.g. beyond what the store backed with memory yet: fault in later
            self._mapped[i : j + 1] = b"\x01" * (j + 1 - i)
            i = j + 1

    def close(self) -> None:
        """Unmap (unless views of it are still alive: then the mapping stays until exit)."""
        with contextlib.suppress(BufferError, ValueError):
            self.view.release()
            if self._map is not None:
                self._map.close()
        fd, self.fd = self.fd, -1  # nothing is read or written through it from now on
        with contextlib.suppress(OSError):
            if fd >= 0:
                os.close(fd)
