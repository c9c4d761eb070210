"""Logging set-up: ``key=value`` lines (logfmt), quiet by default (WARNING), level from
``PYMESOS_RT_LOG_LEVEL``. Library code only calls ``logging.getLogger(__name__)``; this module
is used by entry points (daemons, executors) and by ``init`` when the program configured none.
"""

from __future__ import annotations

import logging
import os
import re
import sys
import time

ENV_LEVEL = "PYMESOS_RT_LOG_LEVEL"
# the few lines a user should see by default (the dashboard's address after ``rt.init``)
announce = logging.getLogger("pymesos_rt.announce")


_ESCAPES = {"\\": "\\\\", '"': '\\"', "\n": "\\n", "\r": "\\r", "\t": "\\t"}


def _escape_char(ch: str) -> str:
    return _ESCAPES.get(ch) or f"\\u{ord(ch):04x}"


_UNSAFE = re.compile(r'[\\"\x00-\x1f\x7f-\x9f]')
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
_CONTROL_BUT_NEWLINE = re.compile(r"[\x00-\x09\x0b-\x1f\x7f-\x9f]")


def logfmt_value(text: str) -> str:
    """``text`` as one logfmt value: quoted, with backslashes, quotes, newlines and every other
    control character escaped (``\\n``, ``\\"``, ``\\u001b``), so a record stays one line."""
    return '"' + _UNSAFE.sub(lambda m: _escape_char(m.group()), text) + '"'


def printable(text: str, keep_newlines: bool = False) -> str:
    """``text`` with control characters (terminal escape sequences, newlines unless
    ``keep_newlines``) shown as ``\\x1b``-style escapes: for what users chose (names, task
    output), in output meant for an operator's terminal."""
    pattern = _CONTROL_BUT_NEWLINE if keep_newlines else _CONTROL
    return pattern.sub(lambda m: f"\\x{ord(m.group()):02x}", text)


class LogfmtFormatter(logging.Formatter):
    """One record per line: ``ts=... level=... logger=... pid=... msg="..."`` and, with an
    exception, ``exc="..."``; values are escaped (:func:`logfmt_value`)."""

    def format(self, record: logging.LogRecord) -> str:
        stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
        line = (
            f"ts={stamp}.{int(record.msecs):03d}Z level={record.levelname.lower()} "
            f"logger={record.name} pid={record.process} msg={logfmt_value(record.getMessage())}"
        )
        if record.exc_info:
            line += f" exc={logfmt_value(self.formatException(record.exc_info))}"
        if record.stack_info:
            line += f" stack={logfmt_value(self.formatStack(record.stack_info))}"
        return line


def configure(level: str | None = None, stream: object = None) -> None:
    """Send ``pymesos_rt`` logs to stderr as logfmt at ``level`` (default: env or WARNING)."""
    logger = logging.getLogger("pymesos_rt")
    if any(getattr(h, "_pymesos_rt", False) for h in logger.handlers):
        return
    handler = logging.StreamHandler(stream or sys.stderr)  # type: ignore[arg-type]
    handler.setFormatter(LogfmtFormatter())
    handler._pymesos_rt = True  # type: ignore[attr-defined]
    logger.addHandler(handler)
    chosen = level or os.environ.get(ENV_LEVEL)
    logger.setLevel((chosen or "WARNING").upper())
    logger.propagate = False
    if chosen is None:  # quiet by default, but for the announcements
        announce.setLevel(logging.INFO)


def configure_if_unset() -> None:
    """For ``init``: log our warnings and errors unless the program set up logging itself."""
    if logging.getLogger().handlers or logging.getLogger("pymesos_rt").handlers:
        return
    configure()
