"""One subscription's bounded buffer and the iterator a consumer takes messages from.

A QoS 1 message is acknowledged when the consumer *takes* it (``__anext__`` returns it), never
before: until then the broker holds it and redelivers it after a reconnect. So QoS 1 messages
are never dropped here; their number is bounded by the broker's ReceiveMaximum window (the
bridge's ``receive_maximum``, by default its ``buffer_size``). A QoS 0 message the broker sends
faster than the consumer takes it is subject to ``overflow`` once the buffer holds
``buffer_size`` messages: the dropped ones are counted in :attr:`MqttSubscription.dropped`.

The router and a subscription talk through a small interface, each way what the other drives:
the router calls :meth:`MqttSubscription.push` and friends (package-internal, no underscore),
whose return values say what the router must do next (:class:`Pushed`; the deliveries a
closing subscription leaves, :class:`Leftovers`); the consumer's side — taking a message — tells
the router through the one :class:`Upstream` it was given.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from typing import Literal, Protocol, final

import attrs

from ..core import BoundedBuffer, NoPublicConstructor, Overflow
from ._acks import Delivery
from ._models import MqttMessage

__all__ = ["Leftovers", "MqttSubscription", "Pushed", "Upstream"]

#: the high-water mark of a buffer (at most half of it): from there on the paho thread pauses
#: until the consumer has taken everything (see ``Inbox.pause``). Measured (40,000 messages,
#: interleaved runs): 32, 64 and 128 alike; resuming at empty rather than at half cut thread
#: switches from 0.5 to 0.05 a message and raised QoS 1 from 8,705 to 9,685 msg/s (medians).
HIGH_WATER = 64


class Upstream(Protocol):
    """What a subscription tells its router as its consumer takes messages (the router)."""

    def release(self, delivery: Delivery) -> None:
        """A QoS 1 message was taken (or dropped): it may be acknowledged."""

    def caught_up(self) -> None:
        """A buffer that reached its high-water mark (:attr:`Pushed.PRESSED`) was emptied."""


class Pushed(enum.Enum):
    """What :meth:`MqttSubscription.push` did with a message."""

    #: buffered
    KEPT = "kept"
    #: buffered, and the buffer reached its high-water mark now: until it is emptied (the
    #: subscription then tells :meth:`Upstream.caught_up`) the paho thread should pause
    PRESSED = "pressed"
    #: a QoS 0 message was dropped for it (or it): the buffer was full
    DROPPED = "dropped"
    #: the subscription had stopped taking messages: not buffered; a QoS 1 one was released
    #: (acknowledged in its turn, as a block that left does)
    CLOSED = "closed"


@final
@attrs.frozen
class Leftovers:
    """What a subscription that stopped taking messages leaves its router."""

    #: its QoS 1 deliveries not taken, to release
    deliveries: list[Delivery]
    #: its buffer was above its high-water mark (:attr:`Pushed.PRESSED`): it no longer is
    relieved: bool


@final
class MqttSubscription(metaclass=NoPublicConstructor):
    """The messages of one ``bridge.subscribe(topic_filter)`` block: ``async for message in
    subscription``. Iterate it from one task; it ends (or raises the bridge's failure) when the
    bridge stops for good."""

    _OPENED_BY = "MqttBridge.subscribe()"

    __slots__ = (
        "_buffer",
        "_high",
        "_pressed",
        "_retained",
        "_upstream",
        "buffer_size",
        "covered",
        "qos",
        "taken",
        "topic_filter",
    )

    def __init__(
        self,
        topic_filter: str,
        qos: Literal[0, 1],
        *,
        buffer_size: int,
        overflow: Overflow,
        upstream: Upstream,
    ) -> None:
        self.topic_filter: str = topic_filter
        self.qos: Literal[0, 1] = qos
        self.buffer_size: int = buffer_size
        self._upstream = upstream
        self._pressed = False
        self._high = max(1, min(HIGH_WATER, buffer_size // 2))
        # The core's one bounded buffer; a QoS 1 message is put as not droppable.
        self._buffer = BoundedBuffer[tuple[MqttMessage, Delivery | None]](buffer_size, overflow)
        #: messages handed to the consumer (QoS 0 and 1; the bridge's ``delivered``)
        self.taken: int = 0
        #: a SUBSCRIBE of the filter sent after this subscription joined was acknowledged:
        #: the broker has sent (or is sending) it the filter's retained messages (see Router);
        #: set by :meth:`cover`
        self.covered: bool = False
        #: topics this subscription got a retained copy of: it takes no second one (a later
        #: SUBSCRIBE of the same filter resends them for another subscription); cleared when a
        #: connection starts a new session (every filter is subscribed again)
        self._retained: set[str] = set()

    def __len__(self) -> int:
        """Messages waiting to be taken."""
        return len(self._buffer)

    @property
    def dropped(self) -> int:
        """QoS 0 messages dropped because the buffer was full."""
        return self._buffer.dropped

    # -- the router's side (package-internal) -------------------------------------------------

    def cover(self) -> bool:
        """A SUBSCRIBE covering this subscription was acknowledged: it gets messages from now
        on. True if it was not covered before (the router then hands it what it held)."""
        if self.covered:
            return False
        self.covered = True
        return True

    def first_retained(self, topic: str) -> bool:
        """True if this subscription has had no retained copy of ``topic`` on this
        connection; from now on it has."""
        retained = self._retained
        if topic in retained:
            return False
        retained.add(topic)
        return True

    def forget_retained(self) -> None:
        """A new session: every filter is subscribed again and its retained messages come
        again, for every subscription (a replay)."""
        self._retained.clear()

    def push(self, message: MqttMessage, delivery: Delivery | None) -> Pushed:
        """Buffer a routed message (``delivery``: a QoS 1 one's, else None)."""
        buffer = self._buffer
        if buffer.ended:
            if delivery is not None:
                self._upstream.release(delivery)
            return Pushed.CLOSED
        if not buffer.put((message, delivery), droppable=delivery is None):
            return Pushed.DROPPED
        if len(buffer) >= self._high and not self._pressed:
            self._pressed = True
            return Pushed.PRESSED
        return Pushed.KEPT

    def close(self, error: Callable[[], BaseException] | None = None) -> Leftovers:
        """No more messages: the consumer drains what is left, then stops (or raises
        ``error()``). Returns the QoS 1 deliveries still buffered, for the caller to release
        when the subscription's block ends."""
        self._buffer.end(error)
        relieved, self._pressed = self._pressed, False
        return Leftovers([d for _, d in self._buffer.peek_all() if d is not None], relieved)

    def discard(self) -> Leftovers:
        """The block ended: drop what was not taken; returns its QoS 1 deliveries."""
        leftovers = self.close()
        self._buffer.clear()
        return leftovers

    # -- the consumer's side ------------------------------------------------------------------

    def __aiter__(self) -> MqttSubscription:
        return self

    async def __anext__(self) -> MqttMessage:
        message, delivery = await self._buffer.get()
        self.taken += 1
        if delivery is not None:
            self._upstream.release(delivery)  # taken: it may be acknowledged now
        if self._pressed and not self._buffer:
            self._pressed = False
            self._upstream.caught_up()
        return message

    def __repr__(self) -> str:
        return (
            f"<MqttSubscription {self.topic_filter!r} qos={self.qos} "
            f"buffered={len(self._buffer)} dropped={self.dropped}>"
        )
