"""Large objects as files in a node-local object store (a directory on tmpfs).

A value whose pickle is at least :data:`THRESHOLD` bytes does not travel inside messages: its
producer (an executor, or the driver for ``rt.put``) writes it to the store of the node it runs
on and sends only the path; readers on the same node map the file. A :class:`Stored` owns its
file: the file is removed when the last ``Stored`` for it is garbage collected (the driver's
object table holds one per live object). The agent creates the store at start and removes it,
with any leftovers, when it stops.

Imports nothing of the package.
"""

from __future__ import annotations

import contextlib
import hashlib
import mmap
import os
import tempfile
from pathlib import Path

THRESHOLD = 512 * 1024
ENV_DIR = "PYMESOS_RT_OBJECT_DIR"


class Stored:
    """A value kept in a store file; owns the file."""

    __slots__ = ("__weakref__", "path", "size")

    def __init__(self, path: str, size: int) -> None:
        self.path = path
        self.size = size

    def read(self) -> memoryview:
        """The pickled bytes, mapped (no copy)."""
        with open(self.path, "rb") as f:
            mapped = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
        return memoryview(mapped)

    def __del__(self) -> None:
        with contextlib.suppress(OSError, TypeError):
            os.unlink(self.path)

    def __repr__(self) -> str:
        return f"Stored({self.path}, {self.size} bytes)"


Payload = bytes | memoryview | Stored  # an object's pickle: inline, mapped, or an owned file


def view(payload: Payload) -> bytes | memoryview:
    """The pickled bytes of a payload (mapped for store files)."""
    return payload.read() if isinstance(payload, Stored) else payload


def read_path(path: str) -> memoryview:
    """Map a store file written by someone else (it is not deleted by reading)."""
    with open(path, "rb") as f:
        mapped = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
    return memoryview(mapped)


def write(directory: str, object_id: str, data: bytes) -> str:
    """Write ``data`` as the object's file (atomically: readers never see a partial file)."""
    final = os.path.join(directory, object_id)
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=".part-")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, final)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    return final


def make_dir(work_dir: Path) -> Path:
    """The store directory of the agent with ``work_dir``: on /dev/shm when usable (named by
    the work dir, so a restarted agent finds its leftovers), else inside the work dir."""
    base = Path("/dev/shm")
    if base.is_dir() and os.access(base, os.W_OK):
        tag = hashlib.sha1(str(work_dir.resolve()).encode()).hexdigest()[:12]
        path = base / f"pymesos-rt-objects-{tag}"
    else:
        path = work_dir / "objects"
    path.mkdir(parents=True, exist_ok=True)
    return path
