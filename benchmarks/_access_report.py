"""The access benchmark's results and their Markdown (``access_bench.py`` makes them)."""

from __future__ import annotations

from dataclasses import dataclass

from _harness import (
    Machine,
    Spread,
    blocks,
    kib,
    machine_section,
    markdown,
    spread_table,
    table,
    yes,
)

__all__ = ["Granting", "Memory", "Month", "Reopen", "Report", "Setup", "render_markdown"]

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
