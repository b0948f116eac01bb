"""One open socket of an event stream: its state, its quiet window, and the tasks that serve it.

:meth:`Connection.serve` runs four tasks in one nursery: the reader, the quiet-window promoter,
the heartbeat watchdog and the keepalive pinger. Every frame is drained into the stream's
bounded buffer at once, so pings are answered however slow the consumer is: in trio-websocket's
own reader task, through the frame tap (``_tap.py``: one task hop a frame fewer), the stream's
reader then only waiting for the socket to close; or by the stream's reader through
``get_message()`` where the tap cannot go in. Whichever of them
sees the connection die calls :meth:`Connection.lose`, which cancels the nursery as a whole: a
socket lost before its replay went quiet can never be promoted to live, because the promoter
died with it, and :class:`ConnectionState` forbids the move anyway.
"""

from __future__ import annotations

import enum
import logging
import math
from collections.abc import Callable, Mapping
from typing import Generic, TypeVar

import attrs
import trio
import trio_websocket

from ..core import BoundedBuffer, QuietReason, StateTable, closed_reason
from ._errors import FrameDecodeError
from ._gate import ReplayGate
from ._models import EventStreamStatistics, StreamEvent
from ._options import Message, StreamSettings
from ._tap import install_tap

__all__ = ["CONNECTION_TRANSITIONS", "Connection", "ConnectionState", "Counters", "Reading"]

logger = logging.getLogger("trio_locksync.eventstream")

T = TypeVar("T")

#: Take frames in trio-websocket's reader task (one task hop fewer); False reads them with
#: ``get_message()`` in a task of the stream's own (what happens anyway when the tap cannot go
#: in; the tests run both ways).
TAP_FRAMES = True


class ConnectionState(enum.Enum):
    """Where one open socket is (the stream's status says where the stream is)."""

    #: open; the controller's replay may still be arriving (frames are ``replayed``)
    SYNCING = "syncing"
    #: the quiet window ended: frames are live
    LIVE = "live"
    #: closed, cut, or dropped for a missed heartbeat or pong; terminal
    LOST = "lost"


_C = ConnectionState

#: Every allowed edge; nothing leaves LOST, so a lost socket is never promoted.
CONNECTION_TRANSITIONS: Mapping[ConnectionState, frozenset[ConnectionState]] = {
    _C.SYNCING: frozenset({_C.LIVE, _C.LOST}),
    _C.LIVE: frozenset({_C.LOST}),
}


@attrs.define(kw_only=True)
class Counters:
    """The stream's running counts (see :class:`EventStreamStatistics` for each)."""

    attempts: int = 0
    connections: int = 0
    synced: int = 0
    frames: int = 0
    bad_frames: int = 0
    replayed: int = 0
    live: int = 0
    heartbeats: int = 0
    heartbeat_timeouts: int = 0
    pongs: int = 0
    ping_timeouts: int = 0
    #: the last :attr:`StreamEvent.sequence` handed out
    sequence: int = 0

    def snapshot(self, *, dropped: int, buffered: int) -> EventStreamStatistics:
        """The counts as a frozen record, with the buffer's ``dropped`` and ``buffered``."""
        return EventStreamStatistics(
            attempts=self.attempts,
            connections=self.connections,
            synced=self.synced,
            frames=self.frames,
            bad_frames=self.bad_frames,
            replayed=self.replayed,
            live=self.live,
            dropped=dropped,
            buffered=buffered,
            heartbeats=self.heartbeats,
            heartbeat_timeouts=self.heartbeat_timeouts,
            pongs=self.pongs,
            ping_timeouts=self.ping_timeouts,
        )


@attrs.frozen(kw_only=True)
class Reading(Generic[T]):
    """What every connection of one stream shares: how to read frames and where they go."""

    url: str
    settings: StreamSettings
    decode: Callable[[Message], T]
    heartbeat: Callable[[T], float | None] | None
    counters: Counters
    buffer: BoundedBuffer[StreamEvent[T]]
    #: called once per connection when it goes live, with the reason in words
    went_live: Callable[[str], None]


class Connection(Generic[T]):
    """One open socket: its state, quiet window and the first reason it was lost."""

    __slots__ = (
        "_gate",
        "_heartbeat_scope",
        "_reading",
        "_scope",
        "_serving",
        "_state",
        "_syncing",
        "live_since",
        "lost_reason",
        "number",
        "ws",
    )

    def __init__(
        self, number: int, ws: trio_websocket.WebSocketConnection, reading: Reading[T]
    ) -> None:
        settings = reading.settings
        self.number = number
        self.ws = ws
        self._reading = reading
        self._state = StateTable(
            f"event stream connection {number}", _C.SYNCING, CONNECTION_TRANSITIONS
        )
        self._gate = ReplayGate(trio.current_time(), quiet=settings.quiet, cap=settings.cap)
        # The per-frame test of ``state is SYNCING``, as a plain attribute (kept in step by
        # _promote and lose, the only moves out of SYNCING).
        self._syncing = True
        # Frames are taken only while serve() runs (the tap stays on the socket after it).
        self._serving = False
        self._scope = trio.CancelScope()
        # Moved forward by each heartbeat; infinite until the server announces one.
        self._heartbeat_scope = trio.CancelScope()
        #: trio time the connection went live (None until then); kept once it is LOST
        self.live_since: float | None = None
        #: why the connection was lost (the first reason given), once it is LOST
        self.lost_reason: str | None = None

    @property
    def state(self) -> ConnectionState:
        """Where this socket is now."""
        return self._state.current

    def lose(self, detail: str) -> None:
        """The connection is gone: cancel its tasks. Synchronous, so from here on nothing can
        promote it. The first reason is kept."""
        if self._state.current is not _C.LOST:
            self._state.advance(_C.LOST)
            self._syncing = False
            self.lost_reason = detail
        self._scope.cancel()

    async def serve(self) -> str:
        """Serve the socket until it is lost; returns why."""
        self._serving = True
        try:
            with self._scope:
                async with trio.open_nursery() as nursery:
                    nursery.start_soon(self._promote_when_quiet)
                    nursery.start_soon(self._watch_heartbeats)
                    if self._reading.settings.ping_interval is not None:
                        nursery.start_soon(self._keepalive, self._reading.settings.ping_interval)
                    nursery.start_soon(self._read)
        finally:
            self._serving = False
        # Only lose() cancels this scope; the stream's stop scope is outside it.
        assert self.lost_reason is not None
        return self.lost_reason

    async def _read(self) -> None:
        # Frames are taken in trio-websocket's reader task from here on (see _tap.py); this
        # task takes any the channel held already, then waits for the socket to close (or,
        # without the tap, reads every frame itself).
        held = install_tap(self.ws, self._take) if TAP_FRAMES else None
        for message in held or ():
            self._on_frame(message)
        try:
            while True:
                message = await self.ws.get_message()
                self._on_frame(message)
        except trio_websocket.ConnectionClosed as exc:
            self.lose(closed_reason(exc))

    def _take(self, message: Message) -> None:
        """[trio-websocket's reader task, through the tap] One frame. After lose(), or once
        serve() returned, nothing more is taken, as when the reader task was cancelled; an
        error of ours loses the connection instead of escaping into trio-websocket."""
        if not self._serving or self._state.current is _C.LOST:
            return
        try:
            self._on_frame(message)
        except Exception as exc:
            logger.exception("event stream %s: handling a frame failed", self._reading.url)
            self.lose(f"handling a frame failed ({type(exc).__name__})")

    def _on_frame(self, message: Message) -> None:
        """Handle one frame synchronously, so states and order match arrival exactly."""
        reading = self._reading
        counters = reading.counters
        counters.frames += 1
        now = trio.current_time()
        if self._syncing:
            reason = self._gate.frame(now)
            if reason is not None:
                # The window ended before the promoter task got to run: promote here, so a
                # frame after the window is never flagged as replayed.
                self._promote(reason)
        try:
            data = reading.decode(message)
        except Exception as exc:
            counters.bad_frames += 1
            logger.warning(
                "event stream %s: bad frame #%d skipped (%s%s)",
                reading.url,
                counters.frames,
                type(exc).__name__,
                f": {exc}" if isinstance(exc, FrameDecodeError) else "",
            )
            return
        if reading.heartbeat is not None:
            self._on_heartbeat(reading.heartbeat, data, now)
        replayed = self._syncing
        if replayed:
            counters.replayed += 1
        else:
            counters.live += 1
        counters.sequence += 1
        reading.buffer.put(
            StreamEvent(
                data=data,
                replayed=replayed,
                received_at=now,
                sequence=counters.sequence,
                connection=self.number,
            )
        )

    def _on_heartbeat(self, heartbeat: Callable[[T], float | None], data: T, now: float) -> None:
        try:
            interval = heartbeat(data)
        except Exception:
            logger.exception("event stream %s: heartbeat function raised", self._reading.url)
            return
        if interval is None or not (interval > 0 and math.isfinite(interval)):
            return
        self._reading.counters.heartbeats += 1
        self._heartbeat_scope.deadline = now + interval + self._reading.settings.heartbeat_grace

    def _promote(self, reason: QuietReason) -> None:
        if self._state.current is not _C.SYNCING:
            return
        self._state.advance(_C.LIVE)
        self._syncing = False
        self.live_since = trio.current_time()
        self._reading.counters.synced += 1
        settings = self._reading.settings
        if reason is QuietReason.CAPPED:
            detail = f"replay still going after the {settings.cap:g} s cap"
        else:
            detail = f"quiet for {settings.quiet:g} s"
        self._reading.went_live(detail)

    async def _promote_when_quiet(self) -> None:
        reason = await self._gate.wait()
        self._promote(reason)

    async def _watch_heartbeats(self) -> None:
        with self._heartbeat_scope:
            await trio.sleep_forever()
        if self._heartbeat_scope.cancelled_caught:
            self._reading.counters.heartbeat_timeouts += 1
            self.lose("heartbeat missed")

    async def _keepalive(self, interval: float) -> None:
        counters = self._reading.counters
        timeout = self._reading.settings.ping_timeout
        while True:
            await trio.sleep(interval)
            with trio.move_on_after(timeout) as scope:
                try:
                    await self.ws.ping()
                except trio_websocket.ConnectionClosed:
                    return  # the reader reports the closure
            if scope.cancelled_caught:
                counters.ping_timeouts += 1
                self.lose(f"no pong within {timeout:g} s")
                return
            counters.pongs += 1
