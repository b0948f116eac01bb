"""The reads in flight to one Zigbee2MQTT lock, sans-I/O: each read's state as an explicit sum
type, the write windows that make a restated entry doubtful, and how an entry, a failure report
or the deadline ends a read (the rules: ``_record``'s module docs).

A read is :class:`Waiting`, or :class:`Doubting` (it holds a fallback: a restated entry that
contradicts our write), until it ends in exactly one outcome: :class:`Answered`,
:class:`Declined`, :class:`Refused`, :class:`Undelivered`, :class:`Failed` or
:class:`TimedOut`. ``heard`` (a live message that said something new came from the device
meanwhile) is carried only where it matters: while waiting, and by the outcomes that are no
answer.
"""

from __future__ import annotations

from typing import final

import attrs

from ...core import Pin
from ...credentials import CredentialKind, SlotCredential
from ._bridgelog import PublishFailure
from ._counts import Counts
from ._payload import UserEntry, project

__all__ = [
    "Answered",
    "Declined",
    "Doubting",
    "Failed",
    "PendingRead",
    "ReadBook",
    "ReadState",
    "Refused",
    "TimedOut",
    "Undelivered",
    "Waiting",
]


@final
@attrs.frozen
class Waiting:
    """No answer yet."""

    heard: bool = False


@final
@attrs.frozen
class Doubting:
    """A restated entry contradicting our write came: kept as ``fallback`` while the read waits
    on for a changed entry (taken at the deadline)."""

    fallback: SlotCredential
    heard: bool = False


@final
@attrs.frozen
class Answered:
    """An entry answered (or, at the deadline, the fallback)."""

    credential: SlotCredential


@final
@attrs.frozen
class Declined:
    """The lock answered ``not_supported_*``: an answer without information."""


@final
@attrs.frozen
class Refused:
    """Zigbee2MQTT refused the ``get`` itself (the user id is out of the lock's range, or an
    error status)."""


@final
@attrs.frozen
class Undelivered:
    """Zigbee2MQTT reported that the ``get`` never reached the lock."""


@final
@attrs.frozen
class Failed:
    """Zigbee2MQTT reported that the ``get`` failed otherwise (a timeout)."""

    heard: bool = False


@final
@attrs.frozen
class TimedOut:
    """Nothing answered before the deadline."""

    heard: bool = False


ReadState = Waiting | Doubting | Answered | Declined | Refused | Undelivered | Failed | TimedOut


@final
@attrs.define(eq=False)
class PendingRead:
    """A ``get`` of one user: its state, replaced (never mutated) as the read goes on."""

    slot: int
    state: ReadState = Waiting()

    @property
    def done(self) -> bool:
        """The read has its outcome."""
        return not isinstance(self.state, Waiting | Doubting)


@final
class ReadBook:
    """The pending reads of one lock and the write windows; counts into ``counts``."""

    def __init__(self, counts: Counts, *, expose_pin: bool | None) -> None:
        self.expose_pin = expose_pin
        self._counts = counts
        self.pending: dict[int, PendingRead] = {}
        #: what each slot should hold after our latest write to it (None: cleared), until a
        #: read of it ends: the window in which a restated contradicting entry is doubted
        self.writes: dict[int, Pin | None] = {}

    def wrote(self, slot: int, believed: Pin | None) -> None:
        """A write of ``slot`` opens (or renews) its window."""
        self.writes[slot] = believed

    def write_failed(self, slot: int) -> None:
        """Zigbee2MQTT reported a failed ``set``: a contradicting entry is the truth."""
        self.writes.pop(slot, None)

    def expect(self, slot: int) -> PendingRead:
        """We are about to publish a ``get`` of ``slot``."""
        read = self.pending[slot] = PendingRead(slot)
        self._counts.reads += 1
        return read

    def finish(self, read: PendingRead) -> PendingRead:
        """The read's wait is over (answered, or its deadline came): settle it. A read still
        waiting takes its fallback, or times out. Ends the slot's write window."""
        if self.pending.get(read.slot) is read:
            del self.pending[read.slot]
        self.writes.pop(read.slot, None)
        state = read.state
        if isinstance(state, Doubting):
            read.state = Answered(state.fallback)
            self._counts.fallbacks += 1
        elif isinstance(state, Waiting):
            read.state = TimedOut(state.heard)
            self._counts.read_timeouts += 1
        if isinstance(read.state, Answered):
            self._counts.answered += 1
        elif isinstance(read.state, Declined):
            self._counts.declined += 1
        return read

    def abandon(self, read: PendingRead) -> None:
        """The read was cancelled, or its ``get`` never went out: forget it, count nothing.
        The write window stays open (the write may still be answered)."""
        if self.pending.get(read.slot) is read:
            del self.pending[read.slot]

    def heard(self) -> None:
        """A live message said something new: every pending read heard the lock — also one
        already failed whose reader has not settled it yet (as before the read algorithm moved
        here: news from the lock until the read is settled counts)."""
        for read in self.pending.values():
            state = read.state
            if isinstance(state, Waiting | Doubting | Failed):
                read.state = attrs.evolve(state, heard=True)

    def get_failed(self, failure: PublishFailure) -> tuple[int, ...]:
        """Zigbee2MQTT reported a failed ``get``: ends the pending reads it concerns (all of
        them when it names no user); returns their slots."""
        resolved = []
        for slot, read in self.pending.items():
            state = read.state
            if isinstance(state, Waiting | Doubting) and failure.user in (None, slot):
                if failure.refused:
                    read.state = Refused()
                elif failure.unreachable:
                    read.state = Undelivered()
                else:
                    read.state = Failed(state.heard)
                resolved.append(slot)
        return tuple(resolved)

    def waiting(self, slot: int) -> PendingRead | None:
        """The read of ``slot`` still waiting for its answer, if any."""
        read = self.pending.get(slot)
        return None if read is None or read.done else read

    def offer(self, read: PendingRead, entry: UserEntry, *, changed: bool) -> bool:
        """A live, fresh entry for a waiting read; True if it ends it (else it may now hold a
        fallback: :class:`Doubting`)."""
        credential = project(entry, expose_pin=self.expose_pin)
        if credential is None:
            read.state = Declined()
            return True
        slot, state = read.slot, read.state
        assert isinstance(state, Waiting | Doubting), "offered to a read that has ended"
        if not changed and slot in self.writes and not self._agrees(credential, slot):
            read.state = Doubting(credential, state.heard)  # a restated entry, perhaps
            return False
        read.state = Answered(credential)
        return True

    def _agrees(self, credential: SlotCredential, slot: int) -> bool:
        """The reading is what our latest write to ``slot`` would leave there."""
        believed = self.writes[slot]
        if believed is None:
            return credential.kind is CredentialKind.EMPTY
        if credential.kind is CredentialKind.KNOWN:
            return credential.pin == believed
        return credential.kind is CredentialKind.UNREADABLE
