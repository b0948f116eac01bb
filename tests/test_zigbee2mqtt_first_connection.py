"""An operation on a Zigbee2MqttLock while the MQTT bridge is still making its first
connection waits for it, bounded by the operation's own timeout (issue 19, item 6); once the
bridge has been connected, losing the connection fails operations at once (the engine's lock
breaker paces retries). Real mosquitto, real clock."""

from __future__ import annotations

from pathlib import Path

import pytest
import trio

from trio_locksync import LockDisconnected, MqttStatus, Pin, WriteResult, open_mqtt_bridge
from trio_locksync.providers.zigbee2mqtt import Zigbee2MqttLock

from .brokerhelpers import FAST, Broker, needs_mosquitto

pytestmark = needs_mosquitto


async def test_a_write_during_the_first_connection_waits_for_it(tmp_path: Path) -> None:
    broker = Broker(tmp_path)  # not started yet: the bridge's first attempts are refused
    try:
        async with (
            open_mqtt_bridge("127.0.0.1", broker.port, backoff=FAST) as bridge,
            Zigbee2MqttLock(bridge, "door", slots=[1], publish_timeout=10.0) as lock,
        ):
            assert bridge.status is not MqttStatus.CONNECTED
            results: list[WriteResult] = []

            async def write() -> None:
                results.append(await lock.set_code(1, Pin("1234")))

            async with trio.open_nursery() as nursery:
                nursery.start_soon(write)
                await trio.sleep(0.5)
                assert results == []  # waiting, not failed at once
                await trio.to_thread.run_sync(broker.start)
            assert results == [WriteResult.OPTIMISTIC]
    finally:
        broker.stop()


async def test_a_first_connection_that_never_comes_fails_after_the_operations_timeout(
    tmp_path: Path,
) -> None:
    broker = Broker(tmp_path)  # never started
    async with (
        open_mqtt_bridge("127.0.0.1", broker.port, backoff=FAST) as bridge,
        Zigbee2MqttLock(bridge, "door", slots=[1], publish_timeout=0.6) as lock,
    ):
        start = trio.current_time()
        with pytest.raises(LockDisconnected, match="MQTT bridge is reconnecting"):
            await lock.set_code(1, Pin("1234"))
        assert trio.current_time() - start >= 0.6


async def test_after_a_connection_was_lost_operations_fail_at_once(tmp_path: Path) -> None:
    with Broker(tmp_path) as broker:
        async with (
            open_mqtt_bridge("127.0.0.1", broker.port, backoff=FAST) as bridge,
            Zigbee2MqttLock(bridge, "door", slots=[1], publish_timeout=5.0) as lock,
        ):
            with trio.fail_after(10):
                await bridge.wait_status(MqttStatus.CONNECTED)
            await trio.to_thread.run_sync(broker.stop)
            with trio.fail_after(10):
                await bridge.wait_status(MqttStatus.RECONNECTING)
            start = trio.current_time()
            with pytest.raises(LockDisconnected):
                await lock.set_code(1, Pin("1234"))
            assert trio.current_time() - start < 2.5  # not the 5 s publish timeout
