"""What every benchmark here shares; a benchmark file keeps only its subject and imports the rest
from here (the scripts run with ``benchmarks/`` on ``sys.path``).

Arguments (``--quick``, ``--json``, ``--seed``, ``--tmp-dir`` and their defaults under
``results/``); running in a scratch directory and publishing (Markdown on stdout, the report
dataclass as JSON); Markdown helpers; the machine section (CPU, cores, kernel, Python, trio, the
temp dir's filesystem: ``/tmp`` may be tmpfs, where fsync is free); nearest-rank percentiles and
:class:`Spread`; the trio-thread blocking probe (a 1 ms heartbeat's lateness and the longest task
step, :func:`watch_trio_thread`); the memory probe (``tracemalloc`` held and peak bytes above a
baseline, by source file, :class:`MemoryProbe`); a process's RSS (:func:`rss_kib`) and the
version of the mosquitto that ``trio_locksync.testing.MosquittoBroker`` runs
(:func:`mosquitto_version`).

Nothing here imports ``trio_locksync`` at import time: a benchmark's worker processes may run
under another interpreter (``mqtt_bench.py``'s aiomqtt peer) that has only ``trio``.
"""

from __future__ import annotations

import argparse
import gc
import json
import math
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
import tracemalloc
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from contextlib import asynccontextmanager, contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import trio

R = TypeVar("R")

BENCH_DIR = Path(__file__).resolve().parent
RESULTS_DIR = BENCH_DIR / "results"
HEARTBEAT_INTERVAL = 0.001


# -- arguments -------------------------------------------------------------------------------


def bench_parser(
    doc: str | None,
    *,
    quick: str = "a smoke run of a few seconds",
    seed: int | None = None,
    tmp_dir: bool = False,
) -> argparse.ArgumentParser:
    """A parser described by the first paragraph of ``doc``, with ``--quick`` (``quick`` is its
    help), ``--json``, ``--seed`` if ``seed`` is its default, ``--tmp-dir`` if ``tmp_dir``."""
    parser = argparse.ArgumentParser(description=doc.split("\n\n")[0] if doc else None)
    parser.add_argument("--quick", action="store_true", help=quick)
    if seed is not None:
        parser.add_argument("--seed", type=int, default=seed, help=f"seed of the run ({seed})")
    if tmp_dir:
        parser.add_argument("--tmp-dir", type=Path, help="where to write (default results/tmp)")
    parser.add_argument("--json", type=Path, help="JSON output path")
    return parser


def parse_bench_args(
    parser: argparse.ArgumentParser, name: str, argv: Sequence[str] | None
) -> argparse.Namespace:
    """Parse, then default ``--json`` to ``results/<name>[-quick].json`` and ``tmp_dir`` (the
    scratch parent of :func:`run_in_scratch`) to ``results/tmp``."""
    args = parser.parse_args(argv)
    args.quick = bool(args.quick)
    args.tmp_dir = getattr(args, "tmp_dir", None) or RESULTS_DIR / "tmp"
    args.json = args.json or RESULTS_DIR / f"{name}{'-quick' if args.quick else ''}.json"
    return args


def mode(args: argparse.Namespace) -> str:
    return "quick" if args.quick else "full"


# -- running and writing ---------------------------------------------------------------------


def _json_safe(value: Any) -> Any:
    """Non-finite floats as strings: JSON has no infinity."""
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, dict):
        return {key: _json_safe(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_json_safe(item) for item in value]
    return value


def write_json(report: Any, path: Path) -> None:
    """Write a benchmark's report dataclass as JSON."""
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = _json_safe(asdict(report))
    path.write_text(json.dumps(payload, indent=2, allow_nan=False) + "\n", encoding="utf-8")


def publish(report: R, render: Callable[[R], str], json_path: Path) -> int:
    """Print the report's Markdown, write its JSON; the exit status."""
    sys.stdout.write(render(report))
    write_json(report, json_path)
    print(f"\n(JSON written to {json_path})", file=sys.stderr)
    return 0


def run_in_scratch(
    name: str,
    args: argparse.Namespace,
    run: Callable[[argparse.Namespace, Path], R],
    render: Callable[[R], str],
) -> int:
    """A benchmark's main: run it in a scratch directory under ``args.tmp_dir`` (removed after),
    then :func:`publish` it."""
    args.tmp_dir.mkdir(parents=True, exist_ok=True)
    tmp_dir = Path(tempfile.mkdtemp(prefix=f"{name}-", dir=args.tmp_dir))
    try:
        report = run(args, tmp_dir)
    finally:
        shutil.rmtree(tmp_dir, ignore_errors=True)
    return publish(report, render, args.json)


# -- Markdown --------------------------------------------------------------------------------


def blocks(*parts: str | Sequence[str]) -> list[str]:
    """Lines of Markdown: the parts (a line, or a list of lines), a blank line between two."""
    lines: list[str] = []
    for part in parts:
        if lines:
            lines.append("")
        lines.extend([part] if isinstance(part, str) else part)
    return lines


def markdown(*parts: str | Sequence[str]) -> str:
    """A whole report: :func:`blocks` joined, ending in a newline."""
    return "\n".join(blocks(*parts)) + "\n"


def table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return lines


def yes(flag: bool) -> str:
    return "yes" if flag else "**NO**"


def kib(size: float) -> str:
    return f"{size / 1024:,.0f} KiB" if size < 1024 * 1024 else f"{size / 1024 / 1024:,.1f} MiB"


# -- machine ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Machine:
    cpu_model: str
    logical_cpus: int
    usable_cpus: int
    kernel: str
    python: str
    trio: str
    tmp_dir: str
    tmp_fs_type: str
    tmp_mount_point: str


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _unescape_mount(text: str) -> str:
    """/proc/mounts escapes spaces and friends as octal (``\\040``)."""
    return text.encode("ascii", "backslashreplace").decode("unicode_escape")


def _filesystem_of(path: Path) -> tuple[str, str]:
    """``(fs type, mount point)`` of the mount holding ``path``, from /proc/mounts."""
    real = os.path.realpath(path)
    best_mount, best_type = "", "unknown"
    try:
        lines = Path("/proc/mounts").read_text().splitlines()
    except OSError:
        return best_type, best_mount
    for line in lines:
        fields = line.split()
        if len(fields) < 3:
            continue
        mount, fs_type = _unescape_mount(fields[1]), fields[2]
        inside = real == mount or real.startswith(mount.rstrip("/") + "/")
        # >= so that a later mount over the same point wins, as the kernel does.
        if inside and len(mount) >= len(best_mount):
            best_mount, best_type = mount, fs_type
    return best_type, best_mount


def describe_machine(tmp_dir: Path) -> Machine:
    fs_type, mount = _filesystem_of(tmp_dir)
    return Machine(
        cpu_model=_cpu_model(),
        logical_cpus=os.cpu_count() or 0,
        usable_cpus=len(os.sched_getaffinity(0)),
        kernel=platform.release(),
        python=platform.python_version(),
        trio=trio.__version__,
        tmp_dir=str(tmp_dir),
        tmp_fs_type=fs_type,
        tmp_mount_point=mount,
    )


def machine_section(machine: Machine, *, filesystem: bool = True) -> list[str]:
    """The machine as a two-column table; ``filesystem``: with the temp dir's filesystem."""
    rows = [
        ("CPU", machine.cpu_model),
        ("Cores", f"{machine.logical_cpus} logical ({machine.usable_cpus} usable)"),
        ("Kernel", machine.kernel),
        ("Python", machine.python),
        ("trio", machine.trio),
    ]
    if filesystem:
        fs = f"`{machine.tmp_fs_type}` (mounted on `{machine.tmp_mount_point}`)"
        rows.append(("Temp dir filesystem", fs))
    return table(("Machine", ""), rows)


# -- percentiles -----------------------------------------------------------------------------


def percentile(values: Sequence[float], pct: float) -> float:
    """Nearest-rank percentile (``pct`` in 0..100); NaN for no values."""
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = max(1, math.ceil(pct / 100 * len(ordered)))
    return ordered[rank - 1]


def ms(seconds: float) -> float:
    return seconds * 1000.0


@dataclass(frozen=True)
class Spread:
    """p50/p99/max/min of a list of durations, in milliseconds."""

    p50_ms: float
    p99_ms: float
    max_ms: float
    min_ms: float

    @classmethod
    def of(cls, seconds: Sequence[float]) -> Spread:
        return cls(
            p50_ms=ms(percentile(seconds, 50)),
            p99_ms=ms(percentile(seconds, 99)),
            max_ms=ms(max(seconds)),
            min_ms=ms(min(seconds)),
        )


def spread_table(what: str, spreads: Sequence[tuple[str, Spread]], digits: int = 2) -> list[str]:
    """One row per labelled :class:`Spread`: p50, p99, max and min in ms, ``digits`` decimals."""
    header = (what, "p50 ms", "p99 ms", "max ms", "min ms")
    rows = [
        (label, *(f"{v:.{digits}f}" for v in (x.p50_ms, x.p99_ms, x.max_ms, x.min_ms)))
        for label, x in spreads
    ]
    return table(header, rows)


# -- trio-thread blocking --------------------------------------------------------------------


class StepTimer(trio.abc.Instrument):
    """The longest single task step: how long one task held the trio thread without yielding."""

    def __init__(self) -> None:
        self.max_step = 0.0
        self.steps = 0
        # None until a step begins under the instrument: it is added mid-step, whose end we skip.
        self._began: float | None = None

    def before_task_step(self, task: trio.lowlevel.Task) -> None:
        self._began = time.perf_counter()

    def after_task_step(self, task: trio.lowlevel.Task) -> None:
        if self._began is None:
            return
        self.steps += 1
        self.max_step = max(self.max_step, time.perf_counter() - self._began)
        self._began = None


@contextmanager
def instrumented(instrument: trio.abc.Instrument) -> Iterator[None]:
    trio.lowlevel.add_instrument(instrument)
    try:
        yield
    finally:
        trio.lowlevel.remove_instrument(instrument)


async def heartbeat(lateness: list[float]) -> None:
    """Sleep 1 ms forever, appending how late each wakeup was."""
    while True:
        expected = trio.current_time() + HEARTBEAT_INTERVAL
        await trio.sleep(HEARTBEAT_INTERVAL)
        lateness.append(trio.current_time() - expected)


@dataclass(frozen=True)
class Blocking:
    heartbeat_samples: int
    heartbeat_late_max_ms: float
    heartbeat_late_p99_ms: float
    max_step_ms: float

    @classmethod
    def from_samples(cls, lateness: Sequence[float], timer: StepTimer) -> Blocking:
        return cls(
            heartbeat_samples=len(lateness),
            heartbeat_late_max_ms=ms(max(lateness, default=math.nan)),
            heartbeat_late_p99_ms=ms(percentile(lateness, 99)),
            max_step_ms=ms(timer.max_step),
        )


@dataclass
class TrioThreadWatch:
    """What :func:`watch_trio_thread` saw: heartbeat lateness and the step timer."""

    lateness: list[float] = field(default_factory=list)
    timer: StepTimer = field(default_factory=StepTimer)

    def blocking(self) -> Blocking:
        return Blocking.from_samples(self.lateness, self.timer)


@asynccontextmanager
async def watch_trio_thread() -> AsyncIterator[TrioThreadWatch]:
    """Run the heartbeat in a task and the step timer while the block runs."""
    watch = TrioThreadWatch()
    async with trio.open_nursery() as nursery:
        nursery.start_soon(heartbeat, watch.lateness)
        with instrumented(watch.timer):
            yield watch
        nursery.cancel_scope.cancel()


async def idle_blocking(duration: float) -> Blocking:
    """The heartbeat alone for ``duration`` seconds: the timer's own noise."""
    watch = TrioThreadWatch()
    with instrumented(watch.timer), trio.move_on_after(duration):
        await heartbeat(watch.lateness)
    return watch.blocking()


# -- memory ----------------------------------------------------------------------------------


@contextmanager
def tracing() -> Iterator[None]:
    """``tracemalloc`` on for the block (it slows everything down: measure time separately)."""
    tracemalloc.start()
    try:
        yield
    finally:
        tracemalloc.stop()


def short_path(filename: str) -> str:
    """Repo-relative for the project, ``pkg/...`` for installed packages, ``stdlib x.py``."""
    if filename.startswith("<"):
        return filename  # generated code, e.g. "<attrs generated methods trio._sync.Event>"
    if "site-packages/" in filename:
        return filename.split("site-packages/", 1)[1]
    root = str(BENCH_DIR.parent) + os.sep
    if filename.startswith(root):
        return filename[len(root) :]
    if "/lib/python" in filename:
        return f"stdlib {os.path.basename(filename)}"
    return filename


@dataclass(frozen=True)
class MemoryHeld:
    #: traced bytes held at :meth:`MemoryProbe.measure` minus at the baseline
    held_bytes: int
    #: the most traced between the two, above the baseline
    peak_bytes: int
    #: ``(source file, bytes)`` of the files whose allocations grew most, most first
    top_files: list[tuple[str, int]]


class MemoryProbe:
    """Made under :func:`tracing`: ``gc.collect()``, then the baseline (a snapshot, the traced
    size, the peak reset). :meth:`measure` collects again and compares."""

    __slots__ = ("_baseline", "_before")

    def __init__(self) -> None:
        gc.collect()
        self._baseline = tracemalloc.take_snapshot()
        self._before = tracemalloc.get_traced_memory()[0]
        tracemalloc.reset_peak()

    def measure(self, files: int) -> MemoryHeld:
        """What is held now above the baseline, and the ``files`` largest contributors."""
        gc.collect()
        held, peak = tracemalloc.get_traced_memory()
        snapshot = tracemalloc.take_snapshot()
        differences = snapshot.compare_to(self._baseline, "filename")
        differences.sort(key=lambda stat: stat.size_diff, reverse=True)
        return MemoryHeld(
            held_bytes=held - self._before,
            peak_bytes=peak - self._before,
            top_files=[
                (short_path(stat.traceback[0].filename), stat.size_diff)
                for stat in differences[:files]
            ],
        )


# -- processes -------------------------------------------------------------------------------


def rss_kib(pid: int | None = None, field_name: str = "VmRSS") -> int | None:
    """A process's resident set size in KiB (``VmRSS`` in ``/proc/<pid>/status``), this
    process's by default; ``field_name="VmHWM"``: its peak since it started (unlike
    ``ru_maxrss``, which on Linux keeps the RSS of the process that spawned it). None if the
    process has ended (or this is not Linux)."""
    try:
        with open(f"/proc/{'self' if pid is None else pid}/status") as status:
            for line in status:
                if line.startswith(field_name + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


def mosquitto_version() -> str:
    """The first line of ``mosquitto -h`` (e.g. ``mosquitto version 2.0.11``) of the mosquitto
    that ``trio_locksync.testing.MosquittoBroker`` runs; ``"mosquitto"`` if it says nothing."""
    from trio_locksync.testing import BrokerError, find_mosquitto

    executable = find_mosquitto()
    if executable is None:
        raise BrokerError("mosquitto is not installed (apt-get install mosquitto)")
    out = subprocess.run([executable, "-h"], capture_output=True, text=True, check=False)
    lines = out.stdout.splitlines()
    return lines[0] if lines else "mosquitto"
