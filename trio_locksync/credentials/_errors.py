"""Errors a lock provider raises; each says what failed and on which slot, never a PIN."""

from __future__ import annotations

from typing import final

from ..core import ClosedError, LockSyncError

__all__ = [
    "CodeRejected",
    "CredentialError",
    "LockDisconnected",
    "LockOperationFailed",
    "LockSyncClosedError",
]


class CredentialError(LockSyncError):
    """Base class of the credential errors.

    ``slot`` is the slot the operation concerned (None for a whole-lock operation such as a
    full read) and ``reason`` the provider's explanation. The reason goes into the message as
    is, so a provider must never put a PIN in it.
    """

    #: what failed, as the message's opening words (the class's, unless ``what=`` says more
    #: precisely, e.g. ``LockDisconnected(..., what="lock asleep")`` for a sleeping battery
    #: lock: unreachable for now, and not because anything is wrong)
    what: str = "credential operation failed"

    def __init__(
        self, reason: str = "", *, slot: int | None = None, what: str | None = None
    ) -> None:
        if what is not None:
            self.what = what
        where = "" if slot is None else f" on slot {slot}"
        because = f": {reason}" if reason else ""
        super().__init__(f"{self.what}{where}{because}")
        self.reason = reason
        self.slot = slot


@final
class LockDisconnected(CredentialError):
    """The lock could not be reached (offline, no route, the hub is down); nothing was changed
    as far as we can tell. A connectivity failure: it counts against the lock, not the slot."""

    what = "lock unreachable"


@final
class LockOperationFailed(CredentialError):
    """The lock was reached but the operation failed (a timeout, a NAK, a driver error); the
    slot's content is unknown until it is read again."""

    what = "lock operation failed"


@final
class CodeRejected(CredentialError):
    """The lock refused the code (a duplicate, a forbidden or wrong-length PIN); the slot was not
    changed. Retrying the same PIN will not help."""

    what = "lock rejected the code"


@final
class LockSyncClosedError(CredentialError, ClosedError):
    """The engine's ``async with`` block has ended (before the call, or while it waited);
    nothing was read or written for it."""

    what = "the credential engine is closed"
