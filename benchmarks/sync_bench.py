"""Benchmark of ``trio_locksync.credentials``: how fast a fleet of locks converges, in virtual
time, and what each slot operation costs in real CPU.

Prints a Markdown report (for the README) and writes the same figures as JSON to
``benchmarks/results/sync_bench.json`` (``sync_bench-quick.json`` with ``--quick``).

What is measured, and how:

* ``--locks`` (100) :class:`VirtualLock` s of ``--slots`` (30) slots each, initially empty, every
  slot wanting its own PIN (distinct within the lock). One engine per lock
  (``open_lock_sync(lock, slots, operation_spacing=2.0)``, every other option at its default:
  pending_ttl 60 s, retry 2 s, breaker 3 failures in 300 s), all of them in one ``trio.run``
  on :class:`trio.testing.MockClock` (``autojump_threshold=0``): virtual time, so a run of
  minutes of lock time takes a second or two of real time.
* Latency: ``VirtualLock`` takes one fixed ``latency`` per lock, so each lock draws its own,
  uniform in 20-200 ms (seeded), used for every operation on it.
* Cases: a clean lock (every write lands and is CONFIRMED); 20 % ambiguous answers (OPTIMISTIC,
  the write did land: each costs a read-back of that slot); and 20 % ambiguous answers with
  10 % lost writes (a lost write always answers OPTIMISTIC; the read-back finds the slot empty,
  so the slot waits out ``pending_ttl``, is charged once and written again; three charges in
  the breaker window suspend it); and the same from a provider that promises its reads follow
  its writes (``reads_follow_writes``, issue 24: the empty read-back proves the write lost, so
  it is charged and written again at the next operation).
* Two cases of a misbehaving lock (issue 9), each watched for ``HORIZON`` (120 s) of virtual
  time with a full re-read every 3 s (``drift_interval=3``): a *lagging lock* that reads a
  just-written slot as empty for 10 s (cloud-synced locks; every write lands and is CONFIRMED),
  and a *provider raising* ``RuntimeError`` on every full read (a provider bug). For these the
  table also gives writes per slot and the log records the engine wrote (``trio_locksync``
  loggers) per lock.
* Per lock, the virtual time at which ``engine.wait_settled()`` returns (every slot IN_SYNC or
  SUSPENDED); the fleet's time is the latest of them ("never" if a lock had not settled by the
  horizon). Each lock's engine is then closed (the two misbehaving cases first run to the
  horizon).
  *Verified* counts the IN_SYNC slots whose PIN the lock really holds (``lock.codes``).
* Lower bound: one operation at a time per lock, at least ``operation_spacing`` apart, the
  first being the initial full read at t = 0: the last of the 30 writes cannot start before
  30 x 2.0 = 60 s and ends after that lock's latency. Locks run in parallel, so the fleet's
  bound is 60 s plus the largest latency.
* CPU: ``time.process_time()`` around the whole ``trio.run`` (setup, engines, virtual locks,
  the MockClock's jumps) divided by the total ``operations`` of all engines'
  ``statistics()`` (full reads, read-backs, sets): CPU seconds per slot operation.
* Machine: CPU, cores, kernel, Python and trio versions (``_harness.py``).

Run ``python benchmarks/sync_bench.py`` (full, a few seconds) or ``--quick``.
"""

from __future__ import annotations

import argparse
import logging
import math
import statistics
import sys
import time
from collections.abc import AsyncIterator, Collection, Sequence
from dataclasses import dataclass, field
from random import Random

import trio
import trio.testing
from _harness import (
    RESULTS_DIR,
    Machine,
    bench_parser,
    blocks,
    describe_machine,
    machine_section,
    markdown,
    mode,
    parse_bench_args,
    publish,
    table,
)

from trio_locksync import Pin
from trio_locksync.credentials import SlotCredential, SlotUpdate, SyncState
from trio_locksync.credentials._engine import open_lock_sync
from trio_locksync.testing import VirtualLock

LATENCY_RANGE = (0.020, 0.200)
#: how long the misbehaving-lock cases are watched, virtual seconds
HORIZON = 120.0
LAG = 10.0


@dataclass(frozen=True)
class Case:
    label: str
    optimistic: float
    write_lands: float
    #: seconds a just-written slot reads back empty (0: none)
    lag: float = 0.0
    #: every full read raises RuntimeError
    raising: bool = False
    #: the provider promises that its reads follow its writes (issue 24: an empty read-back
    #: then proves a write lost, rewritten at the next operation instead of after pending_ttl)
    follows: bool = False

    @property
    def watched(self) -> bool:
        """Run to :data:`HORIZON` with a re-read every 3 s instead of stopping at settle."""
        return self.lag > 0 or self.raising


CASES = (
    Case("clean (all CONFIRMED)", optimistic=0.0, write_lands=1.0),
    Case("20 % ambiguous", optimistic=0.2, write_lands=1.0),
    Case("20 % ambiguous + 10 % lost", optimistic=0.2, write_lands=0.9),
    Case("20 % ambiguous + 10 % lost, reads follow writes", 0.2, 0.9, follows=True),
    Case(f"lagging lock ({LAG:g} s empty after a write)", 0.0, 1.0, lag=LAG),
    Case("provider raising on every full read", 0.0, 1.0, raising=True),
)


class _Misbehaving:
    """A provider around a VirtualLock that lags after writes or raises on full reads (written
    as a wrapper, so this benchmark also runs against engines older than VirtualLock.lag), or
    that promises its reads follow its writes (a VirtualLock's do: it never lags by itself)."""

    def __init__(self, lock: VirtualLock, case: Case) -> None:
        self.lock = lock
        self.case = case
        self.written_at: dict[int, float] = {}
        self.reads_follow_writes = case.follows

    @property
    def supports_push(self) -> bool:
        return False

    async def read_slots(self, slots: Collection[int] | None = None) -> dict[int, SlotCredential]:
        if slots is None and self.case.raising:
            await trio.lowlevel.checkpoint()
            raise RuntimeError("provider bug")
        result = await self.lock.read_slots(slots)
        now = trio.current_time()
        for slot in result:
            if now < self.written_at.get(slot, -math.inf) + self.case.lag:
                result[slot] = SlotCredential.empty()
        return result

    async def set_code(self, slot: int, pin: Pin) -> object:
        answer = await self.lock.set_code(slot, pin)
        self.written_at[slot] = trio.current_time()
        return answer

    async def clear_code(self, slot: int) -> object:
        return await self.lock.clear_code(slot)

    def updates(self) -> AsyncIterator[SlotUpdate]:  # pragma: no cover - push is off
        raise NotImplementedError


class _CountRecords(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.count = 0

    def emit(self, record: logging.LogRecord) -> None:
        self.count += 1


@dataclass
class CaseResult:
    label: str
    optimistic: float
    write_lands: float
    locks: int
    slots_per_lock: int
    spacing_s: float
    lower_bound_s: float  # 30 x spacing + the largest latency
    settle_max_s: float  # the whole fleet settled
    settle_median_s: float
    settle_min_s: float
    over_bound_pct: float
    in_sync: int
    verified: int  # IN_SYNC and the lock really holds the PIN
    suspended: int
    other: int
    operations: int
    sets: int
    reads: int
    optimistic_answers: int
    confirmed_by_read: int
    slot_failures: int
    lost_writes: int
    cpu_s: float
    wall_s: float
    cpu_us_per_operation: float
    writes_per_slot: float
    log_records_per_lock: float


@dataclass
class Report:
    mode: str
    seed: int
    machine: Machine
    cases: list[CaseResult] = field(default_factory=list)


@dataclass
class _LockOutcome:
    settled_at: float
    states: list[SyncState]
    verified: int
    operations: int
    sets: int
    reads: int
    optimistic: int
    confirmed_by_read: int
    slot_failures: int
    lost_writes: int
    latency: float


async def _one_lock(
    case: Case, slots: int, spacing: float, seed: int, outcomes: list[_LockOutcome]
) -> None:
    rng = Random(seed)
    latency = rng.uniform(*LATENCY_RANGE)
    lock = VirtualLock(
        slots=slots,
        latency=latency,
        optimistic=case.optimistic,
        write_lands=case.write_lands,
        seed=rng.getrandbits(32),
    )
    pins = {
        slot: str(code)
        for slot, code in zip(
            range(1, slots + 1), rng.sample(range(100_000, 1_000_000), slots), strict=True
        )
    }
    provider = _Misbehaving(lock, case) if case.watched or case.follows else lock
    options = {"drift_interval": 3.0} if case.watched else {}
    async with open_lock_sync(
        provider,  # type: ignore[arg-type]
        dict(pins),
        operation_spacing=spacing,
        **options,  # type: ignore[arg-type]
    ) as engine:
        settled_at = math.inf
        with trio.move_on_at(HORIZON if case.watched else math.inf):
            await engine.wait_settled()
            settled_at = trio.current_time()
        if case.watched:
            await trio.sleep_until(HORIZON)
        states = [engine.state(slot) for slot in range(1, slots + 1)]
        stats = engine.statistics()
    verified = sum(
        1
        for slot, state in zip(range(1, slots + 1), states, strict=True)
        if state is SyncState.IN_SYNC and lock.codes.get(slot) == pins[slot]
    )
    outcomes.append(
        _LockOutcome(
            settled_at=settled_at,
            states=states,
            verified=verified,
            operations=stats.operations,
            sets=stats.sets,
            reads=stats.reads,
            optimistic=stats.optimistic,
            confirmed_by_read=stats.confirmed_by_read,
            slot_failures=stats.slot_failures,
            lost_writes=lock.statistics().lost_writes,
            latency=latency,
        )
    )


async def _fleet(
    case: Case, locks: int, slots: int, spacing: float, seed: int
) -> list[_LockOutcome]:
    outcomes: list[_LockOutcome] = []
    seeds = Random(seed)
    async with trio.open_nursery() as nursery:
        for _ in range(locks):
            nursery.start_soon(_one_lock, case, slots, spacing, seeds.getrandbits(64), outcomes)
    return outcomes


def bench_case(case: Case, *, locks: int, slots: int, spacing: float, seed: int) -> CaseResult:
    records = _CountRecords()
    logger = logging.getLogger("trio_locksync")
    logger.addHandler(records)
    logger.setLevel(logging.DEBUG)
    logger.propagate = False  # counted, not printed
    wall0, cpu0 = time.perf_counter(), time.process_time()
    try:
        outcomes = trio.run(
            _fleet,
            case,
            locks,
            slots,
            spacing,
            seed,
            clock=trio.testing.MockClock(autojump_threshold=0),
        )
    finally:
        logger.removeHandler(records)
        logger.propagate = True
    cpu = time.process_time() - cpu0
    wall = time.perf_counter() - wall0
    settle = [o.settled_at for o in outcomes]
    states = [s for o in outcomes for s in o.states]
    operations = sum(o.operations for o in outcomes)
    bound = slots * spacing + max(o.latency for o in outcomes)
    in_sync = states.count(SyncState.IN_SYNC)
    suspended = states.count(SyncState.SUSPENDED)
    return CaseResult(
        label=case.label,
        optimistic=case.optimistic,
        write_lands=case.write_lands,
        locks=locks,
        slots_per_lock=slots,
        spacing_s=spacing,
        lower_bound_s=bound,
        settle_max_s=max(settle),
        settle_median_s=statistics.median(settle),
        settle_min_s=min(settle),
        over_bound_pct=100.0 * (max(settle) / bound - 1.0)
        if math.isfinite(max(settle))
        else math.inf,
        in_sync=in_sync,
        verified=sum(o.verified for o in outcomes),
        suspended=suspended,
        other=len(states) - in_sync - suspended,
        operations=operations,
        sets=sum(o.sets for o in outcomes),
        reads=sum(o.reads for o in outcomes),
        optimistic_answers=sum(o.optimistic for o in outcomes),
        confirmed_by_read=sum(o.confirmed_by_read for o in outcomes),
        slot_failures=sum(o.slot_failures for o in outcomes),
        lost_writes=sum(o.lost_writes for o in outcomes),
        cpu_s=cpu,
        wall_s=wall,
        cpu_us_per_operation=1e6 * cpu / operations if operations else float("nan"),
        writes_per_slot=sum(o.sets for o in outcomes) / len(states),
        log_records_per_lock=records.count / locks,
    )


# -- report ----------------------------------------------------------------------------------


def _results_section(results: Sequence[CaseResult]) -> list[str]:
    first = results[0]
    slots_total = first.locks * first.slots_per_lock
    intro = (
        f"{first.locks} `VirtualLock`s x {first.slots_per_lock} slots ({slots_total:,} slots), "
        f"initially empty, each slot wanting its own PIN; one engine per lock, "
        f"`operation_spacing={first.spacing_s:g}`, other options at their defaults; latency "
        f"fixed per lock, uniform {LATENCY_RANGE[0] * 1000:g}-{LATENCY_RANGE[1] * 1000:g} ms; "
        "all in one `trio.run` on `MockClock(autojump_threshold=0)`. *Settled*: virtual time "
        "until `wait_settled()` (every slot IN_SYNC or SUSPENDED) for the whole fleet, and the "
        "median lock. *Lower bound*: one operation at a time per lock, "
        f"{first.spacing_s:g} s apart, initial read at t = 0: "
        f"{first.slots_per_lock} x {first.spacing_s:g} s + the largest latency. *Verified*: "
        "IN_SYNC slots whose PIN the lock really holds. *CPU/op*: `time.process_time()` of the "
        "whole run over all engines' `operations`. The last two cases are watched for "
        f"{HORIZON:g} s with a full re-read every 3 s; *writes/slot* and *log records/lock* "
        "count what they cost."
    )
    header = (
        "case",
        "settled (fleet)",
        "median lock",
        "lower bound",
        "over bound",
        "IN_SYNC (verified)",
        "SUSPENDED",
        "operations",
        "sets",
        "reads",
        "optimistic",
        "lost writes",
        "slot failures",
        "CPU s",
        "CPU µs/op",
        "writes/slot",
        "log records/lock",
    )
    rows = [
        (
            r.label,
            _seconds(r.settle_max_s),
            _seconds(r.settle_median_s),
            f"{r.lower_bound_s:.1f} s",
            "—" if math.isinf(r.over_bound_pct) else f"{r.over_bound_pct:+.1f} %",
            f"{r.in_sync:,} ({r.verified:,})",
            f"{r.suspended:,}" + (f" (+{r.other} other)" if r.other else ""),
            f"{r.operations:,}",
            f"{r.sets:,}",
            f"{r.reads:,}",
            f"{r.optimistic_answers:,}",
            f"{r.lost_writes:,}",
            f"{r.slot_failures:,}",
            f"{r.cpu_s:.2f}",
            f"{r.cpu_us_per_operation:.0f}",
            f"{r.writes_per_slot:.2f}",
            f"{r.log_records_per_lock:g}",
        )
        for r in results
    ]
    return blocks(intro, table(header, rows))


def _seconds(value: float) -> str:
    return "never" if math.isinf(value) else f"{value:.1f} s"


def render_markdown(report: Report) -> str:
    return markdown(
        f"## Credential sync benchmark ({report.mode}, seed {report.seed})",
        machine_section(report.machine, filesystem=False),
        "### Time to converge, and CPU per slot operation",
        _results_section(report.cases),
    )


# -- command line ----------------------------------------------------------------------------


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = bench_parser(__doc__, quick="10 locks instead of 100", seed=1)
    parser.add_argument("--locks", type=int, help="number of locks (default 100; quick 10)")
    parser.add_argument("--slots", type=int, default=30, help="slots per lock, all managed")
    parser.add_argument("--spacing", type=float, default=2.0, help="operation_spacing, seconds")
    args = parse_bench_args(parser, "sync_bench", argv)
    args.locks = args.locks or (10 if args.quick else 100)
    return args


def run(args: argparse.Namespace) -> Report:
    report = Report(mode=mode(args), seed=args.seed, machine=describe_machine(RESULTS_DIR))
    for case in CASES:
        report.cases.append(
            bench_case(
                case, locks=args.locks, slots=args.slots, spacing=args.spacing, seed=args.seed
            )
        )
    return report


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    return publish(run(args), render_markdown, args.json)


if __name__ == "__main__":
    sys.exit(main())
