"""Websocket servers the event-stream tests start themselves.

``open_memory_server`` runs trio-websocket's server side over ``trio.testing.memory_stream_pair``
and hands each connection to a per-test ``handler(peer)``: no ports, no real clock, so it works
under ``autojump_clock`` and times can be asserted exactly. ``open_isy_server`` runs the ISY
controller simulator (:mod:`trio_locksync.testing.isy`) on 127.0.0.1 (real sockets, real clock).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import asynccontextmanager
from typing import Any

import attrs
import trio
import trio.testing
import trio_websocket

from trio_locksync.eventstream import EventStreamStatus, StatusChange, open_event_stream
from trio_locksync.testing.isy import (
    IsyController,
    NodeStatus,
    isy_heartbeat_frame,
    isy_status_frame,
)

__all__ = [
    "IsyController",
    "MemoryServer",
    "Peer",
    "isy_frame",
    "isy_heartbeat_frame",
    "isy_replay",
    "open_isy_server",
    "open_memory_server",
    "record_statuses",
]

Handler = Callable[["Peer"], Awaitable[None]]


@attrs.define(eq=False)
class Peer:
    """The server's side of one client connection."""

    number: int
    request: trio_websocket.WebSocketRequest
    stream: trio.abc.Stream
    ws: trio_websocket.WebSocketConnection | None = None
    reader_scope: trio.CancelScope | None = None

    @property
    def headers(self) -> dict[str, str]:
        return {k.decode().lower(): v.decode() for k, v in self.request.headers}

    async def accept(self, subprotocol: str | None = None) -> trio_websocket.WebSocketConnection:
        self.ws = await self.request.accept(subprotocol=subprotocol)
        return self.ws

    async def send(self, *frames: str | bytes, gap: float = 0.0) -> None:
        """Send ``frames``, sleeping ``gap`` seconds between them (not before the first)."""
        assert self.ws is not None
        for i, frame in enumerate(frames):
            if i and gap:
                await trio.sleep(gap)
            await self.ws.send_message(frame)

    async def drop(self) -> None:
        """Close the byte stream without a websocket close: the client sees an abnormal close."""
        await trio.aclose_forcefully(self.stream)

    def freeze(self) -> None:
        """Stop the server's protocol reader: the socket stays open, pings go unanswered."""
        assert self.reader_scope is not None
        self.reader_scope.cancel()

    async def send_raw(self, data: bytes) -> None:
        """Write bytes straight to the stream (to send frames trio-websocket would refuse)."""
        await self.stream.send_all(data)


@attrs.define
class MemoryServer:
    nursery: trio.Nursery
    handler: Handler
    attempts: int = 0
    peers: list[Peer] = attrs.field(factory=list)

    async def open_transport(self) -> trio.abc.Stream:
        """The ``open_transport`` to give ``open_event_stream``: a fresh in-memory socket."""
        self.attempts += 1
        client, server = trio.testing.memory_stream_pair()
        self.nursery.start_soon(self._serve, server, self.attempts)
        return client

    async def _serve(self, stream: trio.abc.Stream, number: int) -> None:
        try:
            async with trio.open_nursery() as nursery:
                # trio-websocket's protocol reader gets a nursery of its own, so a test can
                # freeze it (a peer that stops answering pings) without closing the socket.
                readers: trio.Nursery = await nursery.start(_hold_nursery)
                request = await trio_websocket.wrap_server_stream(readers, stream)
                peer = Peer(number, request, stream, reader_scope=readers.cancel_scope)
                self.peers.append(peer)
                await self.handler(peer)
                nursery.cancel_scope.cancel()
        finally:
            await trio.aclose_forcefully(stream)


async def _hold_nursery(task_status: trio.TaskStatus[trio.Nursery]) -> None:
    async with trio.open_nursery() as nursery:
        task_status.started(nursery)
        await trio.sleep_forever()


@asynccontextmanager
async def open_memory_server(handler: Handler) -> AsyncIterator[MemoryServer]:
    async with trio.open_nursery() as nursery:
        server = MemoryServer(nursery, handler)
        yield server
        nursery.cancel_scope.cancel()


async def record_statuses(
    changes: AsyncIterator[StatusChange], into: list[tuple[float, EventStreamStatus]]
) -> None:
    """Append ``(time, status)`` for every change (run it in a nursery, cancel when done)."""
    async for change in changes:
        into.append((change.at, change.status))


# --------------------------------------------------------------------- ISY


def isy_frame(seqnum: int, node: str = "0E 16 1D 1", value: int = 255) -> str:
    """An ISY status (``ST``) frame: the simulator's builder with this suite's defaults."""
    return isy_status_frame(seqnum, node, value)


def isy_replay(count: int, start: int = 0) -> list[str]:
    """``count`` status frames of distinct nodes, seqnums ``start`` … ``start + count - 1``."""
    return [isy_frame(start + i, node=f"NODE {i}", value=i % 256) for i in range(count)]


@asynccontextmanager
async def open_isy_server(
    nodes: Mapping[str, int | NodeStatus] | None = None, **options: Any
) -> AsyncIterator[IsyController]:
    """The simulated controller (``trio_locksync.testing.isy``) running for one test, on a
    loopback port unless ``listen=False``; the arguments are :class:`IsyController`'s."""
    controller = IsyController(nodes, **options)
    async with trio.open_nursery() as nursery:
        await nursery.start(controller.serve)
        yield controller
        nursery.cancel_scope.cancel()


async def opened_at(url: str, count: int, handler: object, **options: object) -> list[float]:
    """When the first ``count`` sockets of a stream to ``url`` opened (SYNCING), against
    ``handler`` on a memory server, in seconds from the call; ``options`` go to the stream."""
    start = trio.current_time()
    opened: list[float] = []
    async with (
        open_memory_server(handler) as server,  # type: ignore[arg-type]
        open_event_stream(
            url,
            open_transport=server.open_transport,
            **options,  # type: ignore[arg-type]
        ) as stream,
    ):
        async for change in stream.status_changes():
            if change.status is EventStreamStatus.SYNCING:
                opened.append(change.at - start)
                if len(opened) == count:
                    break
    return opened
