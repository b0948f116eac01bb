"""``Zigbee2MqttLock``: a Zigbee lock behind Zigbee2MQTT as a :class:`LockProvider`, plus its
bolt and its events — the operations' contract and checks, over a :class:`~._link.DeviceLink`
(transport, reachability) and a :class:`~._reader.DeviceReader` (everything read)."""

from __future__ import annotations

import enum
import math
from collections.abc import Collection, Iterable
from contextlib import AsyncExitStack
from types import TracebackType
from typing import final

from ...core import Pin, StateTable, Subscription, open_service_nursery, require_trio
from ...credentials import (
    CodeRejected,
    LockOperationFailed,
    SlotCredential,
    SlotUpdate,
    WriteResult,
)
from ...mqtt import MqttBridge
from ._link import DeviceLink
from ._models import LockEvent, LockState, Zigbee2MqttStatistics
from ._reader import DeviceReader
from ._record import DeviceRecord
from ._requests import clear_payload, set_payload
from ._users import NO_USER

__all__ = ["Zigbee2MqttLock"]


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
    if not 0 <= slot < NO_USER:
        raise ValueError(
            f"slot {slot} is not a Zigbee user id: Zigbee2MQTT numbers a lock's users from 0 "
            "to its user count - 1 (pass e.g. slots=range(0, 30) for a 30-user lock)"
        )
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
      operations take (ValueError otherwise). Slot N is Zigbee user N, and Zigbee2MQTT numbers
      users from 0 to the lock's ``pinCodeCount`` - 1 (30 on Kwikset, Schlage and Yale, 20 on
      Danalock, 4 on ShinaSystem: ``range(1, 31)`` addresses a user those locks do not have).
      None (the default): the users the lock has, learned from its model in Zigbee2MQTT's
      ``bridge/devices`` (:data:`PIN_CODE_COUNTS`); for a model we do not know, a full read
      raises LockOperationFailed saying to pass ``slots``. A user the lock turns out not to
      have — by its model, or because Zigbee2MQTT refused it (which also rules out every
      higher id) — is a permanent refusal of that slot: a set raises :class:`CodeRejected`
      without publishing anything, a clear is NO_CHANGE, a read of it alone raises
      LockOperationFailed and a full read leaves it out. It never makes the lock look
      unreachable, and costs at most the one refused attempt.
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
      Zigbee2MQTT's ``bridge/state`` is offline or the MQTT bridge lost its connection (and an
      operation in flight is cut short when that happens) — but while the MQTT bridge is
      still making its *first* connection, an operation waits for it, up to its own timeout
      (``read_timeout``, ``publish_timeout`` or ``command_timeout``). Online again, they go
      on, and the lock reads its lowest slot and pushes the answer through :meth:`updates` —
      an engine whose lock breaker gave up hears at once that the lock answers again.
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
        slots: Iterable[int] | None = None,
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
        self._slots = None if slots is None else frozenset(_user_id(slot) for slot in slots)
        if self._slots is not None and not self._slots:
            raise ValueError("slots must name at least one user id (or None: learn them)")
        self._read_timeout = _seconds("read_timeout", read_timeout)
        self._publish_timeout = _seconds("publish_timeout", publish_timeout)
        self._command_timeout = _seconds("command_timeout", command_timeout)
        self._link = DeviceLink(
            bridge,
            name,
            _check_name("base_topic", base_topic),
            record=DeviceRecord(expose_pin=expose_pin),
            publish_timeout=self._publish_timeout,
            read_timeout=self._read_timeout,
            watch_errors=bool(watch_errors),
        )
        self._reader = DeviceReader(self._link, slots=self._slots)
        self._life = StateTable("Zigbee2MqttLock", _Life.NEW, _LIFE)
        self._stack = AsyncExitStack()

    # -- the block --------------------------------------------------------------------------

    async def __aenter__(self) -> Zigbee2MqttLock:
        require_trio("Zigbee2MqttLock")
        if self._life.current is not _Life.NEW:
            raise RuntimeError(f"{self!r} runs once; make a new Zigbee2MqttLock")
        self._life.advance(_Life.RUNNING)
        nursery = await self._stack.enter_async_context(open_service_nursery())
        self._stack.callback(nursery.cancel_scope.cancel)
        self._reader.start(nursery)
        await self._link.wait_subscribed()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        # None, not bool: the block never swallows an exception, so type checkers know that a
        # ``return`` inside it returns. (The stack could only swallow a Cancelled of its
        # nursery's own scope, which is cancelled here, after the block, never during it.)
        self._life.advance(_Life.CLOSED)
        self._reader.stop()
        await self._stack.__aexit__(exc_type, exc, traceback)

    # -- what callers read ------------------------------------------------------------------

    @property
    def friendly_name(self) -> str:
        return self._link.name

    @property
    def supports_push(self) -> bool:
        """True: slot changes the lock reports on its own are pushed through :meth:`updates`."""
        return True

    @property
    def reads_follow_writes(self) -> bool:
        """True: a read-back is the lock's own answer, after the write (the engine then
        rewrites a set whose read-back shows no code at its next operation, not after
        ``pending_ttl``). Zigbee2MQTT carries out one device's commands one at a time, in
        order, and only the lock's answer to ``get`` writes ``users``; our ``get`` is published
        after the ``set`` (one operation at a time), and a read is answered only by a live,
        fresh message after it (a restated entry contradicting our write only once the read
        waited twice the slowest recent answer for a changed one: ``_record``). A read with no
        answer proves nothing: it leaves the slot out and the write waits for its deadline."""
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
        return self._reader.updates.subscribe()

    def events(self) -> Subscription[LockEvent]:
        """Every lock/unlock event (and refusal) from now on, from live messages only. Each
        iterator keeps 1,000 unread; it ends when the block does."""
        return self._reader.events.subscribe()

    def statistics(self) -> Zigbee2MqttStatistics:
        """The lock's counters (see :class:`Zigbee2MqttStatistics`)."""
        record = self._link.record
        return record.counts.snapshot(
            availability=record.availability,
            bridge=record.bridge,
            lock_state=record.lock_state,
            reachable=self.reachable,
            known_slots=len(record.entries),
            bad_inputs=self._link.bad_inputs,
            handler_errors=self._link.handler_errors,
        )

    def __repr__(self) -> str:
        return f"<Zigbee2MqttLock {self._link.topic!r} {self._life.current.value}>"

    # -- the provider interface -------------------------------------------------------------

    async def read_slots(self, slots: Collection[int] | None = None) -> dict[int, SlotCredential]:
        """Read ``slots`` (None: every one of ``slots=``, or every user the lock has), one
        ``get`` at a time; users the lock cannot have are left out (see the class docs)."""
        users = self._link.record.users
        wanted = None if slots is None else sorted({self._check_slot(s) for s in slots})
        if wanted == []:
            return {}
        only = wanted[0] if wanted is not None and len(wanted) == 1 else None
        if only is not None and users.beyond(only):
            raise LockOperationFailed(self._link.beyond(only), slot=only)
        return await self._reader.read_slots(wanted, only)

    async def set_code(self, slot: int, pin: Pin) -> WriteResult:
        """Publish a set of ``pin`` into ``slot``: OPTIMISTIC once the broker has it."""
        self._check_slot(slot)
        if not isinstance(pin, Pin):
            raise TypeError(f"pin must be a Pin, not {type(pin).__name__}")
        record = self._link.record
        if record.users.beyond(slot):
            raise CodeRejected(self._link.beyond(slot), slot=slot)
        async with self._link.serial, self._link.operation(slot, self._publish_timeout):
            if record.users.beyond(slot):  # learned while waiting for our turn
                raise CodeRejected(self._link.beyond(slot), slot=slot)
            if record.refused(slot, pin):
                raise CodeRejected(
                    f"{self._link.name}: Zigbee2MQTT refused the last write of this code to "
                    "this user (an error status from the lock)",
                    slot=slot,
                )
            record.wrote(slot, pin)
            await self._link.publish("set", set_payload(slot, pin), slot)
        return WriteResult.OPTIMISTIC

    async def clear_code(self, slot: int) -> WriteResult:
        """Publish a clear of ``slot``: OPTIMISTIC once the broker has it; NO_CHANGE for a
        user the lock cannot have (it holds nothing)."""
        self._check_slot(slot)
        record = self._link.record
        if record.users.beyond(slot):
            return WriteResult.NO_CHANGE
        async with self._link.serial, self._link.operation(slot, self._publish_timeout):
            if record.users.beyond(slot):
                return WriteResult.NO_CHANGE
            if record.refused(slot, None):
                raise LockOperationFailed(
                    f"{self._link.name}: Zigbee2MQTT refused the last clear of this user",
                    slot=slot,
                )
            record.wrote(slot, None)
            await self._link.publish("set", clear_payload(slot), slot)
        return WriteResult.OPTIMISTIC

    # -- the bolt ---------------------------------------------------------------------------

    async def lock(self) -> None:
        """Lock the door; returns once the lock reports LOCKED. LockOperationFailed if it
        reports a jam (NOT_FULLY_LOCKED) or nothing within ``command_timeout`` (the command
        may still be carried out); LockDisconnected if it cannot be reached."""
        await self._reader.command("LOCK", LockState.LOCKED, None, self._command_timeout)

    async def unlock(self, code: str | Pin | None = None) -> None:
        """Unlock the door (with ``code`` for locks that want a PIN to unlock remotely);
        returns once the lock reports UNLOCKED. Errors as :meth:`lock`."""
        pin = Pin(code) if isinstance(code, str) else code
        await self._reader.command("UNLOCK", LockState.UNLOCKED, pin, self._command_timeout)

    def _check_slot(self, slot: int) -> int:
        _user_id(slot)
        if self._slots is not None and slot not in self._slots:
            raise ValueError(f"slot {slot} is not one of {self._link.name!r}'s slots")
        return slot
