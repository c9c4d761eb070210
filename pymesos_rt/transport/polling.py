"""How long a waiting thread polls before it sleeps.

On this project's VM a thread whose vCPU has halted takes 30-45 us to run again (the guest
halts at once: ``haltpoll.guest_halt_poll_ns=0``), as much as the rest of a small call's round
trip. A thread whose recent waits were short therefore polls for up to twice its average
recent wait before it blocks; one whose waits are ``POLL_MAX_S`` or longer never polls, so a
long wait costs no CPU (docs/performance.md, "Polling before sleeping"). Used by the driver's
loop run on a waiting thread (``client/loop.py``) and the executor's reader
(``transport/blocking.py``).
"""

from __future__ import annotations

POLL_MAX_S = 0.0005


class PollBudget:
    """A moving average of recent waits, and the polling it allows."""

    __slots__ = ("average",)

    def __init__(self) -> None:
        self.average = POLL_MAX_S  # no polling until short waits have been seen

    def observed(self, seconds: float) -> None:
        self.average = 0.8 * self.average + 0.2 * seconds

    def budget(self) -> float:
        """Seconds to poll before sleeping (0: sleep at once)."""
        if not 0.0 < self.average < POLL_MAX_S:
            return 0.0
        return min(POLL_MAX_S, 2 * self.average)
