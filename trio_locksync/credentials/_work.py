"""The pieces of work :class:`SyncDriver` hands the worker: one provider call each.

Reads name the slots they read (``read_slots(sorted(slots))``); no work ever reads the whole
lock (``read_slots(None)``): a lock of 250 slots would spend most of an hour of radio on it
(lock_code_manager #1278). An operation names its slot; :meth:`SyncDriver.begin` says which write.
"""

from __future__ import annotations

from typing import final

import attrs

__all__ = ["FirstRead", "FullRead", "Operate", "Probe", "Read", "ReadSlot", "Survey", "Work"]


@final
@attrs.frozen
class FullRead:
    """Read every managed slot: the first read, a drift re-read, or the unreachable lock's
    probe. A managed slot the reading leaves out is *unreported* (a write-only lock)."""

    slots: tuple[int, ...]


@final
@attrs.frozen
class Probe:
    """Read one slot to learn whether an unreachable lock answers again: its probe when the
    engine manages no slot (``slots``: the lowest slot it ever managed or surveyed). Its reading
    is kept as an unmanaged reading."""

    slots: tuple[int, ...]


@final
@attrs.frozen
class FirstRead:
    """Read slots taken at run time (:meth:`SyncDriver.take`) that have no reading yet; a slot
    the reading leaves out is unreported, as in a full read. The drift schedule is not moved."""

    slots: tuple[int, ...]


@final
@attrs.frozen
class ReadSlot:
    """Read one slot back (an optimistic write awaiting confirmation)."""

    slot: int

    @property
    def slots(self) -> tuple[int, ...]:
        """``(slot,)``: what to read."""
        return (self.slot,)


@final
@attrs.frozen
class Survey:
    """Read unmanaged ``slots`` for a caller (:meth:`SyncDriver.request_survey`); ``request``
    tells two surveys of the same slots apart."""

    request: int
    slots: tuple[int, ...]


@final
@attrs.frozen
class Operate:
    """Give ``slot`` its turn: :meth:`SyncDriver.begin` says which write to make."""

    slot: int


Read = FullRead | Probe | FirstRead | ReadSlot | Survey
Work = FullRead | Probe | FirstRead | ReadSlot | Survey | Operate
