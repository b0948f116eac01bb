"""Whether a lock can be reached, and when to read all its slots: sans-I/O.

:class:`LockReach` holds the lock breaker (consecutive connectivity failures, 3 by default) and
the schedule of full reads: the first at once, then one per ``drift_interval`` while the lock
answers, a retry after ``retry_interval`` when a full read fails, and re-probes on a backoff
(``unreachable_retry``: 60 s doubling to 1800 s by default) while it is UNREACHABLE. Any answer
(an operation that returned, or a push) makes it REACHABLE again, with a full read due at once.
"""

from __future__ import annotations

import enum
import math
from typing import final

from ..core import ProbeBreaker, StateTable

__all__ = ["LockReach", "Reachability"]


class Reachability(enum.Enum):
    """Whether the lock answers."""

    REACHABLE = "reachable"
    UNREACHABLE = "unreachable"


_TABLE = {
    Reachability.REACHABLE: frozenset({Reachability.UNREACHABLE}),
    Reachability.UNREACHABLE: frozenset({Reachability.REACHABLE}),
}


@final
class LockReach:
    """One lock's reachability and full-read schedule."""

    __slots__ = ("_breaker", "_drift", "_full_read_at", "_retry", "_state")

    def __init__(
        self, *, retry_interval: float, drift_interval: float, breaker: ProbeBreaker | None = None
    ) -> None:
        self._retry = retry_interval
        self._drift = drift_interval
        self._breaker = ProbeBreaker() if breaker is None else breaker
        self._state = StateTable("lock", Reachability.REACHABLE, _TABLE)
        self._full_read_at = -math.inf  # the first read: at once

    @property
    def state(self) -> Reachability:
        """REACHABLE or UNREACHABLE."""
        return self._state.current

    @property
    def reachable(self) -> bool:
        """The lock is not known to be unreachable."""
        return self._state.current is Reachability.REACHABLE

    @property
    def breaker(self) -> ProbeBreaker:
        """The lock breaker (read it; this object drives it)."""
        return self._breaker

    @property
    def full_read_at(self) -> float:
        """When the next full read (drift re-read, retry or probe) is due."""
        return self._full_read_at

    def answered(self, now: float) -> bool:
        """The lock answered (an operation returned, a push came). True if that made it
        REACHABLE again: its slots must be re-read, and the full read is due at once."""
        self._breaker.record_success()
        if self._state.current is Reachability.REACHABLE:
            return False
        self._state.advance(Reachability.REACHABLE)
        self._full_read_at = now
        return True

    def full_read_done(self, now: float) -> None:
        """A full read succeeded: the next one is a drift re-read."""
        self._full_read_at = now + self._drift

    def full_read_refused(self, now: float) -> None:
        """The lock answered a full read with a failure (LockOperationFailed): it is reachable;
        read again after ``retry_interval``."""
        self._full_read_at = now + self._retry

    def failed(self, now: float, *, full_read: bool) -> bool:
        """A connectivity failure (of a full read when ``full_read``). True if it made the lock
        UNREACHABLE just now; while unreachable each failed probe schedules the next, later one."""
        tripped = self._breaker.record_failure()
        if tripped:
            became = self._state.current is Reachability.REACHABLE
            if became:
                self._state.advance(Reachability.UNREACHABLE)
            self._full_read_at = now + self._breaker.next_probe_delay()
            return became
        if full_read:
            self._full_read_at = now + self._retry  # not given up yet: try the full read soon
        return False

    def __repr__(self) -> str:
        return f"<LockReach {self._state.current.value} failures={self._breaker.consecutive}>"
