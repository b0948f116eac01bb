"""The stream's connection status: an enum, its transition table, and the change record."""

from __future__ import annotations

import enum
from collections.abc import Mapping
from typing import final

import attrs

__all__ = ["TRANSITIONS", "EventStreamStatus", "StatusChange"]


class EventStreamStatus(enum.Enum):
    """Where an event stream's connection is.

    ``SYNCING`` is the one that matters: the socket is open and the controller is replaying its
    state. Events arrive (flagged ``replayed=True``) but nothing "live" has happened yet.
    """

    #: the block has been entered, no attempt yet
    NOT_STARTED = "not_started"
    #: opening the socket and doing the websocket handshake
    CONNECTING = "connecting"
    #: socket open; replay in progress until no frame arrives for ``quiet`` seconds (or ``cap``)
    SYNCING = "syncing"
    #: replay over; events are live
    CONNECTED = "connected"
    #: an open connection was lost (closed, reset, heartbeat or ping missed)
    LOST_CONNECTION = "lost_connection"
    #: waiting out a backoff delay before the next attempt
    RECONNECTING = "reconnecting"
    #: the server refused for good (4xx after one auth retry, bad certificate); no more attempts
    RECONNECT_FAILED = "reconnect_failed"
    #: the block was left; terminal
    DISCONNECTED = "disconnected"

    def __str__(self) -> str:
        return self.name


_S = EventStreamStatus

#: Every allowed edge; anything else raises :class:`~trio_locksync.InvalidTransition`.
TRANSITIONS: Mapping[EventStreamStatus, frozenset[EventStreamStatus]] = {
    _S.NOT_STARTED: frozenset({_S.CONNECTING, _S.DISCONNECTED}),
    _S.CONNECTING: frozenset({_S.SYNCING, _S.RECONNECTING, _S.RECONNECT_FAILED, _S.DISCONNECTED}),
    _S.SYNCING: frozenset({_S.CONNECTED, _S.LOST_CONNECTION, _S.DISCONNECTED}),
    _S.CONNECTED: frozenset({_S.LOST_CONNECTION, _S.DISCONNECTED}),
    _S.LOST_CONNECTION: frozenset({_S.RECONNECTING, _S.DISCONNECTED}),
    _S.RECONNECTING: frozenset({_S.CONNECTING, _S.DISCONNECTED}),
    _S.RECONNECT_FAILED: frozenset({_S.DISCONNECTED}),
}


@final
@attrs.frozen
class StatusChange:
    """One real status change: ``previous`` → ``status`` at trio time ``at``.

    ``detail`` says why in words fit for a log ("heartbeat missed", "server closed (1006)",
    "quiet for 1.0 s") and never carries credentials. ``connection`` numbers the socket the
    change belongs to (1 for the first socket opened, 0 before any).
    """

    previous: EventStreamStatus
    status: EventStreamStatus
    at: float
    detail: str = ""
    connection: int = 0
