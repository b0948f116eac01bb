"""The event stream against a real trio-websocket server on 127.0.0.1 playing an ISY controller.

Real sockets and the real clock, so windows are short (``quiet`` 0.2 s) and assertions are about
order and flags, never exact times. Each test starts its own controller: the simulator in
:mod:`trio_locksync.testing.isy` (``tests.wshelpers.open_isy_server``).
"""

from __future__ import annotations

import base64

import pytest
import trio

from trio_locksync.core import Backoff, Jitter
from trio_locksync.eventstream import (
    EventStreamRejected,
    EventStreamStatus,
    IsyEvent,
    StreamEvent,
    open_event_stream,
    open_isy_event_stream,
)

from .wshelpers import isy_frame, isy_replay, open_isy_server

S = EventStreamStatus
FAST = Backoff(initial=0.05, maximum=0.2, jitter=Jitter.NONE)
OPTIONS: dict[str, object] = {"quiet": 0.2, "cap": 5.0, "backoff": FAST}


async def test_replay_then_connected_with_exact_replayed_flags() -> None:
    """pyisyox ``test_ws_reader_holds_syncing_through_replay_then_connects`` on a real socket;
    ``test_ws_reader_attaches_local_auth``: the handshake carries ISYSUB, Origin and Basic auth."""
    async with (
        open_isy_server(replay=isy_replay(50)) as server,
        open_isy_event_stream(
            server.base_url, username="admin", password="pw", **OPTIONS
        ) as stream,
    ):
        changes = []
        async for change in stream.status_changes():
            changes.append(change.status)
            if change.status is S.CONNECTED:
                break
        replay = [await stream.receive() for _ in range(50)]
        await server.broadcast(isy_frame(1000, node="LIVE"))
        live = await stream.receive()
    assert changes == [S.CONNECTING, S.SYNCING, S.CONNECTED]
    assert all(e.replayed for e in replay)
    assert [e.data.seqnum for e in replay] == list(range(50))
    assert (live.replayed, live.data.node) == (False, "LIVE")
    handshake = server.handshakes[0]
    assert handshake.subprotocols == ("ISYSUB",)
    assert handshake.headers["origin"] == "com.universal-devices.websockets.isy"
    assert handshake.headers["authorization"] == "Basic " + base64.b64encode(b"admin:pw").decode()
    assert "pw" not in repr(stream)


async def test_drop_mid_replay_never_connects_then_syncs_again() -> None:
    async with (
        open_isy_server(replay=isy_replay(40), replay_gap=0.02) as server,
        open_isy_event_stream(server.base_url, **OPTIONS) as stream,
    ):
        changes = []
        async for change in stream.status_changes():
            changes.append((change.connection, change.status))
            if change.status is S.SYNCING and change.connection == 1:
                await trio.sleep(0.3)  # mid-replay (40 frames take 0.8 s)
                await server.drop_all()
            if change.status is S.CONNECTED:
                break
    assert (1, S.CONNECTED) not in changes
    assert changes[-1] == (2, S.CONNECTED)
    assert (2, S.SYNCING) in changes


async def test_slow_consumer_through_5000_frame_replay_keeps_the_connection() -> None:
    """A 5,000-frame replay to a consumer that sleeps between events: the stream keeps reading
    into its buffer, the keepalive pings (every 0.1 s, 0.5 s to answer) are answered throughout,
    nothing is dropped (the buffer holds 10,000) and the socket is never re-opened."""
    async with (
        open_isy_server(replay=isy_replay(5000)) as server,
        open_isy_event_stream(
            server.base_url, ping_interval=0.1, ping_timeout=0.5, **OPTIONS
        ) as stream,
    ):
        received: list[StreamEvent[IsyEvent]] = []
        with trio.move_on_after(60):
            while len(received) < 5000:
                received.append(await stream.receive())
                if len(received) % 500 == 0:
                    await trio.sleep(0.2)
        stats = stream.statistics()
    assert len(received) == 5000
    assert [e.data.seqnum for e in received] == list(range(5000))
    assert (stats.connections, stats.dropped, stats.ping_timeouts) == (1, 0, 0)


async def test_heartbeat_stall_reconnects() -> None:
    """PyISY ``test_guardian_triggers_reconnect_when_heartbeat_missed`` on a real socket."""
    async with (
        open_isy_server(heartbeat=1) as server,
        open_isy_event_stream(server.base_url, heartbeat_grace=0.3, **OPTIONS) as stream,
    ):
        await stream.wait_status(S.CONNECTED)
        server.heartbeats_paused = True
        lost = None
        async for change in stream.status_changes():
            if change.status is S.LOST_CONNECTION:
                lost = change
                server.heartbeats_paused = False
            if change.status is S.CONNECTED:
                break
        stats = stream.statistics()
    assert lost is not None and lost.detail == "heartbeat missed"
    assert stats.heartbeat_timeouts == 1 and stats.connections == 2


async def test_garbage_frames_do_not_end_the_stream() -> None:
    replay = [isy_frame(1), "<<not xml", "{}", "<Event/>", isy_frame(2)]
    async with (
        open_isy_server(replay=replay) as server,
        open_isy_event_stream(server.base_url, **OPTIONS) as stream,
    ):
        first, second = await stream.receive(), await stream.receive()
        stats = stream.statistics()
    assert (first.data.seqnum, second.data.seqnum) == (1, 2)
    assert (stats.bad_frames, stats.connections) == (3, 1)


async def test_server_down_then_back_on_the_same_port() -> None:
    async with (
        open_isy_server(replay=isy_replay(3)) as server,
        open_isy_event_stream(server.base_url, **OPTIONS) as stream,
    ):
        await stream.wait_status(S.CONNECTED)
        server.stop()  # connections cut, new ones refused
        await stream.wait_status(S.RECONNECTING)
        await trio.sleep(0.5)  # several refused attempts meanwhile
        attempts_while_down = stream.statistics().attempts
        await server.start()
        await stream.wait_status(S.CONNECTED)
        stats = stream.statistics()
    assert attempts_while_down >= 3
    assert stats.connections == 2 and stats.synced == 2


async def test_accept_then_drop_server_backs_off() -> None:
    async with open_isy_server(drop_after_handshake=True) as server:
        with trio.move_on_after(1.0):
            async with open_isy_event_stream(
                server.base_url, backoff=Backoff(initial=0.1, maximum=10, jitter=Jitter.NONE)
            ) as stream:
                await trio.sleep_forever()
    # 0.1, 0.2, 0.4 s delays: at most 4 sockets in a second, never CONNECTED
    assert 2 <= len(server.handshakes) <= 4
    assert stream.statistics().synced == 0


async def test_rejected_credentials_end_in_reconnect_failed() -> None:
    async with (
        open_isy_server(refuse_with=401) as server,
        open_isy_event_stream(
            server.base_url, username="admin", password="wrong", **OPTIONS
        ) as stream,
    ):
        with pytest.raises(EventStreamRejected, match="HTTP 401"):
            await stream.receive()
        assert stream.status is S.RECONNECT_FAILED
    assert len(server.handshakes) == 2


async def test_wss_trusted_certificate_connects_untrusted_one_is_final() -> None:
    """TLS is checked before the websocket handshake, so a certificate the client does not
    trust is a final RECONNECT_FAILED (retrying cannot fix it), not an endless reconnect loop."""
    import ssl

    import trustme

    ca = trustme.CA()
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(server_context)
    trusting = ssl.create_default_context()
    ca.configure_trust(trusting)
    async with open_isy_server(replay=isy_replay(3), ssl_context=server_context) as server:
        url = server.url
        isy = {"subprotocols": ["ISYSUB"], **OPTIONS}
        async with open_event_stream(url, ssl_context=trusting, **isy) as stream:
            events = [await stream.receive() for _ in range(3)]
            await stream.wait_status(S.CONNECTED)
        assert all(e.replayed for e in events)

        untrusting = ssl.create_default_context()  # the system's CAs only
        async with open_event_stream(url, ssl_context=untrusting, **isy) as stream:
            with (
                trio.fail_after(10),
                pytest.raises(EventStreamRejected, match="TLS certificate not accepted"),
            ):
                await stream.receive()
            assert stream.statistics().attempts == 1
