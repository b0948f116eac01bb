"""Zigbee locks behind Zigbee2MQTT, over the MQTT bridge: :class:`Zigbee2MqttLock` is a
:class:`~trio_locksync.LockProvider` for :func:`~trio_locksync.open_lock_sync` that verifies
writes by reading them back and tells news from Zigbee2MQTT's cached republishes and retained
replays, plus the lock's bolt (``lock()``, ``unlock()``, ``lock_state``) and its lock/unlock
events (``events()``), which can drive autolock. ::

    async with open_mqtt_bridge("broker.local") as bridge:
        async with Zigbee2MqttLock(bridge, "front_door", expose_pin=True) as lock:
            async with open_lock_sync(lock, {1: "1234", 2: None}) as sync:
                ...
"""

from ._devices import PIN_CODE_COUNTS as PIN_CODE_COUNTS
from ._lock import Zigbee2MqttLock as Zigbee2MqttLock
from ._models import Availability as Availability
from ._models import BadInput as BadInput
from ._models import EventSource as EventSource
from ._models import LockAction as LockAction
from ._models import LockEvent as LockEvent
from ._models import LockState as LockState
from ._models import Zigbee2MqttStatistics as Zigbee2MqttStatistics

__all__ = [
    "PIN_CODE_COUNTS",
    "Availability",
    "BadInput",
    "EventSource",
    "LockAction",
    "LockEvent",
    "LockState",
    "Zigbee2MqttLock",
    "Zigbee2MqttStatistics",
]
