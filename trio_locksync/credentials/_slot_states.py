"""The states of one managed slot: the transition table, each state's payload, the policy.

A slot's state is a :class:`SyncState` held in a :class:`~trio_locksync.core.StateTable`; each
state carries its own payload object, present exactly while in it (no flags read together), and
the payload types here are how :class:`SlotMachine` knows what a state needs: an operation in
flight, a pending write's deadline and reading-before, why a slot is suspended, and how its next
write begins (:class:`WritePlan`).
"""

from __future__ import annotations

import enum
from typing import final

import attrs

from ..core import Backoff, Jitter, Pin
from ._effects import Operation
from ._models import SlotCredential, SyncState
from ._rules import Desired

__all__ = [
    "SUSPENDED_RETRY",
    "TABLE",
    "TRUSTING",
    "InSync",
    "Loading",
    "OutOfSync",
    "Payload",
    "Pending",
    "SlotPolicy",
    "SuspendCause",
    "Suspended",
    "Syncing",
    "WritePlan",
    "duration",
]

S = SyncState

TABLE: dict[SyncState, frozenset[SyncState]] = {
    S.LOADING: frozenset({S.LOADING, S.IN_SYNC, S.OUT_OF_SYNC, S.SUSPENDED}),
    S.IN_SYNC: frozenset({S.IN_SYNC, S.OUT_OF_SYNC, S.SUSPENDED}),
    S.OUT_OF_SYNC: frozenset({S.OUT_OF_SYNC, S.IN_SYNC, S.SYNCING, S.SUSPENDED}),
    S.SYNCING: frozenset(
        {S.SYNCING, S.IN_SYNC, S.OUT_OF_SYNC, S.PENDING_CONFIRMATION, S.SUSPENDED}
    ),
    S.PENDING_CONFIRMATION: frozenset(
        {S.PENDING_CONFIRMATION, S.IN_SYNC, S.OUT_OF_SYNC, S.SUSPENDED}
    ),
    S.SUSPENDED: frozenset({S.SUSPENDED, S.IN_SYNC, S.OUT_OF_SYNC, S.SYNCING, S.LOADING}),
}

#: the default schedule of retries of a suspended slot: 1 h doubling to 24 h
SUSPENDED_RETRY = Backoff(initial=3600.0, maximum=86400.0, factor=2.0, jitter=Jitter.NONE)

#: the reason of a slot in sync although the lock just read it empty (the trust window)
TRUSTING = (
    "in sync (the lock accepted this code moments ago but reads the slot empty; "
    "trusted until the window ends)"
)


# -- the payload of each state --------------------------------------------------------------------


class SuspendCause(enum.Enum):
    """Why a slot is SUSPENDED."""

    #: the slot breaker is open (charged failures, or an unexpected provider error)
    BREAKER = "breaker"
    #: the lock refused the code; nothing happens until the desired code changes
    REJECTED = "rejected"
    #: the whole lock is unreachable; the lock's probes bring it back
    UNREACHABLE = "unreachable"


class WritePlan(enum.Enum):
    """How the next write of a slot that wants a code begins (a slot wanting none is cleared,
    whatever its plan). The plans are ordered: a stronger one is kept over a weaker one while the
    slot still reads masked (see :mod:`._slot`)."""

    #: the write the desired code needs, at once
    DIRECT = "direct"
    #: the slot showed a masked code not known to be ours: cleared first, unless the lock's sets
    #: prove themselves (:attr:`WriteEvidence.CONFIRMS`), decided when the write begins
    OVER_MASKED = "over_masked"
    #: cleared first, whatever the lock's answers: the clear of a clear-then-set is under way or
    #: was not confirmed, or a set over the code could not be verified
    CLEAR_FIRST = "clear_first"

    def or_kept(self, kept: WritePlan) -> WritePlan:
        """The stronger of this plan and ``kept`` (DIRECT < OVER_MASKED < CLEAR_FIRST)."""
        order = (WritePlan.DIRECT, WritePlan.OVER_MASKED, WritePlan.CLEAR_FIRST)
        return max(self, kept, key=order.index)


@final
@attrs.frozen
class Loading:
    """Waiting for the first reading (or the first after the lock was unreachable)."""


@final
@attrs.frozen
class InSync:
    """The slot holds what is desired, as far as we know."""


@final
@attrs.frozen
class OutOfSync:
    """An operation is needed, not before ``retry_at``; ``plan``: how it begins."""

    retry_at: float
    plan: WritePlan


@final
@attrs.frozen
class Syncing:
    """``operation`` is in flight; ``plan``: the plan it began under (kept if it fails)."""

    operation: Operation
    plan: WritePlan


@final
@attrs.frozen
class Pending:
    """An OPTIMISTIC write awaits confirmation until ``deadline``; read back at ``read_at``."""

    target: Desired
    #: what the write should have left: the PIN, or None for a clear
    believed: Pin | None
    deadline: float
    #: the reading before the write: a read-back equal to it says nothing about the write
    before: SlotCredential
    read_at: float


@final
@attrs.frozen
class Suspended:
    """Nothing is tried until the breaker's retry (or the lock's probe, or a desired change).
    ``plan``: how the breaker's retry begins, as for :class:`OutOfSync`."""

    cause: SuspendCause
    plan: WritePlan = WritePlan.DIRECT


Payload = Loading | InSync | OutOfSync | Syncing | Pending | Suspended


@final
@attrs.frozen
class SlotPolicy:
    """The timing of one lock's slots (see :func:`open_lock_sync`)."""

    pending_ttl: float = 60.0
    retry_interval: float = 2.0
    believed: bool = False


def duration(seconds: float) -> str:
    """``3600`` → ``"1 h"``, ``90`` → ``"90 s"``: a delay as a person reads it."""
    if seconds >= 3600 and seconds % 3600 == 0:
        return f"{seconds / 3600:g} h"
    if seconds >= 60 and seconds % 60 == 0:
        return f"{seconds / 60:g} min"
    return f"{seconds:g} s"
