"""What the demo shows: the :class:`Board`, a reducer of the parts' events (see
:mod:`._events`) that only its owner's task writes, and the line each change is worth — for
the live dashboard, plain log lines or JSON lines."""

from __future__ import annotations

import collections
from collections.abc import AsyncIterator, Callable
from typing import final

import attrs
import trio

from ._events import (
    AccessChanged,
    BrokerUp,
    DemoEvent,
    DoorChanged,
    DoorReplayed,
    DoorReported,
    FaultChanged,
    FaultsPlanned,
    FaultState,
    Info,
    LockReachable,
    MqttLink,
    RunBegan,
    SiteOpened,
    SlotChanged,
    Stopping,
    StoreFigures,
    StreamLink,
    TimerArmed,
    TimerCancelled,
    TimerFired,
    TimerResumed,
    TimerRetry,
    TimersRecovered,
    ZWaveChanged,
    ZWaveLink,
    ZWaveState,
)
from ._words import count, tidy

__all__ = ["AccessView", "Board", "DemoLine", "DoorView", "FaultView", "Tally"]

JsonValue = str | int | float | bool | None

#: how many of the latest lines the board keeps
RECENT = 12


@final
@attrs.frozen
class DemoLine:
    """One line of the demo: ``t`` seconds since start, a ``kind``, a human ``text`` and the
    same facts as ``data`` (what ``--json`` writes)."""

    t: float
    kind: str
    text: str
    data: dict[str, JsonValue] = attrs.field(factory=dict)

    def to_json(self) -> dict[str, JsonValue]:
        return {"t": round(self.t, 3), "kind": self.kind, "text": self.text, **self.data}


@final
@attrs.frozen
class FaultView:
    """A scheduled fault as the viewer sees it coming."""

    at: float
    label: str
    state: FaultState = FaultState.UPCOMING
    note: str = ""


@final
@attrs.frozen
class DoorView:
    """A door: its bolt as the site last heard it, and its autolock timer."""

    kind: str
    locked: bool | None = None
    #: trio time the autolock timer fires at, or None
    timer_at: float | None = None
    reachable: bool = True


@final
@attrs.frozen
class AccessView:
    """A grant on a lock as the plan last said: its state and why, its slot and the engine's
    state of it, the next edge of its window and the uses left."""

    state: str
    reason: str
    slot: int | None
    sync: str
    next_edge: str | None
    uses_left: int | None


@final
@attrs.define
class Tally:
    """The counts the summary is made of."""

    keypad_unlocks: int = 0
    armed: int = 0
    cancelled: int = 0
    fired: int = 0
    fire_failures: int = 0
    recovered_expired: int = 0
    recovered_resumed: int = 0
    replayed: int = 0
    live: int = 0
    #: unlocks seen only in a replay: not live, so no timer was armed for them
    replayed_unlocks_ignored: int = 0
    stream_connections: int = 0
    stream_synced: int = 0
    mqtt_connections: int = 0
    mqtt_reconnects: int = 0
    store_writes: int = 0
    store_failures: int = 0
    faults_done: int = 0


def _words(status: str, detail: str) -> str:
    return status + (f": {detail}" if detail else "")


@final
class Board:
    """The demo's state as its events made it. One task owns it (:meth:`follow`); everyone
    else reads it."""

    def __init__(self, *, duration: float) -> None:
        self.start = trio.current_time()
        self.duration = duration
        self.run_number = 1
        self.state_dir = ""
        self.broker = ""
        self.slots: dict[tuple[str, int], tuple[str, str]] = {}
        self.doors: dict[str, DoorView] = {}
        self.stream_status = "NOT STARTED"
        self.mqtt_status = "DISCONNECTED"
        self.faults: list[FaultView] = []
        self.tally = Tally()
        #: the latest lines (the dashboard shows as many as its screen has room for)
        self.recent: collections.deque[DemoLine] = collections.deque(maxlen=RECENT)
        self.stopping = ""
        #: the Z-Wave locks' state ("" while none was said) and what it said
        self.zwave_state = ""
        self.zwave = ""
        #: the Z-Wave JS client's status ("" without Z-Wave locks)
        self.zwave_link = ""
        #: each grant on each lock, as the access plan last said
        self.access: dict[tuple[str, str], AccessView] = {}

    def elapsed(self) -> float:
        return trio.current_time() - self.start

    async def follow(
        self, events: AsyncIterator[DemoEvent], output: Callable[[DemoLine], None]
    ) -> None:
        """Apply every event until the feed ends, handing each line to ``output``."""
        async for event in events:
            line = self.apply(event)
            if line is not None:
                output(line)

    def apply(self, event: DemoEvent) -> DemoLine | None:
        """Change the board as ``event`` says; the line it is worth, if any."""
        line = self._reduce(event)
        if line is not None:
            self.recent.append(line)
        return line

    def _line(self, kind: str, text: str, **data: JsonValue) -> DemoLine:
        return DemoLine(self.elapsed(), kind, text, data)

    def _timer(self, lock: str, at: float | None, what: str) -> DemoLine:
        self.doors[lock] = attrs.evolve(self.doors[lock], timer_at=at)
        remaining = None if at is None else round(max(0.0, at - trio.current_time()), 1)
        text = f"{lock} autolock {what}" + ("" if remaining is None else f" ({remaining:g} s)")
        return self._line("timer", text, lock=lock, what=what, remaining=remaining)

    def _reduce(self, event: DemoEvent) -> DemoLine | None:
        tally = self.tally
        match event:
            case RunBegan(run, state_dir):
                self.run_number, self.state_dir = run, state_dir
            case BrokerUp(label):
                self.broker = label
            case SiteOpened(doors):
                self.doors = {name: DoorView(kind=kind) for name, kind in doors}
            case Info(text):
                return self._line("info", text)
            case Stopping(by):
                self.stopping = by
            case SlotChanged(lock, slot, state, said):
                reason = tidy(said)
                if self.slots.get((lock, slot)) == (state, reason):
                    return None
                self.slots[lock, slot] = (state, reason)
                for key, view in self.access.items():  # the grant's code there: on it yet?
                    if key[1] == lock and view.slot == slot:
                        self.access[key] = attrs.evolve(view, sync=state)
                text = f"{lock} slot {slot}: {state} ({reason})"
                return self._line("slot", text, lock=lock, slot=slot, state=state, reason=reason)
            case DoorChanged(lock, locked, how):
                return self._door_line(lock, locked, how)
            case DoorReported(lock, locked):
                tally.live += 1
                return self._door_line(lock, locked, "reported by the ISY controller")
            case DoorReplayed(lock, locked):
                tally.replayed += 1
                tally.replayed_unlocks_ignored += not locked
                self.doors[lock] = attrs.evolve(self.doors[lock], locked=locked)
            case LockReachable(lock, reachable):
                self.doors[lock] = attrs.evolve(self.doors[lock], reachable=reachable)
            case TimerArmed(lock, at):
                tally.keypad_unlocks += 1
                tally.armed += 1
                return self._timer(lock, at, "armed")
            case TimerResumed(lock, at):
                return self._timer(lock, at, "resumed from last run")
            case TimerCancelled(lock, why):
                tally.cancelled += 1
                return self._timer(lock, None, f"cancelled: {why}")
            case TimerFired(lock):
                tally.fired += 1
                return self._timer(lock, None, "fired: door locked")
            case TimerRetry(lock, error):
                tally.fire_failures += 1
                text = f"{lock} autolock could not lock yet ({error}); it retries"
                return self._line("timer", text, lock=lock, what="retry", error=error)
            case TimersRecovered(expired, resumed):
                tally.recovered_expired, tally.recovered_resumed = expired, resumed
                if expired or resumed:
                    return self._line(
                        "timer",
                        f"recovered {count(resumed + expired, 'timer')} from the last run: "
                        f"{expired} "
                        f"expired while the demo was down (fired at once), {resumed} resumed",
                        what="recovered",
                        expired=expired,
                        resumed=resumed,
                    )
            case StreamLink(status, detail, connections, synced):
                self.stream_status = status
                tally.stream_connections, tally.stream_synced = connections, synced
                text = "ISY event stream " + _words(status, detail)
                return self._line("stream", text, status=status, detail=detail)
            case MqttLink(status, detail):
                self.mqtt_status = status
                if status == "CONNECTED":
                    tally.mqtt_connections += 1
                    tally.mqtt_reconnects = tally.mqtt_connections - 1
                text = "MQTT " + _words(status, detail)
                return self._line("mqtt", text, status=status, detail=detail)
            case StoreFigures(writes, failures):
                tally.store_writes, tally.store_failures = writes, failures
            case ZWaveChanged(state, detail):
                up_again = state is ZWaveState.UP and self.zwave_state == state.value
                self.zwave = f"{self.zwave}; {detail}" if up_again else detail
                self.zwave_state = state.value
                word = {ZWaveState.SKIPPED: "skipped", ZWaveState.STARTING: "starting"}
                text = f"Z-Wave locks {word.get(state, 'up')}: {detail}"
                return self._line("zwave", text, state=state.value, detail=detail)
            case ZWaveLink(status, detail):
                self.zwave_link = status
                text = "Z-Wave JS " + _words(status, detail)
                return self._line("zwave", text, status=status, detail=detail)
            case AccessChanged(grant, lock, state, said, slot, sync, edge, uses):
                view = AccessView(state, tidy(said), slot, sync, edge, uses)
                return self._access(grant, lock, view)
            case FaultsPlanned(faults):
                self.faults = [FaultView(at, label) for at, label in faults]
            case FaultChanged(index, state, note):
                fault = self.faults[index] = attrs.evolve(
                    self.faults[index], state=state, note=note
                )
                tally.faults_done += state is FaultState.DONE
                # the line's kind says "fault" already
                text = f"{fault.label}: {state.value}" + (f" ({note})" if note else "")
                return self._line("fault", text, fault=fault.label, state=state.value, note=note)
        return None

    def _access(self, grant: str, lock: str, view: AccessView) -> DemoLine | None:
        before = self.access.get((grant, lock))
        self.access[grant, lock] = view
        if before is not None and attrs.evolve(before, sync=view.sync) == view:
            return None  # the engine's state of the slot shows in the slot lines
        where = "" if view.slot is None else f" slot {view.slot}"
        edge = "" if view.next_edge is None else f"; next edge {view.next_edge}"
        uses = "" if view.uses_left is None else f"; {view.uses_left} uses left"
        text = f"{grant} on {lock}{where}: {view.state} ({view.reason}){edge}{uses}"
        return self._line(
            "access",
            text,
            grant=grant,
            lock=lock,
            state=view.state,
            reason=view.reason,
            slot=view.slot,
            next_edge=view.next_edge,
            uses_left=view.uses_left,
        )

    def _door_line(self, lock: str, locked: bool, how: str) -> DemoLine:
        self.doors[lock] = attrs.evolve(self.doors[lock], locked=locked)
        word = "locked" if locked else "unlocked"
        return self._line("door", f"{lock} {word} ({how})", lock=lock, locked=locked, how=how)
