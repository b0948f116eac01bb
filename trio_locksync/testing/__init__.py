"""Simulators that speak the real protocols, for tests, benchmarks and the demo (trio.testing's
role): :class:`VirtualLock` (a lock with every quirk upstream users hit; also importable from the
top level, it is in the contract); :class:`IsyController` (an ISY / IoX controller's
``/rest/subscribe`` websocket, in :mod:`trio_locksync.testing.isy`); a Zigbee2MQTT with Zigbee
locks on a real broker (:func:`open_zigbee2mqtt_simulator`, in
:mod:`trio_locksync.testing.zigbee2mqtt`)."""

from ..credentials import VirtualLock as VirtualLock
from ..credentials import VirtualLockStatistics as VirtualLockStatistics
from .isy import IsyController as IsyController
from .isy import IsyHandshake as IsyHandshake
from .isy import IsySubscriber as IsySubscriber
from .isy import NodeStatus as NodeStatus
from .isy import isy_event_frame as isy_event_frame
from .isy import isy_heartbeat_frame as isy_heartbeat_frame
from .isy import isy_status_frame as isy_status_frame
from .zigbee2mqtt import SimulatedLockStatistics as SimulatedLockStatistics
from .zigbee2mqtt import SimulatedZigbeeLock as SimulatedZigbeeLock
from .zigbee2mqtt import Zigbee2MqttSimulator as Zigbee2MqttSimulator
from .zigbee2mqtt import open_zigbee2mqtt_simulator as open_zigbee2mqtt_simulator

__all__ = [
    "IsyController",
    "IsyHandshake",
    "IsySubscriber",
    "NodeStatus",
    "SimulatedLockStatistics",
    "SimulatedZigbeeLock",
    "VirtualLock",
    "VirtualLockStatistics",
    "Zigbee2MqttSimulator",
    "isy_event_frame",
    "isy_heartbeat_frame",
    "isy_status_frame",
    "open_zigbee2mqtt_simulator",
]
