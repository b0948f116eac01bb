"""A whole simulated site on embedded defaults: ``python -m trio_locksync demo``.

A handful of simulated locks (``VirtualLock``: some mask their codes, some answer ambiguously,
one loses writes). A credential engine per lock keeps 5 PIN slots as desired and verifies every
write. Keypad use is persisted through the durable store (debounced); every unlock arms the door's
autolock timer, a manual lock cancels it, and a fired timer locks the door. Midway the site
"restarts" with timers still running: the store and the timers are closed as a crash would leave
them, some expire while the site is down, and the restarted site recovers them (expired ones fire
at once) and checks that every door ends locked and no state was lost. A simulated ISY controller
(a real websocket server on 127.0.0.1) reports every door change; the site follows it through an
event stream, whose connection is cut once midway: both connects replay every door's status,
held in SYNCING and flagged ``replayed``, so only live unlocks trigger the site's "door opened"
automation. The MQTT bridge joins this demo when it exists. Timings are shortened so the demo
takes seconds.
"""

from __future__ import annotations

import contextlib
import math
import random
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import attrs
import trio

from ..autolock import AutolockService, TimerState, open_autolock
from ..core import Backoff, Watched
from ..credentials import LockSync, VirtualLock, open_lock_sync
from ..eventstream import EventStream, EventStreamStatus, IsyEvent, open_isy_event_stream
from ..store import Store, open_store
from ._controller import DemoController
from ._report import DemoReport, StreamReport
from ._site import Site

__all__ = ["run_demo"]


async def _run_site(
    site: Site,
    store: Store,
    autolock: AutolockService,
    rng: random.Random,
    *,
    seconds: float,
    rate: float,
    blip: Callable[[], Awaitable[None]],
    set_locked: Callable[[str, bool], None],
) -> int:
    events = 0
    deadline = trio.current_time() + seconds
    blip_at = trio.current_time() + seconds / 2
    while trio.current_time() < deadline:
        if blip_at <= trio.current_time():
            blip_at = math.inf
            await blip()
        door_id = rng.choice(sorted(site.doors))
        door = site.doors[door_id]
        roll = rng.random()
        if roll < 0.03:  # someone unlocks at the keypad: autolock in 0.3-1.0 s
            slot = door.slots[rng.randint(1, len(door.slots))]
            slot.name = slot.name or f"user-{rng.randint(1, 999)}"
            slot.uses += 1
            set_locked(door_id, False)
            await autolock.timer(door_id).start(rng.uniform(0.3, 1.0))
        elif roll < 0.04 and not door.locked:  # locked by hand: no autolock needed
            set_locked(door_id, True)
            await autolock.timer(door_id).cancel()
        else:  # a status report: nothing changes but the timestamp
            door.last_seen = round(trio.current_time(), 3)
        store.delay_save(site.snapshot, 0.25)
        events += 1
        await trio.sleep(1.0 / rate)
    return events


async def _wait_idle(autolock: AutolockService) -> None:
    for timer in autolock.timers.values():
        changes = timer.changes()
        if timer.is_running:
            async for state in changes:
                if state not in (TimerState.ACTIVE, TimerState.FIRING):
                    break


async def run_demo(
    directory: Path, *, locks: int, slots: int, seconds: float, rate: float
) -> DemoReport:
    """Run the site, restart it with timers running, and verify; the report says what held."""
    report = DemoReport(locks=locks, slots=slots, seconds=seconds)
    state_path = directory / "site" / "locks.json"
    timers_path = directory / "site" / "autolock.json"
    rng = random.Random(2026)
    site = Site.new(locks, slots)
    started = time.monotonic()
    controller = DemoController(site.locked())
    follower = Follower()

    def set_locked(door_id: str, locked: bool) -> None:
        site.doors[door_id].locked = locked
        controller.publish(door_id, locked)

    async def autolock_action(door_id: str) -> None:
        """The autolock action: resolved by id when the timer fires."""
        set_locked(door_id, True)
        site.autolocked += 1

    async with (
        trio.open_nursery() as nursery,
        open_store(state_path, max_delay=1.0) as store,
        open_autolock(timers_path, action=autolock_action) as autolock,
        contextlib.AsyncExitStack() as stack,
    ):
        await nursery.start(controller.serve)
        stream = await stack.enter_async_context(
            open_isy_event_stream(
                f"http://127.0.0.1:{controller.port}",
                quiet=0.1,
                cap=2.0,
                backoff=Backoff(initial=0.05, maximum=1.0),
            )
        )
        nursery.start_soon(follower.follow, stream)
        await autolock.recover()
        engines = [await stack.enter_async_context(_credentials(n, rng)) for n in range(locks)]
        report.events = await _run_site(
            site,
            store,
            autolock,
            rng,
            seconds=seconds,
            rate=rate,
            blip=controller.drop_all,
            set_locked=set_locked,
        )
        report.timers_running_at_stop = autolock.statistics().armed
        report.state_writes = store.statistics().writes + 1
        with trio.move_on_after(5):
            for engine in engines:
                await engine.wait_settled()
        _credentials_report(engines, report)
        truth = site.locked()
        with trio.move_on_after(5):
            await stream.wait_status(EventStreamStatus.CONNECTED)
            applied = follower.applied.values()
            while follower.doors != truth:
                await anext(applied)
        report.stream = follower.report(stream, truth)
        nursery.cancel_scope.cancel()
    report.autolocks = site.autolocked
    report.doors_unlocked_at_stop = sum(not locked for locked in site.locked().values())

    await trio.sleep(0.5)  # the site is down; some timers expire meanwhile

    restarted = Site()

    async def autolock_after_restart(door_id: str) -> None:
        restarted.doors[door_id].locked = True
        restarted.autolocked += 1

    async with (
        open_store(state_path) as store,
        open_autolock(timers_path, action=autolock_after_restart) as autolock,
    ):
        restarted = Site.restore(await store.load())
        report.restart.state_intact = restarted.snapshot() == site.snapshot()
        recovery = await autolock.recover()
        with trio.move_on_after(5):
            await _wait_idle(autolock)
        store.delay_save(restarted.snapshot, 0)
    report.restart.expired = recovery.expired
    report.restart.resumed = recovery.resumed
    report.restart.autolocked = restarted.autolocked
    report.restart.all_locked = all(restarted.locked().values())
    report.elapsed = time.monotonic() - started
    return report


@attrs.define
class Follower:
    """The site's view of its doors, built only from the controller's event stream."""

    doors: dict[str, bool] = attrs.field(factory=dict)
    replayed: int = 0
    live: int = 0
    #: the "door opened" automation: fires on live unlocks only
    automations: int = 0
    #: unlocks seen in a replay: with CONNECTED at socket-open, each would have fired too
    spurious_avoided: int = 0
    #: how many door frames have been applied (watched while waiting for the follower)
    applied: Watched[int] = attrs.field(factory=lambda: Watched(0))

    async def follow(self, stream: EventStream[IsyEvent]) -> None:
        async for event in stream.events():
            data = event.data
            if data.is_heartbeat or data.node is None or data.value is None:
                continue
            locked = data.value == 100
            self.doors[data.node] = locked
            if event.replayed:
                self.replayed += 1
                self.spurious_avoided += not locked
            else:
                self.live += 1
                self.automations += not locked
            self.applied.set(self.applied.value + 1)

    def report(self, stream: EventStream[IsyEvent], truth: dict[str, bool]) -> StreamReport:
        """What the stream and this follower saw, against the site's truth."""
        stats = stream.statistics()
        return StreamReport(
            connections=stats.connections,
            synced=stats.synced,
            replayed=self.replayed,
            live=self.live,
            automations=self.automations,
            spurious_avoided=self.spurious_avoided,
            bad_frames=stats.bad_frames,
            dropped=stats.dropped,
            in_step=self.doors == truth,
        )


def _credentials(n: int, rng: random.Random) -> contextlib.AbstractAsyncContextManager[LockSync]:
    """Lock n: 5 managed slots on a simulated lock with its own quirks."""
    lock = VirtualLock(
        slots=30,
        masked=n % 2 == 1,  # codes read back masked: in sync via the remembered last write
        optimistic=0.5 if n % 3 == 0 else 0.0,  # ambiguous answers: confirmed by a read-back
        write_lands=0.4 if n == 4 else 1.0,  # lock 5 loses writes: retried, maybe suspended
        latency=0.01,
        seed=n,
    )
    pins = {slot: f"{rng.randint(0, 999999):06d}" for slot in range(1, 6)}
    return open_lock_sync(lock, pins, operation_spacing=0.02, pending_ttl=0.5, retry_interval=0.1)


def _credentials_report(engines: list[LockSync], report: DemoReport) -> None:
    for engine in engines:
        for slot in engine.slots:
            state = engine.state(slot)
            report.credential_states[state] = report.credential_states.get(state, 0) + 1
        stats = engine.statistics()
        report.optimistic += stats.optimistic
        report.confirmed_by_read += stats.confirmed_by_read
