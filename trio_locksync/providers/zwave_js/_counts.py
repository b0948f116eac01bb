"""The Z-Wave JS client's and locks' counters, by name (a typo is an AttributeError, not a
silent 0), and their snapshots as frozen public records."""

from __future__ import annotations

from typing import final

import attrs

from ._status import ZWaveJsStatus

__all__ = ["ClientCounts", "LockCounts", "ZWaveJsLockStatistics", "ZWaveJsStatistics"]


@final
@attrs.frozen
class ZWaveJsStatistics:
    """Counters of one :class:`~._client.ZWaveJsClient` since its block was entered.

    ``attempts`` connection attempts; ``connections`` of them that reached ``initialize``;
    ``dumps`` state dumps applied; ``commands`` commands sent (the library's and the locks');
    ``command_errors`` answered ``success: false``; ``frames`` frames read, ``bad_frames`` of
    them skipped as malformed, ``events`` events routed; ``pongs`` answered keepalive pings,
    ``ping_timeouts`` sockets dropped for a missed pong. ``status``: where the connection is.
    """

    attempts: int
    connections: int
    dumps: int
    commands: int
    command_errors: int
    frames: int
    bad_frames: int
    events: int
    pongs: int
    ping_timeouts: int
    status: ZWaveJsStatus


@final
@attrs.define
class ClientCounts:
    """The client's running counts (each a field of :class:`ZWaveJsStatistics`)."""

    attempts: int = 0
    connections: int = 0
    dumps: int = 0
    commands: int = 0
    command_errors: int = 0
    frames: int = 0
    bad_frames: int = 0
    events: int = 0
    pongs: int = 0
    ping_timeouts: int = 0

    def snapshot(self, *, status: ZWaveJsStatus) -> ZWaveJsStatistics:
        """The counts as the frozen public record."""
        return ZWaveJsStatistics(**attrs.asdict(self), status=status)


@final
@attrs.frozen
class ZWaveJsLockStatistics:
    """Counters of one :class:`~._lock.ZWaveJsLock`.

    ``commands`` commands sent for it (radio operations, plus ``getUsersCount`` once and a
    ``node.ping`` per operation on a dead node); ``reads`` User Code Gets, ``sets`` and
    ``clears`` slot writes, ``door`` Door Lock sets; ``rejected`` writes refused by the lock
    (CodeRejected), ``disconnects`` LockDisconnected raised (``asleep`` of them for a sleeping
    node that did not wake up in time); ``pushes`` slot updates and ``events`` lock events
    handed to iterators; ``probes`` reads made on the lock's own initiative (a node back, a
    keypad change); ``users_count`` the lock's slots once asked (0 before).
    """

    commands: int
    reads: int
    sets: int
    clears: int
    door: int
    rejected: int
    disconnects: int
    asleep: int
    pushes: int
    events: int
    probes: int
    users_count: int


@final
@attrs.define
class LockCounts:
    """A lock's running counts (each a field of :class:`ZWaveJsLockStatistics`)."""

    commands: int = 0
    reads: int = 0
    sets: int = 0
    clears: int = 0
    door: int = 0
    rejected: int = 0
    disconnects: int = 0
    asleep: int = 0
    pushes: int = 0
    events: int = 0
    probes: int = 0

    def snapshot(self, *, users_count: int) -> ZWaveJsLockStatistics:
        """The counts as the frozen public record."""
        return ZWaveJsLockStatistics(**attrs.asdict(self), users_count=users_count)
