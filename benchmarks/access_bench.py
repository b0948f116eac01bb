"""Benchmark of ``trio_locksync.access``: 1,000 grants on 20 locks with weekly windows, over a
simulated month.

Prints a Markdown report (for the README) and writes the same figures as JSON to
``benchmarks/results/access_bench.json`` (``access_bench-quick.json`` with ``--quick``).

The site (``_access_site.py``): ``--locks`` (20) :class:`VirtualLock` s of 1,024 slots, one
engine each (``open_lock_sync(lock, {}, operation_spacing=0, drift_interval=...)``, its memory
in memory), and one plan over them (``open_access_plan``, candidate slots 1-1,024, time zone
Europe/Berlin, its store on an inline ``run_blocking``: real, durable files written on the trio
thread). ``--grants`` (1,000) grants, every one for every lock, of six seeded kinds: office hours
(mon-fri, 8 h), weekends (sat,sun, 4 h), nights (daily, overnight), split weeks (two windows),
date-bounded stays (half of them 08:00-20:00 only), and use-limited grants (1-4 uses per lock,
weekdays). Everything runs in ``trio.run`` on ``MockClock(autojump_threshold=0)``: virtual time,
the plan's ``now=`` derived from ``trio.current_time()``, starting Monday 2026-03-02 00:00 in
Berlin; ``--days`` (30) crosses the spring-forward day (03-29). Real time is measured apart.

What is measured, and how:

1. **Granting**: the grants one ``await plan.grant(g)`` after another at t = 0, then
   ``wait_settled()``; real time of each part, the plan's saves and surveys, the locks' writes.
2. **The month**: ``trio.sleep_until(days)`` while a task unlocks a keypad every 15 min for a
   use-limited grant ACTIVE there; then ``wait_settled()``. *Edges*: ``statistics().edges`` (a
   grant's window opened or closed); *desires*: codes handed to engines; *writes*: the
   ``VirtualLock`` s' own writes + clears (and the engines' ``sets`` + ``clears``), per edge. At
   the end every lock must hold exactly the PINs of the grants ACTIVE on it (*verified*).
3. **The longest trio step**: the 1 ms heartbeat of ``_harness.watch_trio_thread`` cannot run
   under the mock clock (every sleep jumps it), so two probes on the real clock instead: the
   step timer (``StepTimer``: the longest single task step of any task, engines included) over
   the month, and the plan's own edge step (``TickTimer``: ``_machine.tick(now)`` plus the
   ``_apply`` of its effects, one wake-up of the edge task) — and the longest store write.
4. **Memory per grant**, in a run of its own under ``tracemalloc`` (``MemoryProbe``): bytes held
   after the grants settled minus before the first grant (site open), divided by the grants:
   the plan's records, the engines' slot machines (one per grant per lock) and the virtual
   locks' codes.
5. **Reopening** with that history: after the month the plan and the engines are closed; new
   engines (nothing managed) and ``open_access_plan`` on the same file, at the same virtual
   instant: real time of the open (load, restore, recompute at ``now``, hand every slot to its
   engine, save) and until ``wait_settled()`` (every engine read its slots; nothing written).
6. **Machine**: CPU, cores, kernel, Python, trio, the temp dir's filesystem (``_harness.py``).

Run ``python benchmarks/access_bench.py`` (full, minutes) or ``--quick`` (100 grants x 4 locks,
a week; seconds).
"""

from __future__ import annotations

import argparse
import gc
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from random import Random

import trio
import trio.testing
from _access_site import (
    DAY,
    EPOCH,
    LOCK_SLOTS,
    PLAN_SLOTS,
    TZ,
    ZONE,
    Counters,
    GcPauses,
    InlineRunner,
    NamedStepTimer,
    TickTimer,
    clock,
    holds_exactly_the_active_codes,
    kind_counts,
    make_grants,
    open_engines,
    state_counts,
    use_keypads,
)
from _harness import (
    Machine,
    MemoryProbe,
    Spread,
    bench_parser,
    blocks,
    describe_machine,
    instrumented,
    kib,
    machine_section,
    markdown,
    mode,
    ms,
    parse_bench_args,
    run_in_scratch,
    spread_table,
    table,
    tracing,
    yes,
)

from trio_locksync import VirtualLock
from trio_locksync.access import Grant, open_access_plan

#: how often someone unlocks with a use-limited grant, virtual seconds
KEYPAD_EVERY = 900.0
#: how many source files the memory breakdown lists
BREAKDOWN_FILES = 6


def _say(text: str) -> None:
    """A progress line on stderr (the report goes to stdout)."""
    print(f"  {text}", file=sys.stderr, flush=True)


async def _days(days: int) -> None:
    """Say each simulated day as it ends, with the real time so far."""
    began = time.perf_counter()
    for day in range(1, days + 1):
        await trio.sleep_until(day * DAY)
        _say(f"day {day} of {days} ({time.perf_counter() - began:.0f} s)")


def _locks(count: int) -> dict[str, VirtualLock]:
    return {f"door-{number:02d}": VirtualLock(slots=LOCK_SLOTS) for number in range(count)}


def _mock_clock() -> trio.testing.MockClock:
    return trio.testing.MockClock(autojump_threshold=0)


# -- results ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Setup:
    grants: int
    locks: int
    days: int
    slots_per_lock: int
    tz: str
    starts: str
    drift_interval_s: float
    kinds: dict[str, int]


@dataclass(frozen=True)
class Granting:
    grant_s: float
    settle_s: float
    longest_step_ms: float
    longest_step_task: str
    saves: int
    surveys: int
    slots_read: int
    lock_writes: int
    file_bytes: int


@dataclass(frozen=True)
class Month:
    wall_s: float
    cpu_s: float
    edges: int
    #: wake-ups of the edge task that applied at least one edge
    edge_steps: int
    desires: int
    engine_sets: int
    engine_clears: int
    engine_reads: int
    lock_writes: int
    lock_clears: int
    lock_reads: int
    desires_per_edge: float
    writes_per_edge: float
    uses_counted: int
    saves: int
    file_bytes: int
    states: dict[str, int]
    verified: bool
    longest_step_ms: float
    longest_step_task: str
    steps: int
    edge_step: Spread
    longest_edge_step_edges: int
    longest_edge_step_desires: int
    #: of the longest edge step, the time in ``_machine.tick`` (the rest: handing out desires)
    longest_edge_step_machine_ms: float
    #: the edge step that applied the most edges: its edges, desires and real time
    largest_edge_step_edges: int
    largest_edge_step_desires: int
    largest_edge_step_ms: float
    store_writes: int
    longest_store_write_ms: float
    store_write_total_s: float
    gc_collections: int
    gc_full: int
    gc_longest_ms: float
    gc_total_s: float


@dataclass(frozen=True)
class Memory:
    grants: int
    pairs: int
    held_bytes: int
    bytes_per_grant: float
    bytes_per_pair: float
    peak_bytes: int
    breakdown: list[tuple[str, int]]


@dataclass(frozen=True)
class Reopen:
    file_bytes: int
    open_ms: float
    settled_ms: float
    virtual_settle_s: float
    recovered: int
    engine_reads: int
    lock_writes: int
    longest_step_ms: float
    longest_step_task: str
    gc_longest_ms: float
    verified: bool


@dataclass(frozen=True)
class Report:
    mode: str
    seed: int
    machine: Machine
    setup: Setup
    granting: Granting
    month: Month
    reopen: Reopen
    memory: Memory


# -- 1-3, 5: granting, the month, reopening --------------------------------------------------


async def _month_run(
    grants: Sequence[Grant], locks: dict[str, VirtualLock], days: int, drift: float, tmp: Path
) -> tuple[Granting, Month, Reopen]:
    path = tmp / "access.json"
    runner = InlineRunner()
    async with (
        open_engines(locks, drift_interval=drift) as syncs,
        open_access_plan(
            path, syncs, now=clock, tz=TZ, slots=PLAN_SLOTS, run_blocking=runner
        ) as plan,
    ):
        timer = NamedStepTimer()
        _say(f"granting {len(grants):,} grants on {len(locks)} locks")
        with instrumented(timer):
            began = time.perf_counter()
            for grant in grants:
                await plan.grant(grant)
            granted = time.perf_counter()
            await plan.wait_settled()
            settled = time.perf_counter()
        before = Counters.of(plan, syncs, locks)
        granting = Granting(
            grant_s=granted - began,
            settle_s=settled - granted,
            longest_step_ms=ms(timer.max_step),
            longest_step_task=timer.longest_task,
            saves=before.saves,
            surveys=before.surveys,
            slots_read=before.slots_read,
            lock_writes=before.lock_writes,
            file_bytes=path.stat().st_size,
        )
        ticks, timer, pauses = TickTimer(), NamedStepTimer(), GcPauses()
        runner.calls, runner.total_s, runner.longest_s = 0, 0.0, 0.0  # the month's writes only
        ticks.attach(plan)
        gc.collect()
        wall0, cpu0 = time.perf_counter(), time.process_time()
        with instrumented(timer), pauses.watching():
            async with trio.open_nursery() as nursery:
                nursery.start_soon(use_keypads, plan, locks, KEYPAD_EVERY, Random(days))
                nursery.start_soon(_days, days)
                await trio.sleep_until(days * DAY)
                nursery.cancel_scope.cancel()
            await plan.wait_settled()
        wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
        done = Counters.of(plan, syncs, locks).minus(before)
        verified = holds_exactly_the_active_codes(plan, locks)
        states = state_counts(plan)
    longest = max(ticks.ticks, key=lambda tick: tick.seconds)
    largest = max(ticks.ticks, key=lambda tick: (tick.edges, tick.seconds))
    writes = done.lock_writes + done.lock_clears
    month = Month(
        wall_s=wall,
        cpu_s=cpu,
        edges=done.edges,
        edge_steps=len(ticks.ticks),
        desires=done.desires,
        engine_sets=done.engine_sets,
        engine_clears=done.engine_clears,
        engine_reads=done.engine_reads,
        lock_writes=done.lock_writes,
        lock_clears=done.lock_clears,
        lock_reads=done.lock_reads,
        desires_per_edge=done.desires / done.edges,
        writes_per_edge=writes / done.edges,
        uses_counted=done.uses_counted,
        saves=done.saves,
        file_bytes=path.stat().st_size,
        states=states,
        verified=verified,
        longest_step_ms=ms(timer.max_step),
        longest_step_task=timer.longest_task,
        steps=timer.steps,
        edge_step=Spread.of([tick.seconds for tick in ticks.ticks]),
        longest_edge_step_edges=longest.edges,
        longest_edge_step_desires=longest.desires,
        longest_edge_step_machine_ms=ms(longest.machine_seconds),
        largest_edge_step_edges=largest.edges,
        largest_edge_step_desires=largest.desires,
        largest_edge_step_ms=ms(largest.seconds),
        store_writes=runner.calls,
        longest_store_write_ms=ms(runner.longest_s),
        store_write_total_s=runner.total_s,
        gc_collections=pauses.collections,
        gc_full=pauses.full,
        gc_longest_ms=ms(pauses.longest_s),
        gc_total_s=pauses.total_s,
    )
    return granting, month, await _reopen(locks, drift, path)


async def _reopen(locks: dict[str, VirtualLock], drift: float, path: Path) -> Reopen:
    writes_before = sum(
        lock.statistics().writes + lock.statistics().clears for lock in locks.values()
    )
    virtual0 = trio.current_time()
    _say("reopening")
    async with open_engines(locks, drift_interval=drift) as syncs:
        timer, pauses = NamedStepTimer(), GcPauses()
        gc.collect()
        with instrumented(timer), pauses.watching():
            began = time.perf_counter()
            async with open_access_plan(
                path, syncs, now=clock, tz=TZ, slots=PLAN_SLOTS, run_blocking=InlineRunner()
            ) as plan:
                opened = time.perf_counter()
                await plan.wait_settled()
                settled = time.perf_counter()
                virtual = trio.current_time() - virtual0
                recovered = len(plan.recovered)
                reads = sum(sync.statistics().reads for sync in syncs.values())
                verified = holds_exactly_the_active_codes(plan, locks)
    writes = sum(lock.statistics().writes + lock.statistics().clears for lock in locks.values())
    return Reopen(
        file_bytes=path.stat().st_size,
        open_ms=ms(opened - began),
        settled_ms=ms(settled - began),
        virtual_settle_s=virtual,
        recovered=recovered,
        engine_reads=reads,
        lock_writes=writes - writes_before,
        longest_step_ms=ms(timer.max_step),
        longest_step_task=timer.longest_task,
        gc_longest_ms=ms(pauses.longest_s),
        verified=verified,
    )


def bench_month(
    grants: Sequence[Grant], n_locks: int, days: int, drift: float, tmp: Path
) -> tuple[Granting, Month, Reopen]:
    gc.collect()
    return trio.run(_month_run, grants, _locks(n_locks), days, drift, tmp, clock=_mock_clock())


# -- 4. memory -------------------------------------------------------------------------------


async def _memory_run(grants: Sequence[Grant], n_locks: int, drift: float, tmp: Path) -> Memory:
    locks = _locks(n_locks)
    async with (
        open_engines(locks, drift_interval=drift) as syncs,
        open_access_plan(
            tmp / "memory.json", syncs, now=clock, tz=TZ, slots=PLAN_SLOTS,
            run_blocking=InlineRunner(),
        ) as plan,
    ):  # fmt: skip
        probe = MemoryProbe()
        for grant in grants:
            await plan.grant(grant)
        await plan.wait_settled()
        held = probe.measure(BREAKDOWN_FILES)
    return Memory(
        grants=len(grants),
        pairs=len(grants) * n_locks,
        held_bytes=held.held_bytes,
        bytes_per_grant=held.held_bytes / len(grants),
        bytes_per_pair=held.held_bytes / (len(grants) * n_locks),
        peak_bytes=held.peak_bytes,
        breakdown=held.top_files,
    )


def bench_memory(grants: Sequence[Grant], n_locks: int, drift: float, tmp: Path) -> Memory:
    _say("memory (tracemalloc)")
    with tracing():
        return trio.run(_memory_run, grants, n_locks, drift, tmp, clock=_mock_clock())


# -- report ----------------------------------------------------------------------------------


def _task(result: Granting | Month | Reopen) -> str:
    """The task of the longest step, its name shortened (``LockSync._run``)."""
    name = result.longest_step_task
    return f"`{'.'.join(name.split('.')[-2:])}`" if name else "none"


def _setup_section(s: Setup, g: Granting) -> list[str]:
    kinds = ", ".join(f"{kind} {count}" for kind, count in s.kinds.items())
    intro = (
        f"{s.grants:,} grants, each for all {s.locks} locks ({s.grants * s.locks:,} grant x "
        f"lock pairs): {kinds}. `VirtualLock(slots={s.slots_per_lock})` per lock, one engine "
        f"each (`operation_spacing=0`, `drift_interval={s.drift_interval_s:g}`, memory in "
        f"memory), one plan (zone {s.tz}, store on the trio thread, durable writes). "
        f"{s.days} days of virtual time from {s.starts} (`MockClock(autojump_threshold=0)`, "
        "the plan's `now=` from `trio.current_time()`); real time measured apart."
    )
    rows = [
        ("granted one by one (real)", f"{g.grant_s:.2f} s"),
        ("then until settled (real)", f"{g.settle_s:.2f} s"),
        ("longest trio step while granting", f"{g.longest_step_ms:.1f} ms ({_task(g)})"),
        ("plan saves / surveys / slots read", f"{g.saves:,} / {g.surveys:,} / {g.slots_read:,}"),
        ("writes to the locks", f"{g.lock_writes:,}"),
        ("plan file", kib(g.file_bytes)),
    ]
    return blocks(intro, table(("granting", ""), rows))


def _month_section(m: Month, days: int) -> list[str]:
    engine = m.engine_sets + m.engine_clears
    rows = [
        ("edges applied (`statistics().edges`)", f"{m.edges:,}"),
        ("edge-task wake-ups that applied edges", f"{m.edge_steps:,}"),
        ("desires handed to engines (per edge)", f"{m.desires:,} ({m.desires_per_edge:.2f})"),
        (
            "writes to locks: sets + clears (per edge)",
            f"{m.lock_writes:,} + {m.lock_clears:,} ({m.writes_per_edge:.2f})",
        ),
        ("engine sets + clears", f"{m.engine_sets:,} + {m.engine_clears:,} = {engine:,}"),
        ("engine reads (drift, read-backs)", f"{m.engine_reads:,}"),
        ("keypad uses counted", f"{m.uses_counted:,}"),
        ("plan saves (store writes)", f"{m.saves:,} ({m.store_writes:,})"),
        ("plan file at the end", kib(m.file_bytes)),
        ("pairs by state at the end", ", ".join(f"{k} {v:,}" for k, v in m.states.items() if v)),
        ("every lock holds exactly the ACTIVE grants' codes", yes(m.verified)),
        (f"real time for {days} days (CPU)", f"{m.wall_s:.1f} s ({m.cpu_s:.1f} s)"),
    ]
    return table(("the month", ""), rows)


def _steps_section(m: Month) -> list[str]:
    intro = (
        "The heartbeat probe cannot run on the mock clock (its 1 ms sleeps would each jump "
        "virtual time), so these are real-clock timings of synchronous steps. *Edge step*: the "
        "plan's `_machine.tick(now)` and the `_apply` of its effects (every engine's "
        "`set_desired`/`take`), one wake-up of its edge task; *any task step*: `StepTimer`, the "
        "longest any task held the trio thread during the month (engines and store included); "
        "*store write*: encoding and writing the plan's file, on the trio thread here."
    )
    notes = (
        f"Longest edge step: {m.longest_edge_step_edges:,} edges, "
        f"{m.longest_edge_step_desires:,} desires; {m.longest_edge_step_machine_ms:.1f} ms of it "
        "in `_machine.tick`, the rest handing the desires to the engines. The step with the "
        f"most edges: {m.largest_edge_step_edges:,} edges, {m.largest_edge_step_desires:,} "
        f"desires, {m.largest_edge_step_ms:.1f} ms. Longest step of any task: "
        f"{m.longest_step_ms:.1f} ms, {_task(m)} (of {m.steps:,} steps). Longest store write: "
        f"{m.longest_store_write_ms:.1f} ms ({m.store_writes:,} writes, "
        f"{m.store_write_total_s:.1f} s in all). The garbage collector: {m.gc_collections:,} "
        f"collections ({m.gc_full:,} full), longest pause {m.gc_longest_ms:.1f} ms, "
        f"{m.gc_total_s:.1f} s in all — a pause lands in whichever step allocated."
    )
    return blocks(intro, spread_table("edge step", [("tick + apply", m.edge_step)]), notes)


def _memory_section(r: Memory) -> list[str]:
    intro = (
        "`tracemalloc` bytes held after the grants settled minus before the first grant (site "
        "open), after `gc.collect()`, in a run of its own: the plan's records, one engine slot "
        "per grant per lock, the virtual locks' codes."
    )
    rows = [
        (
            f"{r.grants:,}",
            f"{r.pairs:,}",
            kib(r.held_bytes),
            f"{r.bytes_per_grant:,.0f}",
            f"{r.bytes_per_pair:,.0f}",
            kib(r.peak_bytes),
        )
    ]
    header = ("grants", "pairs", "held", "bytes / grant", "bytes / pair", "peak")
    shares = ", ".join(f"`{file}` {size / r.grants:,.0f}" for file, size in r.breakdown)
    return blocks(intro, table(header, rows), f"Bytes per grant by source file: {shares}.")


def _reopen_section(r: Reopen) -> list[str]:
    rows = [
        ("plan file", kib(r.file_bytes)),
        ("`open_access_plan` entered (real)", f"{r.open_ms:,.0f} ms"),
        ("until `wait_settled()` (real)", f"{r.settled_ms:,.0f} ms"),
        ("virtual time until settled", f"{r.virtual_settle_s:g} s"),
        ("edges recovered at open", f"{r.recovered:,}"),
        ("engine reads / writes to locks", f"{r.engine_reads:,} / {r.lock_writes:,}"),
        ("longest trio step", f"{r.longest_step_ms:,.0f} ms ({_task(r)})"),
        ("longest garbage-collector pause", f"{r.gc_longest_ms:,.0f} ms"),
        ("every lock holds exactly the ACTIVE grants' codes", yes(r.verified)),
    ]
    intro = (
        "The plan and its engines closed after the month; new engines (nothing managed) and "
        "the plan reopened on the same file at the same instant."
    )
    return blocks(intro, table(("reopening", ""), rows))


def render_markdown(report: Report) -> str:
    s = report.setup
    return markdown(
        f"## Access plan benchmark ({report.mode}, seed {report.seed})",
        machine_section(report.machine),
        f"### {s.grants:,} grants x {s.locks} locks",
        _setup_section(s, report.granting),
        f"### {s.days} days of edges",
        _month_section(report.month, s.days),
        "### The longest trio step",
        _steps_section(report.month),
        "### Memory per grant",
        _memory_section(report.memory),
        "### Opening a plan with that history",
        _reopen_section(report.reopen),
    )


# -- command line ----------------------------------------------------------------------------


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = bench_parser(__doc__, quick="100 grants x 4 locks over a week", seed=1, tmp_dir=True)
    parser.add_argument("--grants", type=int, help="grants (default 1000; quick 100)")
    parser.add_argument("--locks", type=int, help="locks (default 20; quick 4)")
    parser.add_argument("--days", type=int, help="virtual days (default 30; quick 7)")
    parser.add_argument(
        "--drift-interval", type=float, default=3600.0, help="the engines' drift_interval, s"
    )
    args = parse_bench_args(parser, "access_bench", argv)
    args.grants = args.grants or (100 if args.quick else 1_000)
    args.locks = args.locks or (4 if args.quick else 20)
    args.days = args.days or (7 if args.quick else 30)
    if args.grants > LOCK_SLOTS:
        parser.error(f"at most {LOCK_SLOTS} grants (slots per lock)")
    return args


def run(args: argparse.Namespace, tmp_dir: Path) -> Report:
    grants = make_grants(args.grants, args.days, Random(args.seed))
    granting, month, reopen = bench_month(
        grants, args.locks, args.days, args.drift_interval, tmp_dir
    )
    memory = bench_memory(grants, args.locks, args.drift_interval, tmp_dir)
    return Report(
        mode=mode(args),
        seed=args.seed,
        machine=describe_machine(tmp_dir),
        setup=Setup(
            grants=args.grants,
            locks=args.locks,
            days=args.days,
            slots_per_lock=LOCK_SLOTS,
            tz=TZ,
            starts=EPOCH.astimezone(ZONE).isoformat(),
            drift_interval_s=args.drift_interval,
            kinds=kind_counts(grants),
        ),
        granting=granting,
        month=month,
        reopen=reopen,
        memory=memory,
    )


def main(argv: Sequence[str] | None = None) -> int:
    return run_in_scratch("access_bench", parse_args(argv), run, render_markdown)


if __name__ == "__main__":
    sys.exit(main())
