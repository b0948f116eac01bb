"""A feed of every change, fanned out to subscribers that each keep a bounded backlog.

:class:`ChangeFeed` is what every ``changes()`` / ``status_changes()`` iterator of the library
is made of: publishing never blocks; each subscriber sees every change published after it
subscribed, in order, unless it falls more than ``backlog`` behind — then its oldest unread
changes are dropped and counted in its :attr:`Subscription.dropped`. :meth:`ChangeFeed.end`
lets subscribers drain what is left and then stop. (For "only the latest value" use
:class:`~trio_locksync.core.Watched` and its ``values()``.)
"""

from __future__ import annotations

import weakref
from typing import Generic, TypeVar, final

from ._buffer import BoundedBuffer, Overflow

__all__ = ["ChangeFeed", "Subscription"]

T = TypeVar("T")

#: the default number of unread changes a subscriber keeps
BACKLOG = 10_000


@final
class ChangeFeed(Generic[T]):
    """Every change, to every subscriber; never blocks the publisher."""

    __slots__ = ("_backlog", "_ended", "_subscribers")

    def __init__(self, *, backlog: int = BACKLOG) -> None:
        if backlog < 1:
            raise ValueError(f"backlog must be >= 1, got {backlog!r}")
        self._backlog = backlog
        self._ended = False
        # Weak: a subscriber that stops iterating and drops its iterator costs nothing more.
        self._subscribers: weakref.WeakSet[Subscription[T]] = weakref.WeakSet()

    @property
    def ended(self) -> bool:
        """:meth:`end` was called: no more changes."""
        return self._ended

    def publish(self, change: T) -> None:
        """Hand ``change`` to every subscriber (ignored after :meth:`end`)."""
        if self._ended:
            return
        for subscriber in self._subscribers:
            subscriber._push(change)

    def subscribe(self) -> Subscription[T]:
        """A new iterator of every change from now on (it ends at once if the feed has)."""
        subscription = Subscription[T](self._backlog, ended=self._ended)
        if not self._ended:
            self._subscribers.add(subscription)
        return subscription

    def end(self) -> None:
        """No more changes: subscribers drain their backlog, then stop. Idempotent."""
        if self._ended:
            return
        self._ended = True
        for subscriber in self._subscribers:
            subscriber._end()
        self._subscribers.clear()

    def __repr__(self) -> str:
        return f"<ChangeFeed subscribers={len(self._subscribers)} ended={self._ended}>"


@final
class Subscription(Generic[T]):
    """One subscriber's iterator over a :class:`ChangeFeed`: every change from its subscribing
    on, in order, kept in a :class:`~trio_locksync.core.BoundedBuffer` of its own (the oldest
    unread go first when it falls ``backlog`` behind). Not shared between tasks."""

    __slots__ = ("__weakref__", "_buffer")

    def __init__(self, backlog: int, *, ended: bool) -> None:
        self._buffer = BoundedBuffer[T](backlog, Overflow.DROP_OLDEST)
        if ended:
            self._buffer.end()

    @property
    def dropped(self) -> int:
        """Changes lost because this subscriber fell more than ``backlog`` behind."""
        return self._buffer.dropped

    def _push(self, change: T) -> None:
        self._buffer.put(change)

    def _end(self) -> None:
        self._buffer.end()

    def __aiter__(self) -> Subscription[T]:
        return self

    async def __anext__(self) -> T:
        return await self._buffer.get()

    def __repr__(self) -> str:
        return f"<Subscription unread={len(self._buffer)} dropped={self.dropped}>"
