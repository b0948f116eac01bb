"""The storm benchmark's parent side: its child processes (JSON lines on stdout, commands on
stdin) and what it makes of their reports (attempts binned per 100 ms, peaks, one row per
strategy and storm, one per accept-then-drop group)."""

from __future__ import annotations

import contextlib
import itertools
import json
import math
import os
import re
import select
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

from _harness import (
    Machine,
)
from _storm_common import ENTRY

# -- the parent: processes ---------------------------------------------------------------------


class Child:
    """A child process speaking JSON lines on stdout, taking commands on stdin."""

    def __init__(self, python: str, role: str, spec: dict[str, Any], log: Path) -> None:
        self.log = log
        self.process = subprocess.Popen(
            [python, ENTRY, "--role", role, json.dumps(spec)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=log.open("wb"),
        )
        self._buffer = b""

    def send(self, *words: object) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write((" ".join(str(w) for w in words) + "\n").encode())
        self.process.stdin.flush()

    def read(self, key: str, timeout: float) -> dict[str, Any]:
        """The next message holding ``key`` (others are skipped)."""
        assert self.process.stdout is not None
        fd = self.process.stdout.fileno()
        deadline = time.monotonic() + timeout
        while True:
            while b"\n" in self._buffer:
                line, self._buffer = self._buffer.split(b"\n", 1)
                message = json.loads(line)
                if key in message:
                    return cast(dict[str, Any], message)
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"no {key!r} within {timeout} s; log: {self.tail()}")
            readable, _, _ = select.select([fd], [], [], left)
            if readable:
                chunk = os.read(fd, 1 << 20)
                if not chunk:
                    raise RuntimeError(f"child exited; log: {self.tail()}")
                self._buffer += chunk

    def tail(self) -> str:
        with contextlib.suppress(OSError):
            return self.log.read_text(errors="replace")[-1500:]
        return ""

    def close(self) -> None:
        if self.process.poll() is None:
            with contextlib.suppress(OSError, ValueError):
                self.send("quit")
            try:
                self.process.wait(5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        for pipe in (self.process.stdin, self.process.stdout):
            if pipe is not None:
                with contextlib.suppress(OSError):
                    pipe.close()


@contextlib.contextmanager
def child(python: str, role: str, spec: dict[str, Any], log: Path) -> Iterator[Child]:
    process = Child(python, role, spec, log)
    try:
        yield process
    finally:
        process.close()


# -- the parent: measuring ---------------------------------------------------------------------


def binned(times: Sequence[float], start: float, end: float, width: float = 0.1) -> list[int]:
    count = max(1, math.ceil((end - start) / width))
    bins = [0] * count
    for t in times:
        index = int((t - start) / width)
        if 0 <= index < count:
            bins[index] += 1
    return bins


def peaks(bins: Sequence[int]) -> tuple[int, int]:
    """(most attempts in any 1 s window, most in one 100 ms bin)."""
    per_s = max((sum(bins[i : i + 10]) for i in range(max(1, len(bins) - 9))), default=0)
    return per_s, max(bins, default=0)


@dataclass
class StormRow:
    """One strategy in one storm (times in seconds from the server's restart)."""

    strategy: str
    n: int
    down_s: float
    available: bool = True
    note: str = ""
    synced: int = 0
    all_synced_s: float | None = None
    p50_synced_s: float | None = None
    ratio_to_floor: float | None = None
    total_attempts: int = 0
    attempts_per_client: float = 0.0
    max_attempts_client: int = 0
    peak_per_s: int = 0
    peak_per_100ms: int = 0
    #: most attempts in any 1 s window from the restart on (the load the server meets)
    peak_after_restart_per_s: int = 0
    cpu_s: float = 0.0
    rss_per_client_kib: float = 0.0
    #: attempts per 100 ms bin from the stop (the plot); the first bin starts ``bins_start_s``
    bins: list[int] = field(default_factory=list)
    bins_start_s: float = 0.0
    #: each client's time back, sorted (the plot)
    synced_times: list[float] = field(default_factory=list)
    #: with several rounds: every round's "all back" and ratio to that round's floor (the row's
    #: other figures are the median round's)
    rounds_all_synced_s: list[float] = field(default_factory=list)
    rounds_ratio_to_floor: list[float] = field(default_factory=list)
    #: our stream's sockets from the restart on: how many were TCP-connected; how many closed
    #: before the server sent a byte (no handshake answer); how many of those closed 9.5 s or
    #: more after they opened (cut by a timeout: ``handshake_timeout``, 30 s by default, or a
    #: candidate's 10 s). Then why connections ended after the restart (digits as #).
    sockets_after_restart: int = 0
    unanswered_after_restart: int = 0
    timed_out_after_restart: int = 0
    endings_after_restart: dict[str, int] = field(default_factory=dict)


def storm_row(
    strategy: str,
    n: int,
    down: float,
    report: dict[str, Any],
    t_down: float,
    t_up: float,
    synced_msg: dict[str, Any],
) -> StormRow:
    group = next(iter(report["groups"].values()))
    resynced = [t for t in group["resynced"] if t is not None]
    attempts = sorted(t for client in group["clients"] for t in client)
    end = max([*resynced, *attempts, t_up + 1.0])
    bins = binned(attempts, t_down, end)
    per_s, per_100ms = peaks(bins)
    times = sorted(round(t - t_up, 3) for t in resynced)
    rss_growth = synced_msg["rss_kib"] - synced_msg["rss_before_kib"]
    sockets = [s for s in group.get("sockets", []) if s[0] >= t_up]
    unanswered = [s for s in sockets if not s[2] and s[1] is not None]
    endings: dict[str, int] = {}
    for at, why in group.get("endings", []):
        if at >= t_up:
            key = re.sub(r"[0-9]+(\.[0-9]+)?", "#", why)
            endings[key] = endings.get(key, 0) + 1
    return StormRow(
        sockets_after_restart=len(sockets),
        unanswered_after_restart=len(unanswered),
        timed_out_after_restart=sum(1 for s in unanswered if s[1] - s[0] >= 9.5),
        endings_after_restart=endings,
        strategy=strategy,
        n=n,
        down_s=down,
        synced=len(resynced),
        all_synced_s=times[-1] if len(resynced) == n else None,
        p50_synced_s=times[len(times) // 2] if times else None,
        total_attempts=len(attempts),
        attempts_per_client=len(attempts) / n,
        max_attempts_client=max((len(c) for c in group["clients"]), default=0),
        peak_per_s=per_s,
        peak_per_100ms=per_100ms,
        peak_after_restart_per_s=peaks(bins[int((t_up - t_down) / 0.1) :])[0],
        cpu_s=round(report["cpu_s"], 3),
        rss_per_client_kib=round(rss_growth / n, 1),
        bins=bins,
        bins_start_s=round(t_down - t_up, 3),
        synced_times=times,
    )


@dataclass
class Setup:
    python: str
    peer_python: str | None
    peer_note: str
    scratch: Path
    recover_timeout: float
    quick: bool


def noted(row: StormRow, note: str, complete: bool, setup: Setup, progress: str) -> StormRow:
    """``row`` with its note (and how many came back, if not all did), told on stderr."""
    row.note = note
    if not complete:
        missing = f"{row.synced}/{row.n} back within {setup.recover_timeout:g} s"
        row.note = f"{row.note}; {missing}" if row.note else missing
    print(
        f"  {progress} {row.all_synced_s} s, attempts {row.total_attempts}, "
        f"peak/s {row.peak_per_s}, cpu {row.cpu_s:.2f} s",
        file=sys.stderr,
    )
    return row


@dataclass
class AtdRow:
    """One group of an accept-then-drop run: attempts per client while the server misbehaved."""

    label: str
    strategy: str
    stable_after: float
    n: int
    attempts_mean: float
    attempts_max: int
    #: the most attempts of one client in the window's second half (steady state)
    late_max: int
    #: the shortest wait between two attempts of one client, in the window
    shortest_gap_s: float | None
    tight_loop: bool
    #: seconds from the server behaving again until every client of the group was CONNECTED
    all_connected_after_s: float | None = None
    note: str = ""


def atd_row(
    group: dict[str, Any], data: dict[str, Any], start: float, end: float, tight: float
) -> AtdRow:
    counts, late, gaps = [], [], []
    middle = (start + end) / 2
    for attempts in data["clients"]:
        inside = [t for t in attempts if start <= t <= end]
        counts.append(len(inside))
        late.append(sum(1 for t in inside if t >= middle))
        gaps += [b - a for a, b in itertools.pairwise(inside)]
    live_at = data.get("all_live_at")
    return AtdRow(
        label=group["label"],
        strategy=group["strategy"],
        stable_after=group["shown_stable_after"],
        n=data["n"],
        attempts_mean=round(sum(counts) / len(counts), 2),
        attempts_max=max(counts, default=0),
        shortest_gap_s=round(min(gaps), 3) if gaps else None,
        late_max=max(late, default=0),
        tight_loop=max(late, default=0) > (end - middle) / tight,
        all_connected_after_s=None if live_at is None else round(live_at - end, 2),
    )


def atd_groups(candidates: Sequence[float], n: int, default_stable: float) -> list[dict[str, Any]]:
    groups: list[dict[str, Any]] = [
        {"label": "default", "strategy": "default", "n": n, "shown_stable_after": default_stable}
    ]
    for strategy in ("default", "full", "seed", "decorrelated"):
        for stable in candidates:
            if strategy == "default" and stable == default_stable:
                continue
            groups.append(
                {
                    "label": f"{strategy} stable_after={stable:g}",
                    "strategy": strategy,
                    "stable_after": stable,
                    "shown_stable_after": stable,
                    "n": n,
                }
            )
    for strategy in ("pyisy", "pyisyox"):
        groups.append({"label": strategy, "strategy": strategy, "n": n, "shown_stable_after": 0.0})
    return groups


@dataclass
class AtdScenario:
    name: str
    misbehaviour: str
    window_s: float
    rows: list[AtdRow]


@dataclass
class Report:
    mode: str
    machine: Machine
    versions: dict[str, str]
    defaults: dict[str, str]
    peer: str
    ws_storms: list[StormRow]
    accept_then_drop: list[AtdScenario]
    mqtt_storms: list[StormRow]
    #: the storm against the measured capacity (``_storm_floor.FloorReport``), if run
    floor: Any
    plots: list[str]
    tight_loop_rule: str
    wall_s: float = 0.0
    notes: list[str] = field(default_factory=list)
