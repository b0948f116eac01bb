"""Manual acknowledgement of QoS 1 messages, in arrival order, per connection: sans-I/O.

The bridge acknowledges a QoS 1 PUBLISH (PUBACK) only after every local subscription it was
routed to has handed it to its consumer (or dropped it when its block ended): until then the
broker still holds it, and redelivers it after a reconnect. MQTT requires PUBACKs in the order
the PUBLISHes arrived [MQTT-4.6.0-2] and paho does not reorder, so :class:`AckTracker` releases
only the contiguous prefix of finished deliveries. Each delivery carries the *generation* of
the connection it came on: a packet id is only meaningful on that connection (a new one may
reuse it for another message), so a delivery from an older connection is never acknowledged —
the broker redelivers it, flagged DUP, and the new copy is acknowledged instead.
"""

from __future__ import annotations

import collections
from typing import final

import attrs

__all__ = ["AckTracker", "Delivery"]


@final
@attrs.define(eq=False)
class Delivery:
    """One QoS 1 PUBLISH as received: connection ``generation``, packet id ``mid``, and how many
    local subscriptions still hold it."""

    generation: int
    mid: int
    holders: int


@final
class AckTracker:
    """The QoS 1 deliveries of the current connection, acknowledged in arrival order."""

    __slots__ = ("_generation", "_queue", "acked", "stale")

    def __init__(self) -> None:
        self._generation = 0
        self._queue: collections.deque[Delivery] = collections.deque()
        #: PUBACKs released (sent) so far
        self.acked = 0
        #: releases of deliveries from an older connection, not acknowledged (redelivered)
        self.stale = 0

    @property
    def generation(self) -> int:
        """The current connection's generation (0 before the first)."""
        return self._generation

    @property
    def outstanding(self) -> int:
        """Deliveries of the current connection not acknowledged yet."""
        return len(self._queue)

    def new_connection(self) -> int:
        """A new connection: everything outstanding belongs to the old one (never acked; the
        broker redelivers it). Returns the new generation."""
        self._generation += 1
        self._queue.clear()
        return self._generation

    def received(self, mid: int, holders: int) -> tuple[Delivery, list[int]]:
        """A QoS 1 PUBLISH arrived on the current connection, routed to ``holders`` local
        subscriptions. Returns its delivery and the packet ids to acknowledge now (a delivery
        nobody holds is finished at once, in its turn)."""
        delivery = Delivery(self._generation, mid, holders)
        self._queue.append(delivery)
        return delivery, self._release_prefix()

    def release(self, delivery: Delivery) -> list[int]:
        """One holder handed ``delivery`` over (or dropped it). Returns the packet ids to
        acknowledge now, in order; none for a stale or already finished delivery (a stale one
        still counts down its holders, so :attr:`Delivery.holders` reaches 0 exactly once)."""
        if delivery.holders <= 0:
            return []
        delivery.holders -= 1
        if delivery.generation != self._generation:
            if delivery.holders == 0:
                self.stale += 1
            return []
        return self._release_prefix()

    def _release_prefix(self) -> list[int]:
        mids: list[int] = []
        queue = self._queue
        while queue and queue[0].holders <= 0:
            mids.append(queue.popleft().mid)
        self.acked += len(mids)
        return mids

    def __repr__(self) -> str:
        return f"<AckTracker generation={self._generation} outstanding={len(self._queue)}>"
