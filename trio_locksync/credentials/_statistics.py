"""One engine's counters: :class:`SyncCounts`, kept by the sans-I/O driver and the trio layer by
name (a typo is an AttributeError, not a silent 0), and :class:`LockSyncStatistics`, the frozen
record :meth:`LockSync.statistics` returns (made by :meth:`SyncCounts.snapshot`)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import final

import attrs

from ._models import SyncState

__all__ = ["LockSyncStatistics", "SyncCounts"]


@final
@attrs.frozen
class LockSyncStatistics:
    """Counters of one engine.

    ``operations`` provider calls made (``sets`` + ``clears`` + ``reads``); ``optimistic``
    writes answered OPTIMISTIC, ``confirmed_by_read`` of them confirmed by reading back;
    ``slot_failures`` failures charged to slot breakers; ``disconnects`` LockDisconnected
    errors; ``lock_reachable`` whether the lock is not known to be unreachable; ``states`` how
    many slots are in each state.
    """

    operations: int
    sets: int
    clears: int
    reads: int
    optimistic: int
    confirmed_by_read: int
    slot_failures: int
    disconnects: int
    lock_reachable: bool
    states: Mapping[SyncState, int]


@final
@attrs.define
class SyncCounts:
    """The engine's running counts (each a field of :class:`LockSyncStatistics`, documented
    there)."""

    operations: int = 0
    sets: int = 0
    clears: int = 0
    reads: int = 0
    optimistic: int = 0
    confirmed_by_read: int = 0
    slot_failures: int = 0
    disconnects: int = 0

    def snapshot(
        self, *, lock_reachable: bool, states: Mapping[SyncState, int]
    ) -> LockSyncStatistics:
        """The counts as a frozen record, with the lock's reachability and the slots' states."""
        return LockSyncStatistics(
            **attrs.asdict(self), lock_reachable=lock_reachable, states=states
        )
