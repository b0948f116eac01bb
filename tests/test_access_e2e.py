"""End to end: an access plan over a Zigbee2MQTT lock (the simulator, on a real mosquitto the
test starts) and a Z-Wave JS lock (zwave-js's mock controller behind the real Z-Wave JS Server,
``tests/zwavehelpers.py``), on the real clock with short windows (real sockets, threads and
processes do not mix with autojump).

One scenario, run over the Zigbee2MQTT lock alone and over both locks in one plan (skipped
where node >= 20 cannot run): a code nobody manages is skipped and never touched; a uses=1 grant
lands, one keypad unlock that names its slot at each door makes it USED_UP there and its code is
removed; a grant whose window opens 2 s after it is made and closes 6 s later is SCHEDULED, then
ACTIVE (its code on every lock) and EXPIRED (its code gone) at its edges. Every "on the lock"
is checked against each simulator's own record of its codes (``device.codes``; the mock lock's
``/slot`` answer), not only the engines' word; no PIN appears in a log record."""

from __future__ import annotations

import datetime
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from functools import partial
from pathlib import Path

import attrs
import pytest
import trio

from trio_locksync import LockSync, open_lock_sync
from trio_locksync.access import AccessChange, AccessPlan, AccessState, Grant, open_access_plan
from trio_locksync.access._open import utc_now
from trio_locksync.credentials import CredentialKind, SyncState
from trio_locksync.providers.zwave_js import ZWaveJsStatus, open_zwave_js
from trio_locksync.testing.zwave_js import ZWaveJsServer

from . import zwavehelpers
from .brokerhelpers import Broker, needs_mosquitto
from .test_zigbee2mqtt import Site, site, wait_until
from .zwavehelpers import needs_node

zwave_server = zwavehelpers.zwave_server
pytestmark = needs_mosquitto

A, S, E, U = AccessState.ACTIVE, AccessState.SCHEDULED, AccessState.EXPIRED, AccessState.USED_UP
#: the slots the plan may use on either lock (the Z-Wave mock lock has 10 users)
SLOTS = range(1, 11)
#: PINs that appear in no log line by chance (no port, time or count)
COURIER, GUEST = "864297", "753186"
#: the code already on slot 1 of each lock, which nobody manages
ZIGBEE_FOREIGN, ZWAVE_FOREIGN = "9999", "1234"
#: the mock Z-Wave lock with readable codes (tests/test_zwave_js.py)
PLAIN = 2
#: the guest's window: opens this long after it is granted, and stays open this long
OPENS_IN, OPEN_FOR = 2.0, 6.0
#: how late after its instant an edge may be seen (polled every 10 ms, written over the radio)
EDGE_SLACK = 1.0


@attrs.define
class Door:
    """One lock of the plan: its engine, the simulator's ground truth, its keypad."""

    name: str
    sync: LockSync
    foreign: str
    truth: Callable[[], Awaitable[dict[int, str]]]
    unlock: Callable[[int], Awaitable[None]]


@asynccontextmanager
async def zigbee_door(broker: Broker) -> AsyncIterator[Door]:
    """The simulated Zigbee2MQTT lock (users 0-10, slot 1 holding a code of its own), our
    Zigbee2MqttLock and its engine (the real-clock options of test_zigbee2mqtt_sync.py)."""
    async with (
        site(broker.port, slots=10, expose_pin=True, codes={1: ZIGBEE_FOREIGN}) as s,
        open_lock_sync(
            s.lock,
            {},
            operation_spacing=0.005,
            pending_ttl=1.0,
            retry_interval=0.1,
            suspended_retry=None,
        ) as sync,
    ):
        yield Door("front", sync, ZIGBEE_FOREIGN, _zigbee_truth(s), _zigbee_keypad(s))


def _zigbee_truth(s: Site) -> Callable[[], Awaitable[dict[int, str]]]:
    async def truth() -> dict[int, str]:
        await trio.lowlevel.checkpoint()
        assert not s.device.disabled
        return {user: pin for user, pin in s.device.codes.items() if user in SLOTS}

    return truth


def _zigbee_keypad(s: Site) -> Callable[[int], Awaitable[None]]:
    async def unlock(slot: int) -> None:
        await trio.lowlevel.checkpoint()
        s.device.keypad_unlock(user=slot)

    return unlock


@asynccontextmanager
async def zwave_door(server: ZWaveJsServer) -> AsyncIterator[Door]:
    """The mock Z-Wave lock with readable codes (its slot 1 holds the mock's own code) behind
    the real server, our client's ZWaveJsLock and its engine."""
    async with open_zwave_js(server.url) as client:
        with trio.fail_after(30):
            await client.wait_status(ZWaveJsStatus.CONNECTED)
        lock = client.lock(PLAIN, slots=SLOTS)
        async with open_lock_sync(lock, {}, operation_spacing=0.1, suspended_retry=None) as sync:

            async def truth() -> dict[int, str]:
                codes = {}
                for slot in SLOTS:
                    status, code = await server.slot(PLAIN, slot)
                    if status:
                        codes[slot] = code
                return codes

            async def unlock(slot: int) -> None:
                await server.keypad_unlock(PLAIN, slot)

            yield Door("back", sync, ZWAVE_FOREIGN, truth, unlock)


async def settled(plan: AccessPlan, limit: float = 30.0) -> None:
    with trio.fail_after(limit):
        await plan.wait_settled()


async def drain(changes: AsyncIterator[AccessChange]) -> list[AccessChange]:
    """The changes published so far (none arrives within 0.2 s after the last)."""
    got: list[AccessChange] = []
    while True:
        with trio.move_on_after(0.2) as scope:
            got.append(await changes.__anext__())
        if scope.cancelled_caught:
            return got


def used_up(plan: AccessPlan, grant: str, lock: str) -> bool:
    return plan.status(grant)[lock] is U


def states_of(changes: list[AccessChange], grant: str, lock: str) -> list[AccessState]:
    return [c.state for c in changes if c.grant == grant and c.lock == lock]


async def scenario(tmp_path: Path, doors: list[Door], caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="trio_locksync")
    syncs = {door.name: door.sync for door in doors}
    async with open_access_plan(tmp_path / "access.json", syncs, slots=SLOTS) as plan:
        changes = plan.changes()

        # A uses=1 grant: slot 1 of each lock holds a code nobody manages, so it gets slot 2.
        await plan.grant(Grant("courier", COURIER, uses=1))
        await settled(plan)
        for door in doors:
            detail = plan.detail("courier", door.name)
            assert (detail.state, detail.slot, detail.sync, detail.uses_left) == (
                A, 2, SyncState.IN_SYNC, 1,
            )  # fmt: skip
            assert await door.truth() == {1: door.foreign, 2: COURIER}
            assert plan.unmanaged(door.name) == {1: CredentialKind.KNOWN}

        # One keypad unlock with the courier's code at each door: used up there, code removed.
        for number, door in enumerate(doors):
            await door.unlock(2)
            await wait_until(partial(used_up, plan, "courier", door.name), 20.0)
            others = [d.name for d in doors[number + 1 :]]
            assert all(plan.status("courier")[name] is A for name in others)
        await settled(plan)
        for door in doors:
            detail = plan.detail("courier", door.name)
            assert (detail.state, detail.slot, detail.uses_left) == (U, None, 0)
            assert await door.truth() == {1: door.foreign}
        assert plan.statistics().uses_counted == len(doors)

        # A window that opens 2 s from now and closes 6 s later.
        starts = utc_now() + datetime.timedelta(seconds=OPENS_IN)
        ends = starts + datetime.timedelta(seconds=OPEN_FOR)
        await plan.grant(Grant("guest", GUEST, starts=starts, ends=ends))
        assert set(plan.status("guest").values()) == {S}
        await settled(plan)
        assert utc_now() < starts, "too slow to see the window before it opened"
        for door in doors:
            assert GUEST not in (await door.truth()).values()
            assert plan.detail("guest", door.name).next_edge == starts

        await wait_until(lambda: set(plan.status("guest").values()) == {A}, OPENS_IN + 10)
        opened = utc_now()
        assert starts <= opened < starts + datetime.timedelta(seconds=EDGE_SLACK)
        await settled(plan)
        for door in doors:
            detail = plan.detail("guest", door.name)
            assert (detail.sync, detail.next_edge) == (SyncState.IN_SYNC, ends)
            assert detail.slot is not None
            assert await door.truth() == {1: door.foreign, detail.slot: GUEST}

        await wait_until(lambda: set(plan.status("guest").values()) == {E}, OPEN_FOR + 10)
        closed = utc_now()
        assert ends <= closed < ends + datetime.timedelta(seconds=EDGE_SLACK)
        await settled(plan)
        for door in doors:
            detail = plan.detail("guest", door.name)
            assert (detail.slot, detail.next_edge) == (None, None)
            assert await door.truth() == {1: door.foreign}  # the foreign code never touched

        seen = await drain(changes)
        for door in doors:
            assert states_of(seen, "courier", door.name) == [A, U]
            assert states_of(seen, "guest", door.name) == [S, A, E]
        assert plan.statistics().edges == 2
    for record in caplog.records:
        text = record.getMessage()
        assert COURIER not in text and GUEST not in text, record.name


async def test_a_plan_over_a_zigbee2mqtt_lock(
    tmp_path: Path, broker: Broker, caplog: pytest.LogCaptureFixture
) -> None:
    async with zigbee_door(broker) as front:
        await scenario(tmp_path, [front], caplog)


@needs_node
async def test_a_plan_over_a_zigbee2mqtt_and_a_zwave_js_lock(
    tmp_path: Path,
    broker: Broker,
    zwave_server: ZWaveJsServer,
    caplog: pytest.LogCaptureFixture,
) -> None:
    async with zigbee_door(broker) as front, zwave_door(zwave_server) as back:
        await scenario(tmp_path, [front, back], caplog)
