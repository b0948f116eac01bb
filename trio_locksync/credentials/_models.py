"""The values of credential sync: write answers, slot readings, pushed updates and sync states.

A slot reading is one of three things (lock_code_manager's model): the slot is empty, it holds a
code the lock will not show (masked), or it holds a code we can read. PINs are held as
:class:`~trio_locksync.core.Pin`, so no repr here ever shows the digits.
"""

from __future__ import annotations

import enum
from typing import Any, NamedTuple, final

import attrs

from ..core import Pin

__all__ = [
    "CredentialKind",
    "SlotChange",
    "SlotCredential",
    "SlotUpdate",
    "SyncState",
    "WriteResult",
]


class WriteResult(enum.Enum):
    """What a lock answered to a write (set or clear).

    ``NO_CHANGE``: the slot already held it, nothing was written. ``CONFIRMED``: the lock
    acknowledged the write authoritatively. ``OPTIMISTIC``: the write was sent but its outcome is
    ambiguous (a lock that reads codes back masked cannot verify it); it may or may not have
    landed, so it must be confirmed by reading the slot back.
    """

    NO_CHANGE = "no_change"
    CONFIRMED = "confirmed"
    OPTIMISTIC = "optimistic"

    @property
    def changed(self) -> bool:
        """True if a write was sent (CONFIRMED or OPTIMISTIC)."""
        return self is not WriteResult.NO_CHANGE


class SyncState(enum.Enum):
    """Where one managed slot stands with respect to its desired credential."""

    LOADING = "loading"
    IN_SYNC = "in_sync"
    OUT_OF_SYNC = "out_of_sync"
    SYNCING = "syncing"
    PENDING_CONFIRMATION = "pending_confirmation"
    SUSPENDED = "suspended"


class CredentialKind(enum.Enum):
    """The three kinds of slot reading."""

    EMPTY = "empty"
    UNREADABLE = "unreadable"
    KNOWN = "known"


def _check_pin(instance: SlotCredential, attribute: attrs.Attribute[Any], value: object) -> None:
    # Messages name the kind only: a wrongly typed value could be the digits themselves.
    if instance.kind is CredentialKind.KNOWN:
        if not isinstance(value, Pin):
            raise TypeError(
                "a known slot credential needs its pin as a Pin "
                "(SlotCredential.known() also takes a str of digits)"
            )
    elif value is not None:
        raise ValueError(f"an {instance.kind.value} slot credential must not carry a PIN")


@final
@attrs.frozen
class SlotCredential:
    """One reading of a lock slot: ``empty()``, ``unreadable()`` (present but masked) or
    ``known(pin)``.

    ``pin`` is set exactly when ``kind`` is KNOWN; the constructor enforces it (ValueError or
    TypeError, never echoing the value). Equal readings compare and hash equal (PINs compare in
    constant time). ``repr`` shows the kind only.
    """

    kind: CredentialKind = attrs.field(validator=attrs.validators.instance_of(CredentialKind))
    pin: Pin | None = attrs.field(default=None, validator=_check_pin)

    @classmethod
    def empty(cls) -> SlotCredential:
        """The slot holds no code."""
        return _EMPTY

    @classmethod
    def unreadable(cls) -> SlotCredential:
        """The slot holds a code the lock does not show (masked: empty data or all ``*``)."""
        return _UNREADABLE

    @classmethod
    def known(cls, pin: str | Pin) -> SlotCredential:
        """The slot holds ``pin``; a str is checked as a PIN (InvalidPinError, value not echoed)."""
        return cls(CredentialKind.KNOWN, pin if isinstance(pin, Pin) else Pin(pin))

    @property
    def is_present(self) -> bool:
        """The slot holds a code, readable or not (UNREADABLE or KNOWN)."""
        return self.kind is not CredentialKind.EMPTY

    @property
    def is_readable(self) -> bool:
        """The reading says exactly what the slot holds (EMPTY or KNOWN, not UNREADABLE)."""
        return self.kind is not CredentialKind.UNREADABLE

    def __repr__(self) -> str:
        if self.kind is CredentialKind.KNOWN:
            return "SlotCredential.known(<redacted>)"
        return f"SlotCredential.{self.kind.value}()"


_EMPTY = SlotCredential(CredentialKind.EMPTY)
_UNREADABLE = SlotCredential(CredentialKind.UNREADABLE)


@final
@attrs.frozen
class SlotUpdate:
    """A change a lock pushed on its own (a code set or cleared at the keypad, say)."""

    slot: int
    credential: SlotCredential


@final
class SlotChange(NamedTuple):
    """A slot's state changed (or its reason did): ``for slot, state, reason in sync.changes()``."""

    slot: int
    state: SyncState
    reason: str
