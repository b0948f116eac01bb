"""A simulated Zigbee2MQTT on a real broker: its own MQTT bridge, the ``bridge/state`` flag
(retained, with an offline last will), and each device's topics."""

from __future__ import annotations

import json
import math
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from types import MappingProxyType
from typing import Any, final

import trio

from ...core import Backoff, NoPublicConstructor, open_service_nursery
from ...mqtt import MqttBridge, MqttProtocol, MqttStatus, MqttWill, open_mqtt_bridge
from ._commands import run_commands
from ._device import SimulatedZigbeeLock

__all__ = ["Zigbee2MqttSimulator", "open_zigbee2mqtt_simulator"]


def _state(online: bool, legacy: bool) -> bytes:
    word = "online" if online else "offline"
    return word.encode() if legacy else json.dumps({"state": word}).encode()


@final
class Zigbee2MqttSimulator(metaclass=NoPublicConstructor):
    """A simulated Zigbee2MQTT, made by :func:`open_zigbee2mqtt_simulator`. Add locks with
    :meth:`add_lock`; reach them in :attr:`devices`."""

    _OPENED_BY = "open_zigbee2mqtt_simulator()"

    def __init__(
        self,
        bridge: MqttBridge,
        nursery: trio.Nursery,
        *,
        base_topic: str,
        availability: bool,
        legacy_availability: bool,
    ) -> None:
        self._bridge = bridge
        self._nursery = nursery
        self.base_topic = base_topic
        #: publish the devices' ``availability`` flags (Zigbee2MQTT's option; off by default
        #: there, on here)
        self.availability = availability
        #: plain ``online``/``offline`` strings (Zigbee2MQTT 1.x legacy payloads)
        self.legacy_availability = legacy_availability
        self._devices: dict[str, SimulatedZigbeeLock] = {}
        self._online = True
        self._outbox_send, self._outbox = trio.open_memory_channel[tuple[str, bytes, int, bool]](
            math.inf
        )

    @property
    def bridge(self) -> MqttBridge:
        """The simulator's own MQTT bridge (its statistics count every message it sent)."""
        return self._bridge

    @property
    def devices(self) -> Mapping[str, SimulatedZigbeeLock]:
        return MappingProxyType(self._devices)

    @property
    def online(self) -> bool:
        """Zigbee2MQTT runs (``bridge/state`` online); while not, commands are not taken."""
        return self._online

    async def add_lock(self, name: str, **knobs: Any) -> SimulatedZigbeeLock:
        """Pair a lock named ``name`` (knobs: see :class:`SimulatedZigbeeLock`). Returns once
        its ``set``/``get`` topics are subscribed; its availability (online) and cached state
        are published as Zigbee2MQTT does at start-up."""
        if name in self._devices:
            raise ValueError(f"a device named {name!r} exists already")
        cached_users = knobs.pop("cached_users", False)
        device = SimulatedZigbeeLock._create(
            name,
            base_topic=self.base_topic,
            publish=self._send,
            flag=self.set_available,
            **knobs,
        )
        if cached_users:
            device.remember_users()
        self._devices[name] = device
        for kind in ("set", "get"):
            await self._nursery.start(self._follow, device, kind)
        self._nursery.start_soon(run_commands, device, self._nursery)
        self.set_available(name, True)
        device.republish()
        return device

    def set_online(self, online: bool) -> None:
        """Zigbee2MQTT stops (``bridge/state`` offline; device flags stay as they were — the
        trap) or starts again (online, then every device's cached state republished)."""
        self._online = online
        self._send(f"{self.base_topic}/bridge/state", self._flag(online), 1, True)
        if online:
            for device in self._devices.values():
                device.republish()

    def set_available(self, name: str, online: bool) -> None:
        """Publish device ``name``'s availability flag (retained, QoS 1) — if
        :attr:`availability` is on — without touching the lock (see also its
        ``go_offline``)."""
        if self.availability:
            self._send(f"{self.base_topic}/{name}/availability", self._flag(online), 1, True)

    def _flag(self, online: bool) -> bytes:
        return _state(online, self.legacy_availability)

    def _send(self, topic: str, payload: bytes, qos: int, retain: bool) -> None:
        self._outbox_send.send_nowait((topic, payload, qos, retain))

    # -- tasks ------------------------------------------------------------------------------

    async def _publisher(self) -> None:
        async for topic, payload, qos, retain in self._outbox:
            await self._bridge.publish(topic, payload, qos=qos, retain=retain)

    async def _follow(
        self,
        device: SimulatedZigbeeLock,
        kind: str,
        task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED,
    ) -> None:
        async with self._bridge.subscribe(f"{device.topic}/{kind}", qos=1) as subscription:
            task_status.started()
            async for message in subscription:
                if self._online:  # a stopped Zigbee2MQTT is not subscribed
                    device.inbox_send.send_nowait((kind, message.payload))

    async def _announce(self) -> None:
        """``bridge/state`` online at every connection, as Zigbee2MQTT does."""
        async for change in self._bridge.status_changes():
            if change.status is MqttStatus.CONNECTED and self._online:
                self._send(f"{self.base_topic}/bridge/state", self._flag(True), 1, True)


@asynccontextmanager
async def open_zigbee2mqtt_simulator(
    host: str = "127.0.0.1",
    port: int = 1883,
    *,
    base_topic: str = "zigbee2mqtt",
    client_id: str | None = None,
    username: str | None = None,
    password: str | None = None,
    backoff: Backoff | None = None,
    protocol: MqttProtocol = MqttProtocol.V5,
    availability: bool = True,
    legacy_availability: bool = False,
) -> AsyncIterator[Zigbee2MqttSimulator]:
    """Run a simulated Zigbee2MQTT against the broker at ``host:port`` for the block.

    It connects with its own MQTT bridge (``client_id``, ``username``, ``password``,
    ``backoff`` and ``protocol`` are that bridge's: MQTT 5 unless told), publishes
    ``<base>/bridge/state`` online (retained, QoS 1) at every connection, with offline as its
    last will, and serves the devices added with :meth:`Zigbee2MqttSimulator.add_lock`. Ground
    truth is each device's :class:`VirtualLock` (``device.codes``). Leaving the block stops it:
    ``bridge/state`` goes offline, as on a clean stop (the last will covers a crash). ::

        async with open_zigbee2mqtt_simulator("127.0.0.1", port) as z2m:
            door = await z2m.add_lock("front_door", expose_pin=True, latency=(0.1, 0.8))
            door.keypad_unlock(user=3)
    """
    will = MqttWill(f"{base_topic}/bridge/state", _state(False, legacy_availability), 1, True)
    async with (
        open_mqtt_bridge(
            host,
            port,
            client_id=client_id,
            username=username,
            password=password,
            backoff=backoff,
            protocol=protocol,
            will=will,
        ) as bridge,
        open_service_nursery() as nursery,
    ):
        simulator = Zigbee2MqttSimulator._create(
            bridge,
            nursery,
            base_topic=base_topic,
            availability=availability,
            legacy_availability=legacy_availability,
        )
        nursery.start_soon(simulator._publisher)
        nursery.start_soon(simulator._announce)
        simulator._send(f"{base_topic}/bridge/state", _state(True, legacy_availability), 1, True)
        try:
            yield simulator
        finally:
            nursery.cancel_scope.cancel()
            # A clean stop says so (the will covers a crash).
            with trio.CancelScope(shield=True), trio.move_on_after(1.0):
                if bridge.status is MqttStatus.CONNECTED:
                    topic = f"{base_topic}/bridge/state"
                    await bridge.publish(topic, _state(False, legacy_availability), 1, True)
