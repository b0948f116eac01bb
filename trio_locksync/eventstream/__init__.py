"""Websocket event streams held in SYNCING through the post-connect replay (seed 004).

:func:`open_event_stream` keeps one stream open for a block: it reconnects with backoff, keeps
the socket alive and says when the controller's replay is over (``SYNCING`` → ``CONNECTED``).
The ISY / IoX preset and decoder live in :mod:`trio_locksync.eventstream.isy`.
"""

from ..core import redact_url as redact_url
from ._errors import EventStreamError as EventStreamError
from ._errors import EventStreamRejected as EventStreamRejected
from ._errors import FrameDecodeError as FrameDecodeError
from ._models import EventStreamStatistics as EventStreamStatistics
from ._models import Overflow as Overflow
from ._models import StreamEvent as StreamEvent
from ._open import open_event_stream as open_event_stream
from ._options import EventStreamOptions as EventStreamOptions
from ._options import decode_text as decode_text
from ._status import EventStreamStatus as EventStreamStatus
from ._status import StatusChange as StatusChange
from ._stream import EventStream as EventStream
from .isy import ISY_ORIGIN as ISY_ORIGIN
from .isy import ISY_SUBPROTOCOL as ISY_SUBPROTOCOL
from .isy import IsyEvent as IsyEvent
from .isy import decode_isy_event as decode_isy_event
from .isy import isy_headers as isy_headers
from .isy import isy_heartbeat as isy_heartbeat
from .isy import isy_subscribe_url as isy_subscribe_url
from .isy import open_isy_event_stream as open_isy_event_stream

__all__ = [
    "ISY_ORIGIN",
    "ISY_SUBPROTOCOL",
    "EventStream",
    "EventStreamError",
    "EventStreamOptions",
    "EventStreamRejected",
    "EventStreamStatistics",
    "EventStreamStatus",
    "FrameDecodeError",
    "IsyEvent",
    "Overflow",
    "StatusChange",
    "StreamEvent",
    "decode_isy_event",
    "decode_text",
    "isy_headers",
    "isy_heartbeat",
    "isy_subscribe_url",
    "open_event_stream",
    "open_isy_event_stream",
    "redact_url",
]
