"""What we know of one Zigbee2MQTT lock, sans-I/O: its ``users`` entries, its bolt, its
reachability flags, and the reads and writes in flight (the reads: :class:`~._reads.ReadBook`)
— and how each message changes them.

Zigbee2MQTT republishes its whole cached state with every message (``cache_state``, deep
merged), and only a lock's answer to ``getPinCode`` writes ``users``; a ``set`` changes nothing
in the cache. Hence the rules, applied per ``users`` entry of a live message:

* **News** is an entry that differs from the one the record holds. Only news is pushed to the
  engine (:class:`SlotUpdate`): a restated entry (the cache republished because the battery
  reported, or ``last_seen`` moved) is not (lock_code_manager #1335, where applying the cache
  verbatim flipped just-written slots back). An entry seen for the first time seeds the record
  without a push: we cannot tell how old it is.
* **Replays** — retained messages delivered because we subscribed — seed the record and
  confirm nothing: they answer no read, push nothing and make no event.
* **Stale**: a live message whose ``last_seen`` is not newer than one already seen is a cached
  republish (Zigbee2MQTT's start-up or Home Assistant ``publishCached``): ignored. (A real
  answer is a new frame from the lock, so with ``last_seen`` on it always carries a newer one.)
* **Reads**: there is no correlation id. A read of user N is answered by the first live,
  fresh message carrying ``users[N]`` after the ``get`` — unless we wrote N since and the entry
  contradicts that write while restating the record (exactly what a cached republish between
  our ``set`` and the lock's answer looks like): that entry is kept as a fallback and the read
  waits on for a changed entry, taking the fallback at its deadline — which the reader brings
  forward once a fallback is held (``Taken.doubted``), to twice the slowest recent answer: a
  lost write restates the old entry in the very answer to our ``get``, and waiting the whole
  read timeout for it would stall the lock's other operations. Should the true answer come
  later after all, it differs from the record and is pushed as news. A changed entry is always
  taken. ``not_supported_*`` declines (no information).
"""

from __future__ import annotations

import math
from typing import final

import attrs

from ...core import Pin
from ...credentials import SlotCredential, SlotUpdate
from ._actions import Action
from ._counts import Counts
from ._models import Availability, LockState
from ._payload import DeviceMessage, PublishFailure, UserEntry, project
from ._reads import ReadBook
from ._users import UserRange

__all__ = ["DeviceRecord", "Taken"]


@final
@attrs.frozen
class Taken:
    """What one message changed: ``pushes`` for the engine, reads it ``resolved`` (slots),
    the bolt state it reported (None: none), its action, and whether it was live and fresh
    at all (a replay or a stale republish yields nothing). ``doubted``: pending reads that now
    hold a fallback (a restated entry contradicting our write) and wait on."""

    fresh: bool = False
    #: the message said something new (an action, a changed state): the lock is talking
    spoke: bool = False
    pushes: tuple[SlotUpdate, ...] = ()
    resolved: tuple[int, ...] = ()
    doubted: tuple[int, ...] = ()
    lock_state: LockState | None = None
    action: Action | None = None


_NOTHING = Taken()


@final
class DeviceRecord:
    """One lock's record; no I/O, no trio. Times are whatever clock the caller uses."""

    def __init__(self, *, expose_pin: bool | None = None) -> None:
        self.expose_pin = expose_pin
        self.entries: dict[int, UserEntry] = {}
        self.last_seen = -math.inf
        self.lock_state = LockState.UNKNOWN
        self.availability = Availability.UNKNOWN
        self.bridge = Availability.UNKNOWN
        self.counts = Counts()
        #: the reads in flight and the write windows
        self.reads = ReadBook(self.counts, expose_pin=expose_pin)
        #: the latest write we published to each slot, and the slot of the very latest (a
        #: refusal that names no user is the latest write's: Zigbee2MQTT refuses at once)
        self._latest: dict[int, Pin | None] = {}
        self._latest_slot: int | None = None
        #: writes Zigbee2MQTT reported refused (slot -> what we wrote), until asked about
        self.refusals: dict[int, Pin | None] = {}
        #: which user ids the lock has (its model, Zigbee2MQTT's refusals)
        self.users = UserRange()
        #: the content digest of the last device message (see ``DeviceMessage.content``)
        self._content: int | None = None
        #: Zigbee2MQTT reported a command that never reached the lock, and the lock has not
        #: been heard since (its next live message is news of its recovery)
        self.out_of_contact = False

    # -- reachability -----------------------------------------------------------------------

    def offline_reason(self) -> str | None:
        """Why the lock cannot be reached as far as Zigbee2MQTT says, else None."""
        if self.bridge is Availability.OFFLINE:
            return "Zigbee2MQTT is offline (bridge/state)"
        if self.availability is Availability.OFFLINE:
            return "the device is offline (availability)"
        return None

    def flagged(self, flag: Availability, *, bridge: bool) -> None:
        """An availability flag arrived: the device's own, or (``bridge``) Zigbee2MQTT's."""
        if bridge:
            self.bridge = flag
        else:
            self.availability = flag

    # -- our operations ---------------------------------------------------------------------

    def wrote(self, slot: int, believed: Pin | None) -> None:
        """We are about to publish a set (``believed``) or a clear (None) of ``slot``."""
        self.reads.wrote(slot, believed)
        self._latest[slot] = believed
        self._latest_slot = slot
        self.counts.writes += 1

    def refused(self, slot: int, believed: Pin | None) -> bool:
        """Whether Zigbee2MQTT refused our latest write of ``believed`` to ``slot`` (so that
        writing it again will not help). Asking consumes the refusal."""
        if slot not in self.refusals:
            return False
        return self.refusals.pop(slot) == believed

    def failed(self, failure: PublishFailure) -> tuple[int, ...]:
        """Zigbee2MQTT reported a failed publish to this device: a failed ``get`` ends the
        reads it concerns; a failed ``set`` ends the write's window (the write did not go
        through, so a contradicting entry is the truth). Returns the reads it resolved."""
        self.counts.publish_errors += 1
        if failure.unreachable:
            self.out_of_contact = True
        if failure.attribute != "pin_code":
            return ()
        if failure.operation == "set":
            user = failure.user
            if user is None and failure.refused:
                user = self._latest_slot
            if user is not None:
                self.reads.write_failed(user)
                if failure.out_of_range:
                    self.users.refused(user)
                elif failure.refused and user in self._latest:
                    self.refusals[user] = self._latest[user]
            return ()
        resolved = self.reads.get_failed(failure)
        if failure.out_of_range:
            for slot in resolved:
                self.users.refused(slot)
        return resolved

    # -- messages ---------------------------------------------------------------------------

    def take(self, message: DeviceMessage, *, retained: bool) -> Taken:
        """A device-state message arrived (``retained``: a replay at subscribe)."""
        self.counts.messages += 1
        self.counts.bad_keys += message.bad_keys
        self.counts.bad_entries += len(message.bad_entries)
        seen = message.last_seen
        previous_content, self._content = self._content, message.content
        if retained:
            self.counts.replays += 1
            if seen is not None:
                self.last_seen = max(self.last_seen, seen)
            self.entries.update(message.users)
            if message.lock_state is not None:
                self.lock_state = message.lock_state
            return _NOTHING
        if seen is not None:
            if seen <= self.last_seen:
                self.counts.stale += 1
                return _NOTHING
            self.last_seen = seen
        # The lock spoke — as far as a read met by silence is concerned — only if the message
        # says something new: an action, or a state that differs from the last one we saw. A
        # restatement (Zigbee2MQTT's republish of its cache at start-up) is no sign of life.
        spoke = message.action is not None or (
            previous_content is not None and message.content != previous_content
        )
        if spoke:
            self.reads.heard()
        pushes: list[SlotUpdate] = []
        resolved: list[int] = []
        doubted: list[int] = []
        for slot, entry in message.users.items():
            previous = self.entries.get(slot)
            self.entries[slot] = entry
            changed = previous is not None and previous != entry
            if changed:
                self.counts.news += 1
            else:
                self.counts.restated += 1
            pending = self.reads.waiting(slot)
            if pending is not None:
                if self.reads.offer(pending, entry, changed=changed):
                    resolved.append(slot)
                else:
                    doubted.append(slot)
                continue
            credential = project(entry, expose_pin=self.expose_pin)
            if changed and credential is not None:
                pushes.append(SlotUpdate(slot, credential))
        if message.lock_state is not None:
            self.lock_state = message.lock_state
        return Taken(
            fresh=True,
            spoke=spoke,
            pushes=tuple(pushes),
            resolved=tuple(resolved),
            doubted=tuple(doubted),
            lock_state=message.lock_state,
            action=message.action,
        )

    def reading(self, slot: int) -> SlotCredential | None:
        """What the record's entry for ``slot`` says (None: no entry, or it says nothing)."""
        entry = self.entries.get(slot)
        return None if entry is None else project(entry, expose_pin=self.expose_pin)
