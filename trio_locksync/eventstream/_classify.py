"""How an attempt of the stream ended: what it raised, in the core's outcome words.

Sans-I/O: :func:`classify_failure` turns what an attempt raised into an :class:`AttemptEnded` —
a :class:`~trio_locksync.core.AttemptOutcome` for the core's
:class:`~trio_locksync.core.ReconnectPolicy`, and what the stream itself needs: the HTTP status
and the exception behind a refusal (for :class:`EventStreamRejected`), and where an unexpected
error was raised (to be logged). The policy decides; this only classifies.
"""

from __future__ import annotations

import ssl

import attrs
import trio
import trio_websocket

from ..core import (
    AttemptOutcome,
    AttemptTimedOut,
    HandshakeUnanswered,
    leaf_exceptions,
    raised_at,
)

__all__ = ["AttemptEnded", "classify_failure"]

#: Handshake answers worth retrying with backoff; any other 4xx is final.
_RETRYABLE_4XX = frozenset({408, 425, 429})
_AUTH_CODES = frozenset({401, 403})


@attrs.frozen(kw_only=True)
class AttemptEnded:
    """One attempt's end: its outcome and what the loop needs to act on it."""

    outcome: AttemptOutcome
    #: why, in words fit for a log and a :class:`StatusChange` (never a credential)
    detail: str
    #: the HTTP status of a refused handshake
    status_code: int | None = None
    #: the exception behind a refusal, chained to the :class:`EventStreamRejected`
    cause: BaseException | None = None
    #: an exception nobody expected (a bug somewhere): its type and ``file:line``, to be logged
    unexpected: str | None = None


def classify_failure(exc: BaseException) -> AttemptEnded:
    """How an attempt that raised ``exc`` ended (a group is judged by its most telling leaf:
    a refused handshake if there is one, else the first)."""
    if isinstance(exc, BaseExceptionGroup):
        # Two tasks failed at once (say the handshake saw the socket end while trio-websocket's
        # reader raised the refusal).
        errors = list(leaf_exceptions(exc))
        rejected = [e for e in errors if isinstance(e, trio_websocket.ConnectionRejected)]
        exc = (rejected or errors)[0]
    transient = AttemptOutcome.FAILED
    if isinstance(exc, AttemptTimedOut):
        return AttemptEnded(outcome=transient, detail=str(exc))
    if isinstance(exc, HandshakeUnanswered):
        return AttemptEnded(outcome=transient, detail="connection closed during the handshake")
    if isinstance(exc, trio_websocket.ConnectionRejected):
        return _classify_refusal(exc)
    certificate = exc if isinstance(exc, ssl.SSLError) else exc.__cause__
    if isinstance(certificate, ssl.SSLCertVerificationError):
        return AttemptEnded(
            outcome=AttemptOutcome.REFUSED,
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
        outcome = AttemptOutcome.DENIED
    elif 400 <= code < 500 and code not in _RETRYABLE_4XX:
        outcome = AttemptOutcome.REFUSED
    else:
        # 5xx, 408/425/429, and 2xx/3xx from a proxy or a restarting controller's web page
        return AttemptEnded(outcome=AttemptOutcome.FAILED, detail=detail, status_code=code)
    return AttemptEnded(outcome=outcome, detail=detail, status_code=code, cause=exc)
