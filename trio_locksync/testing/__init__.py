"""Simulators that speak the real protocols, for tests, benchmarks and the demo (trio.testing's
role): :class:`VirtualLock` (a lock with every quirk upstream users hit; also importable from the
top level, it is in the contract); :class:`IsyController` (an ISY / IoX controller's
``/rest/subscribe`` websocket, in :mod:`trio_locksync.testing.isy`); a Zigbee2MQTT with Zigbee
locks on a real broker (:func:`open_zigbee2mqtt_simulator`, in
:mod:`trio_locksync.testing.zigbee2mqtt`); the real Z-Wave JS Server on zwave-js's mock
controller with mock locks (:func:`open_zwave_js_server`, in
:mod:`trio_locksync.testing.zwave_js`; node >= 20 and npm); and real MQTT brokers to run them on:
one launcher with two faces — :class:`MosquittoBroker` (blocking start/stop/kill/restart on one
port, for test set-up and benchmarks) and :func:`open_mqtt_broker` (mosquitto, else amqtt, owned
by an ``async with`` block; or an external broker, used as it is).

As everywhere in the library, an iterator method named with a plural noun (``updates()``,
``events()``) is a fan-out subscription: each iterator gets every item, from its call on."""

import importlib
from typing import TYPE_CHECKING, Any

from ._virtual_lock import VirtualLock as VirtualLock
from ._virtual_lock import VirtualLockStatistics as VirtualLockStatistics

if TYPE_CHECKING:
    from ._broker import BrokerError as BrokerError
    from ._broker import MosquittoBroker as MosquittoBroker
    from ._broker import find_mosquitto as find_mosquitto
    from ._broker import find_mosquitto_passwd as find_mosquitto_passwd
    from ._errors import SimulatorError as SimulatorError
    from ._mqtt_broker import BrokerKind as BrokerKind
    from ._mqtt_broker import MqttBroker as MqttBroker
    from ._mqtt_broker import open_mqtt_broker as open_mqtt_broker
    from ._mqtt_broker import parse_address as parse_address
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
    from .zwave_js import MockControlError as MockControlError
    from .zwave_js import MockNode as MockNode
    from .zwave_js import ZWaveJsServer as ZWaveJsServer
    from .zwave_js import ZWaveJsUnavailable as ZWaveJsUnavailable
    from .zwave_js import install_zwave_js as install_zwave_js
    from .zwave_js import open_zwave_js_server as open_zwave_js_server

#: Where each simulator lives. They are imported on first use, so that ``import trio_locksync``
#: (whose top level offers ``VirtualLock``) does not load brokers, websocket servers and MQTT
#: simulators a program never uses (8 MiB and 147 modules measured).
_LAZY = {
    "BrokerError": "._broker",
    "MosquittoBroker": "._broker",
    "find_mosquitto": "._broker",
    "find_mosquitto_passwd": "._broker",
    "SimulatorError": "._errors",
    "BrokerKind": "._mqtt_broker",
    "MqttBroker": "._mqtt_broker",
    "open_mqtt_broker": "._mqtt_broker",
    "parse_address": "._mqtt_broker",
    "IsyController": ".isy",
    "IsyHandshake": ".isy",
    "IsySubscriber": ".isy",
    "NodeStatus": ".isy",
    "isy_event_frame": ".isy",
    "isy_heartbeat_frame": ".isy",
    "isy_status_frame": ".isy",
    "SimulatedLockStatistics": ".zigbee2mqtt",
    "SimulatedZigbeeLock": ".zigbee2mqtt",
    "Zigbee2MqttSimulator": ".zigbee2mqtt",
    "open_zigbee2mqtt_simulator": ".zigbee2mqtt",
    "MockControlError": ".zwave_js",
    "MockNode": ".zwave_js",
    "ZWaveJsServer": ".zwave_js",
    "ZWaveJsUnavailable": ".zwave_js",
    "install_zwave_js": ".zwave_js",
    "open_zwave_js_server": ".zwave_js",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module, __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)


__all__ = [
    "BrokerError",
    "BrokerKind",
    "IsyController",
    "IsyHandshake",
    "IsySubscriber",
    "MockControlError",
    "MockNode",
    "MosquittoBroker",
    "MqttBroker",
    "NodeStatus",
    "SimulatedLockStatistics",
    "SimulatedZigbeeLock",
    "SimulatorError",
    "VirtualLock",
    "VirtualLockStatistics",
    "ZWaveJsServer",
    "ZWaveJsUnavailable",
    "Zigbee2MqttSimulator",
    "find_mosquitto",
    "find_mosquitto_passwd",
    "install_zwave_js",
    "isy_event_frame",
    "isy_heartbeat_frame",
    "isy_status_frame",
    "open_mqtt_broker",
    "open_zigbee2mqtt_simulator",
    "open_zwave_js_server",
    "parse_address",
]
