"""The access benchmark's site and probes (``access_bench.py`` keeps the runs and the report).

* :func:`make_grants`: a seeded mix of grants with weekly windows — office hours, weekends,
  nights, split weeks, date-bounded stays and use-limited grants — distinct PINs.
* :func:`open_engines`: one engine per :class:`VirtualLock`, nothing managed at open,
  ``operation_spacing=0``, the engines' memory in memory.
* :func:`wall` / :func:`clock`: the plan's wall clock, derived from trio's (virtual) clock.
* :class:`InlineRunner`: the plan's store writes on the trio thread (virtual time holds), each
  timed on the real clock.
* :class:`GcPauses`: the garbage collector's pauses (``gc.callbacks``), real time.
* :class:`NamedStepTimer`: the harness's step timer, also naming the task of the longest step.
* :class:`TickTimer`: wraps one plan's edge step — ``_machine.tick(now)`` and the ``_apply``
  of its effects, the synchronous work of one wake-up of the plan's edge task — and times each
  on the real clock (internal attributes: this is a benchmark).
* :class:`Counters`: the plan's, the engines' and the locks' counters at one moment.
* :func:`holds_exactly_the_active_codes`: every lock holds exactly the PINs of the grants
  ACTIVE on it, in their slots, and nothing else.
"""

from __future__ import annotations

import datetime
import gc
import time
import zoneinfo
from collections import Counter
from collections.abc import AsyncIterator, Callable, Iterator, Mapping, Sequence
from contextlib import AsyncExitStack, asynccontextmanager, contextmanager
from dataclasses import dataclass, field, fields
from random import Random
from typing import Any, TypeVar

import trio
from _harness import StepTimer

from trio_locksync import LockSync, VirtualLock, open_lock_sync
from trio_locksync.access import AccessPlan, AccessState, Grant, Weekly

T = TypeVar("T")

#: the plan's time zone; the full run's month crosses its spring-forward day (2026-03-29)
TZ = "Europe/Berlin"
ZONE = zoneinfo.ZoneInfo(TZ)
#: trio time 0 (a Monday, midnight in Berlin)
EPOCH = datetime.datetime(2026, 3, 2, tzinfo=ZONE).astimezone(datetime.UTC)
#: slots per lock, and the plan's candidate range on each
LOCK_SLOTS = 1024
PLAN_SLOTS = range(1, LOCK_SLOTS + 1)
DAY = 86_400.0

#: the kinds of grant, and how many in 100 are of each kind
KINDS: dict[str, int] = {
    "office": 30,  # mon-fri, 8 h from 07:00-10:00
    "weekend": 15,  # sat,sun, 4 h from 09:00-12:00
    "night": 15,  # daily, overnight
    "split": 10,  # two windows: mon,wed,fri mornings and tue,thu afternoons
    "stay": 20,  # from one day 15:00 to another 11:00 (half of them 08:00-20:00 only)
    "limited": 10,  # uses 1-4 per lock, weekdays 08:00-18:00
}


def wall(seconds: float) -> datetime.datetime:
    """The wall-clock instant of trio time ``seconds``."""
    return EPOCH + datetime.timedelta(seconds=seconds)


def clock() -> datetime.datetime:
    """The plan's ``now=``: the wall clock of trio's current (virtual) time."""
    return wall(trio.current_time())


def _local(day: int, hour: int) -> datetime.datetime:
    """``hour``:00 local time (Berlin), ``day`` days after the epoch's date."""
    date = EPOCH.astimezone(ZONE).date() + datetime.timedelta(days=day)
    return datetime.datetime.combine(date, datetime.time(hour), tzinfo=ZONE)


def _weekly(*texts: str) -> list[Weekly]:
    return [Weekly.parse(text) for text in texts]


def make_grants(count: int, days: int, rng: Random) -> list[Grant]:
    """``count`` grants for every lock of the plan, each of a kind drawn from :data:`KINDS`."""
    pins = rng.sample(range(100_000, 1_000_000), count)
    kinds = rng.choices(list(KINDS), weights=list(KINDS.values()), k=count)
    grants = []
    for number, (kind, pin) in enumerate(zip(kinds, pins, strict=True)):
        name = f"{kind}-{number:04d}"
        options: dict[str, Any] = {}
        if kind == "office":
            opens = rng.randint(7, 10)
            options["weekly"] = _weekly(f"mon-fri {opens:02d}:00-{opens + 8:02d}:00")
        elif kind == "weekend":
            opens = rng.randint(9, 12)
            options["weekly"] = _weekly(f"sat,sun {opens:02d}:00-{opens + 4:02d}:00")
        elif kind == "night":
            opens = rng.randint(21, 23)
            options["weekly"] = _weekly(f"daily {opens:02d}:00-{opens - 16:02d}:00")
        elif kind == "split":
            options["weekly"] = _weekly("mon,wed,fri 09:00-12:00", "tue,thu 13:00-17:00")
        elif kind == "stay":
            arrives = rng.randrange(0, max(1, days - 1))
            options["starts"] = _local(arrives, 15)
            options["ends"] = _local(arrives + rng.randint(1, 5), 11)
            if rng.random() < 0.5:
                options["weekly"] = _weekly("daily 08:00-20:00")
        else:  # limited
            options["uses"] = rng.randint(1, 4)
            options["weekly"] = _weekly("mon-fri 08:00-18:00")
        grants.append(Grant(name, str(pin), **options))
    return grants


def kind_counts(grants: Sequence[Grant]) -> dict[str, int]:
    counts = Counter(grant.name.split("-", 1)[0] for grant in grants)
    return {kind: counts[kind] for kind in KINDS}


@asynccontextmanager
async def open_engines(
    locks: Mapping[str, VirtualLock], *, drift_interval: float
) -> AsyncIterator[dict[str, LockSync]]:
    """An engine per lock, managing nothing at open (the plan takes its slots)."""
    async with AsyncExitStack() as stack:
        syncs = {}
        for name, lock in locks.items():
            syncs[name] = await stack.enter_async_context(
                open_lock_sync(lock, {}, operation_spacing=0, drift_interval=drift_interval)
            )
        yield syncs


@dataclass
class InlineRunner:
    """The plan store's ``run_blocking``: on the trio thread (virtual time holds), each
    write's real time recorded."""

    calls: int = 0
    total_s: float = 0.0
    longest_s: float = 0.0

    async def __call__(self, fn: Callable[[], T], /) -> T:
        await trio.lowlevel.checkpoint()
        began = time.perf_counter()
        try:
            return fn()
        finally:
            took = time.perf_counter() - began
            self.calls += 1
            self.total_s += took
            self.longest_s = max(self.longest_s, took)


@dataclass
class GcPauses:
    """The garbage collector's pauses while :meth:`watching` (``gc.callbacks``), real time: a
    full collection over the site's millions of objects is a long step of whichever task
    happened to allocate."""

    collections: int = 0
    full: int = 0
    total_s: float = 0.0
    longest_s: float = 0.0
    _began: float = 0.0

    def __call__(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self._began = time.perf_counter()
            return
        took = time.perf_counter() - self._began
        self.collections += 1
        self.full += info["generation"] == 2
        self.total_s += took
        self.longest_s = max(self.longest_s, took)

    @contextmanager
    def watching(self) -> Iterator[None]:
        gc.callbacks.append(self)
        try:
            yield
        finally:
            gc.callbacks.remove(self)


class NamedStepTimer(StepTimer):
    """:class:`StepTimer` that also keeps the name of the task that took the longest step."""

    def __init__(self) -> None:
        super().__init__()
        self.longest_task = ""

    def after_task_step(self, task: trio.lowlevel.Task) -> None:
        longest = self.max_step
        super().after_task_step(task)
        if self.max_step > longest:
            self.longest_task = task.name


@dataclass
class Tick:
    """One wake-up of the edge task that applied edges: real seconds, edges, desires."""

    seconds: float
    #: of which ``_machine.tick(now)`` alone (the rest: the engines' ``set_desired``/``take``)
    machine_seconds: float
    edges: int
    desires: int


@dataclass
class TickTimer:
    """Times each ``_machine.tick(now)`` together with the ``_apply`` of its effects."""

    ticks: list[Tick] = field(default_factory=list)

    def attach(self, plan: AccessPlan) -> None:
        machine, interpreter = plan._machine, plan._interpreter
        tick, apply = machine.tick, plan._apply
        began: list[tuple[float, float, int, int]] = []

        def timed_tick(now: datetime.datetime) -> Any:
            start, edges = time.perf_counter(), machine.edges_applied
            effects = tick(now)
            began.append((start, time.perf_counter() - start, edges, interpreter.desires))
            return effects

        def timed_apply(effects: Any) -> Any:
            out = apply(effects)
            if began:  # the _apply right after a tick (_edges: self._apply(machine.tick(now)))
                start, in_machine, edges, desires = began.pop()
                edges = machine.edges_applied - edges
                if edges:
                    took = time.perf_counter() - start
                    desires = interpreter.desires - desires
                    self.ticks.append(Tick(took, in_machine, edges, desires))
            return out

        machine.tick = timed_tick  # type: ignore[method-assign]
        plan._apply = timed_apply  # type: ignore[method-assign]


@dataclass(frozen=True)
class Counters:
    """What the plan, the engines and the locks had counted at one moment."""

    edges: int
    desires: int
    saves: int
    uses_counted: int
    surveys: int
    slots_read: int
    engine_sets: int
    engine_clears: int
    engine_reads: int
    lock_writes: int
    lock_clears: int
    lock_reads: int

    @classmethod
    def of(
        cls, plan: AccessPlan, syncs: Mapping[str, LockSync], locks: Mapping[str, VirtualLock]
    ) -> Counters:
        plan_stats = plan.statistics()
        engines = [sync.statistics() for sync in syncs.values()]
        virtual = [lock.statistics() for lock in locks.values()]
        return cls(
            edges=plan_stats.edges,
            desires=plan_stats.desires,
            saves=plan_stats.saves,
            uses_counted=plan_stats.uses_counted,
            surveys=plan_stats.surveys,
            slots_read=plan_stats.slots_read,
            engine_sets=sum(s.sets for s in engines),
            engine_clears=sum(s.clears for s in engines),
            engine_reads=sum(s.reads for s in engines),
            lock_writes=sum(s.writes for s in virtual),
            lock_clears=sum(s.clears for s in virtual),
            lock_reads=sum(s.reads for s in virtual),
        )

    def minus(self, before: Counters) -> Counters:
        names = [f.name for f in fields(self)]
        return Counters(**{name: getattr(self, name) - getattr(before, name) for name in names})


def holds_exactly_the_active_codes(plan: AccessPlan, locks: Mapping[str, VirtualLock]) -> bool:
    """Every lock holds the PIN of each grant ACTIVE on it in that grant's slot, and no other
    code (nothing but the plan writes to these locks)."""
    expected: dict[str, dict[int, str]] = {lock: {} for lock in locks}
    for name in plan.grants():
        pin = plan.grant_of(name).pin.reveal()
        for lock, state in plan.status(name).items():
            if state is AccessState.ACTIVE:
                slot = plan.detail(name, lock).slot
                if slot is None:
                    return False
                expected[lock][slot] = pin
    return all(dict(lock.codes) == expected[name] for name, lock in locks.items())


def state_counts(plan: AccessPlan) -> dict[str, int]:
    """(grant, lock) pairs per state, by name, every state listed."""
    states = plan.statistics().states
    return {state.name: states.get(state, 0) for state in AccessState}


async def use_keypads(
    plan: AccessPlan, locks: Mapping[str, VirtualLock], every: float, rng: Random
) -> None:
    """Every ``every`` seconds someone with a use-limited grant that is ACTIVE on a lock
    unlocks that lock at its keypad (a grant and a lock drawn at random)."""
    limited = [name for name in plan.grants() if plan.grant_of(name).uses is not None]
    while True:
        await trio.sleep(every)
        open_now = [
            (name, lock)
            for name in limited
            for lock, state in plan.status(name).items()
            if state is AccessState.ACTIVE
        ]
        if open_now:
            name, lock = rng.choice(open_now)
            slot = plan.detail(name, lock).slot
            if slot is not None:
                locks[lock].keypad_unlock(slot)
