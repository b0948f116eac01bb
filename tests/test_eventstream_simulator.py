"""The ISY controller simulator (``trio_locksync.testing.isy``) against the real event stream.

Over its in-memory transport (``listen=False``), so every time is exact under
``autojump_clock``; the same controller on a loopback port is what ``test_eventstream_server``
runs against.
"""

from __future__ import annotations

import errno
import socket
from decimal import Decimal
from typing import Any

import pytest
import trio
import trio_websocket

from trio_locksync.core import Backoff, Jitter
from trio_locksync.eventstream import (
    EventStreamRejected,
    EventStreamStatus,
    IsyEvent,
    StreamEvent,
    decode_isy_event,
    open_event_stream,
    open_isy_event_stream,
)
from trio_locksync.testing import SimulatorError
from trio_locksync.testing.isy import (
    IsyController,
    IsySubscriber,
    NodeStatus,
    isy_event_frame,
    isy_heartbeat_frame,
    isy_status_frame,
)

from .wshelpers import open_isy_server

S = EventStreamStatus
STEADY = Backoff(initial=1.0, maximum=60.0, jitter=Jitter.NONE)


def isy_stream(controller: IsyController, **options: Any) -> Any:
    return open_isy_event_stream(
        "http://isy.test", open_transport=controller.open_transport, backoff=STEADY, **options
    )


def node_values(events: list[StreamEvent[IsyEvent]]) -> list[tuple[str | None, Decimal | None]]:
    return [(e.data.node, e.data.value) for e in events if not e.data.is_heartbeat]


# --------------------------------------------------------------------- frames


def test_frame_builders_write_what_the_decoder_reads() -> None:
    status = decode_isy_event(isy_status_frame(7, "ZW002_1", 725, uom="17", prec=1))
    assert (status.control, status.node, status.uom, status.value) == (
        "ST",
        "ZW002_1",
        "17",
        Decimal("72.5"),
    )
    assert (status.seqnum, status.sid) == (7, "uuid:40")
    heartbeat = decode_isy_event(isy_heartbeat_frame(8, 30))
    assert heartbeat.heartbeat_interval == 30.0
    log = decode_isy_event(
        isy_event_frame(seqnum=9, control="_7", action="1", node="A & B", event_info="x=1&y=2")
    )
    assert log.node == "A & B"  # escaped by the builder; a bare & in eventInfo is decoded too
    assert log.event_info == "x=1&amp;y=2"


# --------------------------------------------------------------------- the protocol


async def test_replay_heartbeats_and_live_changes(autojump_clock: object) -> None:
    """Each connect: heartbeat announcement, every node's status in address order (replayed),
    then live changes; a paused heartbeat drops the connection at interval + grace."""
    async with (
        open_isy_server(
            {"B": 2, "A": NodeStatus(100, uom="11")}, heartbeat=30, listen=False
        ) as controller,
        isy_stream(controller) as stream,
    ):
        replay = [await stream.receive() for _ in range(3)]
        await stream.wait_status(S.CONNECTED)
        assert trio.current_time() == 1.0
        controller.set_status("A", 0)
        live = await stream.receive()
        heartbeat = await stream.receive()  # at 30
        assert trio.current_time() == 30.0
        controller.heartbeats_paused = True
        await stream.wait_status(S.RECONNECTING)  # lost, and waiting to reconnect
        assert trio.current_time() == 62.0  # the one at 60 never came; 2 s grace
        stats = stream.statistics()
    assert replay[0].data.heartbeat_interval == 30.0
    assert node_values(replay) == [("A", Decimal(100)), ("B", Decimal(2))]
    assert all(e.replayed for e in replay)
    assert (live.replayed, live.data.node, live.data.value, live.data.uom) == (
        False,
        "A",
        Decimal(0),
        "11",
    )
    assert heartbeat.data.is_heartbeat
    assert (stats.heartbeats, stats.heartbeat_timeouts) == (2, 1)
    assert controller.nodes["A"] == NodeStatus(0, uom="11")
    assert controller.handshakes[0].subprotocols == ("ISYSUB",)
    assert controller.handshakes[0].headers["origin"] == "com.universal-devices.websockets.isy"


async def test_a_change_during_the_replay_follows_it(autojump_clock: object) -> None:
    """The replay is a snapshot taken when the subscriber registered: a change meanwhile is
    sent after it, never lost and never overtaken by the stale replayed value."""
    async with (
        open_isy_server({"A": 1, "B": 2, "C": 3}, replay_gap=1.0, listen=False) as controller,
        isy_stream(controller, quiet=5.0, cap=20.0) as stream,
    ):
        await stream.wait_status(S.SYNCING)
        await trio.sleep(0.5)
        controller.set_status("A", 9)
        events = [await stream.receive() for _ in range(4)]
    assert node_values(events) == [
        ("A", Decimal(1)),
        ("B", Decimal(2)),
        ("C", Decimal(3)),
        ("A", Decimal(9)),
    ]
    assert [e.received_at for e in events] == [0.0, 1.0, 2.0, 2.0]


async def test_scripted_replay_and_broadcast(autojump_clock: object) -> None:
    garbage = ["<<not xml", isy_status_frame(50, "X", 5)]
    async with (
        open_isy_server(replay=garbage, listen=False) as controller,
        isy_stream(controller) as stream,
    ):
        await stream.wait_status(S.CONNECTED)
        await controller.broadcast(isy_status_frame(51, "LIVE", 1))
        events = [await stream.receive() for _ in range(2)]
    assert [(e.data.seqnum, e.replayed) for e in events] == [(50, True), (51, False)]


async def test_authorization_is_checked(autojump_clock: object) -> None:
    async with open_isy_server(authorization="Bearer right", listen=False) as controller:
        async with isy_stream(controller, token="wrong") as stream:
            with pytest.raises(EventStreamRejected, match="HTTP 401"):
                await stream.wait_status(S.CONNECTED)
        async with isy_stream(controller, token="right") as stream:
            await stream.wait_status(S.CONNECTED)
    assert [h.refused_with for h in controller.handshakes] == [401, 401, None]


async def test_only_rest_subscribe_is_served(autojump_clock: object) -> None:
    async with (
        open_isy_server(listen=False) as controller,
        open_event_stream(
            "ws://isy.test/rest/other", open_transport=controller.open_transport
        ) as stream,
    ):
        await stream.wait_status(S.RECONNECT_FAILED)
    assert stream.failure is not None and stream.failure.status_code == 404
    assert controller.handshakes[0].path == "/rest/other"


async def test_subprotocol_is_accepted_only_when_proposed(autojump_clock: object) -> None:
    async with (
        open_isy_server({"A": 1}, listen=False) as controller,
        open_event_stream(
            "ws://isy.test/rest/subscribe?x=1", open_transport=controller.open_transport
        ) as stream,
    ):
        event = await stream.receive()
    assert "<node>A</node>" in event.data
    assert controller.handshakes[0].subprotocols == ()


async def test_refusing_and_cutting_knobs(autojump_clock: object) -> None:
    async with (
        open_isy_server(refuse_with=503, listen=False) as controller,
        isy_stream(controller) as stream,
    ):
        await stream.wait_status(S.RECONNECTING)
        controller.refuse_with = None
        controller.drop_after_handshake = True
        await trio.sleep(10)
        controller.drop_after_handshake = False
        await stream.wait_status(S.CONNECTED)
    refused = [h.refused_with for h in controller.handshakes]
    assert refused[0] == 503 and refused[1:] == [None] * (len(refused) - 1)
    assert stream.statistics().synced == 1


async def test_down_refuses_connects_and_up_serves_again(autojump_clock: object) -> None:
    async with (
        open_isy_server({"A": 1}, listen=False) as controller,
        isy_stream(controller) as stream,
    ):
        await stream.wait_status(S.CONNECTED)
        controller.stop()
        assert not controller.is_up
        with pytest.raises(ConnectionRefusedError):
            await controller.open_transport()
        lost = await stream.wait_status(S.RECONNECTING)
        await trio.sleep(5)
        await controller.start()
        await stream.wait_status(S.CONNECTED)
        stats = stream.statistics()
    assert lost is S.RECONNECTING
    assert (stats.connections, stats.synced) == (2, 2) and stats.attempts > 2


async def test_drop_all_cuts_every_subscriber(autojump_clock: object) -> None:
    async with (
        open_isy_server({"A": 1}, listen=False) as controller,
        isy_stream(controller) as first,
        isy_stream(controller) as second,
    ):
        await first.wait_status(S.CONNECTED)
        await second.wait_status(S.CONNECTED)
        assert len(controller.subscribers) == 2
        await controller.drop_all()
        await first.wait_status(S.RECONNECTING)
        await second.wait_status(S.RECONNECTING)
        await first.wait_status(S.CONNECTED)
    assert first.statistics().connections == 2


async def test_on_subscribe_scripts_each_subscriber(autojump_clock: object) -> None:
    """The hook runs after the replay, beside the live frames; it can send, ping and drop."""
    pongs: list[int] = []

    async def script(subscriber: IsySubscriber) -> None:
        subscriber.send(isy_status_frame(1, f"HELLO {subscriber.number}", 1))
        await subscriber.ws.ping()
        pongs.append(subscriber.number)
        if subscriber.number == 1:
            await trio.sleep(5)
            await subscriber.drop()

    async with (
        open_isy_server({"A": 1}, on_subscribe=script, listen=False) as controller,
        isy_stream(controller) as stream,
    ):
        events = [await stream.receive() for _ in range(4)]
        await stream.wait_status(S.CONNECTED)
    assert [(e.connection, e.data.node) for e in events] == [
        (1, "A"),
        (1, "HELLO 1"),
        (2, "A"),
        (2, "HELLO 2"),
    ]
    assert pongs == [1, 2]


async def test_tcp_listener_on_the_same_port_after_restart() -> None:
    async with open_isy_server({"A": 1}) as controller:
        port = controller.port
        assert controller.base_url == f"http://127.0.0.1:{port}"
        async with trio_websocket.open_websocket_url(controller.url, subprotocols=["ISYSUB"]) as ws:
            assert "<node>A</node>" in await ws.get_message()
        controller.stop()
        await controller.start()
        assert controller.port == port
        async with trio_websocket.open_websocket_url(controller.url) as ws:
            assert "<node>A</node>" in await ws.get_message()


#: trio 0.27's Nursery.start re-raises a task's error ``from None`` (trio/_core/_run.py, in
#: ``start``: ``raise exc.exceptions[0] from None``), dropping the cause; later trio keeps it
#: (``nox -s lowest`` runs 0.27)
TRIO_START_KEEPS_CAUSE = tuple(int(part) for part in trio.__version__.split(".")[:2]) >= (0, 28)


async def test_a_port_in_use_is_a_simulator_error_not_a_bare_os_error() -> None:
    """serve() and start() raise one typed error (the OSError chained), outside any group of
    the controller's own nurseries; nothing is left listening."""
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        controller = IsyController(port=port)
        async with trio.open_nursery() as nursery:
            with pytest.raises(SimulatorError) as caught:
                await nursery.start(controller.serve)
        assert str(caught.value) == (
            f"IsyController: cannot listen on 127.0.0.1:{port}: Address already in use"
        )
        if TRIO_START_KEEPS_CAUSE:
            assert isinstance(caught.value.__cause__, OSError)
            assert caught.value.__cause__.errno == errno.EADDRINUSE
        assert not controller.is_up
        # a controller that went down and finds its port taken when it comes back
        async with open_isy_server() as controller:
            controller.stop()
            controller.port = port
            with pytest.raises(SimulatorError, match=f"127.0.0.1:{port}"):
                await controller.start()
            assert not controller.is_up
