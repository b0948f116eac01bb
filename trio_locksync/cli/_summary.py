"""The demo's closing summary: what converged, what fired, what was replayed, reconnects, and
the checks that nothing was lost — gathered while the site still runs, checked again on disk
once everything has closed. PIN-free: states, reasons, names and counts only."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any, final

import attrs

from ..store import open_store
from ._board import Board
from ._events import FaultState, ZWaveState

__all__ = ["SiteFigures", "Summary", "check_disk", "summarise"]


@final
@attrs.frozen(kw_only=True)
class SiteFigures:
    """What the running site shows at the end of the run, and the checks made on it."""

    slots_total: int = 0
    slots_in_sync: int = 0
    not_in_sync: tuple[str, ...] = ()
    masked_slots: int = 0
    masked_writes: int = 0
    #: slots in sync checked against each lock's own record, and those of Z-Wave locks
    checked: int = 0
    zwave_checked: int = 0
    #: how many grants on how many locks are in each AccessState (by name)
    access: Mapping[str, int] = attrs.field(factory=dict)
    checks: Mapping[str, bool] = attrs.field(factory=dict)


@final
@attrs.frozen(kw_only=True)
class Summary:
    """Every figure of the closing lines; :meth:`lines` renders them."""

    run: int
    seconds: float
    stopped_by: str
    broker: str
    #: Ctrl-C came before the site was up: nothing ran, nothing else to say
    during_startup: bool = False
    slots_total: int = 0
    slots_in_sync: int = 0
    not_in_sync: tuple[str, ...] = ()
    masked_slots: int = 0
    masked_writes: int = 0
    timers_at_exit: int = 0
    previous_timers: int | None = None
    checks: Mapping[str, bool] = attrs.field(factory=dict)
    #: (label, state, note) of each scheduled fault
    faults: tuple[tuple[str, str, str], ...] = ()
    tally: Mapping[str, int] = attrs.field(factory=dict)
    #: the Z-Wave locks' state ("" when the config has none) and what it said
    zwave_state: str = ""
    zwave: str = ""
    zwave_checked: int = 0
    checked: int = 0
    access: Mapping[str, int] = attrs.field(factory=dict)

    def _left_running(self) -> str:
        if self.previous_timers is None:
            return "those in its file: it did not exit cleanly, so its own count is unchecked"
        return f"{self.previous_timers} it left running"

    @property
    def nothing_lost(self) -> bool:
        return all(self.checks.values())

    def failed(self) -> list[str]:
        return [name for name, held in self.checks.items() if not held]

    def lines(self) -> list[str]:
        if self.during_startup:
            return [
                f"summary: run {self.run} (stopped by Ctrl-C during start-up after "
                f"{self.seconds:.1f} s); what had started was closed and flushed"
            ]
        t = self.tally
        lines = [
            f"converged: {self.slots_in_sync} of {self.slots_total} slots in sync"
            + ("" if not self.not_in_sync else "; not in sync, visibly: " + "; ".join(
                self.not_in_sync)),
            f"autolock: {t['keypad_unlocks']} keypad unlocks armed a timer, {t['cancelled']} "
            f"cancelled by a hand lock, {t['fired']} fired and locked the door; "
            f"{self.timers_at_exit} still running at exit, saved for the next run",
            f"event stream: {_n(t['stream_connections'], 'connection')}, "
            f"{t['stream_synced']} synced; "
            f"{t['replayed']} door frames replayed (held in SYNCING: "
            f"{_n(t['replayed_unlocks_ignored'], 'replayed unlock')} armed nothing), "
            f"{t['live']} live",
            f"mqtt ({self.broker}): {_n(t['mqtt_connections'], 'connection')}, "
            f"{_n(t['mqtt_reconnects'], 'reconnect')}",
            self._access_line(),
            *self._zwave_lines(),
            self._faults_line(),
            f"store: {t['store_writes']} durable writes, {t['store_failures']} failures",
        ]  # fmt: skip
        if self.run > 1:
            lines.append(
                f"resumed run {self.run - 1}: {t['recovered_expired'] + t['recovered_resumed']} "
                f"timers recovered (of {self._left_running()}; "
                f"{t['recovered_expired']} expired while the demo was down and fired at once, "
                f"{t['recovered_resumed']} resumed); masked slots rewritten: "
                f"{self.masked_writes} of {self.masked_slots}"
            )
        how = "stopped by Ctrl-C after" if self.stopped_by == "Ctrl-C" else "ran"
        lost = "nothing lost" if self.nothing_lost else "LOST: " + ", ".join(self.failed())
        resumed = ""
        if self.run > 1:
            resumed = (
                f"; resumed {t['recovered_expired'] + t['recovered_resumed']} timers, "
                f"{self.masked_writes} masked slots rewritten"
            )
        lines.append(
            f"summary: run {self.run} ({how} {self.seconds:.1f} s): "
            f"{self.slots_in_sync}/{self.slots_total} slots converged, "
            f"{_n(t['fired'], 'autolock')} fired, {t['replayed']} replayed frames, "
            f"{_n(t['mqtt_reconnects'], 'MQTT reconnect')}"
            f"{resumed}; {lost}"
        )
        return lines

    def _access_line(self) -> str:
        states = ", ".join(f"{count} {state}" for state, count in sorted(self.access.items()))
        return (
            f"access plan: grants on locks: {states or 'none'}; {self.checked} slots in sync "
            "checked against each lock's own record"
        )

    def _zwave_lines(self) -> list[str]:
        if self.zwave_state == ZWaveState.SKIPPED.value:
            return [f"z-wave: Z-Wave locks skipped: {self.zwave}"]
        if self.zwave_state == ZWaveState.STARTING.value:
            return [f"z-wave: not up when the run ended ({self.zwave})"]
        if self.zwave_state == ZWaveState.UP.value:
            return [
                f"z-wave: {self.zwave}; {self.zwave_checked} slots in sync checked against the "
                "mock lock's own record"
            ]
        return []

    def _faults_line(self) -> str:
        done = [label for label, state, _ in self.faults if state == FaultState.DONE.value]
        line = f"faults: {len(done)} of {len(self.faults)} done" + (": " if done else "")
        line += ", ".join(done)
        for state in (FaultState.SKIPPED, FaultState.NOW, FaultState.UPCOMING):
            these = [(label, note) for label, s, note in self.faults if s == state.value]
            if these:
                word = {FaultState.UPCOMING: "not reached", FaultState.NOW: "cut short"}.get(
                    state, state.value
                )
                line += f"; {word}: " + ", ".join(
                    label + (f" ({note})" if note else "") for label, note in these
                )
        return line

    def to_json(self) -> dict[str, Any]:
        return attrs.asdict(self) | {"nothing_lost": self.nothing_lost}


def _n(count: int, word: str) -> str:
    return f"{count} {word}{'' if count == 1 else 's'}"


async def check_disk(state: Path, last_snapshot: dict[str, Any], timers: int) -> dict[str, bool]:
    """After everything closed: the files hold what the site last had (``timers`` running)."""
    async with open_store(state / "site.json") as store:
        saved = await store.load()
    async with open_store(state / "autolock.json") as store:
        entries = await store.load()
    count = len(entries) if isinstance(entries, dict) else 0
    return {
        "site records flushed at exit": saved == last_snapshot,
        "running timers saved at exit": count == timers,
    }


def summarise(
    board: Board,
    figures: SiteFigures,
    disk: Mapping[str, bool],
    *,
    seconds: float,
    previous_timers: int | None,
    timers_at_exit: int,
) -> Summary:
    """The summary of a run that got up, from what the board shows once every event is in,
    the site's figures and the checks on disk."""
    tally = board.tally
    checks = dict(figures.checks)
    if previous_timers is not None:
        recovered = tally.recovered_expired + tally.recovered_resumed
        checks["every timer the last run left was recovered"] = recovered == previous_timers
    return Summary(
        run=board.run_number,
        seconds=seconds,
        stopped_by=board.stopping,
        broker=board.broker,
        slots_total=figures.slots_total,
        slots_in_sync=figures.slots_in_sync,
        not_in_sync=figures.not_in_sync,
        masked_slots=figures.masked_slots,
        masked_writes=figures.masked_writes,
        timers_at_exit=timers_at_exit,
        previous_timers=previous_timers,
        checks=checks | dict(disk),
        faults=tuple((f.label, f.state.value, f.note) for f in board.faults),
        tally=attrs.asdict(tally),
        zwave_state=board.zwave_state,
        zwave=board.zwave,
        zwave_checked=figures.zwave_checked,
        checked=figures.checked,
        access=figures.access,
    )
