"""The demo site's software — what a user of the library writes: one MQTT bridge, a
``Zigbee2MqttLock`` per Zigbee lock, a credential engine per lock (desired PINs from the
config, what was last written remembered on disk), the ISY event stream, the autolock timers,
and a store for the site's own records. Each piece reports to the :class:`Board`."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any, final

import attrs
import trio

from ..autolock import AutolockService, AutolockTargetGone, RecoveryReport, open_autolock
from ..core import Backoff, Jitter
from ..credentials import LockProvider, LockSync, open_lock_sync
from ..eventstream import EventStream, IsyEvent, StatusChange, open_isy_event_stream
from ..mqtt import MqttBridge, MqttStatus, MqttStatusChange, open_mqtt_bridge
from ..providers.zigbee2mqtt import EventSource, LockAction, LockEvent, Zigbee2MqttLock
from ..store import Store, open_store
from ._board import Board, DoorView
from ._broker import DemoBroker
from ._config import Behaviour, Kind, LockSpec, SiteConfig
from ._world import World, door_value

__all__ = ["Site", "open_site"]

#: reconnects in the demo are quick (the library's defaults are 1 s doubling to 60 s)
FAST = Backoff(initial=0.2, maximum=2.0, jitter=Jitter.FULL)
_HAND_LOCKS = (EventSource.MANUAL, EventSource.KEYPAD)


def _unreachable_retry(duration: float) -> Backoff:
    """Re-probes of an offline lock, scaled to the run: 2 s doubling to 5 s at 60 s (a 12 s
    run: 0.5 s to 1 s), so the gate is back in sync well before the run ends."""
    initial = min(2.0, max(0.5, duration / 30))
    maximum = max(initial, min(5.0, duration / 12))
    return Backoff(initial=initial, maximum=maximum, jitter=Jitter.NONE)


_PROBES = _unreachable_retry(60.0)
#: full reads of the lock that goes offline: its 2 s outage (a 15 s run) is seen
_OFFLINE_DRIFT = 0.5


@final
@attrs.define(eq=False)
class Site:
    """The running site: its pieces, for the schedule and the summary to use."""

    config: SiteConfig
    board: Board
    world: World
    bridge: MqttBridge
    stream: EventStream[IsyEvent]
    site_store: Store
    autolock_seconds: float
    #: seconds between full reads of a lock (short: the demo shows a lock going offline)
    drift_interval: float = 30.0
    #: re-probes of a lock that stopped answering (the library's default, 60 s doubling to
    #: 30 min, is for real sites; the demo's are scaled to the run by open_site)
    unreachable_retry: Backoff = _PROBES
    _autolock: AutolockService | None = None
    zigbee: dict[str, Zigbee2MqttLock] = attrs.field(factory=dict)
    engines: dict[str, LockSync] = attrs.field(factory=dict)
    stores: list[Store] = attrs.field(factory=list)
    recovery: RecoveryReport | None = None
    #: the timers the site armed (or recovered) and has not seen fire or cancelled: what the
    #: autolock file must hold once everything closed (a timer can still fire while the site
    #: closes, so a count taken earlier can be one too many)
    running: set[str] = attrs.field(factory=set)
    #: the site's records as last written, once it closed (timers counted after the autolock
    #: service closed); None until then, and for a site that never got up
    final_snapshot: dict[str, Any] | None = None
    #: set once every piece is open and the timers recovered
    up: bool = False

    @property
    def autolock(self) -> AutolockService:
        assert self._autolock is not None, "the site opens its autolock service first"
        return self._autolock

    @autolock.setter
    def autolock(self, service: AutolockService) -> None:
        self._autolock = service

    # -- autolock ---------------------------------------------------------------------------

    async def fire(self, timer_id: str) -> None:
        """The autolock action, resolved by id when the timer fires."""
        name = timer_id.removeprefix("door:")
        try:
            spec = self.config.lock(name)
        except KeyError:
            self.running.discard(timer_id)
            raise AutolockTargetGone(f"no lock {name!r} in the site any more") from None
        try:
            if spec.kind is Kind.ZIGBEE:
                await self.zigbee[name].lock()
            else:
                self.world.lock_virtual_door(name)
        except Exception as exc:
            self.board.tally.fire_failures += 1
            why = type(exc).__name__
            self.board.emit(
                "timer", f"{name} autolock could not lock yet ({why}); it retries",
                lock=name, what="retry", error=why,
            )  # fmt: skip
            raise  # the timer keeps its entry and retries
        self.running.discard(timer_id)
        self.board.tally.fired += 1
        self.board.timer(name, None, "fired: door locked")

    async def arm(self, name: str) -> None:
        timer = self.autolock.timer(f"door:{name}")
        with trio.CancelScope(shield=True):  # persisted and counted, or neither
            await timer.start(self.autolock_seconds)
            self.running.add(timer.timer_id)
        self.board.tally.armed += 1
        self.board.timer(name, trio.current_time() + self.autolock_seconds, "armed")

    async def disarm(self, name: str, why: str) -> None:
        timer = self.autolock.timer(f"door:{name}")
        if timer.is_running:
            with trio.CancelScope(shield=True):
                await timer.cancel()
                self.running.discard(timer.timer_id)
            self.board.tally.cancelled += 1
            self.board.timer(name, None, f"cancelled: {why}")

    async def recover(self) -> None:
        report = self.recovery = await self.autolock.recover()
        tally = self.board.tally
        tally.recovered_expired, tally.recovered_resumed = report.expired, report.resumed
        for timer_id, timer in self.autolock.timers.items():
            remaining = timer.remaining
            if timer.is_running:
                self.running.add(timer_id)
            if timer.is_running and remaining is not None:
                name = timer_id.removeprefix("door:")
                self.board.timer(name, trio.current_time() + remaining, "resumed from last run")
        if report.expired or report.resumed:
            self.board.emit(
                "timer",
                f"recovered {report.resumed + report.expired} timers from the last run: "
                f"{report.expired} expired while the demo was down (fired at once), "
                f"{report.resumed} resumed",
                what="recovered",
                expired=report.expired,
                resumed=report.resumed,
            )

    # -- followers --------------------------------------------------------------------------

    async def follow_zigbee(self, name: str, events: AsyncIterator[LockEvent]) -> None:
        """The lock's own events: a keypad unlock arms its autolock, a hand lock cancels it."""
        async for event in events:
            how = event.source.value + ("" if event.slot is None else f", user {event.slot}")
            if event.action is LockAction.UNLOCK:
                self.board.door(name, False, how)
                if event.source is EventSource.KEYPAD:
                    self.board.tally.keypad_unlocks += 1
                    await self.arm(name)
            elif event.action is LockAction.LOCK:
                self.board.door(name, True, how)
                if event.source in _HAND_LOCKS:
                    await self.disarm(name, f"locked by {event.source.value}")

    async def follow_stream(self) -> None:
        """The ISY controller's door events: only live ones drive automations."""
        tally = self.board.tally
        async for event in self.stream:
            data = event.data
            name = None if data.node is None else self.world.node_lock(data.node)
            if data.is_heartbeat or name is None or data.value is None:
                continue
            locked = data.value == door_value(True)
            if event.replayed:
                tally.replayed += 1
                tally.replayed_unlocks_ignored += not locked
                self.board.doors[name].locked = locked
                continue
            tally.live += 1
            self.board.door(name, locked, "reported by the ISY controller")
            if locked:
                await self.disarm(name, "locked by hand")
            else:
                tally.keypad_unlocks += 1
                await self.arm(name)

    async def follow_stream_status(self, changes: AsyncIterator[StatusChange]) -> None:
        async for change in changes:
            stats = self.stream.statistics()
            self.board.tally.stream_connections = stats.connections
            self.board.tally.stream_synced = stats.synced
            self.board.stream(change.status.name, change.detail)

    async def follow_mqtt(self, changes: AsyncIterator[MqttStatusChange]) -> None:
        tally = self.board.tally
        async for change in changes:
            if change.status is MqttStatus.CONNECTED:
                tally.mqtt_connections += 1
                tally.mqtt_reconnects = tally.mqtt_connections - 1
            self.board.mqtt(change.status.name, change.detail)

    async def follow_engine(self, name: str, engine: LockSync) -> None:
        for slot in engine.slots:
            self.board.slot(name, slot, engine.state(slot).name, engine.reason(slot))
        async for slot, state, reason in engine.changes():
            self.board.slot(name, slot, state.name, reason)

    async def count_writes(self) -> None:
        while True:
            stats = [store.statistics() for store in [self.site_store, *self.stores]]
            self.board.tally.store_writes = sum(s.writes for s in stats)
            self.board.tally.store_failures = sum(s.write_failures for s in stats)
            await trio.sleep(0.25)

    # -- the credential engines --------------------------------------------------------------

    async def run_engine(
        self, spec: LockSpec, store: Store, *, task_status: trio.TaskStatus[None]
    ) -> None:
        """Keep ``spec``'s slots as configured, with one engine for the whole run: a lock that
        drops off the network is re-probed on ``unreachable_retry`` and read again once back."""
        provider: LockProvider = (
            self.zigbee[spec.name] if spec.kind is Kind.ZIGBEE else self.world.virtual[spec.name]
        )
        drift = self.drift_interval
        if spec.behaviour is Behaviour.OFFLINE:
            # read often, so that three failed reads fall inside its (compressed) outage
            drift = min(drift, _OFFLINE_DRIFT)
        async with open_lock_sync(
            provider,
            spec.desired(),
            store=store,
            operation_spacing=0.05,
            pending_ttl=2.0,
            retry_interval=0.5,
            suspended_retry=Backoff(initial=2.0, maximum=5.0, jitter=Jitter.NONE),
            unreachable_retry=self.unreachable_retry,
            drift_interval=drift,
        ) as engine:
            self.engines[spec.name] = engine
            task_status.started()
            await self.follow_engine(spec.name, engine)

    def slot_writes(self, name: str) -> int:
        """Sets and clears sent to lock ``name`` this run."""
        stats = self.engines[name].statistics()
        return stats.sets + stats.clears

    def masked_writes(self) -> int:
        return sum(
            self.slot_writes(spec.name)
            for spec in self.config.locks
            if spec.behaviour is Behaviour.MASKED
        )

    def save_soon(self, _: object) -> None:
        """[a board listener] The site's records changed: written within a second or two."""
        self.site_store.delay_save(self.site_snapshot, 1.0)

    async def save_now(self) -> dict[str, Any]:
        """Stop following the board and write the site's records; returns what was written."""
        self.board.unlisten(self.save_soon)
        snapshot = self.site_snapshot()
        await self.site_store.save(snapshot)
        return snapshot

    async def save_final(self) -> None:
        """[on close, after the autolock service closed] The records once more, with the
        timers left running as the file holds them; nothing for a site that never got up."""
        if not self.up:
            return
        self.final_snapshot = self.site_snapshot() | {"clean_exit": True}
        await self.site_store.save(self.final_snapshot)

    def site_snapshot(self) -> dict[str, Any]:
        tally = self.board.tally
        return {
            "run": self.board.run_number,
            "doors": {name: door.locked for name, door in self.board.doors.items()},
            "timers_running": len(self.running),
            # True only in the last write of a run that closed: a run that was killed left
            # a count from up to two seconds before it died, which proves nothing
            "clean_exit": False,
            "fired": tally.fired,
            "replayed": tally.replayed,
            "live": tally.live,
        }


@contextlib.asynccontextmanager
async def open_site(
    config: SiteConfig,
    board: Board,
    world: World,
    broker: DemoBroker,
    state: Path,
    *,
    autolock_seconds: float,
) -> AsyncIterator[Site]:
    """Open every piece of the site's software, recover the timers, and run the followers.

    Opened in the order they depend on each other, so they close the other way round: the
    followers and engines first, then the timers (a running fire finishes), the locks, the
    event stream, the bridge, and the stores last (each flushes what is pending)."""
    for spec in config.locks:
        board.doors[spec.name] = DoorView(kind=spec.kind.value)
    async with contextlib.AsyncExitStack() as stack:
        enter = stack.enter_async_context
        site_store = await enter(open_store(state / "site.json", max_delay=2.0))
        stores = {
            spec.name: await enter(open_store(state / f"credentials-{spec.name}.json"))
            for spec in config.locks
        }
        bridge = await enter(
            open_mqtt_bridge(
                broker.host,
                broker.port,
                client_id="trio-locksync-demo-site",
                protocol=broker.protocol,
                backoff=FAST,
                stable_after=2.0,
            )
        )
        mqtt_changes = bridge.status_changes()
        stream = await enter(
            open_isy_event_stream(
                world.controller.base_url, quiet=0.5, cap=5.0, backoff=FAST, stable_after=2.0
            )
        )
        stream_changes = stream.status_changes()
        site = Site(config, board, world, bridge, stream, site_store, autolock_seconds)
        stack.push_async_callback(site.save_final)  # runs once all but the stores closed
        site.stores = list(stores.values())
        site.drift_interval = max(2.0, board.duration / 20)
        site.unreachable_retry = _unreachable_retry(board.duration)
        with trio.move_on_after(10):
            await bridge.wait_status(MqttStatus.CONNECTED)
        zigbee_events = {}
        for spec in config.with_kind(Kind.ZIGBEE):
            lock = Zigbee2MqttLock(
                bridge,
                spec.name,
                slots=spec.slots.keys(),
                read_timeout=1.0,
                publish_timeout=3.0,
                command_timeout=3.0,
                expose_pin=spec.behaviour is not Behaviour.MASKED,
            )
            site.zigbee[spec.name] = await enter(lock)
            zigbee_events[spec.name] = lock.events()
        site.autolock = await enter(
            open_autolock(state / "autolock.json", action=site.fire, backoff=FAST)
        )
        nursery = await enter(trio.open_nursery())
        try:
            nursery.start_soon(site.follow_mqtt, mqtt_changes)
            nursery.start_soon(site.follow_stream_status, stream_changes)
            nursery.start_soon(site.follow_stream)
            for name, events in zigbee_events.items():
                nursery.start_soon(site.follow_zigbee, name, events)
            for spec in config.locks:
                await nursery.start(site.run_engine, spec, stores[spec.name])
            await site.recover()
            nursery.start_soon(site.count_writes)
            board.listen(site.save_soon)
            site.up = True
            try:
                yield site
            finally:
                board.unlisten(site.save_soon)
        finally:
            nursery.cancel_scope.cancel()
