"""What a thread hand-off costs on this machine: a two-process ping-pong over loopback TCP where
the thread that sends also reads the answer, against one where a reader thread hands each
answer to the sender through a ``threading.Event`` (what the driver did before its loop went to
the waiting thread: docs/performance.md). Prints a Markdown table.

Run ``python benchmarks/handoff.py [--rounds N]``.
"""

from __future__ import annotations

import argparse
import pickle
import socket
import statistics
import struct
import subprocess
import sys
import threading
import time

HEAD = struct.Struct("!I")


def _serve() -> None:
    with socket.create_server(("127.0.0.1", 0)) as listener:
        print(listener.getsockname()[1], flush=True)
        conn, _ = listener.accept()
    conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    while data := conn.recv(65536):
        fn = pickle.loads(data[HEAD.size :])
        out = pickle.dumps(fn())
        conn.sendall(HEAD.pack(len(out)) + out)


def noop() -> None:
    return None


def _measure(sock: socket.socket, rounds: int, handoff: bool) -> list[float]:
    call = pickle.dumps(noop)
    frame = HEAD.pack(len(call)) + call
    times: list[float] = []
    if not handoff:
        for _ in range(rounds):
            start = time.perf_counter()
            sock.sendall(frame)
            pickle.loads(sock.recv(65536)[HEAD.size :])
            times.append(time.perf_counter() - start)
        return times
    box: list[bytes] = []
    ready = threading.Event()

    def read() -> None:
        while data := sock.recv(65536):
            box.append(data)
            ready.set()

    threading.Thread(target=read, daemon=True).start()
    for _ in range(rounds):
        start = time.perf_counter()
        sock.sendall(frame)
        ready.wait()
        ready.clear()
        pickle.loads(box.pop()[HEAD.size :])
        times.append(time.perf_counter() - start)
    return times


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=3000)
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        _serve()
        return 0
    rows = []
    for handoff in (False, True):
        server = subprocess.Popen(
            [sys.executable, __file__, "--serve"], stdout=subprocess.PIPE, text=True
        )
        assert server.stdout is not None
        sock = socket.create_connection(("127.0.0.1", int(server.stdout.readline())))
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        times = sorted(_measure(sock, args.rounds, handoff)[args.rounds // 10 :])
        sock.shutdown(socket.SHUT_RDWR)  # wakes our reader thread, tells the server
        sock.close()
        server.wait(10)
        name = "reader thread hands over (Event)" if handoff else "sender reads the answer"
        rows.append((name, statistics.median(times), times[int(len(times) * 0.99)]))
    print("| who reads the answer | median (us) | p99 (us) |")
    print("|---|---|---|")
    for name, median, p99 in rows:
        print(f"| {name} | {median * 1e6:.0f} | {p99 * 1e6:.0f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
