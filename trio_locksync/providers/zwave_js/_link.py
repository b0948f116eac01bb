"""One lock node's commands for a :class:`~._lock.ZWaveJsLock`: sent through the client,
bounded by the operation timeout, reachability checked first, failures classified
(zwave_js.md §1.4, §3.4, §8).

* A dead node gets one ``node.ping`` per operation: no answer → LockDisconnected.
* A sleeping battery node (status asleep, not listening): the operation waits for its wake up
  within ``operation_timeout``, then LockDisconnected whose reason says "asleep".
* A node not yet ``ready`` (its interview runs: after a server restart, or a battery lock's
  first wake up) has no User Code CC yet (302, §6): the operation waits for ``ready`` within
  ``operation_timeout``, then LockDisconnected saying "not yet interviewed".
* No connection (after the first) → LockDisconnected; before the first, wait for it.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any, final

import attrs
import trio

from ...credentials import CodeRejected, LockDisconnected, LockOperationFailed, SlotCredential
from ._counts import LockCounts
from ._errors import ZWaveJsCommandError, ZWaveJsError
from ._events import NodeStatus
from ._host import NodeHost
from ._outcomes import classify
from ._protocol import Command, FrameError, SetValueStatus, set_value_status
from ._status import ZWaveJsStatus
from ._values import USER_CODE_CC, slot_credential

__all__ = ["ASLEEP", "NOT_READY", "NodeLink"]

#: what an operation may wait for, as its LockDisconnected reason says it
ASLEEP = "asleep (a battery lock): no wake up"
NOT_READY = "not yet interviewed: not ready"


@final
@attrs.define
class Waiting:
    """What one operation waits for ("" nothing): :data:`ASLEEP` or :data:`NOT_READY`. One per
    operation, so that a probe and the engine's operation on the same lock never read each
    other's reason."""

    reason: str = ""


@final
class NodeLink:
    """The commands of node ``node_id`` over ``client``, counted in ``counts``."""

    def __init__(self, client: NodeHost, node_id: int, timeout: float, counts: LockCounts) -> None:
        self.client = client
        self.node_id = node_id
        self.timeout = timeout
        self.counts = counts
        #: the lock's users count, once asked
        self.users: int | None = None
        self._changed = trio.Event()

    def poke(self) -> None:
        """[the lock's news task] The node may have changed: waiters look again."""
        self._changed.set()
        self._changed = trio.Event()

    def beyond(self, slot: int) -> str:
        """Why ``slot`` is refused: beyond the users count."""
        return f"node {self.node_id}: slot {slot} is beyond the lock's {self.users} user codes"

    @contextlib.contextmanager
    def deadline(self, slot: int | None) -> Iterator[Waiting]:
        """Bound one operation by the operation timeout: a sleeping node that did not wake up
        is LockDisconnected saying "asleep"; anything else that took too long
        LockOperationFailed. Counts disconnects and refusals. Yields the operation's own
        :class:`Waiting`, for :meth:`reachable`."""
        waiting = Waiting()
        try:
            with trio.fail_after(self.timeout):
                yield waiting
        except trio.TooSlowError:
            if waiting.reason:
                self.counts.asleep += waiting.reason == ASLEEP
                self.counts.disconnects += 1
                raise LockDisconnected(
                    f"node {self.node_id} is {waiting.reason} within {self.timeout:g} s",
                    slot=slot,
                    what="lock asleep" if waiting.reason == ASLEEP else None,
                ) from None
            raise LockOperationFailed(
                f"node {self.node_id}: no answer within {self.timeout:g} s", slot=slot
            ) from None
        except LockDisconnected:
            self.counts.disconnects += 1
            raise
        except CodeRejected:
            self.counts.rejected += 1
            raise

    async def reachable(self, slot: int | None, waiting: Waiting) -> None:
        """Wait for the first dump, and for a sleeping node's wake up (saying so in
        ``waiting``); raise LockDisconnected for a dead node (after one ping) or a connection
        lost after the first dump."""
        client = self.client
        if client.status is not ZWaveJsStatus.CONNECTED:
            if client._dumps > 0:
                raise LockDisconnected(f"the Z-Wave JS Server connection is {client.status}")
            try:
                await client.wait_status(ZWaveJsStatus.CONNECTED)
            except ZWaveJsError as exc:  # the client gave up or closed
                raise LockDisconnected(str(exc), slot=slot) from None
        node = client.node(self.node_id)
        if node is None:
            raise LockDisconnected(f"the server has no node {self.node_id}", slot=slot)
        if node.status is NodeStatus.DEAD:
            answer = await self.send(Command("node.ping", {"nodeId": self.node_id}), slot)
            if answer.get("responded") is not True:
                raise LockDisconnected(f"node {self.node_id} is dead", slot=slot)
        while True:
            node = client.node(self.node_id)
            if node is not None and node.status is NodeStatus.ASLEEP and not node.listening:
                waiting.reason = ASLEEP
            elif node is not None and not node.ready:
                waiting.reason = NOT_READY
            else:
                waiting.reason = ""
                return
            await self._changed.wait()

    async def users_count(self) -> int:
        """The lock's users count (``getUsersCount``, asked once)."""
        if self.users is None:
            command = Command.invoke_cc_api(self.node_id, USER_CODE_CC, "getUsersCount", [])
            answer = await self.send(command, None)
            count = answer.get("response")
            if not isinstance(count, int) or isinstance(count, bool) or count < 1:
                raise LockOperationFailed(f"node {self.node_id} reported no user code slots")
            self.users = count
        return self.users

    async def read_one(self, slot: int) -> SlotCredential:
        """One User Code ``get`` of ``slot`` (§2)."""
        self.counts.reads += 1
        command = Command.invoke_cc_api(self.node_id, USER_CODE_CC, "get", [slot])
        answer = await self.send(command, slot)
        response = answer.get("response")
        if not isinstance(response, dict):
            raise LockOperationFailed(f"node {self.node_id} gave no User Code report", slot=slot)
        reading = slot_credential(response.get("userIdStatus"), response.get("userCode"))
        if reading is None:
            raise LockOperationFailed(f"node {self.node_id} reported no status", slot=slot)
        return reading

    async def set(self, command: Command, slot: int | None) -> tuple[int, str]:
        """``node.set_value``: ``(status, message)``; InvalidValue on a slot is CodeRejected."""
        answer = await self.send(command, slot)
        try:
            status, message = set_value_status(answer)
        except FrameError as exc:
            raise LockOperationFailed(f"node {self.node_id}: {exc}", slot=slot) from None
        if status == SetValueStatus.INVALID_VALUE and slot is not None:
            raise CodeRejected(f"node {self.node_id}: invalid value: {message}", slot=slot)
        return status, message

    async def send(self, command: Command, slot: int | None) -> dict[str, Any]:
        """One command; its failures as the provider errors (:func:`~._outcomes.classify`)."""
        self.counts.commands += 1
        try:
            return await self.client._request(command)
        except ZWaveJsCommandError as exc:
            raise classify(exc, self.node_id, slot) from None
        except ZWaveJsError as exc:  # the connection was lost, or the client gave up/closed
            raise LockDisconnected(str(exc), slot=slot) from None
