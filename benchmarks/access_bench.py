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

The results and their Markdown are in ``_access_report.py``. Run
``python benchmarks/access_bench.py`` (full: about half an hour on 2 cores, most of it the
month and the memory run under tracemalloc) or ``--quick`` (100 grants x 4 locks,
a week; seconds).
"""

from __future__ import annotations

import argparse
import gc
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from random import Random

import trio
import trio.testing
from _access_report import Granting, Memory, Month, Reopen, Report, Setup, render_markdown
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
    MemoryProbe,
    Spread,
    bench_parser,
    describe_machine,
    instrumented,
    mode,
    ms,
    parse_bench_args,
    run_in_scratch,
    tracing,
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
