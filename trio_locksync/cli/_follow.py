"""What the site follows, as a user of the library writes it: each lock's own events (a keypad
unlock arms the door's autolock, a hand lock cancels it), the ISY controller's door events
(only live ones drive automations), the links' statuses, each engine's slot changes and the
access plan's changes — each published as an event (:mod:`._events`).

Every iterator is subscribed when its part opens (:meth:`Followers.mqtt` and the others), so
nothing said between then and the start of the tasks (:meth:`Followers.start`) is missed."""

from __future__ import annotations

import datetime
import zoneinfo
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, final

import trio

from ..access import AccessChange, AccessPlan
from ..credentials import EventSource, LockAction, LockEvent, LockProvider, LockSync, SlotChange
from ..eventstream import EventStream, IsyEvent, StatusChange
from ..mqtt import MqttBridge, MqttStatusChange
from ..providers.zwave_js import ZWaveJsClient, ZWaveJsLock, ZWaveJsStatusChange
from ._events import (
    AccessChanged,
    DoorChanged,
    DoorReplayed,
    DoorReported,
    MqttLink,
    SlotChanged,
    StreamLink,
    ZWaveLink,
)
from ._records import Reporter
from ._schema import SiteConfig
from ._timers import DoorTimers

__all__ = ["Followers", "access_event", "door_value"]

_HAND_LOCKS = (EventSource.MANUAL, EventSource.KEYPAD)


def door_value(locked: bool) -> int:
    """The ISY status value of a door: 100 (locked) or 0."""
    return 100 if locked else 0


def access_event(
    plan: AccessPlan, grant: str, lock: str, zone: datetime.tzinfo = datetime.UTC
) -> AccessChanged:
    """Grant ``grant`` on ``lock`` as the plan has it now, as an event (never a PIN); its next
    edge in ``zone`` (the site's)."""
    detail = plan.detail(grant, lock)
    edge = detail.next_edge
    edge_text = None if edge is None else edge.astimezone(zone).isoformat(timespec="minutes")
    sync = "" if detail.sync is None else detail.sync.name
    return AccessChanged(
        grant,
        lock,
        detail.state.name,
        detail.reason,
        detail.slot,
        sync,
        edge_text,
        detail.uses_left,
    )


@final
class Followers:
    """The site's followers, subscribed as each part opens, run by :meth:`start`."""

    def __init__(self, config: SiteConfig, reporter: Reporter) -> None:
        self._publish = reporter.publish
        self._zone = zoneinfo.ZoneInfo(config.time_zone)
        self._tasks: list[tuple[Callable[..., Awaitable[None]], tuple[Any, ...]]] = []
        #: the lock whose door each ISY node is
        self.lock_of_node = {spec.door: spec.name for spec in config.locks if spec.door}
        self._timers: DoorTimers | None = None

    def start(self, nursery: trio.Nursery, timers: DoorTimers) -> None:
        """Run every follower in ``nursery``; ``timers`` are the doors' autolock timers."""
        self._timers = timers
        for task, args in self._tasks:
            nursery.start_soon(task, *args)

    @property
    def timers(self) -> DoorTimers:
        assert self._timers is not None, "the followers run once the timers are open"
        return self._timers

    # -- subscriptions ----------------------------------------------------------------------

    def mqtt(self, bridge: MqttBridge) -> None:
        self._tasks.append((self._mqtt, (bridge.status_changes(),)))

    def stream(self, stream: EventStream[IsyEvent]) -> None:
        self._tasks.append((self._stream_status, (stream, stream.status_changes())))
        self._tasks.append((self._stream, (stream,)))

    def zwave(self, client: ZWaveJsClient) -> None:
        self._tasks.append((self._zwave, (client.status_changes(),)))

    def lock_events(self, name: str, provider: LockProvider) -> None:
        """Lock ``name``'s own events, if its provider reports any."""
        events = getattr(provider, "events", None)
        if callable(events):
            self._tasks.append((self._lock, (name, events())))

    def engine(self, name: str, engine: LockSync) -> None:
        self._tasks.append((self._engine, (name, engine, engine.changes())))

    def plan(self, plan: AccessPlan) -> None:
        self._tasks.append((self._plan, (plan, plan.changes())))

    def locked_by_autolock(self, name: str, provider: LockProvider) -> None:
        """The autolock locked door ``name``; a Z-Wave lock's Door Lock set reports no
        notification (the mock's), so it is said here."""
        if isinstance(provider, ZWaveJsLock):
            self._publish(DoorChanged(name, True, "Door Lock set by the autolock"))

    # -- the tasks --------------------------------------------------------------------------

    async def _lock(self, name: str, events: AsyncIterator[LockEvent]) -> None:
        async for event in events:
            how = event.source.value + ("" if event.slot is None else f", user {event.slot}")
            if event.action is LockAction.UNLOCK:
                self._publish(DoorChanged(name, False, how))
                if event.source is EventSource.KEYPAD:
                    await self.timers.arm(name)
            elif event.action is LockAction.LOCK:
                self._publish(DoorChanged(name, True, how))
                if event.source in _HAND_LOCKS:
                    await self.timers.disarm(name, f"locked by {event.source.value}")

    async def _stream(self, stream: EventStream[IsyEvent]) -> None:
        async for event in stream:
            data = event.data
            name = None if data.node is None else self.lock_of_node.get(data.node)
            if data.is_heartbeat or name is None or data.value is None:
                continue
            locked = data.value == door_value(True)
            if event.replayed:
                self._publish(DoorReplayed(name, locked))
                continue
            self._publish(DoorReported(name, locked))
            if locked:
                await self.timers.disarm(name, "locked by hand")
            else:
                await self.timers.arm(name)

    async def _stream_status(
        self, stream: EventStream[IsyEvent], changes: AsyncIterator[StatusChange]
    ) -> None:
        async for change in changes:
            stats = stream.statistics()
            status = change.status.name
            self._publish(StreamLink(status, change.detail, stats.connections, stats.synced))

    async def _mqtt(self, changes: AsyncIterator[MqttStatusChange]) -> None:
        async for change in changes:
            self._publish(MqttLink(change.status.name, change.detail))

    async def _zwave(self, changes: AsyncIterator[ZWaveJsStatusChange]) -> None:
        async for change in changes:
            self._publish(ZWaveLink(change.status.name, change.detail))

    async def _engine(
        self, name: str, engine: LockSync, changes: AsyncIterator[SlotChange]
    ) -> None:
        for slot in engine.slots:
            self._publish(SlotChanged(name, slot, engine.state(slot).name, engine.reason(slot)))
        async for slot, state, reason in changes:
            self._publish(SlotChanged(name, slot, state.name, reason))

    async def _plan(self, plan: AccessPlan, changes: AsyncIterator[AccessChange]) -> None:
        for grant in plan.grants():
            for lock in plan.status(grant):
                self._publish(access_event(plan, grant, lock, self._zone))
        async for change in changes:
            self._publish(access_event(plan, change.grant, change.lock, self._zone))
