"""Benchmarks for ``trio_locksync.store``: write coalescing, save latency, trio-thread blocking.

Prints a Markdown report (for the README) and writes the same figures as JSON to
``benchmarks/results/store_bench.json`` (``store_bench-quick.json`` with ``--quick``).

What is measured, and how:

1. **Coalescing** (virtual time). ``--calls`` ``delay_save(data_func, delay)`` calls spread evenly
   over ``--span`` seconds of trio's :class:`~trio.testing.MockClock` (``autojump_threshold=0``),
   for several ``max_delay`` caps including ``math.inf`` (Home Assistant's unbounded debounce).
   The store writes real files, but through an inline ``run_blocking`` runner so that each write
   happens on the trio thread at a well-defined virtual time; each cap is run with instant writes
   and with writes that take ``--slow-write`` virtual seconds (the runner sleeps first, like a
   slow disk). ``data_func`` returns a call counter; a wrapped encoder records, for every write,
   the value written and the counter when the write began and when it was encoded. Reported:
   writes during the stream and at close (the final flush), the bound ``ceil(span / max_delay)
   + 1``, whether every write held the latest data when it began, whether the file ends with
   the last value, and the longest time any call stayed unsaved.
2. **Save latency** (real clock, default worker-thread runner). ``await store.save(doc)`` in a
   loop for a ~2 KB and a ~1 MB document of lock data, with ``durable=True`` and ``False``;
   p50/p99/max per save. The naive baseline is ``json.dump`` to a temp file + ``os.replace``
   run directly on the trio thread, without and with fsync (file and directory).
3. **Trio-thread blocking**, during the same saves. A heartbeat task sleeps 1 ms in a loop and
   records how late each wakeup is (max, p99); a :class:`trio.abc.Instrument` records the longest
   single task step. An idle row (heartbeat alone) shows the timer's own noise.
4. **Machine**: CPU model, cores, kernel, Python and trio versions, and the filesystem of the
   temp dir (``benchmarks/results/tmp`` by default, on the repo's disk: ``/tmp`` may be tmpfs,
   where fsync is free).

Run ``python benchmarks/store_bench.py`` (full, about a minute) or ``--quick`` (a few seconds).
"""

from __future__ import annotations

import argparse
import functools
import io
import json
import math
import os
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from random import Random
from typing import Any, TypeVar

import trio
import trio.testing
from _harness import (
    Blocking,
    Machine,
    bench_parser,
    blocks,
    describe_machine,
    idle_blocking,
    machine_section,
    markdown,
    mode,
    ms,
    parse_bench_args,
    percentile,
    run_in_scratch,
    table,
    watch_trio_thread,
    yes,
)

from trio_locksync.core import RunBlocking
from trio_locksync.store import StoreStatistics, json_encoder, open_store

T = TypeVar("T")

WARMUP_SAVES = 2

SaveOnce = Callable[[], Awaitable[None]]
VariantFactory = Callable[[Path, Any], AbstractAsyncContextManager[SaveOnce]]


# -- documents -------------------------------------------------------------------------------

_FIRST_NAMES = ("Ana", "Ben", "Chloé", "Dmitri", "Eve", "Farah", "Gus", "Hana", "Ivo", "Jun")
_ROLES = ("guest", "cleaner", "owner", "dog walker", "plumber", "family", "nanny")
_MODELS = ("Yale YRD256", "Schlage BE469", "Kwikset 916", "Nuki Smart Lock 3.0", "August Wi-Fi")


def _stamp(rng: Random) -> str:
    seconds = rng.randrange(1_700_000_000, 1_760_000_000)
    return time.strftime("%Y-%m-%dT%H:%M:%S+00:00", time.gmtime(seconds))


def _slot(rng: Random, number: int) -> dict[str, Any]:
    return {
        "slot": number,
        "name": f"{rng.choice(_FIRST_NAMES)} ({rng.choice(_ROLES)})",
        "pin": f"{rng.randrange(10**6):06d}",
        "enabled": rng.random() < 0.8,
        "schedule": {"days": sorted(rng.sample(range(7), rng.randint(1, 7))), "from": "08:00"},
        "created": _stamp(rng),
        "updated": _stamp(rng),
        "last_used": _stamp(rng),
        "use_count": rng.randrange(500),
    }


def _lock(rng: Random, index: int) -> dict[str, Any]:
    return {
        "name": f"Door {index}",
        "model": rng.choice(_MODELS),
        "node_id": rng.randrange(2, 232),
        "autolock_seconds": rng.choice((0, 30, 60, 180)),
        "battery": rng.randrange(101),
        "slots": {str(n): _slot(rng, n) for n in range(1, 31)},
    }


def lock_document(target_bytes: int, *, seed: int = 2) -> dict[str, Any]:
    """Lock data (locks, PIN slots, names, timestamps) whose JSON is about ``target_bytes``.

    Whole locks of 30 slots are added while under the target, then slots are trimmed from the
    last lock until the encoded size is at or just under it.
    """
    rng = Random(seed)
    doc: dict[str, Any] = {"format": "trio_locksync.bench", "locks": {}}
    locks: dict[str, Any] = doc["locks"]
    while len(json_encoder(doc)) < target_bytes:
        locks[f"lock_{len(locks):04d}"] = _lock(rng, len(locks))
    last_slots: dict[str, Any] = locks[max(locks)]["slots"]
    while len(last_slots) > 1 and len(json_encoder(doc)) > target_bytes:
        del last_slots[max(last_slots, key=int)]
    return doc


@dataclass(frozen=True)
class DocumentInfo:
    label: str
    doc_bytes: int
    #: the store's encoder (one-shot C encoder), median of 5
    encode_ms: float
    #: ``json.dump`` to a string buffer (streaming, pure-Python encoder), median of 5
    json_dump_ms: float


def _median_ms(fn: Callable[[], object], repeat: int = 5) -> float:
    timings = []
    for _ in range(repeat):
        began = time.perf_counter()
        fn()
        timings.append(time.perf_counter() - began)
    return ms(percentile(timings, 50))


def describe_document(label: str, doc: Any) -> DocumentInfo:
    return DocumentInfo(
        label=label,
        doc_bytes=len(json_encoder(doc)),
        encode_ms=_median_ms(lambda: json_encoder(doc)),
        json_dump_ms=_median_ms(lambda: json.dump(doc, io.StringIO())),
    )


# -- 1. coalescing (virtual time) ------------------------------------------------------------


@dataclass(frozen=True)
class WriteRecord:
    #: virtual time at which the write's encoder ran
    at: float
    #: the counter value the write holds
    value: int
    #: the counter when the store began the write (handed it to ``run_blocking``)
    latest_at_start: int
    #: the counter when the encoder ran (later than the start if the write takes time)
    latest_at_encode: int
    #: the write began after the last call, in the final flush
    at_close: bool


@dataclass
class CallCounter:
    """What ``data_func`` returns (the number of ``delay_save`` calls so far), and its writes."""

    value: int = 0
    closing: bool = False
    writes: list[WriteRecord] = field(default_factory=list)
    #: ``(value, closing)`` when the latest blocking job began
    _began: tuple[int, bool] = (0, False)

    def read(self) -> int:
        return self.value

    def runner(self, write_time: float) -> RunBlocking:
        """An inline ``run_blocking``: ``fn`` runs on the trio thread, so virtual time stays
        exact, after a checkpoint or, with ``write_time``, after sleeping that long (a slow disk).
        """

        async def run_inline(fn: Callable[[], T], /) -> T:
            self._began = (self.value, self.closing)
            if write_time > 0:
                await trio.sleep(write_time)
            else:
                await trio.lowlevel.checkpoint()
            return fn()

        return run_inline

    def encoder(self, data: Any) -> bytes:
        """The store's encoder, recording what each write holds and what was latest then."""
        latest_at_start, at_close = self._began
        record = WriteRecord(trio.current_time(), data, latest_at_start, self.value, at_close)
        self.writes.append(record)
        return json_encoder(data)


@dataclass(frozen=True)
class CoalescingResult:
    max_delay: float
    delay: float
    write_time_s: float
    calls: int
    span_s: float
    writes_during: int
    writes_at_close: int
    writes_total: int
    bound: int
    within_bound: bool
    #: writes that did not hold the latest data when they began
    stale_writes: int
    every_write_latest: bool
    #: writes overtaken by calls that arrived while they were in flight (expected if slow)
    overtaken_writes: int
    final_file_ok: bool
    max_unsaved_age_s: float
    stats_writes: int
    stats_delayed_calls: int
    wall_s: float


def write_bound(span: float, max_delay: float) -> int:
    """At most one capped write per ``max_delay`` of stream, plus the final one."""
    return 1 if math.isinf(max_delay) else math.ceil(span / max_delay) + 1


def max_unsaved_age(call_times: Sequence[float], writes: Sequence[WriteRecord]) -> float:
    """Longest time from a call to the first write holding its value (inf if never written)."""
    saved = 0
    worst = 0.0
    for record in sorted(writes, key=lambda r: r.at):
        if record.value > saved:
            worst = max(worst, record.at - call_times[saved])
            saved = record.value
    return worst if saved >= len(call_times) else math.inf


async def _drive_calls(
    delay_save: Callable[[Callable[[], int], float], None],
    counter: CallCounter,
    call_times: Sequence[float],
    delay: float,
) -> None:
    for at in call_times:
        await trio.sleep_until(at)
        counter.value += 1
        delay_save(counter.read, delay)


@dataclass(frozen=True)
class CoalescingCase:
    calls: int
    span: float
    delay: float
    max_delay: float
    write_time: float


async def _coalesce(path: Path, case: CoalescingCase) -> CoalescingResult:
    counter = CallCounter()
    runner = counter.runner(case.write_time)
    wall = time.perf_counter()
    async with open_store(
        path, encoder=counter.encoder, max_delay=case.max_delay, run_blocking=runner
    ) as store:
        start = trio.current_time()
        call_times = [start + case.span * i / case.calls for i in range(case.calls)]
        await _drive_calls(store.delay_save, counter, call_times, case.delay)
        counter.closing = True
    wall = time.perf_counter() - wall
    final = json.loads(await runner(path.read_bytes))
    return _coalescing_result(case, counter.writes, store.statistics(), final, call_times, wall)


def _coalescing_result(
    case: CoalescingCase,
    writes: Sequence[WriteRecord],
    stats: StoreStatistics,
    final: Any,
    call_times: Sequence[float],
    wall: float,
) -> CoalescingResult:
    stale = sum(1 for w in writes if w.value != w.latest_at_start)
    bound = write_bound(case.span, case.max_delay)
    return CoalescingResult(
        max_delay=case.max_delay,
        delay=case.delay,
        write_time_s=case.write_time,
        calls=case.calls,
        span_s=case.span,
        writes_during=sum(1 for w in writes if not w.at_close),
        writes_at_close=sum(1 for w in writes if w.at_close),
        writes_total=len(writes),
        bound=bound,
        within_bound=len(writes) <= bound,
        stale_writes=stale,
        every_write_latest=stale == 0,
        overtaken_writes=sum(1 for w in writes if w.value != w.latest_at_encode),
        final_file_ok=final == case.calls,
        max_unsaved_age_s=max_unsaved_age(call_times, writes),
        stats_writes=stats.writes,
        stats_delayed_calls=stats.delayed_calls,
        wall_s=wall,
    )


def bench_coalescing(tmp_dir: Path, cases: Sequence[CoalescingCase]) -> list[CoalescingResult]:
    results = []
    for number, case in enumerate(cases):
        coalesce = functools.partial(_coalesce, tmp_dir / f"coalesce-{number}.json", case)
        clock = trio.testing.MockClock(autojump_threshold=0)
        results.append(trio.run(coalesce, clock=clock))
    return results


# -- 2 and 3. latency and trio-thread blocking (real clock) ----------------------------------


@dataclass(frozen=True)
class LatencyResult:
    document: str
    doc_bytes: int
    variant: str
    saves: int
    p50_ms: float
    p99_ms: float
    max_ms: float
    blocking: Blocking


async def _timed_saves(save_once: SaveOnce, saves: int) -> tuple[list[float], Blocking]:
    """Run ``saves`` saves with the heartbeat and the step timer watching the trio thread."""
    for _ in range(WARMUP_SAVES):
        await save_once()
    latencies: list[float] = []
    async with watch_trio_thread() as watch:
        for _ in range(saves):
            began = time.perf_counter()
            await save_once()
            latencies.append(time.perf_counter() - began)
    return latencies, watch.blocking()


@asynccontextmanager
async def store_variant(
    path: Path, doc: Any, *, durable: bool, chunked: bool = False
) -> AsyncIterator[SaveOnce]:
    """``store.save(doc)``: encoding and file I/O in the store's worker thread."""
    encoder = json_encoder if chunked else _one_call_encoder
    async with open_store(path, durable=durable, encoder=encoder) as store:

        async def save_once() -> None:
            await store.save(doc)

        yield save_once


def _fsync_directory(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def naive_write(path: Path, doc: Any, *, fsync: bool) -> None:
    """The usual hand-rolled save: ``json.dump`` to a temp file, then ``os.replace``."""
    temp = path.with_name(f"{path.name}.tmp")
    with open(temp, "w", encoding="utf-8") as handle:
        json.dump(doc, handle)
        if fsync:
            handle.flush()
            os.fsync(handle.fileno())
    os.replace(temp, path)
    if fsync:
        _fsync_directory(path.parent)


@asynccontextmanager
async def naive_variant(path: Path, doc: Any, *, fsync: bool) -> AsyncIterator[SaveOnce]:
    """:func:`naive_write` called directly on the trio thread, then a checkpoint."""

    async def save_once() -> None:
        naive_write(path, doc, fsync=fsync)
        await trio.lowlevel.checkpoint()

    yield save_once


def _one_call_encoder(data: Any) -> bytes:
    """One call of json's C encoder (what json_encoder did before it went piecewise)."""
    return json.dumps(data, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def _store_factory(durable: bool, chunked: bool = True) -> VariantFactory:
    return lambda path, doc: store_variant(path, doc, durable=durable, chunked=chunked)


def _naive_factory(fsync: bool) -> VariantFactory:
    return lambda path, doc: naive_variant(path, doc, fsync=fsync)


VARIANTS: dict[str, VariantFactory] = {
    "store, durable=True (worker thread)": _store_factory(True),
    "store, durable=False (worker thread)": _store_factory(False),
    "store, durable=True, encoder = one json.dumps call": _store_factory(True, chunked=False),
    "naive json.dump + os.replace, fsync (trio thread)": _naive_factory(True),
    "naive json.dump + os.replace, no fsync (trio thread)": _naive_factory(False),
}


async def _latency(
    factory: VariantFactory, path: Path, doc: Any, saves: int
) -> tuple[list[float], Blocking]:
    async with factory(path, doc) as save_once:
        return await _timed_saves(save_once, saves)


@dataclass(frozen=True)
class LatencyBench:
    documents: list[DocumentInfo]
    results: list[LatencyResult]
    idle: Blocking


def bench_latency(tmp_dir: Path, documents: Sequence[tuple[str, int, int]]) -> LatencyBench:
    """``documents`` holds ``(label, target bytes, saves)``."""
    infos = []
    results = []
    for label, target, saves in documents:
        doc = lock_document(target)
        info = describe_document(label, doc)
        infos.append(info)
        for number, (variant, factory) in enumerate(VARIANTS.items()):
            path = tmp_dir / f"latency-{label}-{number}.json"
            latencies, blocking = trio.run(_latency, factory, path, doc, saves)
            results.append(
                LatencyResult(
                    document=label,
                    doc_bytes=info.doc_bytes,
                    variant=variant,
                    saves=saves,
                    p50_ms=ms(percentile(latencies, 50)),
                    p99_ms=ms(percentile(latencies, 99)),
                    max_ms=ms(max(latencies)),
                    blocking=blocking,
                )
            )
    idle = trio.run(idle_blocking, 0.5)
    return LatencyBench(documents=infos, results=results, idle=idle)


# -- report ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Report:
    mode: str
    machine: Machine
    coalescing: list[CoalescingResult]
    latency: LatencyBench


def _cap(max_delay: float) -> str:
    return "∞ (HA)" if math.isinf(max_delay) else f"{max_delay:g} s"


def _coalescing_section(results: Sequence[CoalescingResult]) -> list[str]:
    first = results[0]
    intro = (
        f"{first.calls:,} `delay_save(data_func, {first.delay!r})` calls evenly over "
        f"{first.span_s:g} s of virtual time (`MockClock`), written to real files by an inline "
        "runner on the trio thread, either at once or after sleeping *write takes* of virtual "
        "time (a slow disk). Bound: `ceil(span / max_delay) + 1` writes. *Every write latest*: "
        "each write held the newest data when it began. *Longest unsaved*: the most time any "
        "call waited for a write holding it."
    )
    header = (
        "max_delay",
        "write takes",
        "calls",
        "writes (stream + close)",
        "bound",
        "within bound",
        "every write latest",
        "file ends with last value",
        "longest unsaved",
    )
    rows = [
        (
            _cap(r.max_delay),
            f"{ms(r.write_time_s):g} ms",
            f"{r.calls:,}",
            f"{r.writes_total} ({r.writes_during} + {r.writes_at_close})",
            str(r.bound),
            yes(r.within_bound),
            yes(r.every_write_latest) + ("" if r.every_write_latest else f" ({r.stale_writes})"),
            yes(r.final_file_ok),
            f"{r.max_unsaved_age_s:.2f} s",
        )
        for r in results
    ]
    return blocks(intro, table(header, rows))


def _blocking_cells(blocking: Blocking) -> list[str]:
    return [
        f"{blocking.heartbeat_late_max_ms:.2f}",
        f"{blocking.heartbeat_late_p99_ms:.2f}",
        f"{blocking.max_step_ms:.2f}",
    ]


def _documents_section(documents: Sequence[DocumentInfo]) -> list[str]:
    intro = (
        "Documents: lock data (locks of 30 PIN slots with names, schedules, timestamps). The "
        "store encodes in its worker thread. json's C encoder holds the GIL for a whole call, so "
        "the store's default encoder encodes the top levels piece by piece and the interpreter "
        "hands the GIL back to the trio thread between pieces (5 ms switch interval); the "
        "*one json.dumps call* row shows what a single call costs the trio thread."
    )
    header = ("document", "JSON bytes", "store encoder ms", "`json.dump` ms")
    rows = [
        (d.label, f"{d.doc_bytes:,}", f"{d.encode_ms:.2f}", f"{d.json_dump_ms:.2f}")
        for d in documents
    ]
    return blocks(intro, table(header, rows))


def _latency_section(results: Sequence[LatencyResult], idle: Blocking) -> list[str]:
    intro = (
        "Back-to-back saves on the real clock. *Heartbeat late*: how late a task sleeping 1 ms "
        "in a loop woke up during the saves. *Max step*: the longest single trio task step "
        "(time the trio thread ran one task without yielding). p99 is nearest-rank (with under "
        "100 wakeups it is the max). The naive baseline runs "
        "`json.dump` (streaming, pure-Python encoder) to a temp file + `os.replace` directly "
        "on the trio thread; its fsync variant fsyncs the file and the directory, as "
        "`durable=True` does."
    )
    header = (
        "document",
        "variant",
        "saves",
        "p50 ms",
        "p99 ms",
        "max ms",
        "heartbeat late max ms",
        "heartbeat late p99 ms",
        "max step ms",
    )
    rows = [
        (
            f"{r.document} ({r.doc_bytes:,} B)",
            r.variant,
            str(r.saves),
            f"{r.p50_ms:.2f}",
            f"{r.p99_ms:.2f}",
            f"{r.max_ms:.2f}",
            *_blocking_cells(r.blocking),
        )
        for r in results
    ]
    rows.append(("—", "idle: heartbeat alone, 0.5 s", "—", "—", "—", "—", *_blocking_cells(idle)))
    return blocks(intro, table(header, rows))


def render_markdown(report: Report) -> str:
    return markdown(
        f"## Store benchmark ({report.mode})",
        machine_section(report.machine),
        "### Coalescing of `delay_save`",
        _coalescing_section(report.coalescing),
        "### Save latency and trio-thread blocking",
        _documents_section(report.latency.documents),
        _latency_section(report.latency.results, report.latency.idle),
    )


# -- command line ----------------------------------------------------------------------------


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = bench_parser(__doc__, tmp_dir=True)
    parser.add_argument("--calls", type=int, help="delay_save calls per cap (default 100000)")
    parser.add_argument("--span", type=float, default=10.0, help="virtual seconds of calls")
    parser.add_argument("--delay", type=float, default=1.0, help="delay_save delay, seconds")
    parser.add_argument(
        "--slow-write", type=float, default=0.05, help="virtual seconds a slow write takes"
    )
    parser.add_argument("--small-saves", type=int, help="saves of the ~2 KB document (200)")
    parser.add_argument("--large-saves", type=int, help="saves of the ~1 MB document (30)")
    args = parse_bench_args(parser, "store_bench", argv)
    quick = args.quick
    args.calls = args.calls or (5_000 if quick else 100_000)
    args.small_saves = args.small_saves or (20 if quick else 200)
    args.large_saves = args.large_saves or (5 if quick else 30)
    return args


def run(args: argparse.Namespace, tmp_dir: Path) -> Report:
    cases = [
        CoalescingCase(args.calls, args.span, args.delay, max_delay, write_time)
        for write_time in (0.0, args.slow_write)
        for max_delay in (1.0, 2.0, 5.0, math.inf)
    ]
    coalescing = bench_coalescing(tmp_dir, cases)
    documents = (("~2 KB", 2_048, args.small_saves), ("~1 MB", 1_048_576, args.large_saves))
    return Report(
        mode=mode(args),
        machine=describe_machine(tmp_dir),
        coalescing=coalescing,
        latency=bench_latency(tmp_dir, documents),
    )


def main(argv: Sequence[str] | None = None) -> int:
    return run_in_scratch("store_bench", parse_args(argv), run, render_markdown)


if __name__ == "__main__":
    sys.exit(main())
