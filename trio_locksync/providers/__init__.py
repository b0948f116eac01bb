"""Real lock integrations: lock providers for the credential engine, built on the library's
public pieces (the MQTT bridge, the credential models). Zigbee locks behind Zigbee2MQTT first
(:mod:`trio_locksync.providers.zigbee2mqtt`)."""

from .zigbee2mqtt import Zigbee2MqttLock as Zigbee2MqttLock

__all__ = ["Zigbee2MqttLock"]
