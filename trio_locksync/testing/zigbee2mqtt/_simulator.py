"""A simulated Zigbee2MQTT on a real broker: its own MQTT bridge, the ``bridge/state`` flag
(retained, with an offline last will), ``bridge/devices``, ``bridge/logging``, availability,
and each device's topics — as Zigbee2MQTT 2.12.1 (6835cbf5) publishes them, 1.x selectable:

* ``bridge/logging``: ``{"level": ..., "message": "z2m: ..."}`` in 1.39+ and 2.x (the
  namespace inside the message, ``lib/util/logger.ts:198``), ``{"level", "message",
  "namespace"}`` in 1.37.1-1.38, ``{"level", "message"}`` before; never retained; from 1.37.0
  on, a payload identical to the one just published is not published again
  (``lib/extension/bridge.ts:63-68``).
* ``bridge/state`` and availability: ``{"state": "online"|"offline"}``, retained, QoS 1
  (``lib/mqtt.ts:61-65,181-183``; ``availability.ts:262-265``); 1.x could send the plain
  strings (``legacy_availability_payload``, removed in 2.x). Availability is off by default
  (``settings.ts:36-39``); when on, a battery lock is passive — flagged offline only after
  ``passive_timeout`` (1500 min) without a word — and a mains one after ``active_timeout``
  (10 min) (``availability.ts:65-69``).
* ``bridge/devices`` (retained, ``bridge.ts:780-841``): each device, its definition without
  ``meta`` — no lock's user count in it.
"""

from __future__ import annotations

import enum
import json
import math
import random
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from types import MappingProxyType
from typing import Any, final

import trio

from ...core import Backoff, NoPublicConstructor, open_service_nursery, require_trio
from ...mqtt import MqttBridge, MqttProtocol, MqttStatus, MqttWill, QoS, open_mqtt_bridge
from ._commands import run_commands
from ._device import SimulatedZigbeeLock

__all__ = ["Zigbee2MqttSimulator", "Zigbee2MqttVersion", "open_zigbee2mqtt_simulator"]


class Zigbee2MqttVersion(enum.Enum):
    """Which Zigbee2MQTT the simulator speaks (where what it publishes differs)."""

    #: 2.x (and 1.39+): the log namespace inside ``message``; JSON availability only
    V2 = "2"
    #: 1.37.1 - 1.38: a separate ``namespace`` key on ``bridge/logging``
    V1_38 = "1.38"
    #: 1.36 and older: ``bridge/logging`` is ``{"level", "message"}``, never de-duplicated
    V1_36 = "1.36"


def _state(online: bool, legacy: bool) -> bytes:
    word = "online" if online else "offline"
    # lib/mqtt.ts and availability.ts use plain JSON.stringify: no spaces
    return word.encode() if legacy else json.dumps({"state": word}, separators=(",", ":")).encode()


def _dump(value: object) -> bytes:
    """Zigbee2MQTT's ``json-stable-stringify``: keys sorted at every level, no spaces."""
    return json.dumps(value, sort_keys=True, separators=(",", ":")).encode()


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
        version: Zigbee2MqttVersion,
        availability: bool,
        legacy_availability: bool,
        active_timeout: float,
        passive_timeout: float,
    ) -> None:
        self._bridge = bridge
        self._nursery = nursery
        self.base_topic = base_topic
        self.version = version
        #: publish the devices' ``availability`` flags (Zigbee2MQTT's option, off by default)
        self.availability = availability
        #: plain ``online``/``offline`` strings (Zigbee2MQTT 1.x legacy payloads)
        self.legacy_availability = legacy_availability
        #: seconds without an answer before availability flags a mains (active) or battery
        #: (passive) device offline
        self.active_timeout = active_timeout
        self.passive_timeout = passive_timeout
        self._devices: dict[str, SimulatedZigbeeLock] = {}
        self._online = True
        self._last_log: bytes | None = None
        #: per device: the number of its latest availability change (a pending offline
        #: timer that is not the latest does nothing)
        self._flag_changes: dict[str, int] = {}
        #: per device: the flag published last
        self._flagged: dict[str, bool] = {}
        self._outbox_send, self._outbox = trio.open_memory_channel[tuple[str, bytes, QoS, bool]](
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
            flag=self._device_flag,
            log=self.log,
            **knobs,
        )
        if cached_users:
            device.remember_users()
        self._devices[name] = device
        await self._nursery.start(self._follow, device)
        self._nursery.start_soon(run_commands, device, self._nursery)
        if device.reports is not None:
            self._nursery.start_soon(self._report, device, device.reports)
        self._publish_devices()
        self.set_available(name, True)
        device.republish()
        return device

    def log(self, level: str, message: str) -> None:
        """A line of Zigbee2MQTT's log (namespace ``z2m``) on ``bridge/logging``, in this
        version's format; one identical to the line just published is not published again."""
        version = self.version
        if version is Zigbee2MqttVersion.V2:
            payload = _dump({"level": level, "message": f"z2m: {message}"})
        elif version is Zigbee2MqttVersion.V1_38:
            payload = _dump({"level": level, "message": message, "namespace": "z2m"})
        else:
            payload = _dump({"level": level, "message": message})
        if payload == self._last_log and version is not Zigbee2MqttVersion.V1_36:
            return
        self._last_log = payload
        self._send(f"{self.base_topic}/bridge/logging", payload, 0, False)

    def _publish_devices(self) -> None:
        """``bridge/devices``: every device, retained (sent at start and on every change)."""
        entries = [device.device_entry() for device in self._devices.values()]
        self._send(f"{self.base_topic}/bridge/devices", _dump(entries), 0, True)

    def _device_flag(self, name: str, online: bool) -> None:
        """A device came back (flagged online at once: it spoke) or went silent (flagged
        offline once the active or passive timeout passed without a word)."""
        if not self.availability:
            return
        change = self._flag_changes[name] = self._flag_changes.get(name, 0) + 1
        if online:
            if self._flagged.get(name) is False:
                self.set_available(name, True)
            return
        device = self._devices[name]
        timeout = self.passive_timeout if device.passive else self.active_timeout
        self._nursery.start_soon(self._flag_offline_after, name, change, timeout)

    async def _flag_offline_after(self, name: str, change: int, after: float) -> None:
        await trio.sleep(after)
        if self._flag_changes.get(name) == change:
            self.set_available(name, False)

    async def _report(self, device: SimulatedZigbeeLock, every: float) -> None:
        """The lock's own battery reports: each republishes the whole cache (``users``
        included), as every device message does (``controller.ts:386-451``)."""
        rng = random.Random(device.name)
        battery = int(device.cache.get("battery", 92))
        while True:
            await trio.sleep(every * rng.uniform(0.8, 1.2))
            if device.online and self._online:
                if rng.random() < 0.1:
                    battery = max(1, battery - 1)
                device.frame({"battery": battery, "linkquality": rng.randint(60, 180)})

    def set_online(self, online: bool) -> None:
        """Zigbee2MQTT stops (``bridge/state`` offline; device flags stay as they were — the
        trap) or starts again (online, then every device's cached state republished)."""
        self._online = online
        self._send(f"{self.base_topic}/bridge/state", self._flag(online), 1, True)
        if online:
            for device in self._devices.values():
                device.republish()

    def set_available(self, name: str, online: bool) -> None:
        """Publish device ``name``'s availability flag (retained, QoS 1) now — if
        :attr:`availability` is on — without touching the lock (its ``go_offline`` flags it
        after the timeout, as Zigbee2MQTT does)."""
        if self.availability:
            self._flagged[name] = online
            self._send(f"{self.base_topic}/{name}/availability", self._flag(online), 1, True)

    def _flag(self, online: bool) -> bytes:
        return _state(online, self.legacy_availability)

    def _send(self, topic: str, payload: bytes, qos: QoS, retain: bool) -> None:
        self._outbox_send.send_nowait((topic, payload, qos, retain))

    # -- tasks ------------------------------------------------------------------------------

    async def _publisher(self) -> None:
        async for topic, payload, qos, retain in self._outbox:
            await self._bridge.publish(topic, payload, qos=qos, retain=retain)

    async def _follow(
        self,
        device: SimulatedZigbeeLock,
        task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED,
    ) -> None:
        """[a task] Queue ``device``'s ``set`` and ``get`` commands in the order they arrive.
        One subscription and one task for both, as Zigbee2MQTT hands each message on as it
        comes (``lib/mqtt.ts:184,187-192``; ``publish.ts:93-246`` awaits nothing before the
        converter sends the command): with a task per topic, a ``get`` that reached our bridge
        in the same drain as the ``set`` before it was carried out first half the time (trio
        draws the order of each scheduler batch), answering a read-back before the write."""
        prefix = f"{device.topic}/"
        async with self._bridge.subscribe(f"{prefix}+", qos=1) as subscription:
            task_status.started()
            async for message in subscription:
                kind = message.topic.removeprefix(prefix)
                # ``<name>/availability`` (our own flag) matches the filter too: not a command
                if kind in ("set", "get") and self._online:  # a stopped one is not subscribed
                    device.inbox_send.send_nowait((kind, message.payload))

    async def _announce(self) -> None:
        """``bridge/state`` online at every connection, as Zigbee2MQTT does."""
        async for change in self._bridge.status_changes():
            if change.status is MqttStatus.CONNECTED and self._online:
                self._send(f"{self.base_topic}/bridge/state", self._flag(True), 1, True)
                self._publish_devices()


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
    version: Zigbee2MqttVersion = Zigbee2MqttVersion.V2,
    availability: bool = False,
    legacy_availability: bool = False,
    active_timeout: float = 600.0,
    passive_timeout: float = 90_000.0,
) -> AsyncIterator[Zigbee2MqttSimulator]:
    """Run a simulated Zigbee2MQTT against the broker at ``host:port`` for the block.

    It connects with its own MQTT bridge (``client_id``, ``username``, ``password``,
    ``backoff`` and ``protocol`` are that bridge's: MQTT 5 unless told), publishes
    ``<base>/bridge/state`` online (retained, QoS 1) at every connection, with offline as its
    last will, and serves the devices added with :meth:`Zigbee2MqttSimulator.add_lock`. It
    speaks ``version`` (2.x unless told). ``availability``: publish devices' availability
    (Zigbee2MQTT's option, off by default there and here), flagging a silent device offline
    after ``active_timeout`` (mains) or ``passive_timeout`` (battery: 1500 min) seconds;
    ``legacy_availability``: 1.x's plain-string flags (ValueError with 2.x). Ground
    truth is each device's :class:`VirtualLock` (``device.codes``). Leaving the block stops it:
    ``bridge/state`` goes offline, as on a clean stop (the last will covers a crash). ::

        async with open_zigbee2mqtt_simulator("127.0.0.1", port) as z2m:
            door = await z2m.add_lock("front_door", expose_pin=True, latency=(0.1, 0.8))
            door.keypad_unlock(user=3)
    """
    require_trio("open_zigbee2mqtt_simulator()")
    if legacy_availability and version is Zigbee2MqttVersion.V2:
        raise ValueError("Zigbee2MQTT 2.x has no legacy availability payloads; pick a 1.x version")
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
            version=version,
            availability=availability,
            legacy_availability=legacy_availability,
            active_timeout=active_timeout,
            passive_timeout=passive_timeout,
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
