"""The ISY / IoX controller's event subscription: frames, handshake, and the stream preset.

:func:`open_isy_event_stream` is :func:`~trio_locksync.eventstream.open_event_stream` set up for
``/rest/subscribe``; :func:`decode_isy_event` decodes one frame into an :class:`IsyEvent`;
:func:`isy_subscribe_url` and :func:`isy_headers` build what the handshake needs. A simulated
controller for tests and demos is :mod:`trio_locksync.testing.isy`.
"""

from ._events import MAX_FRAME_CHARS as MAX_FRAME_CHARS
from ._events import IsyEvent as IsyEvent
from ._events import decode_isy_event as decode_isy_event
from ._handshake import ISY_ORIGIN as ISY_ORIGIN
from ._handshake import ISY_SUBPROTOCOL as ISY_SUBPROTOCOL
from ._handshake import ISY_SUBSCRIBE_PATH as ISY_SUBSCRIBE_PATH
from ._handshake import isy_headers as isy_headers
from ._handshake import isy_subscribe_url as isy_subscribe_url
from ._stream import isy_heartbeat as isy_heartbeat
from ._stream import open_isy_event_stream as open_isy_event_stream

__all__ = [
    "ISY_ORIGIN",
    "ISY_SUBPROTOCOL",
    "ISY_SUBSCRIBE_PATH",
    "MAX_FRAME_CHARS",
    "IsyEvent",
    "decode_isy_event",
    "isy_headers",
    "isy_heartbeat",
    "isy_subscribe_url",
    "open_isy_event_stream",
]
