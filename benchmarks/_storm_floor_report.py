"""The storm benchmark's floor section (issue 24): the capacity probes and the storms against
``max(D, N / capacity)``, as Markdown."""

from __future__ import annotations

from _harness import table
from _storm_floor import FloorReport

# -- Markdown ----------------------------------------------------------------------------------


def floor_section(found: FloorReport) -> list[str | list[str]]:
    """The capacity probes and the storms against ``max(D, N / capacity)``."""

    def s(value: float | None, digits: int = 2) -> str:
        return "—" if value is None else f"{value:.{digits}f}"

    parts: list[str | list[str]] = [
        "### The floor: measured capacity (paced arrivals)",
        "Each probe: N paced clients in several fleet processes, the server stopped for 2 s and "
        "restarted, client k attempting k / r s after the restart. Latency = attempt to "
        "CONNECTED less the SYNCING quiet (1 s): handshake, 50-frame replay and queueing. "
        "Kept up = all back, completions ≥ 0.9 r per s, last quarter's p90 latency ≤ "
        "max(2 x, + 0.25 s) the first quarter's p50. Rates rise x1.5 until one is not kept up, "
        "one bisection, then a step at twice the highest kept up, doubled while one is kept up "
        "(at most three): a step kept up says only 'at least'. Capacity = the highest "
        "completion rate of any step (first client back to last): a rate kept up completes at "
        "its rate, one past the capacity at the rate its backlog drains. CPU = from the stop "
        "to the last client back.",
    ]
    for number, capacity in enumerate(found.capacities, 1):
        rows = [
            [
                f"{step.rate:g}",
                f"{step.completed_per_s:g}",
                f"{step.first_p50_ms:g}",
                f"{step.last_p90_ms:g}",
                "yes" if step.kept_up else "**no**",
                f"{step.back}/{step.n}",
                f"{step.cpu_s:.2f}",
                f"{step.server_cpu_s:.2f}",
            ]
            for step in capacity.steps
        ]
        parts += [
            f"Round {number}: N = {capacity.n} in {capacity.procs} fleet processes: capacity "
            f"**{s(capacity.per_s, 1)} /s**{' (' + capacity.note + ')' if capacity.note else ''}"
            f" (highest rate kept up: {s(capacity.kept_up_per_s, 1)} /s). "
            f"CPU per reconnect: fleets {capacity.fleet_ms:g} ms, server {capacity.server_ms:g} "
            f"ms; with {capacity.cores} cores all ours the CPU would allow "
            f"min({capacity.cores} / {capacity.fleet_ms + capacity.server_ms:.2f} ms, "
            f"1 / {capacity.server_ms:g} ms, {capacity.procs} / {capacity.fleet_ms:g} ms) = "
            f"{capacity.ceiling_per_s:g} /s"
            + (
                " (the rest of the gap: other work on the machine, and the processes' scheduling)."
                if capacity.per_s and capacity.ceiling_per_s > capacity.per_s
                else " (counted over whole steps, the idle clients' pings and heartbeats "
                "included: a cross-check of the machine's state, not a bound)."
            ),
            table(
                (
                    "rate /s",
                    "completed /s",
                    "latency p50, first quarter, ms",
                    "latency p90, last quarter, ms",
                    "kept up",
                    "back",
                    "fleets CPU s",
                    "server CPU s",
                ),
                rows,
            ),
        ]
    rows = []
    for row in found.rows:
        storm = row.storm
        every = ""
        if len(storm.rounds_all_synced_s) > 1:
            every = " (" + ", ".join(f"{t:.1f}" for t in storm.rounds_all_synced_s) + ")"
        ratios = ""
        if len(row.rounds_ratio) > 1:
            ratios = " (" + ", ".join(f"{r:.2f}" for r in row.rounds_ratio) + ")"
        goal = "—" if row.ratio is None else ("met" if row.ratio <= found.goal else "**not met**")
        rows.append(
            [
                storm.strategy + (f" ({storm.note})" if storm.note else ""),
                str(storm.n),
                f"{storm.down_s:g}",
                str(row.procs),
                s(row.capacity_per_s, 1),
                s(row.floor_s),
                s(storm.all_synced_s) + every,
                s(storm.p50_synced_s),
                s(row.ratio) + ratios,
                goal,
                f"{row.ceiling_per_s:g}",
                s(row.ceiling_floor_s),
                s(row.ceiling_ratio),
                str(storm.total_attempts),
                f"{storm.sockets_after_restart}, {storm.timed_out_after_restart}",
                str(storm.peak_after_restart_per_s),
                f"{storm.cpu_s:.2f}",
                f"{row.server_cpu_s:.2f}",
            ]
        )
    parts += [
        f"### Storm against the floor: all back ≤ {found.goal:g} x max(D, N / capacity)",
        "Seconds from the restart until every client is CONNECTED (through SYNCING); the fleet "
        "split over several processes (slots interleaved); capacity from the same round's "
        "probe; the upper-median round by the ratio (of two, the worse), every round's in "
        "brackets. The CPU bound: what "
        "the probe's CPU seconds per reconnect allow on all the machine's cores (the floor on "
        "a quiet machine); floor at it = max(D, N / that).",
        table(
            (
                "strategy",
                "N",
                "D s",
                "fleet processes",
                "capacity /s",
                "floor s",
                "all back s",
                "p50 s",
                "÷ floor",
                f"≤ {found.goal:g}",
                "CPU bound /s",
                "floor at it s",
                "÷ that floor",
                "attempts",
                "sockets after restart, cut unanswered by a timeout",
                "peak /s after restart",
                "fleets CPU s",
                "server CPU s",
            ),
            rows,
        ),
    ]
    return parts
