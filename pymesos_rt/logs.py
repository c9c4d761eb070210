"""Logging set-up: ``key=value`` lines (logfmt), quiet by default (WARNING), level from
``PYMESOS_RT_LOG_LEVEL``. Library code only calls ``logging.getLogger(__name__)``; this module
is used by entry points (daemons, executors) and by ``init`` when the program configured none.
"""

from __future__ import annotations

import logging
import os
import sys
import time

ENV_LEVEL = "PYMESOS_RT_LOG_LEVEL"
# the few lines a user should see by default (the dashboard's address after ``rt.init``)
announce = logging.getLogger("pymesos_rt.announce")


class LogfmtFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
        msg = record.getMessage().replace('"', "'")
        line = (
            f"ts={stamp}.{int(record.msecs):03d}Z level={record.levelname.lower()} "
            f'logger={record.name} pid={record.process} msg="{msg}"'
        )
        if record.exc_info:
            line += "\n" + self.formatException(record.exc_info)
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
