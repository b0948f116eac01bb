"""The controller's side of one subscription: its handshake, greeting, live queue and closure."""

from __future__ import annotations

import math
from collections.abc import Awaitable, Callable, Mapping
from typing import Protocol, final

import attrs
import trio
import trio_websocket

from ...core import NoPublicConstructor
from ._frames import isy_heartbeat_frame

__all__ = ["IsyHandshake", "IsySubscriber", "Knobs", "SubscriberHook"]

#: What runs for each subscriber once its replay is sent (see ``IsyController.on_subscribe``).
SubscriberHook = Callable[["IsySubscriber"], Awaitable[object]]


class Knobs(Protocol):
    """What a subscription reads of its controller while it runs (the ``IsyController``'s
    knobs of the same names, read when they apply, so a test may change them meanwhile)."""

    @property
    def heartbeat(self) -> float | None:
        """Seconds between heartbeats (None: none)."""
        ...

    @property
    def heartbeats_paused(self) -> bool:
        """Heartbeats are not sent (a controller that died silently)."""
        ...

    @property
    def on_subscribe(self) -> SubscriberHook | None:
        """What runs for each subscriber once its replay is sent."""
        ...

    def next_seqnum(self) -> int:
        """The controller's next event sequence number."""
        ...


@final
@attrs.frozen(kw_only=True)
class IsyHandshake:
    """One websocket handshake the controller received, accepted or not."""

    #: 1 for the first handshake the controller received
    number: int
    #: the requested path, query included
    path: str
    #: the request's headers, names in lower case (``"authorization"``, ``"origin"``)
    headers: Mapping[str, str]
    #: the subprotocols the client proposed, in its order
    subprotocols: tuple[str, ...]
    #: the HTTP status it was refused with; None if it was accepted
    refused_with: int | None


@final
class IsySubscriber(metaclass=NoPublicConstructor):
    """The controller's side of one accepted subscription (the controller makes these).

    ``ws`` is trio-websocket's connection, for what the simulator does not cover (a test
    pinging the client, say); frames sent on it directly bypass the live queue.
    """

    _OPENED_BY = "IsyController (one per accepted subscription)"

    def __init__(
        self,
        handshake: IsyHandshake,
        ws: trio_websocket.WebSocketConnection,
        stream: trio.abc.Stream,
    ) -> None:
        #: the handshake that opened this subscription
        self.handshake = handshake
        self.ws = ws
        self._stream = stream
        self._live_send, self._live_receive = trio.open_memory_channel[str](math.inf)
        self._queued = 0
        self._written = 0
        self._progress = trio.Event()
        self._ended = False
        self._scope = trio.CancelScope()

    @property
    def number(self) -> int:
        """The number of the handshake that opened it (1 for the controller's first)."""
        return self.handshake.number

    def send(self, *frames: str) -> None:
        """Queue ``frames`` for this subscriber only, after any frames queued before."""
        for frame in frames:
            if not self._ended:
                self._live_send.send_nowait(frame)
                self._queued += 1

    async def drop(self) -> None:
        """Cut the connection without a websocket close (the client sees an abnormal closure)."""
        await trio.aclose_forcefully(self._stream)

    def __repr__(self) -> str:
        return f"<IsySubscriber {self.number} written={self._written} queued={self._queued}>"

    async def _wait_written(self, count: int) -> None:
        while self._written < count and not self._ended:
            await self._progress.wait()

    async def _run(
        self,
        heartbeat: list[str],
        replay: list[str],
        replay_gap: float,
        controller: Knobs,
    ) -> None:
        try:
            with self._scope:
                async with trio.open_nursery() as nursery:
                    nursery.start_soon(self._watch_closure)
                    await self._until_closed(self._send_now, heartbeat, 0.0)
                    await self._until_closed(self._send_now, replay, replay_gap)
                    nursery.start_soon(self._until_closed, self._forward)
                    if controller.heartbeat is not None:
                        interval = controller.heartbeat
                        nursery.start_soon(self._beat, controller, interval)
                    if controller.on_subscribe is not None:
                        nursery.start_soon(self._until_closed, controller.on_subscribe, self)
        finally:
            self._ended = True
            self._progress.set()

    async def _until_closed(self, fn: Callable[..., Awaitable[object]], *args: object) -> None:
        # A send that finds the connection closed ends the whole subscription.
        try:
            await fn(*args)
        except trio_websocket.ConnectionClosed:
            self._scope.cancel()

    async def _watch_closure(self) -> None:
        # Reading also lets trio-websocket answer the client's close; subscribers send nothing.
        try:
            while True:
                await self.ws.get_message()
        except trio_websocket.ConnectionClosed:
            self._scope.cancel()

    async def _send_now(self, frames: list[str], gap: float) -> None:
        for i, frame in enumerate(frames):
            if i and gap:
                await trio.sleep(gap)
            await self.ws.send_message(frame)

    async def _forward(self) -> None:
        async for frame in self._live_receive:
            await self.ws.send_message(frame)
            self._written += 1
            self._progress.set()
            self._progress = trio.Event()

    async def _beat(self, controller: Knobs, interval: float) -> None:
        while True:
            await trio.sleep(interval)
            if not controller.heartbeats_paused:
                self.send(isy_heartbeat_frame(controller.next_seqnum(), interval))
