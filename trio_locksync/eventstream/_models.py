"""The values an event stream hands out: events and its statistics (its overflow policy is the
core's :class:`~trio_locksync.core.Overflow`)."""

from __future__ import annotations

from typing import Generic, TypeVar, final

import attrs

from ..core import Overflow

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
