"""Progress displays for ``rt.get``/``rt.wait``/``rt.progress`` over many refs.

With ``tqdm`` installed (``pip install 'pymesos_rt[notebook]'``), :func:`bar` is a
``tqdm.auto`` bar: a widget in Jupyter (``tqdm.notebook``, which needs ``ipywidgets``) and a text
bar in terminals. Without it, a plain text line on stderr that rewrites itself. A display is
created, updated and closed on the calling thread only.
"""

from __future__ import annotations

import sys
import time
from typing import Any, Protocol


class Bar(Protocol):
    def update_to(self, done: int) -> None: ...

    def close(self) -> None: ...


class _TqdmBar:
    def __init__(self, total: int, desc: str) -> None:
        from tqdm.auto import tqdm

        self._bar: Any = tqdm(total=total, desc=desc, unit="task", dynamic_ncols=True)
        self._done = 0

    def update_to(self, done: int) -> None:
        if done > self._done:
            self._bar.update(done - self._done)
            self._done = done

    def close(self) -> None:
        self._bar.close()


class _TextBar:
    """The fallback: ``desc: 12/200 done`` on stderr, at most five times a second."""

    def __init__(self, total: int, desc: str) -> None:
        self.total, self.desc = total, desc
        self._done = -1
        self._shown_at = 0.0

    def update_to(self, done: int) -> None:
        now = time.monotonic()
        if done != self._done and (done == self.total or now - self._shown_at >= 0.2):
            self._done, self._shown_at = done, now
            sys.stderr.write(f"\r{self.desc}: {done}/{self.total} done")
            sys.stderr.flush()

    def close(self) -> None:
        if self._done >= 0:
            sys.stderr.write("\n")
            sys.stderr.flush()


def bar(total: int, desc: str) -> Bar:
    try:
        return _TqdmBar(total, desc)
    except ImportError:
        return _TextBar(total, desc)
