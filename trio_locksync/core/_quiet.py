"""A quiet-window deadline: ``quiet`` after the last activity, at most ``cap`` after the first.

Two users share it: the Store's debounce ("write ``delay`` after the last change, but never later
than ``max_delay`` after the first unsaved change") and the event stream's SYNCING gate ("live once
no frame has arrived for ``quiet`` seconds, at the latest ``cap`` after socket-open").

:class:`QuietDeadline` is the sans-I/O arithmetic (times are plain floats from any clock).
:class:`QuietWindow` puts it on trio: the deadline *is* a cancel scope's deadline, and
:meth:`QuietWindow.touch` moves that deadline, so there is no timer task to race with.
"""

from __future__ import annotations

import enum
import math
from typing import final

import attrs
import trio

__all__ = ["QuietDeadline", "QuietReason", "QuietWindow"]


class QuietReason(enum.Enum):
    """Why a quiet window ended."""

    #: no activity for the quiet period
    QUIET = "quiet"
    #: the hard cap from the window's opening was reached under constant activity
    CAPPED = "capped"
    #: :meth:`QuietWindow.close` ended it early (the owner no longer needs to wait)
    CLOSED = "closed"


@final
@attrs.define
class QuietDeadline:
    """Sans-I/O quiet-window arithmetic.

    ``opened_at`` anchors the hard cap; ``quiet_until`` is the trailing deadline. :meth:`touch`
    extends the trailing deadline to ``now + quiet`` if that is later — an activity asking for a
    shorter quiet period never pulls the deadline forward (Home Assistant's "extend" rule).
    """

    opened_at: float
    cap: float = attrs.field()
    quiet_until: float

    @cap.validator
    def _check_cap(self, attribute: attrs.Attribute[float], value: float) -> None:
        if not value >= 0:
            raise ValueError(f"cap must be >= 0 (math.inf for no cap), got {value!r}")

    @classmethod
    def open(cls, now: float, *, quiet: float, cap: float) -> QuietDeadline:
        """A window opened by an activity at ``now`` that asks for ``quiet`` seconds of silence."""
        if not quiet >= 0:
            raise ValueError(f"quiet must be >= 0, got {quiet!r}")
        return cls(opened_at=now, cap=cap, quiet_until=now + quiet)

    @property
    def hard_deadline(self) -> float:
        """``opened_at + cap``: the latest the window can end, whatever the activity."""
        return self.opened_at + self.cap if math.isfinite(self.cap) else math.inf

    @property
    def deadline(self) -> float:
        """When the window ends unless touched again: the earlier of quiet and cap."""
        return min(self.quiet_until, self.hard_deadline)

    def touch(self, now: float, quiet: float) -> None:
        """Record activity at ``now`` that wants ``quiet`` seconds of silence after it."""
        if not quiet >= 0:
            raise ValueError(f"quiet must be >= 0, got {quiet!r}")
        self.quiet_until = max(self.quiet_until, now + quiet)

    def reason_at(self, now: float) -> QuietReason | None:
        """Why the window is over at ``now``, or None while it is still open."""
        if now < self.deadline:
            return None
        return QuietReason.QUIET if self.quiet_until <= self.hard_deadline else QuietReason.CAPPED


@final
class QuietWindow:
    """A :class:`QuietDeadline` on trio's clock, awaited through one cancel scope.

    Create it when the first activity happens (or at socket-open), call :meth:`touch` on every
    further activity (sync, from any task), and have exactly one task ``await wait()``. The wait
    is a ``trio.CancelScope`` whose ``deadline`` :meth:`touch` moves; it returns the
    :class:`QuietReason`. Cancelling the waiting task's enclosing scope cancels the wait as usual.
    """

    __slots__ = ("_closed", "_core", "_scope", "_waited")

    def __init__(self, *, quiet: float, cap: float) -> None:
        self._core = QuietDeadline.open(trio.current_time(), quiet=quiet, cap=cap)
        self._scope = trio.CancelScope(deadline=self._core.deadline)
        self._closed = False
        self._waited = False

    @property
    def opened_at(self) -> float:
        """trio time of the activity that opened the window."""
        return self._core.opened_at

    @property
    def deadline(self) -> float:
        """trio time at which the window ends unless touched."""
        return self._core.deadline

    @property
    def is_over(self) -> bool:
        """Whether the window has ended (deadline reached or closed)."""
        return self._closed or trio.current_time() >= self._core.deadline

    def reason(self) -> QuietReason | None:
        """Why the window is over now, or None while it is still open (sync twin of wait())."""
        if self._closed:
            return QuietReason.CLOSED
        return self._core.reason_at(trio.current_time())

    def touch(self, quiet: float) -> None:
        """Activity now; the window stays open at least ``quiet`` more seconds, within the cap.

        A touch after the window is over has no effect: open a new window instead.
        """
        if self.is_over:
            return
        self._core.touch(trio.current_time(), quiet)
        self._scope.deadline = self._core.deadline

    def close(self) -> None:
        """End the window now; the waiter returns :attr:`QuietReason.CLOSED`."""
        self._closed = True
        self._scope.cancel()

    async def wait(self) -> QuietReason:
        """Block until the window ends and say why. Only one task may wait, once."""
        if self._waited:
            raise RuntimeError("QuietWindow.wait() may be awaited only once")
        self._waited = True
        with self._scope:
            await trio.sleep_forever()
        if self._closed:
            return QuietReason.CLOSED
        reason = self._core.reason_at(trio.current_time())
        # The scope only fires at or after its deadline, so the window is over here.
        assert reason is not None
        return reason
