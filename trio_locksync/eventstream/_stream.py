"""A websocket event stream that reconnects, keeps itself alive and says when it is live.

:func:`open_event_stream` owns one connection loop in its nursery. Each socket gets its own
small nursery: trio-websocket's protocol reader, our reader (which drains every frame into our
own bounded buffer at once, so pings are answered however slow the consumer is), the
quiet-window promoter, the keepalive pinger and the heartbeat watchdog. When any of them sees
the connection die, that nursery is cancelled as a whole: a socket that drops before the replay
went quiet can never be promoted to ``CONNECTED``, because the promoter died with it.
"""

from __future__ import annotations

import copy
import enum
import logging
import math
import ssl
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from types import TracebackType
from typing import Any, Generic, TypeVar, cast, overload
from weakref import WeakSet

import attrs
import trio
import trio_websocket

from ..core import Backoff, QuietReason, QuietWindow, StateTable, open_service_nursery
from ._buffer import EventBuffer, EventIterator, StatusChangeIterator
from ._errors import EventStreamRejected, FrameDecodeError
from ._models import EventStreamStatistics, Overflow, StreamEvent
from ._status import TRANSITIONS, EventStreamStatus, StatusChange
from ._transport import ClosedDuringHandshake, EndWatch, leaves, where
from ._url import check_headers, merge_headers, parse_target, redact_url

__all__ = ["EventStream", "decode_text", "open_event_stream", "redact_url"]

logger = logging.getLogger("trio_locksync.eventstream")

T = TypeVar("T")
_S = EventStreamStatus

#: What a decoder gets: a text frame as ``str``, a binary frame as ``bytes``.
Message = str | bytes
#: Opens the byte stream the websocket runs over (TCP/TLS by default; tests pass memory streams).
TransportOpener = Callable[[], Awaitable[trio.abc.Stream]]
#: Returns fresh handshake headers before the one retry after a 401/403 (e.g. a new token).
Reauthenticator = Callable[[], Awaitable[Sequence[tuple[str, str]]]]

#: Handshake answers worth retrying with backoff; any other 4xx is final.
_RETRYABLE_4XX = frozenset({408, 425, 429})
_AUTH_CODES = frozenset({401, 403})


def decode_text(message: Message) -> str:
    """The default decoder: text frames as they are; a binary frame is a bad frame."""
    if isinstance(message, bytes):
        raise FrameDecodeError("binary frame where text was expected")
    return message


def _check_positive(name: str, value: float) -> None:
    if not (value > 0 and math.isfinite(value)):
        raise ValueError(f"{name} must be a positive number, got {value!r}")


class _Retry(enum.Enum):
    """How one attempt ended, as far as the connection loop is concerned."""

    BACKOFF = "backoff"
    AUTH = "auth"
    GIVE_UP = "give up"
    STOPPED = "stopped"


@attrs.define
class _Ended:
    retry: _Retry
    detail: str
    opened: bool = False
    synced: bool = False
    status_code: int | None = None
    cause: BaseException | None = None


class _Connection:
    """One open socket: its quiet window, liveness and the first reason it was lost."""

    __slots__ = ("heartbeat_scope", "lost", "number", "scope", "synced", "window", "ws")

    def __init__(
        self,
        number: int,
        ws: trio_websocket.WebSocketConnection,
        window: QuietWindow,
        scope: trio.CancelScope,
    ) -> None:
        self.number = number
        self.ws = ws
        self.window = window
        self.scope = scope
        self.synced = False
        self.lost: str | None = None
        # Moved forward by each heartbeat; infinite until the server announces one.
        self.heartbeat_scope = trio.CancelScope()

    def lose(self, detail: str) -> None:
        # Synchronous: from here on nothing can promote this connection.
        if self.lost is None:
            self.lost = detail
        self.scope.cancel()


class EventStream(Generic[T]):
    """A live websocket event stream; get one from :func:`open_event_stream`.

    Read :attr:`status` for where the connection is, iterate :meth:`status_changes` to follow
    it, and :meth:`events` for the decoded frames. All methods are called from the trio thread
    the stream was opened in.
    """

    def __init__(
        self,
        url: str,
        *,
        decode: Callable[[Message], T],
        heartbeat: Callable[[T], float | None] | None,
        subprotocols: Sequence[str],
        headers: Sequence[tuple[str, str]],
        reauthenticate: Reauthenticator | None,
        quiet: float,
        cap: float,
        heartbeat_grace: float,
        ping_interval: float | None,
        ping_timeout: float,
        backoff: Backoff,
        ssl_context: ssl.SSLContext | None,
        buffer_size: int,
        overflow: Overflow,
        connect_timeout: float,
        close_timeout: float,
        max_message_size: int,
        open_transport: TransportOpener | None,
    ) -> None:
        self._target = parse_target(url)
        if ssl_context is not None and not self._target.tls:
            raise ValueError("ssl_context given for a ws:// URL; use wss:// for TLS")
        # quiet > 0: a connection must prove itself before the backoff resets (see _run).
        _check_positive("quiet", quiet)
        if not cap >= quiet:
            raise ValueError(f"cap ({cap!r}) must be >= quiet ({quiet!r})")
        if not heartbeat_grace >= 0:
            raise ValueError(f"heartbeat_grace must be >= 0, got {heartbeat_grace!r}")
        if ping_interval is not None:
            _check_positive("ping_interval", ping_interval)
        _check_positive("ping_timeout", ping_timeout)
        _check_positive("connect_timeout", connect_timeout)
        if not (close_timeout >= 0 and math.isfinite(close_timeout)):
            raise ValueError(f"close_timeout must be a finite number >= 0, got {close_timeout!r}")
        self.url = redact_url(url)
        self._decode = decode
        self._heartbeat = heartbeat
        self._subprotocols = list(subprotocols)
        self._headers = check_headers(headers)
        self._reauthenticate = reauthenticate
        self._quiet = quiet
        self._cap = cap
        self._heartbeat_grace = heartbeat_grace
        self._ping_interval = ping_interval
        self._ping_timeout = ping_timeout
        self._backoff = backoff
        self._ssl_context = ssl_context
        self._connect_timeout = connect_timeout
        self._close_timeout = close_timeout
        self._max_message_size = max_message_size
        self._open_transport = open_transport or self._open_tcp
        self._buffer: EventBuffer[StreamEvent[T]] = EventBuffer(buffer_size, overflow)
        self._status = StateTable("EventStream", _S.NOT_STARTED, TRANSITIONS)
        self._watchers: WeakSet[StatusChangeIterator] = WeakSet()
        self._status_event = trio.Event()
        self._connection_count = 0
        self._sequence = 0
        self._stopping = False
        self._work_scope: trio.CancelScope | None = None
        self._failure: EventStreamRejected | None = None
        self._counts = dict.fromkeys(
            (
                "attempts",
                "synced",
                "frames",
                "bad_frames",
                "replayed",
                "live",
                "heartbeats",
                "heartbeat_timeouts",
                "pongs",
                "ping_timeouts",
            ),
            0,
        )

    def __repr__(self) -> str:
        return f"<EventStream {self.url} {self.status}>"

    # ------------------------------------------------------------------ public

    @property
    def status(self) -> EventStreamStatus:
        """The connection's status now."""
        return self._status.current

    @property
    def failure(self) -> EventStreamRejected | None:
        """Why the stream stopped reconnecting, once it is ``RECONNECT_FAILED``; else None."""
        return self._failure

    def status_changes(self) -> AsyncIterator[StatusChange]:
        """Iterate every status change from now on (not the current status: read ``status``).

        Each iterator has its own backlog, so a slow reader misses nothing (up to 1,000
        unread changes, then the oldest go). It ends after ``DISCONNECTED``.
        """
        watcher = StatusChangeIterator(self._status.current is _S.DISCONNECTED)
        self._watchers.add(watcher)
        return watcher

    def events(self) -> AsyncIterator[StreamEvent[T]]:
        """Iterate the decoded events, from the first frame of the first connection on.

        Events wait in one bounded buffer from the moment the block is entered, so nothing is
        lost before you start iterating (within the buffer's size and :class:`Overflow`
        policy). Several iterators share the buffer: each event goes to one of them. Breaking
        out and iterating again continues where you left off. Iteration ends once the block has
        been left and the buffer drained; if the server refused the stream for good it raises
        :class:`EventStreamRejected` instead, after the buffered events.
        """
        return EventIterator(self._buffer)

    async def receive(self) -> StreamEvent[T]:
        """The next event (what :meth:`events` yields); raises ``trio.EndOfChannel`` at the end."""
        try:
            return await self._buffer.get()
        except StopAsyncIteration:
            raise trio.EndOfChannel from None

    async def wait_status(self, *statuses: EventStreamStatus) -> EventStreamStatus:
        """Wait until the status is one of ``statuses`` (returns at once if it already is).

        Raises :class:`EventStreamRejected` if the stream stops reconnecting first, and
        ``trio.ClosedResourceError`` if the block is left first: it never waits for a status
        that can no longer come.
        """
        if not statuses:
            raise ValueError("wait_status() needs at least one status")
        while self._status.current not in statuses:
            if self._status.current is _S.RECONNECT_FAILED and self._failure is not None:
                raise self._fresh_failure()
            if self._status.current is _S.DISCONNECTED:
                raise trio.ClosedResourceError(
                    f"event stream {self.url} is disconnected; it will never be "
                    + " or ".join(s.name for s in statuses)
                )
            await self._status_event.wait()
        await trio.lowlevel.checkpoint()
        return self._status.current

    def statistics(self) -> EventStreamStatistics:
        """A snapshot of the stream's counters."""
        return EventStreamStatistics(
            connections=self._connection_count,
            dropped=self._buffer.dropped,
            buffered=len(self._buffer),
            **self._counts,
        )

    # ----------------------------------------------------------- status moves

    def _move(self, new: EventStreamStatus, detail: str = "") -> None:
        if new is self._status.current:
            return
        previous = self._status.advance(new)
        change = StatusChange(
            previous=previous,
            status=new,
            at=trio.current_time(),
            detail=detail,
            connection=self._connection_count,
        )
        level = logging.WARNING if new is _S.RECONNECT_FAILED else logging.DEBUG
        if new is _S.LOST_CONNECTION:
            level = logging.INFO
        logger.log(
            level,
            "event stream %s: %s -> %s%s",
            self.url,
            previous.name,
            new.name,
            f" ({detail})" if detail else "",
        )
        for watcher in list(self._watchers):
            watcher.push(change)
        self._status_event.set()
        self._status_event = trio.Event()

    # ------------------------------------------------------------ the loop

    def _stop(self) -> None:
        """Leave the loop: cancel whatever it is waiting on; the open socket is closed politely."""
        self._stopping = True
        if self._work_scope is not None:
            self._work_scope.cancel()

    def _stopped(self) -> bool:
        # A method, not the attribute: type checkers narrow attributes across awaits.
        return self._stopping

    def _finish(self) -> None:
        self._stopping = True
        if self._status.current is not _S.DISCONNECTED:
            self._move(_S.DISCONNECTED, "block exited")
        self._buffer.end(None if self._failure is None else self._fresh_failure)

    def _interruptible(self) -> _Interruptible:
        """A scope that :meth:`_stop` cancels (cancelled at once if stopping already)."""
        return _Interruptible(self)

    async def _run(self) -> None:
        delays = self._backoff.delays()
        headers = self._headers
        auth_retried = False
        while not self._stopping:
            self._move(_S.CONNECTING)
            ended = await self._attempt(headers)
            if ended.opened:
                auth_retried = False
            if ended.synced:
                # Reset only once the connection proved itself: a server that accepts and then
                # drops (before the replay even ends) must not get us into a tight loop.
                delays = self._backoff.delays()
            if ended.retry == _Retry.STOPPED or self._stopping:
                return
            if ended.retry == _Retry.AUTH and not auth_retried:
                auth_retried = True
                logger.info(
                    "event stream %s: handshake refused (%s); one retry with fresh credentials",
                    self.url,
                    ended.detail,
                )
                if self._reauthenticate is not None:
                    fresh = await self._refresh_headers()
                    if self._stopped():
                        return
                    if fresh is None:
                        # The credential source failed (maybe a blip at the token endpoint):
                        # wait a backoff delay; the next refusal gets a fresh retry again.
                        auth_retried = False
                        await self._wait_to_reconnect(next(delays), "reauthentication failed")
                        continue
                    # Fresh headers replace same-named ones only (an ISY Origin stays).
                    headers = merge_headers(self._headers, fresh)
                continue
            if ended.retry in (_Retry.GIVE_UP, _Retry.AUTH):
                self._fail(ended)
                return
            if self._status.current in (_S.SYNCING, _S.CONNECTED):
                self._move(_S.LOST_CONNECTION, ended.detail)
            await self._wait_to_reconnect(next(delays), ended.detail)

    async def _wait_to_reconnect(self, delay: float, why: str) -> None:
        self._move(_S.RECONNECTING, f"{why}; retry in {delay:.2f} s")
        with self._interruptible():
            await trio.sleep(delay)

    async def _refresh_headers(self) -> list[tuple[str, str]] | None:
        """``reauthenticate()``'s headers, validated; None if it failed (logged by type only:
        its message may hold a credential)."""
        assert self._reauthenticate is not None
        with self._interruptible():
            try:
                return check_headers(list(await self._reauthenticate()))
            except Exception as exc:
                logger.warning(
                    "event stream %s: reauthenticate failed (%s at %s)",
                    self.url,
                    type(exc).__name__,
                    where(exc),
                )
        return None

    def _fail(self, ended: _Ended) -> None:
        failure = EventStreamRejected(self.url, ended.detail, status_code=ended.status_code)
        failure.__cause__ = ended.cause
        self._failure = failure
        self._move(_S.RECONNECT_FAILED, ended.detail)
        self._buffer.end(self._fresh_failure)

    def _fresh_failure(self) -> EventStreamRejected:
        # A new instance per raise: one shared instance would grow its traceback each time.
        assert self._failure is not None
        failure = copy.copy(self._failure)
        failure.__cause__ = self._failure.__cause__
        return failure

    async def _open_tcp(self) -> trio.abc.Stream:
        target = self._target
        if not target.tls:
            return await trio.open_tcp_stream(target.host, target.port)
        if self._ssl_context is None:
            self._ssl_context = ssl.create_default_context()
        return await trio.open_ssl_over_tcp_stream(
            target.host, target.port, ssl_context=self._ssl_context, https_compatible=True
        )

    async def _attempt(self, headers: list[tuple[str, str]]) -> _Ended:
        """One socket: open, handshake, serve until lost or stopped, close. Never raises
        ``Exception``; says how it ended."""
        self._counts["attempts"] += 1
        transport: trio.abc.Stream | None = None
        try:
            async with open_service_nursery() as ws_nursery:
                ws: trio_websocket.WebSocketConnection | None = None
                try:
                    with self._interruptible():
                        with trio.fail_after(self._connect_timeout):
                            transport = await self._open_transport()
                            ws = await self._handshake(ws_nursery, transport, headers)
                        return await self._serve(ws)
                    return _Ended(_Retry.STOPPED, "stopped", opened=ws is not None)
                finally:
                    if ws is not None and self._stopping:
                        # Leaving the block: say goodbye properly while trio-websocket's reader
                        # (in ws_nursery, not cancelled by _stop) can still read the reply.
                        with trio.move_on_after(self._close_timeout):
                            await ws.aclose()
                    ws_nursery.cancel_scope.cancel()
        except BaseExceptionGroup as group:
            # Two tasks failed at once (say the handshake saw the socket end while
            # trio-websocket's reader raised the refusal): judge by the most telling one.
            if group.split(Exception)[1] is not None:
                raise
            errors = list(leaves(group))
            rejected = [e for e in errors if isinstance(e, trio_websocket.ConnectionRejected)]
            return self._classify((rejected or errors)[0])
        except Exception as exc:
            return self._classify(exc)
        finally:
            if transport is not None:
                await trio.aclose_forcefully(transport)

    async def _handshake(
        self,
        nursery: trio.Nursery,
        transport: trio.abc.Stream,
        headers: list[tuple[str, str]],
    ) -> trio_websocket.WebSocketConnection:
        if isinstance(transport, trio.SSLStream):
            # Up front, so a certificate error is seen as one (inside trio-websocket's reader
            # it would only end the stream).
            await transport.do_handshake()
        watched = EndWatch(transport)
        with trio.CancelScope() as scope:
            # trio-websocket waits for the 101 until the end of time if the socket closes
            # first; the watch cancels that wait instead.
            watched.on_end = scope.cancel
            return await trio_websocket.wrap_client_stream(
                nursery,
                cast(trio.SocketStream, watched),
                self._target.host_header,
                self._target.resource,
                subprotocols=self._subprotocols,
                extra_headers=[(k.encode("latin-1"), v.encode("latin-1")) for k, v in headers],
                max_message_size=self._max_message_size,
            )
        raise ClosedDuringHandshake

    def _classify(self, exc: BaseException) -> _Ended:
        """How a failed attempt ends: retried with backoff, an auth retry, or final."""
        if isinstance(exc, trio.TooSlowError):
            return _Ended(_Retry.BACKOFF, f"no handshake within {self._connect_timeout:g} s")
        if isinstance(exc, ClosedDuringHandshake):
            return _Ended(_Retry.BACKOFF, "connection closed during the handshake")
        if isinstance(exc, trio_websocket.ConnectionRejected):
            return self._rejected(exc)
        certificate = exc if isinstance(exc, ssl.SSLError) else exc.__cause__
        if isinstance(certificate, ssl.SSLCertVerificationError):
            return _Ended(_Retry.GIVE_UP, "TLS certificate not accepted", cause=certificate)
        if isinstance(exc, OSError):
            return _Ended(_Retry.BACKOFF, f"cannot connect: {exc.strerror or type(exc).__name__}")
        if isinstance(
            exc,
            trio_websocket.HandshakeError
            | trio_websocket.ConnectionClosed
            | trio.BrokenResourceError
            | trio.ClosedResourceError,
        ):
            return _Ended(_Retry.BACKOFF, f"handshake failed: {type(exc).__name__}")
        # A bug somewhere (ours, a transport's, a decoder's): keep going, but say where. Not
        # the message: it can quote a header (h11 does) and so a credential.
        logger.error(
            "event stream %s: unexpected %s at %s; reconnecting",
            self.url,
            type(exc).__name__,
            where(exc),
        )
        return _Ended(_Retry.BACKOFF, f"unexpected error: {type(exc).__name__}")

    def _rejected(self, exc: trio_websocket.ConnectionRejected) -> _Ended:
        code = exc.status_code
        detail = f"handshake refused with HTTP {code}"
        if code in _AUTH_CODES:
            return _Ended(_Retry.AUTH, detail, status_code=code, cause=exc)
        if 400 <= code < 500 and code not in _RETRYABLE_4XX:
            return _Ended(_Retry.GIVE_UP, detail, status_code=code, cause=exc)
        # 5xx, 408/425/429, and 2xx/3xx from a proxy or a restarting controller's web page
        return _Ended(_Retry.BACKOFF, detail, status_code=code)

    async def _serve(self, ws: trio_websocket.WebSocketConnection) -> _Ended:
        self._connection_count += 1
        number = self._connection_count
        async with trio.open_nursery() as nursery:
            connection = _Connection(
                number, ws, QuietWindow(quiet=self._quiet, cap=self._cap), nursery.cancel_scope
            )
            self._move(_S.SYNCING, f"socket open (connection {number})")
            nursery.start_soon(self._promote_when_quiet, connection)
            nursery.start_soon(self._watch_heartbeats, connection)
            if self._ping_interval is not None:
                nursery.start_soon(self._keepalive, connection, self._ping_interval)
            nursery.start_soon(self._read, connection)
        # Only lose() cancels this nursery; the stop scope is outside it.
        assert connection.lost is not None
        return _Ended(_Retry.BACKOFF, connection.lost, opened=True, synced=connection.synced)

    async def _read(self, connection: _Connection) -> None:
        try:
            while True:
                message = await connection.ws.get_message()
                self._on_frame(connection, message)
        except trio_websocket.ConnectionClosed as exc:
            reason = exc.reason
            if reason is None:
                connection.lose("connection closed")
            else:
                connection.lose(f"closed by server ({reason.code} {reason.name})")

    def _on_frame(self, connection: _Connection, message: Message) -> None:
        """Handle one frame synchronously, so flags and order match arrival exactly."""
        counts = self._counts
        counts["frames"] += 1
        now = trio.current_time()
        if not connection.synced:
            reason = connection.window.reason()
            if reason is None:
                connection.window.touch(self._quiet)
            else:
                # The window ended before the promoter task got to run: promote here, so a
                # frame after the window is never flagged as replayed.
                self._promote(connection, reason)
        try:
            data = self._decode(message)
        except Exception as exc:
            counts["bad_frames"] += 1
            logger.warning(
                "event stream %s: bad frame #%d skipped (%s%s)",
                self.url,
                counts["frames"],
                type(exc).__name__,
                f": {exc}" if isinstance(exc, FrameDecodeError) else "",
            )
            return
        if self._heartbeat is not None:
            self._on_heartbeat(connection, data, now)
        replayed = not connection.synced
        counts["replayed" if replayed else "live"] += 1
        self._sequence += 1
        self._buffer.put(
            StreamEvent(
                data=data,
                replayed=replayed,
                received_at=now,
                sequence=self._sequence,
                connection=connection.number,
            )
        )

    def _on_heartbeat(self, connection: _Connection, data: T, now: float) -> None:
        assert self._heartbeat is not None
        try:
            interval = self._heartbeat(data)
        except Exception:
            logger.exception("event stream %s: heartbeat function raised", self.url)
            return
        if interval is None or not (interval > 0 and math.isfinite(interval)):
            return
        self._counts["heartbeats"] += 1
        connection.heartbeat_scope.deadline = now + interval + self._heartbeat_grace

    def _promote(self, connection: _Connection, reason: QuietReason) -> None:
        if connection.synced or connection.lost is not None:
            return
        connection.synced = True
        self._counts["synced"] += 1
        if reason is QuietReason.CAPPED:
            detail = f"replay still going after the {self._cap:g} s cap"
        else:
            detail = f"quiet for {self._quiet:g} s"
        self._move(_S.CONNECTED, detail)

    async def _promote_when_quiet(self, connection: _Connection) -> None:
        reason = await connection.window.wait()
        self._promote(connection, reason)

    async def _watch_heartbeats(self, connection: _Connection) -> None:
        with connection.heartbeat_scope:
            await trio.sleep_forever()
        if connection.heartbeat_scope.cancelled_caught:
            self._counts["heartbeat_timeouts"] += 1
            connection.lose("heartbeat missed")

    async def _keepalive(self, connection: _Connection, interval: float) -> None:
        while True:
            await trio.sleep(interval)
            with trio.move_on_after(self._ping_timeout) as scope:
                try:
                    await connection.ws.ping()
                except trio_websocket.ConnectionClosed:
                    return  # the reader reports the closure
            if scope.cancelled_caught:
                self._counts["ping_timeouts"] += 1
                connection.lose(f"no pong within {self._ping_timeout:g} s")
                return
            self._counts["pongs"] += 1


class _Interruptible:
    """``with stream._interruptible():`` a cancel scope registered as the stream's current work,
    so :meth:`EventStream._stop` can cancel it. Swallows its own cancellation, like any scope."""

    __slots__ = ("_scope", "_stream")

    def __init__(self, stream: EventStream[Any]) -> None:
        self._stream = stream
        self._scope = trio.CancelScope()

    def __enter__(self) -> trio.CancelScope:
        scope = self._scope.__enter__()
        if self._stream._stopping:
            scope.cancel()
        self._stream._work_scope = scope
        return scope

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> bool:
        self._stream._work_scope = None
        return self._scope.__exit__(exc_type, exc, traceback)


@overload
def open_event_stream(
    url: str,
    *,
    decode: None = None,
    heartbeat: Callable[[str], float | None] | None = None,
    subprotocols: Sequence[str] = (),
    headers: Sequence[tuple[str, str]] | None = None,
    reauthenticate: Reauthenticator | None = None,
    quiet: float = 1.0,
    cap: float = 10.0,
    heartbeat_grace: float = 2.0,
    ping_interval: float | None = 20.0,
    ping_timeout: float = 20.0,
    backoff: Backoff | None = None,
    ssl_context: ssl.SSLContext | None = None,
    buffer_size: int = 10_000,
    overflow: Overflow = Overflow.DROP_OLDEST,
    connect_timeout: float = 10.0,
    close_timeout: float = 2.0,
    max_message_size: int = 1 << 20,
    open_transport: TransportOpener | None = None,
) -> AbstractAsyncContextManager[EventStream[str]]: ...


@overload
def open_event_stream(
    url: str,
    *,
    decode: Callable[[Message], T],
    heartbeat: Callable[[T], float | None] | None = None,
    subprotocols: Sequence[str] = (),
    headers: Sequence[tuple[str, str]] | None = None,
    reauthenticate: Reauthenticator | None = None,
    quiet: float = 1.0,
    cap: float = 10.0,
    heartbeat_grace: float = 2.0,
    ping_interval: float | None = 20.0,
    ping_timeout: float = 20.0,
    backoff: Backoff | None = None,
    ssl_context: ssl.SSLContext | None = None,
    buffer_size: int = 10_000,
    overflow: Overflow = Overflow.DROP_OLDEST,
    connect_timeout: float = 10.0,
    close_timeout: float = 2.0,
    max_message_size: int = 1 << 20,
    open_transport: TransportOpener | None = None,
) -> AbstractAsyncContextManager[EventStream[T]]: ...


def open_event_stream(
    url: str,
    *,
    decode: Callable[[Message], Any] | None = None,
    heartbeat: Callable[[Any], float | None] | None = None,
    subprotocols: Sequence[str] = (),
    headers: Sequence[tuple[str, str]] | None = None,
    reauthenticate: Reauthenticator | None = None,
    quiet: float = 1.0,
    cap: float = 10.0,
    heartbeat_grace: float = 2.0,
    ping_interval: float | None = 20.0,
    ping_timeout: float = 20.0,
    backoff: Backoff | None = None,
    ssl_context: ssl.SSLContext | None = None,
    buffer_size: int = 10_000,
    overflow: Overflow = Overflow.DROP_OLDEST,
    connect_timeout: float = 10.0,
    close_timeout: float = 2.0,
    max_message_size: int = 1 << 20,
    open_transport: TransportOpener | None = None,
) -> AbstractAsyncContextManager[EventStream[Any]]:
    """Keep a websocket event stream open for the duration of the block.

    ``async with open_event_stream(url) as stream:`` starts connecting in the background; leaving
    the block closes the socket (with a websocket close, within ``close_timeout``; at once and
    without one when cancelled from outside) and ends the iterators.

    * ``decode(message)`` turns a frame (``str`` text, ``bytes`` binary) into the event's
      ``data``; whatever it raises makes the frame a *bad frame*: counted, logged without its
      content, skipped. The default passes text through and refuses binary frames.
    * After every socket-open the stream is ``SYNCING`` until no frame has arrived for ``quiet``
      seconds, at most ``cap`` seconds; frames meanwhile are ``replayed=True``. Then it is
      ``CONNECTED`` and frames are live. A socket lost before that is never ``CONNECTED``.
    * ``heartbeat(data)`` returns the seconds until the server's next heartbeat when ``data`` is
      a heartbeat announcement (None otherwise); if none follows within that plus
      ``heartbeat_grace`` the connection is dropped and re-opened. Websocket pings every
      ``ping_interval`` seconds (None: off) must be answered within ``ping_timeout``.
    * Reconnects wait ``backoff`` delays (default ``Backoff()``: full jitter, 1 s doubling to
      60 s), reset only after a connection reached ``CONNECTED``. Refused, reset, timed-out and
      5xx (and 2xx/3xx) handshakes retry. A 401/403 gets one immediate retry (with the headers
      ``reauthenticate()`` returns, if given, replacing same-named ones); a second one in a row,
      any other 4xx, or an untrusted TLS certificate stops the stream in ``RECONNECT_FAILED`` and
      :meth:`EventStream.events` raises :class:`EventStreamRejected` once drained. The block
      itself is not interrupted.
    * ``headers`` carry credentials (a URL with ``user:password@`` is refused); they never
      appear in logs, reprs or errors.
    * Events wait in a buffer of ``buffer_size`` from the start; when full, ``overflow`` decides
      which one is dropped (counted, and visible as a gap in ``sequence``).
    * ``open_transport()`` replaces the TCP/TLS connect (tests pass an in-memory stream).
    """
    stream: EventStream[Any] = EventStream(
        url,
        decode=decode_text if decode is None else decode,
        heartbeat=heartbeat,
        subprotocols=subprotocols,
        headers=() if headers is None else headers,
        reauthenticate=reauthenticate,
        quiet=quiet,
        cap=cap,
        heartbeat_grace=heartbeat_grace,
        ping_interval=ping_interval,
        ping_timeout=ping_timeout,
        backoff=Backoff() if backoff is None else backoff,
        ssl_context=ssl_context,
        buffer_size=buffer_size,
        overflow=overflow,
        connect_timeout=connect_timeout,
        close_timeout=close_timeout,
        max_message_size=max_message_size,
        open_transport=open_transport,
    )
    return _run_stream(stream)


@asynccontextmanager
async def _run_stream(stream: EventStream[T]) -> AsyncIterator[EventStream[T]]:
    try:
        async with open_service_nursery() as nursery:
            nursery.start_soon(stream._run)
            try:
                yield stream
            finally:
                stream._stop()
    finally:
        stream._finish()
