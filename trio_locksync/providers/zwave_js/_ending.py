"""How one attempt of the Z-Wave JS client ended, from the exception that ended it, in the core's
outcome words (the event stream has the same triage in ``eventstream/_classify.py``)."""

from __future__ import annotations

import ssl

import trio
import trio_websocket

from ...core import AttemptOutcome, AttemptTimedOut, HandshakeUnanswered
from ._connection import HandshakeRefused
from ._protocol import FrameError

__all__ = ["attempt_ending"]


def attempt_ending(exc: Exception) -> tuple[AttemptOutcome, str] | None:
    """The outcome and detail of an attempt ``exc`` ended; None for an exception nobody
    expected (the caller lets it out: a bug, not the network)."""
    if isinstance(exc, HandshakeRefused):
        return AttemptOutcome.REFUSED, str(exc)
    if isinstance(exc, AttemptTimedOut):
        return AttemptOutcome.FAILED, str(exc)
    if isinstance(exc, HandshakeUnanswered):
        return AttemptOutcome.FAILED, "connection closed during the handshake"
    if isinstance(exc, ssl.SSLError | trio.BrokenResourceError):
        # trio raises a failed TLS handshake as BrokenResourceError, the SSL error its cause
        cause = exc if isinstance(exc, ssl.SSLError) else exc.__cause__
        if isinstance(cause, ssl.SSLCertVerificationError):
            # retrying cannot make the certificate trusted: final, as the event stream's
            why = cause.verify_message or "not trusted"
            return AttemptOutcome.REFUSED, f"TLS certificate not accepted ({why})"
        if isinstance(cause, ssl.SSLError):  # say a plain ws server behind a wss URL
            return AttemptOutcome.FAILED, f"TLS failed: {cause.reason or type(cause).__name__}"
        return AttemptOutcome.FAILED, f"handshake failed: {type(exc).__name__}"
    if isinstance(exc, OSError):
        return AttemptOutcome.FAILED, f"cannot connect: {exc.strerror or type(exc).__name__}"
    if isinstance(
        exc, trio_websocket.HandshakeError | trio_websocket.ConnectionClosed | FrameError
    ):
        return AttemptOutcome.FAILED, f"handshake failed: {type(exc).__name__}"
    return None
