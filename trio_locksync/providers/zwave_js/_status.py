"""The Z-Wave JS client's status: an enum, its transition table, the change record."""

from __future__ import annotations

import enum
from collections.abc import Mapping
from typing import final

import attrs

__all__ = ["TRANSITIONS", "ZWaveJsStatus", "ZWaveJsStatusChange"]


class ZWaveJsStatus(enum.Enum):
    """Where the client's connection to the Z-Wave JS Server is.

    ``SYNCING``: the socket is open and the state dump is being applied — a replay, not news
    (zwave_js.md §1.2): nothing in it is a keypad event. ``CONNECTED``: the nodes are current
    and events are live.
    """

    #: the block was left (or not entered yet); terminal once left
    DISCONNECTED = "disconnected"
    #: opening the socket, the websocket handshake, ``version`` and ``initialize``
    CONNECTING = "connecting"
    #: ``start_listening`` sent: the dump is being applied
    SYNCING = "syncing"
    #: the nodes are current; events are live
    CONNECTED = "connected"
    #: waiting out a backoff delay before the next attempt
    RECONNECTING = "reconnecting"
    #: the server refused us for good (``schema_incompatible``); no more attempts
    REFUSED = "refused"

    def __str__(self) -> str:
        return self.name


_S = ZWaveJsStatus

#: Every allowed edge.
TRANSITIONS: Mapping[ZWaveJsStatus, frozenset[ZWaveJsStatus]] = {
    _S.DISCONNECTED: frozenset({_S.CONNECTING}),
    _S.CONNECTING: frozenset({_S.SYNCING, _S.RECONNECTING, _S.REFUSED, _S.DISCONNECTED}),
    _S.SYNCING: frozenset({_S.CONNECTED, _S.RECONNECTING, _S.REFUSED, _S.DISCONNECTED}),
    _S.CONNECTED: frozenset({_S.RECONNECTING, _S.DISCONNECTED}),
    _S.RECONNECTING: frozenset({_S.CONNECTING, _S.DISCONNECTED}),
    _S.REFUSED: frozenset({_S.DISCONNECTED}),
}


@final
@attrs.frozen
class ZWaveJsStatusChange:
    """One status change: ``previous`` → ``status`` at trio time ``at``, ``detail`` in words
    (never a code), ``connection`` numbering the socket (1 for the first)."""

    previous: ZWaveJsStatus
    status: ZWaveJsStatus
    at: float
    detail: str = ""
    connection: int = 0
