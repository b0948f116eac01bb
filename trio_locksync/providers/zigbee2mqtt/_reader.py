"""Everything read from one Zigbee2MQTT lock, in one place: what the device topic says, the
reads of its users, and the probes — the trio layer around :class:`~._record.DeviceRecord`
(whose :class:`~._reads.ReadBook` holds the reads in flight and decides how each ends).

:class:`DeviceReader` handles the device topic and ``bridge/logging`` (subscribed through the
:class:`~._link.DeviceLink`, which owns reachability and publishing): each message is applied to
the record, which says what to push, which reads it answered and what the bolt did; the reader
wakes the waiting reads, publishes the pushes and events, and starts a probe (a read of one slot
whose answer is pushed) when the lock is reachable again, when it is heard again after
Zigbee2MQTT reported it unreachable, and when a code was changed at the door. A read ``get``\\s
one user at a time and waits up to ``read_timeout`` for its answer; :meth:`read_slots` is the
full-read algorithm (silence, second tries, refusals).
"""

from __future__ import annotations

import collections
import time
from collections.abc import Collection
from typing import final

import attrs
import trio

from ...core import ChangeFeed, Pin
from ...credentials import LockDisconnected, LockOperationFailed, SlotCredential, SlotUpdate
from ...mqtt import MqttMessage
from ._link import DeviceLink, logger
from ._models import BadInput, EventSource, LockEvent, LockState
from ._payload import PayloadError, parse_bridge_log, parse_device_message
from ._reads import (
    Answered,
    Declined,
    Doubting,
    Failed,
    PendingRead,
    Refused,
    TimedOut,
    Undelivered,
)
from ._requests import command_payload, get_payload

__all__ = ["DeviceReader"]

#: a read gives up as unreachable after this many users in a row met silence, if the lock has
#: said nothing at all since the read began
SILENT_READS = 3
#: a read holding a fallback waits for a changed entry until this many times the slowest of the
#: recent answers (``ANSWERS`` of them), and at least ``DOUBT_FLOOR`` seconds, after its ``get``
DOUBT_FACTOR = 2.0
DOUBT_FLOOR = 1.0
ANSWERS = 8
#: a ``last_seen`` more than this many seconds ahead of our wall clock is bad input (a day:
#: far beyond any clock skew between Zigbee2MQTT's machine and ours)
FUTURE_SLACK = 86400.0


@final
class DeviceReader:
    """The reads of one lock over ``link``; made and run by a Zigbee2MqttLock. ``slots``: the
    user ids of ``slots=`` (None: the users the lock has)."""

    def __init__(self, link: DeviceLink, *, slots: frozenset[int] | None) -> None:
        self._link = link
        self._record = link.record
        self._slots = slots
        self.updates = ChangeFeed[SlotUpdate](backlog=1000)
        self.events = ChangeFeed[LockEvent](backlog=1000)
        #: set (and replaced) whenever a live message reports the bolt
        self.reported = trio.Event()
        self._nursery: trio.Nursery | None = None
        self._wakes: dict[int, trio.Event] = {}
        self._deadlines: dict[int, trio.CancelScope] = {}
        #: when the ``get`` of each pending read was published
        self._sent: dict[int, float] = {}
        #: how long the recent reads took to be answered (get published -> answer)
        self._answer_times: collections.deque[float] = collections.deque(maxlen=ANSWERS)
        #: slots whose last read ended on its fallback, with when its ``get`` went out: the
        #: lock's late answer (a changed entry) still teaches how long the lock takes
        self._late: dict[int, float] = {}

    # -- running ----------------------------------------------------------------------------

    def start(self, nursery: trio.Nursery) -> None:
        """Start the link's tasks and the reader's in ``nursery``."""
        self._nursery = nursery
        self._link.start(nursery, device=self._on_device, log=self._on_log)
        nursery.start_soon(self._probe_recoveries, self._link.recovered)

    def stop(self) -> None:
        """The block ends: operations in flight raise LockDisconnected; the feeds end."""
        self._link.stop()
        self.updates.end()
        self.events.end()

    async def _probe_recoveries(self, recovered: trio.Event) -> None:
        """[a task] Whenever the link says the lock is reachable again, probe its lowest slot,
        so that an engine whose lock breaker gave up on it hears that it answers now instead of
        waiting for its next probe (60 s to 30 min)."""
        while True:
            await recovered.wait()
            recovered = self._link.recovered
            self._start_probe(None)

    def _start_probe(self, slot: int | None) -> None:
        if self._nursery is not None:
            self._nursery.start_soon(self._probe, slot)

    # -- reads ------------------------------------------------------------------------------

    async def read_slots(
        self, wanted: list[int] | None, only: int | None
    ) -> dict[int, SlotCredential]:
        """Read ``wanted`` (None: every user; ``only``: the one slot asked for alone), one
        ``get`` at a time, the caller's validation done (see ``Zigbee2MqttLock.read_slots``)."""
        link, users = self._link, self._record.users
        result: dict[int, SlotCredential] = {}
        async with link.serial, link.operation(only, link.read_timeout):
            if wanted is None:  # reachable: now learn which users there are
                wanted = sorted(await self._every_user())
            spoke, silent, not_reached = False, 0, False
            missing: list[int] = []
            for slot in wanted:
                if users.beyond(slot):
                    continue  # a refusal of a lower user rules this one out too
                read = await self.read(slot)
                if isinstance(read.state, Refused) and only is not None:
                    raise LockOperationFailed(
                        link.beyond(slot)
                        if users.beyond(slot)
                        else f"{link.name}: Zigbee2MQTT refused to read user {slot}",
                        slot=slot,
                    )
                answered = _file(read, result, missing)
                spoke = spoke or answered
                silent = 0 if answered else silent + 1  # users in a row met by silence
                not_reached = isinstance(read.state, Undelivered)
                if not spoke and (silent >= SILENT_READS or not_reached):
                    break
            if spoke and only is None:
                for slot in list(missing):  # one more try for users that did not answer
                    missing.remove(slot)
                    if not users.beyond(slot):
                        _file(await self.read(slot), result, missing)
        if not spoke:
            if not_reached:
                why = "Zigbee2MQTT reports that its command did not reach the lock"
            else:
                why = f"no answer from the lock within {link.read_timeout:g} s"
            raise link.disconnected(why, only)
        return result

    async def read(self, slot: int) -> PendingRead:
        """``get`` one user and wait up to ``read_timeout`` for its answer; the finished read."""
        reads, link = self._record.reads, self._link
        read = reads.expect(slot)
        wake = self._wakes[slot] = trio.Event()
        deadline = trio.CancelScope()
        try:
            await link.publish("get", get_payload(slot), slot)
            sent = trio.current_time()
            deadline.deadline = sent + link.read_timeout
            self._deadlines[slot] = deadline
            self._sent[slot] = sent
            self._late.pop(slot, None)
            with deadline:
                await wake.wait()
            if wake.is_set() and isinstance(read.state, Answered):
                self._answer_times.append(trio.current_time() - sent)
            elif isinstance(read.state, Doubting):
                # Ends on the fallback: the lock may simply be slower than the grace. Its late
                # answer, if it comes, lengthens the grace (see _on_device), so that a slow lock
                # is not read as losing writes again and again (issue 24's early retry).
                self._late[slot] = sent
        except BaseException:
            reads.abandon(read)
            raise
        finally:
            if self._wakes.get(slot) is wake:
                del self._wakes[slot]
            if self._deadlines.get(slot) is deadline:
                del self._deadlines[slot]
                del self._sent[slot]
        return reads.finish(read)

    async def _probe(self, slot: int | None) -> None:
        """[a task of the block] Read ``slot`` and push the answer (even if unchanged). None:
        the lowest slot (the lock is reachable, or heard, again). A slot: a code changed at
        the door."""
        link, record = self._link, self._record
        if slot is None:
            users = self._slots if self._slots is not None else record.users.known
            slot = min(users) if users else 0
        if record.users.beyond(slot):
            return
        try:
            async with link.serial, link.operation(slot, link.read_timeout):
                read = await self.read(slot)
        except LockDisconnected:
            return  # gone again: the next recovery probes again
        if isinstance(read.state, Answered):
            record.counts.pushes += 1
            self.updates.publish(SlotUpdate(slot, read.state.credential))

    async def _every_user(self) -> Collection[int]:
        """What a full read covers: ``slots=``, else the users the lock's model has (waiting
        up to ``read_timeout`` for ``bridge/devices`` to name it). LockOperationFailed when
        neither says."""
        if self._slots is not None:
            return self._slots
        link = self._link
        known = self._record.users.known
        if known is None:
            with trio.move_on_after(link.read_timeout):
                await link.devices_seen.wait()
            known = self._record.users.known
        if known is None:
            why = link.devices_unknown()
            link.warn_once(f"{why}; pass slots=range(0, N), N the lock's user count")
            raise LockOperationFailed(
                f"{link.name}: {why}; pass slots=range(0, N) to Zigbee2MqttLock, N being the "
                "lock's user count (Zigbee2MQTT numbers users from 0)"
            )
        return known

    def _manages(self, slot: int) -> bool:
        """Whether ``slot`` is one of ours (a code changed there at the door is read)."""
        if self._slots is not None:
            return slot in self._slots
        return not self._record.users.beyond(slot)

    def _doubt(self, slot: int) -> None:
        """A pending read now holds a fallback: wait for a changed entry only as long as the
        lock takes to answer a ``get`` (see ``_record``), counted from our ``get`` — the answer
        is due then, however late the restated entry came — not the whole read timeout."""
        deadline = self._deadlines.get(slot)
        if deadline is None or not self._answer_times:
            return
        grace = max(DOUBT_FLOOR, DOUBT_FACTOR * max(self._answer_times))
        deadline.deadline = min(deadline.deadline, self._sent[slot] + grace)

    def _wake(self, slot: int) -> None:
        wake = self._wakes.get(slot)
        if wake is not None:
            wake.set()

    # -- the bolt ---------------------------------------------------------------------------

    async def command(
        self, word: str, target: LockState, code: Pin | None, patience: float
    ) -> None:
        """Publish a bolt command; return once the lock reports ``target`` (see
        ``Zigbee2MqttLock.lock``)."""
        link, record = self._link, self._record
        async with link.operation(None, patience):
            before = record.lock_state
            record.counts.commands += 1
            reported = self.reported
            await link.publish("set", command_payload(word, code), None)
            with trio.move_on_after(patience):
                while True:
                    await reported.wait()
                    reported = self.reported
                    state = record.lock_state
                    if state is target:
                        return
                    if state is LockState.NOT_FULLY_LOCKED and target is LockState.LOCKED:
                        raise LockOperationFailed(f"{link.name}: the bolt did not fully throw")
        if before is target:
            return  # already there: the lock need not report anything
        raise LockOperationFailed(
            f"{link.name}: the lock did not report {target.value} within "
            f"{patience:g} s; the command may still be carried out"
        )

    # -- the handlers (sync: one message at a time, on the trio thread) ---------------------

    def _on_device(self, message: MqttMessage) -> None:
        link, record = self._link, self._record
        try:
            parsed = parse_device_message(message.payload)
        except PayloadError as error:
            record.counts.messages += 1
            record.counts.bad_payloads += 1
            link.bad("device topic", error.kind)
            return
        seen = parsed.last_seen
        if seen is not None and seen > time.time() + FUTURE_SLACK:
            # A date our clock has not reached: believed, it would make every later message
            # look stale (older than it) and the lock deaf. Bad input, ignored.
            bad = (*parsed.bad_entries, BadInput.LAST_SEEN)
            parsed = attrs.evolve(parsed, last_seen=None, bad_entries=bad)
        for kind in parsed.bad_entries:
            link.bad("device topic", kind)
        if parsed.bad_keys:
            link.bad("device topic", BadInput.USER_KEY, parsed.bad_keys)
        taken = record.take(parsed, retained=message.retain)
        if taken.spoke and record.out_of_contact and self._nursery is not None:
            # The lock speaks again after Zigbee2MQTT reported it unreachable (a battery lock
            # is never flagged offline quickly): probe it, as on a flag coming back online.
            record.out_of_contact = False
            logger.info("%s: heard again", link.name)
            self._start_probe(None)
        for slot in taken.resolved:
            self._wake(slot)
        for slot in taken.doubted:
            self._doubt(slot)
        now = trio.current_time()
        for update in taken.pushes:
            record.counts.pushes += 1
            sent = self._late.pop(update.slot, None)
            if sent is not None and now - sent <= link.read_timeout:
                self._answer_times.append(now - sent)  # a late answer to a read that gave up
            self.updates.publish(update)
        if taken.lock_state is not None:
            self.reported.set()
            self.reported = trio.Event()
        action = taken.action
        if action is None:
            return
        if action.kind is not None:
            record.counts.events += 1
            at = message.received_at
            self.events.publish(LockEvent(action.kind, action.source, action.slot, action.name, at))
        elif (
            action.slot is not None
            and action.source is not EventSource.RF  # our own writes come over the radio
            and self._manages(action.slot)
        ):
            # A code was changed at the door: read it (as Weiser's and ID Lock's converters
            # do by themselves), one operation at a time with the lock's others, so that a
            # refusal names the right read; the answer is pushed.
            self._start_probe(action.slot)

    def _on_log(self, message: MqttMessage) -> None:
        if message.retain:
            return
        link = self._link
        try:
            failure = parse_bridge_log(message.payload, link.name)
        except PayloadError as error:
            self._record.counts.bad_payloads += 1
            link.bad("bridge log", error.kind)
            return
        if failure is None:
            return
        logger.info(
            "%s: Zigbee2MQTT reports a failed %s of %s%s",
            link.name,
            failure.operation,
            failure.attribute,
            " (the lock was not reached)" if failure.unreachable else "",
        )
        for slot in self._record.failed(failure):
            self._wake(slot)


def _file(read: PendingRead, result: dict[int, SlotCredential], missing: list[int]) -> bool:
    """File a finished read; True if the lock answered it (or spoke meanwhile). A read that
    Zigbee2MQTT reported undeliverable is no answer even if a message came meanwhile: that
    message can be Zigbee2MQTT's cached state (republished at its start), not the lock."""
    state = read.state
    if isinstance(state, Answered):
        result[read.slot] = state.credential
        return True
    if isinstance(state, Declined | Refused):
        return True  # an answer without data: no second try
    missing.append(read.slot)
    return isinstance(state, Failed | TimedOut) and state.heard
