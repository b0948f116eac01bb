"""``open_access_plan``: the plan's file opened, its grants restored and brought to ``now``,
its tasks started in a nursery that the block owns."""

from __future__ import annotations

import datetime
import logging
import os
import zoneinfo
from collections.abc import AsyncIterator, Collection, Iterable, Mapping
from contextlib import asynccontextmanager

from ..core import Backoff, RunBlocking, open_service_nursery, require_trio
from ..credentials import LockSync
from ..store import StoreCorruptError, open_store
from ._machine import PlanMachine
from ._plan import SURVEY_RETRY, AccessPlan, Clock
from ._slots import SlotFinder

__all__ = ["open_access_plan", "utc_now"]

logger = logging.getLogger("trio_locksync.access")

#: the plan's file format
_VERSION = 1


def utc_now() -> datetime.datetime:
    """The default wall clock: an aware UTC datetime."""
    return datetime.datetime.now(datetime.UTC)


def _zone(tz: str | datetime.tzinfo) -> datetime.tzinfo:
    if isinstance(tz, datetime.tzinfo):
        return tz
    try:
        return zoneinfo.ZoneInfo(tz)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown time zone {tz!r}") from None


def _ranges(
    slots: Collection[int] | Mapping[str, Collection[int]], locks: Iterable[str]
) -> dict[str, tuple[int, ...]]:
    out: dict[str, tuple[int, ...]] = {}
    for lock in locks:
        chosen = slots.get(lock, range(1, 31)) if isinstance(slots, Mapping) else slots
        values = tuple(sorted(set(chosen)))
        if not values or not all(isinstance(s, int) and s >= 0 for s in values):
            raise ValueError(f"slots for lock {lock!r} must be non-negative ints")
        out[lock] = values
    return out


@asynccontextmanager
async def open_access_plan(
    path: os.PathLike[str] | str,
    syncs: Mapping[str, LockSync],
    *,
    now: Clock = utc_now,
    tz: str | datetime.tzinfo = "UTC",
    slots: Collection[int] | Mapping[str, Collection[int]] = range(1, 31),
    survey_batch: int = 4,
    resurvey_interval: float = 3600.0,
    survey_retry: Backoff = SURVEY_RETRY,
    run_blocking: RunBlocking | None = None,
) -> AsyncIterator[AccessPlan]:
    """Keep the locks' slots as the plan's grants say, for the duration of the block.

    ``syncs`` maps each lock's name to its :class:`~trio_locksync.LockSync` (opened by you,
    alive longer than this block; slots it was opened with stay yours — the plan never touches
    them). ``path`` is the plan's file: grants, the slot each holds on each lock, uses left,
    and the state last applied (owner-only: it holds PINs). ``now`` is the wall clock (an aware
    datetime), ``tz`` the zone weekly hours are read in. ``slots`` are the candidate slots the
    plan may allocate (one range for every lock, or lock → range; default 1-30); a candidate is
    surveyed (read) only when a grant needs a slot, ``survey_batch`` at a time, and one read
    occupied is skipped until the range runs out (then re-read at most once per
    ``resurvey_interval`` seconds). ``survey_retry`` (a :class:`~trio_locksync.Backoff`; default
    30 s doubling to 30 min) paces the retries of a lock that could not be surveyed.

    On open, every grant's state is recomputed at ``now``: an edge that passed while the plan
    was closed is applied at once (listed in ``AccessPlan.recovered``), one already applied
    is not applied again. A corrupt file raises :class:`~trio_locksync.StoreCorruptError` before
    anything is written.
    """
    require_trio("open_access_plan()")
    if not syncs:
        raise ValueError("an access plan needs at least one lock")
    for lock, sync in syncs.items():
        if not isinstance(lock, str) or not lock:
            raise TypeError("lock names must be non-empty strings")
        if not isinstance(sync, LockSync):
            raise TypeError(f"lock {lock!r}: expected a LockSync, got {type(sync).__name__}")
    zone = _zone(tz)
    ranges = _ranges(slots, syncs)
    if not isinstance(survey_retry, Backoff):
        raise TypeError("survey_retry must be a Backoff")
    if survey_batch < 1 or not resurvey_interval > 0:
        raise ValueError("survey_batch must be >= 1 and resurvey_interval positive")
    syncs = dict(syncs)
    machine = PlanMachine(list(syncs), zone)
    async with open_store(path, version=_VERSION, run_blocking=run_blocking) as store:
        raw = await store.load()
        if raw is not None and not isinstance(raw, dict):
            raise StoreCorruptError(store.path, "not an access plan (no mapping of grants)")
        finders = {
            lock: SlotFinder(ranges[lock], batch=survey_batch, resurvey_interval=resurvey_interval)
            for lock in syncs
        }
        plan = AccessPlan._create(syncs, machine, store, now, finders, survey_retry)
        if raw is not None:
            # the slots each engine was opened with are its owner's, whatever the file says
            reserved = {lock: set(sync.slots) for lock, sync in syncs.items()}
            try:
                plan.dropped = machine.restore(raw, reserved)
            except ValueError:
                raise StoreCorruptError(store.path, "not an access plan (grants, pool)") from None
            if plan.dropped:
                logger.warning(
                    "access plan: %d malformed grant(s) dropped from the file", plan.dropped
                )
            _warn_uncounted(machine, syncs)
        moves = [c for c in plan._apply(machine.resume(now())) if c.reason != "restored"]
        plan.recovered = tuple(moves)
        await plan._save()
        try:
            async with open_service_nursery() as nursery:
                nursery.start_soon(plan._edges)
                for lock, sync in syncs.items():
                    nursery.start_soon(plan._find_slots, lock)
                    if sync.reports_events:
                        # Subscribed before the block runs: an unlock just after open counts.
                        nursery.start_soon(plan._count_uses, lock, sync.events())
                try:
                    yield plan
                finally:
                    nursery.cancel_scope.cancel()
        finally:
            plan._close()
            if plan._interpreter.dirty:
                plan._interpreter.dirty = False
                store.delay_save(machine.to_json, 0.0)


def _warn_uncounted(machine: PlanMachine, syncs: Mapping[str, LockSync]) -> None:
    """A use-limited grant restored onto a lock that no longer reports unlocks: say so."""
    for name in machine.names():
        for lock, a in machine.assignments(name).items():
            if a.uses_left is not None and not syncs[lock].reports_events:
                logger.warning(
                    "grant %r: lock %s does not report keypad unlocks; its uses cannot be "
                    "counted there",
                    name,
                    lock,
                )
