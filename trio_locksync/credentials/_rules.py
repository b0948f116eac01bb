"""When is a slot in sync, and what does a read-back say? Truth tables, as pure functions.

:func:`in_sync` (lock_code_manager's rules):

* An unverified slot (an optimistic write not yet confirmed) is never in sync.
* Wanted code P: a readable code is in sync iff it is P; a masked (unreadable) code is in sync
  iff the last PIN we wrote to that slot is P; an empty slot is not in sync.
* No code wanted (disabled, or no PIN): in sync iff the slot is empty.

:func:`judge_read_back`: what a reading says about an OPTIMISTIC write (see :class:`ReadBack`).
A set over a masked code is always UNINFORMATIVE — the read-back shows a masked code whether the
set landed or not — which is why the slot machine clears such a slot before writing it, unless the
lock's sets prove themselves (answered CONFIRMED), instead of trying the set first (issue 19).
An empty read-back of a set proves nothing by itself (a lock may report a just-written slot
empty for a while): it is :attr:`ReadBack.ABSENT` only when ``current`` — the lock's own answer,
given after it carried out the set (a provider whose reads follow its writes) — and the slot
waits for the deadline otherwise (issue 24).
"""

from __future__ import annotations

import enum
import hashlib
import hmac
from typing import final

import attrs

from ..core import Pin
from ._models import CredentialKind, SlotCredential

__all__ = ["Desired", "ReadBack", "in_sync", "judge_read_back", "pin_digest"]


@final
@attrs.frozen
class Desired:
    """What a slot should hold: ``pin`` while ``enabled``, else nothing."""

    enabled: bool
    pin: Pin | None

    @property
    def wants_code(self) -> bool:
        """Whether the slot should hold a code (enabled, with a PIN)."""
        return self.enabled and self.pin is not None

    def __repr__(self) -> str:
        return f"Desired(enabled={self.enabled}, pin={'set' if self.pin else 'none'})"


def pin_digest(salt: bytes, slot: int, pin: Pin) -> str:
    """The form in which the last written PIN is remembered (and persisted): a full HMAC-SHA256
    of the PIN keyed by a per-engine salt and the slot number. Equal PINs compare equal; the
    digits are never stored."""
    message = f"{slot}:{pin.reveal()}".encode()
    return hmac.new(salt, message, hashlib.sha256).hexdigest()


def in_sync(
    desired: Desired,
    observed: SlotCredential,
    *,
    verified: bool,
    last_written: str | None,
    digest: str | None,
) -> bool:
    """The truth table. ``digest`` is :func:`pin_digest` of the desired PIN (None if none);
    ``last_written`` the digest of the last PIN written to the slot."""
    if not verified:
        return False
    if not desired.wants_code:
        return observed.kind is CredentialKind.EMPTY
    if observed.kind is CredentialKind.KNOWN:
        return observed.pin == desired.pin
    if observed.kind is CredentialKind.UNREADABLE:
        return last_written is not None and last_written == digest
    return False


class ReadBack(enum.Enum):
    """What a reading says about an OPTIMISTIC write (a set of a PIN, or a clear)."""

    #: the slot shows what the write left: present (even masked) after a set, empty after a clear
    CONFIRMED = "confirmed"
    #: the readable code from before the set is still there: the write did not land (charged)
    LOST = "lost"
    #: a readable code that is neither ours nor the one before: an external change, it wins
    EXTERNAL = "external"
    #: masked now, and a code was there before: says nothing about our set (clear, then write;
    #: comes only after a set over content we did not know, or over a masked code on a lock
    #: whose last set was answered CONFIRMED)
    UNINFORMATIVE = "uninformative"
    #: still absent after a set, in the lock's own answer given after it carried out the set
    #: (``current``): the write did not land (charged, written again at the next operation)
    ABSENT = "absent"
    #: still absent after a set, or still present after a clear: wait for the deadline
    WAITING = "waiting"


def judge_read_back(
    believed: Pin | None,
    before: SlotCredential,
    reading: SlotCredential,
    *,
    current: bool = False,
) -> ReadBack:
    """The verdict on an optimistic write of ``believed`` (None: a clear) over a slot that read
    ``before``, given ``reading`` now. ``current``: ``reading`` is the targeted read-back of
    the write, answered by a lock whose reads follow its writes (an empty one is then evidence,
    not lag)."""
    if believed is None:
        return ReadBack.CONFIRMED if reading.kind is CredentialKind.EMPTY else ReadBack.WAITING
    if reading.kind is CredentialKind.KNOWN and reading.pin != believed:
        return ReadBack.LOST if reading == before else ReadBack.EXTERNAL
    if reading.kind is CredentialKind.UNREADABLE and before.is_present:
        return ReadBack.UNINFORMATIVE
    if reading.is_present:
        return ReadBack.CONFIRMED
    return ReadBack.ABSENT if current else ReadBack.WAITING
