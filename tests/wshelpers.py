"""Websocket servers the event-stream tests start themselves.

``open_memory_server`` runs trio-websocket's server side over ``trio.testing.memory_stream_pair``:
no ports, no real clock, so it works under ``autojump_clock`` and times can be asserted exactly.
``open_isy_server`` is a real trio-websocket server on 127.0.0.1 (real sockets, real clock).
Both hand each connection to a per-test ``handler(peer)``.
"""

from __future__ import annotations

import itertools
import ssl
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager

import attrs
import trio
import trio.testing
import trio_websocket

from trio_locksync import EventStreamStatus, StatusChange

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


# --------------------------------------------------------------------- ISY frames


def isy_frame(seqnum: int, node: str = "0E 16 1D 1", value: int = 255) -> str:
    return (
        f'<?xml version="1.0"?><Event seqnum="{seqnum}" sid="uuid:40">'
        f'<control>ST</control><action uom="100" prec="0">{value}</action>'
        f"<node>{node}</node><eventInfo></eventInfo></Event>"
    )


def isy_heartbeat_frame(seqnum: int, interval: int) -> str:
    return (
        f'<?xml version="1.0"?><Event seqnum="{seqnum}" sid="uuid:40">'
        f"<control>_0</control><action>{interval}</action><node></node><eventInfo/></Event>"
    )


def isy_replay(count: int, start: int = 0) -> list[str]:
    return [isy_frame(start + i, node=f"NODE {i}", value=i % 256) for i in range(count)]


# ------------------------------------------------------------- a real ISY server


@attrs.define
class IsyServer:
    """A real trio-websocket server on 127.0.0.1 that plays an ISY controller.

    ``mode`` decides what each new connection gets:
    ``"serve"`` (replay, heartbeat announcement, then live frames on demand), ``"reject"``
    (HTTP ``reject_status``), ``"accept_drop"`` (handshake, then the socket is closed).
    ``drop_all()`` cuts every open connection; ``stop()``/``start()`` take the listener
    down (connections refused) and up again on the same port.
    """

    nursery: trio.Nursery
    replay: Sequence[str] = ()
    replay_gap: float = 0.0
    heartbeat: int | None = None
    mode: str = "serve"
    reject_status: int = 401
    expected_auth: str | None = None
    port: int = 0
    connections: int = 0
    handshakes: list[dict[str, str]] = attrs.field(factory=list)
    open_peers: set[Peer] = attrs.field(factory=set)
    live: trio.MemorySendChannel[str] | None = None
    stall_heartbeats: bool = False
    ssl_context: ssl.SSLContext | None = None
    _scope: trio.CancelScope | None = None
    _counter: itertools.count[int] = attrs.field(factory=itertools.count)

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/rest/subscribe"

    async def start(self) -> None:
        self._scope = await self.nursery.start(self._run)

    async def _run(self, task_status: trio.TaskStatus[trio.CancelScope]) -> None:
        with trio.CancelScope() as scope:
            async with trio.open_nursery() as handlers:
                server = await handlers.start(
                    trio_websocket.serve_websocket,
                    self._handle,
                    "127.0.0.1",
                    self.port,
                    self.ssl_context,
                )
                self.port = server.port
                task_status.started(scope)
                await trio.sleep_forever()

    def stop(self) -> None:
        """Close the listener and every connection (new connects are refused)."""
        assert self._scope is not None
        self._scope.cancel()
        self._scope = None

    async def drop_all(self) -> None:
        for peer in list(self.open_peers):
            await peer.drop()

    async def _handle(self, request: trio_websocket.WebSocketRequest) -> None:
        self.connections += 1
        headers = {k.decode().lower(): v.decode() for k, v in request.headers}
        headers["sec-websocket-protocol"] = ", ".join(request.proposed_subprotocols)
        self.handshakes.append(headers)
        if self.mode == "reject" or (
            self.expected_auth is not None and headers.get("authorization") != self.expected_auth
        ):
            await request.reject(self.reject_status if self.mode == "reject" else 401)
            return
        ws = await request.accept(subprotocol="ISYSUB")
        peer = Peer(self.connections, request, ws._stream, ws)
        if self.mode == "accept_drop":
            await peer.drop()
            return
        self.open_peers.add(peer)
        try:
            await self._serve_peer(peer)
        except* trio_websocket.ConnectionClosed:
            pass
        finally:
            self.open_peers.discard(peer)

    async def _serve_peer(self, peer: Peer) -> None:
        if self.heartbeat is not None:
            await peer.send(isy_heartbeat_frame(next(self._counter), self.heartbeat))
        await peer.send(*self.replay, gap=self.replay_gap)
        async with trio.open_nursery() as nursery:
            if self.heartbeat is not None:
                nursery.start_soon(self._heartbeats, peer)
            # Keep reading so the server answers the client's pings and sees its close.
            while True:
                await peer.ws.get_message()  # type: ignore[union-attr]

    async def _heartbeats(self, peer: Peer) -> None:
        assert self.heartbeat is not None
        while True:
            await trio.sleep(self.heartbeat)
            if not self.stall_heartbeats:
                await peer.send(isy_heartbeat_frame(next(self._counter), self.heartbeat))

    async def broadcast(self, frame: str) -> None:
        for peer in list(self.open_peers):
            await peer.send(frame)


@asynccontextmanager
async def open_isy_server(**options: object) -> AsyncIterator[IsyServer]:
    async with trio.open_nursery() as nursery:
        server = IsyServer(nursery, **options)  # type: ignore[arg-type]
        await server.start()
        yield server
        nursery.cancel_scope.cancel()
