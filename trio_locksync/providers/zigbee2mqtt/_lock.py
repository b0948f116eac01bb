"""``Zigbee2MqttLock``: a Zigbee lock behind Zigbee2MQTT as a :class:`LockProvider`, plus its
bolt and its events — the operations, over a :class:`~._link.DeviceLink`."""

from __future__ import annotations

import enum
import math
from collections.abc import Collection, Iterable
from contextlib import AsyncExitStack
from types import TracebackType
from typing import final

import trio

from ...core import Pin, StateTable, Subscription, open_service_nursery
from ...credentials import (
    CodeRejected,
    LockDisconnected,
    LockOperationFailed,
    SlotCredential,
    SlotUpdate,
    WriteResult,
)
from ...mqtt import MqttBridge
from ._link import DeviceLink
from ._models import LockEvent, LockState, Zigbee2MqttStatistics
from ._record import DeviceRecord, PendingRead, ReadOutcome
from ._requests import clear_payload, command_payload, set_payload

__all__ = ["Zigbee2MqttLock"]

#: a read gives up as unreachable after this many users in a row met silence, if the lock has
#: said nothing at all since the read began
SILENT_READS = 3

#: the counters of :class:`Zigbee2MqttStatistics` (the record counts them under these names)
_COUNTS = (
    "messages",
    "replays",
    "stale",
    "news",
    "restated",
    "bad_payloads",
    "bad_entries",
    "bad_keys",
    "reads",
    "answered",
    "declined",
    "read_timeouts",
    "fallbacks",
    "writes",
    "commands",
    "publish_errors",
    "disconnects",
    "pushes",
    "events",
)


class _Life(enum.Enum):
    NEW = "new"
    RUNNING = "running"
    CLOSED = "closed"


_LIFE = {
    _Life.NEW: frozenset({_Life.RUNNING}),
    _Life.RUNNING: frozenset({_Life.CLOSED}),
    _Life.CLOSED: frozenset[_Life](),
}


def _check_name(what: str, value: object) -> str:
    if not isinstance(value, str) or not value.strip("/"):
        raise ValueError(f"{what} must be a non-empty str")
    if any(c in value for c in "+#\0"):
        raise ValueError(f"{what} {value!r} must not contain '+', '#' or NUL")
    return value


def _seconds(what: str, value: float) -> float:
    if isinstance(value, bool) or not (isinstance(value, int | float) and value > 0):
        raise ValueError(f"{what} must be a positive number of seconds, got {value!r}")
    if not math.isfinite(value):
        raise ValueError(f"{what} must be finite, got {value!r}")
    return float(value)


def _user_id(slot: object) -> int:
    if isinstance(slot, bool) or not isinstance(slot, int):
        raise ValueError(f"a slot number must be an int, not {type(slot).__name__}")
    if not 0 <= slot < 65535:
        raise ValueError(f"slot {slot} is not a Zigbee user id (0..65534)")
    return slot


@final
class Zigbee2MqttLock:
    """A Zigbee lock named ``friendly_name`` in the Zigbee2MQTT behind ``bridge``: a
    :class:`LockProvider` for :func:`open_lock_sync`, and the lock's bolt and events.

    Run it for the duration of a block — ``async with Zigbee2MqttLock(bridge, "front_door")
    as lock:`` — which owns its subscriptions; leaving it ends them, fails operations still in
    flight with LockDisconnected and ends the iterators. The block starts once the broker has
    acknowledged the subscriptions (at most ``publish_timeout`` later; at once while the MQTT
    bridge is not CONNECTED — they follow when it is), so that nothing published after it
    starts is missed. A lock runs once. The bridge must stay open longer than the block.

    * ``slots``: the user ids a full read (``read_slots(None)``) covers, and the only ones the
      operations take (ValueError otherwise). Zigbee2MQTT does not publish a lock's
      ``pinCodeCount``: give the ones you manage. Slot N is Zigbee user N.
    * Writes publish ``set`` and return OPTIMISTIC once the broker acknowledged it:
      Zigbee2MQTT reports no success (it does not even check the lock's status), so the engine
      reads back. No write is ever CONFIRMED or NO_CHANGE. The only refusal Zigbee2MQTT reports
      is an error line on ``bridge/logging`` (``watch_errors``): the user id out of the lock's
      range, or an error status. Such a write is followed by the read-back, which then raises
      LockOperationFailed (the engine leaves the write to its deadline), and writing the same
      code to that user again raises :class:`CodeRejected` (the engine suspends the slot until
      its desired code changes). A code the lock refuses silently shows up as a read-back
      without it, charged by the engine until the slot is SUSPENDED, visibly.
    * Reads ``get`` one user at a time and wait up to ``read_timeout`` for each answer (how an
      answer is told from a cached republish: ``_record``). A user that did not answer is left
      out of the result (a full read asks it once more); one that answered
      ``not_supported_*`` too. A read met by silence — nothing at all from the device — raises
      LockDisconnected (not a lock full of unreadable slots).
    * Every operation raises LockDisconnected at once while the device's ``availability`` or
      Zigbee2MQTT's ``bridge/state`` is offline or the MQTT bridge is not CONNECTED (and an
      operation in flight is cut short when that happens); online again, they go on, and the
      lock reads its lowest slot and pushes the answer through :meth:`updates` — an engine
      whose lock breaker gave up hears at once that the lock answers again.
    * ``expose_pin``: None reads ``pin_code`` when present; False ignores it (set it when the
      device option is off: Zigbee2MQTT's deep-merged cache keeps the last code it saw).
    * ``watch_errors``: follow ``bridge/logging`` for Zigbee2MQTT's reports of failed
      publishes to this device (a failed read then ends at once).
    * ``publish_timeout`` bounds waiting for the broker; ``command_timeout`` waiting for the
      bolt to report after :meth:`lock`/:meth:`unlock`.

    Payloads are never logged (they carry PINs); bad input is counted and logged by kind.
    """

    def __init__(
        self,
        bridge: MqttBridge,
        friendly_name: str,
        *,
        base_topic: str = "zigbee2mqtt",
        slots: Iterable[int] = range(1, 31),
        read_timeout: float = 12.0,
        publish_timeout: float = 10.0,
        command_timeout: float = 15.0,
        expose_pin: bool | None = None,
        watch_errors: bool = True,
    ) -> None:
        if not isinstance(bridge, MqttBridge):
            raise TypeError(f"bridge must be an MqttBridge, not {type(bridge).__name__}")
        name = _check_name("friendly_name", friendly_name)
        if name == "bridge" or name.startswith("bridge/"):
            raise ValueError("friendly_name must not be Zigbee2MQTT's own 'bridge'")
        self._slots = frozenset(_user_id(slot) for slot in slots)
        if not self._slots:
            raise ValueError("slots must name at least one user id")
        self._command_timeout = _seconds("command_timeout", command_timeout)
        self._link = DeviceLink(
            bridge,
            name,
            _check_name("base_topic", base_topic),
            record=DeviceRecord(expose_pin=expose_pin),
            publish_timeout=_seconds("publish_timeout", publish_timeout),
            read_timeout=_seconds("read_timeout", read_timeout),
            watch_errors=bool(watch_errors),
            refresh=self._slots.__contains__,
            recovered=self._probe,
        )
        self._life = StateTable("Zigbee2MqttLock", _Life.NEW, _LIFE)
        self._stack = AsyncExitStack()
        self._serial = trio.Lock()

    # -- the block --------------------------------------------------------------------------

    async def __aenter__(self) -> Zigbee2MqttLock:
        if self._life.current is not _Life.NEW:
            raise RuntimeError(f"{self!r} runs once; make a new Zigbee2MqttLock")
        self._life.advance(_Life.RUNNING)
        nursery = await self._stack.enter_async_context(open_service_nursery())
        self._stack.callback(nursery.cancel_scope.cancel)
        self._link.start(nursery)
        await self._link.wait_subscribed()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> bool:
        self._life.advance(_Life.CLOSED)
        self._link.stop()
        return bool(await self._stack.__aexit__(exc_type, exc, traceback))

    # -- what callers read ------------------------------------------------------------------

    @property
    def friendly_name(self) -> str:
        return self._link.name

    @property
    def supports_push(self) -> bool:
        """True: slot changes the lock reports on its own are pushed through :meth:`updates`."""
        return True

    @property
    def lock_state(self) -> LockState:
        """The bolt as the lock last reported it (a retained replay counts)."""
        return self._link.record.lock_state

    @property
    def reachable(self) -> bool:
        """Nothing says the lock is unreachable now (see :attr:`unreachable_reason`)."""
        return self._link.unreachable() is None

    @property
    def unreachable_reason(self) -> str | None:
        """Why operations raise LockDisconnected now, or None."""
        return self._link.unreachable()

    def updates(self) -> Subscription[SlotUpdate]:
        """Every slot change the lock reports from now on: entries that differ from what it
        said before, never a restatement or a replay. Each iterator keeps 1,000 unread; it
        ends when the block does."""
        return self._link.updates.subscribe()

    def events(self) -> Subscription[LockEvent]:
        """Every lock/unlock event (and refusal) from now on, from live messages only. Each
        iterator keeps 1,000 unread; it ends when the block does."""
        return self._link.events.subscribe()

    def statistics(self) -> Zigbee2MqttStatistics:
        """The lock's counters (see :class:`Zigbee2MqttStatistics`)."""
        record = self._link.record
        return Zigbee2MqttStatistics(
            **{name: record.counts[name] for name in _COUNTS},
            availability=record.availability,
            bridge=record.bridge,
            lock_state=record.lock_state,
            reachable=self.reachable,
            known_slots=len(record.entries),
        )

    def __repr__(self) -> str:
        return f"<Zigbee2MqttLock {self._link.topic!r} {self._life.current.value}>"

    # -- the provider interface -------------------------------------------------------------

    async def read_slots(self, slots: Collection[int] | None = None) -> dict[int, SlotCredential]:
        """Read ``slots`` (None: every one of ``slots=``), one ``get`` at a time."""
        wanted = sorted(self._slots if slots is None else {self._check_slot(s) for s in slots})
        if not wanted:
            return {}
        link = self._link
        only = wanted[0] if len(wanted) == 1 else None
        result: dict[int, SlotCredential] = {}
        async with self._serial, link.operation(only):
            spoke, silent = False, 0
            missing: list[int] = []
            for slot in wanted:
                read = await link.read(slot)
                if read.refused and only is not None:
                    raise LockOperationFailed(
                        f"{link.name}: Zigbee2MQTT refused to read user {slot} (out of the "
                        "lock's range?)",
                        slot=slot,
                    )
                answered = _file(read, result, missing)
                spoke = spoke or answered
                silent = 0 if answered else silent + 1  # users in a row met by silence
                if not spoke and (silent >= SILENT_READS or read.unreachable):
                    break
            if spoke and only is None:
                for slot in list(missing):  # one more try for users that did not answer
                    missing.remove(slot)
                    _file(await link.read(slot), result, missing)
        if not spoke:
            why = f"no answer from the lock within {link.read_timeout:g} s"
            raise link.disconnected(why, only)
        return result

    async def set_code(self, slot: int, pin: Pin) -> WriteResult:
        """Publish a set of ``pin`` into ``slot``: OPTIMISTIC once the broker has it."""
        self._check_slot(slot)
        if not isinstance(pin, Pin):
            raise TypeError(f"pin must be a Pin, not {type(pin).__name__}")
        async with self._serial, self._link.operation(slot):
            if self._link.record.refused(slot, pin):
                raise CodeRejected(
                    f"{self._link.name}: Zigbee2MQTT refused the last write of this code to "
                    "this user (out of the lock's range, or an error status from the lock)",
                    slot=slot,
                )
            self._link.record.wrote(slot, pin)
            await self._link.publish("set", set_payload(slot, pin), slot)
        return WriteResult.OPTIMISTIC

    async def clear_code(self, slot: int) -> WriteResult:
        """Publish a clear of ``slot``: OPTIMISTIC once the broker has it."""
        self._check_slot(slot)
        async with self._serial, self._link.operation(slot):
            if self._link.record.refused(slot, None):
                raise LockOperationFailed(
                    f"{self._link.name}: Zigbee2MQTT refused the last clear of this user",
                    slot=slot,
                )
            self._link.record.wrote(slot, None)
            await self._link.publish("set", clear_payload(slot), slot)
        return WriteResult.OPTIMISTIC

    # -- the bolt ---------------------------------------------------------------------------

    async def lock(self) -> None:
        """Lock the door; returns once the lock reports LOCKED. LockOperationFailed if it
        reports a jam (NOT_FULLY_LOCKED) or nothing within ``command_timeout`` (the command
        may still be carried out); LockDisconnected if it cannot be reached."""
        await self._command("LOCK", LockState.LOCKED, None)

    async def unlock(self, code: str | Pin | None = None) -> None:
        """Unlock the door (with ``code`` for locks that want a PIN to unlock remotely);
        returns once the lock reports UNLOCKED. Errors as :meth:`lock`."""
        pin = Pin(code) if isinstance(code, str) else code
        await self._command("UNLOCK", LockState.UNLOCKED, pin)

    async def _command(self, word: str, target: LockState, code: Pin | None) -> None:
        link = self._link
        async with link.operation(None):
            before = link.record.lock_state
            link.record.counts["commands"] += 1
            reported = link.reported
            await link.publish("set", command_payload(word, code), None)
            with trio.move_on_after(self._command_timeout):
                while True:
                    await reported.wait()
                    reported = link.reported
                    state = link.record.lock_state
                    if state is target:
                        return
                    if state is LockState.NOT_FULLY_LOCKED and target is LockState.LOCKED:
                        raise LockOperationFailed(f"{link.name}: the bolt did not fully throw")
        if before is target:
            return  # already there: the lock need not report anything
        raise LockOperationFailed(
            f"{link.name}: the lock did not report {target.value} within "
            f"{self._command_timeout:g} s; the command may still be carried out"
        )

    async def _probe(self) -> None:
        """[a task of the block] The lock is reachable again: read its lowest slot and push
        the answer (even if unchanged), so that an engine whose lock breaker gave up on it
        hears that it answers now instead of waiting for its next probe (60 s to 30 min)."""
        link = self._link
        slot = min(self._slots)
        try:
            async with self._serial, link.operation(slot):
                read = await link.read(slot)
        except LockDisconnected:
            return  # gone again: the next recovery probes again
        if read.outcome is ReadOutcome.ANSWERED and read.credential is not None:
            link.record.counts["pushes"] += 1
            link.updates.publish(SlotUpdate(slot, read.credential))

    def _check_slot(self, slot: int) -> int:
        if _user_id(slot) not in self._slots:
            raise ValueError(f"slot {slot} is not one of {self._link.name!r}'s slots")
        return slot


def _file(read: PendingRead, result: dict[int, SlotCredential], missing: list[int]) -> bool:
    """File a finished read; True if the lock answered it (or spoke meanwhile). A read that
    Zigbee2MQTT reported undeliverable is no answer even if a message came meanwhile: that
    message can be Zigbee2MQTT's cached state (republished at its start), not the lock."""
    if read.outcome is ReadOutcome.ANSWERED and read.credential is not None:
        result[read.slot] = read.credential
        return True
    if read.outcome is ReadOutcome.DECLINED or read.refused:
        return True  # an answer without data: no second try
    missing.append(read.slot)
    return read.heard and not read.unreachable
