"""What the demo's parts report: one frozen record per kind of change, published on one
:class:`~trio_locksync.core.ChangeFeed` by the run, the world, the site and the schedule, and
reduced by the :class:`~._board.Board`'s owner (and by the site into its own records). PIN-free
by construction: states, reasons, names, times and counts only."""

from __future__ import annotations

import enum
from typing import final

import attrs

__all__ = [
    "AccessChanged",
    "BrokerUp",
    "DemoEvent",
    "DoorChanged",
    "DoorReplayed",
    "DoorReported",
    "FaultChanged",
    "FaultState",
    "FaultsPlanned",
    "Info",
    "LockReachable",
    "MqttLink",
    "RunBegan",
    "SiteOpened",
    "SlotChanged",
    "Stopping",
    "StoreFigures",
    "StreamLink",
    "TimerArmed",
    "TimerCancelled",
    "TimerFired",
    "TimerResumed",
    "TimerRetry",
    "TimersRecovered",
    "ZWaveChanged",
    "ZWaveLink",
    "ZWaveState",
]


class FaultState(enum.Enum):
    """Where a scheduled fault is: coming, happening, done, or not possible here."""

    UPCOMING = "upcoming"
    NOW = "now"
    DONE = "done"
    SKIPPED = "skipped"


class ZWaveState(enum.Enum):
    """Where the site's Z-Wave locks are: the real Z-Wave JS Server starting (installed first
    if needed), up (the site drives the locks), or skipped (why, in the detail)."""

    STARTING = "starting"
    UP = "up"
    SKIPPED = "skipped"


@final
@attrs.frozen
class RunBegan:
    """The run's number (1 + the last run's) and where its files are."""

    run: int
    state_dir: str


@final
@attrs.frozen
class BrokerUp:
    """The broker the run uses, as ``"<kind> on <host>:<port>"``."""

    label: str


@final
@attrs.frozen
class SiteOpened:
    """The site's doors, as ``(name, kind)`` pairs, before any of them reports."""

    doors: tuple[tuple[str, str], ...]


@final
@attrs.frozen
class Info:
    """A line for the viewer that changes no figure."""

    text: str


@final
@attrs.frozen
class Stopping:
    """The run is ending, and why ("duration" or "Ctrl-C")."""

    by: str


@final
@attrs.frozen
class SlotChanged:
    """A managed slot's sync state and its reason."""

    lock: str
    slot: int
    state: str
    reason: str


@final
@attrs.frozen
class DoorChanged:
    """A Zigbee lock reported its bolt (``how``: its source, and the user)."""

    lock: str
    locked: bool
    how: str


@final
@attrs.frozen
class DoorReported:
    """A live frame of the ISY controller about a door."""

    lock: str
    locked: bool


@final
@attrs.frozen
class DoorReplayed:
    """A frame the ISY stream replayed on (re)connect: the door as it is, no automation."""

    lock: str
    locked: bool


@final
@attrs.frozen
class LockReachable:
    """A lock dropped off the network (False) or rejoined it (True)."""

    lock: str
    reachable: bool


@final
@attrs.frozen
class TimerArmed:
    """A keypad unlock armed the door's autolock; it fires at trio time ``at``."""

    lock: str
    at: float


@final
@attrs.frozen
class TimerResumed:
    """A timer the last run left is running again; it fires at trio time ``at``."""

    lock: str
    at: float


@final
@attrs.frozen
class TimerCancelled:
    """A hand lock cancelled the door's autolock."""

    lock: str
    why: str


@final
@attrs.frozen
class TimerFired:
    """The autolock locked the door."""

    lock: str


@final
@attrs.frozen
class TimerRetry:
    """The autolock could not lock the door yet (``error``: the exception's type); it
    retries."""

    lock: str
    error: str


@final
@attrs.frozen
class TimersRecovered:
    """What the autolock recovered from the last run's file."""

    expired: int
    resumed: int


@final
@attrs.frozen
class StreamLink:
    """The ISY event stream's status, and its counts so far."""

    status: str
    detail: str
    connections: int
    synced: int


@final
@attrs.frozen
class MqttLink:
    """The MQTT bridge's status."""

    status: str
    detail: str


@final
@attrs.frozen
class StoreFigures:
    """Durable writes and failed writes of every store of the site so far."""

    writes: int
    failures: int


@final
@attrs.frozen
class FaultsPlanned:
    """The faults of the run, as ``(seconds from the start, label)``."""

    faults: tuple[tuple[float, str], ...]


@final
@attrs.frozen
class FaultChanged:
    """Fault number ``index`` of the plan is now in ``state``."""

    index: int
    state: FaultState
    note: str = ""


@final
@attrs.frozen
class ZWaveChanged:
    """The Z-Wave locks moved to ``state``; ``detail`` says how (or why they were skipped)."""

    state: ZWaveState
    detail: str


@final
@attrs.frozen
class ZWaveLink:
    """The Z-Wave JS client's status."""

    status: str
    detail: str


@final
@attrs.frozen
class AccessChanged:
    """Grant ``grant`` on lock ``lock``, as the access plan has it now: its
    ``AccessState`` name and why, its slot (None: none yet), the engine's state of that slot
    ("" without one), the next edge of its window (ISO, None: none) and the uses left (None:
    unlimited). Never a PIN."""

    grant: str
    lock: str
    state: str
    reason: str
    slot: int | None
    sync: str
    next_edge: str | None
    uses_left: int | None


DemoEvent = (
    RunBegan
    | BrokerUp
    | SiteOpened
    | Info
    | Stopping
    | SlotChanged
    | DoorChanged
    | DoorReported
    | DoorReplayed
    | LockReachable
    | TimerArmed
    | TimerResumed
    | TimerCancelled
    | TimerFired
    | TimerRetry
    | TimersRecovered
    | StreamLink
    | MqttLink
    | StoreFigures
    | FaultsPlanned
    | FaultChanged
    | ZWaveChanged
    | ZWaveLink
    | AccessChanged
)
