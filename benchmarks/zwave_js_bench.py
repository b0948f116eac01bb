"""Benchmark of ``trio_locksync.providers.zwave_js`` against the REAL Z-Wave JS Server on
zwave-js's mock controller: N mock locks x 10-30 managed slots kept in sync by one engine per
lock over one ``open_zwave_js`` client — time to converge against the spacing bound, radio
commands per slot against a full-refresh design's, and CPU.

Prints a Markdown report (for the README) and writes the same figures as JSON to
``benchmarks/results/zwave_js_bench.json`` (``zwave_js_bench-quick.json`` with ``--quick``).

What is measured, and how:

* Each case starts its own server (``trio_locksync.testing.zwave_js.open_zwave_js_server(
  locks=N, lock_users=30)``: ``@zwave-js/server`` and zwave-js at the pinned versions, the mock
  controller and the server as two node processes on loopback, a fresh interview) and waits
  until every mock lock is interviewed. The N locks are ``locks.cjs``'s extra nodes 5, 6, ...:
  alternately a plain lock (readable codes, unsupervised sets) and a masking one (Supervision,
  codes read back as ``**********``, refuses duplicates), each with 30 user codes (a Schlage
  BE469 or a Kwikset has 30), slot 1 holding a code at start (a masked one on the masking
  locks: the engine clears it before it writes, since it cannot read it).
* Our side, in one ``trio.run`` on the real clock: one ``open_zwave_js`` client; per lock
  ``client.lock(node, slots=range(1, S + 1))`` and ``open_lock_sync`` at ``--spacing`` with a
  distinct PIN per slot. *Settled*: from entering ``open_lock_sync`` until every slot is IN_SYNC
  (``wait_settled``; a slot SUSPENDED counts against the case). *Verified*: IN_SYNC slots whose
  code the mock lock really holds (its control port, ground truth). Then ``--idle`` seconds with
  nothing to do: the commands sent meanwhile (pushes and timers only; zero expected).
* *Spacing bound*: the engine makes one operation at a time, ``operation_spacing`` apart, the
  first at once: (ops - 1) x spacing, ops = one full read + a set and a read-back per slot
  (+ a clear and its read-back for the masked code in slot 1 of a masking lock).
* *Commands*: ``ZWaveJsLock.commands``, every command our lock sent the server for the node
  (``getUsersCount``, one User Code ``get`` per slot read, ``set_value``); *driver TX*: the
  zwave-js driver's own ``commandsTX`` for the node (from the server's ``statistics updated``
  events, read on a bare websocket of the benchmark's), which also counts the driver's own
  verifying Get 5 s after each User Code ``set_value`` (zwave-js ``UserCodeCC``
  ``SET_VALUE_HOOKS`` -> ``schedulePoll``, ``timeouts.refreshValue``), dropped when a report
  of the expected code arrives first: our read-back does that on a readable lock, never on a
  masking one (``**********`` is not the code). *Full-refresh design*: a manager that reads every
  user code with ``refresh_cc_values`` on each pass (User Code CC v1: one Get per user,
  zwave-js ``UserCodeCC.refreshValues``): **assumed** one pass to learn the lock, one Set per
  slot, one pass to verify — 2 x users + S commands per lock, best case (no retry, no timer
  pass during the run); and users Gets per scheduled pass, where ours reads S slots per
  ``drift_interval`` (1 h by default).
* *CPU*: ``time.process_time()`` of our process over the syncs (client, engines, the witness
  websocket), and the node processes' CPU (server + mock, ``/proc``) over the same span.

Cases run in interleaved rounds (every case once per round, a fresh server each time);
figures are the median over rounds, with the range. ``--quick``: 2 locks x 10 slots, one
round (about a minute after the one-time install).
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import trio
from _harness import (
    BENCH_DIR,
    Machine,
    bench_parser,
    describe_machine,
    machine_section,
    markdown,
    mode,
    parse_bench_args,
    run_in_scratch,
    table,
)
from _zwave_driver import ServerVersions, node_version
from _zwave_run import USERS, CaseRun, full_refresh_commands, run_case

from trio_locksync.testing.zwave_js import find_node


@dataclass
class CaseSummary:
    locks: int
    slots: int
    rounds: int
    settled_s: float
    settled_min_s: float
    settled_max_s: float
    bound_s: float
    over_bound_pct: float
    in_sync: int
    verified: int
    total_slots: int
    commands_per_slot: float
    driver_tx_per_slot: float
    full_refresh_per_slot: float
    idle_commands: int
    cpu_s: float
    cpu_ms_per_slot: float
    node_cpu_s: float


@dataclass
class Report:
    mode: str
    date: str
    commit: str
    machine: Machine
    versions: ServerVersions
    users: int
    spacing_s: float
    idle_s: float
    rounds: int
    cases: list[CaseSummary] = field(default_factory=list)
    runs: list[CaseRun] = field(default_factory=list)


def _summary(runs: list[CaseRun]) -> CaseSummary:
    first = runs[0]
    settled = [r.fleet_settled_s for r in runs]
    total = first.locks * first.slots
    med = statistics.median(settled)
    return CaseSummary(
        locks=first.locks,
        slots=first.slots,
        rounds=len(runs),
        settled_s=med,
        settled_min_s=min(settled),
        settled_max_s=max(settled),
        bound_s=first.fleet_bound_s,
        over_bound_pct=100.0 * (med / first.fleet_bound_s - 1.0),
        in_sync=min(sum(o.in_sync for o in r.outcomes) for r in runs),
        verified=min(sum(o.verified for o in r.outcomes) for r in runs),
        total_slots=total,
        commands_per_slot=statistics.median(
            sum(o.commands for o in r.outcomes) / total for r in runs
        ),
        driver_tx_per_slot=statistics.median(
            sum(o.driver_tx for o in r.outcomes) / total for r in runs
        ),
        full_refresh_per_slot=full_refresh_commands(first.slots) / first.slots,
        idle_commands=max(sum(o.idle_commands for o in r.outcomes) for r in runs),
        cpu_s=statistics.median(r.cpu_s for r in runs),
        cpu_ms_per_slot=1000.0 * statistics.median(r.cpu_s for r in runs) / total,
        node_cpu_s=statistics.median(r.node_cpu_s for r in runs),
    )


def _commit() -> str:
    try:
        head = subprocess.run(
            ["git", "-C", str(BENCH_DIR), "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", str(BENCH_DIR), "status", "--porcelain", "--untracked-files=no"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return head + ("-dirty" if dirty else "")


def run(args: argparse.Namespace, tmp_dir: Path) -> Report:
    cases = [(n, s) for s in args.slots for n in args.locks]
    runs: list[CaseRun] = []
    versions: list[object] = ["?", "?"]
    for rnd in range(1, args.rounds + 1):
        for locks, slots in cases:
            print(
                f"round {rnd}: {locks} locks x {slots} slots, spacing {args.spacing:g} s",
                file=sys.stderr,
            )
            runs.append(trio.run(run_case, locks, slots, args, rnd, versions))
            last = runs[-1]
            print(
                f"  interview {last.interview_s:.1f} s, settled {last.fleet_settled_s:.1f} s "
                f"(bound {last.fleet_bound_s:.1f} s)",
                file=sys.stderr,
            )
    summaries = [_summary([r for r in runs if (r.locks, r.slots) == case]) for case in cases]
    return Report(
        mode=mode(args),
        date=datetime.now(UTC).strftime("%Y-%m-%d"),
        commit=_commit(),
        machine=describe_machine(tmp_dir),
        versions=ServerVersions(
            server=str(versions[0]), driver=str(versions[1]), node=node_version(find_node())
        ),
        users=USERS,
        spacing_s=args.spacing,
        idle_s=args.idle,
        rounds=args.rounds,
        cases=summaries,
        runs=runs,
    )


# == the report =================================================================================


def render_markdown(r: Report) -> str:
    intro = (
        f"Real `@zwave-js/server` {r.versions.server} on zwave-js {r.versions.driver}'s mock "
        f"controller (node {r.versions.node}, loopback; a fresh server and interview per case), "
        f"N mock locks of {r.users} user codes each (alternately plain and masking), S slots "
        f"managed per lock, one `open_zwave_js` client, one engine per lock at "
        f"`operation_spacing={r.spacing_s:g}`; {r.mode} run, {r.rounds} interleaved round(s), "
        f"median (range). *Bound*: (one full read + a set and a read-back per slot, + a clear "
        f"and read-back of the masked slot 1 on masking locks, minus 1) x spacing. *Commands*: "
        f"what our lock sent the server for the node; *driver TX*: the zwave-js driver's "
        f"`commandsTX` for it (+ its own verifying Get after a set our read-back did not "
        f"answer: every set on a masking lock). *Full refresh*: (2 x {r.users} Gets + S Sets) "
        f"/ S, assumed (a `refresh_cc_values` pass to learn, one Set per slot, a pass to "
        f"verify)."
    )
    rows = [
        [
            f"{c.locks} x {c.slots}",
            f"{c.settled_s:.1f} s ({c.settled_min_s:.1f}-{c.settled_max_s:.1f})",
            f"{c.bound_s:.1f} s",
            f"{c.over_bound_pct:+.0f} %",
            f"{c.in_sync} / {c.verified} of {c.total_slots}",
            f"{c.commands_per_slot:.2f}",
            f"{c.driver_tx_per_slot:.2f}",
            f"{c.full_refresh_per_slot:.2f}",
            str(c.idle_commands),
            f"{c.cpu_s:.2f} s ({c.cpu_ms_per_slot:.1f} ms/slot)",
            f"{c.node_cpu_s:.1f} s",
        ]
        for c in r.cases
    ]
    header = [
        "locks x slots",
        "converged (fleet)",
        "bound",
        "over bound",
        "IN_SYNC / verified",
        "commands/slot",
        "driver TX/slot",
        "full refresh/slot",
        f"idle {r.idle_s:g} s",
        "CPU (ours)",
        "CPU (node)",
    ]
    per_run = [
        [
            f"{x.locks} x {x.slots}",
            str(x.round),
            f"{x.interview_s:.1f} s",
            f"{x.fleet_settled_s:.1f} s",
            f"{x.wall_s:.1f} s",
            " ".join(f"{o.node}:{o.settled_s:.1f}" for o in x.outcomes),
        ]
        for x in r.runs
    ]
    steady = (
        f"Between changes: a full-refresh design reading every {r.users} codes per pass "
        f"sends {r.users} Gets per lock per pass; ours reads only its S managed slots once "
        "per `drift_interval` (1 h by default) and otherwise follows the lock's pushes "
        f"(the idle column: commands sent in {r.idle_s:g} s with nothing to do)."
    )
    return markdown(
        f"## Z-Wave JS provider: convergence on the real server ({r.mode})",
        intro,
        table(header, rows),
        steady,
        "Per run (interview: server start until every mock lock is ready; per lock: "
        "node:settled s):",
        table(["case", "round", "interview", "fleet settled", "wall", "per lock"], per_run),
        f"Run {r.date}, commit `{r.commit}`; @zwave-js/server {r.versions.server}, "
        f"zwave-js {r.versions.driver}, node {r.versions.node}.",
        "### Machine",
        machine_section(r.machine, filesystem=False),
    )


# == command line ===============================================================================


def _ints(text: str) -> list[int]:
    return [int(x) for x in text.split(",") if x]


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = bench_parser(__doc__, quick="2 locks x 10 slots, spacing 0.2 s, one round (~1 min)")
    parser.add_argument("--locks", type=_ints, help="lock counts, comma-separated (2,6,10; 2)")
    parser.add_argument("--slots", type=_ints, help="slots per lock (10,30; 10), <= 30")
    parser.add_argument("--spacing", type=float, help="operation_spacing (0.5; 0.2 quick)")
    parser.add_argument("--rounds", type=int, help="interleaved rounds (2; 1 quick)")
    parser.add_argument("--idle", type=float, help="idle seconds after settling (10; 3 quick)")
    args = parse_bench_args(parser, "zwave_js_bench", argv)
    args.locks = args.locks or ([2] if args.quick else [2, 6, 10])
    args.slots = args.slots or ([10] if args.quick else [10, 30])
    args.spacing = args.spacing or (0.2 if args.quick else 0.5)
    args.rounds = args.rounds or (1 if args.quick else 2)
    args.idle = args.idle if args.idle is not None else (3.0 if args.quick else 10.0)
    if min(args.locks) < 1 or not all(1 <= s <= USERS for s in args.slots):
        parser.error(f"--locks must be >= 1 and --slots 1..{USERS}")
    if args.spacing <= 0 or args.rounds < 1 or args.idle < 0:
        parser.error("--spacing and --rounds must be positive, --idle not negative")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    return run_in_scratch("zwave_js_bench", parse_args(argv), run, render_markdown)


if __name__ == "__main__":
    sys.exit(main())
