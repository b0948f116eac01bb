"""ZWaveJsLock under faults and at the door, against the REAL Z-Wave JS Server on zwave-js's
mock controller (the ``zwave_server`` fixture of tests/zwavehelpers.py, one server per test):
a dead node, the server killed and restarted, a keypad unlock arming an autolock timer, a
sleeping battery lock, a code the lock deletes after reporting success, and anyio."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import anyio
import pytest
import trio

from trio_locksync import open_autolock, open_lock_sync
from trio_locksync.core import Backoff, Jitter
from trio_locksync.credentials import (
    CredentialKind,
    EventSource,
    LockAction,
    LockDisconnected,
    LockEvent,
    SlotCredential,
    SlotUpdate,
    SyncState,
)
from trio_locksync.providers.zwave_js import NodeStatus, ZWaveJsStatus, open_zwave_js
from trio_locksync.testing.zwave_js import MockNode, ZWaveJsServer, open_zwave_js_server

from . import zwavehelpers
from .zwavehelpers import needs_node

zwave_server = zwavehelpers.zwave_server
pytestmark = needs_node

PLAIN, MASKING, BATTERY = MockNode.PLAIN, MockNode.MASKING, MockNode.BATTERY
#: retry quickly: the real server runs on the real clock
FAST = Backoff(initial=0.5, maximum=1.0, jitter=Jitter.NONE)
S = ZWaveJsStatus


async def _settled(sync: object, predicate: Callable[[], bool]) -> None:
    """Until ``predicate()`` holds, following the engine's changes (the caller bounds it)."""
    changes = sync.changes()  # type: ignore[attr-defined]
    if predicate():
        return
    async for _ in changes:
        if predicate():
            return


def _all(sync: object, state: SyncState, slots: object) -> Callable[[], bool]:
    return lambda: all(sync.state(s) is state for s in slots)  # type: ignore[attr-defined]


async def test_dead_node_suspends_the_lock_and_alive_resumes_without_losing_a_change(
    zwave_server: ZWaveJsServer,
) -> None:
    server = zwave_server
    desired: dict[int, str | None] = {1: "11111", 2: "22222"}
    async with open_zwave_js(server.url) as client:
        lock = client.lock(PLAIN, slots=desired, operation_timeout=20)
        async with open_lock_sync(
            lock, desired, operation_spacing=0.1, retry_interval=0.5, unreachable_retry=FAST
        ) as sync:
            with trio.fail_after(60):
                await _settled(sync, _all(sync, SyncState.IN_SYNC, desired))
            await server.set_dead(PLAIN, True)
            sync.set_desired(2, pin="23232")  # wanted while the lock is gone
            with trio.fail_after(90):
                await _settled(sync, _all(sync, SyncState.SUSPENDED, desired))
            assert sync.statistics().lock_reachable is False
            assert "unreachable" in sync.reason(2)
            assert await server.slot(PLAIN, 2) == (1, "22222")  # the change did not land
            assert lock.statistics().disconnects >= 3
            await server.set_dead(PLAIN, False)  # back on the air: the driver marks it alive
            with trio.fail_after(90):
                await _settled(sync, _all(sync, SyncState.IN_SYNC, desired))
            assert sync.statistics().lock_reachable is True
        assert await server.slot(PLAIN, 1) == (1, "11111")
        assert await server.slot(PLAIN, 2) == (1, "23232")  # no desired change lost


async def test_server_killed_and_restarted_resyncs_and_the_dump_is_no_event(
    zwave_server: ZWaveJsServer,
) -> None:
    server = zwave_server
    desired: dict[int, str | None] = {1: "11111", 2: "22222"}
    async with open_zwave_js(server.url, backoff=FAST) as client:
        lock = client.lock(PLAIN, slots=desired, operation_timeout=20)
        async with open_lock_sync(
            lock, desired, operation_spacing=0.1, retry_interval=0.5, unreachable_retry=FAST
        ) as sync:
            with trio.fail_after(60):
                await _settled(sync, _all(sync, SyncState.IN_SYNC, desired))
            await server.keypad_unlock(PLAIN, 1)  # alarm values now in the next dump
            events, updates = lock.events(), lock.updates()
            with trio.fail_after(20):
                first = await events.__anext__()
            assert (first.action, first.slot) == (LockAction.UNLOCK, 1)
            statuses = client.status_changes()
            await server.kill_server()
            await server.start_server()  # a fresh storage cache: the nodes are interviewed again
            seen: list[ZWaveJsStatus] = []
            with trio.fail_after(60):
                async for change in statuses:
                    seen.append(change.status)
                    if change.status is S.CONNECTED:
                        break
            assert seen[0] is S.RECONNECTING
            assert seen[-2:] == [S.SYNCING, S.CONNECTED]
            assert set(seen[:-2]) <= {S.RECONNECTING, S.CONNECTING}
            stats = client.statistics()
            assert (stats.connections, stats.dumps, stats.status) == (2, 2, S.CONNECTED)
            assert client.node(PLAIN) is not None
            with trio.fail_after(60):
                await server.wait_nodes_ready()
            # the first live news after the dump, at the door: nothing came before them
            await server.keypad_unlock(PLAIN, 7)
            with trio.fail_after(20):
                event = await events.__anext__()
            assert (event.action, event.source, event.slot) == (
                LockAction.UNLOCK,
                EventSource.KEYPAD,
                7,
            )
            changes = sync.changes()
            sync.set_desired(2, pin="24242")  # sync resumes on the new connection
            with trio.fail_after(90):
                async for change in changes:
                    if change.slot == 2 and change.state is SyncState.IN_SYNC:
                        break
            assert sync.state(1) is SyncState.IN_SYNC
    # the block ended the lock's feeds. Every slot update since the kill was a read of the
    # lock (a probe, the new interview's reads, a read-back), never the dump's replay: each
    # one says what the slot held at that moment
    pushed: list[SlotUpdate] = []
    with trio.fail_after(5):
        async for update in updates:
            pushed.append(update)
    for update in pushed:
        assert update.slot in desired
        assert update.credential.kind is CredentialKind.KNOWN
        assert update.credential.pin is not None
        assert update.credential.pin.reveal() in ("11111", "22222", "24242")
    assert await server.slot(PLAIN, 2) == (1, "24242")


async def test_keypad_unlock_arms_an_autolock_timer_that_locks_the_door(
    zwave_server: ZWaveJsServer, tmp_path: Path
) -> None:
    server = zwave_server
    locked = trio.Event()
    async with open_zwave_js(server.url) as client:
        lock = client.lock(PLAIN, slots=range(1, 11))

        async def action(timer_id: str) -> None:
            assert timer_id == f"door-{PLAIN}"
            await lock.lock()
            locked.set()

        async with open_autolock(tmp_path / "timers.json", action=action) as autolock:
            await autolock.recover()
            events = lock.events()
            assert await server.door(PLAIN) == "locked"
            await server.keypad_unlock(PLAIN, 3)
            assert await server.door(PLAIN) == "unlocked"
            with trio.fail_after(20):
                event: LockEvent = await events.__anext__()
            assert (event.action, event.source, event.slot) == (
                LockAction.UNLOCK,
                EventSource.KEYPAD,
                3,
            )
            await autolock.timer(f"door-{PLAIN}").start(0.5)
            with trio.fail_after(30):
                await locked.wait()
        assert await server.door(PLAIN) == "locked"
        assert lock.statistics().door == 1


async def test_sleeping_battery_lock_waits_for_its_wake_up_and_times_out_as_asleep(
    zwave_server: ZWaveJsServer,
) -> None:
    server = zwave_server  # the battery lock is asleep, not yet interviewed
    async with open_zwave_js(server.url) as client:
        await client.wait_status(S.CONNECTED)
        node = client.node(BATTERY)
        assert node is not None and node.listening is False
        assert node.status is NodeStatus.ASLEEP
        short = client.lock(BATTERY, slots=[1], operation_timeout=1.5)
        with trio.fail_after(10), pytest.raises(LockDisconnected) as caught:
            await short.read_slots([1])
        assert "asleep" in caught.value.reason and "unreachable" not in caught.value.reason
        # the whole message (what the engine's slot reason opens with) says asleep too
        assert str(caught.value).startswith("lock asleep: node 4 is asleep")
        assert "unreachable" not in str(caught.value)
        assert short.statistics().asleep == 1
        assert short.commands == 0  # nothing sent to a sleeping node

        # a wait for the wake up (and the interview it starts: the node is not yet ready)
        lock = client.lock(BATTERY, slots=[1], operation_timeout=60)
        read: dict[int, SlotCredential] = {}
        done = trio.Event()

        async def reader() -> None:
            read.update(await lock.read_slots([1]))
            done.set()

        async with trio.open_nursery() as nursery:
            nursery.start_soon(reader)
            with trio.fail_after(60):
                while not done.is_set():  # a real lock wakes up again and again
                    await server.wake_up(BATTERY)
                    with trio.move_on_after(5):
                        await done.wait()
        assert read[1].kind is CredentialKind.KNOWN
        assert read[1].pin is not None and read[1].pin.reveal() == "1234"
        assert lock.statistics().asleep == 0


async def test_code_deleted_after_a_reported_success_is_noticed_and_rewritten(
    zwave_server: ZWaveJsServer,
) -> None:
    server = zwave_server
    desired: dict[int, str | None] = {5: "55555"}
    await server.delete_code_later(MASKING, 5, 3)  # zwave-js #9188, ~50 s there; 3 s here
    async with open_zwave_js(server.url) as client:
        lock = client.lock(MASKING, slots=desired)
        async with open_lock_sync(
            lock, desired, operation_spacing=0.1, drift_interval=3600
        ) as sync:
            changes = sync.changes()
            states: list[SyncState] = []
            with trio.fail_after(90):
                async for change in changes:
                    if change.slot != 5:
                        continue
                    states.append(change.state)
                    if states.count(SyncState.IN_SYNC) == 2:
                        break
            first = states.index(SyncState.IN_SYNC)
            assert SyncState.OUT_OF_SYNC in states[first:]
        assert await server.slot(MASKING, 5) == (1, "55555")
        assert lock.statistics().sets == 2


def test_client_and_lock_sync_under_anyio() -> None:
    async def main() -> None:
        async with open_zwave_js_server() as server:
            with anyio.fail_after(90):
                await server.wait_nodes_ready()
            desired: dict[int, str | None] = {3: "33333"}
            async with open_zwave_js(server.url) as client:
                lock = client.lock(PLAIN, slots=desired)
                async with open_lock_sync(lock, desired, operation_spacing=0.1) as sync:
                    with anyio.fail_after(60):
                        async with anyio.create_task_group() as tg:
                            tg.start_soon(sync.wait_settled)
                    assert sync.state(3) is SyncState.IN_SYNC
                assert client.status is S.CONNECTED
            assert await server.slot(PLAIN, 3) == (1, "33333")

    anyio.run(main, backend="trio")
