"""A feed of every change, fanned out to subscribers that each keep a bounded backlog.

:class:`ChangeFeed` is what every ``changes()`` / ``status_changes()`` iterator of the library
is made of: publishing never blocks; each subscriber sees every change published after it
subscribed, in order, unless it falls more than ``backlog`` behind — then its oldest unread
changes are dropped and counted in its :attr:`Subscription.dropped`. :meth:`ChangeFeed.end`
lets subscribers drain what is left and then stop. (For "only the latest value" use
:class:`~trio_locksync.core.Watched` and its ``values()``.)
"""

from __future__ import annotations

import collections
import weakref
from typing import Generic, TypeVar, final

import trio

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
    """One subscriber's iterator over a :class:`ChangeFeed`. Not shared between tasks."""

    __slots__ = ("__weakref__", "_ended", "_event", "_queue", "dropped")

    def __init__(self, backlog: int, *, ended: bool) -> None:
        self._queue: collections.deque[T] = collections.deque(maxlen=backlog)
        self._event = trio.Event()
        self._ended = ended
        #: changes lost because this subscriber fell more than ``backlog`` behind
        self.dropped = 0

    def _push(self, change: T) -> None:
        if len(self._queue) == self._queue.maxlen:
            self.dropped += 1
        self._queue.append(change)
        self._event.set()

    def _end(self) -> None:
        self._ended = True
        self._event.set()

    def __aiter__(self) -> Subscription[T]:
        return self

    async def __anext__(self) -> T:
        while not self._queue:
            if self._ended:
                await trio.lowlevel.checkpoint()
                raise StopAsyncIteration
            self._event = trio.Event()
            await self._event.wait()
        await trio.lowlevel.checkpoint()
        return self._queue.popleft()

    def __repr__(self) -> str:
        return f"<Subscription unread={len(self._queue)} dropped={self.dropped}>"
