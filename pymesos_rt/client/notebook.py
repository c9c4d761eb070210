"""What makes the runtime at home in Jupyter: task output under the cell that submitted the task.

ipykernel decides which cell a write to ``sys.stdout`` belongs to from a context variable that
holds the running cell's message header. :func:`output_context` takes a copy of the submitting
code's context (cheap: contexts are immutable maps) when ``sys.stdout`` is ipykernel's, and the
driver writes that task's output inside it, so the output lands under the submitting cell even
when another cell runs by then. Elsewhere it returns None and output goes to ``sys.stdout``.
"""

from __future__ import annotations

import contextvars
import sys


def in_kernel() -> bool:
    """Whether ``sys.stdout`` is an IPython kernel's output stream."""
    return type(sys.stdout).__module__.startswith("ipykernel")


def output_context() -> contextvars.Context | None:
    return contextvars.copy_context() if in_kernel() else None
