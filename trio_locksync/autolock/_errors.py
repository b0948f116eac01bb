"""Errors of the autolock service."""

from __future__ import annotations

from typing import final

from ..core import ClosedError, LockSyncError

__all__ = [
    "AutolockClosedError",
    "AutolockError",
    "AutolockNotRecoveredError",
    "AutolockPersistError",
    "AutolockTargetGone",
    "InvalidDurationError",
]


class AutolockError(LockSyncError):
    """Base class of the autolock errors."""


@final
class AutolockTargetGone(AutolockError):
    """Raised *by an action* when its timer id no longer names anything (the lock was removed).

    The timer then ends for good: its entry is removed and it goes DONE, with no replays.
    """


@final
class AutolockNotRecoveredError(AutolockError):
    """``start()``/``cancel()`` before the service's ``recover()`` was called; nothing changed.

    Recovery must come first so that a start can never overwrite a persisted entry that still
    has to fire (keymaster #703).
    """


@final
class AutolockClosedError(AutolockError, ClosedError):
    """The service's block has ended; the call did nothing (entries on disk are kept)."""


@final
class AutolockPersistError(AutolockError):
    """The timer changed in this process but the change is not on disk yet.

    The store keeps the data and retries in the background; until it lands, a crash would lose
    the change (after ``start``: the door would not be locked after a restart). ``timer_id`` and
    ``armed`` say what was kept.
    """

    def __init__(self, timer_id: str, *, armed: bool, what: str) -> None:
        kept = "the timer is armed in this process" if armed else "the timer is stopped"
        super().__init__(f"timer {timer_id!r}: {what} is not on disk yet ({kept}; store retrying)")
        self.timer_id = timer_id
        self.armed = armed


@final
class InvalidDurationError(AutolockError, ValueError):
    """A duration outside (0, max_duration] seconds, or not a finite number; nothing changed."""
