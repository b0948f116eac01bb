"""The demo's closing summary: what converged, what fired, what was replayed, reconnects, and
the checks that nothing was lost — gathered while the site still runs, checked again on disk
once everything has closed. PIN-free: states, reasons, names and counts only."""

from __future__ import annotations

from pathlib import Path
from typing import Any, final

import attrs
import trio

from ..credentials import SyncState
from ..store import open_store
from ._board import Board, FaultState
from ._config import Behaviour
from ._site import Site
from ._world import World, door_value

__all__ = ["Summary", "check_disk", "gather"]


@final
@attrs.define
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
    not_in_sync: list[str] = attrs.field(factory=list)
    masked_slots: int = 0
    masked_writes: int = 0
    timers_at_exit: int = 0
    previous_timers: int | None = None
    checks: dict[str, bool] = attrs.field(factory=dict)
    #: (label, state, note) of each scheduled fault
    faults: list[tuple[str, str, str]] = attrs.field(factory=list)
    tally: dict[str, int] = attrs.field(factory=dict)

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


async def gather(site: Site, world: World, board: Board, summary: Summary) -> None:
    """Figures and checks from the running site (waits up to 3 s for the stream to show the
    doors as they are)."""
    truth = {
        name: world.controller.nodes[node].value == door_value(True)
        for name, node in world.nodes.items()
        if name in world.virtual
    }
    with trio.move_on_after(3):
        while {name: board.doors[name].locked for name in truth} != truth:  # noqa: ASYNC110
            await trio.sleep(0.05)  # replayed frames update the doors without an event
    summary.checks["doors seen through the stream match the controller"] = all(
        board.doors[name].locked == locked for name, locked in truth.items()
    )
    summary.checks["no stream event dropped"] = site.stream.statistics().dropped == 0
    summary.checks["no MQTT message dropped"] = site.bridge.statistics().dropped == 0
    summary.checks["no store write failed"] = board.tally.store_failures == 0
    for name, engine in site.engines.items():
        for slot in engine.slots:
            summary.slots_total += 1
            state = engine.state(slot)
            if state is SyncState.IN_SYNC:
                summary.slots_in_sync += 1
            else:
                reason = engine.reason(slot)
                summary.not_in_sync.append(f"{name} slot {slot} {state.name} ({reason})")
    summary.masked_slots = sum(
        len(spec.slots) for spec in site.config.locks if spec.behaviour is Behaviour.MASKED
    )
    summary.masked_writes = site.masked_writes()
    if summary.previous_timers is not None:
        recovered = board.tally.recovered_expired + board.tally.recovered_resumed
        summary.checks["every timer the last run left was recovered"] = (
            recovered == summary.previous_timers
        )
    summary.faults = [(f.label, f.state.value, f.note) for f in board.faults]


async def check_disk(state: Path, summary: Summary, last_snapshot: dict[str, Any]) -> None:
    """After everything closed: the files hold what the site last had."""
    async with open_store(state / "site.json") as store:
        saved = await store.load()
    summary.checks["site records flushed at exit"] = saved == last_snapshot
    async with open_store(state / "autolock.json") as store:
        timers = await store.load()
    count = len(timers) if isinstance(timers, dict) else 0
    summary.checks["running timers saved at exit"] = count == summary.timers_at_exit
