"""The simulated controller: listener, node table, knobs and the subscriptions it serves."""

from __future__ import annotations

import errno
import functools
import itertools
import ssl
from collections.abc import Mapping, Sequence
from types import MappingProxyType
from typing import Final, final

import trio
import trio.testing
import trio_websocket

from ...core import open_service_nursery, require_trio
from ...eventstream.isy import ISY_SUBPROTOCOL, ISY_SUBSCRIBE_PATH
from .._errors import SimulatorError
from ._frames import NodeStatus, isy_heartbeat_frame, isy_status_frame
from ._subscriber import IsyHandshake, IsySubscriber, SubscriberHook

__all__ = ["HANDSHAKE_TIMEOUT", "IsyController"]

#: Seconds a client has to send its handshake request before the socket is closed.
HANDSHAKE_TIMEOUT: Final = 10.0


@final
class IsyController:
    """A simulated ISY / IoX controller; run it with ``await nursery.start(controller.serve)``.

    ``nodes`` maps node addresses to their status (an ``int`` is a level in unit ``"100"``);
    every connect replays them, in address order. The other arguments are attributes a test may
    change at any time (each applies to the handshakes and subscriptions that follow):

    * ``replay``: frames sent verbatim after the node statuses on every connect (a scripted
      replay, garbage included), ``replay_gap`` seconds apart.
    * ``heartbeat``: seconds between heartbeats, announced first on every connect (None: no
      heartbeats); ``heartbeats_paused`` stops sending them (a controller that died silently).
    * ``authorization``: the ``Authorization`` header a handshake must carry, else it is
      refused with 401 (None: anything goes); ``refuse_with``: refuse every handshake with
      this HTTP status; ``drop_after_handshake``: accept, then cut the connection at once.
    * ``on_subscribe(subscriber)``: runs for each subscriber once its replay is sent, beside the
      live frames (a test's own script of frames, pings or drops).

    ``host``, ``port`` (0: any free one; kept across :meth:`stop`/:meth:`start`), and
    ``ssl_context`` (serve ``wss://``) place the listener; ``listen=False`` serves only
    :meth:`open_transport`.
    """

    def __init__(
        self,
        nodes: Mapping[str, int | NodeStatus] | None = None,
        *,
        replay: Sequence[str] = (),
        replay_gap: float = 0.0,
        heartbeat: float | None = None,
        authorization: str | None = None,
        refuse_with: int | None = None,
        drop_after_handshake: bool = False,
        on_subscribe: SubscriberHook | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        ssl_context: ssl.SSLContext | None = None,
        listen: bool = True,
    ) -> None:
        self._nodes: dict[str, NodeStatus] = {
            node: status if isinstance(status, NodeStatus) else NodeStatus(status)
            for node, status in (nodes or {}).items()
        }
        self.replay: list[str] = list(replay)
        self.replay_gap = replay_gap
        self.heartbeat = heartbeat
        self.heartbeats_paused = False
        self.authorization = authorization
        self.refuse_with = refuse_with
        self.drop_after_handshake = drop_after_handshake
        self.on_subscribe = on_subscribe
        self.host = host
        #: the listening port (the one picked, once serving on port 0)
        self.port: int = port
        self.ssl_context = ssl_context
        self.listen = listen
        #: every handshake received, in order
        self.handshakes: list[IsyHandshake] = []
        self._subscribers: list[IsySubscriber] = []
        self._seqnums = itertools.count(1)
        self._nursery: trio.Nursery | None = None
        self._connections: trio.Nursery | None = None
        self._up: trio.CancelScope | None = None
        self._down = trio.Event()
        self._down.set()

    def __repr__(self) -> str:
        state = "up" if self.is_up else "down"
        return f"<IsyController {self.url} {state} subscribers={len(self._subscribers)}>"

    # ------------------------------------------------------------------ addresses

    @property
    def url(self) -> str:
        """The subscription's websocket URL (``ws[s]://host:port/rest/subscribe``)."""
        return f"{'wss' if self.ssl_context else 'ws'}://{self._netloc}{ISY_SUBSCRIBE_PATH}"

    @property
    def base_url(self) -> str:
        """The controller's base URL, as :func:`open_isy_event_stream` takes it."""
        return f"{'https' if self.ssl_context else 'http'}://{self._netloc}"

    @property
    def _netloc(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}"

    # ------------------------------------------------------------------ state

    @property
    def nodes(self) -> Mapping[str, NodeStatus]:
        """Every node's status now (read-only; change it with :meth:`set_status`)."""
        return MappingProxyType(self._nodes)

    @property
    def subscribers(self) -> tuple[IsySubscriber, ...]:
        """The subscriptions open now."""
        return tuple(self._subscribers)

    @property
    def is_up(self) -> bool:
        """Whether connections are accepted (between :meth:`start` and :meth:`stop`)."""
        return self._up is not None

    # ------------------------------------------------------------------ events

    def set_status(
        self, node: str, value: int, *, uom: str | None = None, prec: int | None = None
    ) -> None:
        """A node's status changed: update it and send every subscriber a live ``ST`` frame.

        ``uom``/``prec`` default to the node's own (``"100"`` and 0 for a new node).
        """
        old = self._nodes.get(node, NodeStatus(value))
        status = NodeStatus(
            value, old.uom if uom is None else uom, old.prec if prec is None else prec
        )
        self._nodes[node] = status
        self.send_live(self._status_frame(node, status))

    def next_seqnum(self) -> int:
        """The next ``seqnum`` (every frame the controller writes takes one, from 1 up)."""
        return next(self._seqnums)

    def send_live(self, *frames: str) -> None:
        """Queue ``frames`` for every subscriber (after its replay and anything queued before);
        never blocks."""
        for subscriber in self._subscribers:
            subscriber.send(*frames)

    async def broadcast(self, *frames: str) -> None:
        """:meth:`send_live`, then wait until every subscriber has been sent them (or lost its
        connection)."""
        marks = []
        for subscriber in self._subscribers:
            subscriber.send(*frames)
            marks.append((subscriber, subscriber._queued))
        for subscriber, mark in marks:
            await subscriber._wait_written(mark)
        await trio.lowlevel.checkpoint()

    async def drop_all(self) -> None:
        """Cut every open connection without a websocket close, as a network blip would."""
        for subscriber in list(self._subscribers):
            await subscriber.drop()

    # ------------------------------------------------------------------ lifecycle

    async def serve(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Serve until cancelled; started (``nursery.start``) once the port is listening.

        :class:`~trio_locksync.testing.SimulatorError` if the listener cannot be opened (the
        port in use, an unknown host), the ``OSError`` chained;
        :class:`~trio_locksync.TrioRequiredError` outside a trio run.
        """
        require_trio("IsyController.serve()")
        if self._nursery is not None:
            raise RuntimeError("the controller is serving already")
        try:
            async with open_service_nursery() as nursery:
                self._nursery = nursery
                await self.start()
                task_status.started()
                await trio.sleep_forever()
        finally:
            self._nursery = None
            self._up = None

    async def start(self) -> None:
        """Come back up after :meth:`stop`, on the same port. Needs :meth:`serve` running.
        :class:`~trio_locksync.testing.SimulatorError` if the port cannot be listened on."""
        if self._nursery is None:
            raise RuntimeError("start() needs serve() running")
        if self._up is None:
            await self._down.wait()  # the previous listener has let go of the port
            self._up = await self._nursery.start(self._run_up)

    def stop(self) -> None:
        """Go down: close the listener and cut every connection; connects are refused (over
        memory too) until :meth:`start`."""
        if self._up is not None:
            self._up.cancel()
            self._up = None

    async def open_transport(self) -> trio.abc.Stream:
        """A new in-memory connection to the controller (an ``open_transport=`` for
        :func:`open_event_stream`); raises ``ConnectionRefusedError`` while it is down."""
        await trio.lowlevel.checkpoint()
        if self._connections is None or self._up is None:
            raise ConnectionRefusedError(errno.ECONNREFUSED, "simulated controller is down")
        client, server = trio.testing.memory_stream_pair()
        self._connections.start_soon(self._serve_stream, server)
        return client

    # ------------------------------------------------------------------ serving

    def _status_frame(self, node: str, status: NodeStatus) -> str:
        return isy_status_frame(
            self.next_seqnum(), node, status.value, uom=status.uom, prec=status.prec
        )

    async def _run_up(self, task_status: trio.TaskStatus[trio.CancelScope]) -> None:
        down = self._down = trio.Event()
        try:
            listeners = await self._open_listeners() if self.listen else []
            with trio.CancelScope() as scope:
                async with trio.open_nursery() as connections:
                    if listeners:
                        serve = functools.partial(trio.serve_listeners, handler_nursery=connections)
                        connections.start_soon(serve, self._serve_stream, listeners)
                    self._connections = connections
                    task_status.started(scope)
                    await trio.sleep_forever()
        finally:
            self._connections = None
            down.set()

    async def _open_listeners(self) -> Sequence[trio.abc.Listener[trio.abc.Stream]]:
        try:
            listeners = await trio.open_tcp_listeners(self.port, host=self.host)
        except OSError as error:  # socket.gaierror included
            raise SimulatorError(
                f"IsyController: cannot listen on {self._netloc}: {error.strerror or error}"
            ) from error
        self.port = listeners[0].socket.getsockname()[1]
        if self.ssl_context is None:
            return listeners
        context = self.ssl_context
        return [trio.SSLListener(tcp, context, https_compatible=True) for tcp in listeners]

    async def _serve_stream(self, stream: trio.abc.Stream) -> None:
        try:
            async with trio.open_nursery() as nursery:
                request = None
                with trio.move_on_after(HANDSHAKE_TIMEOUT):
                    request = await trio_websocket.wrap_server_stream(nursery, stream)
                if request is not None:
                    await self._handle(request, stream)
                nursery.cancel_scope.cancel()
        except* (
            trio_websocket.ConnectionClosed,
            trio.BrokenResourceError,
            trio.ClosedResourceError,
        ):
            pass  # the client went away mid-handshake, or the connection was cut
        finally:
            await trio.aclose_forcefully(stream)

    def _refusal(self, path: str, headers: Mapping[str, str]) -> int | None:
        if path.partition("?")[0] != ISY_SUBSCRIBE_PATH:
            return 404
        if self.refuse_with is not None:
            return self.refuse_with
        if self.authorization is not None and headers.get("authorization") != self.authorization:
            return 401
        return None

    async def _handle(
        self, request: trio_websocket.WebSocketRequest, stream: trio.abc.Stream
    ) -> None:
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in request.headers}
        handshake = IsyHandshake(
            number=len(self.handshakes) + 1,
            path=request.path,
            headers=MappingProxyType(headers),
            subprotocols=tuple(request.proposed_subprotocols),
            refused_with=self._refusal(request.path, headers),
        )
        self.handshakes.append(handshake)
        if handshake.refused_with is not None:
            await request.reject(handshake.refused_with)
            return
        wanted = ISY_SUBPROTOCOL in handshake.subprotocols
        ws = await request.accept(subprotocol=ISY_SUBPROTOCOL if wanted else None)
        if self.drop_after_handshake:
            await trio.aclose_forcefully(stream)
            return
        subscriber = IsySubscriber._create(handshake, ws, stream)
        # The snapshot and the registration in one step (no checkpoint between): a change is
        # either in this replay or sent live after it, never lost and never sent before it.
        heartbeat = (
            []
            if self.heartbeat is None
            else [isy_heartbeat_frame(self.next_seqnum(), self.heartbeat)]
        )
        replay = [self._status_frame(node, self._nodes[node]) for node in sorted(self._nodes)]
        replay += self.replay
        self._subscribers.append(subscriber)
        try:
            await subscriber._run(heartbeat, replay, self.replay_gap, self)
        finally:
            self._subscribers.remove(subscriber)
