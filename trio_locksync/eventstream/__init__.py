"""Websocket event streams held in SYNCING through the post-connect replay (seed 004)."""

from ._errors import EventStreamError as EventStreamError
from ._errors import EventStreamRejected as EventStreamRejected
from ._errors import FrameDecodeError as FrameDecodeError
from ._isy import ISY_ORIGIN as ISY_ORIGIN
from ._isy import ISY_SUBPROTOCOL as ISY_SUBPROTOCOL
from ._isy import IsyEvent as IsyEvent
from ._isy import decode_isy_event as decode_isy_event
from ._isy import isy_headers as isy_headers
from ._isy import isy_subscribe_url as isy_subscribe_url
from ._isy_stream import isy_heartbeat as isy_heartbeat
from ._isy_stream import open_isy_event_stream as open_isy_event_stream
from ._models import EventStreamStatistics as EventStreamStatistics
from ._models import Overflow as Overflow
from ._models import StreamEvent as StreamEvent
from ._status import EventStreamStatus as EventStreamStatus
from ._status import StatusChange as StatusChange
from ._stream import EventStream as EventStream
from ._stream import decode_text as decode_text
from ._stream import open_event_stream as open_event_stream
from ._stream import redact_url as redact_url

__all__ = [
    "ISY_ORIGIN",
    "ISY_SUBPROTOCOL",
    "EventStream",
    "EventStreamError",
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
