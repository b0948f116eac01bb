"""The event stream: its public face, its status, and the loop that reconnects.

:func:`open_event_stream` runs :meth:`EventStream._run` in a service nursery. Each pass of the
loop is one attempt: open the transport, do the websocket handshake (trio-websocket's protocol
reader lives in a nursery of the attempt), then let a :class:`Connection` serve the socket until
it is lost. How the attempt ended goes to the core's
:class:`~trio_locksync.core.ReconnectPolicy`, whose decision the loop carries out: wait, retry at
once (perhaps with fresh credentials) or stop for good. The status lives in the core's
:class:`~trio_locksync.core.StatusHolder`, the events in its
:class:`~trio_locksync.core.BoundedBuffer`.
"""

from __future__ import annotations

import copy
import logging
import ssl
from collections.abc import Callable, Sequence
from typing import Generic, TypeVar, final

import trio
import trio_websocket

from ..core import (
    AttemptOutcome,
    BoundedBuffer,
    ClosedError,
    NoPublicConstructor,
    ReconnectAction,
    ReconnectPolicy,
    RefusalRetry,
    StatusHolder,
    Subscription,
    check_headers,
    fail_after_as,
    merge_headers,
    open_service_nursery,
    open_socket,
    parse_target,
    raised_at,
    redact_url,
    websocket_handshake,
)
from ._classify import AttemptEnded, classify_failure
from ._connection import Connection, Counters, Reading
from ._errors import EventStreamRejected
from ._models import EventStreamStatistics, StreamEvent
from ._options import Message, StreamSettings
from ._status import TRANSITIONS, EventStreamStatus, StatusChange

__all__ = ["STATUS_BACKLOG", "EventStream"]

logger = logging.getLogger("trio_locksync.eventstream")

T = TypeVar("T")
_S = EventStreamStatus

#: Unread changes each :meth:`EventStream.status_changes` iterator keeps; then the oldest go.
STATUS_BACKLOG = 1000


@final
class EventStream(Generic[T], metaclass=NoPublicConstructor):
    """A live websocket event stream; get one from :func:`open_event_stream`.

    Read :attr:`status` for where the connection is, iterate :meth:`status_changes` to follow
    it, and iterate the stream itself (``async for event in stream``) for the decoded frames.
    ``url`` is the URL with any password and query values redacted. All methods are called
    from the trio thread the stream was opened in.
    """

    _OPENED_BY = "open_event_stream()"

    def __init__(
        self,
        url: str,
        *,
        decode: Callable[[Message], T],
        heartbeat: Callable[[T], float | None] | None,
        subprotocols: Sequence[str],
        settings: StreamSettings,
    ) -> None:
        self._target = parse_target(url)
        if settings.ssl_context is not None and not self._target.tls:
            raise ValueError("ssl_context given for a ws:// URL; use wss:// for TLS")
        self.url: str = redact_url(url)
        self._settings = settings
        self._subprotocols = list(subprotocols)
        self._ssl_context = settings.ssl_context
        self._open_transport = settings.open_transport or self._open_tcp
        self._counters = Counters()
        self._buffer = BoundedBuffer[StreamEvent[T]](settings.buffer_size, settings.overflow)
        self._reading = Reading(
            url=self.url,
            settings=settings,
            decode=decode,
            heartbeat=heartbeat,
            counters=self._counters,
            buffer=self._buffer,
            went_live=self._went_live,
        )
        self._status = StatusHolder(
            "EventStream",
            _S.NOT_STARTED,
            TRANSITIONS,
            change=StatusChange,
            live=_S.CONNECTED,
            closed_error=self._closed_error,
            backlog=STATUS_BACKLOG,
        )
        self._policy = ReconnectPolicy(
            settings.reconnect,
            refusal_retry=(
                RefusalRetry.AT_ONCE
                if settings.reauthenticate is None
                else RefusalRetry.REAUTHENTICATE
            ),
        )
        self._stopping = False
        self._work_scope: trio.CancelScope | None = None
        self._failure: EventStreamRejected | None = None

    def __repr__(self) -> str:
        return f"<EventStream {self.url} {self.status}>"

    # ------------------------------------------------------------------ public

    @property
    def status(self) -> EventStreamStatus:
        """The connection's status now."""
        return self._status.current

    @property
    def stale_since(self) -> float | None:
        """None while ``CONNECTED``; else the trio time since which events have not been live:
        when the stream left ``CONNECTED``, or when it started if it never was."""
        return self._status.stale_since

    @property
    def failure(self) -> EventStreamRejected | None:
        """Why the stream stopped reconnecting, once it is ``RECONNECT_FAILED``; else None."""
        return self._failure

    def status_changes(self) -> Subscription[StatusChange]:
        """Iterate every status change from now on (not the current status: read ``status``).

        Each iterator has its own backlog, so a slow reader misses nothing (up to 1,000
        unread changes, then the oldest go, counted in its ``dropped``). It ends after
        ``DISCONNECTED``.
        """
        return self._status.changes()

    def __aiter__(self) -> EventStream[T]:
        """``async for event in stream``: the decoded events, from the first frame of the first
        connection on — one shared queue, as a trio memory channel is.

        Events wait in one bounded buffer from the moment the block is entered, so nothing is
        lost before you start iterating (within the buffer's size and :class:`Overflow`
        policy). Several tasks iterating share the buffer: each event goes to one of them.
        Breaking out and iterating again continues where you left off. Iteration ends once the
        block has been left and the buffer drained; if the server refused the stream for good it
        raises :class:`EventStreamRejected` instead, after the buffered events.
        """
        return self

    async def __anext__(self) -> StreamEvent[T]:
        return await self._buffer.get()

    async def receive(self) -> StreamEvent[T]:
        """The next event (what iterating the stream yields); raises ``trio.EndOfChannel`` at
        the end."""
        try:
            return await self._buffer.get()
        except StopAsyncIteration:
            raise trio.EndOfChannel from None

    async def wait_status(self, *statuses: EventStreamStatus) -> EventStreamStatus:
        """Wait until the status is one of ``statuses`` (returns at once if it already is).

        Raises :class:`EventStreamRejected` if the stream stops reconnecting first, and
        :class:`~trio_locksync.ClosedError` (a ``trio.ClosedResourceError``) if the block is
        left first: it never waits for a status that can no longer come. A status the stream
        only passes through (``LOST_CONNECTION`` is followed at once by ``RECONNECTING``) may
        be gone before the waiter runs: follow :meth:`status_changes` for those.
        """
        if not statuses:
            raise ValueError("wait_status() needs at least one status")
        return await self._status.wait(*statuses)

    def _closed_error(self, statuses: tuple[EventStreamStatus, ...]) -> ClosedError:
        return ClosedError(
            f"event stream {self.url} is disconnected; it will never be "
            + " or ".join(s.name for s in statuses)
        )

    def statistics(self) -> EventStreamStatistics:
        """A snapshot of the stream's counters (all since the block was entered)."""
        return self._counters.snapshot(dropped=self._buffer.dropped, buffered=len(self._buffer))

    # ----------------------------------------------------------- status moves

    def _move(self, new: EventStreamStatus, detail: str = "") -> None:
        change = self._status.move(new, detail, connection=self._counters.connections)
        if change is None:
            return
        level = logging.WARNING if new is _S.RECONNECT_FAILED else logging.DEBUG
        if new is _S.LOST_CONNECTION:
            level = logging.INFO
        logger.log(
            level,
            "event stream %s: %s -> %s%s",
            self.url,
            change.previous.name,
            new.name,
            f" ({detail})" if detail else "",
        )

    def _went_live(self, detail: str) -> None:
        self._policy.live(trio.current_time())
        self._move(_S.CONNECTED, detail)

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
        self._status.close(_S.DISCONNECTED, "block exited")
        self._buffer.end(None if self._failure is None else self._fresh_failure)

    def _interruptible(self) -> trio.CancelScope:
        """A new scope for the loop's current wait, which :meth:`_stop` cancels (at once if
        stopping already). A scope left earlier may stay registered: cancelling it is a no-op."""
        scope = trio.CancelScope()
        if self._stopping:
            scope.cancel()
        self._work_scope = scope
        return scope

    async def _run(self) -> None:
        settings = self._settings
        policy = self._policy
        headers = list(settings.headers)
        while not self._stopping:
            self._move(_S.CONNECTING)
            ended = await self._attempt(headers)
            decision = policy.ended(trio.current_time(), ended.outcome, ended.detail)
            if decision.action is ReconnectAction.LEAVE or self._stopping:
                return
            if decision.action is ReconnectAction.GIVE_UP:
                error = EventStreamRejected(self.url, ended.detail, status_code=ended.status_code)
                error.__cause__ = ended.cause
                self._fail(error, decision.detail)
                return
            if decision.action is ReconnectAction.RETRY_AFTER_DELAY:
                if self._status.current in (_S.SYNCING, _S.CONNECTED):
                    self._move(_S.LOST_CONNECTION, decision.detail)
                await self._wait_to_reconnect(decision.delay, decision.detail)
                continue
            logger.info(
                "event stream %s: handshake refused (%s); one retry with fresh credentials",
                self.url,
                decision.detail,
            )
            if decision.action is ReconnectAction.REAUTHENTICATE:
                fresh = await self._refresh_headers()
                if self._stopped():
                    return
                if fresh is None:
                    waiting = policy.reauthentication_failed()
                    await self._wait_to_reconnect(waiting.delay, waiting.detail)
                    continue
                # Fresh headers replace same-named ones only (an ISY Origin stays).
                headers = merge_headers(settings.headers, fresh)

    async def _wait_to_reconnect(self, delay: float, why: str) -> None:
        self._move(_S.RECONNECTING, f"{why}; retry in {delay:.2f} s")
        with self._interruptible():
            await trio.sleep(delay)

    async def _refresh_headers(self) -> list[tuple[str, str]] | None:
        """``reauthenticate()``'s headers, validated; None if it failed (logged by type only:
        its message may hold a credential)."""
        reauthenticate = self._settings.reauthenticate
        assert reauthenticate is not None
        with self._interruptible():
            try:
                return check_headers(list(await reauthenticate()))
            except Exception as exc:
                logger.warning(
                    "event stream %s: reauthenticate failed (%s at %s)",
                    self.url,
                    type(exc).__name__,
                    raised_at(exc),
                )
        return None

    def _fail(self, failure: EventStreamRejected, detail: str) -> None:
        self._failure = failure
        self._move(_S.RECONNECT_FAILED, detail)
        self._status.fail(self._fresh_failure)
        self._buffer.end(self._fresh_failure)

    def _fresh_failure(self) -> EventStreamRejected:
        # A new instance per raise: one shared instance would grow its traceback each time.
        assert self._failure is not None
        failure = copy.copy(self._failure)
        failure.__cause__ = self._failure.__cause__
        return failure

    async def _open_tcp(self) -> trio.abc.Stream:
        if self._target.tls and self._ssl_context is None:
            self._ssl_context = ssl.create_default_context()  # once, on first use: it is slow
        return await open_socket(self._target, self._ssl_context)

    async def _attempt(self, headers: list[tuple[str, str]]) -> AttemptEnded:
        """One socket: open, handshake, serve until lost or stopped, close. Never raises
        ``Exception``; says how it ended."""
        settings = self._settings
        self._counters.attempts += 1
        transport: trio.abc.Stream | None = None
        try:
            async with open_service_nursery() as ws_nursery:
                ws: trio_websocket.WebSocketConnection | None = None
                try:
                    with self._interruptible():
                        with fail_after_as(settings.connect_timeout, "connection"):
                            transport = await self._open_transport()
                        with fail_after_as(settings.handshake_timeout, "handshake"):
                            ws = await websocket_handshake(
                                ws_nursery,
                                transport,
                                self._target,
                                subprotocols=self._subprotocols,
                                headers=headers,
                                max_message_size=settings.max_message_size,
                            )
                        return await self._serve(ws)
                    return AttemptEnded(outcome=AttemptOutcome.STOPPED, detail="stopped")
                finally:
                    if ws is not None and self._stopping:
                        # Leaving the block: say goodbye properly while trio-websocket's reader
                        # (in ws_nursery, not cancelled by _stop) can still read the reply.
                        with trio.move_on_after(settings.close_timeout):
                            await ws.aclose()
                    ws_nursery.cancel_scope.cancel()
        except BaseExceptionGroup as group:
            if group.split(Exception)[1] is not None:
                raise
            return self._classify(group)
        except Exception as exc:
            return self._classify(exc)
        finally:
            if transport is not None:
                await trio.aclose_forcefully(transport)

    def _classify(self, exc: BaseException) -> AttemptEnded:
        ended = classify_failure(exc)
        if ended.unexpected is not None:
            logger.error("event stream %s: unexpected %s; reconnecting", self.url, ended.unexpected)
        return ended

    async def _serve(self, ws: trio_websocket.WebSocketConnection) -> AttemptEnded:
        self._counters.connections += 1
        self._policy.answered()
        connection = Connection(self._counters.connections, ws, self._reading)
        self._move(_S.SYNCING, f"socket open (connection {connection.number})")
        lost_reason = await connection.serve()
        return AttemptEnded(outcome=AttemptOutcome.LOST, detail=lost_reason)
