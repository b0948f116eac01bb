"""Regression tests for the MQTT bridge defects of issue 19, each against a real mosquitto (or a
loopback server of the test's own) with the real clock and short windows."""

from __future__ import annotations

import collections
import contextlib
import functools
import gc
import random
import socket
import threading
import time
from collections.abc import Callable

import attrs
import pytest
import trio
import trio.testing

from trio_locksync import ClosedError
from trio_locksync.mqtt import MqttBridge, MqttProtocol, MqttStatus, MqttWill, open_mqtt_bridge
from trio_locksync.mqtt._paho import PahoSession, SessionEnd

from .brokerhelpers import FAST, Broker, connected, free_port, needs_mosquitto

pytestmark = needs_mosquitto


async def serve(nursery: trio.Nursery, handler: object) -> int:
    """Serve ``handler`` on a loopback port of the test's own; returns the port."""
    listeners = await nursery.start(functools.partial(trio.serve_tcp, host="127.0.0.1"), handler, 0)
    return int(listeners[0].socket.getsockname()[1])


async def read_then_close(stream: trio.SocketStream) -> None:
    """A broker that reads the CONNECT and closes without a CONNACK (as a 3.1.1-only broker
    does with an MQTT 5 CONNECT)."""
    await stream.receive_some(65536)
    await stream.aclose()


async def silent(stream: trio.SocketStream) -> None:
    """A broker that accepts and never answers."""
    async with stream:
        while await stream.receive_some(65536):
            pass


# -- 0. a stop requested before paho's thread reached run() was lost ---------------------------


@attrs.define
class Rescuer:
    """Shuts the socket of a bridge whose cycle has run past ``deadline`` seconds (after the
    cycle's own deadline):
    a lost stop then fails the test (its ``fail_after`` fires once the block is left) instead of
    hanging it, since a worker thread cannot be cancelled. One task for every cycle, so that it
    does not change the scheduling of the cycles it watches."""

    deadline: float
    bridge: MqttBridge | None = None
    since: float = 0.0

    def watch(self, bridge: MqttBridge) -> None:
        self.bridge, self.since = bridge, trio.current_time()

    async def run(self) -> None:
        while True:
            await trio.sleep(0.25)
            bridge = self.bridge
            late = trio.current_time() - self.since > self.deadline
            client = None if bridge is None else bridge._session._client
            sock = None if client is None else client.socket()
            if late and sock is not None:
                with contextlib.suppress(OSError):  # the loop reads EOF and ends
                    sock.shutdown(socket.SHUT_RDWR)


async def test_a_stop_requested_before_the_paho_thread_runs_is_never_lost(
    broker: Broker, monkeypatch: pytest.MonkeyPatch
) -> None:
    """300 quick enter/exit cycles in varied timing — at once, after a few checkpoints, after a
    short sleep, once CONNECTED; to a real broker, to a port nobody listens on, and to a server
    that never answers CONNECT; paho's thread reaching its run at once or late (a loaded
    machine) — and every exit of every bridge ends within its deadline."""
    rng = random.Random(19)
    start_delay = [0.0]
    real_run = PahoSession.run

    def late_run(session: PahoSession, generation: int, opened: Callable[[], object]) -> SessionEnd:
        time.sleep(start_delay[0])  # in paho's thread, before it reaches run()
        return real_run(session, generation, opened)

    monkeypatch.setattr(PahoSession, "run", late_run)
    async with trio.open_nursery() as nursery:
        silent_port = await serve(nursery, silent)
        dead_port = free_port()
        rescuer = Rescuer(5.5)
        nursery.start_soon(rescuer.run)
        for cycle in range(300):
            # 0: at once; 1-4: after 1-4 checkpoints (paho's thread is starting: issue 19's
            # hang); 5: after a short sleep; 6: a port nobody listens on; 7: a server that never
            # answers CONNECT; 8: once CONNECTED
            mode = cycle % 9
            port = {6: dead_port, 7: silent_port}.get(mode, broker.port)
            start_delay[0] = (0.0, 0.005, 0.02)[cycle // 9 % 3]
            with trio.fail_after(5):
                async with open_mqtt_bridge(
                    "127.0.0.1", port, backoff=FAST, connect_timeout=2
                ) as bridge:
                    rescuer.watch(bridge)
                    if 1 <= mode <= 4:
                        for _ in range(mode):
                            await trio.lowlevel.checkpoint()
                    elif 5 <= mode <= 7:
                        await trio.sleep(rng.uniform(0, 0.02))
                    elif mode == 8:
                        await bridge.wait_status(MqttStatus.CONNECTED)
        nursery.cancel_scope.cancel()


# -- 1. messages held for a block waiting for its SUBACK stopped paho's thread ------------------


async def test_a_block_waiting_for_its_suback_never_stalls_a_busy_filter(broker: Broker) -> None:
    """One block reads 3,000 QoS 1 messages of a filter while a second block on the same filter
    opens and closes over and over (buffer_size 16): every message reaches the reader and every
    open and close of the second block ends."""
    n = 3000
    async with (
        connected(broker.port, buffer_size=16) as bridge,
        connected(broker.port) as publisher,
        bridge.subscribe("busy/#", qos=1) as reader,
        trio.open_nursery() as nursery,
    ):

        async def publish(start: int) -> None:
            for i in range(start, n, 4):
                await publisher.publish(f"busy/{i % 5}", str(i), qos=1)

        cycles = 0

        async def churn() -> None:
            nonlocal cycles
            while True:
                with trio.fail_after(5):
                    async with bridge.subscribe("busy/#", qos=1):
                        await trio.sleep(0.001 * (cycles % 3))
                cycles += 1

        for start in range(4):
            nursery.start_soon(publish, start)
        nursery.start_soon(churn)
        got: set[int] = set()
        with trio.fail_after(60):
            async for message in reader:
                got.add(int(message.payload))
                if len(got) == n:
                    break
        nursery.cancel_scope.cancel()
    assert got == set(range(n))
    assert cycles >= 3  # the second block really churned meanwhile


# -- 2. copies for a departed filter were routed by topic: delivered twice ----------------------


async def test_copies_for_a_departed_filter_are_not_delivered_again_by_topic(
    broker: Broker,
) -> None:
    """Blocks on ``dup/#`` and ``dup/a`` (MQTT 5); ``dup/#`` leaves mid-flow. The copies the
    broker still sends for it carry its subscription identifier: they are acknowledged and
    dropped, never routed by topic to ``dup/a`` a second time."""
    n = 2000
    counts: collections.Counter[int] = collections.Counter()
    async with (
        connected(broker.port) as bridge,
        connected(broker.port) as publisher,
        bridge.subscribe("dup/a", qos=1) as narrow,
        trio.open_nursery() as nursery,
    ):
        wide_started = trio.Event()

        async def wide() -> None:
            async with bridge.subscribe("dup/#", qos=1) as subscription:
                wide_started.set()
                taken = 0
                async for _ in subscription:
                    taken += 1
                    if taken == n // 4:
                        return  # leaves while the broker still sends copies for it

        async def publish() -> None:
            await wide_started.wait()
            for i in range(n):
                await publisher.publish("dup/a", str(i), qos=1)

        nursery.start_soon(wide)
        nursery.start_soon(publish)
        with trio.fail_after(60):
            async for message in narrow:
                counts[int(message.payload)] += 1
                assert not message.duplicate
                if int(message.payload) == n - 1:
                    break
        with trio.move_on_after(0.5):  # any late second copy would come now
            async for message in narrow:
                counts[int(message.payload)] += 1
        stats = bridge.statistics()
    assert sorted(counts) == list(range(n))
    assert [i for i, k in counts.items() if k > 1] == []
    assert stats.attempts == 1


# -- 3. wait_status() after (or across) the block's end waited forever ---------------------------


async def test_wait_status_after_the_block_raises_closed(broker: Broker) -> None:
    async with connected(broker.port) as bridge:
        pass
    with trio.fail_after(2), pytest.raises(ClosedError):
        await bridge.wait_status(MqttStatus.CONNECTED)
    assert await bridge.wait_status(MqttStatus.DISCONNECTED) is MqttStatus.DISCONNECTED


async def test_wait_status_pending_when_the_block_closes_raises_closed() -> None:
    raised: list[BaseException] = []
    async with (
        trio.open_nursery() as nursery,
        open_mqtt_bridge("127.0.0.1", free_port(), backoff=FAST) as bridge,
    ):

        async def waiter() -> None:
            with trio.fail_after(5):
                try:
                    await bridge.wait_status(MqttStatus.CONNECTED)
                except ClosedError as exc:
                    raised.append(exc)

        nursery.start_soon(waiter)
        await trio.testing.wait_all_tasks_blocked()  # the waiter is waiting
    assert len(raised) == 1


# -- 4. statistics().delivered never counted QoS 0 ---------------------------------------------


@pytest.mark.parametrize("qos", [0, 1])
async def test_delivered_counts_every_message_taken(broker: Broker, qos: int) -> None:
    async with connected(broker.port) as bridge, bridge.subscribe("count/#", qos) as subscription:
        for i in range(5):
            await bridge.publish(f"count/{i}", b"x", qos=qos)
        with trio.fail_after(10):
            for _ in range(5):
                await subscription.__anext__()
        assert bridge.statistics().delivered == 5


# -- 5. an MQTT 5 CONNECT to a 3.1.1-only broker was retried forever without a hint -------------


async def closed_before_connack(protocol: MqttProtocol) -> list[str]:
    """The details of a bridge's first four RECONNECTING statuses against a server that reads
    the CONNECT and closes."""
    async with trio.open_nursery() as nursery:
        port = await serve(nursery, read_then_close)
        details: list[str] = []
        async with open_mqtt_bridge("127.0.0.1", port, backoff=FAST, protocol=protocol) as bridge:
            with trio.fail_after(10):
                async for change in bridge.status_changes():
                    if change.status is MqttStatus.RECONNECTING:
                        details.append(change.detail)
                        if len(details) == 4:
                            break
        nursery.cancel_scope.cancel()
    return details


async def test_connects_closed_before_connack_hint_at_the_protocol_version() -> None:
    """From the third attempt in a row closed before CONNACK, the status detail says the broker
    may not speak MQTT 5 and how to choose 3.1.1."""
    details = await closed_before_connack(MqttProtocol.V5)
    assert all("MQTT 5" not in d for d in details[:2])
    assert all("MQTT 5" in d and "protocol=MqttProtocol.V311" in d for d in details[2:])


async def test_a_311_bridge_gets_no_mqtt5_hint() -> None:
    details = await closed_before_connack(MqttProtocol.V311)
    assert all("MQTT 5" not in d for d in details)


def test_hold_never_stops_the_paho_thread_past_its_limit() -> None:
    """The hold's wait for room ends after ``HOLD_LIMIT`` even if nothing is taken (the
    consumers may wait for a packet paho has not read yet); then paho's thread reads on up to
    ``HOLD_CAP`` times the limit — the memory bound — where it waits for as long as it takes;
    once the count is back at the resume point, the one-second wait is armed again."""
    from trio_locksync.mqtt._inbox import HOLD_CAP, HOLD_LIMIT, Inbox

    inbox = Inbox(trio.lowlevel.TrioToken.__new__(trio.lowlevel.TrioToken), print, hold_limit=8)
    for _ in range(8):
        assert inbox.hold(lambda: False)
    result: list[bool] = []
    below_cap = HOLD_CAP * 8 - 8

    def paho_thread(count: int) -> None:
        for _ in range(count):
            result.append(inbox.hold(lambda: False))

    started = time.monotonic()
    thread = threading.Thread(target=paho_thread, args=(below_cap,))
    thread.start()
    thread.join(HOLD_LIMIT + 5.0)
    assert not thread.is_alive() and result == [True] * below_cap
    assert time.monotonic() - started < HOLD_LIMIT + 3.0  # one wait, not one per message
    assert inbox.held == HOLD_CAP * 8

    # At the cap: no time limit. It returns only once the consumers made room.
    thread = threading.Thread(target=paho_thread, args=(1,))
    thread.start()
    thread.join(HOLD_LIMIT + 0.5)
    assert thread.is_alive()  # past HOLD_LIMIT, still waiting
    for _ in range(HOLD_CAP * 8 - 7):
        inbox.unhold()
    thread.join(5.0)
    assert not thread.is_alive() and result[-1] is True
    assert inbox.held == 8  # back at the resume point (7) plus the one just held
    assert not inbox._overheld  # the one-second wait is armed again


async def test_a_clean_close_writes_its_disconnect_so_the_will_is_not_published(
    broker: Broker,
) -> None:
    """A clean close never publishes the will. (The race this guards — the loop seeing the
    stop before writing the DISCONNECT that request_stop() queued, then skipping it because
    paho already says "not connected" — was found by reading the code; this loop of closes
    did not reproduce it on the old code, so it pins the behaviour, not the race.)"""
    got: list[bytes] = []
    async with connected(broker.port) as watcher, watcher.subscribe("t/will", 1) as wills:
        for _ in range(10):
            will = MqttWill("t/will", b"gone", 1)
            async with connected(broker.port, will=will) as bridge:
                await bridge.publish("t/other", b"x", qos=1)
        gc.collect()  # a socket left open closes here, at the latest
        with trio.move_on_after(1.0):
            async for message in wills:
                got.append(message.payload)
    assert got == []


async def test_an_earlier_runs_subscription_identifier_does_not_route_to_another_filter(
    broker: Broker,
) -> None:
    """An earlier run of this client id subscribed ``old/#`` with identifier 1 and left it in
    its session; this run's first filter, ``new/#``, also gets identifier 1. A message the
    broker sends for ``old/#`` (tagged 1) must not reach the ``new/#`` block."""
    import paho.mqtt.client as paho
    from paho.mqtt.packettypes import PacketTypes
    from paho.mqtt.properties import Properties

    def earlier_run() -> None:
        client = paho.Client(
            paho.CallbackAPIVersion.VERSION2, client_id="resumed", protocol=paho.MQTTv5
        )
        connect = Properties(PacketTypes.CONNECT)
        connect.SessionExpiryInterval = 3600
        client.connect("127.0.0.1", broker.port, clean_start=False, properties=connect)
        subscribe = Properties(PacketTypes.SUBSCRIBE)
        subscribe.SubscriptionIdentifier = 1
        acked = threading.Event()
        client.on_subscribe = lambda *_: acked.set()
        client.loop_start()
        try:
            client.subscribe("old/#", 1, properties=subscribe)
            assert acked.wait(5), "no SUBACK"
        finally:
            client.disconnect()
            client.loop_stop()

    await trio.to_thread.run_sync(earlier_run)
    async with (
        connected(broker.port, client_id="resumed") as bridge,
        bridge.subscribe("new/#", 1) as new,
        connected(broker.port) as publisher,
    ):
        await publisher.publish("old/1", b"for the earlier run's filter", qos=1)
        await publisher.publish("new/1", b"for new/#", qos=1)
        got = []
        with trio.move_on_after(2.0):
            async for message in new:
                got.append(message.topic)
    assert got == ["new/1"]
