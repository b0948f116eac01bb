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
* Reachability: a dead node, 200/201/202/204/215, ``node_not_found`` or no connection →
  LockDisconnected; a node back (``alive``/``wake up``/``ready``/a dump) gets one read of its
  lowest slot, pushed through :meth:`updates`. A sleeping node: operations wait for its wake up
  within ``operation_timeout``, then LockDisconnected saying "asleep".
"""

from __future__ import annotations

import contextlib
import logging
import math
from collections.abc import Collection, Iterable, Iterator
from typing import Any, final

import trio

from ...core import ChangeFeed, NoPublicConstructor, Pin, Subscription
from ...credentials import (
    CodeRejected,
    LockDisconnected,
    LockEvent,
    LockOperationFailed,
    LockState,
    SlotCredential,
    SlotUpdate,
    WriteResult,
)
from ._access import CODE_ADDED, CODE_DELETED, DUPLICATE_CODE, is_access_control, lock_event
from ._errors import ZWaveJsCommandError, ZWaveJsConnectionLost
from ._events import Event, NodeReady, NodeStatus, NodeStatusChanged, Notification, ValueChanged
from ._outcomes import DOOR_LOCK_CC, DUPLICATE_WINDOW, classify, slot_number
from ._protocol import Command, FrameError, SetValueStatus, set_value_status
from ._status import ZWaveJsStatus
from ._values import USER_CODE_CC, slot_credential

__all__ = ["ZWaveJsLock"]

logger = logging.getLogger("trio_locksync.zwave_js")


@final
class ZWaveJsLock(metaclass=NoPublicConstructor):
    """The lock at ``node_id``; get one from :meth:`ZWaveJsClient.lock`. It lives as long as
    the client's block (its iterators end with it).

    ``slots``: the slots a full read (``read_slots(None)``) covers and the only ones the
    operations take (ValueError otherwise); None: every slot the lock has (its users count,
    asked once with ``getUsersCount``). Pass the slots you manage: a full read costs one radio
    round trip per slot. A slot beyond the users count is refused per slot (a set raises
    CodeRejected at once, a clear is NO_CHANGE, a read of it alone LockOperationFailed, a full
    read leaves it out), never a lock-wide failure.
    """

    _OPENED_BY = "ZWaveJsClient.lock()"

    def __init__(
        self,
        client: Any,
        node_id: int,
        *,
        slots: Iterable[int] | None = None,
        operation_timeout: float = 30.0,
    ) -> None:
        if isinstance(node_id, bool) or not isinstance(node_id, int) or node_id < 1:
            raise ValueError(f"node_id must be an int >= 1, got {node_id!r}")
        self._client = client
        self.node_id = node_id
        self._slots = None if slots is None else frozenset(slot_number(s) for s in slots)
        if self._slots is not None and not self._slots:
            raise ValueError("slots must name at least one slot (or None: every slot)")
        if not (operation_timeout > 0 and math.isfinite(operation_timeout)):
            raise ValueError(f"operation_timeout must be positive, got {operation_timeout!r}")
        self._timeout = operation_timeout
        self._users: int | None = None
        self._updates = ChangeFeed[SlotUpdate](backlog=1000)
        self._events = ChangeFeed[LockEvent](backlog=1000)
        self._pushed: dict[int, SlotCredential] = {}
        self._duplicate: trio.Event | None = None
        self._probe_send, self._probe_receive = trio.open_memory_channel[int | None](math.inf)
        self._asleep = False
        self._changed = trio.Event()
        #: operations sent to the server (commands), for the benchmark and the tests
        self.commands = 0
        client._listen(self._on_event)

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
        return self._users

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
        return self._updates.subscribe()

    def events(self) -> Subscription[LockEvent]:
        """Every lock/unlock event from now on, from live Access Control notifications only
        (a dump never makes one)."""
        return self._events.subscribe()

    # -- the provider interface --------------------------------------------------------------

    async def read_slots(self, slots: Collection[int] | None = None) -> dict[int, SlotCredential]:
        """One ``get`` per slot (None: ``slots=``, or every slot the lock has)."""
        wanted = None if slots is None else sorted({self._check(s) for s in slots})
        with self._deadline(None):
            await self._reachable(None)
            users = await self._users_count()
            if wanted is None:
                wanted = sorted(self._slots) if self._slots is not None else []
                wanted = wanted or list(range(1, users + 1))
                wanted = [s for s in wanted if s <= users]
            elif len(wanted) == 1 and wanted[0] > users:
                raise LockOperationFailed(self._beyond(wanted[0]), slot=wanted[0])
            result: dict[int, SlotCredential] = {}
            for slot in wanted:
                if slot <= users:
                    result[slot] = await self._read_one(slot)
            return result

    async def set_code(self, slot: int, pin: Pin) -> WriteResult:
        """``set_value userCode[slot]``: OPTIMISTIC on 254/255 (the engine reads back)."""
        self._check(slot)
        if not isinstance(pin, Pin):
            raise TypeError(f"pin must be a Pin, not {type(pin).__name__}")
        with self._deadline(slot):
            await self._reachable(slot)
            if slot > await self._users_count():
                raise CodeRejected(self._beyond(slot), slot=slot)
            self._duplicate = duplicate = trio.Event()
            try:
                command = Command.set_value(
                    self.node_id, USER_CODE_CC, "userCode", slot, pin.reveal()
                )
                status, message = await self._set(command, slot)
                if status == SetValueStatus.FAIL:
                    with trio.move_on_after(DUPLICATE_WINDOW):
                        await duplicate.wait()
                    if duplicate.is_set():
                        raise CodeRejected("duplicate code: the lock holds it in another slot")
                    raise CodeRejected(f"node {self.node_id} refused the code (Fail)", slot=slot)
            finally:
                self._duplicate = None
            return self._judge(status, message, slot)

    async def clear_code(self, slot: int) -> WriteResult:
        """``set_value userIdStatus[slot] = 0``: OPTIMISTIC (NO_CHANGE beyond the users count)."""
        self._check(slot)
        with self._deadline(slot):
            await self._reachable(slot)
            if slot > await self._users_count():
                return WriteResult.NO_CHANGE
            command = Command.set_value(self.node_id, USER_CODE_CC, "userIdStatus", slot, 0)
            status, message = await self._set(command, slot)
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
        with self._deadline(None):
            await self._reachable(None)
            command = Command.set_value(self.node_id, DOOR_LOCK_CC, "targetMode", None, mode)
            status, message = await self._set(command, None)
            if status not in (SetValueStatus.SUCCESS, SetValueStatus.SUCCESS_UNSUPERVISED):
                raise LockOperationFailed(
                    f"node {self.node_id}: Door Lock set answered status {status} {message}"
                )

    # -- helpers -----------------------------------------------------------------------------

    def _check(self, slot: int) -> int:
        slot_number(slot)
        if self._slots is not None and slot not in self._slots:
            raise ValueError(f"slot {slot} is not one of node {self.node_id}'s slots")
        return slot

    def _beyond(self, slot: int) -> str:
        return f"node {self.node_id}: slot {slot} is beyond the lock's {self._users} user codes"

    @contextlib.contextmanager
    def _deadline(self, slot: int | None) -> Iterator[None]:
        """Bound one operation by ``operation_timeout``: a sleeping node that did not wake up
        is LockDisconnected saying "asleep"; anything else that took too long
        LockOperationFailed."""
        self._asleep = False
        try:
            with trio.fail_after(self._timeout):
                yield
        except trio.TooSlowError:
            if self._asleep:
                raise LockDisconnected(
                    f"node {self.node_id} is asleep (a battery lock): no wake up within "
                    f"{self._timeout:g} s",
                    slot=slot,
                ) from None
            raise LockOperationFailed(
                f"node {self.node_id}: no answer within {self._timeout:g} s", slot=slot
            ) from None
        finally:
            self._asleep = False

    async def _reachable(self, slot: int | None) -> None:
        """Wait for the first connection, and for a sleeping node's wake up; raise
        LockDisconnected for a dead node (after one ping) or a lost connection."""
        client = self._client
        if client.status is not ZWaveJsStatus.CONNECTED:
            if client.connections > 0:
                raise LockDisconnected(f"the Z-Wave JS Server connection is {client.status}")
            await client.wait_status(ZWaveJsStatus.CONNECTED)
        node = client.node(self.node_id)
        if node is None:
            raise LockDisconnected(f"the server has no node {self.node_id}", slot=slot)
        if node.status is NodeStatus.DEAD:
            answer = await self._send(Command("node.ping", {"nodeId": self.node_id}), slot)
            if answer.get("responded") is not True:
                raise LockDisconnected(f"node {self.node_id} is dead", slot=slot)
        while True:
            node = client.node(self.node_id)
            if node is None or node.status is not NodeStatus.ASLEEP or node.listening:
                return
            self._asleep = True
            await self._changed.wait()

    async def _users_count(self) -> int:
        if self._users is None:
            command = Command.invoke_cc_api(self.node_id, USER_CODE_CC, "getUsersCount", [])
            answer = await self._send(command, None)
            count = answer.get("response")
            if not isinstance(count, int) or isinstance(count, bool) or count < 1:
                raise LockOperationFailed(f"node {self.node_id} reported no user code slots")
            self._users = count
        return self._users

    async def _read_one(self, slot: int) -> SlotCredential:
        command = Command.invoke_cc_api(self.node_id, USER_CODE_CC, "get", [slot])
        answer = await self._send(command, slot)
        response = answer.get("response")
        if not isinstance(response, dict):
            raise LockOperationFailed(f"node {self.node_id} gave no User Code report", slot=slot)
        reading = slot_credential(response.get("userIdStatus"), response.get("userCode"))
        if reading is None:
            raise LockOperationFailed(f"node {self.node_id} reported no status", slot=slot)
        return reading

    async def _set(self, command: Command, slot: int | None) -> tuple[int, str]:
        answer = await self._send(command, slot)
        try:
            status, message = set_value_status(answer)
        except FrameError as exc:
            raise LockOperationFailed(f"node {self.node_id}: {exc}", slot=slot) from None
        if status == SetValueStatus.INVALID_VALUE and slot is not None:
            raise CodeRejected(f"node {self.node_id}: invalid value: {message}", slot=slot)
        return status, message

    def _judge(self, status: int, message: str, slot: int) -> WriteResult:
        if status in (SetValueStatus.SUCCESS, SetValueStatus.SUCCESS_UNSUPERVISED):
            return WriteResult.OPTIMISTIC
        if status == SetValueStatus.WORKING:
            return WriteResult.OPTIMISTIC
        raise LockOperationFailed(
            f"node {self.node_id}: set answered status {status} {message}".rstrip(), slot=slot
        )

    async def _send(self, command: Command, slot: int | None) -> dict[str, Any]:
        self.commands += 1
        try:
            result: dict[str, Any] = await self._client._request(command)
            return result
        except ZWaveJsConnectionLost as exc:
            raise LockDisconnected(str(exc), slot=slot) from None
        except ZWaveJsCommandError as exc:
            raise classify(exc, self.node_id, slot) from None

    # -- events and the probe task -----------------------------------------------------------

    def _on_event(self, event: Event | None) -> None:
        """[the client's reader] ``None``: a fresh dump (the node may be back); else a live
        event. Never raises for bad input."""
        self._changed.set()
        self._changed = trio.Event()
        if event is None:
            self._probe_send.send_nowait(None)
            return
        if getattr(event, "node_id", None) != self.node_id:
            return
        if isinstance(event, ValueChanged):
            if event.cc == USER_CODE_CC and isinstance(event.key, int):
                self._value_changed(event)
        elif isinstance(event, Notification):
            self._notified(event)
        elif isinstance(event, NodeStatusChanged):
            if event.status in (NodeStatus.ALIVE, NodeStatus.AWAKE):
                self._probe_send.send_nowait(None)
        elif isinstance(event, NodeReady):
            self._probe_send.send_nowait(None)

    def _value_changed(self, event: ValueChanged) -> None:
        slot = event.key
        assert isinstance(slot, int)
        if self._slots is not None and slot not in self._slots:
            return
        # userIdStatus comes before userCode (§4): push on the code, or on a status of 0
        # (empty whatever the code); a removal makes the slot unknown: nothing to push.
        if event.prop == "userIdStatus" and event.new_value != 0:
            return
        if event.prop not in ("userIdStatus", "userCode"):
            return
        node = self._client.node(self.node_id)
        if node is None:
            return
        reading = slot_credential(
            node.value(USER_CODE_CC, "userIdStatus", slot),
            node.value(USER_CODE_CC, "userCode", slot),
        )
        if reading is None or self._pushed.get(slot) == reading:
            return
        self._pushed[slot] = reading
        self._updates.publish(SlotUpdate(slot, reading))

    def _notified(self, note: Notification) -> None:
        if not is_access_control(note):
            return
        if note.event == DUPLICATE_CODE and self._duplicate is not None:
            self._duplicate.set()
        elif (
            note.event in (CODE_ADDED, CODE_DELETED)
            and note.user_id
            and (self._slots is None or note.user_id in self._slots)
        ):
            self._pushed.pop(note.user_id, None)
            self._probe_send.send_nowait(note.user_id)
        event = lock_event(note, trio.current_time())
        if event is not None:
            self._events.publish(event)

    async def _run(self) -> None:
        """[a task in the client's nursery] Probe a slot when the node may be back (one read
        of its lowest slot) or a keypad change names one; push what it reads."""
        try:
            async for slot in self._probe_receive:
                await self._probe(slot)
        finally:
            self._updates.end()
            self._events.end()

    async def _probe(self, slot: int | None) -> None:
        if slot is None:
            slot = min(self._slots) if self._slots is not None else 1
        try:
            with self._deadline(slot):
                await self._reachable(slot)
                if slot > await self._users_count():
                    return
                reading = await self._read_one(slot)
        except (LockDisconnected, LockOperationFailed) as exc:
            logger.debug("zwave-js node %d: probe of slot %d failed: %s", self.node_id, slot, exc)
            return
        self._pushed[slot] = reading
        self._updates.publish(SlotUpdate(slot, reading))
