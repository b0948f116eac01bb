"""The one reconnecting-client policy: when and whether a client connects again.

Sans-I/O: no clock, no tasks, no logging. A client (the event stream, the MQTT bridge, the
Z-Wave JS client) classifies how each attempt ended onto one vocabulary, :class:`AttemptOutcome`,
tells the policy when the server answered and when the connection went live, and carries out
the :class:`Decision` it gets back. What is truly the client's stays with it: which of its
failures is which outcome, and the error it raises when the policy gives up.

The rules:

* The backoff delays start over only after a connection stayed live ``stable_after`` seconds —
  never at the handshake: a server that accepts and then drops a client (or replays, goes quiet
  and drops) would otherwise be hit every second. Connections lost sooner are *flaps*; from
  ``flap_limit`` in a row on, the detail says so (with the client's ``flap_hint``).
* A server that closes the connection before any answer is retried like a network failure;
  from ``unanswered_limit`` such attempts in a row on, the detail adds the client's
  ``unanswered_hint``.
* A refusal one more try may fix (:attr:`AttemptOutcome.DENIED`: credentials that may be stale,
  a session taken over) is retried once — after the next delay, at once, or with fresh
  credentials, as the client's :class:`RefusalRetry` says — and a second one in a row is final.
  The streak ends when a server answers, when fresh credentials could not be had, and — for a
  client that retries after a delay — when any other ending comes in between.
* A refusal a retry cannot fix (:attr:`AttemptOutcome.REFUSED`) is final at once; anything else
  retries forever, after the next backoff delay.
"""

from __future__ import annotations

import enum
import math
import random
from collections.abc import Iterator
from typing import final

import attrs

from ._backoff import RECONNECT_BACKOFF, Backoff

__all__ = [
    "AttemptOutcome",
    "Decision",
    "ReconnectAction",
    "ReconnectOptions",
    "ReconnectPolicy",
    "RefusalRetry",
    "check_finite_not_negative",
    "check_positive",
]


def check_positive(instance: object, attribute: attrs.Attribute[float], value: float) -> None:
    """An attrs validator: a positive, finite number of seconds."""
    if not (value > 0 and math.isfinite(value)):
        raise ValueError(f"{attribute.name} must be a positive number of seconds, got {value!r}")


def check_finite_not_negative(
    instance: object, attribute: attrs.Attribute[float], value: float
) -> None:
    """An attrs validator: a finite number of seconds, 0 or more."""
    if not (value >= 0 and math.isfinite(value)):
        raise ValueError(f"{attribute.name} must be a finite number >= 0, got {value!r}")


def _backoff(value: Backoff | None) -> Backoff:
    return RECONNECT_BACKOFF if value is None else value


@final
@attrs.frozen(kw_only=True)
class ReconnectOptions:
    """How a reconnecting client waits and judges, the same for every client; every value is
    checked when the record is made (``ValueError``).

    * ``backoff``: the delays between attempts (None: ``RECONNECT_BACKOFF``, the storm
      benchmark's choice: the first 1 to 3 s, each next one 1.35 to 1.65 times the last, at
      most 60 s).
    * ``stable_after``: seconds a connection must stay live before the delays start over (10,
      the storm benchmark's choice; 0: as soon as it is live).
    * ``connect_timeout``: seconds to open the socket (TCP; with MQTT, paho's ``connect()``
      with TLS) (10).
    * ``handshake_timeout``: seconds the server may take to answer once the socket is open:
      the websocket handshake's 101 (TLS first, for ``wss``), the MQTT CONNACK (paho's
      ``connect()`` does TLS, under ``connect_timeout``), the Z-Wave JS server's ``version``
      and ``initialize`` (30). Longer than ``connect_timeout``: a server that accepted the
      socket is there, and in a reconnect storm it answers in turn; cutting it off at 10 s
      only sends that client to the back of the queue (the storm benchmark: docs,
      "Reconnect storms").
    """

    backoff: Backoff = attrs.field(default=None, converter=_backoff)
    stable_after: float = attrs.field(default=10.0, validator=check_finite_not_negative)
    connect_timeout: float = attrs.field(default=10.0, validator=check_positive)
    handshake_timeout: float = attrs.field(default=30.0, validator=check_positive)


class AttemptOutcome(enum.Enum):
    """How an attempt or a connection ended, in the words every client maps its failures onto."""

    #: could not connect, or the handshake failed (refused, reset, DNS, timed out, a 5xx)
    FAILED = "failed"
    #: the server closed the connection after the request, before any answer
    UNANSWERED = "unanswered"
    #: a connection the server had answered was lost (or ended by the server)
    LOST = "lost"
    #: refused in a way one more try may fix: credentials that may be stale, a session taken over
    DENIED = "denied"
    #: refused in a way no retry can fix: another 4xx, an untrusted certificate
    REFUSED = "refused"
    #: the client is being closed
    STOPPED = "stopped"


class RefusalRetry(enum.Enum):
    """How a client makes its one retry after a :attr:`AttemptOutcome.DENIED`, and what ends a
    streak of denials."""

    #: after the next backoff delay; any other ending in between ends the streak (the MQTT
    #: bridge: a broker that was down meanwhile may come back with other credentials loaded)
    AFTER_DELAY = "after delay"
    #: at once, with the same credentials; only an answered attempt ends the streak (the event
    #: stream without ``reauthenticate``: a second 401 after a network blip is the same 401)
    AT_ONCE = "at once"
    #: at once, with fresh credentials; as ``AT_ONCE``, and a failed reauthentication also
    #: ends the streak (the event stream with ``reauthenticate``)
    REAUTHENTICATE = "reauthenticate"


#: the endings of a connection that may have been live: they reset the delays or count a flap
_ENDS_A_CONNECTION = frozenset({AttemptOutcome.LOST, AttemptOutcome.STOPPED})


class ReconnectAction(enum.Enum):
    """What the client does next."""

    #: wait :attr:`Decision.delay` seconds, then try again
    RETRY_AFTER_DELAY = "retry after delay"
    #: try again at once with the same credentials (the one retry after a denial)
    RETRY_AT_ONCE = "retry at once"
    #: get fresh credentials, then try again at once (the one retry after a denial); if that
    #: fails, ask :meth:`ReconnectPolicy.reauthentication_failed`
    REAUTHENTICATE = "reauthenticate"
    #: stop reconnecting for good; :attr:`Decision.detail` says why
    GIVE_UP = "give up"
    #: no further attempt: the client is being closed
    LEAVE = "leave"


@final
@attrs.frozen(kw_only=True)
class Decision:
    """The policy's answer to one attempt's end."""

    action: ReconnectAction
    #: why, in words fit for a log and a status change (never a credential)
    detail: str
    #: seconds to wait, for ``RETRY_AFTER_DELAY``
    delay: float = 0.0
    #: the connection stayed live ``stable_after`` seconds: the delays started over
    backoff_reset: bool = False


@final
class ReconnectPolicy:
    """One client's reconnect decisions. Times are the client's clock readings (trio time).

    Tell it :meth:`answered` when the server answered an attempt (CONNACK, a completed
    websocket handshake), :meth:`live` when the connection is live (at once for MQTT, after the
    replay for a stream), and :meth:`ended` when an attempt or connection ended.
    """

    __slots__ = (
        "_backoff",
        "_delays",
        "_denied",
        "_live_since",
        "_rng",
        "flap_hint",
        "flap_limit",
        "flaps",
        "flaps_total",
        "refusal_retry",
        "stable_after",
        "unanswered",
        "unanswered_hint",
        "unanswered_limit",
    )

    def __init__(
        self,
        options: ReconnectOptions,
        *,
        refusal_retry: RefusalRetry = RefusalRetry.AFTER_DELAY,
        flap_limit: int = 3,
        flap_hint: str | None = None,
        unanswered_limit: int = 3,
        unanswered_hint: str | None = None,
        rng: random.Random | None = None,
    ) -> None:
        self._backoff = options.backoff
        self._rng = random.Random() if rng is None else rng
        self._delays: Iterator[float] = self._backoff.delays(self._rng)
        #: seconds a connection must stay live before the delays start over
        self.stable_after: float = options.stable_after
        self.refusal_retry: RefusalRetry = refusal_retry
        self.flap_limit: int = flap_limit
        self.flap_hint: str | None = flap_hint
        #: connections lost within ``stable_after`` of going live, in a row
        self.flaps: int = 0
        #: ... and in all
        self.flaps_total: int = 0
        self.unanswered_limit: int = unanswered_limit
        self.unanswered_hint: str | None = unanswered_hint
        #: attempts in a row the server closed before any answer
        self.unanswered: int = 0
        self._live_since = math.nan  # NaN: not live since the last ending
        self._denied = False  # the one retry after a denial was made, no answer since

    def answered(self) -> None:
        """The server answered an attempt (accepted it): a denial streak and an unanswered
        streak end."""
        self._denied = False
        self.unanswered = 0

    def live(self, now: float) -> None:
        """The connection went live at ``now``: ``stable_after`` counts from here."""
        self._live_since = now

    def ended(self, now: float, outcome: AttemptOutcome, detail: str) -> Decision:
        """The attempt or connection ended with ``outcome`` (``detail`` says how); what next."""
        lived = now - self._live_since  # NaN if it never went live
        self._live_since = math.nan
        # Only a live connection that was lost (or is being left) proved itself or flapped: a
        # refusal after it (MQTT's "session taken over") neither resets the delays nor counts.
        reset = outcome in _ENDS_A_CONNECTION and lived >= self.stable_after
        if reset:
            self.flaps = 0
            self._delays = self._backoff.delays(self._rng)  # it proved stable: start over
        elif outcome is AttemptOutcome.LOST and lived >= 0:
            self.flaps += 1
            self.flaps_total += 1
            if self.flaps >= self.flap_limit and self.flap_hint is not None:
                detail = (
                    f"{detail}; dropped {self.flaps} times in a row within "
                    f"{self.stable_after:g} s of connecting ({self.flap_hint}); backing off"
                )
        if outcome is not AttemptOutcome.DENIED and self.refusal_retry is RefusalRetry.AFTER_DELAY:
            self._denied = False  # after a delay: any other ending ends a streak of denials
        if outcome is AttemptOutcome.STOPPED:
            return Decision(action=ReconnectAction.LEAVE, detail=detail, backoff_reset=reset)
        if outcome is AttemptOutcome.REFUSED:
            return Decision(action=ReconnectAction.GIVE_UP, detail=detail)
        if outcome is AttemptOutcome.DENIED:
            if self._denied:
                return Decision(action=ReconnectAction.GIVE_UP, detail=detail)
            self._denied = True
            if self.refusal_retry is RefusalRetry.AT_ONCE:
                return Decision(
                    action=ReconnectAction.RETRY_AT_ONCE, detail=detail, backoff_reset=reset
                )
            if self.refusal_retry is RefusalRetry.REAUTHENTICATE:
                return Decision(
                    action=ReconnectAction.REAUTHENTICATE, detail=detail, backoff_reset=reset
                )
            return Decision(
                action=ReconnectAction.RETRY_AFTER_DELAY,
                detail=f"{detail}; retrying once",
                delay=next(self._delays),
            )
        self.unanswered = self.unanswered + 1 if outcome is AttemptOutcome.UNANSWERED else 0
        if self.unanswered >= self.unanswered_limit and self.unanswered_hint is not None:
            detail = f"{detail} ({self.unanswered} times in a row): {self.unanswered_hint}"
        return Decision(
            action=ReconnectAction.RETRY_AFTER_DELAY,
            detail=detail,
            delay=next(self._delays),
            backoff_reset=reset,
        )

    def reauthentication_failed(self) -> Decision:
        """Fresh credentials could not be had (maybe a blip at the token endpoint): wait the
        next backoff delay; the next denial gets its one retry again."""
        self._denied = False
        return Decision(
            action=ReconnectAction.RETRY_AFTER_DELAY,
            detail="reauthentication failed",
            delay=next(self._delays),
        )
