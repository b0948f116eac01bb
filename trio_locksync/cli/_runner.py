"""The site runner, one code path for ``trio-locksync run`` and the demo: from a
:class:`~._schema.SiteConfig` it opens what a user of the library writes — one MQTT bridge and a
``Zigbee2MqttLock`` per Zigbee lock, one Z-Wave JS client and a ``ZWaveJsLock`` per Z-Wave
lock, the ISY event stream for the doors, a credential engine per lock (its memory on disk), the
access plan over those engines with the config's grants applied, the autolock timers — and
follows every part, publishing each change as an event (:mod:`._events`).

The demo hands it its ``VirtualLock`` objects as extra providers (:class:`ExtraLock`) and a
:class:`Tuning` scaled to its run; ``run`` uses the library's defaults."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from pathlib import Path
from typing import Any, final

import attrs
import trio

from ..access import AccessPlan, open_access_plan
from ..core import Backoff, ChangeFeed, Watched
from ..credentials import LockProvider, LockSync, open_lock_sync
from ..eventstream import EventStream, IsyEvent, open_isy_event_stream
from ..mqtt import MqttBridge, MqttStatus, open_mqtt_bridge
from ..providers.zigbee2mqtt import Zigbee2MqttLock
from ..providers.zwave_js import ZWaveJsClient, ZWaveJsLock, open_zwave_js
from ..store import Store, open_store
from ._apply import apply_grants, plan_slots
from ._events import DemoEvent, SiteOpened
from ._follow import Followers
from ._records import Reporter, SiteRecords
from ._schema import LockConfig, LockKind, SiteConfig
from ._timers import DoorTimers, open_door_timers

__all__ = ["ExtraLock", "Site", "Tuning", "open_site"]


@final
@attrs.frozen(kw_only=True)
class Tuning:
    """How quickly the site's parts retry and time out. The defaults are the library's, for a
    real site; the demo scales them to its run."""

    #: reconnect delays of the bridge, the event stream and the Z-Wave JS client (None: the
    #: library's ``RECONNECT_BACKOFF``) and how long a connection must stay up to reset them
    backoff: Backoff | None = None
    stable_after: float = 10.0
    #: keyword arguments of ``open_lock_sync`` for every lock, then per lock
    engine: Mapping[str, Any] = attrs.field(factory=dict)
    engine_for: Mapping[str, Mapping[str, Any]] = attrs.field(factory=dict)
    #: keyword arguments of ``open_access_plan`` (its retry delays)
    plan: Mapping[str, Any] = attrs.field(factory=dict)
    #: keyword arguments of ``Zigbee2MqttLock`` (its timeouts)
    zigbee: Mapping[str, Any] = attrs.field(factory=dict)
    zwave_operation_timeout: float = 30.0
    zwave_command_timeout: float = 60.0
    isy_quiet: float = 1.0
    isy_cap: float = 10.0
    #: the autolock's retry delays for a lock command that failed (None: its default)
    autolock_backoff: Backoff | None = None
    #: seconds the start waits for the broker before opening the Zigbee locks anyway
    mqtt_wait: float = 10.0
    #: the autolock seconds per lock, overriding the config's rules (the demo's ``--autolock``)
    autolock_seconds: Mapping[str, float] | None = None


@final
@attrs.frozen
class ExtraLock:
    """A lock the caller provides (the demo's ``VirtualLock`` objects): its provider, and how the
    autolock locks its door (None: it has no lock command)."""

    provider: LockProvider
    lock_door: Callable[[], Awaitable[None]] | None = None


@final
@attrs.frozen(eq=False)
class Site:
    """The running site, whole: its pieces, for the demo's schedule and summary and for the
    command's stop. Made by :func:`open_site`."""

    config: SiteConfig
    state_dir: Path
    reporter: Reporter
    bridge: MqttBridge | None
    stream: EventStream[IsyEvent] | None
    zwave: ZWaveJsClient | None
    providers: Mapping[str, LockProvider]
    engines: Mapping[str, LockSync]
    plan: AccessPlan
    timers: DoorTimers

    def publish(self, event: DemoEvent) -> None:
        """Report ``event`` (see :class:`Reporter`)."""
        self.reporter.publish(event)

    async def save_now(self) -> None:
        """Write the site's records now."""
        await self.reporter.stores[0].save(self.reporter.snapshot())


def _slots(spec: LockConfig) -> list[int] | None:
    """The slots a provider operates on: the candidates and the fixed ones (None: the lock's
    own, learned)."""
    if spec.slots is None:
        return None
    return sorted({*spec.slots, *spec.fixed})


@contextlib.asynccontextmanager
async def open_site(
    config: SiteConfig,
    state_dir: Path,
    events: ChangeFeed[DemoEvent],
    *,
    run: int = 1,
    tuning: Tuning | None = None,
    extra: Mapping[str, ExtraLock] | None = None,
) -> AsyncIterator[Site]:
    """Open every piece of ``config``'s site on ``state_dir``, apply its grants, recover the
    timers and follow everything, for the block; each change is published on ``events``.

    Opened in the order they depend on each other, so they close the other way round: the
    followers first, then the timers (a running fire finishes; then the records are written
    once more, with ``clean_exit``), the plan, the engines (each flushes), the locks, the
    clients and the stores last (each flushes what is pending)."""
    tune = Tuning() if tuning is None else tuning
    extras = dict(extra or {})
    events.publish(SiteOpened(tuple((spec.name, spec.kind.value) for spec in config.locks)))
    async with (
        open_store(state_dir / "site.json", max_delay=2.0) as site_store,
        contextlib.AsyncExitStack() as stack,
    ):
        enter = stack.enter_async_context
        stores: dict[str, Store[Any]] = {
            spec.name: await enter(open_store(state_dir / f"credentials-{spec.name}.json"))
            for spec in config.locks
        }
        reporter = Reporter(
            run,
            events,
            Watched(SiteRecords({spec.name: None for spec in config.locks})),
            (site_store, *stores.values()),
            set(),
        )
        follow = Followers(config, reporter)
        bridge = stream = client = None
        if config.mqtt is not None and config.with_kind(LockKind.ZIGBEE2MQTT):
            mqtt = config.mqtt
            bridge = await enter(
                open_mqtt_bridge(
                    mqtt.host,
                    mqtt.port,
                    client_id=mqtt.client_id,
                    username=mqtt.username,
                    password=mqtt.password,
                    tls=mqtt.tls,
                    protocol=mqtt.protocol,
                    backoff=tune.backoff,
                    stable_after=tune.stable_after,
                )
            )
            follow.mqtt(bridge)
        if config.isy is not None:
            stream = await enter(
                open_isy_event_stream(
                    config.isy.url,
                    username=config.isy.username,
                    password=config.isy.password,
                    quiet=tune.isy_quiet,
                    cap=tune.isy_cap,
                    backoff=tune.backoff,
                    stable_after=tune.stable_after,
                )
            )
            follow.stream(stream)
        if config.zwave_js is not None and config.with_kind(LockKind.ZWAVE):
            client = await enter(
                open_zwave_js(
                    config.zwave_js.url,
                    backoff=tune.backoff,
                    stable_after=tune.stable_after,
                    command_timeout=tune.zwave_command_timeout,
                )
            )
            follow.zwave(client)
        if bridge is not None:
            with trio.move_on_after(tune.mqtt_wait):
                await bridge.wait_status(MqttStatus.CONNECTED)
        # Each lock's events and each engine's changes are subscribed the moment it is open
        # (fan-outs from the call on): a keypad unlock on the first lock while the next one
        # is still being opened must arm its autolock.
        providers: dict[str, LockProvider] = {}
        for spec in config.locks:
            if spec.kind is LockKind.ZIGBEE2MQTT and bridge is not None:
                assert config.mqtt is not None
                providers[spec.name] = await enter(
                    Zigbee2MqttLock(
                        bridge,
                        spec.topic_name,
                        base_topic=config.mqtt.base_topic,
                        slots=_slots(spec),
                        expose_pin=spec.expose_pin,
                        **tune.zigbee,
                    )
                )
            elif spec.kind is LockKind.ZWAVE and client is not None:
                assert spec.node_id is not None
                providers[spec.name] = client.lock(
                    spec.node_id,
                    slots=_slots(spec),
                    operation_timeout=tune.zwave_operation_timeout,
                )
            elif spec.name in extras:
                providers[spec.name] = extras[spec.name].provider
            else:
                raise ValueError(f"lock {spec.name!r}: nothing stands behind it")
            follow.lock_events(spec.name, providers[spec.name])
        engines: dict[str, LockSync] = {}
        for spec in config.locks:
            fixed = {slot: None if p is None else p.reveal() for slot, p in spec.fixed.items()}
            options = {**tune.engine, **tune.engine_for.get(spec.name, {})}
            engine = engines[spec.name] = await enter(
                open_lock_sync(providers[spec.name], fixed, store=stores[spec.name], **options)
            )
            follow.engine(spec.name, engine)
        plan = await enter(
            open_access_plan(
                state_dir / "access.json",
                engines,
                tz=config.time_zone,
                slots=plan_slots(config),
                **tune.plan,
            )
        )
        follow.plan(plan)

        async def lock_door(name: str) -> None:
            door = extras.get(name)
            if door is not None and door.lock_door is not None:
                await door.lock_door()
                return
            provider = providers[name]
            if not isinstance(provider, Zigbee2MqttLock | ZWaveJsLock):
                raise LookupError(f"lock {name!r} has no lock command")
            await provider.lock()
            follow.locked_by_autolock(name, provider)

        seconds = tune.autolock_seconds
        if seconds is None:
            seconds = config.autolock_seconds()
        timers = await enter(
            open_door_timers(
                state_dir / "autolock.json",
                seconds=seconds,
                doors=[spec.name for spec in config.locks],
                lock_door=lock_door,
                running=reporter.running,
                publish=reporter.publish,
                backoff=tune.autolock_backoff,
            )
        )
        site = Site(
            config, state_dir, reporter, bridge, stream, client, providers, engines, plan, timers
        )
        async with trio.open_nursery() as nursery:
            follow.start(nursery, timers)
            await timers.recover()
            # in the background: a grant surveys its locks' slots, and a slow lock must not
            # hold the start (a grant on a lock that does not answer waits there)
            nursery.start_soon(apply_grants, plan, config, reporter.publish)
            reporter.up.set()
            yield site
            nursery.cancel_scope.cancel()
        await stack.aclose()  # everything closed: no timer can fire any more
        await site_store.save(reporter.snapshot(clean_exit=True))
