"""What a slot machine asks of the I/O layer, and the operations it asks the lock for.

Operations are what :meth:`SlotMachine.begin` hands the worker; effects are what every input of
a :class:`SlotMachine` returns, for one interpreter (:class:`SyncDriver`) to carry out: emit a
change, remember or forget the digest of the last PIN written, need a read or an operation (not
before some time), wake at a time, count a charge or a confirmation.
"""

from __future__ import annotations

import enum
import math
from typing import final

import attrs

from ..core import Pin
from ._models import SyncState
from ._rules import Desired

__all__ = [
    "Changed",
    "Charged",
    "Confirmed",
    "Effect",
    "Failure",
    "Forget",
    "Need",
    "NeedKind",
    "OpKind",
    "Operation",
    "Remember",
    "WakeAt",
]


class OpKind(enum.Enum):
    """The provider call an operation makes."""

    SET = "set"
    CLEAR = "clear"
    #: clear a masked code before writing, so that the write's read-back can tell (a set over a
    #: masked code that the lock answers OPTIMISTIC never can); the set follows next
    CLEAR_FIRST = "clear_first"


@final
@attrs.frozen
class Operation:
    """A write the machine asked for: ``SET`` writes ``pin``; the clears write nothing.
    ``target`` is what the slot was wanted to hold when it began."""

    kind: OpKind
    target: Desired

    @property
    def pin(self) -> Pin:
        """The PIN a SET writes."""
        if self.kind is not OpKind.SET or self.target.pin is None:
            raise ValueError(f"a {self.kind.value} operation writes no PIN")
        return self.target.pin


class Failure(enum.Enum):
    """How an operation failed, as the caller classified the provider's error."""

    #: LockDisconnected: the lock's fault, not the slot's (uncharged; the lock breaker counts it)
    DISCONNECTED = "disconnected"
    #: LockOperationFailed: charged to the slot
    FAILED = "failed"
    #: CodeRejected: suspended until the desired code changes
    REJECTED = "rejected"
    #: anything else (a provider bug): the slot breaker opens at once
    UNEXPECTED = "unexpected"


class NeedKind(enum.Enum):
    """What a slot needs from the worker."""

    NOTHING = "nothing"
    #: a read of this slot (a read-back, or a re-check at the end of a trust window)
    READ = "read"
    #: its turn for an operation (:meth:`SlotMachine.begin`)
    OPERATION = "operation"


@final
@attrs.frozen
class Changed:
    """The slot's (state, reason) changed: tell the subscribers."""

    state: SyncState
    reason: str


@final
@attrs.frozen
class Remember:
    """Persist ``digest`` as the last PIN written to the slot."""

    digest: str


@final
@attrs.frozen
class Forget:
    """The slot no longer holds the last PIN we wrote (or we cannot tell): drop its digest."""


@final
@attrs.frozen
class Need:
    """Replaces the slot's previous need: ``kind``, not before ``not_before``."""

    kind: NeedKind
    not_before: float = -math.inf


@final
@attrs.frozen
class WakeAt:
    """Replaces the slot's previous wake-up: call :meth:`SlotMachine.tick` at ``when``
    (``math.inf``: never)."""

    when: float


@final
@attrs.frozen
class Charged:
    """A failure was charged to the slot breaker (for statistics)."""

    why: str


@final
@attrs.frozen
class Confirmed:
    """An optimistic write was confirmed by reading the slot back (for statistics)."""


Effect = Changed | Remember | Forget | Need | WakeAt | Charged | Confirmed
