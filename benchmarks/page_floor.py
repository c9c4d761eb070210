"""The floor under the "200 results of 1 MiB" row: the same page work with no runtime at all.

One burst of that row, done by hand: a memfd arena backed in 8 MiB steps (``posix_fallocate``,
by a thread of this process, as the store does), two writer processes (the executors) that each
make a fresh ``bytes`` per result and ``pwritev`` it into the arena once its range is backed,
and this process copying each result out into a new ``bytes`` (its pages populated with
``MADV_POPULATE_WRITE``, then one ``memmove``, as ``objects.arena.fresh_bytes`` does). No
messages, no Python objects per result beyond the values, waits by spinning on shared counters
with ``sched_yield``. What any runtime that stores each result and returns a ``bytes`` copy of
it pays on this machine; pymesos_rt's and Ray's burst in ``bench.py`` compare against it.

    python benchmarks/page_floor.py [--results 200] [--size-mib 1] [--rounds 4]

Linux only (memfd, ``MADV_POPULATE_WRITE``: kernel 5.14 or later).
"""

from __future__ import annotations

import argparse
import ctypes
import mmap
import multiprocessing as mp
import os
import threading
import time
from multiprocessing.sharedctypes import Synchronized, SynchronizedArray

MIB = 2**20
STEP = 8 * MIB
MADV_POPULATE_WRITE = 23
BYTES_HEADER = 32  # offset of a bytes object's data from its address (CPython 3.11, 64-bit)

libc = ctypes.CDLL(None, use_errno=True)
new_bytes = ctypes.pythonapi.PyBytes_FromStringAndSize
new_bytes.restype = ctypes.py_object
new_bytes.argtypes = [ctypes.c_void_p, ctypes.c_ssize_t]


def writer(
    fd: int,
    mine: range,
    size: int,
    backed: Synchronized[int],
    done: SynchronizedArray[int],
    go: threading.Event,
) -> None:
    go.wait()
    for i in mine:
        value = b"\x5a" * size  # the task's result
        end = (i + 1) * size
        while backed.value < end:
            os.sched_yield()
        os.pwritev(fd, [value], i * size)
        done[i] = 1


def burst(results: int, size: int) -> float:
    total = results * size
    fd = os.memfd_create("page-floor")
    os.ftruncate(fd, total + STEP)
    arena = mmap.mmap(fd, total + STEP)
    base = ctypes.addressof(ctypes.c_char.from_buffer(arena))
    ctx = mp.get_context("fork")
    backed = ctx.Value("q", 0, lock=False)
    done = ctx.Array("b", results, lock=False)
    go = ctx.Event()
    writers = [
        ctx.Process(target=writer, args=(fd, range(k, results, 2), size, backed, done, go))
        for k in range(2)
    ]
    for p in writers:
        p.start()
    time.sleep(0.3)  # both writers waiting

    def back() -> None:
        for start in range(0, total, STEP):
            os.posix_fallocate(fd, start, STEP)
            backed.value = start + STEP

    values = []
    start = time.perf_counter()
    go.set()
    backer = threading.Thread(target=back)
    backer.start()
    for i in range(results):
        while not done[i]:
            os.sched_yield()
        value = new_bytes(None, size)
        data = id(value) + BYTES_HEADER
        page = data & ~(mmap.PAGESIZE - 1)
        libc.madvise(
            ctypes.c_void_p(page), ctypes.c_size_t(data + size - page), MADV_POPULATE_WRITE
        )
        ctypes.memmove(data, base + i * size, size)
        values.append(value)
    elapsed = time.perf_counter() - start
    backer.join()
    for p in writers:
        p.join()
    assert all(v == values[0] for v in values[:: max(1, results // 8)]), "a copy went wrong"
    del values
    arena.close()
    os.close(fd)
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--results", type=int, default=200)
    parser.add_argument("--size-mib", type=float, default=1.0)
    parser.add_argument("--rounds", type=int, default=4)
    opts = parser.parse_args()
    size = int(opts.size_mib * MIB)
    mib = opts.results * size / MIB
    print(f"| round | {opts.results} results of {opts.size_mib:g} MiB (ms) | MiB/s |")
    print("|---|---|---|")
    for r in range(opts.rounds):
        elapsed = burst(opts.results, size)
        print(f"| {r + 1} | {elapsed * 1000:.0f} | {mib / elapsed:,.0f} |", flush=True)
        time.sleep(0.5)


if __name__ == "__main__":
    main()
