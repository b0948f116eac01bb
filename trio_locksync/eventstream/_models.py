"""The values an event stream hands out: events, its overflow policy and its statistics."""

from __future__ import annotations

import enum
from typing import Generic, TypeVar, final

import attrs

__all__ = ["EventStreamStatistics", "Overflow", "StreamEvent"]

T = TypeVar("T")


@final
@attrs.frozen
class StreamEvent(Generic[T]):
    """One decoded frame.

    ``replayed`` is True for frames that arrived while the stream was ``SYNCING`` (the
    controller's post-connect replay of its state) and False once it is ``CONNECTED`` (live).
    ``received_at`` is the trio time the frame was read off the socket, not when the consumer
    got it. ``sequence`` counts the frames the stream accepted (1, 2, …, across reconnects); a
    gap in it means the buffer dropped events under its :class:`Overflow` policy.
    ``connection`` numbers the socket the frame came from (1 for the first).
    """

    data: T
    replayed: bool
    received_at: float
    sequence: int
    connection: int


class Overflow(enum.Enum):
    """What the event buffer does when a frame arrives and it is full.

    The socket is always read at once (a slow consumer must never stop the keepalive answering),
    so a full buffer has to drop something; every drop is counted in
    :attr:`EventStreamStatistics.dropped` and shows as a gap in :attr:`StreamEvent.sequence`.
    """

    #: drop the oldest buffered event: the consumer catches up on the latest state (default)
    DROP_OLDEST = "drop_oldest"
    #: drop the arriving event: the consumer sees an unbroken prefix, then a gap
    DROP_NEWEST = "drop_newest"


@final
@attrs.frozen(kw_only=True)
class EventStreamStatistics:
    """A snapshot of an event stream's counters (all since the block was entered)."""

    #: connection attempts started (socket opens tried)
    attempts: int
    #: sockets opened with a completed websocket handshake
    connections: int
    #: connections that got through SYNCING to CONNECTED
    synced: int
    #: frames read off the socket, good or bad
    frames: int
    #: frames the decoder refused (counted and logged without content, then skipped)
    bad_frames: int
    #: decoded frames delivered with ``replayed=True``
    replayed: int
    #: decoded frames delivered with ``replayed=False``
    live: int
    #: events dropped because the buffer was full
    dropped: int
    #: events waiting in the buffer now
    buffered: int
    #: heartbeats seen (frames for which the heartbeat function returned an interval)
    heartbeats: int
    #: connections dropped because a heartbeat was overdue
    heartbeat_timeouts: int
    #: keepalive pings answered in time
    pongs: int
    #: connections dropped because a keepalive ping got no pong in time
    ping_timeouts: int
