"""A simulated lock for tests and benchmarks: masked reads, lost writes, ambiguous answers,
latency on trio's clock, failures, offline spells and keypad changes.

Every random choice comes from one ``random.Random(seed)``, so a seeded lock given the same calls
in the same order behaves the same. A write draws its two numbers (lands? ambiguous?) even when a
knob makes the answer certain, so turning a knob does not shift the rest of the sequence.
Latency is ``trio.sleep``, so under ``autojump_clock`` it costs virtual time only.
"""

from __future__ import annotations

import math
import random
from collections.abc import Collection, Iterable
from typing import Any, ClassVar, final

import attrs
import trio

from ..core import ChangeFeed, Pin, Subscription, require_trio
from ..credentials import (
    CodeRejected,
    EventSource,
    LockAction,
    LockDisconnected,
    LockEvent,
    LockOperationFailed,
    SlotCredential,
    SlotUpdate,
    WriteResult,
)

__all__ = ["VirtualLock", "VirtualLockStatistics"]


@final
@attrs.frozen
class VirtualLockStatistics:
    """Counters of a :class:`VirtualLock` (see :meth:`VirtualLock.statistics`).

    ``reads``/``writes``/``clears`` count operations the lock carried out: ``writes`` every
    set that wrote (landed or lost), ``clears`` every clear that removed a code; calls answered
    NO_CHANGE are in ``no_changes`` only. ``lost_writes`` are writes that did not store the code.
    ``failures`` (LockOperationFailed), ``disconnects`` (LockDisconnected) and ``rejections``
    (CodeRejected) count raised errors. ``pushes`` were handed to the :meth:`VirtualLock.updates`
    iterators (each keeps :attr:`~VirtualLock.PUSH_BUFFER` unread, then its oldest go, counted
    in its ``dropped``); ``dropped_pushes`` were lost because the lock was offline.
    ``max_in_flight`` is the most operations that were ever running at once (1 for a caller that
    serializes them).
    """

    reads: int
    writes: int
    clears: int
    no_changes: int
    lost_writes: int
    failures: int
    disconnects: int
    rejections: int
    pushes: int
    dropped_pushes: int
    max_in_flight: int


@attrs.define
class _Counters:
    reads: int = 0
    writes: int = 0
    clears: int = 0
    no_changes: int = 0
    lost_writes: int = 0
    failures: int = 0
    disconnects: int = 0
    rejections: int = 0
    pushes: int = 0
    dropped_pushes: int = 0
    max_in_flight: int = 0


def _probability(instance: object, attribute: attrs.Attribute[Any], value: float) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= 1:
        raise ValueError(f"{attribute.name} must be a probability in [0, 1], got {value!r}")


def _non_negative(instance: object, attribute: attrs.Attribute[Any], value: float) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f"{attribute.name} must be a number of seconds, got {value!r}")
    if not (math.isfinite(value) and value >= 0):
        raise ValueError(f"{attribute.name} must be finite and >= 0, got {value!r}")


def _slot_count(instance: object, attribute: attrs.Attribute[Any], value: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{attribute.name} must be an int >= 1, got {value!r}")


def _pin_set(values: Iterable[str]) -> frozenset[str]:
    return frozenset(values)


@final
@attrs.define(kw_only=True, eq=False)
class VirtualLock:
    """A simulated lock with ``slots`` slots numbered 1..slots (``first_slot``..: from
    ``first_slot``, e.g. 0 for Zigbee locks, whose users start at 0); a :class:`LockProvider`.

    Knobs (settable later too, validated on assignment):

    * ``masked``: present codes read back as ``unreadable()``.
    * ``write_lands``: probability that a write really stores the code.
    * ``optimistic``: probability that a write answers OPTIMISTIC instead of CONFIRMED. A write
      that did not land always answers OPTIMISTIC, never CONFIRMED.
    * ``latency``: seconds each operation takes, on trio's clock.
    * ``fail_rate``: probability that an operation raises LockOperationFailed (changing nothing).
    * ``lag``: seconds during which a slot just written reads back *empty* although the lock
      holds the code (cloud-synced locks that report a write late); 0 for none.
    * ``seed``: seeds the lock's ``random.Random``.
    * ``push``: keypad changes are pushed through :meth:`updates` (``supports_push``).
    * ``rejected``: PINs the lock refuses; ``set_code`` raises CodeRejected for them.

    Ground truth is ``codes`` (slot -> PIN string; assign to it freely, with valid PINs);
    ``online`` may be set to False, and every operation then raises LockDisconnected, including
    one already waiting out its latency. An operation checks, in order: the arguments
    (ValueError), online, latency, online again, the failure roll, then does its work. A cancelled
    operation changes nothing.
    """

    #: how many pushed updates each :meth:`updates` iterator keeps unread (then its oldest go)
    PUSH_BUFFER: ClassVar[int] = 64

    slots: int = attrs.field(default=30, validator=_slot_count)
    masked: bool = False
    write_lands: float = attrs.field(default=1.0, validator=_probability)
    optimistic: float = attrs.field(default=0.0, validator=_probability)
    latency: float = attrs.field(default=0.0, validator=_non_negative)
    fail_rate: float = attrs.field(default=0.0, validator=_probability)
    lag: float = attrs.field(default=0.0, validator=_non_negative)
    seed: int | None = None
    push: bool = False
    rejected: frozenset[str] = attrs.field(default=frozenset(), converter=_pin_set)
    first_slot: int = attrs.field(default=1, validator=attrs.validators.in_((0, 1)))

    codes: dict[int, str] = attrs.field(init=False, factory=dict)
    online: bool = attrs.field(init=False, default=True)

    _rng: random.Random = attrs.field(init=False)
    _updates: ChangeFeed[SlotUpdate] = attrs.field(init=False)
    _counters: _Counters = attrs.field(init=False, factory=_Counters)
    _events: ChangeFeed[LockEvent] = attrs.field(
        init=False, factory=lambda: ChangeFeed[LockEvent](backlog=1000)
    )
    _in_flight: int = attrs.field(init=False, default=0)
    #: when each slot was last written (trio time), for ``lag``
    _written_at: dict[int, float] = attrs.field(init=False, factory=dict)

    def __attrs_post_init__(self) -> None:
        self._rng = random.Random(self.seed)
        self._updates = ChangeFeed[SlotUpdate](backlog=self.PUSH_BUFFER)

    @property
    def slot_numbers(self) -> range:
        """The lock's slot numbers: ``first_slot`` .. ``first_slot + slots - 1``."""
        return range(self.first_slot, self.first_slot + self.slots)

    @property
    def supports_push(self) -> bool:
        """Whether keypad changes are pushed through :meth:`updates` (the ``push`` knob)."""
        return self.push

    # -- the provider interface -------------------------------------------------------------

    async def read_slots(self, slots: Collection[int] | None = None) -> dict[int, SlotCredential]:
        """Read ``slots`` (None: all of them), in slot order; one latency for the whole read."""
        if slots is None:
            wanted: list[int] = list(self.slot_numbers)
        else:
            given = list(slots)
            for slot in given:
                self._check_slot(slot)
            wanted = sorted(set(given))
        await self._reach(wanted[0] if len(wanted) == 1 else None)
        self._counters.reads += 1
        now = trio.current_time()
        return {
            slot: SlotCredential.empty()
            if now < self._written_at.get(slot, -math.inf) + self.lag
            else self._reading(self.codes.get(slot))
            for slot in wanted
        }

    async def set_code(self, slot: int, pin: Pin) -> WriteResult:
        """Program ``pin``; see the class docstring for what the answer and outcome depend on."""
        self._check_slot(slot)
        if not isinstance(pin, Pin):
            raise TypeError(f"pin must be a Pin, not {type(pin).__name__}")
        await self._reach(slot)
        digits = pin.reveal()
        if digits in self.rejected:
            self._counters.rejections += 1
            raise CodeRejected("the lock refuses this code", slot=slot)
        if self.codes.get(slot) == digits:
            self._counters.no_changes += 1
            return WriteResult.NO_CHANGE
        lands = self._rng.random() < self.write_lands
        ambiguous = self._rng.random() < self.optimistic
        self._counters.writes += 1
        if lands:
            self.codes[slot] = digits
            self._written_at[slot] = trio.current_time()
        else:
            self._counters.lost_writes += 1
        if lands and not ambiguous:
            return WriteResult.CONFIRMED
        return WriteResult.OPTIMISTIC

    async def clear_code(self, slot: int) -> WriteResult:
        """Remove the code in ``slot``: NO_CHANGE if it was empty, else CONFIRMED (always lands)."""
        self._check_slot(slot)
        await self._reach(slot)
        if slot not in self.codes:
            self._counters.no_changes += 1
            return WriteResult.NO_CHANGE
        del self.codes[slot]
        self._counters.clears += 1
        return WriteResult.CONFIRMED

    def updates(self) -> Subscription[SlotUpdate]:
        """Every pushed update from now on (a plural-noun iterator: each iterator gets every
        update, from the call on; pushes made before it are not replayed).

        Each iterator keeps :attr:`PUSH_BUFFER` unread, then its oldest go (counted in its
        ``dropped``). Drop it to stop. With ``push`` off nothing ever arrives.
        :class:`~trio_locksync.TrioRequiredError` outside a trio run.
        """
        require_trio("VirtualLock.updates()")
        return self._updates.subscribe()

    # -- the door ---------------------------------------------------------------------------

    def keypad_set(self, slot: int, pin: str) -> None:
        """Someone programs ``pin`` into ``slot`` at the door (InvalidPinError for a bad PIN).

        Works offline (the door does not need the hub); pushed, as the lock would report it
        (``unreadable()`` when masked), if ``push`` is on and the lock is online.
        """
        self._check_slot(slot)
        Pin(pin)
        self.codes[slot] = pin
        self._push(slot, self._reading(pin))

    def keypad_clear(self, slot: int) -> None:
        """Someone clears ``slot`` at the door; pushed as ``empty()`` like :meth:`keypad_set`."""
        self._check_slot(slot)
        self.codes.pop(slot, None)
        self._push(slot, SlotCredential.empty())

    def keypad_unlock(self, slot: int) -> None:
        """Someone unlocks at the keypad with ``slot``'s code: a :class:`LockEvent` (UNLOCK,
        KEYPAD, ``slot``, ``"keypad_unlock"``) to every :meth:`events` iterator — if the lock
        is online (an offline lock's report never arrives). Call it inside a trio run (the
        event is stamped with trio's clock)."""
        self._door(LockAction.UNLOCK, slot, "keypad_unlock")

    def keypad_lock(self, slot: int) -> None:
        """Someone locks at the keypad with ``slot``'s code (as :meth:`keypad_unlock`)."""
        self._door(LockAction.LOCK, slot, "keypad_lock")

    def events(self) -> Subscription[LockEvent]:
        """Every lock event from now on (:meth:`keypad_unlock`, :meth:`keypad_lock`); as every
        plural-noun iterator, each iterator gets every event, and keeps 1,000 unread (then the
        oldest go). :class:`~trio_locksync.TrioRequiredError` outside a trio run."""
        require_trio("VirtualLock.events()")
        return self._events.subscribe()

    def _door(self, action: LockAction, slot: int, name: str) -> None:
        self._check_slot(slot)
        if self.online:
            at = trio.current_time()
            self._events.publish(LockEvent(action, EventSource.KEYPAD, slot, name, at))

    def statistics(self) -> VirtualLockStatistics:
        """The lock's counters (see :class:`VirtualLockStatistics`)."""
        return VirtualLockStatistics(**attrs.asdict(self._counters))

    def __repr__(self) -> str:
        # Never the codes (nor the rejected PINs): only how many slots hold one.
        return (
            f"VirtualLock(slots={self.slots}, codes=<{len(self.codes)} set>, "
            f"online={self.online}, masked={self.masked}, push={self.push}, "
            f"write_lands={self.write_lands}, optimistic={self.optimistic}, "
            f"latency={self.latency}, fail_rate={self.fail_rate}, lag={self.lag}, "
            f"seed={self.seed})"
        )

    # -- internals --------------------------------------------------------------------------

    def _check_slot(self, slot: int) -> None:
        if isinstance(slot, bool) or not isinstance(slot, int):
            # The type only: a str passed by mistake could be a PIN.
            raise ValueError(f"a slot number must be an int, not {type(slot).__name__}")
        numbers = self.slot_numbers
        if slot not in numbers:
            raise ValueError(
                f"slot {slot} is not one of this lock's slots {numbers[0]}..{numbers[-1]}"
            )

    def _check_online(self, slot: int | None) -> None:
        if not self.online:
            self._counters.disconnects += 1
            raise LockDisconnected("the virtual lock is offline", slot=slot)

    async def _reach(self, slot: int | None) -> None:
        """Get the operation to the lock: online, latency, still online, no failure."""
        require_trio("VirtualLock")
        self._check_online(slot)
        self._in_flight += 1
        self._counters.max_in_flight = max(self._counters.max_in_flight, self._in_flight)
        try:
            await trio.sleep(self.latency)
        finally:
            self._in_flight -= 1
        self._check_online(slot)
        if self._rng.random() < self.fail_rate:
            self._counters.failures += 1
            raise LockOperationFailed("simulated failure", slot=slot)

    def _reading(self, code: str | None) -> SlotCredential:
        if code is None:
            return SlotCredential.empty()
        if self.masked:
            return SlotCredential.unreadable()
        return SlotCredential.known(code)

    def _push(self, slot: int, credential: SlotCredential) -> None:
        if not self.push:
            return
        if not self.online:
            self._counters.dropped_pushes += 1
            return
        self._updates.publish(SlotUpdate(slot, credential))
        self._counters.pushes += 1
