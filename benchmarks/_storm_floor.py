"""The storm benchmark's real floor (issue 24): the system's measured capacity, in handshakes +
replays per second when arrivals are paced, and the storm measured against
``max(D, N / capacity)``, with each fleet split over several processes.

The capacity probe: ``n`` ``paced`` clients (the oracle's options: no backoff to speak of, 60 s
``connect_timeout`` and ``handshake_timeout``), spread over ``procs`` fleet processes, all
connected; the server is stopped for 2 s and restarted, and the client in global slot ``k``
makes its first attempt ``k / r`` s after the restart (slots interleave across the processes, so
each process paces at ``r / procs``). Each client's *latency* is from its attempt to CONNECTED,
less the SYNCING quiet (1 s): the handshake, the 50-frame replay and the queueing in front of
them. The system *kept up* at ``r`` when every client came back, the completions came at least
0.9 ``r`` per second, and the last quarter's p90 latency is at most ``max(2 x, + 0.25 s)`` the
first quarter's p50 (a queue that grows shows as a latency that grows with the slot). Rates rise
geometrically until one is not kept up, one bisection, then a step at twice the highest kept up,
doubled while one is kept up (at most three). The *capacity* is the highest completion rate of
any step (completions per second from the first client back to the last): a step kept up
completes at its rate, one past the capacity at the rate its backlog drains. Server and fleets
share the machine's cores, so it is the capacity of the whole arrangement the storm runs in,
which is the floor that storm can be held to. Beside it, the CPU's own bound: the CPU seconds
per reconnect (fleets', server's) measured in the probe, and what ``os.cpu_count()`` cores, all
ours, would allow — the same floor on a quiet machine."""

from __future__ import annotations

import contextlib
import os
import statistics
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from _storm_common import QUIET
from _storm_measure import Child, Setup, StormRow, child, noted, storm_row

#: the goal: all back within this many times ``max(D, N / capacity)``
FLOOR_GOAL = 1.3
#: a rate is kept up when the completions come at least this share of it
KEPT_UP = 0.9
#: the probe's last step: this many times the highest rate kept up
SATURATE = 2.0
#: the probe's outage: long enough for every process to have handled the cut connections
PROBE_DOWN = 2.0


@dataclass
class RateStep:
    """One paced rate of the capacity probe."""

    rate: float
    n: int
    back: int
    #: completions per second, from the first client back to the last
    completed_per_s: float
    first_p50_ms: float
    last_p90_ms: float
    kept_up: bool
    #: the fleets' CPU seconds and the server's, from the stop to the last client back
    cpu_s: float
    server_cpu_s: float = 0.0
    #: reads that returned data per connection, median (up to CONNECTED and after)
    reads_p50: float = 0.0


@dataclass
class Capacity:
    n: int
    procs: int
    steps: list[RateStep] = field(default_factory=list)
    #: the capacity: the highest completion rate of any step all came back in (a step kept up
    #: completes at its rate; one past the capacity at the rate its backlog drains)
    per_s: float | None = None
    #: the highest paced rate kept up
    kept_up_per_s: float | None = None
    note: str = ""
    #: CPU per reconnect (median over the steps): the fleets' (client side) and the server's
    fleet_ms: float = 0.0
    server_ms: float = 0.0
    #: what the CPU alone allows with ``cores`` cores all ours: min(cores / (fleet + server),
    #: 1 / server (one server process), procs / fleet)
    cores: int = 0
    ceiling_per_s: float = 0.0


@dataclass
class FloorRow:
    """One storm against the capacity floor."""

    storm: StormRow
    procs: int
    server_cpu_s: float
    capacity_per_s: float | None
    floor_s: float | None
    ratio: float | None
    rounds_ratio: list[float] = field(default_factory=list)
    #: the same against the CPU's bound (``Capacity.ceiling_per_s``)
    ceiling_per_s: float = 0.0
    ceiling_floor_s: float | None = None
    ceiling_ratio: float | None = None


@dataclass
class FloorReport:
    capacities: list[Capacity] = field(default_factory=list)
    rows: list[FloorRow] = field(default_factory=list)
    goal: float = FLOOR_GOAL


def process_cpu(pid: int) -> float:
    """A process's user + system CPU seconds, from ``/proc`` (0.0 where there is none)."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


# -- several fleet processes as one ------------------------------------------------------------


class Fleets:
    """``procs`` fleet processes sharing one group (``n`` clients, slots interleaved)."""

    def __init__(self, children: Sequence[Child]) -> None:
        self.children = list(children)

    def send(self, *words: object) -> None:
        for fleet in self.children:
            fleet.send(*words)

    def read_all(self, key: str, timeout: float) -> list[dict[str, Any]]:
        deadline = time.monotonic() + timeout
        return [fleet.read(key, max(1.0, deadline - time.monotonic())) for fleet in self.children]

    def synced(self, timeout: float) -> dict[str, Any]:
        messages = self.read_all("synced", timeout)
        return {
            "synced": max(m["synced"] for m in messages),
            "rss_kib": sum(m["rss_kib"] for m in messages),
            "rss_before_kib": sum(m["rss_before_kib"] for m in messages),
        }

    def report(self, timeout: float) -> dict[str, Any]:
        """The processes' reports as one (clients and resync times joined, CPU added)."""
        reports = self.read_all("report", timeout)
        joined: dict[str, Any] = {
            "clients": [],
            "resynced": [],
            "n": 0,
            "endings": [],
            "sockets": [],
        }
        for report in reports:
            for group in report["groups"].values():
                joined["clients"] += group["clients"]
                joined["resynced"] += group["resynced"]
                joined["n"] += group["n"]
                joined["endings"] += group.get("endings", [])
                joined["sockets"] += group.get("sockets", [])
        return {
            "complete": all(r["complete"] for r in reports),
            "mark": min(r["mark"] for r in reports),
            "cpu_s": sum(r["cpu_s"] for r in reports),
            "groups": {"all": joined},
        }


@contextlib.contextmanager
def fleets(
    setup: Setup, strategy: str, n: int, procs: int, port: int, log: Any
) -> Iterator[Fleets]:
    with contextlib.ExitStack() as stack:
        children = []
        for p in range(procs):
            count = len(range(p, n, procs))
            spec = {
                "kind": "ws",
                "port": port,
                "slot_offset": p,
                "slot_stride": procs,
                "groups": [{"label": strategy, "strategy": strategy, "n": count}],
            }
            children.append(
                stack.enter_context(
                    child(setup.python, "fleet", spec, log.with_suffix(f".fleet{p}.log"))
                )
            )
        yield Fleets(children)


def _restart(server: Child, group: Fleets, down: float) -> tuple[float, float, float]:
    """Mark, stop the server for ``down`` s, start it: (stopped at, up at, server CPU then)."""
    group.send("mark")
    group.read_all("marked", 10)
    cpu = process_cpu(server.process.pid)
    group.send("down")
    server.send("stop")
    t_down = server.read("down", 10)["down"]
    time.sleep(max(0.0, t_down + down - time.monotonic()))
    server.send("start")
    return t_down, server.read("up", 20)["up"], cpu


# -- the capacity probe ------------------------------------------------------------------------


def rate_step(rate: float, report: dict[str, Any]) -> RateStep:
    group = report["groups"]["all"]
    pairs = []
    for attempts, back in zip(group["clients"], group["resynced"], strict=True):
        if back is not None and attempts:
            start = max(t for t in attempts if t <= back)
            pairs.append((start, back - start - QUIET))
    pairs.sort()
    latencies = [latency for _, latency in pairs]
    quarter = max(1, len(latencies) // 4)
    first = statistics.median(latencies[:quarter]) if latencies else 0.0
    last = sorted(latencies[-quarter:])
    last_p90 = last[min(len(last) - 1, int(0.9 * len(last)))] if last else 0.0
    backs = sorted(t for t in group["resynced"] if t is not None)
    reads = [s[3] for s in group.get("sockets", []) if len(s) > 3 and s[2]]
    span = backs[-1] - backs[0] if len(backs) > 1 else 0.0
    return RateStep(
        rate=rate,
        n=group["n"],
        back=len(backs),
        completed_per_s=round((len(backs) - 1) / span, 1) if span > 0 else 0.0,
        first_p50_ms=round(first * 1000, 1),
        last_p90_ms=round(last_p90 * 1000, 1),
        kept_up=len(backs) == group["n"]
        and span > 0
        and (len(backs) - 1) / span >= KEPT_UP * rate
        and last_p90 <= max(2 * first, first + 0.25),
        cpu_s=round(report["cpu_s"], 2),
        reads_p50=statistics.median(reads) if reads else 0.0,
    )


def settle(found: Capacity, cores: int) -> None:
    """From the probe's steps: the CPU per reconnect (median), the CPU's bound on ``cores``
    cores, the highest rate kept up, and the capacity (the highest completion rate of a step
    every client came back in)."""
    if found.steps:
        found.fleet_ms = round(statistics.median(s.cpu_s / s.n for s in found.steps) * 1000, 2)
        found.server_ms = round(
            statistics.median(s.server_cpu_s / s.n for s in found.steps) * 1000, 2
        )
        found.cores = cores
        if found.fleet_ms > 0 and found.server_ms > 0:
            found.ceiling_per_s = round(
                1000
                * min(
                    found.cores / (found.fleet_ms + found.server_ms),
                    1 / found.server_ms,
                    found.procs / found.fleet_ms,
                ),
                1,
            )
    kept = [s for s in found.steps if s.kept_up]
    found.kept_up_per_s = max((s.rate for s in kept), default=None)
    if found.steps:
        found.per_s = (
            max((s.completed_per_s for s in found.steps if s.back == s.n), default=0.0) or None
        )
    if not kept:
        found.note = "no rate kept up"
    elif found.steps and max(found.steps, key=lambda s: s.rate).kept_up:
        # no step went past it: the completions say only "at least"
        found.note = "a lower bound: the highest rate offered was kept up"


def probe_capacity(
    setup: Setup,
    n: int,
    procs: int,
    rates: Sequence[float] | None,
    *,
    start: float = 50.0,
    grow: float = 1.5,
    refine: int = 1,
) -> Capacity:
    """Paced arrivals: the ``rates`` given, or from ``start`` per s up by ``grow`` until one is
    not kept up, then ``refine`` bisections (geometric) between the last kept up and the first
    not, then a step at ``SATURATE`` times the highest kept up, and ``SATURATE`` times that
    while one is kept up (at most 3; at most 12 steps before)."""
    found = Capacity(n=n, procs=procs)
    log = setup.scratch / f"capacity-{n}-{procs}"
    with (
        child(setup.python, "server", {"kind": "isy"}, log.with_suffix(".server.log")) as server,
    ):
        port = server.read("up", 20)["port"]
        with fleets(setup, "paced", n, procs, port, log) as group:
            group.synced(60 + n / 10)
            time.sleep(0.5)

            def step_at(rate: float) -> RateStep:
                _, t_up, cpu = _restart(server, group, PROBE_DOWN)
                group.send("pace", t_up + 0.2, rate)
                group.send("await_resync", n / rate + 30)
                step = rate_step(round(rate, 1), group.report(n / rate + 60))
                step.server_cpu_s = round(process_cpu(server.process.pid) - cpu, 2)
                found.steps.append(step)
                print(
                    f"  capacity N={n} x{procs}: {step.rate:g}/s -> {step.completed_per_s}/s, "
                    f"latency p50 {step.first_p50_ms} -> p90 {step.last_p90_ms} ms, "
                    f"{'kept up' if step.kept_up else 'fell behind'}; "
                    f"CPU fleets {step.cpu_s} s, server {step.server_cpu_s} s, "
                    f"reads per connection {step.reads_p50:g}",
                    flush=True,
                    file=sys.stderr,
                )
                return step

            if rates:
                for rate in rates:
                    step_at(rate)
            else:
                low, high, rate = 0.0, 0.0, start
                while len(found.steps) < 12 and not high:
                    if step_at(rate).kept_up:
                        low, rate = rate, rate * grow
                    else:
                        high = rate
                for _ in range(refine if low and high else 0):
                    rate = (low * high) ** 0.5
                    if step_at(rate).kept_up:
                        low = rate
                    else:
                        high = rate
                # Well past it: the rate a backlog drains at. A step still kept up there was
                # not past the capacity (its completions say only "at least"): double again.
                rate = low * SATURATE
                for _ in range(3 if low else 0):
                    if not step_at(rate).kept_up:
                        break
                    rate *= SATURATE
    settle(found, os.cpu_count() or 1)
    return found


# -- the storm against the floor ---------------------------------------------------------------


def multi_storm(
    setup: Setup, strategy: str, n: int, down: float, procs: int, rate: float = 0.0
) -> tuple[StormRow, float]:
    """The websocket storm with the fleet split over ``procs`` processes (``paced`` at
    ``rate``: the floor's schedule run for real), and the server's CPU seconds in it."""
    log = setup.scratch / f"floor-{strategy}-{n}-{down:g}"
    with child(setup.python, "server", {"kind": "isy"}, log.with_suffix(".server.log")) as server:
        port = server.read("up", 20)["port"]
        with fleets(setup, strategy, n, procs, port, log) as group:
            synced = group.synced(60 + n / 10)
            time.sleep(0.5)
            t_down, t_up, cpu = _restart(server, group, down)
            if strategy == "paced":
                group.send("pace", t_up, rate)
            else:
                group.send("up")
            limit = max(setup.recover_timeout, 60 + n / 20)
            group.send("await_resync", limit)
            report = group.report(limit + 30)
            server_cpu = process_cpu(server.process.pid) - cpu
    row = storm_row(strategy, n, down, report, t_down, t_up, synced)
    label = f"floor N={n} D={down:g} x{procs} {strategy}: all synced"
    note = f"paced at {rate:g}/s" if strategy == "paced" else ""
    return noted(row, note, report["complete"], setup, label), round(server_cpu, 2)


# -- the rounds --------------------------------------------------------------------------------


def floor_rounds(
    setup: Setup,
    ns: Sequence[int],
    down: float,
    procs: int,
    rounds: int,
    capacity_n: int,
    rates: Sequence[float] | None,
    strategies: Sequence[str] = ("default",),
) -> FloorReport:
    """``rounds`` times: the capacity probe, then each storm (every N, every strategy) against
    ``max(D, N / capacity)`` from that round's probe. A storm's row is its upper-median round
    (by the ratio: with two rounds, the worse), carrying every round's ratio."""
    found = FloorReport()
    runs: dict[tuple[int, str], list[FloorRow]] = {}
    for round_ in range(rounds):
        print(f"  floor: round {round_ + 1} of {rounds}", file=sys.stderr)
        capacity = probe_capacity(setup, capacity_n, procs, rates)
        found.capacities.append(capacity)
        for n in ns:
            for strategy in strategies:
                rate = capacity.per_s or 0.0
                if strategy == "paced" and not rate:
                    continue
                storm, server_cpu = multi_storm(setup, strategy, n, down, procs, rate)
                floor = max(down, n / capacity.per_s) if capacity.per_s else None
                ratio = None
                if floor and storm.all_synced_s is not None:
                    ratio = round(storm.all_synced_s / floor, 2)
                storm.ratio_to_floor = ratio
                row = FloorRow(storm, procs, server_cpu, capacity.per_s, floor, ratio)
                if capacity.ceiling_per_s:
                    row.ceiling_per_s = capacity.ceiling_per_s
                    row.ceiling_floor_s = round(max(down, n / capacity.ceiling_per_s), 2)
                    if storm.all_synced_s is not None:
                        row.ceiling_ratio = round(storm.all_synced_s / row.ceiling_floor_s, 2)
                runs.setdefault((n, strategy), []).append(row)
                print(
                    f"  floor N={n} D={down:g} {strategy}: capacity {capacity.per_s}/s, "
                    f"floor {floor and round(floor, 2)} s, all back {storm.all_synced_s} s, "
                    f"ratio {ratio}",
                    file=sys.stderr,
                )
    for rows in runs.values():
        done = sorted((r for r in rows if r.ratio is not None), key=lambda r: r.ratio or 0.0)
        # the upper median: with two rounds, the worse one
        chosen = done[len(done) // 2] if done else rows[0]
        chosen.rounds_ratio = [r.ratio for r in rows if r.ratio is not None]
        chosen.storm.rounds_all_synced_s = [
            r.storm.all_synced_s for r in rows if r.storm.all_synced_s is not None
        ]
        found.rows.append(chosen)
    return found
