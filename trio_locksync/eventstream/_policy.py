"""What follows a connection attempt: the outcome classifier and the reconnect policy.

Sans-I/O: :func:`classify_failure` turns what an attempt raised into an :class:`AttemptEnded`,
and :class:`ReconnectPolicy` turns each :class:`AttemptEnded` into a :class:`ReconnectDecision`:
retry after a backoff delay, retry at once (with fresh credentials if it can get them), or stop
reconnecting with the error to report. No clock, no tasks, no logging: the stream's loop carries
the decisions out.
"""

from __future__ import annotations

import enum
import math
import ssl
from collections.abc import Iterator

import attrs
import trio
import trio_websocket

from ..core import Backoff
from ._errors import EventStreamRejected
from ._transport import ClosedDuringHandshake, leaf_exceptions, raised_at

__all__ = [
    "AttemptEnded",
    "AttemptOutcome",
    "ReconnectAction",
    "ReconnectDecision",
    "ReconnectPolicy",
    "classify_failure",
]

#: Handshake answers worth retrying with backoff; any other 4xx is final.
_RETRYABLE_4XX = frozenset({408, 425, 429})
_AUTH_CODES = frozenset({401, 403})


class AttemptOutcome(enum.Enum):
    """How one connection attempt ended, as far as reconnecting is concerned."""

    #: worth another attempt after a backoff delay (refused, reset, timed out, 5xx, or an open
    #: connection that was lost)
    TRANSIENT = "transient"
    #: the handshake was refused with 401 or 403: the credentials may be stale
    AUTH_REFUSED = "auth refused"
    #: another attempt cannot help (another 4xx, a TLS certificate the client does not trust)
    REFUSED_FOR_GOOD = "refused for good"
    #: the block is being left
    STOPPED = "stopped"


@attrs.frozen(kw_only=True)
class AttemptEnded:
    """One attempt's end: its outcome and what the loop needs to act on it."""

    outcome: AttemptOutcome
    #: why, in words fit for a log and a :class:`StatusChange` (never a credential)
    detail: str
    #: the websocket handshake completed (a socket was served)
    opened: bool = False
    #: the connection got through SYNCING to CONNECTED
    went_live: bool = False
    #: seconds the connection stayed CONNECTED before it was lost (0 if it never went live)
    live_for: float = 0.0
    #: the HTTP status of a refused handshake
    status_code: int | None = None
    #: the exception behind a refusal, chained to the :class:`EventStreamRejected`
    cause: BaseException | None = None
    #: an exception nobody expected (a bug somewhere): its type and ``file:line``, to be logged
    unexpected: str | None = None


def classify_failure(exc: BaseException, *, connect_timeout: float) -> AttemptEnded:
    """How an attempt that raised ``exc`` ended (a group is judged by its most telling leaf:
    a refused handshake if there is one, else the first)."""
    if isinstance(exc, BaseExceptionGroup):
        # Two tasks failed at once (say the handshake saw the socket end while trio-websocket's
        # reader raised the refusal).
        errors = list(leaf_exceptions(exc))
        rejected = [e for e in errors if isinstance(e, trio_websocket.ConnectionRejected)]
        exc = (rejected or errors)[0]
    transient = AttemptOutcome.TRANSIENT
    if isinstance(exc, trio.TooSlowError):
        return AttemptEnded(outcome=transient, detail=f"no handshake within {connect_timeout:g} s")
    if isinstance(exc, ClosedDuringHandshake):
        return AttemptEnded(outcome=transient, detail="connection closed during the handshake")
    if isinstance(exc, trio_websocket.ConnectionRejected):
        return _classify_refusal(exc)
    certificate = exc if isinstance(exc, ssl.SSLError) else exc.__cause__
    if isinstance(certificate, ssl.SSLCertVerificationError):
        return AttemptEnded(
            outcome=AttemptOutcome.REFUSED_FOR_GOOD,
            detail="TLS certificate not accepted",
            cause=certificate,
        )
    if isinstance(exc, OSError):
        reason = exc.strerror or type(exc).__name__
        return AttemptEnded(outcome=transient, detail=f"cannot connect: {reason}")
    if isinstance(
        exc,
        trio_websocket.HandshakeError
        | trio_websocket.ConnectionClosed
        | trio.BrokenResourceError
        | trio.ClosedResourceError,
    ):
        return AttemptEnded(outcome=transient, detail=f"handshake failed: {type(exc).__name__}")
    # A bug somewhere (ours, a transport's, a decoder's): keep going, but say where. Not the
    # message: it can quote a header (h11 does) and so a credential.
    return AttemptEnded(
        outcome=transient,
        detail=f"unexpected error: {type(exc).__name__}",
        unexpected=f"{type(exc).__name__} at {raised_at(exc)}",
    )


def _classify_refusal(exc: trio_websocket.ConnectionRejected) -> AttemptEnded:
    code = exc.status_code
    detail = f"handshake refused with HTTP {code}"
    if code in _AUTH_CODES:
        outcome = AttemptOutcome.AUTH_REFUSED
    elif 400 <= code < 500 and code not in _RETRYABLE_4XX:
        outcome = AttemptOutcome.REFUSED_FOR_GOOD
    else:
        # 5xx, 408/425/429, and 2xx/3xx from a proxy or a restarting controller's web page
        return AttemptEnded(outcome=AttemptOutcome.TRANSIENT, detail=detail, status_code=code)
    return AttemptEnded(outcome=outcome, detail=detail, status_code=code, cause=exc)


class ReconnectAction(enum.Enum):
    """What the stream does after an attempt."""

    #: no further attempt: the block is being left
    LEAVE = "leave"
    #: wait :attr:`ReconnectDecision.delay` seconds, then try again
    RETRY_AFTER_DELAY = "retry after delay"
    #: try again at once with the same headers (the one retry after a 401/403)
    RETRY_AT_ONCE = "retry at once"
    #: ask ``reauthenticate()`` for fresh headers, then try again at once (the one retry after
    #: a 401/403); if that fails, ask :meth:`ReconnectPolicy.after_failed_reauthentication`
    REAUTHENTICATE = "reauthenticate"
    #: stop reconnecting for good: ``RECONNECT_FAILED``, and :attr:`ReconnectDecision.error`
    #: is what the stream raises from then on
    FAIL = "fail"


@attrs.frozen(kw_only=True)
class ReconnectDecision:
    """The policy's answer to one attempt's end."""

    action: ReconnectAction
    #: why, in words fit for a log and a :class:`StatusChange`
    detail: str
    #: seconds to wait, for ``RETRY_AFTER_DELAY``
    delay: float = 0.0
    #: what the stream raises from now on, for ``FAIL``
    error: EventStreamRejected | None = None
    #: the attempt stayed live ``stable_after`` seconds, so the backoff delays started again
    #: from the first
    backoff_reset: bool = False


class ReconnectPolicy:
    """Decides what follows each attempt of one stream.

    * Backoff delays reset only after a connection stayed live (``CONNECTED``) for
      ``stable_after`` seconds (0: as soon as it went live), the MQTT bridge's rule: a server
      that accepts and drops before its replay went quiet, or replays, goes quiet and drops
      soon after, must not get a tight loop.
    * A 401/403 gets one retry at once (with fresh headers if ``can_reauthenticate``); a second
      one in a row is final. An attempt that opened a socket, or a reauthentication that failed
      (and was waited out with a backoff delay), starts a new streak.
    * Any other 4xx and an untrusted certificate are final at once; everything else retries
      after the next backoff delay.
    """

    __slots__ = (
        "_auth_retried",
        "_backoff",
        "_can_reauthenticate",
        "_delays",
        "_url",
        "stable_after",
    )

    def __init__(
        self,
        backoff: Backoff,
        *,
        url: str,
        can_reauthenticate: bool,
        stable_after: float = 0.0,
    ) -> None:
        if not (stable_after >= 0 and math.isfinite(stable_after)):
            raise ValueError(f"stable_after must be >= 0 seconds, got {stable_after!r}")
        self._backoff = backoff
        #: seconds a connection must stay live before the backoff delays start over
        self.stable_after = stable_after
        self._url = url
        self._can_reauthenticate = can_reauthenticate
        self._delays: Iterator[float] = backoff.delays()
        self._auth_retried = False

    def after_attempt(self, ended: AttemptEnded) -> ReconnectDecision:
        """What to do now that an attempt ended as ``ended``."""
        if ended.opened:
            self._auth_retried = False
        reset = ended.went_live and ended.live_for >= self.stable_after
        if reset:
            self._delays = self._backoff.delays()
        if ended.outcome is AttemptOutcome.STOPPED:
            return ReconnectDecision(
                action=ReconnectAction.LEAVE, detail=ended.detail, backoff_reset=reset
            )
        if ended.outcome is AttemptOutcome.AUTH_REFUSED and not self._auth_retried:
            self._auth_retried = True
            action = (
                ReconnectAction.REAUTHENTICATE
                if self._can_reauthenticate
                else ReconnectAction.RETRY_AT_ONCE
            )
            return ReconnectDecision(action=action, detail=ended.detail, backoff_reset=reset)
        if ended.outcome in (AttemptOutcome.AUTH_REFUSED, AttemptOutcome.REFUSED_FOR_GOOD):
            error = EventStreamRejected(self._url, ended.detail, status_code=ended.status_code)
            error.__cause__ = ended.cause
            return ReconnectDecision(action=ReconnectAction.FAIL, detail=ended.detail, error=error)
        return ReconnectDecision(
            action=ReconnectAction.RETRY_AFTER_DELAY,
            detail=ended.detail,
            delay=next(self._delays),
            backoff_reset=reset,
        )

    def after_failed_reauthentication(self) -> ReconnectDecision:
        """``reauthenticate()`` failed (maybe a blip at the token endpoint): wait the next
        backoff delay; the next refusal gets a fresh retry again."""
        self._auth_retried = False
        return ReconnectDecision(
            action=ReconnectAction.RETRY_AFTER_DELAY,
            detail="reauthentication failed",
            delay=next(self._delays),
        )
