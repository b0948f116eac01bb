"""The MQTT bridge against a real mosquitto the tests start themselves (real clock, short
windows: paho's thread and real sockets do not mix with autojump)."""

from __future__ import annotations

import collections
import contextlib
import itertools
import logging
import ssl
import sys
import threading
import time
from pathlib import Path
from typing import Any

import anyio
import pytest
import trio
import trustme

from trio_locksync import Backoff, Jitter
from trio_locksync.mqtt import (
    MqttBridge,
    MqttClosedError,
    MqttProtocol,
    MqttRefused,
    MqttStatus,
    MqttWill,
    TopicError,
    open_mqtt_bridge,
)

from .brokerhelpers import FAST, Broker, connected, needs_mosquitto

pytestmark = needs_mosquitto


def paho_running() -> list[int]:
    """Threads executing paho code right now (trio keeps idle worker threads cached for reuse;
    what matters is that none of them is still running paho's loop)."""
    running = []
    for ident, frame in sys._current_frames().items():
        stack = frame
        while stack is not None:
            if "paho" in stack.f_code.co_filename:
                running.append(ident)
                break
            stack = stack.f_back
    return running


async def take(subscription: Any, n: int) -> list[Any]:
    got = []
    with trio.fail_after(15):
        async for message in subscription:
            got.append(message)
            if len(got) == n:
                break
    return got


# -- round trips -----------------------------------------------------------------------------


@pytest.mark.parametrize("qos", [0, 1])
async def test_round_trip(broker: Broker, qos: int) -> None:
    async with connected(broker.port) as bridge, bridge.subscribe("home/#", qos) as subscription:
        await bridge.publish("home/door", b"locked", qos=qos)
        await bridge.publish("home/window", "open", qos=qos)
        messages = await take(subscription, 2)
    assert [(m.topic, m.payload, m.qos) for m in messages] == [
        ("home/door", b"locked", qos),
        ("home/window", b"open", qos),
    ]
    assert not any(m.retain or m.duplicate for m in messages)


async def test_wildcards_and_many_subscriptions(broker: Broker) -> None:
    async with connected(broker.port) as bridge, trio.open_nursery() as nursery:
        received: dict[str, list[str]] = collections.defaultdict(list)
        ready = trio.Semaphore(0)

        async def consume(topic_filter: str) -> None:
            async with bridge.subscribe(topic_filter, qos=1) as subscription:
                ready.release()
                async for message in subscription:
                    received[topic_filter].append(message.topic)

        filters = [f"site/{i}/+" for i in range(50)] + ["site/#", "site/7/door"]
        for topic_filter in filters:
            nursery.start_soon(consume, topic_filter)
        for _ in filters:
            await ready.acquire()
        for i in range(50):
            await bridge.publish(f"site/{i}/door", b"x", qos=1)
        with trio.fail_after(10):
            while len(received["site/#"]) < 50:  # noqa: ASYNC110 - a real broker's delay
                await trio.sleep(0.01)
        await trio.sleep(0.1)
        nursery.cancel_scope.cancel()
    assert all(received[f"site/{i}/+"] == [f"site/{i}/door"] for i in range(50))
    assert received["site/7/door"] == ["site/7/door"]
    assert sorted(received["site/#"]) == sorted(f"site/{i}/door" for i in range(50))


async def test_retained_messages_are_flagged(broker: Broker) -> None:
    async with connected(broker.port) as bridge:
        await bridge.publish("home/state", b"on", qos=1, retain=True)
        async with bridge.subscribe("home/state", qos=1) as subscription:
            (message,) = await take(subscription, 1)
    assert message.retain and message.payload == b"on"


# -- retained messages for every block of a filter ---------------------------------------------


async def next_payloads(subscription: Any, n: int) -> list[tuple[bytes, bool]]:
    return [(m.payload, m.retain) for m in await take(subscription, n)]


async def settled(bridge: MqttBridge) -> None:
    """Wait until every QoS 1 message received on this connection was acknowledged."""
    with trio.fail_after(5):
        while bridge._router.acks.outstanding:  # noqa: ASYNC110 - the broker's delay
            await trio.sleep(0.01)


@pytest.mark.parametrize("protocol", [MqttProtocol.V5, MqttProtocol.V311])
@pytest.mark.parametrize("qos", [0, 1])
async def test_a_later_block_on_the_same_filter_gets_the_retained_message_once(
    broker: Broker, qos: int, protocol: MqttProtocol
) -> None:
    """Two Zigbee2MqttLock on one bridge both subscribe zigbee2mqtt/bridge/state: each block
    gets the retained message, and the earlier one no second copy."""
    topic = "z2m/bridge/state"
    async with connected(broker.port, protocol=protocol) as bridge:
        await bridge.publish(topic, b"offline", qos=1, retain=True)
        async with bridge.subscribe(topic, qos) as a:
            assert await next_payloads(a, 1) == [(b"offline", True)]
            async with bridge.subscribe(topic, qos) as b:
                assert await next_payloads(b, 1) == [(b"offline", True)]
                # Retained and published live now: forwarded to both with retain=0; A's next
                # message is that one, not the broker's repeat of "offline" for B.
                await bridge.publish(topic, b"online", qos=1, retain=True)
                assert await next_payloads(a, 1) == [(b"online", False)]
                assert await next_payloads(b, 1) == [(b"online", False)]
                async with bridge.subscribe(topic, qos) as c:
                    assert await next_payloads(c, 1) == [(b"online", True)]
                    await bridge.publish(topic, b"marker", qos=qos)
                    for sub in (a, b, c):
                        assert await next_payloads(sub, 1) == [(b"marker", False)]
                    await settled(bridge)
        assert bridge._router.repeats == 2  # the copies of "offline" for B, "online" for C
        stats = bridge.statistics()
        assert stats.dropped == 0
        if qos == 1:  # the repeats nobody took were acknowledged, in order, with the rest
            assert stats.acked == stats.received == 5


def take_over_and_leave(port: int, client_id: str) -> None:
    """[a worker thread] Connect with ``client_id`` and a clean start (the broker ends the
    bridge's connection and its session), then disconnect: the session is gone for good."""
    import paho.mqtt.client as paho
    from paho.mqtt.enums import CallbackAPIVersion

    client = paho.Client(CallbackAPIVersion.VERSION2, client_id=client_id, protocol=paho.MQTTv5)
    answered: list[bool] = []
    client.on_connect = lambda *args: answered.append(True)
    client.connect("127.0.0.1", port, clean_start=True)
    deadline = time.monotonic() + 5
    while not answered and time.monotonic() < deadline:
        client.loop(0.05)
    client.disconnect()
    client.loop(0.05)
    assert answered


async def test_retained_messages_after_reconnects(tmp_path: Path) -> None:
    """A new session: the bridge subscribes again and every block gets the retained message
    once more (a replay). A resumed session: no replay, except for a block that joined while
    the link was down (it gets its own SUBSCRIBE)."""
    topic = "z2m/bridge/state"
    broker = Broker(tmp_path, persistence=True)
    broker.start()
    slow = Backoff(initial=1.0, maximum=1.0, jitter=Jitter.NONE)  # room for take_over_and_leave
    try:
        async with connected(broker.port, client_id="retain-re", backoff=slow) as bridge:
            changes = bridge.status_changes()

            async def reconnected() -> str:
                with trio.fail_after(15):
                    async for change in changes:
                        if change.status is MqttStatus.CONNECTED:
                            return change.detail
                raise AssertionError("no reconnect")  # pragma: no cover

            await bridge.publish(topic, b"offline", qos=1, retain=True)
            async with bridge.subscribe(topic, 1) as a, bridge.subscribe(topic, 1) as b:
                assert await next_payloads(a, 1) == [(b"offline", True)]
                assert await next_payloads(b, 1) == [(b"offline", True)]

                await trio.to_thread.run_sync(take_over_and_leave, broker.port, "retain-re")
                assert "session new" in await reconnected()
                assert await next_payloads(a, 1) == [(b"offline", True)]
                assert await next_payloads(b, 1) == [(b"offline", True)]

                await trio.to_thread.run_sync(broker.stop)
                async with trio.open_nursery() as nursery:
                    box: list[Any] = []

                    async def join() -> None:
                        async with bridge.subscribe(topic, 1) as c:
                            box.append(await next_payloads(c, 2))

                    nursery.start_soon(join)
                    await trio.sleep(0.2)
                    await trio.to_thread.run_sync(broker.start)
                    assert "session resumed" in await reconnected()
                    await bridge.publish(topic, b"marker", qos=1)
                for sub in (a, b):
                    assert await next_payloads(sub, 1) == [(b"marker", False)]
                assert box == [[(b"offline", True), (b"marker", False)]]
                await settled(bridge)
    finally:
        broker.stop()


async def test_bad_topics_and_qos2_are_refused_at_the_call(broker: Broker) -> None:
    async with connected(broker.port) as bridge:
        with pytest.raises(TopicError):
            await bridge.publish("home/+", b"x")
        with pytest.raises(TopicError):
            async with bridge.subscribe("home/#/door"):
                pass  # pragma: no cover
        # QoS 2 subscriptions: a ValueError that says why and what to ask for instead
        with pytest.raises(ValueError, match=r"QoS 2 subscriptions are refused.*ask for QoS 1"):
            async with bridge.subscribe("home/#", qos=2):  # type: ignore[arg-type]
                pass  # pragma: no cover
        for bad in (3, -1, True, 1.0, "1"):
            with pytest.raises(ValueError, match="qos must be 0 or 1, got"):
                async with bridge.subscribe("home/#", qos=bad):  # type: ignore[arg-type]
                    pass  # pragma: no cover
            with pytest.raises(ValueError, match="qos must be 0, 1 or 2"):
                await bridge.publish("home/door", b"x", qos=bad)  # type: ignore[arg-type]
            with pytest.raises(ValueError, match="qos must be 0, 1 or 2"):
                MqttWill("home/will", b"gone", bad)  # type: ignore[arg-type]
        # nothing was subscribed or sent: the bridge still works
        async with bridge.subscribe("home/#", qos=1) as subscription:
            await bridge.publish("home/door", b"ok", qos=2)
            assert [m.payload for m in await take(subscription, 1)] == [b"ok"]


async def test_iterators_and_results_are_on_the_trio_thread(broker: Broker) -> None:
    trio_thread = threading.get_ident()
    async with connected(broker.port) as bridge, bridge.subscribe("t", 1) as subscription:
        await bridge.publish("t", b"x", qos=1)
        assert threading.get_ident() == trio_thread
        await take(subscription, 1)
        assert threading.get_ident() == trio_thread


# -- losing the broker -------------------------------------------------------------------------


async def test_broker_restarted_ten_times_loses_no_accepted_qos1_message(tmp_path: Path) -> None:
    """The broker is stopped and started again ten times while a publisher bridge sends
    numbered QoS 1 messages and a subscriber bridge takes them. Every message whose publish
    returned (the broker acknowledged it) arrives, subscriptions are restored each time, and
    the subscriber's status goes CONNECTED → RECONNECTING → CONNECTED each time, in order."""
    broker = Broker(tmp_path, persistence=True)
    broker.start()
    accepted: set[int] = set()
    received: set[int] = set()
    try:
        async with (
            connected(broker.port, client_id="sub-restarts") as subscriber,
            connected(broker.port, client_id="pub-restarts") as publisher,
            subscriber.subscribe("count", qos=1) as subscription,
            trio.open_nursery() as nursery,
        ):
            changes = subscriber.status_changes()

            async def consume() -> None:
                async for message in subscription:
                    received.add(int(message.payload))

            publishing = trio.CancelScope()
            published = trio.Event()

            async def publish() -> None:
                n = 0
                with publishing:
                    while True:
                        try:
                            await publisher.publish("count", str(n), qos=1)
                        except MqttClosedError:  # pragma: no cover - the end of the test
                            break
                        accepted.add(n)
                        n += 1
                published.set()

            nursery.start_soon(consume)
            nursery.start_soon(publish)
            for _ in range(10):
                await trio.sleep(0.3)
                await trio.to_thread.run_sync(broker.stop)
                await trio.sleep(0.2)
                await trio.to_thread.run_sync(broker.start)
                with trio.fail_after(15):
                    await subscriber.wait_status(MqttStatus.CONNECTED)
                    await publisher.wait_status(MqttStatus.CONNECTED)
            await trio.sleep(0.5)
            # The publisher stops first: a publish whose acknowledgement had already woken it
            # still counts as accepted after a cancel (so stopping both at once could count a
            # message the consumer was never given the time to take; seen once in CI).
            publishing.cancel()
            await published.wait()
            final = max(accepted)
            with trio.fail_after(15):
                while not accepted <= received:  # noqa: ASYNC110 - a real broker's delay
                    await trio.sleep(0.05)
            nursery.cancel_scope.cancel()
        statuses = []
        async for change in changes:
            statuses.append(change.status)
    finally:
        broker.stop()
    assert final > 50
    assert accepted <= received
    connected_again = [s for s in statuses if s is MqttStatus.CONNECTED]
    assert len(connected_again) >= 10
    # every loss is followed by reconnecting and, before the next loss, by connected
    for before, after in itertools.pairwise(statuses):
        if before is MqttStatus.CONNECTED:
            assert after in (MqttStatus.RECONNECTING, MqttStatus.DISCONNECTED)


async def test_slow_consumer_memory_stays_bounded_and_nothing_is_acked_before_taken(
    broker: Broker,
) -> None:
    """2,000 QoS 1 messages into a consumer taking one per millisecond, with a 20-message
    buffer: the broker holds the rest (ReceiveMaximum 20), all arrive in order, and no
    acknowledgement ever runs ahead of what the consumer took."""
    n = 2000
    async with (
        connected(broker.port, buffer_size=20) as bridge,
        connected(broker.port) as publisher,
        bridge.subscribe("slow/#", qos=1) as subscription,
    ):

        async def publish() -> None:
            for i in range(n):
                await publisher.publish(f"slow/{i % 3}", str(i), qos=1)

        async with trio.open_nursery() as nursery:
            nursery.start_soon(publish)
            got: list[int] = []
            most_buffered = 0
            with trio.fail_after(60):
                async for message in subscription:
                    got.append(int(message.payload))
                    stats = bridge.statistics()
                    assert stats.acked <= stats.delivered
                    most_buffered = max(most_buffered, len(subscription))
                    await trio.sleep(0.001)
                    if len(got) == n:
                        break
    assert got == list(range(n))  # one publisher: in order
    assert most_buffered <= 20 + 5  # mosquitto's window is not a hard bound; a few over
    assert bridge.statistics().dropped == 0


async def test_untaken_messages_are_redelivered_to_the_next_bridge_with_the_same_id(
    broker: Broker,
) -> None:
    """A consumer takes 5 of 20 QoS 1 messages, then its bridge is cancelled: the 15 it never
    took were never acknowledged, so the broker hands them to the next bridge with the same
    client id (its session resumed)."""
    with trio.CancelScope() as scope:
        async with (
            connected(broker.port, client_id="keeper") as bridge,
            bridge.subscribe("jobs", qos=1) as subscription,
        ):
            async with connected(broker.port) as publisher:
                for i in range(20):
                    await publisher.publish("jobs", str(i), qos=1)
            first = await take(subscription, 5)
            await trio.sleep(0.2)  # the rest wait in the bridge's buffer, not acknowledged
            scope.cancel()
            await trio.sleep_forever()
    async with (
        connected(broker.port, client_id="keeper") as again,
        again.subscribe("jobs", qos=1) as subscription,
    ):
        rest = await take(subscription, 15)
    assert [int(m.payload) for m in first] == list(range(5))
    assert sorted(int(m.payload) for m in rest) == list(range(5, 20))


# -- misbehaving brokers and refusals ----------------------------------------------------------


async def test_accept_then_drop_backs_off_and_reports() -> None:
    """A server that answers CONNECT with a CONNACK and closes: the bridge never reconnects in
    a tight loop (the backoff resets only after a stable connection) and says so."""
    attempts: list[float] = []

    async def handler(stream: trio.SocketStream) -> None:
        attempts.append(trio.current_time())
        await stream.receive_some(65536)
        await stream.send_all(bytes([0x20, 0x03, 0x00, 0x00, 0x00]))  # CONNACK, MQTT 5
        await stream.aclose()

    async with trio.open_nursery() as nursery:
        listeners = await nursery.start(trio.serve_tcp, handler, 0)
        port = listeners[0].socket.getsockname()[1]
        backoff = Backoff(initial=0.05, maximum=0.4, jitter=Jitter.NONE)
        details: list[str] = []

        async def record(bridge: MqttBridge) -> None:
            async for change in bridge.status_changes():
                details.append(change.detail)

        async with open_mqtt_bridge("127.0.0.1", port, backoff=backoff, stable_after=1.0) as bridge:
            nursery.start_soon(record, bridge)
            await trio.sleep(2.0)
        nursery.cancel_scope.cancel()
    # delays 0.05, 0.1, 0.2, 0.4, 0.4, ...: about 7 attempts in 2 s, never dozens
    assert 4 <= len(attempts) <= 9
    assert any("another client with this client id" in d for d in details)
    assert bridge.statistics().flaps >= 3


async def test_duplicate_client_id_kick_loop_backs_off(broker: Broker) -> None:
    async with (
        open_mqtt_bridge("127.0.0.1", broker.port, client_id="twin", backoff=FAST) as one,
        open_mqtt_bridge("127.0.0.1", broker.port, client_id="twin", backoff=FAST) as two,
    ):
        await trio.sleep(3.0)
        attempts = one.statistics().attempts + two.statistics().attempts
    # each kicks the other off; with 0.05 s doubling to 0.5 s, a tight loop would be hundreds
    assert attempts <= 30
    assert one.statistics().flaps + two.statistics().flaps >= 3


async def test_bad_credentials_are_final_after_one_retry(tmp_path: Path) -> None:
    with Broker(tmp_path, passwords={"door": "right"}) as broker:
        async with open_mqtt_bridge(
            "127.0.0.1", broker.port, username="door", password="wrong", backoff=FAST
        ) as bridge:
            with trio.fail_after(10):
                await bridge.wait_status(MqttStatus.REFUSED)
            assert bridge.statistics().attempts == 2
            assert isinstance(bridge.failure, MqttRefused)
            assert "not authorized" in str(bridge.failure) or "password" in str(bridge.failure)
            assert "wrong" not in str(bridge.failure)
            with pytest.raises(MqttRefused):
                await bridge.publish("x", b"1")
        async with connected(broker.port, username="door", password="right") as ok:
            await ok.publish("x", b"1", qos=1)


# -- TLS ----------------------------------------------------------------------------------------


@pytest.fixture
def tls_broker(tmp_path: Path) -> Any:
    ca = trustme.CA()
    server = ca.issue_cert("127.0.0.1", "localhost")
    ca_file, cert_file, key_file = tmp_path / "ca.pem", tmp_path / "cert.pem", tmp_path / "key.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    server.private_key_and_cert_chain_pem.write_to_path(str(cert_file))
    server.private_key_pem.write_to_path(str(key_file))
    with Broker(tmp_path, tls=(ca_file, cert_file, key_file)) as broker:
        yield broker, ca


async def test_tls_trusted_connects_and_untrusted_is_a_clear_final_error(tls_broker: Any) -> None:
    broker, ca = tls_broker
    trusted = ssl.create_default_context()
    ca.configure_trust(trusted)
    async with connected(broker.port, tls=trusted) as bridge, bridge.subscribe("s", 1) as sub:
        await bridge.publish("s", b"secret", qos=1)
        (message,) = await take(sub, 1)
        assert message.payload == b"secret"
    async with open_mqtt_bridge("127.0.0.1", broker.port, tls=True, backoff=FAST) as untrusted:
        with trio.fail_after(10):
            await untrusted.wait_status(MqttStatus.REFUSED)
        assert "untrusted TLS certificate" in str(untrusted.failure)


# -- threads, cancellation, logs, anyio --------------------------------------------------------


async def test_more_bridges_than_trios_thread_limit_all_connect(broker: Broker) -> None:
    """Each bridge's paho loop holds a worker thread for the bridge's whole life, so it runs
    on a limiter of its own: with trio's shared one (40 tokens) the 41st bridge of a process
    never connected (found by the storm benchmark's 200-bridge fleet)."""
    count = trio.to_thread.current_default_thread_limiter().total_tokens + 5
    async with contextlib.AsyncExitStack() as stack:
        bridges = [await stack.enter_async_context(connected(broker.port)) for _ in range(count)]
        assert all(bridge.status is MqttStatus.CONNECTED for bridge in bridges)
        assert len(paho_running()) >= count


async def test_no_paho_thread_outlives_the_block(broker: Broker) -> None:
    async with connected(broker.port) as bridge:
        await bridge.publish("t", b"x", qos=1)
        assert paho_running()  # the loop runs in a worker thread while the block runs
    assert paho_running() == []  # and not a moment after it


async def test_cancelled_mid_connect_waits_for_its_thread() -> None:
    """A server that accepts the TCP connection and never answers CONNECT: cancelling the block
    while the bridge waits for CONNACK ends paho's loop, and the block returns only once the
    worker thread is done."""

    async def silent(stream: trio.SocketStream) -> None:
        await trio.sleep_forever()

    async with trio.open_nursery() as nursery:
        listeners = await nursery.start(trio.serve_tcp, silent, 0)
        port = listeners[0].socket.getsockname()[1]
        finished: list[bool] = []
        with trio.move_on_after(1.0):
            async with open_mqtt_bridge("127.0.0.1", port, backoff=FAST) as bridge:
                await trio.sleep(0.5)
                assert bridge.status is MqttStatus.CONNECTING
                await trio.sleep_forever()
        finished.append(True)
        assert paho_running() == []
        nursery.cancel_scope.cancel()
    assert finished


async def test_no_payload_or_password_in_logs(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    with Broker(tmp_path, passwords={"door": "hunter2-secret"}) as broker:
        async with (
            connected(
                broker.port,
                username="door",
                password="hunter2-secret",
                will=MqttWill("wills/door", b"gone-4711"),
            ) as bridge,
            bridge.subscribe("pins", 1) as subscription,
        ):
            await bridge.publish("pins", b'{"pin_code": "918273"}', qos=1)
            await take(subscription, 1)
            broker.stop()
            await trio.sleep(0.3)
            broker.start()
            with trio.fail_after(10):
                await bridge.wait_status(MqttStatus.CONNECTED)
        text = caplog.text + repr(bridge) + repr(bridge.statistics())
    for secret in ("hunter2-secret", "918273", "gone-4711"):
        assert secret not in text


def test_bridge_under_anyio(tmp_path: Path) -> None:
    with Broker(tmp_path) as broker:

        async def main() -> list[bytes]:
            async with open_mqtt_bridge("127.0.0.1", broker.port, backoff=FAST) as bridge:
                with anyio.fail_after(10):
                    await bridge.wait_status(MqttStatus.CONNECTED)
                async with (
                    bridge.subscribe("a", 1) as subscription,
                    anyio.create_task_group() as tg,
                ):
                    tg.start_soon(bridge.publish, "a", b"from anyio", 1)
                    with anyio.fail_after(10):
                        message = await subscription.__anext__()
                    return [message.payload]

        assert anyio.run(main, backend="trio") == [b"from anyio"]


async def test_publish_after_the_block_raises_closed(broker: Broker) -> None:
    async with connected(broker.port) as bridge:
        pass
    with pytest.raises(MqttClosedError):
        await bridge.publish("t", b"x")


async def test_publish_waits_for_the_connection(tmp_path: Path) -> None:
    broker = Broker(tmp_path)
    async with open_mqtt_bridge("127.0.0.1", broker.port, backoff=FAST) as bridge:
        with trio.move_on_after(0.3) as waited:
            await bridge.publish("t", b"x", qos=1)  # no broker yet: waits, cancellable
        assert waited.cancelled_caught
        broker.start()
        try:
            with trio.fail_after(10):
                await bridge.publish("t", b"x", qos=1)
        finally:
            broker.stop()
