"""The MQTT bridge's sans-I/O parts and its trio side over a fake paho client: topics, the
ack tracker, the reconnect policy, the inbox's drain, ack order and stale acks."""

from __future__ import annotations

import logging
import random
import threading
from typing import Any

import pytest
import trio

from trio_locksync import Backoff, Jitter
from trio_locksync.eventstream import Overflow
from trio_locksync.mqtt import MqttStatus, TopicError, topic_matches
from trio_locksync.mqtt._acks import AckTracker
from trio_locksync.mqtt._bridge import MqttBridge
from trio_locksync.mqtt._paho import Inbox
from trio_locksync.mqtt._policy import GiveUp, Outcome, ReconnectPolicy, Retry
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


# -- the reconnect policy ----------------------------------------------------------------------


def exact() -> Backoff:
    return Backoff(initial=1.0, maximum=8.0, jitter=Jitter.NONE)


def test_backoff_resets_only_after_a_stable_connection() -> None:
    policy = ReconnectPolicy(exact(), stable_after=10.0, rng=random.Random(1))
    delays = [policy.ended(0.0, Outcome.NETWORK, "refused").delay for _ in range(3)]  # type: ignore[union-attr]
    assert delays == [1.0, 2.0, 4.0]
    policy.connected(100.0)
    retry = policy.ended(105.0, Outcome.LOST, "lost")  # up 5 s < 10 s: a flap, no reset
    assert isinstance(retry, Retry) and retry.delay == 8.0
    policy.connected(200.0)
    retry = policy.ended(215.0, Outcome.LOST, "lost")  # up 15 s: stable, start over
    assert isinstance(retry, Retry) and retry.delay == 1.0


def test_accept_then_drop_keeps_backing_off_and_says_so() -> None:
    policy = ReconnectPolicy(exact(), stable_after=10.0, flap_limit=3)
    now = 0.0
    delays = []
    for _ in range(6):
        policy.connected(now)
        retry = policy.ended(now + 0.1, Outcome.LOST, "connection lost")
        assert isinstance(retry, Retry)
        delays.append(retry.delay)
        now += retry.delay + 0.1
    assert delays == [1.0, 2.0, 4.0, 8.0, 8.0, 8.0]
    assert "another client with this client id" in retry.detail
    assert policy.flaps_total == 6


@pytest.mark.parametrize("outcome", [Outcome.REFUSED, Outcome.UNTRUSTED, Outcome.TAKEN_OVER])
def test_refusals_are_retried_once_then_final(outcome: Outcome) -> None:
    policy = ReconnectPolicy(exact(), stable_after=10.0)
    assert isinstance(policy.ended(0.0, outcome, "no", 0x87), Retry)
    final = policy.ended(1.0, outcome, "no", 0x87)
    assert final == GiveUp("no", 0x87)


# -- the inbox ---------------------------------------------------------------------------------


async def test_inbox_drain_never_raises_and_runs_on_the_trio_thread(
    caplog: pytest.LogCaptureFixture,
) -> None:
    trio_thread = threading.get_ident()
    seen: list[tuple[object, int]] = []

    def handler(event: tuple[Any, ...]) -> None:
        seen.append((event[1], threading.get_ident()))
        if event[1] == 2:
            raise ValueError("a handler bug")

    inbox = Inbox(trio.lowlevel.current_trio_token(), handler)

    def paho_thread() -> None:
        for i in range(5):
            inbox.put(("message", i))

    await trio.to_thread.run_sync(paho_thread)
    await trio.testing.wait_all_tasks_blocked()
    assert [value for value, _ in seen] == [0, 1, 2, 3, 4]  # the bug did not stop the drain
    assert {thread for _, thread in seen} == {trio_thread}
    assert "handling a message event failed" in caplog.text


# -- the bridge's trio side over a fake paho client ------------------------------------------


class FakeClient:
    def __init__(self) -> None:
        self.acks: list[int] = []
        self.subscribed: list[str] = []

    def ack(self, mid: int, qos: int) -> int:
        self.acks.append(mid)
        return 0

    def subscribe(self, topic: str, qos: int, properties: Any = None) -> tuple[Any, int]:
        from paho.mqtt.enums import MQTTErrorCode

        self.subscribed.append(topic)
        return MQTTErrorCode.MQTT_ERR_SUCCESS, 100 + len(self.subscribed)

    def unsubscribe(self, topic: str) -> tuple[Any, int]:
        from paho.mqtt.enums import MQTTErrorCode

        return MQTTErrorCode.MQTT_ERR_SUCCESS, 0


def fake_bridge() -> tuple[MqttBridge, FakeClient]:
    bridge = MqttBridge._create(
        {
            "host": "fake",
            "port": 1,
            "client_id": "fake",
            "protocol": __import__("trio_locksync.mqtt", fromlist=["MqttProtocol"]).MqttProtocol.V5,
            "keepalive": 60,
            "username": None,
            "password": None,
            "tls": None,
            "will": None,
            "session_expiry": 60,
            "receive_maximum": 10,
            "connect_timeout": 1.0,
        },
        backoff=Backoff(),
        stable_after=1.0,
        connect_timeout=1.0,
        buffer_size=10,
        overflow=Overflow.DROP_OLDEST,
    )
    client = FakeClient()
    bridge._session._client = client  # type: ignore[assignment]
    return bridge, client


async def test_taking_messages_out_of_order_still_acks_in_arrival_order() -> None:
    bridge, client = fake_bridge()
    generation = bridge._router.new_connection()
    bridge._connection.generation = generation
    bridge._move(MqttStatus.CONNECTING, "test")
    bridge._handle(("connack", generation, False, 0, "Success"))
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
            bridge._handle(("suback", generation, mid, [1]))
        await trio.testing.wait_all_tasks_blocked()
        for mid, topic in ((1, "a/x"), (2, "b/x"), (3, "a/y")):
            bridge._handle(("message", generation, topic, b"p", 1, False, False, mid, ()))
        (sub_a,), (sub_b,) = a, b
        assert (await sub_a.__anext__()).topic == "a/x"
        assert client.acks == [1]
        assert (await sub_a.__anext__()).topic == "a/y"
        assert client.acks == [1]  # 3 waits for 2, which b has not taken
        assert (await sub_b.__anext__()).topic == "b/x"
        assert client.acks == [1, 2, 3]
        # A message of an earlier connection taken now is not acknowledged.
        bridge._handle(("message", generation, "a/z", b"p", 1, False, False, 4, ()))
        new = bridge._router.new_connection()
        bridge._connection.generation = new
        assert (await sub_a.__anext__()).topic == "a/z"
        assert client.acks == [1, 2, 3]
        assert bridge.statistics().stale_acks == 1
        nursery.cancel_scope.cancel()


async def test_a_handler_bug_does_not_reach_trio(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.ERROR)
    bridge, _ = fake_bridge()
    bridge._inbox.put(("message", 0, "t", b"", 1, False, False, 1, ()))  # no connection: ignored
    bridge._inbox.put(("bogus",))  # malformed: logged, the drain goes on
    bridge._inbox.put(("connack", 0, False, 0, "Success"))
    await trio.testing.wait_all_tasks_blocked()
    assert "handling a bogus event failed" in caplog.text
