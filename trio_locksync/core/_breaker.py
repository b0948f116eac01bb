"""Circuit breakers, sans-I/O (times are floats from any clock).

* :class:`CircuitBreaker` guards one thing that can keep failing (a credential slot). CLOSED, it
  counts failures inside a sliding window: ``failures`` of them within ``window`` seconds trip it
  (lock_code_manager: 3 in 5 minutes) and it goes OPEN. OPEN, it names the time of the next try
  (``retry``; ``None`` keeps it open until :meth:`~CircuitBreaker.reset`, a latch). At that time
  one probe may go (HALF_OPEN): if it fails the breaker opens again with the *next* delay (the
  escalation is not reset); if the thing works again the caller resets it.
* :class:`ProbeBreaker` counts *consecutive* connectivity failures of something reachable or
  not (a lock, a broker): ``threshold`` of them trip it, and while tripped it hands out re-probe
  delays that grow from ``initial`` to ``maximum`` (a lock: 60 s → 1800 s). Any success resets it.
"""

from __future__ import annotations

import collections
import enum
import itertools
import math
from collections.abc import Iterator
from typing import final

from ._backoff import Backoff, Jitter
from ._errors import InvalidTransition
from ._state import StateTable

__all__ = ["PROBE_BACKOFF", "BreakerState", "CircuitBreaker", "ProbeBreaker"]


class BreakerState(enum.Enum):
    """Where a :class:`CircuitBreaker` stands."""

    #: counting failures; operations allowed
    CLOSED = "closed"
    #: tripped; no operation until :attr:`CircuitBreaker.retry_at`
    OPEN = "open"
    #: the retry time came: operations allowed, and the next failure opens it again
    HALF_OPEN = "half_open"


_BREAKER_TABLE = {
    BreakerState.CLOSED: frozenset({BreakerState.CLOSED, BreakerState.OPEN}),
    BreakerState.OPEN: frozenset({BreakerState.CLOSED, BreakerState.HALF_OPEN}),
    BreakerState.HALF_OPEN: frozenset({BreakerState.CLOSED, BreakerState.OPEN}),
}


@final
class CircuitBreaker:
    """A sliding-window failure counter that opens, and lets a probe through on a backoff."""

    __slots__ = ("_delays", "_failures", "_retry", "_retry_at", "_state", "_times", "_window")

    def __init__(
        self,
        *,
        failures: int = 3,
        window: float = 300.0,
        retry: Backoff | None = None,
    ) -> None:
        if failures < 1 or not window > 0:
            raise ValueError("failures must be >= 1 and window > 0")
        self._failures = failures
        self._window = window
        self._retry = retry
        self._times: collections.deque[float] = collections.deque()
        self._state = StateTable("circuit breaker", BreakerState.CLOSED, _BREAKER_TABLE)
        self._delays: Iterator[float] = self._fresh_delays()
        self._retry_at = math.inf

    @property
    def failures(self) -> int:
        """How many failures within :attr:`window` trip the breaker."""
        return self._failures

    @property
    def window(self) -> float:
        """The sliding window, in seconds, in which failures are counted."""
        return self._window

    @property
    def state(self) -> BreakerState:
        """CLOSED, OPEN or HALF_OPEN."""
        return self._state.current

    @property
    def retry_at(self) -> float:
        """When an OPEN breaker lets the next try go (``math.inf``: only a reset reopens it; also
        ``math.inf`` unless OPEN)."""
        return self._retry_at if self._state.current is BreakerState.OPEN else math.inf

    def count(self, now: float) -> int:
        """Failures inside the window ending at ``now``."""
        while self._times and self._times[0] <= now - self._window:
            self._times.popleft()
        return len(self._times)

    def allows(self, now: float) -> bool:
        """Whether an operation may go at ``now`` (CLOSED, HALF_OPEN, or OPEN and retry due)."""
        return self._state.current is not BreakerState.OPEN or now >= self._retry_at

    def record_failure(self, now: float) -> bool:
        """Count a failure at ``now``; True if the breaker is OPEN after it.

        CLOSED: it opens when ``failures`` fall inside the window. HALF_OPEN: a failed probe
        opens it again with the next, longer delay."""
        self._times.append(now)
        if self._state.current is BreakerState.HALF_OPEN or self.count(now) >= self._failures:
            self.trip(now)
        return self._state.current is BreakerState.OPEN

    def trip(self, now: float) -> None:
        """Open the breaker now, whatever the count (a failure no retry soon can fix)."""
        if self._state.current is BreakerState.OPEN:
            return
        self._state.advance(BreakerState.OPEN)
        self._retry_at = now + next(self._delays) if self._retry is not None else math.inf

    def probe(self, now: float) -> None:
        """An operation is going out at ``now``: an OPEN breaker whose retry is due goes
        HALF_OPEN. Raises InvalidTransition (changing nothing) if it is OPEN and not due."""
        if self._state.current is not BreakerState.OPEN:
            return
        if now < self._retry_at:
            raise InvalidTransition(
                "circuit breaker", BreakerState.OPEN, "a probe before its retry"
            )
        self._state.advance(BreakerState.HALF_OPEN)

    def reset(self) -> None:
        """It works again, or is asked for something else: CLOSED, no failures, first delay."""
        self._times.clear()
        if self._state.current is not BreakerState.CLOSED:
            self._state.advance(BreakerState.CLOSED)
            self._delays = self._fresh_delays()
            self._retry_at = math.inf

    def _fresh_delays(self) -> Iterator[float]:
        return self._retry.nominal() if self._retry is not None else iter(())

    def __repr__(self) -> str:
        return f"<CircuitBreaker {self._state.current.value} failures={len(self._times)}>"


#: the default re-probe delays of a tripped :class:`ProbeBreaker`: 60 s doubling to 30 min
PROBE_BACKOFF = Backoff(initial=60.0, maximum=1800.0, jitter=Jitter.NONE)


@final
class ProbeBreaker:
    """Consecutive connectivity failures, with a growing re-probe delay while tripped."""

    __slots__ = ("_backoff", "_consecutive", "_delays", "_threshold")

    def __init__(self, *, threshold: int = 3, backoff: Backoff = PROBE_BACKOFF) -> None:
        if threshold < 1:
            raise ValueError("threshold must be >= 1")
        if not isinstance(backoff, Backoff):
            raise TypeError(f"backoff must be a Backoff, not {type(backoff).__name__}")
        self._threshold = threshold
        self._backoff = backoff
        self._consecutive = 0
        self._delays = self._backoff.nominal()

    @property
    def consecutive(self) -> int:
        """Connectivity failures since the last success."""
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
        """How long to wait before the next probe: 0 while not tripped, else the next delay of
        ``backoff`` (by default 60, 120, … 1800 s)."""
        if not self.tripped:
            return 0.0
        return next(self._delays)

    def peek_delays(self, n: int) -> list[float]:
        """The next ``n`` probe delays without consuming them (for display and tests)."""
        self._delays, peek = itertools.tee(self._delays)
        return list(itertools.islice(peek, n))
