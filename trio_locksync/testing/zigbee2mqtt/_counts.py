"""What a simulated Zigbee lock counts: the typed counters it keeps as it goes, and the frozen
record :meth:`SimulatedZigbeeLock.statistics` returns."""

from __future__ import annotations

from typing import final

import attrs

__all__ = ["SimulatedCounts", "SimulatedLockStatistics"]


@final
@attrs.frozen
class SimulatedLockStatistics:
    """What a :class:`SimulatedZigbeeLock` was asked and did.

    ``sets``/``clears``/``gets`` commands received (per user id: the lock's
    ``set_counts``); ``commands`` lock/unlock commands; ``lost_writes`` sets that stored nothing
    (``never_lands`` and ``write_lands``); ``late_writes`` sets stored only after
    ``write_delay``; ``lost_reads`` reads that timed out; ``declined_reads`` answered
    ``not_supported_255``; ``rejected`` sets the lock refused (silently, as Zigbee2MQTT does);
    ``errors`` error lines on ``bridge/logging``; ``published`` device-state messages.
    """

    sets: int
    clears: int
    gets: int
    commands: int
    lost_writes: int
    late_writes: int
    lost_reads: int
    declined_reads: int
    rejected: int
    errors: int
    published: int


@final
@attrs.define
class SimulatedCounts:
    """What a :class:`SimulatedZigbeeLock` counts as it goes (typed: a typo is an
    AttributeError); :meth:`SimulatedZigbeeLock.statistics` adds the virtual lock's."""

    sets: int = 0
    clears: int = 0
    gets: int = 0
    commands: int = 0
    lost_writes: int = 0
    late_writes: int = 0
    lost_reads: int = 0
    declined_reads: int = 0
    errors: int = 0
    published: int = 0

    def snapshot(self, *, lost_writes: int, rejected: int) -> SimulatedLockStatistics:
        """The counts as a frozen record, with the virtual lock's ``lost_writes`` added and
        its ``rejected``."""
        return SimulatedLockStatistics(
            sets=self.sets,
            clears=self.clears,
            gets=self.gets,
            commands=self.commands,
            lost_writes=self.lost_writes + lost_writes,
            late_writes=self.late_writes,
            lost_reads=self.lost_reads,
            declined_reads=self.declined_reads,
            rejected=rejected,
            errors=self.errors,
            published=self.published,
        )
