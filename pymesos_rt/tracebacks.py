"""How a task's exception is shown in IPython and Jupyter (``TaskError._render_traceback_``).

IPython draws remote frames (rebuilt by tblib, see ``serialization``) with the wrong source
lines, and shows the runtime's own frames (``api.py``, ``refs.py``) as if they were the user's.
This renders instead, as IPython does for local exceptions: the task's frames with the source
lines of the user's raising line (read here, where the function was defined: cells included),
then the caller's frames that led to ``rt.get``, each without this package's frames.

Imports nothing of the package.
"""

from __future__ import annotations

import linecache
import os
import sys
from types import TracebackType
from typing import Any

_OURS = os.path.dirname(os.path.abspath(__file__)) + os.sep
RED, GREEN, CYAN, BOLD, RESET = "\x1b[31m", "\x1b[32m", "\x1b[36m", "\x1b[1m", "\x1b[0m"
_SHELLS = ("IPython.", "ipykernel.")
CONTEXT = 2  # source lines shown before the line a frame was at


def frames(tb: TracebackType | None) -> list[tuple[str, int, str]]:
    """(file, line, function) of each frame, outermost first, without this package's, the
    IPython shell's, or those that ask to be hidden (``__tracebackhide__``, as in IPython)."""
    out: list[tuple[str, int, str]] = []
    while tb is not None:
        frame = tb.tb_frame
        code = frame.f_code
        module = str((getattr(frame, "f_globals", None) or {}).get("__name__", ""))
        hidden = (
            os.path.abspath(code.co_filename).startswith(_OURS)
            or module.startswith(_SHELLS)  # the shell that ran the cell
            or bool((getattr(frame, "f_locals", None) or {}).get("__tracebackhide__"))
        )
        if not hidden:
            out.append((code.co_filename, tb.tb_lineno, code.co_name))
        tb = tb.tb_next
    return out


def _where(filename: str, lineno: int, name: str) -> str:
    shell: Any = None
    ipython = sys.modules.get("IPython")
    if ipython is not None:
        shell = ipython.get_ipython()
    compiler = getattr(shell, "compile", None)
    label = None
    format_code_name = getattr(compiler, "format_code_name", None)
    if format_code_name is not None:
        label = format_code_name(filename)  # ("Cell", "In[3]") for a cell, else None
    place = f"{label[0]} {label[1]}" if label else f"File {filename}"
    where = f"{CYAN}{place}{RESET}, line {lineno}"
    return where if name == "<module>" else f"{where}, in {name}"


def _frame(filename: str, lineno: int, name: str) -> list[str]:
    lines = [_where(filename, lineno, name)]
    for n in range(max(1, lineno - CONTEXT), lineno + 1):
        text = linecache.getline(filename, n).rstrip()
        if not text and n != lineno:
            continue
        arrow = f"{GREEN}---> {n:<4}{RESET}" if n == lineno else f"     {n:<4}"
        lines.append(f"{arrow}{text}")
    lines.append("")
    return lines


def render(err: Any) -> list[str]:
    """The lines IPython prints for ``err``, a ``TaskError``."""
    cause: BaseException = err.cause
    kind = type(cause).__name__
    rule = "-" * 75
    out = [rule, f"{RED}{BOLD}{kind}{RESET}".ljust(45 + len(RED + BOLD + RESET))]
    out[-1] += f"Traceback of task {err.task_name} (most recent call last)"
    remote = frames(cause.__traceback__)
    if remote:
        for frame in remote:
            out += _frame(*frame)
    elif err.remote_traceback:
        out += [line for line in err.remote_traceback.rstrip().splitlines()[1:-1]] + [""]
    out.append(f"{RED}{BOLD}{kind}{RESET}: {cause}")
    local = frames(err.__traceback__)
    if local:
        out += ["", f"The task's exception was raised here by {CYAN}rt.get{RESET}:", ""]
        for frame in local:
            out += _frame(*frame)
        out.append(f"{RED}{BOLD}{type(err).__name__}{RESET}: task {err.task_name} failed")
    return out
