"""Hypothesis properties of the credential sync engine, driving the real engine against a
:class:`VirtualLock` in virtual time (issue 4, "Tests").

Each example is one ``trio.run(..., clock=MockClock(autojump_threshold=0))`` that interprets a
generated program: random lock behaviour (masked reads, lost writes, ambiguous answers, latency,
failures, push on/off, seed), random initial codes and desired PINs, then a list of steps —
sleep, change a slot's desired PIN, change a slot at the keypad, take the lock offline for a
while, release a slot and take it again at once with a new desired PIN, survey the unmanaged
slot (a change may aim at whichever slot the engine is busy with, and a desired PIN may be
"whatever the lock holds now", to hit races with writes in flight). Then *the lock stops
changing*: it is put back online, nothing changes the desired PINs or the keypad any more (the
lock keeps its random failures, losses and ambiguous answers), and the engine is watched until
well past the settle bound. Checked against ``lock.codes``, the
ground truth:

1. **Truthful IN_SYNC.** Every IN_SYNC the engine reports (through ``changes()``, each one
   checked before the next provider operation or program step can alter anything, see
   :class:`World`) and every IN_SYNC at the end holds: the lock has the desired PIN in that
   slot, or the slot is empty when no code is wanted. The only reports excused are those made
   while a keypad change has not reached the engine yet (not pushed, or push dropped, and the
   slot not read, written or cleared since): no engine can see that.
2. **Lost writes suspend.** On a lock whose writes never land (``write_lands=0``), a slot that
   wants a code the lock does not hold ends SUSPENDED (and by 1. is never reported IN_SYNC).
3. **Settling.** Once the lock stops changing at time T, the engine is reachable again and every
   slot is IN_SYNC or SUSPENDED and stays so, with its last change no later than
   T + :func:`settle_bound` (derived there from the engine's parameters).

Also: operations (surveys too) never overlap and start at least ``operation_spacing`` apart;
the unmanaged slot is never touched, and a survey that succeeds reads it as the lock shows it
(a survey may fail only with LockDisconnected or LockOperationFailed); a clean lock (no
failures, no lost writes, no keypad changes, never offline) ends with every slot IN_SYNC.

Each bug these properties found has a minimal deterministic reproduction at the end of this
file: a regression test once fixed, ``xfail(strict=True)`` while open, and while it is open the
generator steers around it (``AVOID_*``; set False once the engine is fixed). One corner is not
a bug but a limit of masked locks: a code set at the keypad of a masked lock reads back exactly
like ours, so no engine can tell; masked locks therefore only get keypad *clears*.
"""

from __future__ import annotations

import collections
import math
from collections.abc import AsyncIterator, Collection
from typing import Any

import attrs
import pytest
import trio
import trio.testing
from hypothesis import HealthCheck, currently_in_test_context, event, given, settings
from hypothesis import strategies as st

from trio_locksync import Backoff, Jitter, Pin
from trio_locksync.credentials import (
    LockDisconnected,
    LockOperationFailed,
    SlotCredential,
    SlotUpdate,
    SyncState,
    WriteResult,
)
from trio_locksync.credentials._engine import LockSync, SlotChange, open_lock_sync
from trio_locksync.testing import VirtualLock

IN, SUSP, SYNCING = SyncState.IN_SYNC, SyncState.SUSPENDED, SyncState.SYNCING
#: how the engine's reason begins while it trusts a recent accepted write over an empty reading
TRUSTING = "in sync (the lock accepted this code"

# -- parameters and the settle bound ---------------------------------------------------------

SLOTS = 4  # managed slots 1..4
UNMANAGED = SLOTS + 1  # slot 5 holds a code the engine must never touch
UNMANAGED_PIN = "5555"
SPACING = 2.0  # operation_spacing
TTL = 60.0  # pending_ttl
RETRY = 2.0  # retry_interval
FAILURES = 3  # breaker_failures
WINDOW = 300.0  # breaker_window
DRIFT = 120.0  # drift_interval (small: catches unpushed keypad changes within the run)
MAX_LATENCY = 0.2
PROBE_MAX = 1800.0  # LockBreaker's longest re-probe delay (60 s doubling to 1800 s)

ENGINE_OPTIONS: dict[str, Any] = {
    "operation_spacing": SPACING,
    "pending_ttl": TTL,
    "retry_interval": RETRY,
    "breaker_failures": FAILURES,
    "breaker_window": WINDOW,
    "drift_interval": DRIFT,
    # A suspended slot is retried hourly by default, so it never stops changing for good; here
    # the first retry comes after the run ends. Retries are covered by the slot machine's own
    # harness (tests/test_slot_machine.py) and tests/test_credentials_hardening.py.
    "suspended_retry": Backoff(initial=1e7, maximum=1e7, jitter=Jitter.NONE),
}

# Bugs found by this file are fixed (regression tests at the end); the switch stays for the
# next one.
AVOID_MASKED_LOST_WRITE_OVER_OTHER_CODE = False  # fixed: see the regression tests at the end


#: operations one charged attempt of a slot may take: on a masked slot whose content is unknown
#: (after an unconfirmed write), a write and a read-back that cannot tell (uncharged; the engine
#: then clears first), a clear, the write again and its read-back. (A masked code *seen* before
#: the write is cleared first from the start: a clear, its read-back, the write, its read-back.)
OPS_PER_ATTEMPT = 5


def settle_bound(failures: int) -> float:
    """How long after the lock stops changing (time T) every slot may still change state.

    With ``op = operation_spacing + max latency`` (operations start at least ``spacing`` apart
    and each lasts at most ``latency`` < ``spacing``; the worker runs one at a time):

    * **Reachable, with a fresh view.** If the lock breaker had tripped, the next probe is due
      at most ``PROBE_MAX`` (1800 s, the backoff's cap) after T; a successful probe is a full
      read. Otherwise the periodic full read comes within ``drift_interval``. Either way the
      worker may first finish what it was doing (a write and its read-back: 2 op) and then do
      the read (1 op): ``max(PROBE_MAX, drift_interval) + 3 op``. After that read the engine's
      view is the truth (no keypad changes after T, pushes already drained at T).
    * **Every slot converges or suspends.** Nothing charges a slot but its own failed attempts,
      and with nothing changing at the door no read-back can show an external change, so no
      attempt ends uncharged except the masked one that makes the engine clear first (counted
      in :data:`OPS_PER_ATTEMPT`). An attempt is at most ``OPS_PER_ATTEMPT`` operations, then
      at worst the pending deadline (``pending_ttl``) and the retry delay
      (``retry_interval``); it either succeeds, and the slot stays in sync, or is charged once.
      ``breaker_failures`` charges suspend the slot if they fall within ``breaker_window``,
      which holds here (checked by ``test_settle_bound_parameters``); one more attempt is
      allowed for a view made stale by a late push. Serialised over all slots:
      ``SLOTS (F + 1) (OPS_PER_ATTEMPT op + ttl + retry)``.
    * **Overheads.** Each periodic full read in that time (one per ``drift_interval``, plus one)
      and each failed operation (a failed full read is retried after ``retry_interval``, and is
      charged to no slot) costs at most ``retry_interval + op``.

    With the parameters here (slots 4, spacing 2, ttl 60, retry 2, F 3, drift 120, latency
    <= 0.2): 1806.6 + 4*4*73 + (ceil(1168/120) + 1 + f) * 4.2 = 3020.8 + 4.2 f seconds.
    Most of it is the probe backoff cap; examples settle within a few hundred seconds (see
    the "settle time" events in ``--hypothesis-show-statistics``).
    """
    op = SPACING + MAX_LATENCY
    fresh = max(PROBE_MAX, DRIFT) + 3 * op
    converge = SLOTS * (FAILURES + 1) * (OPS_PER_ATTEMPT * op + TTL + RETRY)
    overheads = (math.ceil(converge / DRIFT) + 1 + failures) * (RETRY + op)
    return fresh + converge + overheads


def test_settle_bound_parameters() -> None:
    """The premises of :func:`settle_bound`: latency below spacing, and one slot's F charged
    attempts (each at most OPS_PER_ATTEMPT op + ttl + retry, plus every other slot's
    operations meanwhile) within the window, so the slot breaker cannot forget them before
    it trips."""
    op = SPACING + MAX_LATENCY
    assert MAX_LATENCY < SPACING
    assert (FAILURES - 1) * (OPS_PER_ATTEMPT * op * SLOTS + TTL + RETRY) < WINDOW
    assert settle_bound(0) == pytest.approx(3020.8)


# -- the program -------------------------------------------------------------------------------


def slot_pin(slot: int) -> str:
    return f"{slot}0{slot}0"


SHARED_PINS = ("1111", "2222", "3333")


@attrs.frozen
class Sleep:
    seconds: float


#: a step's slot: the slot the engine is busy with (SYNCING or PENDING_CONFIRMATION), else 1
BUSY = 0
#: a PIN: the slot's own PIN (:func:`slot_pin`)
OWN = "own"
#: a desired PIN: whatever the lock holds in the slot at that moment (None if empty)
HELD = "held"


@attrs.frozen
class SetDesired:
    slot: int  # or BUSY
    pin: str | None  # a shared PIN, OWN, HELD, or None
    enabled: bool


@attrs.frozen
class Keypad:
    slot: int  # or BUSY
    pin: str | None  # a shared PIN, OWN, or None: clear


@attrs.frozen
class Offline:
    seconds: float


@attrs.frozen
class Retake:
    """Release the slot and take it again at once (issue 22): a new machine, or the machine of
    the write in flight."""

    slot: int  # or BUSY
    pin: str | None  # a shared PIN, OWN, HELD, or None
    enabled: bool


@attrs.frozen
class SurveyUnmanaged:
    """Survey the unmanaged slot (issue 22): one operation of the engine's worker."""


Step = Sleep | SetDesired | Keypad | Offline | Retake | SurveyUnmanaged


@attrs.frozen
class Scenario:
    masked: bool
    write_lands: float
    optimistic: float
    latency: float
    fail_rate: float
    push: bool
    seed: int
    codes: dict[int, str]
    desired: dict[int, str | None]
    steps: list[Step]

    @property
    def clean(self) -> bool:
        """Nothing in the lock or the program that could justify a suspension."""
        return (
            self.fail_rate == 0
            and self.write_lands == 1
            and not any(isinstance(s, Keypad | Offline) for s in self.steps)
        )


def maybe_pin(narrow: bool) -> st.SearchStrategy[str | None]:
    """No code, the slot's own PIN, or (unless ``narrow``) one from a shared pool."""
    if narrow:
        return st.none() | st.just(OWN)
    return st.none() | st.just(OWN) | st.sampled_from(SHARED_PINS)


def resolve_pin(pin: str | None, slot: int, lock: VirtualLock) -> str | None:
    if pin == OWN:
        return slot_pin(slot)
    if pin == HELD:
        return lock.codes.get(slot)
    return pin


@st.composite
def set_desired_steps(draw: st.DrawFn, narrow: bool) -> SetDesired:
    # BUSY and HELD aim at races: change a slot in the middle of its write or confirmation,
    # back to what the lock held before (so a stale reading would look in sync).
    pin = draw(maybe_pin(narrow) | st.just(HELD))
    return SetDesired(draw(st.integers(BUSY, SLOTS)), pin, draw(st.booleans() | st.just(True)))


@st.composite
def keypad_steps(draw: st.DrawFn, masked: bool, narrow: bool) -> Keypad:
    return Keypad(draw(st.integers(BUSY, SLOTS)), None if masked else draw(maybe_pin(narrow)))


@st.composite
def scenarios(draw: st.DrawFn) -> Scenario:
    masked = draw(st.booleans())
    write_lands = draw(st.sampled_from([1.0, 0.5, 0.0]))
    # While a lost write over another masked code is a known bug, a masked lossy lock only
    # ever sees one PIN per slot (it holds that PIN or nothing). A masked lock never gets
    # keypad codes (a limit of masked locks, see the module docstring).
    narrow = AVOID_MASKED_LOST_WRITE_OVER_OTHER_CODE and masked and write_lands < 1
    step = st.one_of(
        # Short sleeps land inside an operation's latency or spacing; long ones span timers.
        st.builds(Sleep, st.sampled_from([0.0, 0.05, 1.0, 2.0]) | st.floats(0, 5)),
        st.builds(Sleep, st.floats(5, 150)),
        set_desired_steps(narrow),
        keypad_steps(masked, narrow),
        # Short spells trip the lock breaker or not; long ones see its re-probes.
        st.builds(Offline, st.floats(1, 20) | st.floats(20, 150)),
        st.builds(
            Retake,
            st.integers(BUSY, SLOTS),
            maybe_pin(narrow) | st.just(HELD),
            st.booleans() | st.just(True),
        ),
        st.just(SurveyUnmanaged()),
    )

    def initial(slot: int) -> str | None:
        pin = draw(maybe_pin(narrow))
        return slot_pin(slot) if pin == OWN else pin

    codes = {}
    for slot in range(1, SLOTS + 1):
        pin = initial(slot)
        if pin is not None:
            codes[slot] = pin
    return Scenario(
        masked=masked,
        write_lands=write_lands,
        optimistic=draw(st.sampled_from([0.0, 0.5, 1.0])),
        latency=draw(st.just(0.0) | st.floats(0, MAX_LATENCY)),
        fail_rate=draw(st.just(0.0) | st.floats(0, 0.3)),
        push=draw(st.booleans()),
        seed=draw(st.integers(0, 2**32 - 1)),
        codes=codes,
        desired={slot: initial(slot) for slot in range(1, SLOTS + 1)},
        steps=draw(st.lists(step, min_size=1, max_size=30)),
    )


# -- the world: ground truth, what the engine could know, and the checks ----------------------


class World:
    """What the test knows: the desired codes it set, and for each slot whether the engine can
    know the lock's content.

    A keypad change bumps the slot's version; the engine *knows* the slot once it has completed
    a read of it, a write or a clear to it (whatever the answer: after its own write the engine
    is responsible for its doubt) or received the push of that keypad change. An IN_SYNC
    report is checked unless the slot's latest keypad change is unknown to the engine.

    The instant: truth, desired and knowledge change only in a provider operation, a push
    delivery or a program step, and each of those first waits (``quiesce``) until every other
    task is blocked, that is, until the observer has drained and checked every change emitted
    so far. So each change is checked against the world as it was when it was emitted. Trio
    wakes *all* the tasks waiting in ``wait_all_tasks_blocked`` at once, so the three callers
    (program, push delivery, engine operations) take turns through a lock: one waits, wakes
    and acts (no checkpoint in between), and the next waits anew, until the observer is done.
    """

    def __init__(self, scenario: Scenario, lock: VirtualLock) -> None:
        self.lock = lock
        self.desired: dict[int, str | None] = dict(scenario.desired)
        self.version = collections.Counter[int]()
        self.known = collections.Counter[int]()
        self.pushed: collections.deque[tuple[int, int]] = collections.deque()
        self.log: list[tuple[float, SlotChange]] = []
        self.checked = 0
        self.excused = 0
        self.pushes_delivered = 0
        self.op_starts: list[float] = []
        self.trusted = 0
        #: slot -> (PIN, time) of the last write the lock accepted (CONFIRMED or NO_CHANGE)
        self.accepted: dict[int, tuple[str, float]] = {}
        self._turn = trio.Lock()

    async def quiesce(self) -> None:
        """Return when every other task is blocked; the caller acts before its next checkpoint."""
        async with self._turn:
            await trio.testing.wait_all_tasks_blocked()

    def holds_desired(self, slot: int) -> bool:
        return self.lock.codes.get(slot) == self.desired[slot]

    def knows(self, slot: int) -> bool:
        return self.known[slot] == self.version[slot]

    def accepted_recently(self, slot: int) -> bool:
        pin, when = self.accepted.get(slot, (None, -math.inf))
        return pin == self.desired[slot] and trio.current_time() < when + TTL

    def learned(self, slots: Collection[int]) -> None:
        for slot in slots:
            self.known[slot] = self.version[slot]

    def keypad(self, slot: int, pin: str | None) -> None:
        before = self.lock.statistics().pushes
        if pin is None:
            self.lock.keypad_clear(slot)
        else:
            self.lock.keypad_set(slot, pin)
        self.version[slot] += 1
        if self.lock.statistics().pushes > before:
            self.pushed.append((slot, self.version[slot]))

    def on_change(self, change: SlotChange) -> None:
        self.log.append((trio.current_time(), change))
        if change.state is not IN:
            return
        if not self.knows(change.slot):
            self.excused += 1
            return
        if change.reason.startswith(TRUSTING) and self.accepted_recently(change.slot):
            # The deliberate trust window (issue 9): an empty reading within pending_ttl of a
            # write the lock accepted with the desired PIN is trusted away, and the slot is
            # read again when the window ends. A keypad clear in that minute is the price.
            self.trusted += 1
            return
        self.checked += 1
        assert self.holds_desired(change.slot), (
            f"slot {change.slot} reported IN_SYNC at t={trio.current_time():g} but the lock "
            f"holds {self.lock.codes.get(change.slot)!r}, desired {self.desired[change.slot]!r}"
        )


class Watched:
    """The provider the engine sees: the VirtualLock, with the world told what happens."""

    def __init__(self, lock: VirtualLock, world: World) -> None:
        self.lock = lock
        self.world = world

    @property
    def supports_push(self) -> bool:
        return self.lock.supports_push

    async def _start(self) -> None:
        await self.world.quiesce()
        self.world.op_starts.append(trio.current_time())

    async def read_slots(self, slots: Collection[int] | None = None) -> dict[int, SlotCredential]:
        await self._start()
        result = await self.lock.read_slots(slots)
        self.world.learned(result)
        return result

    async def set_code(self, slot: int, pin: Pin) -> WriteResult:
        await self._start()
        result = await self.lock.set_code(slot, pin)
        self.world.learned([slot])
        if result is not WriteResult.OPTIMISTIC:
            self.world.accepted[slot] = (pin.reveal(), trio.current_time())
        return result

    async def clear_code(self, slot: int) -> WriteResult:
        await self._start()
        result = await self.lock.clear_code(slot)
        self.world.learned([slot])
        return result

    def updates(self) -> AsyncIterator[SlotUpdate]:
        return self._updates()

    async def _updates(self) -> AsyncIterator[SlotUpdate]:
        async for update in self.lock.updates():
            await self.world.quiesce()
            slot, version = self.world.pushed.popleft()
            assert slot == update.slot
            self.world.known[slot] = version
            self.world.pushes_delivered += 1
            yield update


def lock_reading(lock: VirtualLock, pin: str) -> SlotCredential:
    """How ``lock`` shows a slot holding ``pin``."""
    return SlotCredential.unreadable() if lock.masked else SlotCredential.known(pin)


def busy_slot(engine: LockSync) -> int:
    busy = (SYNCING, SyncState.PENDING_CONFIRMATION)
    return next((s for s in range(1, SLOTS + 1) if engine.state(s) in busy), 1)


# -- running one example -----------------------------------------------------------------------


async def run_scenario(scenario: Scenario) -> None:
    lock = VirtualLock(
        slots=UNMANAGED,
        masked=scenario.masked,
        write_lands=scenario.write_lands,
        optimistic=scenario.optimistic,
        latency=scenario.latency,
        fail_rate=scenario.fail_rate,
        seed=scenario.seed,
        push=scenario.push,
    )
    lock.codes.update(scenario.codes)
    lock.codes[UNMANAGED] = UNMANAGED_PIN
    world = World(scenario, lock)
    provider = Watched(lock, world)
    offline_spells = 0
    retakes = surveys_read = surveys_failed = 0

    async def observe(engine: LockSync) -> None:
        async for change in engine.changes():
            world.on_change(change)

    async def offline(seconds: float) -> None:
        nonlocal offline_spells
        offline_spells += 1
        lock.online = False
        try:
            await trio.sleep(seconds)
        finally:
            offline_spells -= 1
            if not offline_spells:
                lock.online = True

    async with (
        open_lock_sync(provider, scenario.desired, **ENGINE_OPTIONS) as engine,
        trio.open_nursery() as nursery,
    ):
        nursery.start_soon(observe, engine)
        async with trio.open_nursery() as spells:
            for step in scenario.steps:
                if isinstance(step, Sleep):
                    await trio.sleep(step.seconds)
                elif isinstance(step, Offline):
                    spells.start_soon(offline, step.seconds)
                elif isinstance(step, SetDesired):
                    await world.quiesce()
                    slot = step.slot or busy_slot(engine)
                    pin = resolve_pin(step.pin, slot, lock)
                    engine.set_desired(slot, pin=pin, enabled=step.enabled)
                    world.desired[slot] = pin if step.enabled else None
                elif isinstance(step, Retake):
                    await world.quiesce()
                    slot = step.slot or busy_slot(engine)
                    pin = resolve_pin(step.pin, slot, lock)
                    engine.release(slot)
                    engine.take(slot, pin, enabled=step.enabled)
                    world.desired[slot] = pin if step.enabled else None
                    retakes += 1
                elif isinstance(step, SurveyUnmanaged):
                    try:
                        readings = await engine.survey([UNMANAGED])
                    except (LockDisconnected, LockOperationFailed):
                        surveys_failed += 1
                    else:
                        shown = lock_reading(lock, UNMANAGED_PIN)
                        assert readings == {UNMANAGED: shown}
                        assert engine.unmanaged() == {UNMANAGED: shown}
                        surveys_read += 1
                else:
                    await world.quiesce()
                    slot = step.slot or busy_slot(engine)
                    world.keypad(slot, resolve_pin(step.pin, slot, lock))
            # The lock stops changing: back online, no more desired or keypad changes.
            spells.cancel_scope.cancel()
        lock.online = True
        await world.quiesce()  # pushes delivered, changes checked
        stop = trio.current_time()
        failures_before = lock.statistics().failures

        def deadline() -> float:
            return stop + settle_bound(lock.statistics().failures - failures_before)

        # The bound grows with every failure meanwhile, hence the loop.
        while trio.current_time() < deadline():  # noqa: ASYNC110
            await trio.sleep_until(deadline())
        settled_by = trio.current_time()
        await trio.sleep(DRIFT + 3 * (SPACING + MAX_LATENCY))  # a drift read and then some
        await world.quiesce()
        nursery.cancel_scope.cancel()

        last_change = max([t for t, _ in world.log if t >= stop], default=stop)
        assert last_change <= settled_by, (
            f"still changing {last_change - stop:g} s after the lock stopped changing "
            f"(bound {settled_by - stop:g} s): {[c for t, c in world.log if t > settled_by][:6]}"
        )
        assert engine.statistics().lock_reachable
        states = {slot: engine.state(slot) for slot in range(1, SLOTS + 1)}
        assert all(state in (IN, SUSP) for state in states.values()), states
        for slot, state in states.items():
            if state is IN:
                assert world.holds_desired(slot), (slot, lock.codes.get(slot))
            if (
                scenario.write_lands == 0
                and world.desired[slot] is not None
                and not world.holds_desired(slot)
            ):
                assert state is SUSP, (slot, state, engine.reason(slot))
        if scenario.clean:
            assert set(states.values()) == {IN}, {s: engine.reason(s) for s in states}
        assert lock.codes[UNMANAGED] == UNMANAGED_PIN
        assert lock.statistics().max_in_flight <= 1
        gaps = [b - a for a, b in zip(world.op_starts, world.op_starts[1:], strict=False)]
        assert all(gap >= SPACING - 1e-9 for gap in gaps), min(gaps)

        if currently_in_test_context():
            settle = last_change - stop
            event(
                f"settle time: {'< 60' if settle < 60 else '< 300' if settle < 300 else '>= 300'} s"
            )
            event(f"IN_SYNC reports checked: {'none' if not world.checked else 'some'}")
            event(f"IN_SYNC reports excused (keypad change unseen): {world.excused > 0}")
            event(f"IN_SYNC reports over an empty reading (trust window): {world.trusted > 0}")
            event(f"final states: {sorted(s.value for s in set(states.values()))}")
            reasons = {c.reason.split(" (")[0] for _, c in world.log}
            event(f"lock breaker tripped: {'lock unreachable; re-probing with backoff' in reasons}")
            event(f"slot breaker tripped: {any(r.startswith('sync attempts') for r in reasons)}")
            seen = {c.state for _, c in world.log}
            event(f"PENDING_CONFIRMATION seen: {SyncState.PENDING_CONFIRMATION in seen}")
            event(f"pushes delivered: {world.pushes_delivered > 0}")
            event(f"slots retaken: {retakes > 0}")
            event(f"surveys: read {surveys_read > 0}, failed {surveys_failed > 0}")


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(scenarios())
def test_engine_properties_against_a_virtual_lock(scenario: Scenario) -> None:
    trio.run(run_scenario, scenario, clock=trio.testing.MockClock(autojump_threshold=0))


# -- bugs found by the properties: minimal deterministic reproductions ------------------------
#
# Named after the bug each pins down. All six were found while the engine was being written and
# are fixed; they stay as regression tests. A bug still open would be xfail(strict=True).


def run_virtual(fn: Any, *args: Any) -> Any:
    return trio.run(fn, *args, clock=trio.testing.MockClock(autojump_threshold=0))


def test_lost_write_over_a_readable_code_is_charged_not_taken_for_an_external_change() -> None:
    """Was: an OPTIMISTIC write that did not land, read back as the *readable different* code
    that was there before, counted as an external change and was retried without a charge:
    a set/read-back loop forever (about 250 sets in 1000 s), never SUSPENDED."""

    async def main() -> tuple[SyncState, int]:
        lock = VirtualLock(slots=1, write_lands=0.0, seed=1)
        lock.codes[1] = "9999"  # someone else's code, readable
        async with open_lock_sync(lock, {1: "1234"}, **ENGINE_OPTIONS) as engine:
            await trio.sleep(1000)  # the bound for one slot is far less
            return engine.state(1), engine.statistics().sets

    state, sets = run_virtual(main)
    assert state is SUSP, (state, sets)
    assert sets == FAILURES


def test_lost_write_over_a_masked_code_is_not_confirmed_by_its_presence() -> None:
    """Was: on a masked lock, a lost write over a code already present was 'confirmed' by the
    read-back (present confirms, even masked): IN_SYNC while the lock held the old PIN."""

    async def main() -> tuple[SyncState, dict[int, str]]:
        lock = VirtualLock(slots=1, masked=True, seed=1)
        async with open_lock_sync(lock, {1: "1111"}, **ENGINE_OPTIONS) as engine:
            await engine.wait_settled()
            assert engine.state(1) is IN and lock.codes == {1: "1111"}
            lock.write_lands = 0.0  # the radio gets lossy; a PIN change is then lost
            engine.set_desired(1, pin="2222")
            await trio.sleep(30)
            return engine.state(1), dict(lock.codes)

    state, codes = run_virtual(main)
    assert not (state is IN and codes.get(1) != "2222"), (state, codes)


def test_desired_change_while_write_in_flight_is_not_judged_on_the_pre_write_reading() -> None:
    """Was: a desired change while the slot was SYNCING (in the spacing wait or the write)
    discarded the write's result; the old write landed and the slot was judged on the reading
    from before it: IN_SYNC ("empty") while the lock held the superseded PIN."""

    async def main() -> tuple[SyncState, dict[int, str]]:
        lock = VirtualLock(slots=1, seed=1)
        async with open_lock_sync(lock, {1: None}, **ENGINE_OPTIONS) as engine:
            await engine.wait_settled()  # read at 0: empty, IN_SYNC
            engine.set_desired(1, pin="1234")  # SYNCING at once, write due at t=2
            await trio.sleep(1)
            assert engine.state(1) is SYNCING
            engine.set_desired(1, pin=None)  # changed mind before the write went out
            await trio.sleep(60)  # well before the next drift read
            return engine.state(1), dict(lock.codes)

    state, codes = run_virtual(main)
    assert not (state is IN and codes), (state, codes)


def test_desired_change_while_pending_is_not_judged_on_the_pre_write_reading() -> None:
    """Was: a desired change while an OPTIMISTIC write awaited confirmation dropped the pending
    entry and judged the slot on its reading from before the write, which may have landed:
    IN_SYNC while the lock held the abandoned PIN (until a read, or the next drift read if
    the read-back failed)."""

    async def main() -> tuple[SyncState, dict[int, str]]:
        lock = VirtualLock(slots=1, optimistic=1.0, seed=1)  # every write lands, ambiguously
        async with open_lock_sync(lock, {1: None}, **ENGINE_OPTIONS) as engine:
            await engine.wait_settled()  # read at 0: empty, IN_SYNC
            engine.set_desired(1, pin="1234")  # written at t=2: OPTIMISTIC, read-back due at 4
            await trio.sleep(3)
            assert engine.state(1) is SyncState.PENDING_CONFIRMATION
            engine.set_desired(1, pin=None)  # abandon the pending write
            return engine.state(1), dict(lock.codes)

    state, codes = run_virtual(main)
    assert not (state is IN and codes), (state, codes)


def test_reconnect_does_not_report_in_sync_from_a_reading_before_the_outage() -> None:
    """Was: when the lock became reachable again, every slot was re-judged on its reading from
    before the outage *before* the probe's own result was applied: a transient IN_SYNC report
    (at once superseded by OUT_OF_SYNC) for a slot changed at the door during the outage."""

    async def main() -> list[tuple[float, SyncState, dict[int, str]]]:
        lock = VirtualLock(slots=1, seed=1)
        reports: list[tuple[float, SyncState, dict[int, str]]] = []

        async def record(engine: LockSync) -> None:
            async for change in engine.changes():
                reports.append((trio.current_time(), change.state, dict(lock.codes)))

        async with (
            open_lock_sync(lock, {1: None}, **ENGINE_OPTIONS) as engine,
            trio.open_nursery() as nursery,
        ):
            await engine.wait_settled()  # read at 0: empty, IN_SYNC
            nursery.start_soon(record, engine)
            lock.online = False
            lock.keypad_set(1, "1234")  # set at the door while the hub cannot reach the lock
            await trio.sleep(125)  # drift read at 120, retries at 122 and 124: unreachable
            lock.online = True
            await trio.sleep(100)  # probe at 184 reads 1234; cleared at 186
            nursery.cancel_scope.cancel()
        assert lock.codes == {}
        return reports

    reports = run_virtual(main)
    assert [r for r in reports if r[1] is IN and r[2]] == [], reports


def test_expired_pending_write_keeps_the_last_real_reading() -> None:
    """An expired optimistic write used to record the slot as *empty*, a reading nobody made;
    on a masked lock a lost write over a code already present was then confirmed by that code's
    presence. Now the last real reading stays, and the masked code is cleared before the write
    (issue 19: a set over it could never be verified)."""

    async def main() -> tuple[SyncState, dict[int, str]]:
        lock = VirtualLock(slots=1, masked=True, write_lands=0.0, seed=1)
        lock.codes[1] = "9999"  # someone else's code, masked
        async with open_lock_sync(lock, {1: "1234"}, **ENGINE_OPTIONS) as engine:
            # Read at 0: masked, so clear at 2 (issue 19; before it: a set, whose read-back
            # could not tell, then the clear); the set at 4 meets the lock offline (a
            # disconnect: no charge) and is retried at 6: lost, OPTIMISTIC over the empty slot.
            await trio.sleep(3)
            lock.online = False
            await trio.sleep(2)
            lock.online = True
            # Its read-back shows the slot empty: each lost write expires and is charged (66,
            # 128; suspended at 190, after this test looks). Never IN_SYNC meanwhile.
            await trio.sleep(100)
            return engine.state(1), dict(lock.codes)

    state, codes = run_virtual(main)
    assert not (state is IN and codes.get(1) != "1234"), (state, codes)
