"""Forwarding what tasks print (executor/output.py), without processes."""

from __future__ import annotations

import io

from pymesos_rt.executor import output
from pymesos_rt.protocol import codec
from pymesos_rt.protocol import messages as m


def test_lines_of_the_task_on_this_thread_are_posted_whole():
    posted: list[m.Output] = []
    real = io.StringIO()
    stream = output.TaskStream("stdout", real, posted.append)  # type: ignore[arg-type]
    stream.write("outside a task\n")
    output.current.task_id = "t1"
    try:
        stream.write("par")
        stream.write("tial\nnext")
        stream.flush()
    finally:
        output.current.task_id = None
    assert real.getvalue() == "outside a task\n"
    assert posted == [m.Output("t1", "stdout", "partial\n"), m.Output("t1", "stdout", "next")]


def test_text_utf8_cannot_carry_is_escaped_not_lost():
    posted: list[m.Output] = []
    stream = output.TaskStream("stdout", io.StringIO(), posted.append)  # type: ignore[arg-type]
    text = "file \udc80 é\n"  # a lone surrogate, as os.fsdecode makes of an undecodable name
    output.current.task_id = "t1"
    try:
        assert stream.write(text) == len(text)
    finally:
        output.current.task_id = None
    assert posted == [m.Output("t1", "stdout", "file \\udc80 é\n")]
    codec.Codec.encode(list(posted))  # travels
