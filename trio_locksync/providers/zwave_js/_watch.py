"""What a :class:`~._lock.ZWaveJsLock` learns without asking: the client's node news (live
events, and a mark after every dump) turned into slot updates and lock events, and the probe
reads they call for (zwave_js.md §4, §8).

* ``value updated/added`` on User Code CC: the slot as the node model now holds it, pushed
  when it differs from the last push (hints: the engine decides; repeats are common, §4).
* Access Control notifications: 5/6/1/2/3/4/9 become :class:`LockEvent` records; 13/14 (a code
  deleted/added at the keypad) a probe read of that slot; 15 marks a set in flight a duplicate.
* A dump, ``alive``, ``wake up`` or ``ready``: the node may be back, so one probe read of its
  lowest slot. A dump is a replay: it never makes a lock event or a push by itself.
"""

from __future__ import annotations

import logging
import math
from typing import final

import trio

from ...core import ChangeFeed, Subscription
from ...credentials import CredentialError, LockEvent, SlotCredential, SlotUpdate
from ._access import CODE_ADDED, CODE_DELETED, DUPLICATE_CODE, is_access_control, lock_event
from ._errors import ZWaveJsError
from ._events import (
    DumpApplied,
    NodeNews,
    NodeReady,
    NodeStatus,
    NodeStatusChanged,
    Notification,
    ValueChanged,
)
from ._link import NodeLink
from ._values import USER_CODE_CC, slot_credential

__all__ = ["NodeWatch"]

logger = logging.getLogger("trio_locksync.zwave_js")

#: slot updates and lock events each iterator keeps unread
BACKLOG = 1000


@final
class NodeWatch:
    """The news of ``link``'s node for one lock; :meth:`run` in the client's nursery."""

    def __init__(
        self, link: NodeLink, slots: frozenset[int] | None, news: Subscription[NodeNews]
    ) -> None:
        self._link = link
        self._slots = slots
        self._news = news
        self.updates = ChangeFeed[SlotUpdate](backlog=BACKLOG)
        self.events = ChangeFeed[LockEvent](backlog=BACKLOG)
        #: set by a notification 6/15 while a set is in flight (see ZWaveJsLock.set_code)
        self.duplicate: trio.Event | None = None
        self._pushed: dict[int, SlotCredential] = {}
        # Bounded by the slots (plus None): _want_probe queues each at most once.
        self._probe_send, self._probe_receive = trio.open_memory_channel[int | None](math.inf)
        self._queued: set[int | None] = set()

    async def run(self) -> None:
        """Follow the news and probe what it calls for, until the client's block ends."""
        try:
            async with trio.open_nursery() as nursery:
                nursery.start_soon(self._probes)
                async for news in self._news:
                    self.on_news(news)
                nursery.cancel_scope.cancel()
        finally:
            self.updates.end()
            self.events.end()

    def on_news(self, news: NodeNews) -> None:
        """One piece of news, in order; never raises for bad input."""
        link = self._link
        link.poke()
        if isinstance(news, DumpApplied):
            self._want_probe(None)
            return
        if getattr(news, "node_id", None) != link.node_id:
            return
        if isinstance(news, ValueChanged):
            if news.cc == USER_CODE_CC and isinstance(news.key, int):
                self._value_changed(news)
        elif isinstance(news, Notification):
            self._notified(news)
        elif isinstance(news, NodeStatusChanged):
            if news.status in (NodeStatus.ALIVE, NodeStatus.AWAKE):
                self._want_probe(None)
        elif isinstance(news, NodeReady):
            self._want_probe(None)

    def _push(self, slot: int, reading: SlotCredential) -> None:
        self._pushed[slot] = reading
        self._link.counts.pushes += 1
        self.updates.publish(SlotUpdate(slot, reading))

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
        node = self._link.client.node(self._link.node_id)
        if node is None:
            return
        reading = slot_credential(
            node.value(USER_CODE_CC, "userIdStatus", slot),
            node.value(USER_CODE_CC, "userCode", slot),
        )
        if reading is None or self._pushed.get(slot) == reading:
            return
        self._push(slot, reading)

    def _notified(self, note: Notification) -> None:
        if not is_access_control(note):
            return
        if note.event == DUPLICATE_CODE and self.duplicate is not None:
            self.duplicate.set()
        elif (
            note.event in (CODE_ADDED, CODE_DELETED)
            and note.user_id
            and (self._slots is None or note.user_id in self._slots)
        ):
            self._pushed.pop(note.user_id, None)
            self._want_probe(note.user_id)
        event = lock_event(note, trio.current_time())
        if event is not None:
            self._link.counts.events += 1
            self.events.publish(event)

    def _want_probe(self, slot: int | None) -> None:
        """Queue one probe of ``slot`` (None: the lowest managed), unless one is queued already:
        the queue holds each slot at most once, so a flapping server cannot grow it."""
        if slot in self._queued:
            return
        self._queued.add(slot)
        self._probe_send.send_nowait(slot)

    async def _probes(self) -> None:
        async for slot in self._probe_receive:
            self._queued.discard(slot)
            await self._probe(slot)

    async def _probe(self, slot: int | None) -> None:
        """One read of ``slot`` (None: the lowest managed slot), pushed; failures logged."""
        link = self._link
        if slot is None:
            slot = min(self._slots) if self._slots is not None else 1
        try:
            with link.deadline(slot) as waiting:
                await link.reachable(slot, waiting)
                if slot > await link.users_count():
                    return
                link.counts.probes += 1
                reading = await link.read_one(slot)
        except (CredentialError, ZWaveJsError) as exc:
            # Any refusal (a stale users count: CodeRejected), a client that gave up: a probe
            # is a hint; it never takes the client's block down.
            logger.debug("zwave-js node %d: probe of slot %d failed: %s", link.node_id, slot, exc)
            return
        self._push(slot, reading)
