"""The demo's closing summary: what converged, what fired, what was replayed, reconnects, and
the checks that nothing was lost — gathered while the site still runs, checked again on disk
once everything has closed. PIN-free: states, reasons, names and counts only."""

from __future__ import annotations

import collections
from collections.abc import Mapping
from pathlib import Path
from typing import Any, final

import attrs

from ..store import open_store
from ._board import Board
from ._events import FaultState, ZWaveState
from ._words import count, span

__all__ = ["SiteFigures", "Summary", "Unsynced", "check_disk", "summarise"]

#: how many groups of slots not in sync the summary lists (the rest are counted)
LISTED = 5


@final
@attrs.frozen
class Unsynced:
    """A slot not in sync at the end, and why (never a PIN)."""

    lock: str
    slot: int
    state: str
    reason: str


@final
@attrs.frozen(kw_only=True)
class SiteFigures:
    """What the running site shows at the end of the run, and the checks made on it."""

    slots_total: int = 0
    slots_in_sync: int = 0
    not_in_sync: tuple[Unsynced, ...] = ()
    masked_slots: int = 0
    masked_writes: int = 0
    #: slots in sync checked against each lock's own record, and those of Z-Wave locks
    checked: int = 0
    zwave_checked: int = 0
    #: how many grants on how many locks are in each AccessState (by name)
    access: Mapping[str, int] = attrs.field(factory=dict)
    checks: Mapping[str, bool] = attrs.field(factory=dict)
    #: the checks the run could not decide, and why (never counted as a loss)
    not_checked: Mapping[str, str] = attrs.field(factory=dict)


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
    not_in_sync: tuple[Unsynced, ...] = ()
    masked_slots: int = 0
    masked_writes: int = 0
    timers_at_exit: int = 0
    previous_timers: int | None = None
    checks: Mapping[str, bool] = attrs.field(factory=dict)
    #: the checks the run could not decide, and why (never counted as a loss)
    not_checked: Mapping[str, str] = attrs.field(factory=dict)
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

    def _converged(self) -> list[str]:
        """The slots in sync, then what is not: counted by state, listed by lock, state and
        reason (a lock's slots alike on one line), at most :data:`LISTED` lines."""
        line = f"converged: {self.slots_in_sync} of {self.slots_total} slots in sync"
        if not self.not_in_sync:
            return [line]
        states = collections.Counter(slot.state for slot in self.not_in_sync)
        line += "; not in sync: " + ", ".join(f"{n} {s}" for s, n in states.most_common())
        alike: dict[tuple[str, str, str], list[int]] = {}
        for slot in self.not_in_sync:
            alike.setdefault((slot.lock, slot.state, slot.reason), []).append(slot.slot)
        listed = [
            f"  {lock} {'slot' if len(slots) == 1 else 'slots'} {span(slots)}: {state} ({reason})"
            for (lock, state, reason), slots in list(alike.items())[:LISTED]
        ]
        more = sum(len(slots) for slots in list(alike.values())[LISTED:])
        if more:
            listed.append(f"  and {count(more, 'more slot')} (each in the events above)")
        return [line, *listed]

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
        recovered = t["recovered_expired"] + t["recovered_resumed"]
        lines = [
            *self._converged(),
            f"autolock: {count(t['keypad_unlocks'], 'keypad unlock')} armed a timer, "
            f"{t['cancelled']} cancelled by a hand lock, {t['fired']} fired and locked the "
            f"door; {self.timers_at_exit} still running at exit, saved for the next run",
            f"event stream: {count(t['stream_connections'], 'connection')}, "
            f"{t['stream_synced']} synced; "
            f"{count(t['replayed'], 'door frame')} replayed (held in SYNCING: "
            f"{count(t['replayed_unlocks_ignored'], 'replayed unlock')} armed nothing), "
            f"{t['live']} live",
            f"mqtt ({self.broker}): {count(t['mqtt_connections'], 'connection')}, "
            f"{count(t['mqtt_reconnects'], 'reconnect')}",
            self._access_line(),
            *self._zwave_lines(),
            self._faults_line(),
            f"store: {count(t['store_writes'], 'durable write')}, "
            f"{count(t['store_failures'], 'failure')}",
        ]  # fmt: skip
        if self.run > 1:
            lines.append(
                f"resumed run {self.run - 1}: {count(recovered, 'timer')} recovered "
                f"(of {self._left_running()}; "
                f"{t['recovered_expired']} expired while the demo was down and fired at once, "
                f"{t['recovered_resumed']} resumed); masked slots rewritten: "
                f"{self.masked_writes} of {self.masked_slots}"
            )
        lines += [f"not checked: {name} ({why})" for name, why in self.not_checked.items()]
        how = "stopped by Ctrl-C after" if self.stopped_by == "Ctrl-C" else "ran"
        lost = "nothing lost" if self.nothing_lost else "LOST: " + ", ".join(self.failed())
        if self.not_checked:
            lost += f" ({count(len(self.not_checked), 'check')} not decided in this run)"
        resumed = ""
        if self.run > 1:
            resumed = f"; resumed {count(recovered, 'timer')}, {self.masked_writes} masked slots"
            resumed += " rewritten"
        lines.append(
            f"summary: run {self.run} ({how} {self.seconds:.1f} s): "
            f"{self.slots_in_sync}/{self.slots_total} slots converged, "
            f"{count(t['fired'], 'autolock')} fired, {count(t['replayed'], 'replayed frame')}, "
            f"{count(t['mqtt_reconnects'], 'MQTT reconnect')}"
            f"{resumed}; {lost}"
        )
        return lines

    def _access_line(self) -> str:
        states = ", ".join(f"{n} {state}" for state, n in sorted(self.access.items()))
        return (
            f"access plan: grants on locks: {states or 'none'}; {count(self.checked, 'slot')} in "
            "sync checked against each lock's own record"
        )

    def _zwave_lines(self) -> list[str]:
        if self.zwave_state == ZWaveState.SKIPPED.value:
            return [f"z-wave: Z-Wave locks skipped: {self.zwave}"]
        if self.zwave_state == ZWaveState.STARTING.value:
            return [f"z-wave: not up when the run ended ({self.zwave})"]
        if self.zwave_state == ZWaveState.UP.value:
            return [
                f"z-wave: {self.zwave}; {count(self.zwave_checked, 'slot')} in sync checked "
                "against the mock lock's own record"
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


async def check_disk(state: Path, last_snapshot: dict[str, Any], timers: int) -> dict[str, bool]:
    """After everything closed: the files hold what the site last had (``timers`` running)."""
    async with open_store(state / "site.json") as store:
        saved = await store.load()
    async with open_store(state / "autolock.json") as store:
        entries = await store.load()
    saved_timers = len(entries) if isinstance(entries, dict) else 0
    return {
        "site records flushed at exit": saved == last_snapshot,
        "running timers saved at exit": saved_timers == timers,
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
        not_checked=dict(figures.not_checked),
        faults=tuple((f.label, f.state.value, f.note) for f in board.faults),
        tally=attrs.asdict(tally),
        zwave_state=board.zwave_state,
        zwave=board.zwave,
        zwave_checked=figures.zwave_checked,
        checked=figures.checked,
        access=figures.access,
    )
