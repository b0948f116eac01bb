"""A simulated Zigbee2MQTT with Zigbee locks, on a real MQTT broker (for tests, benchmarks and
the demo): :func:`open_zigbee2mqtt_simulator` connects with its own MQTT bridge and speaks
Zigbee2MQTT 2.x's topics and payloads (1.x selectable), quirks included — the whole cached
state republished with every message (battery reports too), users numbered from 0 as per
model, ``bridge/devices``, de-duplicated log lines, passive availability for battery locks,
silent success, failures only on ``bridge/logging`` (PINs in clear), retained
state and availability, ``expose_pin`` on and off, ``not_supported_255``, lost and late
writes, reads that time out, keypad unlocks crediting a user. Each lock's ground truth is a
:class:`~trio_locksync.VirtualLock` (``device.codes``). ::

    async with open_zigbee2mqtt_simulator("127.0.0.1", port) as z2m:
        door = await z2m.add_lock("front_door", expose_pin=True, latency=(0.1, 0.8))
        door.keypad_unlock(user=3)
"""

from ._counts import SimulatedCounts as SimulatedCounts
from ._counts import SimulatedLockStatistics as SimulatedLockStatistics
from ._device import SimulatedZigbeeLock as SimulatedZigbeeLock
from ._simulator import Zigbee2MqttSimulator as Zigbee2MqttSimulator
from ._simulator import Zigbee2MqttVersion as Zigbee2MqttVersion
from ._simulator import open_zigbee2mqtt_simulator as open_zigbee2mqtt_simulator

__all__ = [
    "SimulatedCounts",
    "SimulatedLockStatistics",
    "SimulatedZigbeeLock",
    "Zigbee2MqttSimulator",
    "Zigbee2MqttVersion",
    "open_zigbee2mqtt_simulator",
]
