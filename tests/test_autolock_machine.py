"""The sans-I/O autolock core: TimerMachine's transition table, TimerEntry parsing, and a
Hypothesis state machine over several timers with a fake clock, a fake store that can fail,
crashes, restarts and rebinding.

The state machine's harness drives each timer through the same interpreter as
``AutolockTimer``: a :class:`~trio_locksync.autolock._driver.TimerDriver`, whose
:class:`~trio_locksync.autolock._driver.TimerIO` here is :class:`FakeIO` (arms are deadlines on
the fake scheduler's clock, a fire's removal goes to the fake store's "remove soon"). Like
``AutolockTimer`` the harness writes through the storage the driver returns from start/cancel
(a failure is reported to the caller and the change stays pending, as with the real Store), and
start/cancel first wait for an in-flight action.
"""

from __future__ import annotations

import datetime
import itertools
from collections.abc import Callable
from typing import Any

import attrs
import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

from trio_locksync.autolock import ActionOutcome, TimerEntry, TimerMachine, TimerState
from trio_locksync.autolock._driver import Storage, TimerDriver
from trio_locksync.autolock._entry import InvalidEntry
from trio_locksync.autolock._machine import Arm, Disarm, Effect, Persist, Remove
from trio_locksync.core import InvalidTransition

UTC = datetime.UTC
T0 = datetime.datetime(2030, 6, 1, 12, 0, tzinfo=UTC)
OK, FAILED, GONE, INTERRUPTED = (
    ActionOutcome.OK,
    ActionOutcome.FAILED,
    ActionOutcome.TARGET_GONE,
    ActionOutcome.INTERRUPTED,
)
FRESH, ACTIVE, FIRING, DONE, DETACHED = (
    TimerState.FRESH,
    TimerState.ACTIVE,
    TimerState.FIRING,
    TimerState.DONE,
    TimerState.DETACHED,
)


def seconds(s: float) -> datetime.timedelta:
    return datetime.timedelta(seconds=s)


# -- the transition table, written out independently of _machine._TABLE -------------------------

Call = Callable[[TimerMachine, datetime.datetime], list[Effect]]

CALLS: dict[str, Call] = {
    "recover(None)": lambda m, now: m.recover(None, now),
    "recover(entry)": lambda m, now: m.recover(TimerEntry.starting(now, 30), now),
    "start": lambda m, now: m.start(30.0, now),
    "due": lambda m, now: m.due(),
    "action_finished(ok)": lambda m, now: m.action_finished(OK, 1.0),
    "action_finished(failed)": lambda m, now: m.action_finished(FAILED, 1.0),
    "action_finished(target_gone)": lambda m, now: m.action_finished(GONE, 1.0),
    "action_finished(interrupted)": lambda m, now: m.action_finished(INTERRUPTED, 1.0),
    "cancel": lambda m, now: m.cancel(),
    "detach": lambda m, now: m.detach(),
}
_FINISHES = {name for name in CALLS if name.startswith("action_finished")}
ALLOWED: dict[TimerState, set[str]] = {
    FRESH: {"recover(None)", "recover(entry)", "detach"},
    ACTIVE: {"start", "due", "cancel", "detach"},
    FIRING: _FINISHES,
    DONE: {"start", "cancel", "detach"},
    DETACHED: set(),
}
FORBIDDEN: dict[TimerState, list[str]] = {
    state: sorted(set(CALLS) - allowed) for state, allowed in ALLOWED.items()
}


def machine_in(state: TimerState, now: datetime.datetime = T0) -> TimerMachine:
    """A fresh machine driven into ``state`` along allowed edges."""
    machine = TimerMachine("front")
    if state is FRESH:
        return machine
    if state is DETACHED:
        machine.detach()
        return machine
    if state is DONE:
        machine.recover(None, now)
        return machine
    machine.recover(TimerEntry.starting(now, 60), now)
    if state is FIRING:
        machine.due()
    return machine


# -- TimerMachine: each edge once ------------------------------------------------------------


def test_recover_without_entry_goes_done() -> None:
    machine = TimerMachine("front")
    assert machine.state is FRESH and machine.entry is None
    assert machine.recover(None, T0) == []
    assert machine.state is DONE and machine.entry is None


def test_recover_future_entry_arms_the_remainder() -> None:
    entry = TimerEntry(end_time=T0 + seconds(90), duration=120.0)
    machine = TimerMachine("front")
    assert machine.recover(entry, T0) == [Arm(90.0)]
    assert machine.state is ACTIVE and machine.entry == entry


def test_recover_expired_entry_arms_with_delay_zero() -> None:
    entry = TimerEntry(end_time=T0 - seconds(3600), duration=120.0)
    machine = TimerMachine("front")
    assert machine.recover(entry, T0) == [Arm(0.0)]
    assert machine.state is ACTIVE and machine.entry == entry


def test_recover_after_clock_jumped_back_waits_at_most_the_duration() -> None:
    entry = TimerEntry(end_time=T0 + seconds(120), duration=120.0)
    machine = TimerMachine("front")
    # the wall clock now reads a day earlier than when start() ran
    assert machine.recover(entry, T0 - datetime.timedelta(days=1)) == [Arm(120.0)]


def test_start_from_done_persists_then_arms() -> None:
    machine = machine_in(DONE)
    effects = machine.start(45, T0)
    entry = TimerEntry(end_time=T0 + seconds(45), duration=45.0)
    assert effects == [Persist(entry), Arm(45.0)]
    assert machine.state is ACTIVE and machine.entry == entry


def test_start_while_active_rearms_with_the_full_duration() -> None:
    machine = machine_in(DONE)
    machine.start(60, T0)
    later = T0 + seconds(50)
    effects = machine.start(60, later)
    entry = TimerEntry(end_time=later + seconds(60), duration=60.0)
    assert effects == [Persist(entry), Arm(60.0)]
    assert machine.state is ACTIVE and machine.entry == entry


def test_start_with_an_invalid_duration_changes_nothing() -> None:
    machine = machine_in(ACTIVE)
    entry = machine.entry
    with pytest.raises(InvalidEntry):
        machine.start(-1.0, T0)
    assert machine.state is ACTIVE and machine.entry is entry


def test_due_goes_firing_and_keeps_the_entry() -> None:
    machine = machine_in(ACTIVE)
    entry = machine.entry
    assert machine.due() == []
    assert machine.state is FIRING and machine.entry is entry


@pytest.mark.parametrize("outcome", [OK, GONE])
def test_action_done_or_target_gone_ends_the_timer(outcome: ActionOutcome) -> None:
    machine = machine_in(FIRING)
    assert machine.action_finished(outcome, 5.0) == [Remove()]
    assert machine.state is DONE and machine.entry is None


def test_action_failed_keeps_the_entry_and_arms_the_retry() -> None:
    machine = machine_in(FIRING)
    entry = machine.entry
    assert machine.action_finished(FAILED, 7.5) == [Arm(7.5)]
    assert machine.state is ACTIVE and machine.entry is entry


def test_action_interrupted_keeps_the_entry_and_arms_nothing() -> None:
    machine = machine_in(FIRING)
    entry = machine.entry
    assert machine.action_finished(INTERRUPTED, 7.5) == []
    assert machine.state is ACTIVE and machine.entry is entry
    assert machine.detach() == [Disarm()]  # what the closing service does next


def test_cancel_active_disarms_and_removes() -> None:
    machine = machine_in(ACTIVE)
    assert machine.cancel() == [Disarm(), Remove()]
    assert machine.state is DONE and machine.entry is None


def test_cancel_done_is_idempotent_and_still_removes() -> None:
    # the Remove makes a fire's pending remove-soon durable before cancel() returns
    machine = machine_in(DONE)
    for _ in range(2):
        assert machine.cancel() == [Remove()]
        assert machine.state is DONE and machine.entry is None


@pytest.mark.parametrize("state", [FRESH, ACTIVE, DONE])
def test_detach_disarms_and_keeps_nothing_in_memory(state: TimerState) -> None:
    machine = machine_in(state)
    assert machine.detach() == [Disarm()]  # no Remove: the entry stays on disk
    assert machine.state is DETACHED and machine.entry is None


@pytest.mark.parametrize(
    ("state", "call"),
    [(state, call) for state, calls in FORBIDDEN.items() for call in calls],
    ids=lambda value: value.value if isinstance(value, TimerState) else value,
)
def test_forbidden_call_raises_and_changes_nothing(state: TimerState, call: str) -> None:
    machine = machine_in(state)
    entry = machine.entry
    with pytest.raises(InvalidTransition) as info:
        CALLS[call](machine, T0 + seconds(1))
    assert info.value.current is state
    assert machine.state is state and machine.entry is entry


def test_allowed_calls_match_the_documented_table() -> None:
    # the complement of the forbidden tests: each allowed call succeeds from its state
    for state, allowed in ALLOWED.items():
        for call in allowed:
            CALLS[call](machine_in(state), T0)


# -- TimerEntry -------------------------------------------------------------------------------


def test_from_json_reads_a_naive_end_time_as_utc() -> None:
    entry = TimerEntry.from_json({"end_time": "2030-06-01T12:00:00", "duration": 60})
    assert entry.end_time == T0 and entry.end_time.tzinfo is UTC


def test_from_json_converts_an_offset_to_utc_and_round_trips() -> None:
    entry = TimerEntry.from_json({"end_time": "2030-06-01T14:00:00+02:00", "duration": 60.5})
    assert entry.end_time == T0 and entry.end_time.utcoffset() == datetime.timedelta(0)
    assert TimerEntry.from_json(entry.to_json()) == entry


@pytest.mark.parametrize(
    "end_time", ["tomorrow", "", "2030-13-01T00:00:00", 1780000000, None, ["2030-06-01"]]
)
def test_from_json_rejects_a_bad_end_time(end_time: object) -> None:
    with pytest.raises(InvalidEntry):
        TimerEntry.from_json({"end_time": end_time, "duration": 60})


def test_from_json_rejects_a_missing_end_time() -> None:
    with pytest.raises(InvalidEntry):
        TimerEntry.from_json({"duration": 60})


@pytest.mark.parametrize("raw", [None, [], ["2030-06-01T12:00:00", 60], "entry", 60])
def test_from_json_rejects_a_non_mapping(raw: object) -> None:
    with pytest.raises(InvalidEntry, match="mapping"):
        TimerEntry.from_json(raw)


@pytest.mark.parametrize(
    "duration", [-1, -0.001, True, False, "60", None, float("nan"), float("inf")]
)
def test_from_json_rejects_a_bad_duration(duration: object) -> None:
    with pytest.raises(InvalidEntry):
        TimerEntry.from_json({"end_time": "2030-06-01T12:00:00Z", "duration": duration})


@pytest.mark.parametrize("end_time", ["0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-01:00"])
def test_from_json_rejects_an_out_of_range_end_time(end_time: str) -> None:
    # in range as written, out of datetime's range once converted to UTC: an OverflowError
    # here would escape TimerStore.load() instead of pruning the entry
    with pytest.raises(InvalidEntry):
        TimerEntry.from_json({"end_time": end_time, "duration": 60})


def test_remaining_counts_down_within_the_duration() -> None:
    entry = TimerEntry(end_time=T0 + seconds(60), duration=60.0)
    assert entry.remaining(T0) == 60.0
    assert entry.remaining(T0 + seconds(20)) == 40.0
    assert entry.remaining(T0 + seconds(60)) == 0.0


def test_remaining_is_clamped_when_the_wall_clock_jumped_back() -> None:
    entry = TimerEntry(end_time=T0 + seconds(60), duration=60.0)
    assert entry.remaining(T0 - datetime.timedelta(days=365)) == 60.0


def test_remaining_is_zero_when_the_wall_clock_jumped_forward() -> None:
    entry = TimerEntry(end_time=T0 + seconds(60), duration=60.0)
    assert entry.remaining(T0 + datetime.timedelta(days=365)) == 0.0


# -- the state machine ------------------------------------------------------------------------

IDS = ("front", "back", "garage")
timer_ids = st.sampled_from(IDS)
durations = st.sampled_from([0.5, 1.0, 2.25, 5.0, 10.0, 30.0, 90.0, 3600.0])
steps = st.sampled_from([0.0, 0.25, 1.0, 2.5, 10.0, 60.0, 125.0])
retry_delays = st.sampled_from([0.0, 0.5, 1.0, 4.0, 60.0])
#: how a fired action ends while the service runs (INTERRUPTED only happens at close)
outcomes = st.sampled_from([OK, FAILED, GONE])
#: what the scheduler does while time passes: runs every call that fell due; has not got to
#: them yet (a deadline passed, no action started); or one due action started and is running
scheduler_modes = st.sampled_from(["runs", "runs", "late", "one in flight"])


class StoreDown(Exception):
    """The fake disk refused a write."""


class FakeStore:
    """TimerStore + Store semantics: an in-memory mirror that every change updates first, and
    what is durably on disk. A failed write raises and stays pending; a crash loses it."""

    def __init__(self, durable: dict[str, TimerEntry], *, failing: bool) -> None:
        self.durable = dict(durable)
        self.mirror = dict(durable)
        self.failing = failing
        self.pending = False

    def _save(self) -> None:
        self.pending = True
        if self.failing:
            raise StoreDown
        self.durable = dict(self.mirror)
        self.pending = False

    def write(self, timer_id: str, entry: TimerEntry) -> None:
        self.mirror[timer_id] = entry
        self._save()

    def remove(self, timer_id: str) -> None:
        if self.mirror.pop(timer_id, None) is None and not self.pending:
            return
        self._save()  # also makes an earlier pending change land, like Store.flush()

    def remove_soon(self, timer_id: str) -> None:
        """Never raises, never writes now: the background writer lands it later."""
        if self.mirror.pop(timer_id, None) is not None:
            self.pending = True

    def background_write(self) -> None:
        if self.pending and not self.failing:
            self._save()

    def write_through(self, timer_id: str, storage: list[Storage]) -> None:
        """What ``AutolockTimer`` does with the storage a start or cancel returns (raises
        StoreDown where it raises AutolockPersistError)."""
        for effect in storage:
            if isinstance(effect, Persist):
                self.write(timer_id, effect.entry)
            else:
                self.remove(timer_id)


@attrs.define
class FakeIO:
    """One timer's TimerIO over the fakes: an arm is a deadline in ``arms`` (shared by every
    timer, keyed by id), a fire's removal goes to the store, changes of state are recorded."""

    timer_id: str
    store: FakeStore
    arms: dict[str, float] = attrs.Factory(dict)
    states: list[TimerState] = attrs.Factory(list)

    def arm(self, deadline: float) -> None:
        self.arms[self.timer_id] = deadline  # replaces any earlier arm

    def disarm(self) -> None:
        self.arms.pop(self.timer_id, None)

    def remove_soon(self) -> None:
        self.store.remove_soon(self.timer_id)

    def state_changed(self, state: TimerState) -> None:
        self.states.append(state)


@attrs.define
class Target:
    """What a timer id means to the application right now (a lock object)."""

    timer_id: str
    generation: int
    orphaned: bool = False


@attrs.frozen
class Run:
    timer_id: str
    target: Target
    at: float


class AutolockMachine(RuleBasedStateMachine):
    """Three timers of one service, driven through every interleaving of the rules below."""

    def __init__(self) -> None:
        super().__init__()
        self.mono = 0.0  # the scheduler's clock (trio time): arms are deadlines on it
        self.wall = T0  # the injected now(): entries are written and recovered with it
        self.store = FakeStore({}, failing=False)
        self.targets = {timer_id: Target(timer_id, 0) for timer_id in IDS}
        self.runs: list[Run] = []
        self.drivers: dict[str, TimerDriver] = {}
        self.machines: dict[str, TimerMachine] = {}  # the drivers' machines
        self.ios: dict[str, FakeIO] = {}
        self.arms: dict[str, float] = {}
        self.firing: set[str] = set()
        # when each armed timer is meant to fire, on the scheduler's clock, worked out from the
        # entry (or the retry delay) independently of the Arm the machine asked for
        self.end_at: dict[str, float] = {}
        # cancel() ran in this process (or durably) and no start() since: the action must not run
        self.cancelled: set[str] = set()
        # ... and cancel() returned without a store error: not after a restart either
        self.cancel_returned: set[str] = set()
        # start() returned without a store error and the timer has not ended since
        self.promised: dict[str, TimerEntry] = {}
        self._boot()

    # -- driving the timers (as AutolockTimer does) --------------------------------------------

    def _boot(self) -> None:
        """A new process: fresh drivers, each recovered from what is durably on disk."""
        self.arms = {}
        self.ios = {timer_id: FakeIO(timer_id, self.store, self.arms) for timer_id in IDS}
        self.drivers = {timer_id: TimerDriver(timer_id, io) for timer_id, io in self.ios.items()}
        self.machines = {timer_id: driver.machine for timer_id, driver in self.drivers.items()}
        self.firing = set()
        for timer_id, machine in self.machines.items():
            entry = self.store.durable.get(timer_id)
            expired = self.drivers[timer_id].recover(entry, self.wall, self.mono)
            assert expired == (entry is not None and entry.end_time <= self.wall)
            assert self.ios[timer_id].states == [machine.state]
            if entry is None:
                assert machine.state is DONE and machine.entry is None
                assert timer_id not in self.arms
                continue
            assert machine.state is ACTIVE and machine.entry == entry
            self.end_at[timer_id] = self.mono + entry.remaining(self.wall)
            assert timer_id in self.arms, "a recovered entry must be armed"
            delay = self.arms[timer_id] - self.mono
            assert delay == entry.remaining(self.wall)
            assert 0.0 <= delay <= entry.duration, "never waits longer than its full duration"
            if entry.end_time <= self.wall:
                assert delay == 0.0, "an entry that expired while down must fire at once"

    def _persist(self, timer_id: str, storage: list[Storage]) -> bool:
        """Write through; False if the store failed (the service raises AutolockPersistError
        after the driver already moved)."""
        try:
            self.store.write_through(timer_id, storage)
        except StoreDown:
            return False
        return True

    def _move_clocks(self, dt: float) -> None:
        self.mono += dt
        self.wall += seconds(dt)

    def _due(self) -> list[str]:
        return sorted(i for i, deadline in self.arms.items() if deadline <= self.mono)

    def _begin_fire(self, timer_id: str) -> None:
        """The scheduled call starts: due(), then the action, resolved by id now."""
        assert self.arms.pop(timer_id) <= self.mono
        machine = self.machines[timer_id]
        entry = machine.entry
        assert machine.state is ACTIVE and entry is not None
        self.drivers[timer_id].due()
        assert machine.state is FIRING and machine.entry is entry
        self.firing.add(timer_id)
        target = self.targets[timer_id]
        self.runs.append(Run(timer_id, target, self.mono))
        assert self.mono >= self.end_at[timer_id], "the action ran before the timer's end time"
        assert timer_id not in self.cancelled, f"action ran for {timer_id!r} after cancel()"
        assert machine.timer_id == timer_id == target.timer_id
        assert not target.orphaned

    def _finish_fire(self, timer_id: str, outcome: ActionOutcome, retry: float) -> None:
        machine = self.machines[timer_id]
        entry = machine.entry
        durable = dict(self.store.durable)
        self.drivers[timer_id].finish(outcome, retry, self.mono)
        self.firing.discard(timer_id)
        assert self.store.durable == durable, "storage after a fire never writes at once"
        if outcome in (OK, GONE):
            assert machine.state is DONE and machine.entry is None
            assert timer_id not in self.store.mirror, "a finished fire removes its entry (soon)"
            assert timer_id not in self.arms
            self.promised.pop(timer_id, None)
        elif outcome is FAILED:
            assert machine.state is ACTIVE and machine.entry is entry, "entry kept for replay"
            assert self.store.mirror[timer_id] == entry
            assert self.arms.get(timer_id) == self.mono + retry, "a failed action is retried"
            self.end_at[timer_id] = self.mono + retry
        else:
            assert machine.state is ACTIVE and machine.entry is entry
            assert self.store.mirror[timer_id] == entry
            assert timer_id not in self.arms

    def _finish_in_flight(self, data: st.DataObject, ends: st.SearchStrategy[Any]) -> None:
        for timer_id in sorted(self.firing):
            outcome = data.draw(ends, label=f"{timer_id} ends")
            self._finish_fire(timer_id, outcome, data.draw(retry_delays, label="retry"))

    def _settle(self, timer_id: str, data: st.DataObject) -> None:
        """start/cancel wait out an in-flight action and drop the retry it may have armed."""
        if timer_id in self.firing:
            outcome = data.draw(outcomes, label=f"{timer_id} ends")
            self._finish_fire(timer_id, outcome, data.draw(retry_delays, label="retry"))
            self.arms.pop(timer_id, None)

    def _start(self, timer_id: str, duration: float) -> None:
        machine = self.machines[timer_id]
        storage = self.drivers[timer_id].start(duration, self.wall, self.mono)
        entry = machine.entry
        assert entry == TimerEntry(end_time=self.wall + seconds(duration), duration=duration)
        assert storage == [Persist(entry)]
        assert self.arms[timer_id] == self.mono + duration, "start arms the full duration"
        assert machine.state is ACTIVE
        self.end_at[timer_id] = self.mono + duration
        self.cancelled.discard(timer_id)
        self.cancel_returned.discard(timer_id)
        if self._persist(timer_id, storage):
            assert self.store.durable[timer_id] == entry
            self.promised[timer_id] = entry
        else:
            self.promised.pop(timer_id, None)

    # -- rules ---------------------------------------------------------------------------------

    @initialize(plan=st.lists(st.none() | durations, min_size=len(IDS), max_size=len(IDS)))
    def start_some(self, plan: list[float | None]) -> None:
        """Most runs begin with some timers armed, so deadlines are reached early."""
        for timer_id, duration in zip(IDS, plan, strict=True):
            if duration is not None:
                self._start(timer_id, duration)

    @rule(timer_id=timer_ids, duration=durations, data=st.data())
    def start(self, timer_id: str, duration: float, data: st.DataObject) -> None:
        self._settle(timer_id, data)
        self._start(timer_id, duration)

    @rule(timer_id=timer_ids, data=st.data())
    def cancel(self, timer_id: str, data: st.DataObject) -> None:
        self._settle(timer_id, data)
        machine = self.machines[timer_id]
        storage = self.drivers[timer_id].cancel()
        assert storage == [Remove()]
        assert machine.state is DONE and machine.entry is None
        assert timer_id not in self.arms
        self.cancelled.add(timer_id)
        self.promised.pop(timer_id, None)
        if self._persist(timer_id, storage):
            assert timer_id not in self.store.durable, "cancel() returned, entry still on disk"
            self.cancel_returned.add(timer_id)

    @rule(dt=steps, scheduler=scheduler_modes, data=st.data())
    def advance(self, dt: float, scheduler: str, data: st.DataObject) -> None:
        """Time passes (both clocks); see ``scheduler_modes``."""
        if scheduler == "late":
            self._move_clocks(dt)
            return
        if scheduler == "one in flight":
            self._move_clocks(dt)
            if due := self._due():
                self._begin_fire(data.draw(st.sampled_from(due), label="fires"))
            return
        self._finish_in_flight(data, outcomes)
        until = self.mono + dt
        overdue = {
            i for i, m in self.machines.items() if m.state is ACTIVE and self.end_at[i] <= until
        }
        entries = {i: self.machines[i].entry for i in overdue}
        last: dict[str, ActionOutcome] = {}
        while due_now := sorted((d, i) for i, d in self.arms.items() if d <= until):
            deadline, timer_id = due_now[0]
            self._move_clocks(max(0.0, deadline - self.mono))
            self._begin_fire(timer_id)
            outcome = data.draw(outcomes, label=f"{timer_id} ends")
            retry = data.draw(retry_delays, label="retry") if outcome is FAILED else 0.0
            self._finish_fire(timer_id, outcome, retry)
            last[timer_id] = outcome
        self._move_clocks(until - self.mono)
        # liveness: every ACTIVE timer whose end time passed ran its action ...
        assert overdue <= set(last), "an armed timer's end time passed, its action did not run"
        for timer_id in overdue:
            machine = self.machines[timer_id]
            if last[timer_id] is FAILED:
                # ... one whose action failed is still armed with its entry, to run again ...
                assert machine.state is ACTIVE and machine.entry is entries[timer_id]
                assert self.arms[timer_id] > self.mono
            else:
                # ... and any other is over: not ACTIVE with that entry any more
                assert machine.state is DONE and machine.entry is None
        assert self._due() == []

    @rule(shift=st.sampled_from([-86400.0, -600.0, -30.0, 30.0, 600.0, 86400.0]))
    def wall_clock_jumps(self, shift: float) -> None:
        """NTP step or a dead RTC battery: only the wall clock moves."""
        self.wall += seconds(shift)

    @rule(timer_id=timer_ids)
    def rebind(self, timer_id: str) -> None:
        """The application reloads the lock: the id now means a new object."""
        old = self.targets[timer_id]
        old.orphaned = True
        self.targets[timer_id] = Target(timer_id, old.generation + 1)

    @rule(change=st.sampled_from(["fails", "recovers", "background write"]))
    def disk(self, change: str) -> None:
        """The disk starts failing, or works again; the store's background writer lands what
        is pending (a fire's remove-soon, a failed write being retried) when it can."""
        if change == "fails":
            self.store.failing = True
        elif change == "recovers":
            self.store.failing = False
        self.store.background_write()

    @rule(graceful=st.booleans(), data=st.data())
    def restart(self, graceful: bool, data: st.DataObject) -> None:
        """SIGKILL, or leaving the service block first (graceful); then a new process recovers
        every id from what is durably on disk. Memory, arms and pending writes are lost."""
        if graceful:
            self._close(data)
        durable = self.store.durable
        for timer_id, entry in self.promised.items():
            assert durable.get(timer_id) == entry, f"start() returned but {timer_id!r} is lost"
        self.cancelled = {i for i in self.cancelled if i not in durable}
        assert self.cancel_returned <= self.cancelled, "a durably cancelled timer came back"
        self.store = FakeStore(durable, failing=self.store.failing)
        self._boot()
        for timer_id in self.cancel_returned:
            assert self.machines[timer_id].state is DONE
        for timer_id, entry in self.promised.items():
            assert self.machines[timer_id].state is ACTIVE
            assert self.machines[timer_id].entry == entry

    def _close(self, data: st.DataObject) -> None:
        """Running actions finish (or are interrupted when the grace runs out), every timer
        detaches, entries stay on disk, the store makes its final flush."""
        self._finish_in_flight(data, st.sampled_from([OK, FAILED, GONE, INTERRUPTED]))
        kept = {i: m.entry for i, m in self.machines.items() if m.entry is not None}
        for timer_id, machine in self.machines.items():
            mirror = dict(self.store.mirror)
            self.drivers[timer_id].detach()
            assert self.store.mirror == mirror, "detach keeps every entry"
            assert machine.state is DETACHED and machine.entry is None
            reported = list(self.ios[timer_id].states)
            self.drivers[timer_id].detach()  # idempotent: no effect, no report
            assert self.ios[timer_id].states == reported
            for call in CALLS.values():  # DETACHED is terminal
                with pytest.raises(InvalidTransition):
                    call(machine, self.wall)
                assert machine.state is DETACHED and machine.entry is None
        assert self.arms == {}
        for timer_id, entry in kept.items():
            assert self.store.mirror.get(timer_id) == entry
        self.store.background_write()  # the final flush (lost if the disk is still failing)

    @rule()
    def forbidden_calls(self) -> None:
        """Every call the current state forbids, on every timer: raises, changes nothing."""
        for machine in self.machines.values():
            state, entry = machine.state, machine.entry
            for call in FORBIDDEN[state]:
                with pytest.raises(InvalidTransition):
                    CALLS[call](machine, self.wall)
                assert machine.state is state and machine.entry is entry

    # -- invariants ----------------------------------------------------------------------------

    @invariant()
    def entry_exactly_while_active_or_firing(self) -> None:
        for timer_id, machine in self.machines.items():
            assert machine.timer_id == timer_id
            assert (machine.entry is not None) == (machine.state in (ACTIVE, FIRING))
            assert machine.state in (ACTIVE, FIRING, DONE)  # recovered, not detached

    @invariant()
    def armed_exactly_while_active(self) -> None:
        # an ACTIVE timer with no arm would never fire: liveness rests on this
        for timer_id, machine in self.machines.items():
            assert (timer_id in self.arms) == (machine.state is ACTIVE)
            assert (timer_id in self.firing) == (machine.state is FIRING)

    @invariant()
    def every_change_of_state_is_reported_once_in_order(self) -> None:
        for timer_id, machine in self.machines.items():
            states = self.ios[timer_id].states
            assert states[-1] is machine.state
            assert all(a is not b for a, b in itertools.pairwise(states))

    @invariant()
    def store_mirrors_the_machines(self) -> None:
        for timer_id, machine in self.machines.items():
            assert self.store.mirror.get(timer_id) == machine.entry

    @invariant()
    def promised_entries_are_durable(self) -> None:
        for timer_id, entry in self.promised.items():
            assert self.store.durable.get(timer_id) == entry

    @invariant()
    def actions_ran_for_their_own_id(self) -> None:
        for run in self.runs:
            assert run.target.timer_id == run.timer_id


AutolockMachine.TestCase.settings = settings(
    max_examples=200, stateful_step_count=40, deadline=None
)
TestAutolockMachine = AutolockMachine.TestCase


def test_cancel_in_done_makes_a_fire_removal_durable() -> None:
    """A fire ends OK; its Remove is "remove soon" (the background writer has not run yet).
    cancel() in DONE must still make the removal durable before it returns: otherwise a
    SIGKILL leaves the expired entry on disk and the next recover() fires it again, after
    cancel() returned."""
    store = FakeStore({}, failing=False)
    driver = TimerDriver("front", FakeIO("front", store))
    driver.recover(None, T0, 0.0)
    store.write_through("front", driver.start(60, T0, 0.0))
    driver.due()
    driver.finish(OK, 0.0, 60.0)
    assert store.pending and "front" in store.durable  # removed soon: not yet on disk
    store.write_through("front", driver.cancel())  # absent from the mirror: flushes the removal
    after_crash = TimerDriver("front", FakeIO("front", FakeStore(store.durable, failing=False)))
    after_crash.recover(store.durable.get("front"), T0 + seconds(61), 61.0)
    assert after_crash.state is DONE, "the cancelled timer came back after a crash"


def test_cancel_retried_after_a_failed_remove_fails_again_until_durable() -> None:
    """cancel() while the disk fails: the machine is DONE but the entry is still on disk (the
    service raised AutolockPersistError). The caller retries cancel(): it must not report
    success while the entry is still there (found by the state machine: start, disk fails,
    cancel, cancel)."""
    store = FakeStore({}, failing=False)
    driver = TimerDriver("front", FakeIO("front", store))
    driver.recover(None, T0, 0.0)
    store.write_through("front", driver.start(60, T0, 0.0))
    store.failing = True

    def cancel() -> None:
        store.write_through("front", driver.cancel())

    with pytest.raises(StoreDown):
        cancel()
    assert driver.state is DONE and "front" in store.durable
    with pytest.raises(StoreDown):
        cancel()  # the retry: still not durable, so it must still fail
    store.failing = False
    cancel()
    assert "front" not in store.durable
