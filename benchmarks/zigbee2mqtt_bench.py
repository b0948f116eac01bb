"""Benchmark of ``trio_locksync.providers.zigbee2mqtt``: a fleet of Zigbee locks behind a
simulated Zigbee2MQTT, kept in sync by one engine per lock over one MQTT bridge, on a real
mosquitto — how long the fleet takes to converge, and what it costs in MQTT messages, writes
and CPU.

Prints a Markdown report (for the README) and writes the same figures as JSON to
``benchmarks/results/zigbee2mqtt_bench.json`` (``zigbee2mqtt_bench-quick.json`` with
``--quick``).

What is measured, and how:

* A mosquitto of our own on a loopback port (``trio_locksync.testing.MosquittoBroker``:
  ``persistence false``, anonymous clients). In one ``trio.run``, on the real clock: the
  simulated Zigbee2MQTT 2.x (``open_zigbee2mqtt_simulator``, its own MQTT bridge; the shapes it
  publishes are pinned to Zigbee2MQTT 2.12.1's source in ``tests/test_zigbee2mqtt_simulator_
  shapes.py``) with ``--locks`` (20; 4 quick) locks of ``--slots`` (30; 10 quick) users
  numbered from 0 — at 30 a Kwikset 99140-002, whose user count our side learns from
  ``bridge/devices`` (``slots=None``); otherwise a lock of a generated definition, given
  ``slots=range(N)`` — initially empty, ``expose_pin`` on, each lock sending a battery report
  every ``REPORTS`` s (±20 %; real locks report every few hours: this makes every lock's reads
  meet cache republishes, the trap a read must survive);
  every command takes a latency drawn uniformly in 100-800 ms (Zigbee round trips; commands to
  one lock are carried out one at a time, as Zigbee2MQTT's queue does); 10 % of the sets are
  lost (``write_lands=0.9``: answered like the others, never stored). Each lock seeded.
* Our side: **one** ``open_mqtt_bridge`` shared by every ``Zigbee2MqttLock`` (defaults, e.g.
  ``read_timeout`` 12 s) and one ``open_lock_sync`` per lock wanting a distinct PIN in every
  slot, with ``operation_spacing`` 1.0 s (0.5 s quick) and ``pending_ttl`` 30 s (10 s quick;
  the defaults are 2 s and 60 s: a full run at those takes ~4 min), the rest at defaults.
* Per lock, the time from the engine's start to ``wait_settled()`` (every slot IN_SYNC or
  SUSPENDED); the fleet's time is the latest. *Verified*: IN_SYNC slots whose PIN the
  simulated lock really holds (its ground truth).
* Lower bound: one operation at a time per lock, ``operation_spacing`` apart. A write is
  OPTIMISTIC (Zigbee2MQTT confirms nothing), so each slot costs a set and a read-back: 1 full
  read + 2 x slots operations. The full read is one ``get`` per user, each at least 100 ms, so
  the bound is ``max(spacing, slots x 0.1 s) + (2 x slots - 1) x spacing + 0.1 s``. A lost write
  adds a set and a read-back (its read-back, answered by the old entry restated, ends at the
  reader's fallback deadline, ~2 x the slowest recent answer after the ``get``).
* Two variants, in interleaved rounds (``--rounds``; the order alternates, both variants of a
  round run on the same seed): *early* — the engine as it is, the provider promising
  ``reads_follow_writes``, so a read-back that shows a set lost rewrites it at the next
  operation (issue 24); *wait* — the same provider behind a wrapper without that promise, so a
  lost write waits out ``pending_ttl`` before it is charged and written again (the engine
  before issue 24). The report gives, per variant, the median fleet time over the rounds
  beside the bound and their ratio, writes per slot, and issue 24's goal (<= 1.5x, <= 1.12).
* MQTT messages: PUBLISHes our bridge sent (``set``/``get``) and received (device states,
  availability, ``bridge/logging``; one per subscription that matched) per slot; the
  simulator's own bridge separately. Writes per slot: sets the simulated locks received.
* CPU: ``time.process_time()`` of the whole process over the run (the simulator, both bridges'
  paho threads, the providers and engines), per slot and as a share of one core.
* Machine: CPU, cores, kernel, Python and trio versions (``_harness.py``).

Run ``python benchmarks/zigbee2mqtt_bench.py`` (full, one round of both variants, ~4.5 min),
``--rounds 2`` (the figures for the benchmark page, ~9 min), ``--variant early`` (~1.7 min a
round), or ``--quick`` (~45 s a round).
"""

from __future__ import annotations

import argparse
import math
import statistics
import sys
import time
from collections.abc import AsyncIterator, Collection, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from random import Random
from typing import Any

import trio
from _harness import (
    Machine,
    bench_parser,
    describe_machine,
    machine_section,
    markdown,
    mode,
    mosquitto_version,
    parse_bench_args,
    percentile,
    run_in_scratch,
    table,
)

from trio_locksync import Backoff, Jitter, Pin
from trio_locksync.credentials import (
    LockSync,
    SlotCredential,
    SlotUpdate,
    SyncState,
    WriteResult,
    open_lock_sync,
)
from trio_locksync.mqtt import MqttStatus, open_mqtt_bridge
from trio_locksync.providers.zigbee2mqtt import Zigbee2MqttLock
from trio_locksync.testing import MosquittoBroker
from trio_locksync.testing.zigbee2mqtt import SimulatedZigbeeLock, open_zigbee2mqtt_simulator

LATENCY = (0.1, 0.8)
WRITE_LANDS = 0.9
#: seconds between a simulated lock's battery reports (each republishes its whole cache)
REPORTS = 10.0
#: the model a 30-user simulated lock is (zigbee-herdsman-converters kwikset.ts:42-47)
MODEL = ("Kwikset", "99140-002")
BACKOFF = Backoff(initial=0.1, maximum=1.0, jitter=Jitter.NONE)


# == the run ====================================================================================


@dataclass
class LockOutcome:
    name: str
    settled_s: float
    in_sync: int
    suspended: int
    verified: int
    engine_sets: int
    engine_reads: int
    slot_failures: int
    lock_sets: int
    lost_writes: int
    provider_reads: int
    read_timeouts: int
    fallbacks: int


#: the variants: the engine as it is (a provider promising reads that follow its writes, so a
#: read-back that shows a write lost rewrites it at once), and as before issue 24 (the same
#: provider without the promise: a lost write waits out pending_ttl), run in interleaved rounds
VARIANTS = ("early", "wait")
VARIANT_LABELS = {
    "early": "early retry (read-back proves the write lost)",
    "wait": "wait out pending_ttl (before issue 24)",
}
#: issue 24's goals: fleet within 1.5x the bound, at most 1.12 writes per slot
GOAL_RATIO = 1.5
GOAL_WRITES = 1.12


@dataclass
class Run:
    variant: str
    round: int
    seed: int
    wall_s: float
    cpu_s: float
    fleet_settled_s: float
    median_settled_s: float
    ratio: float
    in_sync: int
    suspended: int
    verified: int
    writes_per_slot: float
    engine_sets_per_slot: float
    lost_writes: int
    our_published: int
    our_received: int
    our_messages_per_slot: float
    simulator_published: int
    simulator_received: int
    cpu_ms_per_slot: float
    cpu_share_pct: float
    outcomes: list[LockOutcome] = field(default_factory=list)


@dataclass
class Summary:
    variant: str
    rounds: int
    fleet_settled_s: float  # median over the rounds
    fleet_min_s: float
    fleet_max_s: float
    median_settled_s: float
    ratio: float  # the median fleet over the bound
    writes_per_slot: float
    suspended: int
    verified: int
    cpu_ms_per_slot: float


@dataclass
class Report:
    mode: str
    machine: Machine
    mosquitto: str
    locks: int
    slots: int
    spacing_s: float
    pending_ttl_s: float
    latency_s: tuple[float, float]
    write_lands: float
    seed: int
    rounds: int
    lower_bound_s: float
    goal_ratio: float
    goal_writes_per_slot: float
    summaries: list[Summary] = field(default_factory=list)
    runs: list[Run] = field(default_factory=list)


def lower_bound(slots: int, spacing: float) -> float:
    low = LATENCY[0]
    return max(spacing, slots * low) + (2 * slots - 1) * spacing + low


def pin_for(lock: int, slot: int) -> str:
    return f"{(lock * 7919 + slot * 104729) % 900000 + 100000}"


async def _one_lock(
    index: int,
    device: SimulatedZigbeeLock,
    lock: Zigbee2MqttLock,
    synced: Zigbee2MqttLock | _WithoutPromise,
    slots: int,
    args: argparse.Namespace,
    outcomes: list[LockOutcome],
) -> None:
    desired: dict[int, str | None] = {n: pin_for(index, n) for n in range(slots)}
    start = trio.current_time()
    engine: LockSync
    async with open_lock_sync(
        synced, desired, operation_spacing=args.spacing, pending_ttl=args.pending_ttl
    ) as engine:
        await engine.wait_settled()
        settled = trio.current_time() - start
        states = {n: engine.state(n) for n in desired}
        stats = engine.statistics()
    provider = lock.statistics()
    device_stats = device.statistics()
    outcomes.append(
        LockOutcome(
            name=device.name,
            settled_s=settled,
            in_sync=sum(s is SyncState.IN_SYNC for s in states.values()),
            suspended=sum(s is SyncState.SUSPENDED for s in states.values()),
            verified=sum(
                states[n] is SyncState.IN_SYNC and device.codes.get(n) == desired[n]
                for n in desired
            ),
            engine_sets=stats.sets,
            engine_reads=stats.reads,
            slot_failures=stats.slot_failures,
            lock_sets=device_stats.sets,
            lost_writes=device_stats.lost_writes,
            provider_reads=provider.reads,
            read_timeouts=provider.read_timeouts,
            fallbacks=provider.fallbacks,
        )
    )


class _WithoutPromise:
    """A Zigbee2MqttLock without ``reads_follow_writes``: the engine then takes an empty
    read-back as possible lag and waits out ``pending_ttl`` (the behaviour before issue 24)."""

    def __init__(self, lock: Zigbee2MqttLock) -> None:
        self.lock = lock

    @property
    def supports_push(self) -> bool:
        return self.lock.supports_push

    async def read_slots(self, slots: Collection[int] | None = None) -> dict[int, SlotCredential]:
        return await self.lock.read_slots(slots)

    async def set_code(self, slot: int, pin: Pin) -> WriteResult:
        return await self.lock.set_code(slot, pin)

    async def clear_code(self, slot: int) -> WriteResult:
        return await self.lock.clear_code(slot)

    def updates(self) -> AsyncIterator[SlotUpdate]:
        return self.lock.updates()


async def _fleet(port: int, args: argparse.Namespace, variant: str, seed: int) -> dict[str, Any]:
    seeds = Random(seed)
    outcomes: list[LockOutcome] = []
    async with open_zigbee2mqtt_simulator("127.0.0.1", port, backoff=BACKOFF) as z2m:
        devices = [
            await z2m.add_lock(
                f"lock_{i:02d}",
                **({"model": MODEL} if args.slots == 30 else {"slots": args.slots}),
                reports=REPORTS,
                expose_pin=True,
                latency=LATENCY,
                write_lands=WRITE_LANDS,
                seed=seeds.getrandbits(32),
            )
            for i in range(args.locks)
        ]
        async with open_mqtt_bridge("127.0.0.1", port, backoff=BACKOFF) as bridge:
            with trio.fail_after(10):
                await bridge.wait_status(MqttStatus.CONNECTED)
            before_ours, before_sim = bridge.statistics(), z2m.bridge.statistics()
            wall0, cpu0 = time.perf_counter(), time.process_time()
            async with trio.open_nursery() as nursery:
                for index, device in enumerate(devices):
                    nursery.start_soon(_run_lock, index, device, bridge, args, variant, outcomes)
            wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
            ours, sim = bridge.statistics(), z2m.bridge.statistics()
    return {
        "outcomes": outcomes,
        "devices": devices,
        "wall": wall,
        "cpu": cpu,
        "our_published": ours.published - before_ours.published,
        "our_received": ours.received - before_ours.received,
        "sim_published": sim.published - before_sim.published,
        "sim_received": sim.received - before_sim.received,
    }


async def _run_lock(
    index: int,
    device: SimulatedZigbeeLock,
    bridge: Any,
    args: argparse.Namespace,
    variant: str,
    outcomes: list[LockOutcome],
) -> None:
    slots = None if args.slots == 30 else range(args.slots)  # None: learned from the model
    async with Zigbee2MqttLock(bridge, device.name, slots=slots) as lock:
        synced = lock if variant == "early" else _WithoutPromise(lock)
        await _one_lock(index, device, lock, synced, args.slots, args, outcomes)


def _one_run(port: int, args: argparse.Namespace, variant: str, round_: int) -> Run:
    seed = args.seed + round_
    print(f"round {round_ + 1}/{args.rounds}: {variant}", file=sys.stderr)
    got = trio.run(_fleet, port, args, variant, seed)
    outcomes: list[LockOutcome] = sorted(got["outcomes"], key=lambda o: o.name)
    total = args.locks * args.slots
    settle = [o.settled_s for o in outcomes]
    cpu, wall = got["cpu"], got["wall"]
    return Run(
        variant=variant,
        round=round_ + 1,
        seed=seed,
        wall_s=wall,
        cpu_s=cpu,
        fleet_settled_s=max(settle),
        median_settled_s=percentile(settle, 50),
        ratio=max(settle) / lower_bound(args.slots, args.spacing),
        in_sync=sum(o.in_sync for o in outcomes),
        suspended=sum(o.suspended for o in outcomes),
        verified=sum(o.verified for o in outcomes),
        writes_per_slot=sum(o.lock_sets for o in outcomes) / total,
        engine_sets_per_slot=sum(o.engine_sets for o in outcomes) / total,
        lost_writes=sum(o.lost_writes for o in outcomes),
        our_published=got["our_published"],
        our_received=got["our_received"],
        our_messages_per_slot=(got["our_published"] + got["our_received"]) / total,
        simulator_published=got["sim_published"],
        simulator_received=got["sim_received"],
        cpu_ms_per_slot=1000.0 * cpu / total,
        cpu_share_pct=100.0 * cpu / wall if wall > 0 else math.nan,
        outcomes=outcomes,
    )


def _summary(variant: str, runs: list[Run], bound: float) -> Summary:
    fleet = [r.fleet_settled_s for r in runs]
    return Summary(
        variant=variant,
        rounds=len(runs),
        fleet_settled_s=statistics.median(fleet),
        fleet_min_s=min(fleet),
        fleet_max_s=max(fleet),
        median_settled_s=statistics.median(r.median_settled_s for r in runs),
        ratio=statistics.median(fleet) / bound,
        writes_per_slot=statistics.median(r.writes_per_slot for r in runs),
        suspended=sum(r.suspended for r in runs),
        verified=sum(r.verified for r in runs),
        cpu_ms_per_slot=statistics.median(r.cpu_ms_per_slot for r in runs),
    )


def run(args: argparse.Namespace, tmp_dir: Path) -> Report:
    variants = VARIANTS if args.variant == "both" else (args.variant,)
    runs: list[Run] = []
    with MosquittoBroker(tmp_dir) as broker:
        print(
            f"{args.locks} locks x {args.slots} slots, spacing {args.spacing:g} s, "
            f"{args.rounds} round(s) of {', '.join(variants)}",
            file=sys.stderr,
        )
        for round_ in range(args.rounds):
            # interleaved: the order alternates, each round's variants share its seed
            order = variants if round_ % 2 == 0 else tuple(reversed(variants))
            runs += [_one_run(broker.port, args, variant, round_) for variant in order]
    bound = lower_bound(args.slots, args.spacing)
    return Report(
        mode=mode(args),
        machine=describe_machine(tmp_dir),
        mosquitto=mosquitto_version(),
        locks=args.locks,
        slots=args.slots,
        spacing_s=args.spacing,
        pending_ttl_s=args.pending_ttl,
        latency_s=LATENCY,
        write_lands=WRITE_LANDS,
        seed=args.seed,
        rounds=args.rounds,
        lower_bound_s=bound,
        goal_ratio=GOAL_RATIO,
        goal_writes_per_slot=GOAL_WRITES,
        summaries=[_summary(v, [r for r in runs if r.variant == v], bound) for v in variants],
        runs=runs,
    )


# == the report =================================================================================


def render_markdown(r: Report) -> str:
    total = r.locks * r.slots
    low, high = r.latency_s
    intro = (
        f"{r.locks} simulated Zigbee locks x {r.slots} users behind one simulated Zigbee2MQTT "
        f"2.x (Zigbee2MQTT 2.12.1's shapes; battery reports every {REPORTS:g} s per lock), "
        f"one MQTT bridge for all the `Zigbee2MqttLock`s, on {r.mosquitto} (loopback); "
        f"latency {low * 1000:.0f}-{high * 1000:.0f} ms per command, "
        f"{100 * (1 - r.write_lands):.0f} % of writes lost; engines at "
        f"`operation_spacing={r.spacing_s:g}`, `pending_ttl={r.pending_ttl_s:g}` ({r.mode} run, "
        f"{r.rounds} interleaved round(s), seeds {r.seed}..{r.seed + r.rounds - 1}, both "
        "variants of a round on the same seed). *Bound*: one operation per spacing per lock, "
        f"a set and a read-back per slot after a full read of one `get` per user: "
        f"{r.lower_bound_s:.1f} s. Goal (issue 24): fleet <= {r.goal_ratio:g}x the bound, "
        f"<= {r.goal_writes_per_slot:g} writes per slot."
    )
    summary = [
        [
            VARIANT_LABELS[m.variant],
            f"{m.fleet_settled_s:.1f} s"
            + (f" ({m.fleet_min_s:.1f}-{m.fleet_max_s:.1f})" if m.rounds > 1 else ""),
            f"{r.lower_bound_s:.1f} s",
            f"{m.ratio:.2f}x",
            "yes"
            if m.ratio <= r.goal_ratio and m.writes_per_slot <= r.goal_writes_per_slot
            else "no",
            f"{m.median_settled_s:.1f} s",
            f"{m.writes_per_slot:.2f}",
            f"{m.suspended} / {m.verified} of {total * m.rounds}",
            f"{m.cpu_ms_per_slot:.1f} ms",
        ]
        for m in r.summaries
    ]
    runs = [
        [
            str(u.round),
            u.variant,
            f"{u.fleet_settled_s:.1f} s",
            f"{u.ratio:.2f}x",
            f"{u.median_settled_s:.1f} s",
            f"{u.in_sync} / {u.suspended} / {u.verified}",
            f"{u.writes_per_slot:.2f}",
            str(u.lost_writes),
            f"{u.our_messages_per_slot:.1f} ({u.our_published:,} + {u.our_received:,})",
            f"{u.cpu_ms_per_slot:.1f} ms ({u.cpu_share_pct:.1f} %)",
        ]
        for u in r.runs
    ]
    last = r.runs[-1]
    per_lock = [
        [
            o.name,
            f"{o.settled_s:.1f} s",
            f"{o.in_sync}/{o.suspended}/{o.verified}",
            str(o.lock_sets),
            str(o.lost_writes),
            str(o.provider_reads),
            str(o.read_timeouts),
            str(o.fallbacks),
        ]
        for o in last.outcomes
    ]
    return markdown(
        f"## Zigbee2MQTT provider: fleet convergence ({r.mode})",
        intro,
        table(
            [
                "variant",
                "fleet converged (median of rounds)",
                "bound",
                "ratio",
                "goal met",
                "median lock",
                "writes/slot",
                "SUSPENDED / verified",
                "CPU/slot",
            ],
            summary,
        ),
        "Each run (IN_SYNC / SUSPENDED / verified; writes/slot: sets the simulated locks "
        "received; lost: sets they dropped; MQTT messages per slot on our bridge, sent + "
        "received; CPU of the whole process per slot, share of one core):",
        table(
            [
                "round",
                "variant",
                "fleet",
                "ratio",
                "median lock",
                "sync/susp/ver",
                "writes/slot",
                "lost",
                "MQTT/slot",
                "CPU/slot",
            ],
            runs,
        ),
        f"Per lock, the last run (round {last.round}, {last.variant}; in sync / suspended / "
        "verified; sets the lock received; of them lost; `get`s; reads with no answer in time; "
        "reads answered only at the deadline):",
        table(
            ["lock", "settled", "sync/susp/ver", "sets", "lost", "gets", "timeouts", "fallbacks"],
            per_lock,
        ),
        "### Machine",
        machine_section(r.machine, filesystem=False),
    )


# == command line ===============================================================================


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = bench_parser(__doc__, quick="4 locks x 10 slots, spacing 0.5 s (~30 s)", seed=12)
    parser.add_argument("--locks", type=int, help="simulated locks (20; 4 quick)")
    parser.add_argument("--slots", type=int, help="slots per lock (30; 10 quick)")
    parser.add_argument("--spacing", type=float, help="operation_spacing (1.0; 0.5 quick)")
    parser.add_argument("--pending-ttl", type=float, help="pending_ttl (30; 10 quick)")
    parser.add_argument(
        "--rounds", type=int, default=1, help="interleaved rounds of the variants (1)"
    )
    parser.add_argument(
        "--variant",
        choices=("both", *VARIANTS),
        default="both",
        help="early: as the engine is; wait: a lost write waits out pending_ttl (before "
        "issue 24); both (the default): interleaved",
    )
    args = parse_bench_args(parser, "zigbee2mqtt_bench", argv)
    args.locks = args.locks or (4 if args.quick else 20)
    args.slots = args.slots or (10 if args.quick else 30)
    args.spacing = args.spacing or (0.5 if args.quick else 1.0)
    args.pending_ttl = args.pending_ttl or (10.0 if args.quick else 30.0)
    if min(args.locks, args.slots, args.rounds) < 1 or args.spacing <= 0 or args.pending_ttl <= 0:
        parser.error("--locks, --slots, --rounds, --spacing and --pending-ttl must be positive")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    return run_in_scratch("zigbee2mqtt_bench", parse_args(argv), run, render_markdown)


if __name__ == "__main__":
    sys.exit(main())
