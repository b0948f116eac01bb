"""What we know a slot holds: sans-I/O, one per :class:`SlotMachine`.

The last reading (or what a write the lock confirmed left there), the digest of the last PIN we
wrote (remembered across restarts: a masked slot is in sync iff that is the desired PIN), and
the trust window after a write: for ``pending_ttl`` after we wrote a PIN, an empty reading does
not prove the slot empty (cloud-synced locks report a just-written slot empty for a while); it
is set aside; if nothing shows a code before the window ends, a slot that wanted that code is
empty after all (charged), and any other slot's content is unknown. Changes to the memory are
reported as :class:`Remember` / :class:`Forget` effects into the machine's effect list.

:class:`WriteEvidence` is what we know of the whole lock: what its last answer to a set was. It
decides whether a masked slot is cleared before it is written (see :mod:`._slot`).
"""

from __future__ import annotations

import enum
import math
from typing import final

from ..core import Pin
from ._effects import Effect, Forget, Remember
from ._models import CredentialKind, SlotCredential, WriteResult
from ._rules import Desired, in_sync, pin_digest

__all__ = ["UNKNOWN", "SlotKnowledge", "WriteEvidence"]

#: what we know of a slot whose content we cannot tell: present, unreadable
UNKNOWN = SlotCredential.unreadable()


class WriteEvidence(enum.Enum):
    """What one lock's answers to sets have shown: the last one, CONFIRMED or OPTIMISTIC.

    A set the lock answers CONFIRMED proves itself, even over a masked code; one it answers
    OPTIMISTIC must be proved by reading back, which a masked code makes impossible. Only sets
    count: a clear's answer says nothing of how the lock answers a set, and NO_CHANGE wrote
    nothing. Held by :class:`SyncDriver`, given to :meth:`SlotMachine.begin`; not persisted.
    """

    #: the lock has answered no set yet: taken as OPTIMISTIC (clearing first is the safe side)
    UNKNOWN = "unknown"
    #: the last set was answered CONFIRMED: a set over a masked code needs no clear first
    CONFIRMS = "confirms"
    #: the last set was answered OPTIMISTIC (or with something that is not a WriteResult)
    OPTIMISTIC = "optimistic"

    @property
    def proves_sets(self) -> bool:
        """Whether a set is expected to prove itself (CONFIRMS)."""
        return self is WriteEvidence.CONFIRMS

    def after(self, answer: WriteResult) -> WriteEvidence:
        """The evidence once the lock answered a set with ``answer``."""
        if answer is WriteResult.CONFIRMED:
            return WriteEvidence.CONFIRMS
        if answer is WriteResult.OPTIMISTIC:
            return WriteEvidence.OPTIMISTIC
        return self  # NO_CHANGE: nothing was written, nothing learnt


@final
class SlotKnowledge:
    """One slot's content as far as we know it. Not thread-safe; no I/O."""

    __slots__ = (
        "_effects",
        "_salt",
        "doubt_expires",
        "last_written",
        "observed",
        "slot",
        "trusted_until",
    )

    def __init__(
        self, slot: int, *, salt: bytes, last_written: str | None, effects: list[Effect]
    ) -> None:
        self.slot = slot
        self._salt = salt
        self._effects = effects
        #: the last reading, or what a confirmed write left (``UNKNOWN`` when we cannot tell)
        self.observed = UNKNOWN
        #: the digest of the last PIN we know we wrote there, or None
        self.last_written = last_written
        #: until this time an empty reading is set aside: we wrote a PIN there recently
        self.trusted_until = -math.inf
        #: once an empty reading was set aside: when the trust runs out (else ``math.inf``)
        self.doubt_expires = math.inf

    @property
    def doubting(self) -> bool:
        """An empty reading was set aside and the trust has not run out yet."""
        return self.doubt_expires < math.inf

    def digest(self, pin: Pin | None) -> str | None:
        """:func:`pin_digest` of ``pin`` for this slot (None for no PIN)."""
        return pin_digest(self._salt, self.slot, pin) if pin is not None else None

    def in_sync(self, desired: Desired) -> bool:
        """The truth table (:func:`in_sync`) applied to what we know."""
        return in_sync(
            desired,
            self.observed,
            verified=True,
            last_written=self.last_written,
            digest=self.digest(desired.pin),
        )

    # -- readings ---------------------------------------------------------------------------

    def take(self, reading: SlotCredential) -> None:
        """Adopt a reading. An empty slot no longer holds the last PIN we wrote."""
        self.observed = reading
        if reading.kind is CredentialKind.EMPTY:
            self.forget_memory()

    def sets_aside(self, now: float, reading: SlotCredential) -> bool:
        """Whether ``reading`` is an empty one inside the trust window, to be set aside (the
        caller then keeps what it knew; a pending write resolves it its own way, and its
        deadline ends the doubt). Any reading showing a code ends the trust."""
        if reading.kind is not CredentialKind.EMPTY:
            self.trusted_until, self.doubt_expires = -math.inf, math.inf
            return False
        if now >= self.trusted_until:
            return False
        self.doubt_expires = self.trusted_until
        return True

    def trust_ran_out(self, now: float) -> bool:
        """Whether the set-aside empty reading's trust has run out at ``now`` (the trust ends;
        the caller decides what the slot holds now)."""
        if now < self.doubt_expires:
            return False
        self.trusted_until, self.doubt_expires = -math.inf, math.inf
        return True

    def end_trust(self) -> None:
        """A new write begins: our earlier write and the empty reading set aside contradict
        each other, so the slot's content is unknown (written or cleared again as needed)."""
        if self.doubting:
            self.forget_content()
        self.trusted_until, self.doubt_expires = -math.inf, math.inf

    # -- writes -----------------------------------------------------------------------------

    def wrote(self, now: float, ttl: float) -> None:
        """We wrote a PIN just now (whatever the answer): trust it over empty readings for
        ``ttl`` seconds."""
        self.trusted_until = now + ttl

    def forget_content(self) -> None:
        """We no longer know what the slot holds: it must be written (or cleared) again."""
        self.observed = UNKNOWN
        self.forget_memory()

    def forget_memory(self) -> None:
        """The last PIN we wrote is not there (or we cannot tell)."""
        if self.last_written is not None:
            self.last_written = None
            self._effects.append(Forget())

    def remember(self, pin: Pin) -> None:
        """``pin`` is the last PIN written to the slot."""
        digest = pin_digest(self._salt, self.slot, pin)
        if self.last_written != digest:
            self.last_written = digest
            self._effects.append(Remember(digest))

    def snapshot(self) -> tuple[object, ...]:
        """Everything this holds (for checking that a refused input changed nothing)."""
        return (self.observed, self.last_written, self.trusted_until, self.doubt_expires)

    def __repr__(self) -> str:
        return (
            f"<SlotKnowledge slot={self.slot} {self.observed!r} "
            f"remembered={self.last_written is not None} doubting={self.doubting}>"
        )
