"""One run of the demo, start to finish: the broker, the simulated hardware, the site, the
schedule of faults and visits, then a clean stop — at ``--duration`` or at Ctrl-C alike —
with everything flushed and the summary gathered."""

from __future__ import annotations

import contextlib
import signal
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any, final

import attrs
import trio

from ..credentials import LockDisconnected
from ..store import open_store
from ..testing import BrokerError, BrokerKind
from ..testing.zigbee2mqtt import Zigbee2MqttSimulator, open_zigbee2mqtt_simulator
from ._board import Board
from ._broker import DemoBroker, open_demo_broker
from ._config import Behaviour, Kind, SiteConfig, load_config
from ._schedule import Skipped, down_time, fault_plan, run_faults, run_visits, visit_plan
from ._site import FAST, Site, open_site
from ._summary import Summary, check_disk, gather
from ._world import World

__all__ = ["DemoOptions", "run_demo"]

#: seconds the simulated Zigbee2MQTT may take to pair its locks (subscribe on the broker)
_SIMULATOR_TIMEOUT = 20.0


@final
@attrs.frozen(kw_only=True)
class DemoOptions:
    """The command line's choices."""

    duration: float = 60.0
    state_dir: Path
    mqtt: str | None = None
    broker: BrokerKind = BrokerKind.AUTO
    config: Path | None = None
    #: seconds an autolock timer runs; None: the config's, scaled to the duration
    autolock: float | None = None
    seed: int = 2026


async def run_demo(options: DemoOptions, board: Board) -> Summary:
    """Run the demo; returns its summary. SIGINT ends the run early, cleanly."""
    state = options.state_dir
    state.mkdir(parents=True, exist_ok=True, mode=0o700)
    config = load_config(options.config)
    previous = await _previous_run(state)
    board.run_number = int(previous.get("run", 0)) + 1
    board.state_dir = str(state)
    summary = Summary(run=board.run_number, seconds=0.0, stopped_by="duration", broker="")
    if board.run_number > 1 and previous.get("clean_exit") is True:
        summary.previous_timers = int(previous.get("timers_running", 0))
    stop = trio.CancelScope()  # ends the run: at --duration, or at Ctrl-C once the site is up
    startup = trio.CancelScope()  # ends everything: Ctrl-C before the site is up
    with trio.open_signal_receiver(signal.SIGINT) as signals:
        async with trio.open_nursery() as guard:
            guard.start_soon(_interrupt, signals, board, summary, (stop, startup))
            try:
                with startup:
                    snapshot = await _run(options, config, board, summary, stop)
            finally:
                guard.cancel_scope.cancel()
    if startup.cancelled_caught:
        summary.seconds = board.elapsed()
        return summary
    await check_disk(state, summary, snapshot)
    return summary


async def _interrupt(
    signals: AsyncIterator[int],
    board: Board,
    summary: Summary,
    scopes: tuple[trio.CancelScope, trio.CancelScope],
) -> None:
    stop, startup = scopes
    async for _ in signals:
        if stop.cancel_called or startup.cancel_called:
            continue  # stopping already: a second Ctrl-C does not cut the flush short
        summary.stopped_by = board.stopping = "Ctrl-C"  # the title says so until the end
        board.emit("info", "Ctrl-C: stopping cleanly (state is flushed, then the summary)")
        if board.ready:
            stop.cancel()
        else:
            summary.during_startup = True
            startup.cancel()


async def _previous_run(state: Path) -> dict[str, Any]:
    async with open_store(state / "site.json") as store:
        data = await store.load()
    return data if isinstance(data, dict) else {}


async def _run(
    options: DemoOptions, config: SiteConfig, board: Board, summary: Summary, stop: trio.CancelScope
) -> dict[str, Any]:
    state, duration = options.state_dir, options.duration
    autolock_seconds = options.autolock
    if autolock_seconds is None:
        autolock_seconds = max(2.0, config.autolock_seconds * duration / 60.0)
    with tempfile.TemporaryDirectory(prefix="trio-locksync-demo-") as scratch:
        async with (
            open_store(state / "hardware.json", max_delay=2.0) as hardware,
            open_demo_broker(options.broker, Path(scratch), external=options.mqtt) as broker,
            trio.open_nursery() as nursery,
        ):
            board.broker = f"{broker.kind} on {broker.host}:{broker.port}"
            summary.broker = board.broker
            world = World(config, await hardware.load(), seed=options.seed)
            await nursery.start(world.controller.serve)

            def save_hardware(_: object) -> None:
                hardware.delay_save(world.snapshot, 1.0)

            async with _simulator(broker) as z2m:
                with trio.move_on_after(_SIMULATOR_TIMEOUT) as pairing:
                    await world.add_zigbee_locks(z2m)
                if pairing.cancelled_caught:
                    raise BrokerError(
                        f"the simulated Zigbee2MQTT could not subscribe on {broker.host}:"
                        f"{broker.port} within {_SIMULATOR_TIMEOUT:g} s"
                    )
                board.listen(save_hardware)
                async with open_site(
                    config, board, world, broker, state, autolock_seconds=autolock_seconds
                ) as site:
                    board.ready = True
                    board.emit("info", f"site up: run {board.run_number}, state in {state}")
                    with stop:
                        stop.deadline = board.start + duration
                        await _play(site, world, broker, board, duration)
                    summary.seconds = board.elapsed()
                    board.stopping = summary.stopped_by
                    await gather(site, world, board, summary)
                    await site.save_now()
                # closed: no timer can fire any more, the file holds what is left running
                summary.tally = attrs.asdict(board.tally)
                summary.timers_at_exit = len(site.running)
                assert site.final_snapshot is not None
                snapshot = site.final_snapshot
                board.unlisten(save_hardware)
                await hardware.save(world.snapshot())
            nursery.cancel_scope.cancel()
    return snapshot


async def _play(
    site: Site, world: World, broker: DemoBroker, board: Board, duration: float
) -> None:
    """The schedule: faults the viewer sees coming, and people using the doors."""
    config = site.config

    async def controller_restart() -> str:
        down = down_time(duration, 0.04, 1.0)
        await world.controller_restart(down)
        return f"down {down:.1f} s; the stream replays every door on reconnect"

    async def lock_offline() -> str:
        offline = [s.name for s in config.locks if s.behaviour is Behaviour.OFFLINE]
        if not offline:
            raise Skipped("no lock with behaviour 'offline' in the config")
        name, down = offline[0], down_time(duration, 0.14, 2.0)
        world.virtual[name].online = False
        site.board.doors[name].reachable = False
        board.emit("info", f"{name} dropped off the network for {down:.1f} s")
        await trio.sleep(down)
        world.virtual[name].online = True
        site.board.doors[name].reachable = True
        # nothing tells the site: its engine's next re-probe (unreachable_retry) finds it
        board.emit("info", f"{name} rejoined the network; its engine re-probes it soon")
        return f"{name} offline {down:.1f} s, then back"

    async def broker_restart() -> str:
        if not broker.restartable:
            raise Skipped(f"the broker at {broker.host}:{broker.port} is not ours to restart")
        down = down_time(duration, 0.03, 1.0)
        await broker.restart(down)
        return f"{broker.kind} down {down:.1f} s"

    async def keypad_change() -> str:
        candidates = [
            s for s in config.locks if s.behaviour is Behaviour.READABLE and len(s.slots) > 1
        ]
        if not candidates:
            raise Skipped("no readable lock in the config")
        spec = sorted(candidates, key=lambda s: s.kind is not Kind.ZIGBEE)[0]
        slot = sorted(spec.slots)[1]
        try:
            world.keypad_change(spec.name, slot)
        except LockDisconnected as exc:  # pragma: no cover - the simulator's choice
            raise Skipped(str(exc)) from None
        return f"{spec.name} slot {slot} reprogrammed at the keypad; the site puts it back"

    acts = {
        "controller restart": controller_restart,
        "lock offline": lock_offline,
        "broker restart": broker_restart,
        "keypad change at the door": keypad_change,
    }
    names = [spec.name for spec in config.locks]
    last = [spec.name for spec in config.locks if spec.behaviour is Behaviour.READABLE]
    async with trio.open_nursery() as nursery:
        nursery.start_soon(run_faults, board, fault_plan(duration, acts))
        nursery.start_soon(
            run_visits,
            board,
            visit_plan(duration, names, last),
            world.keypad_unlock,
            world.manual_lock,
        )
        await trio.sleep_forever()


def _simulator(broker: DemoBroker) -> contextlib.AbstractAsyncContextManager[Zigbee2MqttSimulator]:
    """The simulated Zigbee2MQTT on ``broker``, speaking the broker's MQTT version."""
    return open_zigbee2mqtt_simulator(
        broker.host,
        broker.port,
        client_id="trio-locksync-demo-z2m",
        backoff=FAST,
        protocol=broker.protocol,
    )
