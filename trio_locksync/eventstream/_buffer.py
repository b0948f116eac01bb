"""The stream's event queue: a bounded buffer that never blocks the reader, and its iterator.

Unlike the status changes (a :class:`~trio_locksync.core.ChangeFeed`: every change to every
subscriber), events are work: each one goes to exactly one consumer."""

from __future__ import annotations

import collections
from collections.abc import Callable
from typing import Generic, TypeVar

import trio

from ._models import Overflow, StreamEvent

__all__ = ["EventBuffer", "EventIterator"]

T = TypeVar("T")


class EventBuffer(Generic[T]):
    """FIFO of at most ``size`` items; :meth:`put` never blocks and applies ``overflow``.

    Each item goes to exactly one :meth:`get` caller (a work queue, like a trio memory channel).
    :meth:`end` lets consumers drain what is left and then stop (or raise ``error``).
    """

    __slots__ = ("_dropped", "_ended", "_error", "_items", "_lot", "_overflow", "_size")

    def __init__(self, size: int, overflow: Overflow) -> None:
        if size < 1:
            raise ValueError(f"buffer size must be >= 1, got {size!r}")
        self._size = size
        self._overflow = overflow
        self._items: collections.deque[T] = collections.deque()
        self._lot = trio.lowlevel.ParkingLot()
        self._dropped = 0
        self._ended = False
        self._error: Callable[[], BaseException] | None = None

    def __len__(self) -> int:
        return len(self._items)

    @property
    def dropped(self) -> int:
        """Items dropped so far because the buffer was full."""
        return self._dropped

    def put(self, item: T) -> bool:
        """Add ``item``; returns False if it (or, under DROP_OLDEST, the oldest) was dropped."""
        if self._ended:
            return False
        kept = True
        if len(self._items) >= self._size:
            self._dropped += 1
            kept = False
            if self._overflow is Overflow.DROP_NEWEST:
                return False
            self._items.popleft()
        self._items.append(item)
        self._lot.unpark()
        return kept

    def end(self, error: Callable[[], BaseException] | None = None) -> None:
        """No more items; waiting consumers wake, drain the rest, then stop (or raise what
        ``error()`` returns: a fresh exception per raise)."""
        if self._ended:
            return
        self._ended = True
        self._error = error
        self._lot.unpark_all()

    async def get(self) -> T:
        """The next item; raises ``StopAsyncIteration`` (or the end error) once drained."""
        await trio.lowlevel.checkpoint_if_cancelled()
        while not self._items:
            if self._ended:
                if self._error is not None:
                    raise self._error()
                raise StopAsyncIteration
            await self._lot.park()
        item = self._items.popleft()
        await trio.lowlevel.cancel_shielded_checkpoint()
        return item


class EventIterator(Generic[T]):
    """What :meth:`EventStream.events` returns: takes events from the shared buffer."""

    __slots__ = ("_buffer",)

    def __init__(self, buffer: EventBuffer[StreamEvent[T]]) -> None:
        self._buffer = buffer

    def __aiter__(self) -> EventIterator[T]:
        return self

    async def __anext__(self) -> StreamEvent[T]:
        return await self._buffer.get()
