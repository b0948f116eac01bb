"""The storm benchmark's report: one PNG plot per scenario and the Markdown tables."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from _harness import (
    RESULTS_DIR,
    machine_section,
    markdown,
    table,
)
from _storm_floor_report import floor_section
from _storm_measure import Report, StormRow

# -- plots ---------------------------------------------------------------------------------------


def plot(report: Report, suffix: str) -> list[str]:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        report.notes.append("no plots: matplotlib is missing (the bench extra)")
        return []
    written = []

    def storm_figure(rows: list[StormRow], title: str, name: str, what: str) -> None:
        figure, (top, bottom) = plt.subplots(2, 1, figsize=(10, 7), sharex=True)
        for row in rows:
            if not row.available or not row.bins:
                continue
            xs = [row.bins_start_s + 0.1 * i for i in range(len(row.bins))]
            top.step(xs, row.bins, where="post", label=row.strategy, linewidth=1)
            if row.synced_times:
                fraction = [(i + 1) / row.n for i in range(len(row.synced_times))]
                bottom.step(row.synced_times, fraction, where="post", label=row.strategy)
        top.axvline(0, color="black", linewidth=0.8)
        bottom.axvline(0, color="black", linewidth=0.8)
        top.set_ylabel("connection attempts per 100 ms")
        top.set_yscale("symlog", linthresh=10)
        bottom.set_ylabel(f"fraction of clients {what}")
        bottom.set_xlabel("seconds since the server came back (it went down at the left edge)")
        top.set_title(title)
        top.legend(fontsize=8, ncol=4)
        bottom.legend(fontsize=8, ncol=4, loc="lower right")
        figure.tight_layout()
        path = RESULTS_DIR / f"{name}{suffix}.png"
        figure.savefig(path, dpi=90)
        plt.close(figure)
        written.append(str(path.relative_to(RESULTS_DIR.parent.parent)))

    for kind, rows_all, what in (
        ("ws", report.ws_storms, "CONNECTED again"),
        ("mqtt", report.mqtt_storms, "receiving again"),
    ):
        for n, down in sorted({(r.n, r.down_s) for r in rows_all}):
            rows = [r for r in rows_all if r.n == n and r.down_s == down]
            label = "WebSocket" if kind == "ws" else "MQTT"
            storm_figure(
                rows,
                f"{label} storm: N = {n} clients, server down {down:g} s",
                f"storm_{kind}_n{n}_d{down:g}",
                what,
            )
    for scenario in report.accept_then_drop:
        figure, axis = plt.subplots(figsize=(10, 0.32 * len(scenario.rows) + 1.5))
        labels = [row.label for row in scenario.rows]
        axis.barh(
            labels, [row.attempts_mean for row in scenario.rows], color="tab:blue", label="mean"
        )
        axis.plot(
            [row.attempts_max for row in scenario.rows], labels, "k|", markersize=12, label="max"
        )
        axis.axvline(scenario.window_s / 3.0, color="red", linewidth=0.8, label="tight-loop line")
        axis.invert_yaxis()
        axis.set_xlabel(f"connection attempts per client in {scenario.window_s:g} s")
        axis.set_title(f"Accept-then-drop: {scenario.name}", fontsize=10)
        axis.legend(fontsize=8)
        figure.tight_layout()
        path = RESULTS_DIR / f"storm_atd_{scenario.misbehaviour}{suffix}.png"
        figure.savefig(path, dpi=90)
        plt.close(figure)
        written.append(str(path.relative_to(RESULTS_DIR.parent.parent)))
    return written


# -- Markdown ------------------------------------------------------------------------------------


def _s(value: float | None, digits: int = 1) -> str:
    return "—" if value is None else f"{value:.{digits}f}"


def storm_table(rows: list[StormRow], floor_column: bool) -> list[str]:
    header = ["strategy", "all back s", "p50 s"]
    if floor_column:
        header.append("÷ floor")
    header += [
        "attempts",
        "max/client",
        "peak /s",
        "peak /100 ms",
        "peak /s after restart",
        "CPU s",
        "RSS/client",
    ]
    lines = []
    for row in rows:
        if not row.available:
            lines.append([row.strategy, row.note] + [""] * (len(header) - 2))
            continue
        every = ""
        if len(row.rounds_all_synced_s) > 1:
            every = " (" + ", ".join(f"{t:.1f}" for t in row.rounds_all_synced_s) + ")"
        cells = [
            row.strategy + (f" ({row.note})" if row.note else ""),
            _s(row.all_synced_s, 2) + every,
            _s(row.p50_synced_s, 2),
        ]
        if floor_column:
            ratios = ""
            if len(row.rounds_ratio_to_floor) > 1:
                ratios = " (" + ", ".join(f"{r:.2f}" for r in row.rounds_ratio_to_floor) + ")"
            cells.append(_s(row.ratio_to_floor, 2) + ratios)
        cells += [
            str(row.total_attempts),
            str(row.max_attempts_client),
            str(row.peak_per_s),
            str(row.peak_per_100ms),
            str(row.peak_after_restart_per_s),
            f"{row.cpu_s:.2f}",
            f"{row.rss_per_client_kib:.0f} KiB",
        ]
        lines.append(cells)
    return table(header, lines)


def render(report: Report) -> str:
    parts: list[str | Sequence[str]] = [
        f"## Reconnect storms ({report.mode} run, {report.wall_s:g} s)",
        machine_section(report.machine, filesystem=False),
        table(("Versions", ""), sorted(report.versions.items())),
        table(("Library default at this run", ""), sorted(report.defaults.items())),
        f"Peer: {report.peer}.",
    ]
    if report.floor is not None:
        parts += floor_section(report.floor)
    for n, down in sorted({(r.n, r.down_s) for r in report.ws_storms}):
        rows = [r for r in report.ws_storms if r.n == n and r.down_s == down]
        parts += [
            f"### WebSocket storm: N = {n}, server down {down:g} s",
            "Seconds from the restart until every client is CONNECTED (through SYNCING); "
            "÷ floor = that over the oracle's; attempts from the stop on; CPU = the fleet "
            "process's CPU seconds from the stop to the last client back."
            + (
                " Run in several rounds: the median round's figures, every round's in brackets "
                "(÷ floor against that round's oracle)."
                if any(len(r.rounds_all_synced_s) > 1 for r in rows)
                else ""
            ),
            storm_table(rows, True),
        ]
    for scenario in report.accept_then_drop:
        rows_atd = [
            [
                row.label,
                f"{row.stable_after:g}",
                f"{row.attempts_mean:.1f}",
                str(row.attempts_max),
                str(row.late_max),
                _s(row.shortest_gap_s, 2),
                "**YES**" if row.tight_loop else "no",
                _s(row.all_connected_after_s, 1) + (f" ({row.note})" if row.note else ""),
            ]
            for row in scenario.rows
        ]
        parts += [
            f"### Accept-then-drop: {scenario.name} ({scenario.window_s:g} s)",
            table(
                (
                    "group",
                    "stable_after s",
                    "attempts/client",
                    "max",
                    "max in 2nd half",
                    "shortest gap s",
                    "tight loop",
                    "all CONNECTED after it behaves, s",
                ),
                rows_atd,
            ),
        ]
    for n, down in sorted({(r.n, r.down_s) for r in report.mqtt_storms}):
        rows = [r for r in report.mqtt_storms if r.n == n and r.down_s == down]
        parts += [
            f"### MQTT storm: N = {n}, mosquitto killed for {down:g} s",
            "Seconds from mosquitto listening again until every client has received a tick "
            "(re-subscribed); attempts counted from the kill (bridges: sampled every 100 ms).",
            storm_table(rows, False),
        ]
    parts.append(f"Tight loop: {report.tight_loop_rule}.")
    if report.plots:
        parts.append([f"![{Path(p).stem}]({p})" for p in report.plots])
    parts += report.notes
    return markdown(*parts)
