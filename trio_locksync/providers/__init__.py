"""Real lock integrations: lock providers for the credential engine, built on the library's
public pieces. Zigbee locks behind Zigbee2MQTT over the MQTT bridge
(:mod:`trio_locksync.providers.zigbee2mqtt`), and Z-Wave locks behind a Z-Wave JS Server over
one websocket (:mod:`trio_locksync.providers.zwave_js`)."""

from .zigbee2mqtt import Zigbee2MqttLock as Zigbee2MqttLock
from .zwave_js import ZWaveJsLock as ZWaveJsLock

__all__ = ["ZWaveJsLock", "Zigbee2MqttLock"]
