"""The timers ``recover()`` resumed that nobody touched yet: no object each, one heap entry.

A recovered timer needs an object (its state machine, its scheduled call) only once something
reads it, starts or cancels it, or it is about to fire. Until then :class:`Dormant` holds it as a
``(deadline, timer_id)`` tuple; the entry itself stays in the timer store. The service makes the
object on first touch, or ``_PROMOTE_LEAD`` seconds before the deadline.
"""

from __future__ import annotations

import datetime
import heapq
from collections.abc import Mapping
from typing import final

from ._timer import AutolockTimer

__all__ = ["Dormant"]


@final
class Dormant:
    """The timers ``recover()`` resumed that have no object yet: a heap of ``(deadline, id)``
    (deadline on trio's clock; the entry stays in the timer store), the number of them, and the
    (wall, trio) clock pair recover() read. An id is dormant while it has a stored entry and no
    object, once recovery filled this: every other entry belongs to an object."""

    __slots__ = ("_clocks", "count", "heap")

    def __init__(self) -> None:
        self.heap: list[tuple[float, str]] = []
        self.count = 0
        self._clocks: tuple[datetime.datetime, float] | None = None

    def fill(
        self,
        sleeping: list[tuple[float, str]],
        clocks: tuple[datetime.datetime, float],
        timers: Mapping[str, AutolockTimer],
    ) -> None:
        """Take the resumed ``(deadline, id)`` pairs; ``timers``: the objects made meanwhile."""
        heapq.heapify(sleeping)
        self.heap = sleeping
        self.count = sum(1 for _, timer_id in sleeping if timer_id not in timers)
        self._clocks = clocks

    def clocks(self) -> tuple[datetime.datetime, float]:
        """The (wall, trio) pair recover() armed every timer from."""
        assert self._clocks is not None
        return self._clocks

    @property
    def filled(self) -> bool:
        """``recover()`` has put its timers here (and the clock pair they are armed from)."""
        return self._clocks is not None
