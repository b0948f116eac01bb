"""One run of the demo, start to finish, as one flow: the broker, the simulated hardware, the
site — the same site runner as ``trio-locksync run`` (:mod:`._runner`), on the demo's config
with the simulators' addresses filled in (:func:`site_config`) and its ``VirtualLock`` objects
handed over as extra locks — the schedule of faults and visits, then a clean stop — at
``--duration`` or at Ctrl-C alike — with everything flushed and the summary gathered. Every
part publishes its events on one feed; the board's owner (the output, given as ``show``)
reduces them."""

from __future__ import annotations

import enum
import signal
import tempfile
import threading
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any, final

import attrs
import trio

from ..core import ChangeFeed, StateTable
from ..testing import MqttBroker, open_mqtt_broker
from ._board import Board
from ._config import DemoOptions
from ._events import BrokerUp, DemoEvent, Info, RunBegan, Stopping, ZWaveChanged, ZWaveState
from ._links import IsySettings, MqttSettings, ZWaveSettings
from ._runner import ExtraLock, open_site
from ._schedule import play
from ._schema import LockKind, SiteConfig
from ._statefiles import PreviousRun
from ._summary import SiteFigures, Summary, check_disk, summarise
from ._tuning import demo_tuning
from ._verify import gather
from ._world import World, open_world
from ._zwave import zwave_unavailable

__all__ = ["Show", "run_demo"]

#: the board's owner: applies every event of the feed to the board until the feed ends
Show = Callable[[Board, AsyncIterator[DemoEvent]], Awaitable[None]]


class _Phase(enum.Enum):
    STARTING = "starting"
    UP = "up"
    STOPPING = "stopping"


_PHASES = {
    _Phase.STARTING: frozenset({_Phase.UP, _Phase.STOPPING}),
    _Phase.UP: frozenset({_Phase.STOPPING}),
}


@final
class _Ending:
    """How the run ends: ``stop`` at its duration, or at Ctrl-C once the site is up;
    ``startup`` at a Ctrl-C before that (it abandons the start-up). One phase says which."""

    def __init__(self, start: float, duration: float) -> None:
        #: trio time the run started at
        self.start = start
        self.stop = trio.CancelScope(deadline=start + duration)
        self.startup = trio.CancelScope()
        self.phase = StateTable("demo run", _Phase.STARTING, _PHASES)
        self.by = "duration"

    def site_up(self) -> None:
        """The site is up: a Ctrl-C from now on stops the run (not the start-up)."""
        if self.phase.can_advance(_Phase.UP):
            self.phase.advance(_Phase.UP)

    async def watch(
        self, signals: AsyncIterator[int], publish: Callable[[DemoEvent], None]
    ) -> None:
        async for _ in signals:
            phase = self.phase.current
            if phase is _Phase.STOPPING or self.stop.cancel_called:
                continue  # stopping already: a second Ctrl-C does not cut the flush short
            self.phase.advance(_Phase.STOPPING)
            self.by = "Ctrl-C"
            publish(Stopping(self.by))  # the title says so until the end
            publish(Info("Ctrl-C: stopping cleanly (state is flushed, then the summary)"))
            (self.stop if phase is _Phase.UP else self.startup).cancel()


@final
@attrs.frozen
class _Ran:
    """What a run that got up leaves for its summary."""

    seconds: float
    figures: SiteFigures
    #: site.json as the site last wrote it, and the timers it left running
    snapshot: dict[str, Any]
    timers_at_exit: int


async def run_demo(
    options: DemoOptions,
    show: Show,
    *,
    previous: PreviousRun,
    prepare: Callable[[], None] | None = None,
    started: threading.Event | None = None,
) -> Summary:
    """Run the demo after the ``previous`` one; returns its summary. SIGINT ends the run
    early, cleanly. ``prepare`` (in a worker thread) makes what the state dir needs once the
    broker is up — nothing on disk is made before, so a start that fails there (no broker
    reachable) has changed nothing; ``started`` is set once the site is up."""
    state = options.state_dir
    run = previous.run + 1
    previous_timers = previous.timers_running if run > 1 and previous.clean_exit else None
    events = ChangeFeed[DemoEvent]()
    board = Board(duration=options.duration)
    ending = _Ending(board.start, options.duration)
    async with trio.open_nursery() as nursery:
        nursery.start_soon(show, board, events.subscribe())
        events.publish(RunBegan(run, str(state)))
        try:
            with trio.open_signal_receiver(signal.SIGINT) as signals:
                async with trio.open_nursery() as guard:
                    guard.start_soon(ending.watch, signals, events.publish)
                    with ending.startup:
                        ran = await _run(options, run, events, ending, prepare, started)
                    guard.cancel_scope.cancel()
        finally:
            events.end()  # the board's owner applies what is left, then returns
    if ending.startup.cancelled_caught:
        return Summary(
            run=run,
            seconds=board.elapsed(),
            stopped_by=ending.by,
            broker=board.broker,
            during_startup=True,
        )
    disk = await check_disk(state, ran.snapshot, ran.timers_at_exit)
    return summarise(
        board,
        ran.figures,
        disk,
        seconds=ran.seconds,
        previous_timers=previous_timers,
        timers_at_exit=ran.timers_at_exit,
    )


def site_config(options: DemoOptions, broker: MqttBroker, world: World) -> SiteConfig:
    """The demo's site config with the addresses of the simulators it started: what ``run``
    would read from a file pointing at them."""
    site = options.site
    return attrs.evolve(
        site,
        mqtt=MqttSettings(
            broker.host,
            broker.port,
            client_id="trio-locksync-demo-site",
            protocol=broker.protocol,
        ),
        isy=IsySettings(world.controller.base_url),
        zwave_js=ZWaveSettings(world.zwave.url) if site.with_kind(LockKind.ZWAVE) else None,
    )


def extra_locks(world: World) -> dict[str, ExtraLock]:
    """The demo's own locks, handed to the runner: each ``VirtualLock``, its door locked
    through the ISY controller."""

    def locker(name: str) -> Callable[[], Awaitable[None]]:
        async def lock_door() -> None:
            world.lock_virtual_door(name)

        return lock_door

    return {name: ExtraLock(lock, locker(name)) for name, lock in world.virtual.items()}


async def _run(
    options: DemoOptions,
    run: int,
    events: ChangeFeed[DemoEvent],
    ending: _Ending,
    prepare: Callable[[], None] | None,
    started: threading.Event | None,
) -> _Ran:
    start = ending.start
    zwave = [spec.name for spec in options.site.with_kind(LockKind.ZWAVE)]
    if zwave:
        skipped = await zwave_unavailable(options)
        if skipped is not None:  # said once; the run is then the one without them
            events.publish(ZWaveChanged(ZWaveState.SKIPPED, skipped))
            options = attrs.evolve(options, site=options.site.without(zwave))
    with tempfile.TemporaryDirectory(prefix="trio-locksync-demo-") as scratch:
        async with open_mqtt_broker(Path(scratch), options.broker, external=options.mqtt) as broker:
            events.publish(BrokerUp(f"{broker.kind.value} on {broker.host}:{broker.port}"))
            if prepare is not None:
                await trio.to_thread.run_sync(prepare)
            async with open_world(options, broker, events) as world:
                async with open_site(
                    site_config(options, broker, world),
                    options.state_dir,
                    events,
                    run=run,
                    tuning=demo_tuning(options),
                    extra=extra_locks(world),
                ) as site:
                    ending.site_up()
                    if started is not None:
                        started.set()
                    events.publish(Info(f"site up: run {run}, state in {options.state_dir}"))
                    with ending.stop:
                        await play(site, world, options, broker, start)
                        await trio.sleep_forever()
                    seconds = trio.current_time() - start
                    events.publish(Stopping(ending.by))
                    figures = await gather(site, world, options)
                    await site.save_now()
                # closed: no timer can fire any more, the file holds what is left running
                reporter = site.reporter
                ran = _Ran(
                    seconds, figures, reporter.snapshot(clean_exit=True), len(reporter.running)
                )
            return ran
