"""The checks made on the running site at the end of a demo run: the doors as the event stream
showed them against the controller, nothing dropped, no store write failed, and every slot in
sync against each lock's own record — the code the plan gave it there (or none), read from the
simulated lock itself, not from the site. PIN-free: compares, never says.

A check the run could not decide is "not checked", with why — never a loss: the doors when
the event stream had not re-synced by the end (a short run ends inside the controller's
restart), the locks' records when one could not be read in time."""

from __future__ import annotations

import collections
import logging

import trio

from ..access import AccessState
from ..core import LockSyncError, Pin
from ..credentials import SyncState
from ..eventstream import EventStreamStatus
from ._config import Behaviour, DemoOptions, behaviour_of
from ._follow import door_value
from ._runner import Site
from ._schema import LockKind
from ._summary import SiteFigures, Unsynced
from ._words import tidy
from ._world import World

__all__ = ["gather", "masked_remembered"]

logger = logging.getLogger("trio_locksync.demo")

#: seconds the reads of the Z-Wave mock's own record may take
_RECORD_TIMEOUT = 15.0


def masked_remembered(options: DemoOptions) -> list[str]:
    """The masked locks that keep their codes between runs (not the Z-Wave mock's)."""
    return [
        spec.name
        for spec in options.site.locks
        if behaviour_of(spec) is Behaviour.MASKED and spec.kind is not LockKind.ZWAVE
    ]


def wanted(site: Site, options: DemoOptions, lock: str) -> dict[int, Pin | None]:
    """Each slot of ``lock`` in sync, and what the plan wants it to hold: the grant's PIN
    while ACTIVE, else nothing."""
    pins = {spec.name: spec.pin for spec in options.site.grants}
    plan, slots = site.plan, {}
    for grant in plan.grants():
        if lock not in plan.status(grant):
            continue
        detail = plan.detail(grant, lock)
        if detail.slot is not None and detail.sync is SyncState.IN_SYNC:
            slots[detail.slot] = pins[grant] if detail.state is AccessState.ACTIVE else None
    return slots


#: the names of the checks that may go undecided
DOORS = "doors seen through the stream match the controller"
RECORDS = "every slot in sync holds what the plan gave it (each lock's own record)"


async def _records(
    site: Site,
    world: World,
    options: DemoOptions,
    checks: dict[str, bool],
    undecided: dict[str, str],
) -> tuple[int, int]:
    """Every slot in sync against its lock's own record: ``(checked, of them Z-Wave)``. A slot
    someone reprogrammed at the keypad that still holds their code is not checked: the engine
    has not read it since (it puts it back at its next read). A record that could not be read
    leaves the check undecided, unless another showed a loss."""
    checked = zwave = 0
    held = True
    unread: list[str] = []
    with trio.move_on_after(_RECORD_TIMEOUT) as timed:
        for lock in site.engines:
            slots = wanted(site, options, lock)
            if not slots:
                continue
            try:
                codes = await world.codes(lock, sorted(slots))
            except LockSyncError:
                logger.warning("the record of lock %s could not be read", lock, exc_info=True)
                unread.append(lock)
                continue
            for slot, pin in slots.items():
                code = codes.get(slot)
                if code is not None and world.reprogrammed.get((lock, slot)) == code:
                    continue  # changed at the keypad; the engine's next read has not come yet
                checked += 1
                zwave += options.site.lock(lock).kind is LockKind.ZWAVE
                if code != (None if pin is None else pin.reveal()):
                    held = False
                    what = "no code" if code is None else "a code" if pin is None else "another"
                    logger.warning("lock %s slot %d is in sync but holds %s", lock, slot, what)
    if not held:
        checks[RECORDS] = False
    elif timed.cancelled_caught:
        undecided[RECORDS] = f"the locks' records were not all read within {_RECORD_TIMEOUT:g} s"
    elif unread:
        undecided[RECORDS] = f"the record of {', '.join(unread)} could not be read"
    else:
        checks[RECORDS] = True
    return checked, zwave


async def gather(site: Site, world: World, options: DemoOptions) -> SiteFigures:
    """Figures and checks from the running site (waits up to 3 s for the doors the stream
    reports to be as the controller has them: a replay may still be on its way)."""
    records = site.reporter.records
    truth = {
        name: world.controller.nodes[node].value == door_value(True)
        for name, node in world.nodes.items()
        if name in world.virtual
    }

    def seen() -> bool:
        return {name: records.value.doors[name] for name in truth} == truth

    with trio.move_on_after(3):
        if not seen():
            async for _ in records.values():
                if seen():
                    break
    undecided: dict[str, str] = {}
    status = EventStreamStatus.CONNECTED if site.stream is None else site.stream.status
    if not seen() and status is not EventStreamStatus.CONNECTED:
        # the doors as the stream last saw them may be behind the controller: it cannot tell
        undecided[DOORS] = f"the event stream had not re-synced when the run ended: {status.name}"
    checks = {
        **({} if DOORS in undecided else {DOORS: seen()}),
        "no stream event dropped": site.stream is None or site.stream.statistics().dropped == 0,
        "no MQTT message dropped": site.bridge is None or site.bridge.statistics().dropped == 0,
        "no store write failed": site.reporter.store_figures().failures == 0,
    }
    total, in_sync, not_in_sync = 0, 0, []
    for name, engine in site.engines.items():
        for slot in engine.slots:
            total += 1
            state = engine.state(slot)
            if state is SyncState.IN_SYNC:
                in_sync += 1
            else:
                reason = engine.reason(slot)
                not_in_sync.append(Unsynced(name, slot, state.name, tidy(reason)))
    checked, zwave = await _records(site, world, options, checks, undecided)
    access: collections.Counter[str] = collections.Counter()
    for grant in site.plan.grants():
        access.update(state.name for state in site.plan.status(grant).values())
    masked = masked_remembered(options)
    writes = [site.engines[name].statistics() for name in masked if name in site.engines]
    return SiteFigures(
        slots_total=total,
        slots_in_sync=in_sync,
        not_in_sync=tuple(not_in_sync),
        masked_slots=sum(len(site.engines[name].slots) for name in masked),
        masked_writes=sum(stats.sets + stats.clears for stats in writes),
        checked=checked,
        zwave_checked=zwave,
        access=dict(access),
        checks=checks,
        not_checked=undecided,
    )
