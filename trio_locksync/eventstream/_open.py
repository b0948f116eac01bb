"""``open_event_stream``: the async context manager that owns an :class:`EventStream`'s loop."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any, TypeVar, Unpack, overload

from ..core import open_service_nursery, require_trio
from ._options import EventStreamOptions, Message, decode_text, settings_from
from ._stream import EventStream

__all__ = ["open_event_stream"]

T = TypeVar("T")


# Both overloads take the options as one TypedDict, so ``quiet="fast"`` is a type error; only
# the protocol parameters that fix the event type (``decode``/``heartbeat``) differ.
@overload
def open_event_stream(
    url: str,
    *,
    decode: None = None,
    heartbeat: Callable[[str], float | None] | None = None,
    subprotocols: Sequence[str] = (),
    **options: Unpack[EventStreamOptions],
) -> AbstractAsyncContextManager[EventStream[str]]: ...


@overload
def open_event_stream(
    url: str,
    *,
    decode: Callable[[Message], T],
    heartbeat: Callable[[T], float | None] | None = None,
    subprotocols: Sequence[str] = (),
    **options: Unpack[EventStreamOptions],
) -> AbstractAsyncContextManager[EventStream[T]]: ...


def open_event_stream(
    url: str,
    *,
    decode: Callable[[Message], Any] | None = None,
    heartbeat: Callable[[Any], float | None] | None = None,
    subprotocols: Sequence[str] = (),
    **options: Unpack[EventStreamOptions],
) -> AbstractAsyncContextManager[EventStream[Any]]:
    """Keep a websocket event stream open for the duration of the block.

    ``async with open_event_stream(url) as stream:`` starts connecting in the background; leaving
    the block closes the socket (with a websocket close, within ``close_timeout``; at once and
    without one when cancelled from outside) and ends the iterators. Every option is checked
    here, before anything starts (``ValueError``); see :class:`EventStreamOptions` for the
    defaults. Entering the block outside a trio run (under asyncio) raises
    :class:`~trio_locksync.TrioRequiredError`.

    * ``decode(message)`` turns a frame (``str`` text, ``bytes`` binary) into the event's
      ``data``; whatever it raises makes the frame a *bad frame*: counted, logged without its
      content, skipped. The default passes text through and refuses binary frames.
      ``subprotocols`` are offered in the handshake.
    * After every socket-open the stream is ``SYNCING`` until no frame has arrived for ``quiet``
      seconds, at most ``cap`` seconds; frames meanwhile are ``replayed=True``. Then it is
      ``CONNECTED`` and frames are live. A socket lost before that is never ``CONNECTED``.
    * ``heartbeat(data)`` returns the seconds until the server's next heartbeat when ``data`` is
      a heartbeat announcement (None otherwise); if none follows within that plus
      ``heartbeat_grace`` the connection is dropped and re-opened. Websocket pings every
      ``ping_interval`` seconds (None: off) must be answered within ``ping_timeout``.
    * Reconnects wait ``backoff`` delays (default ``RECONNECT_BACKOFF``: the first 1 to 3 s,
      each next one 1.35 to 1.65 times the last, at most 60 s), which start over only
      after a connection stayed ``CONNECTED`` for ``stable_after`` seconds (default 10; 0: at
      ``CONNECTED``), so a server that replays, goes quiet and drops gets growing delays, not a
      reconnect every ``quiet`` + 1 s, as the MQTT bridge does. Both defaults come from the
      storm benchmark (``benchmarks/storm_bench.py``). Refused, reset, timed-out and 5xx
      (and 2xx/3xx) handshakes retry. A 401/403 gets one immediate retry (with the headers
      ``reauthenticate()`` returns, if given, replacing same-named ones); a second one in a row,
      any other 4xx, or an untrusted TLS certificate stops the stream in ``RECONNECT_FAILED`` and
      iterating the stream raises :class:`EventStreamRejected` once drained. The block
      itself is not interrupted.
    * ``headers`` carry credentials (a URL with ``user:password@`` is refused); they never
      appear in logs, reprs or errors.
    * Events wait in a buffer of ``buffer_size`` from the start; when full, ``overflow`` decides
      which one is dropped (counted, and visible as a gap in ``sequence``).
    * ``open_transport()`` replaces the TCP/TLS connect (tests pass an in-memory stream).
    """
    stream: EventStream[Any] = EventStream._create(
        url,
        decode=decode_text if decode is None else decode,
        heartbeat=heartbeat,
        subprotocols=subprotocols,
        settings=settings_from(options),
    )
    return _run_stream(stream)


@asynccontextmanager
async def _run_stream(stream: EventStream[T]) -> AsyncIterator[EventStream[T]]:
    require_trio("open_event_stream()")
    try:
        async with open_service_nursery() as nursery:
            nursery.start_soon(stream._run)
            try:
                yield stream
            finally:
                stream._stop()
    finally:
        stream._finish()
