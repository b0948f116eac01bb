"""Zigbee2MqttLock against Zigbee2MQTT 2.x as it really behaves (issue 19): users numbered from
0 and learned from the model, refusals of users the lock cannot have, de-duplicated log lines,
battery reports that republish the cache, passive availability. Real mosquitto, the 2.x
simulator (its shapes are pinned in ``test_zigbee2mqtt_simulator_shapes.py``)."""

from __future__ import annotations

import json
import logging
import time

import pytest
import trio

from trio_locksync import (
    CodeRejected,
    LockDisconnected,
    LockOperationFailed,
    Pin,
    SlotCredential,
    SlotUpdate,
    SyncState,
    WriteResult,
)
from trio_locksync.credentials import open_lock_sync
from trio_locksync.providers.zigbee2mqtt import Zigbee2MqttLock
from trio_locksync.testing.zigbee2mqtt import open_zigbee2mqtt_simulator

from .brokerhelpers import FAST, Broker, connected, needs_mosquitto
from .test_zigbee2mqtt import NAME, elapsed, site, wait_until
from .test_zigbee2mqtt_sync import ENGINE, pin_of, settled

pytestmark = needs_mosquitto

SHINA = ("ShinaSystem", "DLM-300Z")  # 4 users, 0..3 (zhc src/devices/shinasystem.ts:871)


# -- the users a lock has ----------------------------------------------------------------------


async def test_slots_none_reads_the_users_the_model_has(broker: Broker) -> None:
    """``bridge/devices`` names the model; its ``pinCodeCount`` (4) gives users 0..3. Users
    beyond are refused without a single message to the lock."""
    async with site(
        broker.port, model=SHINA, expose_pin=True, codes={0: "1234"}, lock_options={"slots": None}
    ) as s:
        await wait_until(lambda: s.lock.statistics().messages >= 1)
        reading = await s.lock.read_slots(None)
        assert reading == {
            0: SlotCredential.known("1234"),
            1: SlotCredential.empty(),
            2: SlotCredential.empty(),
            3: SlotCredential.empty(),
        }
        with pytest.raises(CodeRejected, match=r"beyond the lock's range.*users 0\.\.3"):
            await s.lock.set_code(4, Pin("5678"))
        assert await s.lock.clear_code(30) is WriteResult.NO_CHANGE
        with pytest.raises(LockOperationFailed, match="beyond the lock's range"):
            await s.lock.read_slots([4])
    assert s.device.statistics().gets == 4 and s.device.statistics().sets == 0
    assert s.device.statistics().errors == 0  # nothing was refused: nothing beyond was asked


async def test_a_model_we_do_not_know_asks_for_slots(
    broker: Broker, caplog: pytest.LogCaptureFixture
) -> None:
    """A lock Zigbee2MQTT has no definition for (a generated one: its user count is not in
    ``bridge/devices``) — a full read says what to pass, once at WARNING."""
    async with site(broker.port, slots=7, lock_options={"slots": None}) as s:
        for _ in range(2):
            with pytest.raises(LockOperationFailed, match=r"pass slots=range\(0, N\)"):
                await s.lock.read_slots(None)
        assert await s.lock.read_slots([2]) == {2: SlotCredential.empty()}  # named: fine
    warnings = [
        r for r in caplog.records if r.levelno == logging.WARNING and "slots=" in r.getMessage()
    ]
    assert len(warnings) == 1 and "do not know how many users" in warnings[0].getMessage()


async def test_slots_are_zigbee_user_ids_from_0(broker: Broker) -> None:
    async with connected(broker.port) as bridge:
        with pytest.raises(ValueError, match="from 0"):
            Zigbee2MqttLock(bridge, NAME, slots=[65535])
        with pytest.raises(ValueError, match="from 0"):
            Zigbee2MqttLock(bridge, NAME, slots=[-1])
        Zigbee2MqttLock(bridge, NAME, slots=[0])  # user 0 is a user


async def test_an_engine_on_a_known_model_suspends_users_it_lacks_without_asking(
    broker: Broker,
) -> None:
    """Users 1-6 managed on a ShinaSystem lock (users 0-3): 4, 5 and 6 are SUSPENDED with a
    reason that says so; not one message about them reaches Zigbee2MQTT."""
    desired: dict[int, str | None] = {n: pin_of(n) for n in range(1, 7)}
    async with (
        site(broker.port, model=SHINA, expose_pin=True, lock_options={"slots": range(1, 7)}) as s,
        open_lock_sync(s.lock, desired, **ENGINE) as engine,
    ):
        await settled(engine)
        for slot in (1, 2, 3):
            assert engine.state(slot) is SyncState.IN_SYNC and s.device.codes[slot] == pin_of(slot)
        for slot in (4, 5, 6):
            assert engine.state(slot) is SyncState.SUSPENDED
            assert "users 0..3" in engine.reason(slot)
        assert engine.statistics().disconnects == 0
    assert s.device.statistics().errors == 0 and set(s.device.set_counts) == {1, 2, 3}


# -- log lines that come once ------------------------------------------------------------------


async def test_a_repeated_failure_is_not_waited_for(broker: Broker) -> None:
    """Zigbee2MQTT publishes an identical log line once in a row: the second read of the same
    unreachable user gets no error line, and ends at its read timeout instead — bounded, and
    LockDisconnected either way."""
    async with site(
        broker.port, slots=3, zcl_timeout=0.05, lock_options={"read_timeout": 2.0}
    ) as s:
        s.device.go_offline()  # a battery lock: no availability flag for 25 h
        first, error = await elapsed(lambda: s.lock.read_slots([3]), LockDisconnected)
        assert first < 1.5 and "no answer" not in str(error)  # ended by the error line
        second, error = await elapsed(lambda: s.lock.read_slots([3]), LockDisconnected)
        assert 2.0 <= second < 10 and "no answer" in str(error)  # no line: the timeout
    assert s.device.statistics().errors == 2  # two failures, one line on bridge/logging


# -- the cache republished by unrelated messages -----------------------------------------------


async def test_a_battery_report_during_a_read_restates_the_cache(broker: Broker) -> None:
    """What a read can and cannot prove (README): user 3 changed on the lock without an event;
    a battery report arrives between our ``get`` and the lock's answer and restates the old
    entry — the read cannot tell it from the answer, and returns what the record held. The
    lock's real answer follows, differs, and is pushed as news."""
    async with site(
        broker.port, slots=4, expose_pin=True, codes={3: "1111"}, cached_users=True
    ) as s:
        await wait_until(lambda: s.lock.statistics().messages >= 1)
        updates = s.lock.updates()
        s.device.virtual.codes[3] = "2222"  # changed behind Zigbee2MQTT's back
        s.device.latency = (0.4, 0.4)

        async def report() -> None:
            await trio.sleep(0.1)
            s.device.frame({"battery": 77})

        async with trio.open_nursery() as nursery:
            nursery.start_soon(report)
            assert await s.lock.read_slots([3]) == {3: SlotCredential.known("1111")}
        with trio.fail_after(5):
            async for update in updates:
                assert update == SlotUpdate(3, SlotCredential.known("2222"))
                break


async def test_a_late_answer_after_the_fallback_lengthens_the_next_reads_grace(
    broker: Broker,
) -> None:
    """Issue 24 (review): a read-back that ends on its fallback is taken as the lock's answer —
    with ``reads_follow_writes`` an old entry there makes the engine charge and rewrite the slot
    — so a lock slower than the grace (twice its recent answer time) must not stay misread: its
    late answer teaches the reader, and the next read-back waits for the lock's real answer."""
    async with site(
        broker.port,
        slots=4,
        expose_pin=True,
        codes={3: "1111"},
        cached_users=True,
        zcl_timeout=10.0,
        lock_options={"read_timeout": 5.0},
    ) as s:
        await wait_until(lambda: s.lock.statistics().messages >= 1)
        s.device.latency = (0.05, 0.05)
        assert await s.lock.read_slots([3]) == {3: SlotCredential.known("1111")}  # learns 0.05 s
        updates = s.lock.updates()
        # Now the set and the get take 0.8 s each: the answer comes 1.6 s after the get, past
        # the grace (1 s, its floor); learned, the grace becomes 3.2 s.
        s.device.latency = (0.8, 0.8)

        async def report() -> None:
            await trio.sleep(0.1)
            s.device.frame({"battery": 77})  # restates the old entry: the read's fallback

        for before, pin in (("1111", "2222"), ("2222", "3333")):
            await s.lock.set_code(3, Pin(pin))
            async with trio.open_nursery() as nursery:
                nursery.start_soon(report)
                got = await s.lock.read_slots([3])
            if pin == "2222":
                assert got == {3: SlotCredential.known(before)}  # the fallback, at 1 s
                with trio.fail_after(5):
                    async for update in updates:  # the late answer, pushed as news
                        assert update == SlotUpdate(3, SlotCredential.known(pin))
                        break
            else:
                assert got == {3: SlotCredential.known(pin)}  # waited for the real answer


async def test_background_reports_do_not_confirm_a_lost_write(broker: Broker) -> None:
    """Battery reports every 20 ms restate the slot's old entry while our write is read back;
    the write never landed — the engine must find it lost, never IN_SYNC on a restatement."""
    desired: dict[int, str | None] = {1: pin_of(1), 2: pin_of(2)}
    async with (
        site(
            broker.port,
            slots=3,
            expose_pin=True,
            cached_users=True,
            never_lands={2},
            reports=0.02,
        ) as s,
        open_lock_sync(s.lock, desired, **ENGINE) as engine,
    ):
        await settled(engine)
        assert engine.state(1) is SyncState.IN_SYNC and s.device.codes[1] == pin_of(1)
        assert engine.state(2) is SyncState.SUSPENDED and 2 not in s.device.codes
    assert s.lock.statistics().restated > 20  # the reports really restated the cache


# -- hostile dates -----------------------------------------------------------------------------


async def test_a_last_seen_in_the_future_does_not_make_the_lock_deaf(broker: Broker) -> None:
    """A finite ``last_seen`` of the year 9999 would make every later answer look stale; a
    date more than a day ahead of our clock is bad input and ignored."""
    async with site(broker.port, slots=3, expose_pin=True, last_seen=True) as s:
        future = json.dumps({"last_seen": "9999-01-01T00:00:00Z", "battery": 5}).encode()
        epoch_ms = json.dumps({"last_seen": (time.time() + 10 * 86400) * 1000}).encode()
        for payload in (future, epoch_ms):
            await s.bridge.publish(f"zigbee2mqtt/{NAME}", payload, qos=1)
        await wait_until(lambda: s.lock.statistics().messages >= 3)
        with trio.fail_after(5):
            assert await s.lock.read_slots([1]) == {1: SlotCredential.empty()}
        assert s.lock.statistics().stale == 0


async def test_the_simulator_starts_on_2x_with_availability_off(broker: Broker) -> None:
    async with open_zigbee2mqtt_simulator("127.0.0.1", broker.port, backoff=FAST) as z2m:
        assert z2m.version.value == "2" and z2m.availability is False


async def test_a_cache_republish_during_a_silent_read_is_not_the_lock_speaking(
    broker: Broker,
) -> None:
    """Zigbee2MQTT republishes its cache at start-up (``cache_state_send_on_startup``): that
    restatement, arriving while a read of a silent lock waits, must not count as the lock
    talking — else three silent users would not add up to LockDisconnected, and a dead lock
    would read as a lock of unanswered slots (seen in 3 of 5 runs before the fix)."""
    async with site(
        broker.port, slots=30, zcl_timeout=30.0, lock_options={"read_timeout": 0.3}
    ) as s:
        s.device.virtual.online = False

        async def republish() -> None:
            for _ in range(3):
                await trio.sleep(0.1)
                s.device.republish()

        async with trio.open_nursery() as nursery:
            nursery.start_soon(republish)
            _, error = await elapsed(lambda: s.lock.read_slots(None), LockDisconnected)
        assert "no answer" in str(error)
        assert s.lock.statistics().reads == 3


def test_user_range_rules() -> None:
    """Sans-I/O: a model gives the exact range; a refusal of user k rules out every id >= k,
    also below the model's count (the lock is right), and keeps a full read possible."""
    from trio_locksync.providers.zigbee2mqtt._users import RangeSource, UserRange

    users = UserRange()
    assert users.known is None and not users.beyond(65534)
    assert users.from_model("Kwikset", "99140-002", 30)
    assert users.known == range(30) and users.beyond(30) and not users.beyond(29)
    assert not users.refused(31)  # already ruled out: nothing learnt
    assert users.refused(20)
    assert users.known == range(20) and users.source is RangeSource.REFUSAL
    assert not users.from_model("Kwikset", "99140-002", 30)  # the refusal stays the bound
    assert users.known == range(20) and "refused user 20" in users.describe()
    alone = UserRange()
    assert alone.refused(5) and alone.known == range(5) and alone.beyond(6)
