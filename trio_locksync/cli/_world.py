"""The simulated hardware the demo site talks to: the ISY controller reporting the doors of the
virtual locks, the simulated Zigbee2MQTT with the Zigbee locks, the ``VirtualLock``s, and the
real Z-Wave JS Server on zwave-js's mock controller with the Z-Wave locks (:mod:`._zwave`).

The hardware outlives a run of the site: the codes each lock holds and whether its door is
locked are kept in ``hardware.json`` under the state dir (the locks' own memory; it holds
codes, so the store writes it 0o600) and restored by the next run, as real locks keep their
codes while the controller software restarts.
"""

from __future__ import annotations

import random
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from typing import Any, final

import trio

from ..core import ChangeFeed
from ..store import Store, open_store
from ..testing import BrokerError, MqttBroker, VirtualLock
from ..testing.isy import IsyController
from ..testing.zigbee2mqtt import (
    SimulatedZigbeeLock,
    Zigbee2MqttSimulator,
    open_zigbee2mqtt_simulator,
)
from ._config import FAST, Behaviour, DemoOptions, behaviour_of
from ._events import DemoEvent
from ._follow import door_value
from ._schema import LockConfig, LockKind, SiteConfig
from ._statefiles import sound
from ._zwave import ZWaveHardware

__all__ = ["World", "door_value", "open_world"]

#: ISY's unit of measure for a door lock: 100 locked, 0 unlocked
DEADBOLT_UOM = "11"
SLOTS_PER_LOCK = 10
#: seconds the simulated Zigbee2MQTT may take to pair its locks (subscribe on the broker)
_SIMULATOR_TIMEOUT = 20.0


def _virtual(spec: LockConfig, seed: int, codes: Mapping[int, str]) -> VirtualLock:
    flaky = behaviour_of(spec) is Behaviour.FLAKY
    lock = VirtualLock(
        slots=SLOTS_PER_LOCK,
        masked=behaviour_of(spec) is Behaviour.MASKED,
        write_lands=0.8 if flaky else 1.0,
        optimistic=0.5 if flaky else 0.0,
        fail_rate=0.15 if flaky else 0.0,
        latency=0.05 if flaky else 0.02,
        push=True,
        seed=seed,
    )
    lock.codes.update(codes)
    return lock


def _codes(saved: Mapping[str, Any], name: str) -> dict[int, str]:
    return {int(slot): pin for slot, pin in saved.get("codes", {}).get(name, {}).items()}


@asynccontextmanager
async def open_world(
    options: DemoOptions, broker: MqttBroker, events: ChangeFeed[DemoEvent]
) -> AsyncIterator[World]:
    """The hardware as the last run left it (``hardware.json``): the ISY controller serving,
    the Zigbee locks paired with the simulated Zigbee2MQTT on ``broker``; saved soon after
    every event of the run, and once more when the block ends."""
    config, seed = options.site, options.seed
    async with (
        open_store(options.state_dir / "hardware.json", max_delay=2.0) as hardware,
        trio.open_nursery() as nursery,
    ):
        saved: Mapping[str, Any] = sound(hardware.path, await hardware.load())
        locked: Mapping[str, bool] = saved.get("locked", {})
        nodes = {spec.name: spec.door for spec in config.locks if spec.door is not None}
        virtual = config.with_kind(LockKind.VIRTUAL)
        controller = IsyController(
            {nodes[spec.name]: door_value(locked.get(spec.name, True)) for spec in virtual},
            heartbeat=30.0,
        )
        await nursery.start(controller.serve)
        zwave = ZWaveHardware(config.with_kind(LockKind.ZWAVE), events.publish)
        if zwave.nodes:
            await nursery.start(zwave.serve_forwarder)
            nursery.start_soon(zwave.run)  # in the background: the rest never waits for it
        async with open_zigbee2mqtt_simulator(
            broker.host,
            broker.port,
            client_id="trio-locksync-demo-z2m",
            backoff=FAST,
            protocol=broker.protocol,
        ) as z2m:
            with trio.move_on_after(_SIMULATOR_TIMEOUT) as pairing:
                devices = await _pair(z2m, config, saved)
            if pairing.cancelled_caught:
                raise BrokerError(
                    f"the simulated Zigbee2MQTT could not subscribe on {broker.host}:"
                    f"{broker.port} within {_SIMULATOR_TIMEOUT:g} s"
                )
            world = World(
                config,
                nodes,
                controller,
                {
                    spec.name: _virtual(spec, seed + n, _codes(saved, spec.name))
                    for n, spec in enumerate(virtual)
                },
                devices,
                zwave,
                seed=seed,
            )
            async with trio.open_nursery() as saver:
                saver.start_soon(_save_soon, hardware, world, events)
                yield world
                saver.cancel_scope.cancel()
            await hardware.save(world.snapshot())
        nursery.cancel_scope.cancel()


async def _pair(
    z2m: Zigbee2MqttSimulator, config: SiteConfig, saved: Mapping[str, Any]
) -> dict[str, SimulatedZigbeeLock]:
    """The Zigbee locks, paired with their codes and doors as the last run left them."""
    locked: Mapping[str, bool] = saved.get("locked", {})
    devices = {}
    for n, spec in enumerate(config.with_kind(LockKind.ZIGBEE2MQTT)):
        device = await z2m.add_lock(
            spec.topic_name,
            slots=SLOTS_PER_LOCK,
            codes=_codes(saved, spec.name),
            expose_pin=behaviour_of(spec) is not Behaviour.MASKED,
            latency=(0.02, 0.1),
            zcl_timeout=1.0,
            seed=100 + n,
        )
        if not locked.get(spec.name, True):
            device.frame({"state": "UNLOCK", "lock_state": "unlocked"})
        devices[spec.name] = device
    return devices


async def _save_soon(hardware: Store[Any], world: World, events: ChangeFeed[DemoEvent]) -> None:
    """The hardware's memory, written within a second or two of anything happening."""
    async for _ in events.subscribe():
        hardware.delay_save(world.snapshot, 1.0)


@final
class World:
    """Every simulated device, by lock name; ``snapshot()`` is what ``hardware.json`` holds.
    Made by :func:`open_world`."""

    def __init__(
        self,
        config: SiteConfig,
        nodes: dict[str, str],
        controller: IsyController,
        virtual: dict[str, VirtualLock],
        devices: dict[str, SimulatedZigbeeLock],
        zwave: ZWaveHardware,
        *,
        seed: int,
    ) -> None:
        self.config = config
        self.rng = random.Random(seed)
        #: the ISY node of each lock's door
        self.nodes = nodes
        #: the lock whose door each ISY node is
        self.lock_of_node = {node: name for name, node in nodes.items()}
        self.controller = controller
        self.virtual = virtual
        self.devices = devices
        self.zwave = zwave
        #: the codes people programmed at a keypad, behind the site's back
        self.reprogrammed: dict[tuple[str, int], str] = {}

    def snapshot(self) -> dict[str, Any]:
        """The hardware's memory: codes per lock, and which doors are locked."""
        codes: dict[str, dict[str, str]] = {}
        locked: dict[str, bool] = {}
        for name, lock in self.virtual.items():
            codes[name] = {str(slot): pin for slot, pin in lock.codes.items()}
            locked[name] = self.controller.nodes[self.nodes[name]].value == door_value(True)
        for name, device in self.devices.items():
            codes[name] = {str(slot): pin for slot, pin in device.codes.items()}
            locked[name] = device.lock_state == "locked"
        return {"codes": codes, "locked": locked}

    # -- what people do at the doors --------------------------------------------------------

    async def keypad_unlock(self, name: str, user: int) -> None:
        """Someone opens door ``name`` with the code of ``user`` at its keypad."""
        kind = self.config.lock(name).kind
        if kind is LockKind.ZIGBEE2MQTT:
            self.devices[name].keypad_unlock(user=user)
        elif kind is LockKind.ZWAVE:
            await self.zwave.keypad_unlock(name, user)
        else:
            self.controller.set_status(self.nodes[name], door_value(False))

    async def manual_lock(self, name: str, user: int) -> None:
        """Someone locks door ``name`` by hand (the thumb turn; a Z-Wave lock: at its keypad,
        as ``user``)."""
        kind = self.config.lock(name).kind
        if kind is LockKind.ZIGBEE2MQTT:
            self.devices[name].manual_lock()
        elif kind is LockKind.ZWAVE:
            await self.zwave.keypad_lock(name, user)
        else:
            self.controller.set_status(self.nodes[name], door_value(True))

    async def codes(self, name: str, slots: list[int]) -> dict[int, str]:
        """The codes lock ``name`` holds in ``slots`` by its own record (ground truth)."""
        kind = self.config.lock(name).kind
        if kind is LockKind.ZWAVE:
            return await self.zwave.codes(name, slots)
        held = (
            self.devices[name].codes if kind is LockKind.ZIGBEE2MQTT else (self.virtual[name].codes)
        )
        return {slot: held[slot] for slot in slots if held.get(slot)}

    def lock_virtual_door(self, name: str) -> None:
        """The site's lock command for a virtual lock's door (through the ISY controller)."""
        self.controller.set_status(self.nodes[name], door_value(True))

    def keypad_change(self, name: str, slot: int) -> None:
        """Someone programs a new code into ``slot`` at the door (a code nobody configured)."""
        pin = "".join(self.rng.choice("0123456789") for _ in range(6))
        self.reprogrammed[name, slot] = pin
        if self.config.lock(name).kind is LockKind.ZIGBEE2MQTT:
            self.devices[name].keypad_set(slot, pin)
        else:
            self.virtual[name].keypad_set(slot, pin)

    async def controller_restart(self, down_for: float) -> None:
        """The ISY controller reboots: connections cut, refused while down, then up again
        (and every connect replays every door)."""
        self.controller.stop()
        await trio.sleep(down_for)
        await self.controller.start()
