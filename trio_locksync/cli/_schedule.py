"""What happens when: the faults the viewer sees coming (controller restart, lock offline,
broker restart, keypad change at the door) and the people using the doors, on a schedule
compressed to ``--duration`` — a 15 s run shows every fault once, as a 60 s run does. Each
fault is reported as it comes, happens and is done."""

from __future__ import annotations

import itertools
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import final

import attrs
import trio

from ..access import AccessState
from ..core import LockSyncError
from ..credentials import LockDisconnected, SyncState
from ..testing import MqttBroker
from ._config import Behaviour, DemoOptions, behaviour_of
from ._events import DemoEvent, FaultChanged, FaultsPlanned, FaultState, Info, LockReachable
from ._runner import Site
from ._schema import LockKind
from ._world import World

__all__ = ["Fault", "Skipped", "Visit", "codes_on", "fault_plan", "play", "visit_plan"]


@final
@attrs.frozen
class Fault:
    """A fault at ``at`` seconds; ``act`` does it and returns a note (or raises
    :class:`Skipped`)."""

    at: float
    label: str
    act: Callable[[], Awaitable[str]]


class Skipped(Exception):
    """The fault cannot be done in this setup (e.g. a broker we did not start)."""


#: where each fault falls, as a fraction of the run; the rest of the run shows recovery
FAULT_AT = {
    "controller restart": 0.18,
    "lock offline": 0.32,
    "broker restart": 0.50,
    "keypad change at the door": 0.66,
}


def fault_plan(duration: float, acts: Mapping[str, Callable[[], Awaitable[str]]]) -> list[Fault]:
    return [Fault(duration * FAULT_AT[label], label, acts[label]) for label in FAULT_AT]


def down_time(duration: float, fraction: float, least: float) -> float:
    """How long a fault lasts: ``fraction`` of the run, at least ``least`` seconds."""
    return max(least, duration * fraction)


async def run_faults(
    start: float, faults: Sequence[Fault], publish: Callable[[DemoEvent], None]
) -> None:
    """Do each fault at ``start`` + its time, reporting it coming, happening and done."""
    publish(FaultsPlanned(tuple((fault.at, fault.label) for fault in faults)))
    async with trio.open_nursery() as nursery:
        for index, fault in enumerate(faults):
            nursery.start_soon(_one_fault, start, index, fault, publish)


async def _one_fault(
    start: float, index: int, fault: Fault, publish: Callable[[DemoEvent], None]
) -> None:
    await trio.sleep_until(start + fault.at)
    publish(FaultChanged(index, FaultState.NOW))
    try:
        note = await fault.act()
    except Skipped as skipped:
        publish(FaultChanged(index, FaultState.SKIPPED, str(skipped)))
    else:
        publish(FaultChanged(index, FaultState.DONE, note))


@final
@attrs.frozen
class Visit:
    """Someone opens door ``lock`` with a code at ``at``; locks it by hand after ``then`` s
    (or leaves it to the autolock: None)."""

    at: float
    lock: str
    then: float | None


def visit_plan(duration: float, locks: Sequence[str], last: Sequence[str]) -> list[Visit]:
    """Ten visits spread over the run, every third locked by hand again soon after; then the
    ``last`` doors opened at 90 % of the run, so timers are still running when it ends (the
    next run resumes them, or fires those that expired meanwhile)."""
    step = duration / 11
    visits = [
        Visit(step * (n + 0.5), lock, min(step * 0.6, 2.0) if n % 3 == 2 else None)
        for n, lock in zip(range(10), itertools.cycle(locks), strict=False)
    ]
    visits += [Visit(duration * 0.9, lock, None) for lock in last]
    return visits


async def run_visits(
    start: float,
    visits: Sequence[Visit],
    unlock: Callable[[str], Awaitable[None]],
    lock: Callable[[str], Awaitable[None]],
) -> None:
    for visit in visits:
        await trio.sleep_until(start + visit.at)
        await unlock(visit.lock)
        if visit.then is not None:
            await trio.sleep(visit.then)
            await lock(visit.lock)


def codes_on(site: Site, lock: str, *, verified: bool = True) -> list[int]:
    """The slots of ``lock`` where the plan puts an active grant's code (``verified``: and the
    engine verified it is there): the users whose code opens the door now."""
    plan, users = site.plan, []
    for grant in plan.grants():
        if lock not in plan.status(grant):
            continue
        detail = plan.detail(grant, lock)
        if detail.state is AccessState.ACTIVE and (
            detail.sync is SyncState.IN_SYNC or (not verified and detail.slot is not None)
        ):
            assert detail.slot is not None
            users.append(detail.slot)
    return sorted(users)


async def play(
    site: Site, world: World, options: DemoOptions, broker: MqttBroker, start: float
) -> None:
    """The schedule from ``start`` on, until cancelled: faults the viewer sees coming, and
    people using the doors with the codes the plan gave them."""
    publish = site.publish
    duration, locks = options.duration, site.config.locks

    async def controller_restart() -> str:
        down = down_time(duration, 0.04, 1.0)
        await world.controller_restart(down)
        return f"down {down:.1f} s; the stream replays every door on reconnect"

    async def lock_offline() -> str:
        offline = [s.name for s in locks if behaviour_of(s) is Behaviour.OFFLINE]
        if not offline:
            raise Skipped("no lock with behaviour 'offline' in the config")
        name, down = offline[0], down_time(duration, 0.14, 2.0)
        world.virtual[name].online = False
        publish(LockReachable(name, False))
        publish(Info(f"{name} dropped off the network for {down:.1f} s"))
        await trio.sleep(down)
        world.virtual[name].online = True
        publish(LockReachable(name, True))
        # nothing tells the site: its engine's next re-probe (unreachable_retry) finds it
        publish(Info(f"{name} rejoined the network; its engine re-probes it soon"))
        return f"{name} offline {down:.1f} s, then back"

    async def broker_restart() -> str:
        if not broker.restartable:
            raise Skipped(f"the broker at {broker.host}:{broker.port} is not ours to restart")
        down = down_time(duration, 0.03, 1.0)
        await broker.restart(down)
        return f"{broker.kind.value} down {down:.1f} s"

    async def keypad_change() -> str:
        candidates = [
            s
            for s in locks
            if behaviour_of(s) is Behaviour.READABLE and s.kind is not LockKind.ZWAVE
        ]
        if not candidates:
            raise Skipped("no readable lock in the config")
        spec = sorted(candidates, key=lambda s: s.kind is not LockKind.ZIGBEE2MQTT)[0]
        held = codes_on(site, spec.name, verified=False)
        if not held:
            raise Skipped(f"no code on {spec.name} yet")
        slot = held[-1]
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

    async def at_the_door(
        name: str, act: Callable[[str, int], Awaitable[None]], *, code: bool
    ) -> None:
        """``act`` at door ``name`` as one of the users whose code is on it (a Z-Wave lock
        is locked at its keypad too: by a user)."""
        zwave = name in world.zwave.nodes
        if zwave and not world.zwave.is_up():
            publish(Info(f"a visit to {name} skipped: its Z-Wave lock is not up"))
            return
        users = codes_on(site, name)
        if (code or zwave) and not users:
            publish(Info(f"a visit to {name} skipped: nobody's code is on it yet"))
            return
        try:
            await act(name, world.rng.choice(users) if users else 0)
        except LockSyncError as exc:  # the mock's control refused (a Z-Wave lock closing)
            publish(Info(f"a visit to {name} failed: {exc}"))

    async def unlock(name: str) -> None:
        await at_the_door(name, world.keypad_unlock, code=True)

    async def lock(name: str) -> None:
        await at_the_door(name, world.manual_lock, code=False)

    names = [spec.name for spec in locks]
    last = [spec.name for spec in locks if behaviour_of(spec) is Behaviour.READABLE]
    async with trio.open_nursery() as nursery:
        nursery.start_soon(run_faults, start, fault_plan(duration, acts), publish)
        nursery.start_soon(
            run_visits,
            start,
            visit_plan(duration, names, last),
            unlock,
            lock,
        )
