"""When is a slot in sync? The truth table, as pure functions (lock_code_manager's rules).

* An unverified slot (an optimistic write not yet confirmed) is never in sync.
* Wanted code P: a readable code is in sync iff it is P; a masked (unreadable) code is in sync
  iff the last PIN we wrote to that slot is P; an empty slot is not in sync.
* No code wanted (disabled, or no PIN): in sync iff the slot is empty.
"""

from __future__ import annotations

import hashlib
import hmac

import attrs

from ..core import Pin
from ._models import CredentialKind, SlotCredential

__all__ = ["Desired", "in_sync", "pin_digest"]


@attrs.frozen
class Desired:
    """What a slot should hold: ``pin`` while ``enabled``, else nothing."""

    enabled: bool
    pin: Pin | None

    @property
    def wants_code(self) -> bool:
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
