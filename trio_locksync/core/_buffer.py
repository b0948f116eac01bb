"""The one bounded buffer of the library: a FIFO that never blocks the producer.

A producer (a socket reader, paho's events on the trio thread, a change feed's publisher) must
never wait for a slow consumer, so a full buffer drops something: :class:`Overflow` says what,
and every drop is counted. Items the producer marks ``droppable=False`` are never dropped (the
MQTT bridge's QoS 1 messages: the broker's ReceiveMaximum window bounds those, and dropping one
would lose it). :meth:`BoundedBuffer.end` lets consumers drain what is left, then stop (or raise
an error).

Every iterator of the library is built on it, and the names say which of two things it gives:

* **every item to each iterator** — ``changes()``, ``status_changes()``, ``updates()``,
  ``events()`` on a lock: each call subscribes a :class:`~trio_locksync.core.Subscription` of
  its own, fed from the call on (a fan-out, :class:`~trio_locksync.core.ChangeFeed`);
* **one shared queue** — iterating the object itself (``async for event in stream``,
  ``async for message in subscription``) and ``receive()``: each item goes to exactly one
  consumer, as with a trio memory channel.
"""

from __future__ import annotations

import collections
import enum
from collections.abc import Callable
from typing import Generic, TypeVar, final

import trio

__all__ = ["BoundedBuffer", "Overflow"]

T = TypeVar("T")


class Overflow(enum.Enum):
    """What a full buffer does when one more item arrives.

    The producer is never blocked (a slow consumer must never stop a socket being read, or
    keepalives answered), so a full buffer drops something; every drop is counted (the
    ``dropped`` of the statistics) and, for an event stream, shows as a gap in
    :attr:`~trio_locksync.StreamEvent.sequence`.
    """

    #: drop the oldest buffered item: the consumer catches up on the latest state (default)
    DROP_OLDEST = "drop_oldest"
    #: drop the arriving item: the consumer sees an unbroken prefix, then a gap
    DROP_NEWEST = "drop_newest"


@final
class BoundedBuffer(Generic[T]):
    """FIFO of at most ``size`` droppable items; :meth:`put` never blocks.

    Each item goes to exactly one :meth:`get` caller. Items put with ``droppable=False`` are
    never dropped and may take the buffer past ``size`` (their producer bounds them). Use it
    from one trio thread.
    """

    __slots__ = ("_ended", "_error", "_items", "_lot", "_overflow", "_size", "dropped")

    def __init__(self, size: int, overflow: Overflow = Overflow.DROP_OLDEST) -> None:
        if size < 1:
            raise ValueError(f"buffer size must be >= 1, got {size!r}")
        self._size = size
        self._overflow = overflow
        self._items: collections.deque[tuple[T, bool]] = collections.deque()
        self._lot = trio.lowlevel.ParkingLot()
        self._ended = False
        self._error: Callable[[], BaseException] | None = None
        #: items dropped so far because the buffer was full
        self.dropped: int = 0

    @property
    def size(self) -> int:
        """How many droppable items the buffer holds before :class:`Overflow` applies."""
        return self._size

    @property
    def ended(self) -> bool:
        """:meth:`end` was called: no more items are taken in."""
        return self._ended

    def __len__(self) -> int:
        return len(self._items)

    def put(self, item: T, *, droppable: bool = True) -> bool:
        """Add ``item``; False if the buffer had ended, or a droppable item (``item`` itself, or
        the oldest droppable one) was dropped for it."""
        if self._ended:
            return False
        items = self._items
        if droppable and len(items) >= self._size:
            self.dropped += 1
            if self._overflow is Overflow.DROP_NEWEST:
                return False
            oldest = next((i for i, (_, drop) in enumerate(items) if drop), None)
            if oldest is None:  # only items that are never dropped: drop the arriving one
                return False
            del items[oldest]
            items.append((item, True))
            self._lot.unpark()
            return False
        items.append((item, droppable))
        if self._lot:  # a consumer waits (not while it works through a batch)
            self._lot.unpark()
        return True

    def end(self, error: Callable[[], BaseException] | None = None) -> None:
        """No more items; waiting consumers wake, drain the rest, then stop (or raise what
        ``error()`` returns: a fresh exception per raise). Idempotent."""
        if self._ended:
            return
        self._ended = True
        self._error = error
        self._lot.unpark_all()

    def clear(self) -> list[T]:
        """Remove every buffered item (not counted as dropped) and return them, oldest first."""
        items = [item for item, _ in self._items]
        self._items.clear()
        return items

    def peek_all(self) -> list[T]:
        """The buffered items, oldest first, left in place."""
        return [item for item, _ in self._items]

    async def get(self) -> T:
        """The next item; raises ``StopAsyncIteration`` (or the end error) once ended and
        drained. A checkpoint either way; cancelled before it takes an item, never after."""
        await trio.lowlevel.checkpoint_if_cancelled()
        while not self._items:
            if self._ended:
                # A schedule point even at the end: a loop over an ended iterator must not
                # starve the other tasks.
                await trio.lowlevel.cancel_shielded_checkpoint()
                if self._error is not None:
                    raise self._error()
                raise StopAsyncIteration
            await self._lot.park()
        item = self._items.popleft()[0]
        await trio.lowlevel.cancel_shielded_checkpoint()
        return item

    def __repr__(self) -> str:
        return f"<BoundedBuffer {len(self._items)}/{self._size} dropped={self.dropped}>"
