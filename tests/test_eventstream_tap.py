"""The frame tap (``eventstream/_tap.py``): frames taken in trio-websocket's reader task.

The tap replaces the stream's own reader task as the place frames are decoded and buffered, so
the order of frames must survive its installation (messages trio-websocket queued before it
went in come first), it must really go in on trio-websocket as installed (else the benchmark's
figures silently lose it), and the stream must behave the same with it and without it.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import trio
import trio.lowlevel
import trio.testing
import trio_websocket

from trio_locksync.eventstream import (
    EventStreamStatus,
    _connection,
    decode_isy_event,
    open_event_stream,
)
from trio_locksync.eventstream._tap import FrameTap, install_tap

from .wshelpers import Peer, isy_frame, isy_replay, open_memory_server

URL = "ws://isy.test/rest/subscribe"
S = EventStreamStatus


async def _client_and_server(
    nursery: trio.Nursery,
) -> tuple[trio_websocket.WebSocketConnection, trio_websocket.WebSocketConnection]:
    client_stream, server_stream = trio.testing.memory_stream_pair()
    accepted: list[trio_websocket.WebSocketConnection] = []

    async def serve() -> None:
        request = await trio_websocket.wrap_server_stream(nursery, server_stream)
        accepted.append(await request.accept())

    nursery.start_soon(serve)
    client = await trio_websocket.wrap_client_stream(
        nursery, client_stream, "isy.test", "/rest/subscribe"
    )
    while not accepted:
        await trio.lowlevel.checkpoint()
    return client, accepted[0]


async def test_messages_queued_before_the_tap_come_first(autojump_clock: object) -> None:
    """The reorder race at installation: trio-websocket's channel holds one message and its
    reader is parked sending the next when the tap goes in. Both must be handed back first, in
    order, and every later one go to ``take`` after them."""
    async with trio.open_nursery() as nursery:
        client, server = await _client_and_server(nursery)
        for number in range(3):
            await server.send_message(f"m{number}")
        await trio.sleep(1)  # m0 in the channel, the reader parked with m1; m2 unread
        taken: list[str | bytes] = []
        held = install_tap(client, taken.append)
        assert held == ["m0", "m1"]
        assert isinstance(client._send_channel, FrameTap)
        for number in range(3, 6):
            await server.send_message(f"m{number}")
        await trio.sleep(1)
        assert taken == ["m2", "m3", "m4", "m5"]
        # Closing still ends get_message() (the tap closes the real channel).
        await server.aclose()
        with pytest.raises(trio_websocket.ConnectionClosed):
            await client.get_message()
        nursery.cancel_scope.cancel()


def test_install_tap_leaves_an_unexpected_connection_alone() -> None:
    class NotTrioWebsocket:
        _send_channel = None

    odd: Any = NotTrioWebsocket()
    assert install_tap(odd, lambda message: None) is None
    assert odd._send_channel is None


@pytest.fixture(params=[True, False], ids=["tap", "get_message"])
def tap(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[list[bool]]:
    """Run a test with the tap and without it; records whether the tap went in."""
    installed: list[bool] = []
    monkeypatch.setattr(_connection, "TAP_FRAMES", request.param)

    def recording(ws: Any, take: Any) -> list[str | bytes] | None:
        held = install_tap(ws, take)
        installed.append(held is not None)
        return held

    monkeypatch.setattr(_connection, "install_tap", recording)
    yield installed if request.param else [False]
    if request.param:  # the tap run: the tap really went in, at every connection
        assert installed and all(installed), f"the tap did not go in: {installed}"


async def test_replay_sent_with_the_handshake_arrives_whole_and_in_order(
    autojump_clock: object, tap: list[bool]
) -> None:
    async def replay_then_live(peer: Peer) -> None:
        await peer.accept()
        await peer.send(*isy_replay(300))
        await trio.sleep(2.0)
        await peer.send(isy_frame(300))
        await trio.sleep_forever()

    async with (
        open_memory_server(replay_then_live) as server,
        open_event_stream(
            URL, decode=decode_isy_event, quiet=1.0, open_transport=server.open_transport
        ) as stream,
    ):
        events = [await stream.receive() for _ in range(301)]
        stats = stream.statistics()
    assert tap in ([True], [False])
    assert [e.sequence for e in events] == list(range(1, 302))
    assert [e.data.seqnum for e in events] == list(range(301))
    assert [e.replayed for e in events] == [True] * 300 + [False]
    assert (stats.frames, stats.replayed, stats.live, stats.connections) == (301, 300, 1, 1)


async def test_frames_after_a_drop_are_not_taken_and_the_next_socket_is_read(
    autojump_clock: object, tap: list[bool]
) -> None:
    """A socket dropped mid-replay: LOST_CONNECTION, the reconnect's frames arrive (the tap of
    the dead socket takes nothing more), sequence continues."""

    async def drop_then_replay(peer: Peer) -> None:
        await peer.accept()
        await peer.send(*isy_replay(3))
        if peer.number == 1:
            await peer.drop()
            return
        await trio.sleep_forever()

    async with (
        open_memory_server(drop_then_replay) as server,
        open_event_stream(
            URL, decode=decode_isy_event, quiet=1.0, open_transport=server.open_transport
        ) as stream,
    ):
        events = [await stream.receive() for _ in range(6)]
        await stream.wait_status(S.CONNECTED)
    assert [(e.connection, e.sequence) for e in events] == [
        (1, 1), (1, 2), (1, 3), (2, 4), (2, 5), (2, 6)
    ]  # fmt: skip
    assert tap in ([True, True], [False])


async def test_an_error_handling_a_tapped_frame_loses_the_connection_not_the_reader(
    autojump_clock: object, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """A bug of ours in a frame's handling runs in trio-websocket's reader task (the tap): it
    must lose the connection, which reconnects, not escape into trio-websocket."""
    original = _connection.Connection._on_frame
    failures = [1]

    def once_broken(self: Any, message: Any) -> None:
        if self.number == 1 and failures:
            failures.pop()
            raise RuntimeError("a bug")
        original(self, message)

    monkeypatch.setattr(_connection.Connection, "_on_frame", once_broken)

    async def replay_after_a_moment(peer: Peer) -> None:
        await peer.accept()
        await trio.sleep(0.5)  # after the tap went in
        await peer.send(*isy_replay(2))
        await trio.sleep_forever()

    async with (
        open_memory_server(replay_after_a_moment) as server,
        open_event_stream(
            URL, decode=decode_isy_event, quiet=1.0, open_transport=server.open_transport
        ) as stream,
    ):
        events = [await stream.receive() for _ in range(2)]
        stats = stream.statistics()
    assert [e.connection for e in events] == [2, 2]
    assert stats.connections == 2
    assert "handling a frame failed" in caplog.text
