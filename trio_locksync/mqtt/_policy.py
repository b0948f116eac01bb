"""When and whether the bridge connects again: a sans-I/O reconnect policy.

Every attempt or connection ends in an :class:`Outcome`; :meth:`ReconnectPolicy.ended` turns it
into a :class:`Retry` (after a backoff delay) or a :class:`GiveUp`. The rules:

* The backoff is reset only after a connection stayed up ``stable_after`` seconds — never at
  CONNACK: a broker that accepts and then drops a client would otherwise be hit every second.
  Connections lost sooner are *flaps*; from ``flap_limit`` in a row on, the detail says so
  (another client using the same client id makes mosquitto drop us right after CONNACK without
  a reason code) and the delays keep growing.
* A broker that closes the connection before any CONNACK is retried like a network failure;
  from ``unanswered_limit`` such attempts in a row on, the detail adds ``unanswered_hint`` (the
  bridge's: an MQTT 5 CONNECT to a broker that speaks only 3.1.1 ends exactly so).
* A refusal retrying cannot fix (bad credentials, not authorised, an untrusted certificate) is
  retried once, then given up. So is a broker's explicit "session taken over" (0x8E).
* Anything else (refused connections, timeouts, lost links) is retried forever, with backoff.
"""

from __future__ import annotations

import enum
import math
import random
from collections.abc import Iterator
from typing import final

import attrs

from ..core import Backoff

__all__ = ["GiveUp", "Outcome", "ReconnectPolicy", "Retry"]


class Outcome(enum.Enum):
    """How an attempt or a connection ended."""

    #: could not connect: refused TCP, DNS, timeout, no CONNACK in time, TLS reset
    NETWORK = "network"
    #: the broker closed the connection after the CONNECT, before any CONNACK
    UNANSWERED = "unanswered"
    #: the broker refused the CONNECT for a reason a retry cannot fix (credentials, authorisation)
    REFUSED = "refused"
    #: the broker's TLS certificate is not trusted
    UNTRUSTED = "untrusted"
    #: the broker said another client took over this client id (MQTT 5 reason 0x8E)
    TAKEN_OVER = "taken_over"
    #: an established connection was lost
    LOST = "lost"


_FINAL_AFTER_ONE_RETRY = frozenset({Outcome.REFUSED, Outcome.UNTRUSTED, Outcome.TAKEN_OVER})


@final
@attrs.frozen
class Retry:
    """Connect again after ``delay`` seconds; ``detail`` says why (for the status change)."""

    delay: float
    detail: str


@final
@attrs.frozen
class GiveUp:
    """Do not connect again: ``reason`` (final)."""

    reason: str
    code: int | None = None


@final
class ReconnectPolicy:
    """One bridge's reconnect decisions. Times are trio clock readings."""

    __slots__ = (
        "_backoff",
        "_connected_at",
        "_delays",
        "_last",
        "_rng",
        "flap_limit",
        "flaps",
        "flaps_total",
        "stable_after",
        "unanswered",
        "unanswered_hint",
        "unanswered_limit",
    )

    def __init__(
        self,
        backoff: Backoff,
        *,
        stable_after: float,
        flap_limit: int = 3,
        unanswered_hint: str | None = None,
        unanswered_limit: int = 3,
        rng: random.Random | None = None,
    ) -> None:
        if not (stable_after >= 0 and math.isfinite(stable_after)):
            raise ValueError(f"stable_after must be >= 0 seconds, got {stable_after!r}")
        self._backoff = backoff
        self._rng = random.Random() if rng is None else rng
        self._delays: Iterator[float] = backoff.delays(self._rng)
        self.stable_after = stable_after
        self.flap_limit = flap_limit
        #: connections lost within ``stable_after`` of their CONNACK, in a row
        self.flaps = 0
        #: ... and in all
        self.flaps_total = 0
        self.unanswered_hint = unanswered_hint
        self.unanswered_limit = unanswered_limit
        #: attempts in a row the broker closed before any CONNACK
        self.unanswered = 0
        self._connected_at = math.nan  # NaN: no connection since the last ending
        self._last: Outcome | None = None

    def connected(self, now: float) -> None:
        """The broker accepted a connection (CONNACK) at ``now``."""
        self._connected_at = now
        self._last = None
        self.unanswered = 0

    def ended(
        self, now: float, outcome: Outcome, detail: str, code: int | None = None
    ) -> Retry | GiveUp:
        """The attempt or connection ended with ``outcome``; what to do next."""
        if outcome in _FINAL_AFTER_ONE_RETRY:
            if self._last is outcome:
                return GiveUp(detail, code)
            self._last = outcome
            return Retry(next(self._delays), f"{detail}; retrying once")
        self._last = outcome
        self.unanswered = self.unanswered + 1 if outcome is Outcome.UNANSWERED else 0
        if self.unanswered >= self.unanswered_limit and self.unanswered_hint is not None:
            detail = f"{detail} ({self.unanswered} times in a row): {self.unanswered_hint}"
        if outcome is Outcome.LOST:
            lived = now - self._connected_at
            self._connected_at = math.nan
            if lived >= self.stable_after:
                self.flaps = 0
                self._delays = self._backoff.delays(self._rng)  # it proved stable: start over
            else:
                self.flaps += 1
                self.flaps_total += 1
                if self.flaps >= self.flap_limit:
                    detail = (
                        f"{detail}; dropped {self.flaps} times in a row within "
                        f"{self.stable_after:g} s of connecting (another client with this client "
                        "id? a broker refusing this client after CONNACK?); backing off"
                    )
        return Retry(next(self._delays), detail)
