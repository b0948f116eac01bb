"""The store's save schedule, sans-I/O: what is pending, when it is due, how failures retry.

:class:`SaveSchedule` knows nothing of trio, threads or files. The trio layer (``_saving``) tells
it what happened -- a change, a request for a delayed write, a write that landed or failed, a
removal, the close -- passing the trio clock's ``now`` where time matters, and carries out the
:data:`Effect` list it gets back: a debounce window opened, moved or closed.

* **Generations.** Every change (``save`` or ``delay_save``) gets the next generation. The data
  is pending while the newest generation is above the newest one written (or dropped by a
  removal); the store starts with nothing pending.
* **Debounce windows.** A delayed write is due when its window ends: the core
  :class:`~trio_locksync.core.QuietDeadline` arithmetic, ``delay`` after the last request and
  never later than ``max_delay`` after the one that opened the window. A request never pulls
  the deadline in. A window is over at its deadline, or once closed (everything written, the
  pending data removed, the store closing); a request made when no window is open -- or when the
  open one is over and the writer has not taken it yet -- opens a new one.
* **Retries.** A failed foreground write (``save``, ``flush``) opens or extends a window by the
  backoff's first delay, so that the background writer retries it. The background writer, once
  a window has ended, retries its failed writes after each delay of one backoff sequence until
  the generation it set out to write is written.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any, final

import attrs

from ..core import Backoff, QuietDeadline

__all__ = [
    "Change",
    "CloseWindow",
    "DataFunc",
    "DebounceWindow",
    "Effect",
    "MoveWindow",
    "OpenWindow",
    "SaveSchedule",
]

DataFunc = Callable[[], Any]


@final
@attrs.frozen
class Change:
    """The newest change: ``produce()`` gives its data (called at write time)."""

    generation: int
    produce: DataFunc


@final
@attrs.define(eq=False)
class DebounceWindow:
    """One debounce window. Compared by identity: the writer waits on one particular window."""

    quiet: QuietDeadline
    #: ended early: nothing is left for it to write, or the store is closing
    closed: bool = False

    @property
    def deadline(self) -> float:
        """When the window ends unless a request extends it."""
        return self.quiet.deadline

    def is_over(self, now: float) -> bool:
        """Whether the window has ended at ``now`` (deadline reached, or closed)."""
        return self.closed or now >= self.quiet.deadline


@final
@attrs.frozen
class OpenWindow:
    """``window`` is open: wake the background writer to wait for it until its deadline."""

    window: DebounceWindow


@final
@attrs.frozen
class MoveWindow:
    """The open window now ends at ``deadline`` (never earlier than before)."""

    deadline: float


@final
@attrs.frozen
class CloseWindow:
    """The open window ended early: its waiter writes nothing."""


Effect = OpenWindow | MoveWindow | CloseWindow


@final
class SaveSchedule:
    """Generations, the debounce window and the retry delays of one store. No I/O, no clock."""

    __slots__ = ("_backoff", "_latest", "_max_delay", "_retries", "_window", "_written")

    def __init__(self, *, max_delay: float, backoff: Backoff) -> None:
        self._max_delay = max_delay
        self._backoff = backoff
        # Pending iff latest.generation > written: the store starts with nothing to write.
        self._latest = Change(0, lambda: None)
        self._written = 0
        self._window: DebounceWindow | None = None
        self._retries: Iterator[float] = iter(())

    # -- queries ------------------------------------------------------------------------------

    @property
    def latest(self) -> Change:
        """The newest change (generation 0, no data, before the first)."""
        return self._latest

    @property
    def written(self) -> int:
        """The newest generation on disk, or superseded by a removal."""
        return self._written

    def has_pending(self) -> bool:
        """Whether the newest change is not on disk yet.

        A method, not a property: type checkers would keep a property narrowed across an await.
        """
        return self._latest.generation > self._written

    @property
    def window(self) -> DebounceWindow | None:
        """The open debounce window (possibly over, not yet taken by the writer), if any."""
        return self._window

    @property
    def due_at(self) -> float | None:
        """When the open window's write is due, or None if no window is open."""
        return None if self._window is None else self._window.deadline

    # -- inputs -------------------------------------------------------------------------------

    def change(self, produce: DataFunc) -> int:
        """A new change whose data ``produce()`` gives; returns its generation."""
        self._latest = Change(self._latest.generation + 1, produce)
        return self._latest.generation

    def request(self, now: float, delay: float) -> list[Effect]:
        """Ask for a write ``delay`` seconds after ``now``: extend the open window, or open one."""
        window = self._window
        if window is not None and not window.is_over(now):
            window.quiet.touch(now, delay)
            return [MoveWindow(window.deadline)]
        window = DebounceWindow(QuietDeadline.open(now, quiet=delay, cap=self._max_delay))
        self._window = window
        return [OpenWindow(window)]

    def retry_soon(self, now: float) -> list[Effect]:
        """A foreground write failed: have the background writer retry it after the backoff's
        first delay (or later, if the open window already ends later)."""
        return self.request(now, next(self._backoff.delays()))

    def settled(self, generation: int) -> list[Effect]:
        """Everything up to ``generation`` is on disk, or was superseded by a removal: close
        the window if nothing is left to write."""
        self._written = max(self._written, generation)
        return self._close_if_done()

    def withdraw(self) -> list[Effect]:
        """A removal began: the delayed write is cancelled (:meth:`restore` puts it back)."""
        return self._close_window()

    def restore(self, now: float, deadline: float) -> list[Effect]:
        """A removal that did not remove the file gives back the delayed write it withdrew,
        due at the same ``deadline``, if its data is still pending."""
        if not self.has_pending():
            return []
        return self.request(now, max(deadline - now, 0.0))

    def close(self) -> list[Effect]:
        """The store is closing: the final flush writes what is pending, no window does."""
        return self._close_window()

    def window_ended(self, window: DebounceWindow) -> int | None:
        """``window``'s deadline passed: the generation the background writer must now write
        (retrying with :meth:`next_retry_delay` until it is written), or None for no write."""
        if window.closed:
            return None
        if self._window is window:
            self._window = None
        if not self.has_pending():
            return None
        self._retries = self._backoff.delays()
        return self._latest.generation

    def next_retry_delay(self) -> float:
        """How long the background writer waits after a failed write before the next try."""
        return next(self._retries)

    # -- internals ----------------------------------------------------------------------------

    def _close_if_done(self) -> list[Effect]:
        if self.has_pending():
            return []
        return self._close_window()

    def _close_window(self) -> list[Effect]:
        if self._window is None:
            return []
        self._window.closed = True
        self._window = None
        return [CloseWindow()]
