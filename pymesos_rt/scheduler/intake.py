"""What user threads hand the driver besides task specs (:meth:`~.driver.Driver.enqueue`):
cancellations, objects that exist now (``rt.put``), and objects a thread could not read.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

from pymesos_rt.protocol.objects import ObjectLocation


@dataclass(frozen=True)
class Cancel:
    task_id: str
    force: bool
    recursive: bool = False


@dataclass(frozen=True)
class Ready:
    """An object created outside the loop (``rt.put``) exists now."""

    object_id: str
    location: ObjectLocation | None = None


@dataclass(frozen=True)
class Lost:
    """A user thread could not read a stored object: rebuild it or fail it, then set ``done``."""

    object_id: str
    location: ObjectLocation
    reason: str
    done: threading.Event
