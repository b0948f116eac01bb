"""The demo's simulated ISY controller: a real trio-websocket server on 127.0.0.1.

On every connection it replays each door's status (the burst that must not look live), then
sends a frame for every change the site publishes, and a heartbeat announcement. ``drop_all()``
cuts every connection, as a network blip would.
"""

from __future__ import annotations

import itertools

import trio
import trio_websocket

__all__ = ["DemoController", "door_frame"]


def door_frame(seqnum: int, lock_id: str, locked: bool) -> str:
    """An ISY ``ST`` event for a door lock: 100 = locked, 0 = unlocked."""
    value = 100 if locked else 0
    return (
        f'<?xml version="1.0"?><Event seqnum="{seqnum}" sid="uuid:demo">'
        f'<control>ST</control><action uom="11" prec="0">{value}</action>'
        f"<node>{lock_id}</node><eventInfo></eventInfo></Event>"
    )


def _heartbeat_frame(seqnum: int, interval: int) -> str:
    return (
        f'<Event seqnum="{seqnum}" sid="uuid:demo"><control>_0</control>'
        f"<action>{interval}</action><node></node><eventInfo/></Event>"
    )


class DemoController:
    """Serves ``/rest/subscribe``; ``doors`` is the live truth it replays on connect."""

    def __init__(self, doors: dict[str, bool]) -> None:
        self.doors = doors
        self.port = 0
        self.connections = 0
        self.published = 0
        self._seq = itertools.count(1)
        self._peers: dict[trio_websocket.WebSocketConnection, trio.MemorySendChannel[str]] = {}

    async def serve(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Run the server until cancelled (start it with ``nursery.start``)."""
        async with trio.open_nursery() as nursery:
            server = await nursery.start(
                trio_websocket.serve_websocket, self._handle, "127.0.0.1", 0, None
            )
            self.port = server.port
            task_status.started()

    def publish(self, lock_id: str, locked: bool) -> None:
        """A door changed: every connected subscriber gets a live frame."""
        self.doors[lock_id] = locked
        self.published += 1
        frame = door_frame(next(self._seq), lock_id, locked)
        for channel in self._peers.values():
            channel.send_nowait(frame)

    async def drop_all(self) -> None:
        """Close every connection without a goodbye (the client sees an abnormal closure)."""
        for ws in list(self._peers):
            await ws._stream.aclose()  # the byte stream under the websocket: a cut cable

    async def _handle(self, request: trio_websocket.WebSocketRequest) -> None:
        ws = await request.accept(subprotocol="ISYSUB")
        self.connections += 1
        send, receive = trio.open_memory_channel[str](float("inf"))
        # Snapshot and registration in one step (no checkpoint between): no change is missed.
        replay = [door_frame(next(self._seq), k, v) for k, v in sorted(self.doors.items())]
        self._peers[ws] = send
        try:
            await ws.send_message(_heartbeat_frame(next(self._seq), 30))
            for frame in replay:
                await ws.send_message(frame)
            async with receive:
                async for frame in receive:
                    await ws.send_message(frame)
        except trio_websocket.ConnectionClosed:
            pass
        finally:
            del self._peers[ws]
