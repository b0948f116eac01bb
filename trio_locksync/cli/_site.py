"""The demo site's software — what a user of the library writes: one MQTT bridge, a
``Zigbee2MqttLock`` per Zigbee lock, a Z-Wave JS client with a ``ZWaveJsLock`` per Z-Wave lock
(once its server is up: :mod:`._zwave`), a credential engine per lock (desired PINs from the
config, what was last written remembered on disk), the ISY event stream, the autolock timers,
and a store for the site's own records. Every change is published as an event (see
:mod:`._events`); the site's records are its own reduction of the events it published."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Mapping
from typing import final

import attrs
import trio

from ..core import ChangeFeed, Watched
from ..credentials import LockProvider, LockSync, SlotChange
from ..eventstream import EventStream, IsyEvent, StatusChange, open_isy_event_stream
from ..mqtt import MqttBridge, MqttStatus, MqttStatusChange, open_mqtt_bridge
from ..providers.zigbee2mqtt import EventSource, LockAction, LockEvent, Zigbee2MqttLock
from ..store import open_store
from ..testing import MqttBroker
from ._config import FAST, Behaviour, DemoOptions, Kind, LockSpec
from ._engines import engine_for
from ._events import (
    DemoEvent,
    DoorChanged,
    DoorReplayed,
    DoorReported,
    MqttLink,
    SiteOpened,
    SlotChanged,
    StreamLink,
)
from ._records import Reporter, SiteRecords
from ._timers import DoorTimers, open_door_timers
from ._world import World, door_value
from ._zwave import ZWaveLocks

__all__ = ["Reporter", "Site", "SiteRecords", "masked_remembered", "open_site"]

_HAND_LOCKS = (EventSource.MANUAL, EventSource.KEYPAD)


@final
@attrs.frozen(eq=False)
class Site:
    """The running site, whole: its pieces, for the schedule and the summary to read. Made
    by :func:`open_site`."""

    options: DemoOptions
    reporter: Reporter
    world: World
    bridge: MqttBridge
    stream: EventStream[IsyEvent]
    zigbee: Mapping[str, Zigbee2MqttLock]
    #: every lock's engine; the Z-Wave locks' join once their server is up
    engines: dict[str, LockSync]
    timers: DoorTimers
    zwave: ZWaveLocks

    def publish(self, event: DemoEvent) -> None:
        """Report ``event`` (see :class:`Reporter`)."""
        self.reporter.publish(event)

    # -- followers --------------------------------------------------------------------------

    async def follow_lock(self, name: str, events: AsyncIterator[LockEvent]) -> None:
        """The lock's own events: a keypad unlock arms its autolock, a hand lock cancels it."""
        async for event in events:
            how = event.source.value + ("" if event.slot is None else f", user {event.slot}")
            if event.action is LockAction.UNLOCK:
                self.publish(DoorChanged(name, False, how))
                if event.source is EventSource.KEYPAD:
                    await self.timers.arm(name)
            elif event.action is LockAction.LOCK:
                self.publish(DoorChanged(name, True, how))
                if event.source in _HAND_LOCKS:
                    await self.timers.disarm(name, f"locked by {event.source.value}")

    async def follow_stream(self) -> None:
        """The ISY controller's door events: only live ones drive automations."""
        async for event in self.stream:
            data = event.data
            name = None if data.node is None else self.world.lock_of_node.get(data.node)
            if data.is_heartbeat or name is None or data.value is None:
                continue
            locked = data.value == door_value(True)
            if event.replayed:
                self.publish(DoorReplayed(name, locked))
                continue
            self.publish(DoorReported(name, locked))
            if locked:
                await self.timers.disarm(name, "locked by hand")
            else:
                await self.timers.arm(name)

    async def follow_stream_status(self, changes: AsyncIterator[StatusChange]) -> None:
        async for change in changes:
            stats = self.stream.statistics()
            status = change.status.name
            self.publish(StreamLink(status, change.detail, stats.connections, stats.synced))

    async def follow_mqtt(self, changes: AsyncIterator[MqttStatusChange]) -> None:
        async for change in changes:
            self.publish(MqttLink(change.status.name, change.detail))

    async def follow_engine(
        self, name: str, engine: LockSync, changes: AsyncIterator[SlotChange]
    ) -> None:
        for slot in engine.slots:
            self.publish(SlotChanged(name, slot, engine.state(slot).name, engine.reason(slot)))
        async for slot, state, reason in changes:
            self.publish(SlotChanged(name, slot, state.name, reason))

    # -- figures ----------------------------------------------------------------------------

    def slot_writes(self, name: str) -> int:
        """Sets and clears sent to lock ``name`` this run."""
        stats = self.engines[name].statistics()
        return stats.sets + stats.clears

    def masked_writes(self) -> int:
        """Writes to the masked slots this run (the Z-Wave mock forgets its codes between
        runs: its slots are not counted)."""
        return sum(self.slot_writes(spec.name) for spec in masked_remembered(self.options))

    async def save_now(self) -> None:
        """Write the site's records now."""
        await self.reporter.stores[0].save(self.reporter.snapshot())


@contextlib.asynccontextmanager
async def open_site(
    options: DemoOptions, run: int, world: World, broker: MqttBroker, events: ChangeFeed[DemoEvent]
) -> AsyncIterator[Site]:
    """Open every piece of the site's software, recover the timers, and run the followers.

    Opened in the order they depend on each other, so they close the other way round: the
    followers first, then the timers (a running fire finishes; then the records are written
    once more, with ``clean_exit``), the engines, the locks, the event stream, the bridge,
    and the stores last (each flushes what is pending)."""
    config, state = options.site, options.state_dir
    events.publish(SiteOpened(tuple((spec.name, spec.kind.value) for spec in config.locks)))
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
        with trio.move_on_after(10):
            await bridge.wait_status(MqttStatus.CONNECTED)
        # Each lock's events and each engine's changes are subscribed the moment it is open
        # (fan-outs from the call on): a keypad unlock on the first lock while the next one
        # is still being subscribed must arm its autolock.
        zigbee: dict[str, Zigbee2MqttLock] = {}
        zigbee_events: dict[str, AsyncIterator[LockEvent]] = {}
        for spec in config.locks:
            if spec.kind is Kind.ZIGBEE:
                lock = zigbee[spec.name] = await enter(_zigbee_lock(bridge, spec))
                zigbee_events[spec.name] = lock.events()
        providers: dict[str, LockProvider] = {**world.virtual, **zigbee}
        engines: dict[str, LockSync] = {}
        engine_changes: dict[str, AsyncIterator[SlotChange]] = {}
        for spec in config.locks:
            if spec.kind is Kind.ZWAVE:
                continue  # once its server is up (ZWaveLocks.run)
            engine = engines[spec.name] = await enter(
                engine_for(spec, providers[spec.name], stores[spec.name], options)
            )
            engine_changes[spec.name] = engine.changes()
        reporter = Reporter(
            run,
            events,
            Watched(SiteRecords({spec.name: None for spec in config.locks})),
            (site_store, *stores.values()),
            set(),
        )
        zwave = ZWaveLocks(world.zwave, options, stores, reporter.publish)

        async def lock_door(name: str) -> None:
            if name in zigbee:
                await zigbee[name].lock()
            elif name in world.zwave.nodes:
                await zwave.lock_door(name)
            else:
                world.lock_virtual_door(name)

        async with open_door_timers(
            state / "autolock.json",
            seconds=dict.fromkeys((spec.name for spec in config.locks), options.autolock_seconds),
            backoff=FAST,
            doors=[spec.name for spec in config.locks],
            lock_door=lock_door,
            running=reporter.running,
            publish=reporter.publish,
        ) as timers:
            site = Site(options, reporter, world, bridge, stream, zigbee, engines, timers, zwave)
            async with trio.open_nursery() as nursery:
                nursery.start_soon(site.follow_mqtt, mqtt_changes)
                nursery.start_soon(site.follow_stream_status, stream_changes)
                nursery.start_soon(site.follow_stream)
                for name, lock_events in zigbee_events.items():
                    nursery.start_soon(site.follow_lock, name, lock_events)
                for name, engine in engines.items():
                    nursery.start_soon(site.follow_engine, name, engine, engine_changes[name])
                nursery.start_soon(zwave.run, engines, site.follow_lock, site.follow_engine)
                await timers.recover()
                reporter.up.set()
                yield site
                await zwave.close()  # its followers, engines (flushed) and client, in order
                nursery.cancel_scope.cancel()
        # the timers closed: no timer can fire any more, the file holds what is left running
        await site_store.save(reporter.snapshot(clean_exit=True))


def _zigbee_lock(bridge: MqttBridge, spec: LockSpec) -> Zigbee2MqttLock:
    return Zigbee2MqttLock(
        bridge,
        spec.name,
        slots=spec.slots.keys(),
        read_timeout=1.0,
        publish_timeout=3.0,
        command_timeout=3.0,
        expose_pin=spec.behaviour is not Behaviour.MASKED,
    )


def masked_remembered(options: DemoOptions) -> list[LockSpec]:
    """The masked locks that keep their codes between runs (not the Z-Wave mock's)."""
    masked = [spec for spec in options.site.locks if spec.behaviour is Behaviour.MASKED]
    return [spec for spec in masked if spec.kind is not Kind.ZWAVE]
