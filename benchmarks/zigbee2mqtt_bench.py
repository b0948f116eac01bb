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
  adds ``pending_ttl`` (waited out before it is charged) plus a set and a read-back.
* MQTT messages: PUBLISHes our bridge sent (``set``/``get``) and received (device states,
  availability, ``bridge/logging``; one per subscription that matched) per slot; the
  simulator's own bridge separately. Writes per slot: sets the simulated locks received.
* CPU: ``time.process_time()`` of the whole process over the run (the simulator, both bridges'
  paho threads, the providers and engines), per slot and as a share of one core.
* Machine: CPU, cores, kernel, Python and trio versions (``_harness.py``).

Run ``python benchmarks/zigbee2mqtt_bench.py`` (full, ~3 min) or ``--quick`` (~30 s).
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from collections.abc import Sequence
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

from trio_locksync import Backoff, Jitter
from trio_locksync.credentials import LockSync, SyncState, open_lock_sync
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
    wall_s: float
    cpu_s: float
    fleet_settled_s: float
    median_settled_s: float
    lower_bound_s: float
    over_bound_pct: float
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


def lower_bound(slots: int, spacing: float) -> float:
    low = LATENCY[0]
    return max(spacing, slots * low) + (2 * slots - 1) * spacing + low


def pin_for(lock: int, slot: int) -> str:
    return f"{(lock * 7919 + slot * 104729) % 900000 + 100000}"


async def _one_lock(
    index: int,
    device: SimulatedZigbeeLock,
    lock: Zigbee2MqttLock,
    slots: int,
    args: argparse.Namespace,
    outcomes: list[LockOutcome],
) -> None:
    desired: dict[int, str | None] = {n: pin_for(index, n) for n in range(slots)}
    start = trio.current_time()
    engine: LockSync
    async with open_lock_sync(
        lock, desired, operation_spacing=args.spacing, pending_ttl=args.pending_ttl
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


async def _fleet(port: int, args: argparse.Namespace) -> dict[str, Any]:
    seeds = Random(args.seed)
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
                    nursery.start_soon(_run_lock, index, device, bridge, args, outcomes)
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
    outcomes: list[LockOutcome],
) -> None:
    slots = None if args.slots == 30 else range(args.slots)  # None: learned from the model
    async with Zigbee2MqttLock(bridge, device.name, slots=slots) as lock:
        await _one_lock(index, device, lock, args.slots, args, outcomes)


def run(args: argparse.Namespace, tmp_dir: Path) -> Report:
    with MosquittoBroker(tmp_dir) as broker:
        print(
            f"{args.locks} locks x {args.slots} slots, spacing {args.spacing:g} s",
            file=sys.stderr,
        )
        got = trio.run(_fleet, broker.port, args)
    outcomes: list[LockOutcome] = sorted(got["outcomes"], key=lambda o: o.name)
    total = args.locks * args.slots
    settle = [o.settled_s for o in outcomes]
    bound = lower_bound(args.slots, args.spacing)
    cpu, wall = got["cpu"], got["wall"]
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
        wall_s=wall,
        cpu_s=cpu,
        fleet_settled_s=max(settle),
        median_settled_s=percentile(settle, 50),
        lower_bound_s=bound,
        over_bound_pct=100.0 * (max(settle) / bound - 1.0),
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
        f"seed {r.seed}). *Lower bound*: one operation per spacing per lock, a set and a "
        "read-back per slot after a full read of one `get` per user."
    )
    rows = [
        ["time to converge (fleet, latest lock)", f"{r.fleet_settled_s:.1f} s"],
        ["time to converge (median lock)", f"{r.median_settled_s:.1f} s"],
        ["spacing lower bound", f"{r.lower_bound_s:.1f} s"],
        ["over the bound (fleet)", f"{r.over_bound_pct:+.0f} %"],
        [
            "slots IN_SYNC / SUSPENDED / verified",
            f"{r.in_sync} / {r.suspended} / {r.verified} of {total}",
        ],
        ["writes per slot (sets the locks received)", f"{r.writes_per_slot:.2f}"],
        ["lost writes (found by read-back, rewritten)", f"{r.lost_writes}"],
        [
            "MQTT messages per slot, our bridge (sent + received)",
            f"{r.our_messages_per_slot:.1f} ({r.our_published:,} + {r.our_received:,})",
        ],
        [
            "MQTT messages, the simulator's bridge (sent / received)",
            f"{r.simulator_published:,} / {r.simulator_received:,}",
        ],
        ["CPU per slot (whole process)", f"{r.cpu_ms_per_slot:.1f} ms"],
        ["CPU over the run (share of one core)", f"{r.cpu_s:.1f} s ({r.cpu_share_pct:.1f} %)"],
    ]
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
        for o in r.outcomes
    ]
    return markdown(
        f"## Zigbee2MQTT provider: fleet convergence ({r.mode})",
        intro,
        table(["figure", "value"], rows),
        "Per lock (in sync / suspended / verified; sets the lock received; of them lost; "
        "`get`s; reads with no answer in time; reads answered only at the deadline):",
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
    args = parse_bench_args(parser, "zigbee2mqtt_bench", argv)
    args.locks = args.locks or (4 if args.quick else 20)
    args.slots = args.slots or (10 if args.quick else 30)
    args.spacing = args.spacing or (0.5 if args.quick else 1.0)
    args.pending_ttl = args.pending_ttl or (10.0 if args.quick else 30.0)
    if min(args.locks, args.slots) < 1 or args.spacing <= 0 or args.pending_ttl <= 0:
        parser.error("--locks, --slots, --spacing and --pending-ttl must be positive")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    return run_in_scratch("zigbee2mqtt_bench", parse_args(argv), run, render_markdown)


if __name__ == "__main__":
    sys.exit(main())
