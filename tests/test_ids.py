"""Wire identifiers."""

from __future__ import annotations

import re
import threading

from pymesos_rt.protocol.ids import IdSequence, new_id, process_prefix


def test_new_id_has_prefix_and_is_unique():
    ids = {new_id("agent") for _ in range(100)}
    assert len(ids) == 100
    assert all(re.fullmatch(r"agent-[0-9a-f]{12}", i) for i in ids)


def test_id_sequence_counts_from_one():
    seq = IdSequence("p")
    assert [seq.next() for _ in range(3)] == ["p.1", "p.2", "p.3"]


def test_id_sequence_is_thread_safe():
    seq = IdSequence("p")
    out: list[str] = []

    def take():
        out.extend(seq.next() for _ in range(500))

    threads = [threading.Thread(target=take) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(out, key=lambda s: int(s.split(".")[1])) == [f"p.{n}" for n in range(1, 2001)]


def test_process_prefix_is_hex():
    assert re.fullmatch(r"[0-9a-f]+", process_prefix())
