"""One open socket to the Z-Wave JS Server: the handshake, the reader that routes results to
their callers by ``messageId`` and events to the client, and the keepalive.

The server never pings (``Client.checkAlive()`` is never called, zwave_js.md §1.1,
``[srv]server.ts:336-343``), so a half-open TCP connection is found only by our own pings.
Results and events share the socket (§0.2): one reader task reads every frame.
"""

from __future__ import annotations

import enum
import logging
from collections.abc import Callable
from typing import Any

import trio
import trio_websocket

from ...core import StateTable, closed_reason
from ._counts import ClientCounts
from ._errors import ZWaveJsConnectionLost
from ._events import Event, parse_event
from ._protocol import (
    Command,
    CommandFailed,
    CommandResult,
    FrameError,
    MessageIds,
    ServerVersion,
    choose_schema,
    decode_frame,
    parse_result,
    parse_version,
)

__all__ = ["Connection", "HandshakeRefused", "LinkState"]

logger = logging.getLogger("trio_locksync.zwave_js")


#: the ``messageId`` of ``start_listening``, whose result is the dump
LISTEN_ID = "listen"


class HandshakeRefused(Exception):
    """The server's schema range does not overlap ours (or it said ``schema_incompatible``)."""


class LinkState(enum.Enum):
    """Where one socket is."""

    #: ``version`` read, ``initialize`` answered; waiting for the dump
    OPEN = "open"
    #: the dump was applied: events are live
    LIVE = "live"
    #: closed, cut, or dropped for a missed pong; terminal
    LOST = "lost"


_LINK = {
    LinkState.OPEN: frozenset({LinkState.LIVE, LinkState.LOST}),
    LinkState.LIVE: frozenset({LinkState.LOST}),
    LinkState.LOST: frozenset[LinkState](),
}


class _Pending:
    __slots__ = ("done", "result")

    def __init__(self) -> None:
        self.done = trio.Event()
        self.result: CommandResult | None = None


class Connection:
    """One socket after its websocket handshake. :meth:`handshake`, then :meth:`serve` until it
    is lost; :meth:`send` from any task while it is LIVE (or OPEN, for the dump)."""

    def __init__(
        self,
        number: int,
        ws: trio_websocket.WebSocketConnection,
        *,
        on_dump: Callable[[dict[str, Any]], None],
        on_event: Callable[[Event], None],
        ping_interval: float,
        ping_timeout: float,
        counts: ClientCounts,
    ) -> None:
        self.number = number
        self.ws = ws
        self._on_dump = on_dump
        self._on_event = on_event
        self._ping_interval = ping_interval
        self._ping_timeout = ping_timeout
        self._ids = MessageIds()
        self._pending: dict[str, _Pending] = {}
        self._state = StateTable(f"zwave-js connection {number}", LinkState.OPEN, _LINK)
        self._scope = trio.CancelScope()
        self.version: ServerVersion | None = None
        self.schema = 0
        #: why the socket was lost (the first reason), once LOST
        self.lost_reason = ""
        #: the client's counters (frames, bad frames, events, pongs, ping timeouts)
        self._counts = counts

    @property
    def state(self) -> LinkState:
        """Where the socket is."""
        return self._state.current

    async def handshake(self, agent: str) -> None:
        """Read ``version``, ``initialize`` at ``min(server max, ours)`` (§1.2). Raises
        :class:`HandshakeRefused`, FrameError, or trio-websocket's errors."""
        version = parse_version(decode_frame(await self.ws.get_message()))
        self.version = version
        schema = choose_schema(version)
        if schema is None:
            raise HandshakeRefused(
                f"server schema {version.min_schema}..{version.max_schema} does not reach ours"
            )
        await self.ws.send_message(Command.initialize(schema, agent).frame("init"))
        result = parse_result(decode_frame(await self.ws.get_message()))
        if isinstance(result, CommandFailed):
            if result.error_code == "schema_incompatible":
                raise HandshakeRefused(f"initialize at schema {schema}: schema_incompatible")
            raise FrameError(f"initialize failed with {result.error_code}")
        self.schema = schema

    def lose(self, detail: str) -> None:
        """The socket is gone: fail every pending command, cancel the tasks. First reason kept."""
        if self._state.current is not LinkState.LOST:
            self._state.advance(LinkState.LOST)
            self.lost_reason = detail
        for pending in self._pending.values():
            pending.done.set()  # result None: lost
        self._pending.clear()
        self._scope.cancel()

    async def send(self, command: Command) -> CommandResult:
        """Send ``command`` and wait for its result. Raises ZWaveJsConnectionLost when the
        socket is (or goes) away first: the command may or may not have been carried out."""
        if self._state.current is LinkState.LOST:
            raise ZWaveJsConnectionLost(f"{command.name}: not connected ({self.lost_reason})")
        message_id = LISTEN_ID if command.name == "start_listening" else self._ids.next()
        pending = self._pending[message_id] = _Pending()
        try:
            try:
                await self.ws.send_message(command.frame(message_id))
            except trio_websocket.ConnectionClosed:
                raise ZWaveJsConnectionLost(f"{command.name}: connection closed") from None
            await pending.done.wait()
        finally:
            self._pending.pop(message_id, None)
        if pending.result is None:
            raise ZWaveJsConnectionLost(f"{command.name}: connection lost ({self.lost_reason})")
        return pending.result

    async def serve(self) -> str:
        """Ask for the dump, then read frames and ping until the socket is lost; why."""
        with self._scope:
            async with trio.open_nursery() as nursery:
                nursery.start_soon(self._read)
                nursery.start_soon(self._keepalive)
                nursery.start_soon(self._listen)
        return self.lost_reason or "connection ended"

    async def _listen(self) -> None:
        # The result (the dump) is applied by the reader itself, before any event after it.
        try:
            await self.send(Command.start_listening())
        except ZWaveJsConnectionLost:
            return

    def _apply_dump(self, result: CommandResult) -> None:
        if isinstance(result, CommandFailed):
            self.lose(f"start_listening failed with {result.error_code}")
            return
        state = result.result.get("state")
        if not isinstance(state, dict):
            self.lose("start_listening answered without the state dump")
            return
        try:
            self._on_dump(state)
        except FrameError as exc:
            self.lose(f"bad state dump: {exc}")
            return
        self._state.advance(LinkState.LIVE)

    async def _read(self) -> None:
        try:
            while True:
                message = await self.ws.get_message()
                self._on_frame(message)
        except trio_websocket.ConnectionClosed as exc:
            self.lose(closed_reason(exc))

    def _on_frame(self, message: str | bytes) -> None:
        self._counts.frames += 1
        try:
            frame = decode_frame(message)
            kind = frame.get("type")
            if kind == "result":
                result = parse_result(frame)
                if result.message_id == LISTEN_ID:
                    self._apply_dump(result)
                pending = self._pending.get(result.message_id)
                if pending is not None:
                    pending.result = result
                    pending.done.set()
                return
            if kind != "event":
                return
            event = parse_event(frame)
        except FrameError as exc:
            self._counts.bad_frames += 1
            logger.warning("zwave-js: a bad frame skipped (%s)", exc)
            return
        if event is not None:
            self._counts.events += 1
            try:
                self._on_event(event)
            except FrameError as exc:  # e.g. a ready event whose nodeState is malformed
                self._counts.bad_frames += 1
                logger.warning("zwave-js: a bad event skipped (%s)", exc)

    async def _keepalive(self) -> None:
        while True:
            await trio.sleep(self._ping_interval)
            with trio.move_on_after(self._ping_timeout) as scope:
                try:
                    await self.ws.ping()
                except trio_websocket.ConnectionClosed:
                    return  # the reader reports it
            if scope.cancelled_caught:
                self._counts.ping_timeouts += 1
                self.lose(f"no pong within {self._ping_timeout:g} s")
                return
            self._counts.pongs += 1
