"""What an access plan refuses, and why. Every message names the grant and the lock, never a
PIN; a refused ``grant`` wrote nothing (to the plan's file or to any lock)."""

from __future__ import annotations

from typing import final

from ..core import ClosedError, LockSyncError

__all__ = [
    "AccessError",
    "AccessPlanClosed",
    "DuplicatePin",
    "NoFreeSlot",
    "UnknownGrant",
    "UnknownLock",
    "UsesNotCounted",
]


class AccessError(LockSyncError):
    """Base of the errors an access plan raises on purpose."""


@final
class DuplicatePin(AccessError):
    """The grant's PIN is already on the lock: another grant of the plan holds it there, or a
    code the plan does not manage reads back as the same PIN. Nothing was written."""

    def __init__(self, grant: str, lock: str, holder: str) -> None:
        super().__init__(
            f"grant {grant!r}: lock {lock!r} already has this PIN ({holder}); nothing written"
        )
        self.grant = grant
        self.lock = lock
        #: who holds it: "grant 'bob'" or "slot 7, not managed by the plan"
        self.holder = holder


@final
class NoFreeSlot(AccessError):
    """The lock has no slot left for the grant among the plan's candidate slots: each one is
    held by another grant or by a code the plan does not manage. Nothing was written."""

    def __init__(self, grant: str, lock: str, detail: str) -> None:
        super().__init__(
            f"grant {grant!r}: no free slot on lock {lock!r} ({detail}); nothing written"
        )
        self.grant = grant
        self.lock = lock


@final
class UsesNotCounted(AccessError):
    """The grant limits its uses, but a lock it is for does not report who unlocked it (its
    provider has no ``events()``), so its uses could not be counted. Nothing was written."""

    def __init__(self, grant: str, lock: str) -> None:
        super().__init__(
            f"grant {grant!r}: lock {lock!r} does not report keypad unlocks by user, so it "
            "cannot limit uses; grant it without uses= or leave that lock out; nothing written"
        )
        self.grant = grant
        self.lock = lock


@final
class UnknownLock(AccessError, KeyError):
    """A grant or a call named a lock the plan does not have."""

    def __init__(self, lock: str, known: object) -> None:
        super().__init__(f"no lock {lock!r} in this plan (it has {known})")
        self.lock = lock

    def __str__(self) -> str:
        return str(self.args[0])


@final
class UnknownGrant(AccessError, KeyError):
    """No grant of that name in the plan."""

    def __init__(self, grant: str) -> None:
        super().__init__(f"no grant {grant!r} in this plan")
        self.grant = grant

    def __str__(self) -> str:
        return str(self.args[0])


@final
class AccessPlanClosed(AccessError, ClosedError):
    """The plan was used after its ``async with open_access_plan(...)`` block ended."""
