"""SYNCING's quiet window, made cheap per frame: the replay gate of one connection.

The stream holds a socket in SYNCING until no frame has come for ``quiet`` seconds, or ``cap``
after it opened. :class:`~trio_locksync.core.QuietWindow` keeps that deadline *as* a cancel
scope's deadline, so every frame moved the scope (a push onto trio's deadline heap: ~7 µs a
frame in the replay benchmark, more than the rest of the stream's bookkeeping together).
:class:`ReplayGate` stores the frame's time instead (a float), and its one waiter sleeps until
the deadline it last saw, then looks again: a frame that came meanwhile moved the deadline, so
it sleeps again, until the window is really over. The promotion instant is exactly what the
quiet window gives (the waiter only ever wakes at or before the true deadline, and promotes
only at or after it); the waiter wakes at most ``elapsed / quiet + 1`` times, however many
frames come.

:meth:`ReplayGate.frame` is the per-frame half (sans-I/O: the caller passes the time);
:meth:`ReplayGate.wait` the waiter's half, on trio.
"""

from __future__ import annotations

import math
from typing import final

import trio

from ..core import QuietReason

__all__ = ["ReplayGate"]


@final
class ReplayGate:
    """The quiet window of one connection's replay: ``quiet`` after the last frame, at most
    ``cap`` after ``opened_at``. Use from one trio thread; one task may :meth:`wait`."""

    __slots__ = ("_hard", "_quiet", "_quiet_until", "opened_at")

    def __init__(self, opened_at: float, *, quiet: float, cap: float) -> None:
        if not quiet >= 0:
            raise ValueError(f"quiet must be >= 0, got {quiet!r}")
        if not cap >= 0:
            raise ValueError(f"cap must be >= 0 (math.inf for no cap), got {cap!r}")
        #: trio time the window opened (the socket's open)
        self.opened_at = opened_at
        self._quiet = quiet
        self._quiet_until = opened_at + quiet
        self._hard = opened_at + cap if math.isfinite(cap) else math.inf

    @property
    def deadline(self) -> float:
        """When the window ends unless a frame comes first: the earlier of quiet and cap."""
        return min(self._quiet_until, self._hard)

    def reason_at(self, now: float) -> QuietReason | None:
        """Why the window is over at ``now``, or None while it is still open."""
        if now < self._quiet_until and now < self._hard:
            return None
        return QuietReason.QUIET if self._quiet_until <= self._hard else QuietReason.CAPPED

    def frame(self, now: float) -> QuietReason | None:
        """A frame at ``now`` (never earlier than the last): None if it came inside the window
        (which it extends), else why the window was already over (it changes nothing)."""
        if now < self._quiet_until and now < self._hard:
            self._quiet_until = now + self._quiet
            return None
        return self.reason_at(now)

    async def wait(self) -> QuietReason:
        """Sleep until the window is over and say why (at its exact deadline on trio's clock)."""
        while True:
            await trio.sleep_until(self.deadline)
            reason = self.reason_at(trio.current_time())
            if reason is not None:
                return reason
