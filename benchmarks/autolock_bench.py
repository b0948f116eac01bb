"""Benchmarks for ``trio_locksync.autolock``: memory per armed timer, recovery time, lateness.

Prints a Markdown report (for the README) and writes the same figures as JSON to
``benchmarks/results/autolock_bench.json`` (``autolock_bench-quick.json`` with ``--quick``).

Timers are armed the way a restart arms them: the benchmark writes the timers file directly,
in the store's JSON format ``{timer_id: {"end_time": <ISO-8601 UTC>, "duration": <s>}}`` (with
the store's own encoder), then runs the real service on it: ``open_autolock(path, action=...)``
and ``await service.recover()``. Everything runs on the real clock with real, durable files.

What is measured, and how:

1. **Memory per armed timer**, for ``--sizes`` timers (10,000 and 100,000): ``tracemalloc``'s
   *current* traced bytes after ``recover()`` returned (inside the service block, every timer
   ACTIVE and armed) minus the same figure just before ``open_autolock``, both after
   ``gc.collect()``, divided by N: everything the service keeps per timer (the timer store's
   entry with its JSON text and id; a timer nobody touched since recovery is a dormant
   ``(deadline, id)`` heap tuple, with no object). Not included: memory freed again by then
   (the file's bytes and the decoded document: see *peak*). Goal: <= 600 B at 100,000.
2. **Recovery time beside the limit**, for the same sizes, in ``--repeat`` interleaved rounds,
   each in a fresh process (``--child-recover``): first the limit (read the file, ``json.loads``
   it, ``heappush`` one tuple per timer: the bare work recovery cannot avoid), then the wall
   time of entering ``open_autolock(...)`` and of ``recover()``, their CPU time, the longest
   trio task step and the longest a 1 ms heartbeat woke late (the trio thread held by anything:
   a step, the GC, a worker thread holding the GIL); the ratio (open + recover) / limit. With
   ``--baseline DIR`` (another ``trio_locksync`` tree) its rounds interleave with this tree's.
   Goals at 100,000: open + recover <= 1.0 s, no trio step > 50 ms.
3. **Lateness** when ``--expiring`` timers (10,000) expire in the same second: their end times
   are spread evenly over ``[lead, lead + 1)`` s after the file is written (``--lead``, 2 s;
   recovery must be done by then, the report says by how much it was). The action records
   ``trio.current_time()`` and ``time.time()`` when called. Lateness is reported two ways:
   *vs. end time*: wall time at the call minus the persisted ``end_time`` (what a user sees);
   *vs. deadline*: trio time at the call minus the trio deadline the scheduler was given (read
   from the timer's scheduled call right after ``recover()``; an internal attribute): the
   scheduler's own lateness. A heartbeat task (1 ms sleeps) and a step timer show how much the
   fires and the removals they write block the trio thread meanwhile.
4. **Machine**: CPU, cores, kernel, Python, trio, the temp dir's filesystem (``_harness.py``).

Run ``python benchmarks/autolock_bench.py`` (full, about two minutes) or ``--quick`` (seconds).
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime
import gc
import heapq
import json
import math
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import trio
from _harness import (
    Blocking,
    Machine,
    MemoryProbe,
    Spread,
    bench_parser,
    blocks,
    describe_machine,
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
    watch_trio_thread,
    yes,
)

from trio_locksync.autolock import AutolockService, TimerState, open_autolock
from trio_locksync.store import json_encoder

UTC = datetime.UTC
#: how far in the future the timers of the memory and recovery runs end
FAR_AHEAD = 3600.0
#: how many source files the memory breakdown lists
BREAKDOWN_FILES = 6
#: the lateness run waits at most this long past the last end time for the last fire
FIRE_GRACE = 30.0


# -- the timers file -------------------------------------------------------------------------


def timer_id(number: int) -> str:
    return f"door-{number:06d}"


def write_timers_file(
    path: Path, end_times: Sequence[datetime.datetime], started: datetime.datetime
) -> int:
    """Write one entry per end time, as ``start(duration)`` at ``started`` would have; returns
    the file size in bytes."""
    doc = {
        timer_id(number): {
            "end_time": end.astimezone(UTC).isoformat(),
            "duration": (end - started).total_seconds(),
        }
        for number, end in enumerate(end_times)
    }
    raw = json_encoder(doc)
    path.write_bytes(raw)
    return len(raw)


def far_file(path: Path, count: int) -> int:
    """``count`` timers ending between one and two hours from now (none fires during a run)."""
    now = datetime.datetime.now(UTC)
    ends = [now + datetime.timedelta(seconds=FAR_AHEAD * (1 + i / count)) for i in range(count)]
    return write_timers_file(path, ends, now)


async def _no_action(timer_id: str) -> None:
    raise AssertionError(f"timer {timer_id!r} fired during a run where none should")


def _check_armed(service: AutolockService, count: int) -> None:
    stats = service.statistics()
    if stats.armed != count or stats.timers != count:
        raise AssertionError(f"expected {count} armed timers, got {stats}")


# -- 1. memory -------------------------------------------------------------------------------


@dataclass(frozen=True)
class FileShare:
    file: str
    bytes: int
    bytes_per_timer: float


@dataclass(frozen=True)
class MemoryResult:
    timers: int
    file_bytes: int
    #: traced bytes held after recover() minus before open_autolock
    held_bytes: int
    bytes_per_timer: float
    #: tracemalloc peak during open + recover, above the baseline
    peak_bytes: int
    breakdown: list[FileShare]


async def _memory_run(path: Path, count: int) -> MemoryResult:
    probe = MemoryProbe()
    async with open_autolock(path, action=_no_action) as service:
        await service.recover()
        _check_armed(service, count)
        memory = probe.measure(BREAKDOWN_FILES)
    return MemoryResult(
        timers=count,
        file_bytes=path.stat().st_size,
        held_bytes=memory.held_bytes,
        bytes_per_timer=memory.held_bytes / count,
        peak_bytes=memory.peak_bytes,
        breakdown=[
            FileShare(file=file, bytes=size, bytes_per_timer=size / count)
            for file, size in memory.top_files
        ],
    )


def bench_memory(tmp_dir: Path, sizes: Sequence[int]) -> list[MemoryResult]:
    results = []
    for count in sizes:
        path = tmp_dir / f"memory-{count}.json"
        far_file(path, count)
        with tracing():
            results.append(trio.run(_memory_run, path, count))
        path.unlink()
    return results


# -- 2. recovery time, beside the limit -------------------------------------------------------

#: the goals of issue 24 at 100,000 timers
GOAL_TOTAL_MS = 1000.0
GOAL_BYTES_PER_TIMER = 600.0
GOAL_STEP_MS = 50.0
GOAL_TIMERS = 100_000


@dataclass(frozen=True)
class RecoverRun:
    open_s: float
    recover_s: float
    close_s: float
    #: process CPU time of open + recover (the machine may be shared: CPU is steadier than wall)
    cpu_s: float
    max_step_s: float
    #: the most a 1 ms heartbeat task woke late during open + recover: how long the trio thread
    #: was unavailable at once, whatever held it (a task step, the cyclic GC, a worker thread
    #: holding the GIL through a C call such as json.loads)
    heartbeat_late_s: float
    #: the limit, measured in the same process just before: read + json.loads + heappush
    limit_s: float


def limit_run(path: Path) -> float:
    """The bare cost of what recovery cannot avoid: read the file, decode it with the stdlib
    json, push one ``(deadline, sequence, id)`` tuple per timer onto a heap. Seconds."""
    gc.collect()
    began = time.perf_counter()
    doc = json.loads(path.read_bytes())
    heap: list[tuple[float, int, str]] = []
    for number, name in enumerate(doc):
        heapq.heappush(heap, (float(number), number, name))
    took = time.perf_counter() - began
    del doc, heap
    return took


async def _recover_run(path: Path, count: int, limit_s: float) -> RecoverRun:
    cpu_began = time.process_time()
    async with watch_trio_thread() as watch:
        began = time.perf_counter()
        async with open_autolock(path, action=_no_action) as service:
            opened = time.perf_counter()
            await service.recover()
            recovered = time.perf_counter()
            cpu = time.process_time() - cpu_began
            blocking = watch.blocking()
            _check_armed(service, count)
            closing = time.perf_counter()
        closed = time.perf_counter()
    return RecoverRun(
        open_s=opened - began,
        recover_s=recovered - opened,
        close_s=closed - closing,
        cpu_s=cpu,
        max_step_s=blocking.max_step_ms / 1000,
        heartbeat_late_s=blocking.heartbeat_late_max_ms / 1000,
        limit_s=limit_s,
    )


def child_recover(path: Path, count: int) -> RecoverRun:
    """One round in a fresh process (``--child-recover``): the limit, then open + recover."""
    limit_s = limit_run(path)
    gc.collect()
    return trio.run(_recover_run, path, count, limit_s)


def _run_child(path: Path, count: int, tree: Path | None) -> RecoverRun:
    """Run :func:`child_recover` in a new interpreter, importing trio_locksync from ``tree``
    (None: the tree this script belongs to)."""
    root = tree if tree is not None else Path(__file__).resolve().parent.parent
    env = {**os.environ, "PYTHONPATH": str(root)}
    done = subprocess.run(
        [sys.executable, str(Path(__file__).resolve()), "--child-recover", str(path), str(count)],
        env=env,
        cwd=str(path.parent),
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"recovery child failed:\n{done.stderr[-2000:]}")
    return RecoverRun(**json.loads(done.stdout.strip().splitlines()[-1]))


@dataclass(frozen=True)
class RecoverResult:
    variant: str
    timers: int
    file_bytes: int
    runs: int
    open_median_ms: float
    recover_median_ms: float
    total_median_ms: float
    total_max_ms: float
    cpu_median_ms: float
    recover_per_timer_us: float
    close_median_ms: float
    #: the longest single trio task step during open + recover (median over runs)
    max_step_median_ms: float
    #: the longest heartbeat lateness during open + recover (median over runs)
    heartbeat_late_median_ms: float
    limit_median_ms: float
    #: median over rounds of (open + recover) / limit, each round's pair from one process
    ratio_median: float


def _summary(variant: str, count: int, size: int, runs: list[RecoverRun]) -> RecoverResult:
    med = statistics.median
    return RecoverResult(
        variant=variant,
        timers=count,
        file_bytes=size,
        runs=len(runs),
        open_median_ms=ms(med(r.open_s for r in runs)),
        recover_median_ms=ms(med(r.recover_s for r in runs)),
        total_median_ms=ms(med(r.open_s + r.recover_s for r in runs)),
        total_max_ms=ms(max(r.open_s + r.recover_s for r in runs)),
        cpu_median_ms=ms(med(r.cpu_s for r in runs)),
        recover_per_timer_us=med(r.recover_s for r in runs) / count * 1e6,
        close_median_ms=ms(med(r.close_s for r in runs)),
        max_step_median_ms=ms(med(r.max_step_s for r in runs)),
        heartbeat_late_median_ms=ms(med(r.heartbeat_late_s for r in runs)),
        limit_median_ms=ms(med(r.limit_s for r in runs)),
        ratio_median=med((r.open_s + r.recover_s) / r.limit_s for r in runs),
    )


def bench_recover(
    tmp_dir: Path, sizes: Sequence[int], repeat: int, baseline: Path | None
) -> list[RecoverResult]:
    """Interleaved rounds, each run in a fresh process: this tree, then the ``baseline`` tree
    (if given), the order swapped every other round."""
    variants: list[tuple[str, Path | None]] = [("this tree", None)]
    if baseline is not None:
        variants.append((f"baseline ({baseline.name})", baseline))
    results = []
    for count in sizes:
        path = tmp_dir / f"recover-{count}.json"
        size = far_file(path, count)
        runs: dict[str, list[RecoverRun]] = {name: [] for name, _ in variants}
        for round_number in range(repeat):
            order = variants if round_number % 2 == 0 else variants[::-1]
            for name, tree in order:
                runs[name].append(_run_child(path, count, tree))
        path.unlink()
        results += [_summary(name, count, size, runs[name]) for name, _ in variants]
    return results


# -- 3. lateness -----------------------------------------------------------------------------


@dataclass(frozen=True)
class LatenessResult:
    expiring: int
    window_s: float
    lead_s: float
    open_recover_s: float
    #: first end time minus the moment recover() returned (negative: recovery was too slow)
    margin_s: float
    fired: int
    fired_once_each: bool
    vs_end_time: Spread
    vs_deadline: Spread
    #: latest trio deadline minus latest persisted end time, on one clock: how much later than
    #: its end time recover() armed the last-claimed timer
    deadline_skew_ms: float
    blocking: Blocking
    file_empty_after: bool


async def _lateness_run(
    path: Path, ends: Sequence[datetime.datetime], lead: float
) -> LatenessResult:
    calls: dict[str, tuple[float, float]] = {}
    duplicates = 0
    all_fired = trio.Event()

    async def record(timer_id: str) -> None:
        nonlocal duplicates
        if timer_id in calls:
            duplicates += 1
        calls[timer_id] = (trio.current_time(), time.time())
        if len(calls) == len(ends):
            all_fired.set()

    began = time.perf_counter()
    async with open_autolock(path, action=record) as service:
        report = await service.recover()
        recovered_wall = time.time()
        open_recover = time.perf_counter() - began
        if report.resumed != len(ends) or report.expired:
            raise AssertionError(f"recovery was too slow for --lead: {report}")
        # The trio deadline each timer was armed with (internal: the scheduled call).
        deadlines: dict[str, float] = {}
        for name, timer in service.timers.items():
            call = timer._call
            assert call is not None
            deadlines[name] = call.deadline
        # Map wall clock to trio clock once (two reads a few microseconds apart).
        offset = trio.current_time() - time.time()
        async with watch_trio_thread() as watch:
            with trio.move_on_after(ends[-1].timestamp() - time.time() + FIRE_GRACE):
                await all_fired.wait()
        for timer in service.timers.values():
            if timer.state is not TimerState.DONE:
                raise AssertionError(f"{timer!r} did not end DONE")
    on_disk = json.loads(path.read_bytes())
    end_of = {timer_id(i): end.timestamp() for i, end in enumerate(ends)}
    if set(calls) != set(end_of):
        raise AssertionError(f"{len(end_of) - len(calls)} timers never fired")
    latest = max(end_of, key=lambda name: end_of[name])
    return LatenessResult(
        expiring=len(ends),
        window_s=ends[-1].timestamp() - ends[0].timestamp(),
        lead_s=lead,
        open_recover_s=open_recover,
        margin_s=ends[0].timestamp() - recovered_wall,
        fired=len(calls),
        fired_once_each=duplicates == 0,
        vs_end_time=Spread.of([calls[name][1] - end_of[name] for name in end_of]),
        vs_deadline=Spread.of([calls[name][0] - deadlines[name] for name in end_of]),
        deadline_skew_ms=ms(deadlines[latest] - (end_of[latest] + offset)),
        blocking=watch.blocking(),
        file_empty_after=on_disk == {},
    )


def bench_lateness(tmp_dir: Path, expiring: int, lead: float, window: float) -> LatenessResult:
    path = tmp_dir / f"lateness-{expiring}.json"
    gc.collect()  # before the clock starts: after the big runs a full collection takes a while
    now = datetime.datetime.now(UTC)
    ends = [now + datetime.timedelta(seconds=lead + window * i / expiring) for i in range(expiring)]
    write_timers_file(path, ends, now)
    result = trio.run(_lateness_run, path, ends, lead)
    path.unlink()
    return result


# -- report ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Report:
    mode: str
    machine: Machine
    memory: list[MemoryResult]
    recover: list[RecoverResult]
    lateness: LatenessResult


def _memory_section(results: Sequence[MemoryResult]) -> list[str]:
    intro = (
        "`tracemalloc` current bytes after `recover()` returned (every timer ACTIVE and armed) "
        "minus before `open_autolock`, both after `gc.collect()`, divided by N. Includes the "
        "timer store's entries (each with its JSON text, and its id) and, for a timer nobody "
        "touched since recovery, its dormant `(deadline, id)` heap tuple: no object per such "
        "timer, no task per waiting timer, no RNG until an action fails. A touched timer adds "
        "its `AutolockTimer`, state machine and `ScheduledCall` (~0.5 KB). *Peak*: the most "
        "held during open + recover (the file's bytes and decoded document are freed by the "
        f"end). Goal (issue 24, at {GOAL_TIMERS:,} timers): "
        f"≤ {GOAL_BYTES_PER_TIMER:,.0f} B per timer."
    )
    header = ("timers", "file", "held", "bytes / timer", "goal", "peak during open + recover")
    rows = [
        (
            f"{r.timers:,}",
            kib(r.file_bytes),
            kib(r.held_bytes),
            f"{r.bytes_per_timer:,.0f}",
            _goal(r.timers, f"≤ {GOAL_BYTES_PER_TIMER:,.0f}"),
            kib(r.peak_bytes),
        )
        for r in results
    ]
    largest = results[-1]
    shares = ", ".join(
        f"`{share.file}` {share.bytes_per_timer:,.0f}" for share in largest.breakdown
    )
    note = (
        f"Largest contributors at {largest.timers:,} timers, bytes per timer by the source file "
        f"that allocated them: {shares}."
    )
    return blocks(intro, table(header, rows), note)


def _goal(count: int, text: str) -> str:
    return text if count == GOAL_TIMERS else "—"


def _recover_section(results: Sequence[RecoverResult]) -> list[str]:
    intro = (
        "Each round runs in a fresh process: first *the limit* — the bare cost of what recovery "
        "cannot avoid: read the file, `json.loads` it, `heapq.heappush` one "
        "`(deadline, sequence, id)` tuple per timer — then `open_autolock(...)` (lock, read and "
        "decode the file, build the mirror) and `recover()` (claim and arm every entry; none "
        "is due) on the same file, wall time. *Ratio*: (open + recover) / limit, per round, "
        "median. Rounds alternate between variants (this tree, and the `--baseline` tree if "
        "given), the order swapped every other round. *CPU*: process time of open + recover. "
        "*Longest trio step*: the longest one task held the trio thread; *trio thread held*: "
        "the most a 1 ms heartbeat task woke late — whatever held the thread (a step, the "
        "cyclic GC, a worker thread holding the GIL through `json.loads`). Goals (issue 24, at "
        f"{GOAL_TIMERS:,} timers): open + recover ≤ {GOAL_TOTAL_MS:,.0f} ms, no trio step > "
        f"{GOAL_STEP_MS:.0f} ms. *Close*: leaving the block (entries stay on disk)."
    )
    header = (
        "variant",
        "timers",
        "file",
        "runs",
        "open ms",
        "recover() ms",
        "total ms",
        "total max ms",
        "CPU ms",
        "limit ms",
        "ratio",
        "goal total ms",
        "longest trio step ms",
        "trio thread held ms",
        "goal step ms",
        "close ms",
    )
    rows = [
        (
            r.variant,
            f"{r.timers:,}",
            kib(r.file_bytes),
            str(r.runs),
            f"{r.open_median_ms:,.0f}",
            f"{r.recover_median_ms:,.0f}",
            f"{r.total_median_ms:,.0f}",
            f"{r.total_max_ms:,.0f}",
            f"{r.cpu_median_ms:,.0f}",
            f"{r.limit_median_ms:,.0f}",
            f"{r.ratio_median:.1f}",
            _goal(r.timers, f"≤ {GOAL_TOTAL_MS:,.0f}"),
            f"{r.max_step_median_ms:,.0f}",
            f"{r.heartbeat_late_median_ms:,.0f}",
            _goal(r.timers, f"≤ {GOAL_STEP_MS:.0f}"),
            f"{r.close_median_ms:,.0f}",
        )
        for r in results
    ]
    return blocks(intro, table(header, rows))


def _lateness_section(r: LatenessResult) -> list[str]:
    intro = (
        f"{r.expiring:,} timers recovered from disk, end times spread evenly over "
        f"{r.window_s:.3f} s starting {r.lead_s:g} s after the file was written (open + "
        f"recover took {r.open_recover_s:.2f} s; first end time {r.margin_s:.2f} s after "
        "`recover()` returned). Real clock; the action records the time and returns. *vs. end "
        "time*: wall clock at the call minus the persisted `end_time`. *vs. deadline*: trio "
        "clock at the call minus the deadline the scheduler was given (the scheduler's own "
        "lateness). Nearest-rank percentiles."
    )
    checks = (
        f"All fired: {yes(r.fired == r.expiring)} ({r.fired:,}), each once: "
        f"{yes(r.fired_once_each)}, timers file empty after the block: "
        f"{yes(r.file_empty_after)}. Deadline skew of the last-claimed "
        f"timer: {r.deadline_skew_ms:.0f} ms (`recover()` reads the wall and trio clocks once "
        "and arms every timer from that pair). During the fires "
        f"a 1 ms heartbeat woke up to {r.blocking.heartbeat_late_max_ms:.1f} ms late "
        f"(p99 {r.blocking.heartbeat_late_p99_ms:.1f} ms); longest trio task step "
        f"{r.blocking.max_step_ms:.1f} ms."
    )
    spreads = spread_table(
        "lateness", [("vs. end time", r.vs_end_time), ("vs. deadline", r.vs_deadline)]
    )
    return blocks(intro, spreads, checks)


def render_markdown(report: Report) -> str:
    return markdown(
        f"## Autolock benchmark ({report.mode})",
        machine_section(report.machine),
        "### Memory per armed timer",
        _memory_section(report.memory),
        "### `recover()` time from disk",
        _recover_section(report.recover),
        f"### Lateness when {report.lateness.expiring:,} timers expire in the same second",
        _lateness_section(report.lateness),
    )


# -- command line ----------------------------------------------------------------------------


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = bench_parser(__doc__, tmp_dir=True)
    parser.add_argument("--sizes", type=int, nargs="+", help="armed timers (default 10000 100000)")
    parser.add_argument("--repeat", type=int, help="recovery rounds per size (default 5)")
    parser.add_argument("--expiring", type=int, help="timers expiring in one second (10000)")
    parser.add_argument("--lead", type=float, default=2.0, help="seconds to the first end time")
    parser.add_argument("--window", type=float, default=1.0, help="seconds the ends spread over")
    parser.add_argument(
        "--baseline",
        type=Path,
        help="a directory holding another trio_locksync package (e.g. `git archive <commit> "
        "trio_locksync | tar -x -C DIR`): its recovery runs interleaved with this tree's",
    )
    args = parse_bench_args(parser, "autolock_bench", argv)
    quick = args.quick
    args.sizes = args.sizes or ([1_000, 10_000] if quick else [10_000, 100_000])
    args.repeat = args.repeat or (1 if quick else 5)
    args.expiring = args.expiring or (1_000 if quick else 10_000)
    if not (args.lead > 0 and args.window > 0 and math.isfinite(args.lead + args.window)):
        parser.error("--lead and --window must be positive")
    return args


def run(args: argparse.Namespace, tmp_dir: Path) -> Report:
    return Report(
        mode=mode(args),
        machine=describe_machine(tmp_dir),
        memory=bench_memory(tmp_dir, args.sizes),
        recover=bench_recover(tmp_dir, args.sizes, args.repeat, args.baseline),
        lateness=bench_lateness(tmp_dir, args.expiring, args.lead, args.window),
    )


def main(argv: Sequence[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv[:1] == ["--child-recover"]:  # one round of bench_recover, in a fresh process
        result = child_recover(Path(argv[1]), int(argv[2]))
        print(json.dumps(dataclasses.asdict(result)))
        return 0
    return run_in_scratch("autolock_bench", parse_args(argv), run, render_markdown)


if __name__ == "__main__":
    sys.exit(main())
