"""The MQTT bridge's sans-I/O parts and its trio side over a fake paho client: topics, the
ack tracker, the reconnect policy, the inbox's drain, ack order and stale acks."""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

import pytest
import trio

from trio_locksync import Backoff, Jitter
from trio_locksync.core import Overflow, ReconnectOptions
from trio_locksync.mqtt import MqttProtocol, MqttStatus, TopicError, topic_matches
from trio_locksync.mqtt._acks import AckTracker
from trio_locksync.mqtt._bridge import MqttBridge
from trio_locksync.mqtt._events import Connack, Puback, Received, Suback
from trio_locksync.mqtt._inbox import Inbox
from trio_locksync.mqtt._settings import BridgeSettings, SessionSettings
from trio_locksync.mqtt._topics import check_filter, check_topic

# -- topics ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("topic_filter", "topic", "matches"),
    [
        ("a/b", "a/b", True),
        ("a/+", "a/b", True),
        ("a/+", "a/b/c", False),
        ("a/#", "a", True),
        ("a/#", "a/b/c", True),
        ("#", "a/b", True),
        ("+/+", "a/b", True),
        ("+", "a/b", False),
        ("#", "$SYS/broker", False),
        ("$SYS/#", "$SYS/broker", True),
        ("a/+/c", "a//c", True),
    ],
)
def test_topic_matching(topic_filter: str, topic: str, matches: bool) -> None:
    assert topic_matches(topic_filter, topic) is matches


@pytest.mark.parametrize("bad", ["", "a/#/b", "a/b#", "a/+b", "a\x00b", "$share/g/a", 5])
def test_bad_filters_are_refused_at_the_call(bad: object) -> None:
    with pytest.raises(TopicError):
        check_filter(bad)


@pytest.mark.parametrize("bad", ["", "a/+", "a/#", "a\x00"])
def test_publishing_to_a_wildcard_or_empty_topic_is_refused(bad: str) -> None:
    with pytest.raises(TopicError):
        check_topic(bad)


# -- acks ------------------------------------------------------------------------------------


def test_acks_go_out_in_arrival_order_as_a_contiguous_prefix() -> None:
    acks = AckTracker()
    acks.new_connection()
    first, now = acks.received(11, 1)
    second, _ = acks.received(12, 1)
    third, _ = acks.received(13, 1)
    assert now == []
    assert acks.release(third) == []  # 11 and 12 are not done: 13 waits
    assert acks.release(second) == []
    assert acks.release(first) == [11, 12, 13]
    assert acks.outstanding == 0
    assert acks.acked == 3


def test_a_message_routed_to_two_subscriptions_is_acked_when_both_took_it() -> None:
    acks = AckTracker()
    acks.new_connection()
    both, _ = acks.received(7, 2)
    assert acks.release(both) == []
    assert acks.release(both) == [7]
    assert acks.release(both) == []  # a third release changes nothing


def test_acks_of_an_earlier_connection_are_dropped() -> None:
    """A packet id means something only on its connection: a new one may reuse id 5 for another
    message, so taking the old message must not acknowledge the new one."""
    acks = AckTracker()
    acks.new_connection()
    old, _ = acks.received(5, 1)
    acks.new_connection()
    new, _ = acks.received(5, 1)
    assert acks.release(old) == []
    assert acks.stale == 1
    assert acks.release(new) == [5]


# -- the reconnect policy: the core's, tests/test_reconnect_policy.py -----------------------


# -- the inbox ---------------------------------------------------------------------------------


async def test_inbox_drain_never_raises_and_runs_on_the_trio_thread(
    caplog: pytest.LogCaptureFixture,
) -> None:
    trio_thread = threading.get_ident()
    seen: list[tuple[object, int]] = []

    def handler(event: Any) -> None:
        seen.append((event.mid, threading.get_ident()))
        if event.mid == 2:
            raise ValueError("a handler bug")

    inbox = Inbox(trio.lowlevel.current_trio_token(), handler)

    def paho_thread() -> None:
        for i in range(5):
            inbox.put(Received(1, "t", b"", 0, False, False, i, ()))

    await trio.to_thread.run_sync(paho_thread)
    await trio.testing.wait_all_tasks_blocked()
    assert [value for value, _ in seen] == [0, 1, 2, 3, 4]  # the bug did not stop the drain
    assert {thread for _, thread in seen} == {trio_thread}
    assert "handling a Received event failed" in caplog.text


# -- the bridge's trio side over a fake paho client ------------------------------------------


class FakeClient:
    def __init__(self) -> None:
        self.acks: list[int] = []
        self.subscribed: list[str] = []
        #: (topic filter, QoS, MQTT 5 subscription identifier or None) of each SUBSCRIBE
        self.requests: list[tuple[str, int, int | None]] = []

    def ack(self, mid: int, qos: int) -> int:
        self.acks.append(mid)
        return 0

    def subscribe(self, topic: str, qos: int, properties: Any = None) -> tuple[Any, int]:
        from paho.mqtt.enums import MQTTErrorCode

        self.subscribed.append(topic)
        identifier = getattr(properties, "SubscriptionIdentifier", None)
        self.requests.append((topic, qos, identifier[0] if identifier else None))
        return MQTTErrorCode.MQTT_ERR_SUCCESS, 100 + len(self.subscribed)

    def unsubscribe(self, topic: str) -> tuple[Any, int]:
        from paho.mqtt.enums import MQTTErrorCode

        return MQTTErrorCode.MQTT_ERR_SUCCESS, 0


def fake_bridge(protocol: str = "V5") -> tuple[MqttBridge, FakeClient]:
    bridge = MqttBridge._create(
        BridgeSettings(
            session=SessionSettings(
                host="fake",
                port=1,
                client_id="fake",
                protocol=getattr(MqttProtocol, protocol),
                keepalive=60,
                session_expiry=60,
                receive_maximum=10,
            ),
            reconnect=ReconnectOptions(backoff=Backoff(), stable_after=1.0, connect_timeout=1.0),
            buffer_size=10,
            overflow=Overflow.DROP_OLDEST,
        )
    )
    client = FakeClient()
    bridge._session._client = client  # type: ignore[assignment]
    return bridge, client


async def test_taking_messages_out_of_order_still_acks_in_arrival_order() -> None:
    bridge, client = fake_bridge()
    generation = bridge._router.new_connection()
    bridge._connection.generation = generation
    bridge._move(MqttStatus.CONNECTING, "test")
    bridge._handle(Connack(generation, False, 0, "Success"))
    async with trio.open_nursery() as nursery:

        async def subscribe(topic_filter: str, box: list[Any]) -> None:
            async with bridge.subscribe(topic_filter, qos=1) as subscription:
                box.append(subscription)
                await trio.sleep_forever()

        a: list[Any] = []
        b: list[Any] = []
        nursery.start_soon(subscribe, "a/#", a)
        nursery.start_soon(subscribe, "b/#", b)
        await trio.testing.wait_all_tasks_blocked()
        for mid, _topic in enumerate(client.subscribed, start=101):
            bridge._handle(Suback(generation, mid, (1,)))
        await trio.testing.wait_all_tasks_blocked()
        for mid, topic in ((1, "a/x"), (2, "b/x"), (3, "a/y")):
            bridge._handle(Received(generation, topic, b"p", 1, False, False, mid, ()))
        (sub_a,), (sub_b,) = a, b
        assert (await sub_a.__anext__()).topic == "a/x"
        assert client.acks == [1]
        assert (await sub_a.__anext__()).topic == "a/y"
        assert client.acks == [1]  # 3 waits for 2, which b has not taken
        assert (await sub_b.__anext__()).topic == "b/x"
        assert client.acks == [1, 2, 3]
        # A message of an earlier connection taken now is not acknowledged.
        bridge._handle(Received(generation, "a/z", b"p", 1, False, False, 4, ()))
        new = bridge._router.new_connection()
        bridge._connection.generation = new
        assert (await sub_a.__anext__()).topic == "a/z"
        assert client.acks == [1, 2, 3]
        assert bridge.statistics().stale_acks == 1
        nursery.cancel_scope.cancel()


async def test_a_handler_bug_does_not_reach_trio(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.ERROR)
    bridge, _ = fake_bridge()
    bridge._inbox.put(Received(0, "t", b"", 1, False, False, 1, ()))  # no connection: ignored
    bridge._inbox.put(Puback(0, 1, 0, "Success"))  # nothing waits for it: ignored
    bridge._inbox.put(Connack(0, False, None, "?"))  # type: ignore[arg-type]  # malformed: logged,
    bridge._inbox.put(Suback(0, 1, ()))  # and the drain goes on
    await trio.testing.wait_all_tasks_blocked()
    assert "handling a Connack event failed" in caplog.text


# -- the paho thread's plumbing: read buffer, hand-over per loop turn, pauses, holds ----------


class Recorder:
    def __init__(self) -> None:
        self.events: list[tuple[Any, ...]] = []

    def __call__(self, event: tuple[Any, ...]) -> None:
        self.events.append(event)


async def test_messages_are_handed_over_once_per_loop_turn() -> None:
    """The network loop puts messages without scheduling a drain and flushes once per turn:
    one run_sync_soon (a system call) per batch, not per message."""
    recorder = Recorder()
    token = trio.lowlevel.current_trio_token()
    drains = 0

    class CountingToken:
        def run_sync_soon(self, function: Any) -> None:
            nonlocal drains
            drains += 1
            token.run_sync_soon(function)

    inbox = Inbox(CountingToken(), recorder)  # type: ignore[arg-type]

    def paho_thread() -> None:
        for turn in range(3):
            for i in range(10):
                inbox.put(Received(1, "t", b"", 0, False, False, turn * 10 + i, ()), flush=False)
            inbox.flush()
            inbox.flush()  # a second flush with a drain scheduled adds nothing

    await trio.to_thread.run_sync(paho_thread)
    await trio.testing.wait_all_tasks_blocked()
    assert [e.mid for e in recorder.events] == list(range(30))
    assert 1 <= drains <= 3


def test_hold_waits_at_the_limit_until_an_eighth_is_taken() -> None:
    inbox = Inbox(
        trio.lowlevel.TrioToken.__new__(trio.lowlevel.TrioToken), Recorder(), hold_limit=16
    )
    for _ in range(16):
        assert inbox.hold(lambda: False)  # no lock, no wait below the limit
    assert inbox.held == 16
    result: list[bool] = []
    thread = threading.Thread(target=lambda: result.append(inbox.hold(lambda: False)))
    thread.start()
    thread.join(0.3)
    assert thread.is_alive()  # the 17th waits: memory stays bounded
    inbox.unhold()
    thread.join(0.3)
    assert thread.is_alive()  # one taken is not enough: 16 - 2 = 14 is the resume point
    inbox.unhold()
    thread.join(2.0)
    assert not thread.is_alive() and result == [True]
    assert inbox.held == 15


def test_hold_gives_up_when_stopping() -> None:
    inbox = Inbox(
        trio.lowlevel.TrioToken.__new__(trio.lowlevel.TrioToken), Recorder(), hold_limit=1
    )
    assert inbox.hold(lambda: False)
    stopping = threading.Event()
    result: list[bool] = []
    thread = threading.Thread(target=lambda: result.append(inbox.hold(stopping.is_set)))
    thread.start()
    stopping.set()
    inbox.wake()
    thread.join(2.0)
    assert result == [False]  # dropped unacknowledged: the broker redelivers it


def test_pause_waits_for_a_consumer_behind_then_lets_a_stalled_one_go() -> None:
    from trio_locksync.mqtt import _inbox

    inbox = Inbox(trio.lowlevel.TrioToken.__new__(trio.lowlevel.TrioToken), Recorder())
    started = time.monotonic()
    inbox.pause()  # nobody behind: no wait
    assert time.monotonic() - started < _inbox.PAUSE_LIMIT
    inbox.press(True)
    thread = threading.Thread(target=inbox.pause)
    thread.start()
    thread.join(_inbox.PAUSE_LIMIT / 5)
    assert thread.is_alive()  # waits for the consumer...
    inbox.press(False)  # ...which caught up
    thread.join(2.0)
    assert not thread.is_alive()
    inbox.press(True)  # behind again, and stalled: one pause of PAUSE_LIMIT, then none
    started = time.monotonic()
    inbox.pause()
    assert time.monotonic() - started >= _inbox.PAUSE_LIMIT * 0.9
    started = time.monotonic()
    for _ in range(100):
        inbox.pause()
    assert time.monotonic() - started < _inbox.PAUSE_LIMIT
    inbox.press(False)
    inbox.pause()  # caught up: pauses are armed again
    inbox.press(True)
    started = time.monotonic()
    inbox.pause()
    assert time.monotonic() - started >= _inbox.PAUSE_LIMIT * 0.9


async def test_a_buffer_past_its_high_water_mark_presses_until_it_is_empty() -> None:
    from trio_locksync.mqtt._models import MqttMessage
    from trio_locksync.mqtt._subscription import HIGH_WATER, MqttSubscription, Pushed

    calls: list[bool] = []

    class Upstream:
        def release(self, delivery: Any) -> None:
            pass

        def caught_up(self) -> None:
            calls.append(False)

    sub = MqttSubscription._create(
        "t", 0, buffer_size=1000, overflow=Overflow.DROP_OLDEST, upstream=Upstream()
    )

    def push() -> None:
        if sub.push(message, None) is Pushed.PRESSED:
            calls.append(True)

    message = MqttMessage("t", b"", 0, False, False, 0.0, 1)
    for _ in range(HIGH_WATER - 1):
        push()
    assert calls == []
    push()
    push()
    assert calls == [True]  # once
    while len(sub) > 1:
        await sub.__anext__()
    assert calls == [True]  # not caught up yet
    await sub.__anext__()
    assert calls == [True, False]
    push()
    assert not sub.discard().relieved  # below the mark: nothing to relieve
    assert calls == [True, False]


async def test_the_router_presses_while_any_buffer_is_behind() -> None:
    bridge, _ = fake_bridge()
    from trio_locksync.mqtt._subscription import Pushed

    router, inbox = bridge._router, bridge._inbox
    router._pushed(Pushed.PRESSED)
    router._pushed(Pushed.PRESSED)
    assert inbox._pressure
    router.caught_up()
    assert inbox._pressure  # the other one is still behind
    router.caught_up()
    assert not inbox._pressure


# -- retained messages for every subscription of a filter --------------------------------------


def fake_connected(protocol: str = "V5") -> tuple[MqttBridge, FakeClient, int]:
    bridge, client = fake_bridge(protocol)
    generation = bridge._router.new_connection()
    bridge._connection.generation = generation
    bridge._move(MqttStatus.CONNECTING, "test")
    bridge._handle(Connack(generation, False, 0, "Success"))
    return bridge, client, generation


async def open_block(
    nursery: trio.Nursery, bridge: MqttBridge, topic_filter: str, qos: int
) -> tuple[list[Any], trio.Event]:
    """Start a ``bridge.subscribe()`` block in a task; the box gets the subscription once the
    block started; set the event to leave the block."""
    box: list[Any] = []
    leave = trio.Event()

    async def block() -> None:
        async with bridge.subscribe(topic_filter, qos=qos) as subscription:
            box.append(subscription)
            await leave.wait()

    nursery.start_soon(block)
    await trio.testing.wait_all_tasks_blocked()
    return box, leave


def retained(generation: int, topic: str, qos: int, mid: int, ids: tuple[int, ...]) -> Any:
    return Received(generation, topic, b"offline", qos, True, False, mid, ids)


def buffered(subscription: Any) -> list[tuple[str, bool]]:
    return [(m.topic, m.retain) for m, _ in subscription._buffer.peek_all()]


@pytest.mark.parametrize("qos", [0, 1])
async def test_a_second_block_on_a_subscribed_filter_subscribes_again_and_gets_the_retained(
    qos: int,
) -> None:
    bridge, client, generation = fake_connected()
    async with trio.open_nursery() as nursery:
        a, _ = await open_block(nursery, bridge, "z/bridge/state", 0)
        assert client.requests == [("z/bridge/state", 0, 1)]
        bridge._handle(Suback(generation, 101, (0,)))
        await trio.testing.wait_all_tasks_blocked()
        bridge._handle(retained(generation, "z/bridge/state", 0, 0, (1,)))
        (sub_a,) = a
        assert buffered(sub_a) == [("z/bridge/state", True)]

        b, _ = await open_block(nursery, bridge, "z/bridge/state", qos)
        # Its own SUBSCRIBE: same identifier, the highest QoS of the filter's blocks; the block
        # starts only once the broker answered it.
        assert client.requests[1] == ("z/bridge/state", qos, 1)
        assert b == []
        bridge._handle(Suback(generation, 102, (qos,)))
        await trio.testing.wait_all_tasks_blocked()
        (sub_b,) = b
        bridge._handle(retained(generation, "z/bridge/state", qos, 7, (1,)))
        assert buffered(sub_b) == [("z/bridge/state", True)]
        assert buffered(sub_a) == [("z/bridge/state", True)]  # no second copy for A
        assert bridge._router.repeats == 1
        # A live message (retain=0) goes to both.
        bridge._handle(Received(generation, "z/bridge/state", b"x", qos, False, False, 8, (1,)))
        assert buffered(sub_a)[-1] == buffered(sub_b)[-1] == ("z/bridge/state", False)
        nursery.cancel_scope.cancel()


async def test_a_retained_repeat_nobody_takes_is_acked_in_its_turn() -> None:
    bridge, client, generation = fake_connected()
    releases = bridge._inbox._releases
    async with trio.open_nursery() as nursery:
        a, _ = await open_block(nursery, bridge, "t/#", 1)
        bridge._handle(Suback(generation, 101, (1,)))
        await trio.testing.wait_all_tasks_blocked()
        (sub_a,) = a
        bridge._handle(retained(generation, "t/x", 1, 1, (1,)))
        bridge._handle(Received(generation, "t/y", b"p", 1, False, False, 2, (1,)))
        # A repeat of t/x (another block's SUBSCRIBE resent it): nobody takes it, so it is
        # finished at once for the paho thread, but acknowledged only after 1 and 2.
        bridge._handle(retained(generation, "t/x", 1, 3, (1,)))
        assert buffered(sub_a) == [("t/x", True), ("t/y", False)]
        assert bridge._inbox._releases == releases + 1
        assert client.acks == []
        assert (await sub_a.__anext__()).topic == "t/x"
        assert client.acks == [1]
        assert (await sub_a.__anext__()).topic == "t/y"
        assert client.acks == [1, 2, 3]
        nursery.cancel_scope.cancel()


async def test_a_block_joining_while_the_subscribe_is_in_flight_gets_its_own() -> None:
    bridge, client, generation = fake_connected()
    async with trio.open_nursery() as nursery:
        a, _ = await open_block(nursery, bridge, "t/s", 0)
        b, _ = await open_block(nursery, bridge, "t/s", 0)
        assert client.subscribed == ["t/s", "t/s"]  # the first was sent before B joined
        bridge._handle(Suback(generation, 101, (0,)))
        await trio.testing.wait_all_tasks_blocked()
        assert len(a) == 1
        assert b == []  # waits for the SUBSCRIBE that covers it
        bridge._handle(retained(generation, "t/s", 0, 0, (1,)))  # from the first SUBSCRIBE
        bridge._handle(Suback(generation, 102, (0,)))
        await trio.testing.wait_all_tasks_blocked()
        bridge._handle(retained(generation, "t/s", 0, 0, (1,)))  # from the second
        (sub_a,), (sub_b,) = a, b
        assert buffered(sub_a) == buffered(sub_b) == [("t/s", True)]
        assert bridge._router.repeats == 1
        # A third block: one more SUBSCRIBE; none for those already covered.
        c, _ = await open_block(nursery, bridge, "t/s", 0)
        assert client.subscribed == ["t/s"] * 3
        bridge._handle(Suback(generation, 103, (0,)))
        await trio.testing.wait_all_tasks_blocked()
        assert len(c) == 1
        nursery.cancel_scope.cancel()


async def test_every_block_gets_the_retained_again_on_a_new_session() -> None:
    bridge, client, generation = fake_connected()
    async with trio.open_nursery() as nursery:
        a, _ = await open_block(nursery, bridge, "t/s", 0)
        bridge._handle(Suback(generation, 101, (0,)))
        await trio.testing.wait_all_tasks_blocked()
        b, _ = await open_block(nursery, bridge, "t/s", 0)
        bridge._handle(Suback(generation, 102, (0,)))
        await trio.testing.wait_all_tasks_blocked()
        (sub_a,), (sub_b,) = a, b
        bridge._handle(retained(generation, "t/s", 0, 0, (1,)))
        # The link drops; the broker kept no session: one SUBSCRIBE for the filter, and its
        # retained copy is a replay for both blocks.
        new = bridge._router.new_connection()
        bridge._connection.generation = new
        bridge._move(MqttStatus.RECONNECTING, "test")
        bridge._handle(Connack(new, False, 0, "Success"))
        assert client.subscribed == ["t/s"] * 3
        bridge._handle(Suback(new, 103, (0,)))
        bridge._handle(retained(new, "t/s", 0, 0, (1,)))
        assert buffered(sub_a) == buffered(sub_b) == [("t/s", True), ("t/s", True)]
        assert bridge._router.repeats == 0
        nursery.cancel_scope.cancel()


async def test_a_block_joining_while_disconnected_subscribes_again_on_a_resumed_session() -> None:
    bridge, client, generation = fake_connected()
    async with trio.open_nursery() as nursery:
        a, _ = await open_block(nursery, bridge, "t/s", 0)
        bridge._handle(Suback(generation, 101, (0,)))
        await trio.testing.wait_all_tasks_blocked()
        bridge._handle(retained(generation, "t/s", 0, 0, (1,)))
        new = bridge._router.new_connection()
        bridge._connection.generation = new
        bridge._move(MqttStatus.RECONNECTING, "test")
        b, _ = await open_block(nursery, bridge, "t/s", 0)
        bridge._handle(Connack(new, True, 0, "Success"))  # session present: filter kept
        await trio.testing.wait_all_tasks_blocked()
        assert client.subscribed == ["t/s", "t/s"]  # only for B, which has no retained yet
        assert b == []
        bridge._handle(Suback(new, 102, (0,)))
        await trio.testing.wait_all_tasks_blocked()
        bridge._handle(retained(new, "t/s", 0, 0, (1,)))  # for B's SUBSCRIBE
        (sub_a,), (sub_b,) = a, b
        assert buffered(sub_b) == [("t/s", True)]
        assert buffered(sub_a) == [("t/s", True)]  # A keeps what it had: no replay for it
        nursery.cancel_scope.cancel()


async def test_mqtt311_routes_retained_copies_by_topic_without_identifiers() -> None:
    bridge, client, generation = fake_connected("V311")
    async with trio.open_nursery() as nursery:
        a, _ = await open_block(nursery, bridge, "r/t", 0)
        bridge._handle(Suback(generation, 101, (0,)))
        await trio.testing.wait_all_tasks_blocked()
        bridge._handle(retained(generation, "r/t", 0, 0, ()))
        b, _ = await open_block(nursery, bridge, "r/#", 0)  # overlaps A's filter
        bridge._handle(Suback(generation, 102, (0,)))
        await trio.testing.wait_all_tasks_blocked()
        assert client.requests == [("r/t", 0, None), ("r/#", 0, None)]
        # B's SUBSCRIBE resends r/t: with no identifiers it matches both, A already had it.
        bridge._handle(retained(generation, "r/t", 0, 0, ()))
        (sub_a,), (sub_b,) = a, b
        assert buffered(sub_a) == buffered(sub_b) == [("r/t", True)]
        nursery.cancel_scope.cancel()


# -- receive_maximum ---------------------------------------------------------------------------


@pytest.mark.parametrize("value", [0, 65536, -1])
async def test_receive_maximum_is_checked(value: int) -> None:
    from trio_locksync.mqtt import open_mqtt_bridge

    with pytest.raises(ValueError, match=r"receive_maximum must be 1\.\.65535"):
        async with open_mqtt_bridge("127.0.0.1", receive_maximum=value):
            pass  # pragma: no cover


@pytest.mark.parametrize(
    ("options", "expected"),
    [({}, 1000), ({"buffer_size": 50}, 50), ({"buffer_size": 50, "receive_maximum": 7}, 7)],
)
async def test_receive_maximum_defaults_to_buffer_size_and_bounds_the_hold(
    options: dict[str, int], expected: int
) -> None:
    """What the CONNECT asks of the broker (MQTT 5 ReceiveMaximum) and the QoS 1 messages held
    before paho's thread waits; the subscriptions' buffers keep buffer_size."""
    from trio_locksync.mqtt import open_mqtt_bridge
    from trio_locksync.testing._broker import free_port

    fast = Backoff(initial=0.05, maximum=0.5, jitter=Jitter.NONE)
    async with open_mqtt_bridge("127.0.0.1", free_port(), backoff=fast, **options) as bridge:
        assert bridge._session._settings.receive_maximum == expected
        assert bridge._inbox._hold_limit == expected
        assert bridge._buffer_size == options.get("buffer_size", 1000)


def test_a_received_event_never_shows_its_payload() -> None:
    """Zigbee2MQTT payloads carry PINs; an event in a traceback's locals must not."""
    event = Received(1, "z2m/lock", b'{"users":{"3":{"pin_code":"1234"}}}', 1, False, False, 7, ())
    assert "1234" not in repr(event) and "<35 bytes>" in repr(event)


async def test_a_qos1_message_routed_to_a_closed_subscription_is_released() -> None:
    """Not buffered (nobody will take it) and released, so that the acknowledgements behind it
    are not held up."""
    from trio_locksync.mqtt._models import MqttMessage
    from trio_locksync.mqtt._subscription import MqttSubscription, Pushed

    released: list[Any] = []

    class Upstream:
        def release(self, delivery: Any) -> None:
            released.append(delivery)

        def caught_up(self) -> None:
            pass

    sub = MqttSubscription._create(
        "t", 1, buffer_size=10, overflow=Overflow.DROP_OLDEST, upstream=Upstream()
    )
    sub.close()
    message = MqttMessage("t", b"", 1, False, False, 0.0, 1)
    delivery = object()
    assert sub.push(message, delivery) is Pushed.CLOSED  # type: ignore[arg-type]
    assert released == [delivery] and len(sub) == 0 and sub.dropped == 0
