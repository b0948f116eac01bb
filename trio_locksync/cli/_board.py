"""What the demo shows: one board that the site and the simulated world write to and every
output reads — the live dashboard, plain log lines or JSON lines. Every change worth a line is
a :class:`DemoEvent` (PIN-free by construction: states, reasons, names and counts only)."""

from __future__ import annotations

import collections
import enum
from collections.abc import Callable
from typing import final

import attrs
import trio

__all__ = ["Board", "DemoEvent", "DoorView", "FaultState", "FaultView", "Tally"]

JsonValue = str | int | float | bool | None


@final
@attrs.frozen
class DemoEvent:
    """One line of the demo: ``t`` seconds since start, a ``kind``, a human ``text`` and the
    same facts as ``data`` (what ``--json`` writes)."""

    t: float
    kind: str
    text: str
    data: dict[str, JsonValue] = attrs.field(factory=dict)

    def to_json(self) -> dict[str, JsonValue]:
        return {"t": round(self.t, 3), "kind": self.kind, "text": self.text, **self.data}


class FaultState(enum.Enum):
    UPCOMING = "upcoming"
    NOW = "now"
    DONE = "done"
    SKIPPED = "skipped"


@final
@attrs.define
class FaultView:
    """A scheduled fault as the viewer sees it coming."""

    at: float
    label: str
    state: FaultState = FaultState.UPCOMING
    note: str = ""


@final
@attrs.define
class DoorView:
    """A door: its bolt as the site last heard it, and its autolock timer."""

    kind: str
    locked: bool | None = None
    #: trio time the autolock timer fires at, or None
    timer_at: float | None = None
    reachable: bool = True


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


@final
class Board:
    """The demo's state, and the events that changed it, for whatever output listens."""

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
        self.recent: collections.deque[DemoEvent] = collections.deque(maxlen=8)
        self.stopping = ""
        #: the site is up (a Ctrl-C before that abandons the start-up)
        self.ready = False
        self._listeners: list[Callable[[DemoEvent], None]] = []

    def listen(self, listener: Callable[[DemoEvent], None]) -> None:
        self._listeners.append(listener)

    def unlisten(self, listener: Callable[[DemoEvent], None]) -> None:
        if listener in self._listeners:
            self._listeners.remove(listener)

    def elapsed(self) -> float:
        return trio.current_time() - self.start

    def emit(self, kind: str, text: str, **data: JsonValue) -> None:
        event = DemoEvent(self.elapsed(), kind, text, data)
        self.recent.append(event)
        for listener in self._listeners:
            listener(event)

    # -- the changes the site reports -------------------------------------------------------

    def slot(self, lock: str, slot: int, state: str, reason: str) -> None:
        if self.slots.get((lock, slot)) == (state, reason):
            return
        self.slots[lock, slot] = (state, reason)
        self.emit(
            "slot", f"{lock} slot {slot}: {state} ({reason})", lock=lock, slot=slot, state=state,
            reason=reason,
        )  # fmt: skip

    def door(self, lock: str, locked: bool, how: str) -> None:
        self.doors[lock].locked = locked
        word = "locked" if locked else "unlocked"
        self.emit("door", f"{lock} {word} ({how})", lock=lock, locked=locked, how=how)

    def timer(self, lock: str, at: float | None, what: str) -> None:
        self.doors[lock].timer_at = at
        remaining = None if at is None else round(max(0.0, at - trio.current_time()), 1)
        text = f"{lock} autolock {what}" + ("" if remaining is None else f" ({remaining:g} s)")
        self.emit("timer", text, lock=lock, what=what, remaining=remaining)

    def stream(self, status: str, detail: str) -> None:
        self.stream_status = status
        text = f"ISY event stream {status}" + (f": {detail}" if detail else "")
        self.emit("stream", text, status=status, detail=detail)

    def mqtt(self, status: str, detail: str) -> None:
        self.mqtt_status = status
        text = f"MQTT {status}" + (f": {detail}" if detail else "")
        self.emit("mqtt", text, status=status, detail=detail)

    def fault(self, index: int, state: FaultState, note: str = "") -> None:
        fault = self.faults[index]
        fault.state, fault.note = state, note
        if state is FaultState.DONE:
            self.tally.faults_done += 1
        text = f"fault {fault.label}: {state.value}" + (f" ({note})" if note else "")
        self.emit("fault", text, fault=fault.label, state=state.value, note=note)
