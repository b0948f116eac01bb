"""The options of an event stream: one ``TypedDict`` for callers, one validated record inside.

:class:`EventStreamOptions` is what ``**options`` of :func:`open_event_stream` and
:func:`open_isy_event_stream` accept (``Unpack``), so a type checker refuses ``quiet="fast"``.
:class:`StreamSettings` holds the defaults and checks every value before anything starts. The
three protocol parameters (``decode``, ``heartbeat``, ``subprotocols``) are not options: they
say how frames are read and are fixed by a preset such as the ISY one.
"""

from __future__ import annotations

import ssl
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, TypedDict, final

import attrs
import trio

from ..core import (
    RECONNECT_BACKOFF,
    Backoff,
    ReconnectOptions,
    check_finite_not_negative,
    check_headers,
    check_positive,
)
from ._errors import FrameDecodeError
from ._models import Overflow

__all__ = [
    "DEFAULT_BACKOFF",
    "EventStreamOptions",
    "Message",
    "Reauthenticator",
    "StreamSettings",
    "TransportOpener",
    "decode_text",
    "settings_from",
]

#: The reconnect delays when ``backoff`` is not given: the core's ``RECONNECT_BACKOFF`` (growing
#: jitter, 1 s up to 60 s, each delay 1.35 to 1.65 times the last), the storm benchmark's choice
#: (``benchmarks/storm_bench.py``, issue 13). The MQTT bridge uses the same.
DEFAULT_BACKOFF = RECONNECT_BACKOFF

#: What a decoder gets: a text frame as ``str``, a binary frame as ``bytes``.
Message = str | bytes
#: Opens the byte stream the websocket runs over (TCP/TLS by default; tests pass memory streams).
TransportOpener = Callable[[], Awaitable[trio.abc.Stream]]
#: Returns fresh handshake headers before the one retry after a 401/403 (e.g. a new token).
Reauthenticator = Callable[[], Awaitable[Sequence[tuple[str, str]]]]


def decode_text(message: Message) -> str:
    """The default decoder: text frames as they are; a binary frame is a bad frame."""
    if isinstance(message, bytes):
        raise FrameDecodeError("binary frame where text was expected")
    return message


@final
class EventStreamOptions(TypedDict, total=False):
    """Keyword options of :func:`open_event_stream` (all optional; defaults in brackets).

    See :func:`open_event_stream` for how they work together.
    """

    #: handshake headers, e.g. credentials; never logged [none]
    headers: Sequence[tuple[str, str]] | None
    #: returns fresh headers for the one retry after a 401/403 [none: retry as before]
    reauthenticate: Reauthenticator | None
    #: seconds without a frame that end SYNCING [1.0]
    quiet: float
    #: seconds after socket-open that end SYNCING even under constant traffic [10.0]
    cap: float
    #: seconds a heartbeat may be late before the connection is dropped [2.0]
    heartbeat_grace: float
    #: seconds between websocket pings; None: no pings [20.0]
    ping_interval: float | None
    #: seconds a ping may wait for its pong [20.0]
    ping_timeout: float
    #: reconnect delays [``RECONNECT_BACKOFF``: the first 1 to 3 s, each next one 1.35 to 1.65
    #: times the last, at most 60 s; chosen by the storm benchmark]
    backoff: Backoff | None
    #: seconds a connection must stay CONNECTED before the backoff delays start over; 0: at
    #: CONNECTED [10.0, chosen by the storm benchmark]
    stable_after: float
    #: TLS settings for a ``wss://`` URL [the system's default context]
    ssl_context: ssl.SSLContext | None
    #: events the buffer holds before ``overflow`` drops one [10,000]
    buffer_size: int
    #: which event a full buffer drops [``Overflow.DROP_OLDEST``]
    overflow: Overflow
    #: seconds to open the socket (TCP) [10.0]
    connect_timeout: float
    #: seconds the server may take to answer the handshake once the socket is open (TLS
    #: first, for ``wss``) [30.0: a server busy with a reconnect storm answers in turn]
    handshake_timeout: float
    #: seconds the websocket close may take when the block is left [2.0]
    close_timeout: float
    #: the largest frame accepted, in bytes [1 MiB]
    max_message_size: int
    #: opens the byte stream instead of TCP/TLS (tests pass an in-memory stream) [none]
    open_transport: TransportOpener | None


def _positive_or_none(
    instance: object, attribute: attrs.Attribute[Any], value: float | None
) -> None:
    if value is not None:
        check_positive(instance, attribute, value)


def _not_negative(instance: object, attribute: attrs.Attribute[float], value: float) -> None:
    if not value >= 0:
        raise ValueError(f"{attribute.name} must be >= 0, got {value!r}")


def _headers(value: Sequence[tuple[str, str]] | None) -> tuple[tuple[str, str], ...]:
    return () if value is None else tuple(check_headers(value))


def _backoff(value: Backoff | None) -> Backoff:
    return DEFAULT_BACKOFF if value is None else value


# The reconnect options (backoff, stable_after, connect_timeout, handshake_timeout) are declared
# as the core's ReconnectOptions declares them, with its validators, and read through
# ``reconnect``.
@attrs.frozen(kw_only=True)
class StreamSettings:
    """:class:`EventStreamOptions` with the defaults filled in, every value checked."""

    headers: tuple[tuple[str, str], ...] = attrs.field(default=None, converter=_headers)
    reauthenticate: Reauthenticator | None = None
    # quiet > 0: a connection must prove itself before the backoff resets.
    quiet: float = attrs.field(default=1.0, validator=check_positive)
    cap: float = attrs.field(default=10.0)
    heartbeat_grace: float = attrs.field(default=2.0, validator=_not_negative)
    ping_interval: float | None = attrs.field(default=20.0, validator=_positive_or_none)
    ping_timeout: float = attrs.field(default=20.0, validator=check_positive)
    backoff: Backoff = attrs.field(default=None, converter=_backoff)
    # The storm benchmark's choice (benchmarks/storm_bench.py), the MQTT bridge's too.
    stable_after: float = attrs.field(default=10.0, validator=check_finite_not_negative)
    ssl_context: ssl.SSLContext | None = None
    buffer_size: int = 10_000
    overflow: Overflow = Overflow.DROP_OLDEST
    connect_timeout: float = attrs.field(default=10.0, validator=check_positive)
    handshake_timeout: float = attrs.field(default=30.0, validator=check_positive)
    close_timeout: float = attrs.field(default=2.0, validator=check_finite_not_negative)
    max_message_size: int = 1 << 20
    open_transport: TransportOpener | None = None

    @property
    def reconnect(self) -> ReconnectOptions:
        """The options of the core's reconnect policy."""
        return ReconnectOptions(
            backoff=self.backoff,
            stable_after=self.stable_after,
            connect_timeout=self.connect_timeout,
            handshake_timeout=self.handshake_timeout,
        )

    @cap.validator
    def _check_cap(self, attribute: attrs.Attribute[float], value: float) -> None:
        if not value >= self.quiet:
            raise ValueError(f"cap ({value!r}) must be >= quiet ({self.quiet!r})")


def settings_from(options: EventStreamOptions) -> StreamSettings:
    """:class:`StreamSettings` from ``options``; an unknown name is a ``TypeError``, as for a
    misspelt keyword (a type checker says so first; this is for untyped callers)."""
    unknown = sorted(set(options) - EventStreamOptions.__optional_keys__)
    if unknown:
        raise TypeError(f"unexpected event stream options: {', '.join(unknown)}")
    return StreamSettings(**options)
