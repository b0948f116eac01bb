"""Circuit breakers for credential sync, sans-I/O (times are floats from any clock).

* :class:`SlotBreaker` counts failures of one slot inside a sliding window: ``failures`` of them
  within ``window`` seconds trip it (lock_code_manager: 3 in 5 minutes). Old failures age out.
* :class:`LockBreaker` counts *consecutive* connectivity failures of a whole lock: ``threshold``
  of them trip it, and while tripped it hands out re-probe delays that grow from ``initial`` to
  ``maximum`` (60 s → 1800 s). Any success resets it.
"""

from __future__ import annotations

import collections
import itertools

from ..core import Backoff, Jitter

__all__ = ["LockBreaker", "SlotBreaker"]


class SlotBreaker:
    """A sliding-window failure counter for one slot."""

    __slots__ = ("_failures", "_times", "_window")

    def __init__(self, *, failures: int = 3, window: float = 300.0) -> None:
        if failures < 1 or not window > 0:
            raise ValueError("failures must be >= 1 and window > 0")
        self._failures = failures
        self._window = window
        self._times: collections.deque[float] = collections.deque()

    def _expire(self, now: float) -> None:
        while self._times and self._times[0] <= now - self._window:
            self._times.popleft()

    def record_failure(self, now: float) -> bool:
        """Count a failure at ``now``; True if the breaker is tripped after it."""
        self._times.append(now)
        return self.tripped(now)

    def count(self, now: float) -> int:
        """Failures inside the window ending at ``now``."""
        self._expire(now)
        return len(self._times)

    def tripped(self, now: float) -> bool:
        """Whether ``failures`` failures fall inside the window ending at ``now``."""
        return self.count(now) >= self._failures

    def reset(self) -> None:
        self._times.clear()


class LockBreaker:
    """Consecutive connectivity failures of one lock, with a growing re-probe delay."""

    __slots__ = ("_backoff", "_consecutive", "_delays", "_threshold")

    def __init__(
        self, *, threshold: int = 3, initial: float = 60.0, maximum: float = 1800.0
    ) -> None:
        if threshold < 1:
            raise ValueError("threshold must be >= 1")
        self._threshold = threshold
        self._backoff = Backoff(initial=initial, maximum=maximum, jitter=Jitter.NONE)
        self._consecutive = 0
        self._delays = self._backoff.nominal()

    @property
    def consecutive(self) -> int:
        return self._consecutive

    @property
    def tripped(self) -> bool:
        """``threshold`` consecutive failures without a success in between."""
        return self._consecutive >= self._threshold

    def record_failure(self) -> bool:
        """Count a connectivity failure; True if tripped after it."""
        self._consecutive += 1
        return self.tripped

    def record_success(self) -> None:
        """Any successful operation or push: reset the count and the probe delays."""
        self._consecutive = 0
        self._delays = self._backoff.nominal()

    def next_probe_delay(self) -> float:
        """How long to wait before the next probe: 0 while not tripped, else 60, 120, … 1800."""
        if not self.tripped:
            return 0.0
        return next(self._delays)

    def peek_delays(self, n: int) -> list[float]:
        """The next ``n`` probe delays without consuming them (for display and tests)."""
        self._delays, peek = itertools.tee(self._delays)
        return list(itertools.islice(peek, n))
