"""``ZWaveJsLock``: a Z-Wave lock behind a Z-Wave JS Server as a :class:`LockProvider` (and
:class:`LockEventProvider`), over a :class:`~._client.ZWaveJsClient` (zwave_js.md §8).

* Reads: one User Code ``get`` (``endpoint.invoke_cc_api``, §2) per slot asked for, never a
  walk; :func:`~._values.slot_credential` reads the answer.
* Sets: ``node.set_value userCode[k]`` (§3.1). 254 and 255 are OPTIMISTIC: neither proves the
  code is in the slot (§0.4, ``[UC]:420-466``) and the engine reads back; 2 is
  :class:`CodeRejected` ("duplicate" when a Notification 6/15 follows within
  ``DUPLICATE_WINDOW``); 5 and zwave 322 a permanent per-slot refusal (CodeRejected), never a
  disconnect. Clears: ``set_value userIdStatus[k] = 0``. ``userIdStatus`` is never written to
  enable a slot (it re-sends the cached, maybe masked, code: §3.1).
* Reachability (:mod:`~._link`): a dead node, 200/201/202/204/215, ``node_not_found`` or no
  connection → LockDisconnected; a node back (``alive``/``wake up``/``ready``/a dump) gets one
  read of its lowest slot, pushed through :meth:`updates` (:mod:`~._watch`). A sleeping node:
  operations wait for its wake up within ``operation_timeout``, then LockDisconnected saying
  "asleep".
"""

from __future__ import annotations

import math
from collections.abc import Collection, Iterable
from typing import final

import trio

from ...core import NoPublicConstructor, Pin, Subscription
from ...credentials import (
    CodeRejected,
    LockEvent,
    LockOperationFailed,
    LockState,
    SlotCredential,
    SlotUpdate,
    WriteResult,
)
from ._counts import LockCounts, ZWaveJsLockStatistics
from ._host import NodeHost
from ._link import NodeLink
from ._outcomes import DOOR_LOCK_CC, DUPLICATE_WINDOW, slot_number
from ._protocol import Command, SetValueStatus
from ._values import USER_CODE_CC
from ._watch import NodeWatch

__all__ = ["ZWaveJsLock"]

_ACCEPTED = (SetValueStatus.SUCCESS, SetValueStatus.SUCCESS_UNSUPERVISED)


@final
class ZWaveJsLock(metaclass=NoPublicConstructor):
    """The lock at ``node_id``; get one from :meth:`ZWaveJsClient.lock`. It lives as long as
    the client's block (its iterators end with it).

    ``slots``: the slots a full read (``read_slots(None)``) covers and the only ones the
    operations take (ValueError otherwise); None: every slot the lock has (its users count,
    asked once with ``getUsersCount``). Pass the slots you manage: a full read costs one radio
    round trip per slot. A slot beyond the users count is refused per slot (a set raises
    CodeRejected at once, a clear is NO_CHANGE, a read of it alone LockOperationFailed, a full
    read leaves it out), never a lock-wide failure. ``operation_timeout`` bounds every
    operation, including the wait for a sleeping lock's wake up.
    """

    _OPENED_BY = "ZWaveJsClient.lock()"

    def __init__(
        self,
        client: NodeHost,
        node_id: int,
        *,
        slots: Iterable[int] | None = None,
        operation_timeout: float = 30.0,
    ) -> None:
        if isinstance(node_id, bool) or not isinstance(node_id, int) or node_id < 1:
            raise ValueError(f"node_id must be an int >= 1, got {node_id!r}")
        self.node_id = node_id
        self._slots = None if slots is None else frozenset(slot_number(s) for s in slots)
        if self._slots is not None and not self._slots:
            raise ValueError("slots must name at least one slot (or None: every slot)")
        if not (operation_timeout > 0 and math.isfinite(operation_timeout)):
            raise ValueError(f"operation_timeout must be positive, got {operation_timeout!r}")
        self._client = client
        self._counts = LockCounts()
        self._link = NodeLink(client, node_id, operation_timeout, self._counts)
        self._watch = NodeWatch(self._link, self._slots, client._subscribe())

    def __repr__(self) -> str:
        return f"<ZWaveJsLock node {self.node_id}>"

    # -- what callers read -------------------------------------------------------------------

    @property
    def supports_push(self) -> bool:
        """True: value events on User Code CC and keypad notifications push slot updates."""
        return True

    @property
    def users_count(self) -> int | None:
        """The lock's number of user code slots, once asked (``getUsersCount``)."""
        return self._link.users

    @property
    def commands(self) -> int:
        """Commands sent to the server for this lock so far (radio operations and more)."""
        return self._counts.commands

    def statistics(self) -> ZWaveJsLockStatistics:
        """The lock's counters (see :class:`ZWaveJsLockStatistics`). Never blocks."""
        return self._counts.snapshot(users_count=self._link.users or 0)

    @property
    def lock_state(self) -> LockState:
        """The bolt as the lock last reported it (Door Lock CC ``currentMode``)."""
        node = self._client.node(self.node_id)
        mode = None if node is None else node.value(DOOR_LOCK_CC, "currentMode")
        if mode == 255:
            return LockState.LOCKED
        if mode == 0:
            return LockState.UNLOCKED
        return LockState.UNKNOWN

    def updates(self) -> Subscription[SlotUpdate]:
        """Every slot change the lock reports from now on (hints: the engine decides)."""
        return self._watch.updates.subscribe()

    def events(self) -> Subscription[LockEvent]:
        """Every lock/unlock event from now on, from live Access Control notifications only
        (a dump never makes one)."""
        return self._watch.events.subscribe()

    # -- the provider interface --------------------------------------------------------------

    async def read_slots(self, slots: Collection[int] | None = None) -> dict[int, SlotCredential]:
        """One ``get`` per slot (None: ``slots=``, or every slot the lock has)."""
        wanted = None if slots is None else sorted({self._check(s) for s in slots})
        link = self._link
        with link.deadline(None) as waiting:
            await link.reachable(None, waiting)
            users = await link.users_count()
        if wanted is None:
            wanted = sorted(self._slots) if self._slots is not None else []
            wanted = wanted or list(range(1, users + 1))
            wanted = [s for s in wanted if s <= users]
        elif len(wanted) == 1 and wanted[0] > users:
            raise LockOperationFailed(link.beyond(wanted[0]), slot=wanted[0])
        result: dict[int, SlotCredential] = {}
        for slot in wanted:
            if slot <= users:
                # Each Get its own operation timeout: a lock of 250 slots at ~1 s a Get
                # (zwave_js.md §2) must not fail its full read as one 30 s operation.
                with link.deadline(slot) as waiting:
                    await link.reachable(slot, waiting)
                    result[slot] = await link.read_one(slot)
        return result

    async def set_code(self, slot: int, pin: Pin) -> WriteResult:
        """``set_value userCode[slot]``: OPTIMISTIC on 254/255 (the engine reads back)."""
        self._check(slot)
        if not isinstance(pin, Pin):
            raise TypeError(f"pin must be a Pin, not {type(pin).__name__}")
        link = self._link
        with link.deadline(slot) as waiting:
            await link.reachable(slot, waiting)
            if slot > await link.users_count():
                raise CodeRejected(link.beyond(slot), slot=slot)
            self._watch.duplicate = duplicate = trio.Event()
            try:
                self._counts.sets += 1
                command = Command.set_value(
                    self.node_id, USER_CODE_CC, "userCode", slot, pin.reveal()
                )
                status, message = await link.set(command, slot)
                if status == SetValueStatus.FAIL:
                    with trio.move_on_after(DUPLICATE_WINDOW):
                        await duplicate.wait()
                    if duplicate.is_set():
                        raise CodeRejected(
                            "duplicate code: the lock holds it in another slot", slot=slot
                        )
                    raise CodeRejected(f"node {self.node_id} refused the code (Fail)", slot=slot)
            finally:
                self._watch.duplicate = None
            return self._judge(status, message, slot)

    async def clear_code(self, slot: int) -> WriteResult:
        """``set_value userIdStatus[slot] = 0``: OPTIMISTIC (NO_CHANGE beyond the users count)."""
        self._check(slot)
        link = self._link
        with link.deadline(slot) as waiting:
            await link.reachable(slot, waiting)
            if slot > await link.users_count():
                return WriteResult.NO_CHANGE
            self._counts.clears += 1
            command = Command.set_value(self.node_id, USER_CODE_CC, "userIdStatus", slot, 0)
            status, message = await link.set(command, slot)
            if status == SetValueStatus.FAIL:
                raise LockOperationFailed(f"node {self.node_id} refused the clear", slot=slot)
            return self._judge(status, message, slot)

    # -- the bolt (Door Lock CC) -------------------------------------------------------------

    async def lock(self) -> None:
        """Door Lock CC ``targetMode`` = 255 (secured)."""
        await self._door(255)

    async def unlock(self) -> None:
        """Door Lock CC ``targetMode`` = 0 (unsecured)."""
        await self._door(0)

    async def _door(self, mode: int) -> None:
        link = self._link
        with link.deadline(None) as waiting:
            await link.reachable(None, waiting)
            self._counts.door += 1
            command = Command.set_value(self.node_id, DOOR_LOCK_CC, "targetMode", None, mode)
            status, message = await link.set(command, None)
            if status not in _ACCEPTED:
                raise LockOperationFailed(
                    f"node {self.node_id}: Door Lock set answered status {status} {message}"
                )

    # -- helpers -----------------------------------------------------------------------------

    def _check(self, slot: int) -> int:
        slot_number(slot)
        if self._slots is not None and slot not in self._slots:
            raise ValueError(f"slot {slot} is not one of node {self.node_id}'s slots")
        return slot

    def _judge(self, status: int, message: str, slot: int) -> WriteResult:
        if status in _ACCEPTED or status == SetValueStatus.WORKING:
            return WriteResult.OPTIMISTIC
        raise LockOperationFailed(
            f"node {self.node_id}: set answered status {status} {message}".rstrip(), slot=slot
        )

    async def _run(self) -> None:
        """[a task in the client's nursery] The lock's news and probes (:mod:`~._watch`)."""
        await self._watch.run()
