"""A task's exception reaches the caller with its class, its state and its meaning, through a
real embedded cluster (executor processes, websockets): issue 9, points 3-5."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

import pymesos_rt as rt

pytestmark = pytest.mark.integration


@rt.remote(max_retries=0)
def deep(n: int) -> None:
    def down(k: int) -> None:
        if k == 0:
            raise ValueError(f"raised {n} frames deep")
        down(k - 1)

    down(n)


@rt.remote(max_retries=0)
def recurse() -> None:
    def forever() -> None:
        forever()

    forever()


class Tagged(ValueError):
    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.field = 1


@rt.remote(max_retries=0)
def tagged() -> None:
    raise Tagged("with a field")


def test_an_exception_400_frames_deep_keeps_its_class(cluster):
    with pytest.raises(ValueError, match="raised 400 frames deep") as info:
        rt.get(deep.remote(400), timeout=60)
    assert isinstance(info.value, rt.TaskError)


def test_recursion_error_keeps_its_class(cluster):
    with pytest.raises(RecursionError) as info:
        rt.get(recurse.remote(), timeout=60)
    assert isinstance(info.value, rt.TaskError)
    assert "maximum recursion depth" in str(info.value)


def test_the_exceptions_attributes_arrive(cluster):
    with pytest.raises(Tagged) as info:
        rt.get(tagged.remote(), timeout=60)
    assert info.value.field == 1
    assert info.value.args == ("with a field",)


def test_sys_exit_in_a_task_fails_a_program_that_does_not_catch_it(tmp_path):
    script = tmp_path / "driver.py"
    script.write_text(
        textwrap.dedent(
            """
            import sys
            import pymesos_rt as rt

            rt.init(num_cpus=1, memory="1GiB")

            @rt.remote(max_retries=0)
            def leave():
                sys.exit(3)

            rt.get(leave.remote(), timeout=60)
            print("not reached")
            """
        )
    )
    done = subprocess.run(
        [sys.executable, str(script)], check=False, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 1, done.stderr[-2000:]
    assert "not reached" not in done.stdout
    assert "TaskError" in done.stderr and "SystemExit(3)" in done.stderr
    assert "sys.exit(3)" in done.stderr  # the remote traceback is printed
