"""ZWaveJsLock and open_zwave_js against the REAL Z-Wave JS Server on zwave-js's mock
controller, started by each test through trio_locksync.testing.zwave_js (the ``zwave_server``
fixture of tests/zwavehelpers.py; skipped only where node >= 20 cannot run)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import pytest
import trio

from trio_locksync import open_lock_sync
from trio_locksync.credentials import CredentialKind, EventSource, LockAction, SyncState
from trio_locksync.providers.zwave_js import ZWaveJsStatus, open_zwave_js
from trio_locksync.testing.zwave_js import ZWaveJsServer

from . import zwavehelpers
from .zwavehelpers import needs_node

zwave_server = zwavehelpers.zwave_server
pytestmark = needs_node

PLAIN, MASKING = 2, 3


async def _settled(sync: Any, predicate: Callable[[], bool]) -> None:
    """Until ``predicate()`` holds, following the engine's changes (the caller bounds it)."""
    changes = sync.changes()
    if predicate():
        return
    async for _ in changes:
        if predicate():
            return


def _pins(base: int) -> dict[int, str | None]:
    return {k: f"{base + k:04d}{k}" for k in range(1, 11)}


async def _converge(server: Any, node: int, base: int) -> None:
    desired = _pins(base)
    async with open_zwave_js(server.url) as client:
        await client.wait_status(ZWaveJsStatus.CONNECTED)
        lock = client.lock(node, slots=desired)
        async with open_lock_sync(lock, desired, operation_spacing=0.1) as sync:
            with trio.fail_after(90):
                await _settled(
                    sync, lambda: all(sync.state(s) is SyncState.IN_SYNC for s in desired)
                )
        # Each IN_SYNC slot against a fresh read (one User Code Get per slot) and, with the
        # launcher, the mock lock's own state.
        fresh = await lock.read_slots(list(desired))
        for slot, pin in desired.items():
            reading = fresh[slot]
            if node == MASKING:
                assert reading.kind is CredentialKind.UNREADABLE
            else:
                assert reading.kind is CredentialKind.KNOWN
                assert reading.pin is not None and reading.pin.reveal() == pin
            if hasattr(server, "slot"):
                assert await server.slot(node, slot) == (1, pin)
        # ops per slot: a getUsersCount, a full read, one set and a read-back or a push per
        # slot, a masked slot a clear first; never a walk
        assert lock.commands <= 1 + 10 * 5 + len(desired), lock.commands


async def test_ten_slots_converge_on_the_plain_lock(zwave_server: ZWaveJsServer) -> None:
    await _converge(zwave_server, PLAIN, 1000)


async def test_ten_slots_converge_on_the_masking_lock(zwave_server: ZWaveJsServer) -> None:
    await _converge(zwave_server, MASKING, 3000)


async def test_duplicate_on_the_masking_lock_is_refused_visibly_without_a_loop(
    zwave_server: ZWaveJsServer,
) -> None:
    server = zwave_server
    async with open_zwave_js(server.url) as client:
        await client.wait_status(ZWaveJsStatus.CONNECTED)
        desired: dict[int, str | None] = {5: "55501", 6: "55501", 7: "77702"}
        lock = client.lock(MASKING, slots=desired)
        async with open_lock_sync(lock, desired, operation_spacing=0.1) as sync:
            with trio.fail_after(90):
                await _settled(
                    sync,
                    lambda: (
                        sum(sync.state(s) is SyncState.IN_SYNC for s in desired) == 2
                        and any(sync.state(s) is SyncState.SUSPENDED for s in (5, 6))
                    ),
                )
            refused = next(s for s in (5, 6) if sync.state(s) is SyncState.SUSPENDED)
            assert "duplicate" in sync.reason(refused)
            assert sync.state(7) is SyncState.IN_SYNC
            before = lock.commands
            with trio.move_on_after(5):  # the real server's time: nothing more happens
                await _settled(sync, lambda: False)
            assert lock.commands - before <= 2  # no loop: at most a drift hint's read


async def test_slot_beyond_the_users_count_is_refused_at_once(zwave_server: ZWaveJsServer) -> None:
    server = zwave_server
    async with open_zwave_js(server.url) as client:
        await client.wait_status(ZWaveJsStatus.CONNECTED)
        desired: dict[int, str | None] = {2: "24680", 11: "13579"}
        lock = client.lock(PLAIN, slots=desired)
        async with open_lock_sync(lock, desired, operation_spacing=0.1) as sync:
            with trio.fail_after(60):
                await _settled(
                    sync,
                    lambda: (
                        sync.state(2) is SyncState.IN_SYNC and sync.state(11) is SyncState.SUSPENDED
                    ),
                )
            assert "beyond" in sync.reason(11)
        assert lock.users_count == 10


async def test_code_programmed_at_the_keypad_is_seen_and_put_back(
    zwave_server: ZWaveJsServer,
) -> None:
    server = zwave_server
    async with open_zwave_js(server.url) as client:
        await client.wait_status(ZWaveJsStatus.CONNECTED)
        desired: dict[int, str | None] = {4: "40404"}
        lock = client.lock(PLAIN, slots=desired)
        async with open_lock_sync(
            lock, desired, operation_spacing=0.1, drift_interval=3600
        ) as sync:
            with trio.fail_after(60):
                await _settled(sync, lambda: sync.state(4) is SyncState.IN_SYNC)
            changes = sync.changes()
            await server.program_code(PLAIN, 4, "99990")
            with trio.fail_after(30):
                async for change in changes:
                    if change.slot == 4 and change.state is SyncState.OUT_OF_SYNC:
                        break
            with trio.fail_after(60):
                await _settled(sync, lambda: sync.state(4) is SyncState.IN_SYNC)
        reading = (await lock.read_slots([4]))[4]
        assert reading.pin is not None and reading.pin.reveal() == "40404"


async def test_keypad_unlock_makes_a_lock_event_with_the_slot(zwave_server: ZWaveJsServer) -> None:
    server = zwave_server
    async with open_zwave_js(server.url) as client:
        await client.wait_status(ZWaveJsStatus.CONNECTED)
        lock = client.lock(PLAIN, slots=range(1, 11))
        events = lock.events()
        await server.keypad_unlock(PLAIN, 3)
        with trio.fail_after(20):
            event = await events.__anext__()
        assert (event.action, event.source, event.slot) == (
            LockAction.UNLOCK,
            EventSource.KEYPAD,
            3,
        )


async def test_no_pin_in_any_log_record(
    caplog: pytest.LogCaptureFixture, zwave_server: ZWaveJsServer
) -> None:
    caplog.set_level(logging.DEBUG)
    desired = {1: "31415", 2: "27182"}
    server = zwave_server
    async with open_zwave_js(server.url) as client:
        await client.wait_status(ZWaveJsStatus.CONNECTED)
        lock = client.lock(PLAIN, slots=desired)
        async with open_lock_sync(lock, desired, operation_spacing=0.1) as sync:
            with trio.fail_after(60):
                await _settled(
                    sync, lambda: all(sync.state(s) is SyncState.IN_SYNC for s in desired)
                )
    text = "\n".join(f"{r.getMessage()} {r.args!r}" for r in caplog.records)
    assert caplog.records
    for pin in desired.values():
        assert pin not in text
