"""Helpers for the access-plan tests: a site of VirtualLocks with their engines and a plan, all
in virtual time (real files written inline on the trio thread), and a wall clock derived from
the trio clock."""

from __future__ import annotations

import datetime
from collections.abc import AsyncIterator, Collection, Mapping
from contextlib import AsyncExitStack, asynccontextmanager
from pathlib import Path
from typing import Any

import attrs
import trio

from tests.storehelpers import inline_store, run_inline
from trio_locksync import LockSync, VirtualLock, open_lock_sync
from trio_locksync.access import AccessPlan, open_access_plan

UTC = datetime.UTC
#: trio time 0 is this instant (a Monday, 00:00 UTC)
EPOCH = datetime.datetime(2026, 1, 5, tzinfo=UTC)


def wall(seconds: float) -> datetime.datetime:
    """The wall-clock instant of trio time ``seconds``."""
    return EPOCH + datetime.timedelta(seconds=seconds)


def at(when: datetime.datetime) -> float:
    """The trio time of wall-clock instant ``when``."""
    return (when - EPOCH).total_seconds()


def clock() -> datetime.datetime:
    return wall(trio.current_time())


def codes(lock: VirtualLock) -> dict[int, str]:
    """The lock's ground truth (slot → PIN digits), for assertions."""
    return dict(lock.codes)


@attrs.define
class Site:
    locks: dict[str, VirtualLock]
    syncs: dict[str, LockSync]
    plan: AccessPlan


@asynccontextmanager
async def open_site(
    tmp: Path,
    locks: Mapping[str, VirtualLock],
    *,
    tz: str = "UTC",
    slots: Collection[int] | Mapping[str, Collection[int]] = range(1, 11),
    own: Mapping[str, Mapping[int, str | None]] | None = None,
    **engine: Any,
) -> AsyncIterator[Site]:
    """Engines (operation_spacing 0.5 s, remembered on disk) and a plan over ``locks``;
    ``own`` gives slots an engine manages outside the plan."""
    engine.setdefault("operation_spacing", 0.5)
    async with AsyncExitStack() as stack:
        syncs: dict[str, LockSync] = {}
        for name, lock in locks.items():
            store = await stack.enter_async_context(inline_store(tmp / f"credentials-{name}.json"))
            fixed = dict((own or {}).get(name, {}))
            syncs[name] = await stack.enter_async_context(
                open_lock_sync(lock, fixed, store=store, **engine)
            )
        plan = await stack.enter_async_context(
            open_access_plan(
                tmp / "access.json", syncs, now=clock, tz=tz, slots=slots, run_blocking=run_inline
            )
        )
        yield Site(dict(locks), syncs, plan)
