"""The simulated hardware the demo site talks to: the ISY controller reporting the doors of the
virtual locks, the simulated Zigbee2MQTT with the Zigbee locks, and the ``VirtualLock``s.

The hardware outlives a run of the site: the codes each lock holds and whether its door is
locked are kept in ``hardware.json`` under the state dir (the locks' own memory; it holds
codes, so the store writes it 0o600) and restored by the next run, as real locks keep their
codes while the controller software restarts.
"""

from __future__ import annotations

import random
from typing import Any, final

import trio

from ..testing import VirtualLock
from ..testing.isy import IsyController
from ..testing.zigbee2mqtt import SimulatedZigbeeLock, Zigbee2MqttSimulator
from ._config import Behaviour, Kind, LockSpec, SiteConfig

__all__ = ["World", "door_value"]

#: ISY's unit of measure for a door lock: 100 locked, 0 unlocked
DEADBOLT_UOM = "11"
SLOTS_PER_LOCK = 10


def door_value(locked: bool) -> int:
    return 100 if locked else 0


def _virtual(spec: LockSpec, seed: int) -> VirtualLock:
    flaky = spec.behaviour is Behaviour.FLAKY
    return VirtualLock(
        slots=SLOTS_PER_LOCK,
        masked=spec.behaviour is Behaviour.MASKED,
        write_lands=0.8 if flaky else 1.0,
        optimistic=0.5 if flaky else 0.0,
        fail_rate=0.15 if flaky else 0.0,
        latency=0.05 if flaky else 0.02,
        push=True,
        seed=seed,
    )


@final
class World:
    """Every simulated device, by lock name; ``snapshot()`` is what ``hardware.json`` holds."""

    def __init__(self, config: SiteConfig, saved: dict[str, Any] | None, *, seed: int) -> None:
        self.config = config
        self.rng = random.Random(seed)
        saved = saved or {}
        self._saved_codes: dict[str, dict[str, str]] = saved.get("codes", {})
        locked: dict[str, bool] = saved.get("locked", {})
        self.nodes = {spec.name: f"ZW{n:03d}_1" for n, spec in enumerate(config.locks, start=2)}
        self.virtual: dict[str, VirtualLock] = {}
        for n, spec in enumerate(config.with_kind(Kind.VIRTUAL)):
            lock = _virtual(spec, seed + n)
            lock.codes.update(self._codes(spec.name))
            self.virtual[spec.name] = lock
        self.controller = IsyController(
            {
                self.nodes[spec.name]: door_value(locked.get(spec.name, True))
                for spec in config.with_kind(Kind.VIRTUAL)
            },
            heartbeat=30.0,
        )
        self._zigbee_locked = {
            spec.name: locked.get(spec.name, True) for spec in config.with_kind(Kind.ZIGBEE)
        }
        self.z2m: Zigbee2MqttSimulator | None = None
        self.devices: dict[str, SimulatedZigbeeLock] = {}

    def _codes(self, name: str) -> dict[int, str]:
        return {int(slot): pin for slot, pin in self._saved_codes.get(name, {}).items()}

    def node_lock(self, node: str) -> str | None:
        """The lock whose door ISY node ``node`` is."""
        for name, address in self.nodes.items():
            if address == node:
                return name
        return None

    async def add_zigbee_locks(self, z2m: Zigbee2MqttSimulator) -> None:
        """Pair the Zigbee locks with the simulated Zigbee2MQTT (their codes and doors as
        the last run left them)."""
        self.z2m = z2m
        for n, spec in enumerate(self.config.with_kind(Kind.ZIGBEE)):
            device = await z2m.add_lock(
                spec.name,
                slots=SLOTS_PER_LOCK,
                codes=self._codes(spec.name),
                expose_pin=spec.behaviour is not Behaviour.MASKED,
                latency=(0.02, 0.1),
                zcl_timeout=1.0,
                seed=100 + n,
            )
            if not self._zigbee_locked[spec.name]:
                device.frame({"state": "UNLOCK", "lock_state": "unlocked"})
            self.devices[spec.name] = device

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

    def keypad_unlock(self, name: str) -> None:
        """Someone opens door ``name`` with a code at its keypad."""
        spec = self.config.lock(name)
        user = self.rng.choice([s for s, pin in spec.slots.items() if pin is not None])
        if spec.kind is Kind.ZIGBEE:
            self.devices[name].keypad_unlock(user=user)
        else:
            self.controller.set_status(self.nodes[name], door_value(False))

    def manual_lock(self, name: str) -> None:
        """Someone locks door ``name`` by hand (the thumb turn)."""
        if self.config.lock(name).kind is Kind.ZIGBEE:
            self.devices[name].manual_lock()
        else:
            self.controller.set_status(self.nodes[name], door_value(True))

    def lock_virtual_door(self, name: str) -> None:
        """The site's lock command for a virtual lock's door (through the ISY controller)."""
        self.controller.set_status(self.nodes[name], door_value(True))

    def keypad_change(self, name: str, slot: int) -> None:
        """Someone programs a new code into ``slot`` at the door (a code nobody configured)."""
        pin = "".join(self.rng.choice("0123456789") for _ in range(6))
        if self.config.lock(name).kind is Kind.ZIGBEE:
            self.devices[name].keypad_set(slot, pin)
        else:
            self.virtual[name].keypad_set(slot, pin)

    async def controller_restart(self, down_for: float) -> None:
        """The ISY controller reboots: connections cut, refused while down, then up again
        (and every connect replays every door)."""
        self.controller.stop()
        await trio.sleep(down_for)
        await self.controller.start()
