"""A value that tasks can watch for changes (trio-util's ``AsyncValue``, typed and smaller)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Generic, TypeVar, final

import trio

__all__ = ["Watched"]

T = TypeVar("T")


@final
class Watched(Generic[T]):
    """Holds a value; :meth:`values` yields it each time it is set to something different.

    A watcher that is slower than the changes sees the latest value, not every intermediate one
    (a dashboard wants the current state, not a backlog). Setting a value never blocks.
    """

    __slots__ = ("_changed", "_value", "_version")

    def __init__(self, value: T) -> None:
        self._value = value
        self._version = 0
        self._changed = trio.Event()

    @property
    def value(self) -> T:
        """The current value."""
        return self._value

    def set(self, value: T) -> bool:
        """Set the value; wakes the watchers and returns True if it differs from the current one."""
        if value == self._value:
            return False
        self._value = value
        self._version += 1
        self._changed.set()
        self._changed = trio.Event()
        return True

    def values(self) -> AsyncIterator[T]:
        """Yield the value after each change: the *latest* one if several happened meanwhile
        (for every change, in order, use a :class:`ChangeFeed`).

        The iterator never ends by itself; stop iterating (``break``) or cancel the task. It is
        a plain iterator object, not an async generator, so dropping it needs no cleanup.
        """
        return _Values(self)


class _Values(Generic[T]):
    __slots__ = ("_seen", "_watched")

    def __init__(self, watched: Watched[T]) -> None:
        self._watched = watched
        self._seen = watched._version

    def __aiter__(self) -> _Values[T]:
        return self

    async def __anext__(self) -> T:
        watched = self._watched
        if watched._version == self._seen:
            await watched._changed.wait()
        else:
            await trio.lowlevel.checkpoint()
        self._seen = watched._version
        return watched._value
