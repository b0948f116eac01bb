"""Errors of the event stream; each says what failed and on which URL (credentials redacted)."""

from __future__ import annotations

from typing import final

from ..core import LockSyncError

__all__ = ["EventStreamError", "EventStreamRejected", "FrameDecodeError"]


class EventStreamError(LockSyncError):
    """Base class of the event-stream errors."""


@final
class EventStreamRejected(EventStreamError):
    """The server refused the stream for good (a 4xx handshake after one auth retry, a bad
    certificate); the stream stopped reconnecting and is in ``RECONNECT_FAILED``.

    ``url`` is the URL with any user/password removed; ``status_code`` the HTTP status of the
    refusal (None when it was not an HTTP answer, e.g. a certificate error). Events received
    before the refusal were kept and are still delivered before this is raised.
    """

    def __init__(self, url: str, reason: str, *, status_code: int | None = None) -> None:
        super().__init__(f"event stream {url} refused for good: {reason}; stopped reconnecting")
        self.url = url
        self.reason = reason
        self.status_code = status_code


@final
class FrameDecodeError(EventStreamError, ValueError):
    """A frame could not be decoded. The message says why but never quotes the frame (a frame
    can carry codes or tokens); the stream counts it, logs it and goes on."""
