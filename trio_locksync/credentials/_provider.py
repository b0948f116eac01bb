"""The interface between the sync engine and a lock: read slots, set and clear codes, pushes."""

from __future__ import annotations

from collections.abc import AsyncIterator, Collection
from typing import Protocol, runtime_checkable

from ..core import Pin
from ._models import SlotCredential, SlotUpdate, WriteResult

__all__ = ["LockProvider", "reads_follow_writes"]


@runtime_checkable
class LockProvider(Protocol):
    """A lock as the sync engine sees it.

    Every method may raise :class:`LockDisconnected` when the lock cannot be reached (counted
    against the lock) and :class:`LockOperationFailed` when it was reached but the operation
    failed (counted against the slot); writes may also raise :class:`CodeRejected`. Any other
    exception is treated as a bug in the provider: the slot concerned is suspended. Slot numbers
    the lock does not have raise ValueError. Methods are cancellable; a cancelled write may or
    may not have reached the lock, which is why the engine verifies by reading back.

    The engine runs one operation at a time per lock, so a provider need not be reentrant.

    Optional: a provider may have a ``reads_follow_writes`` attribute (not part of the protocol,
    so providers without it still match). ``True`` promises that a read returns the lock's own
    answer, given after the lock carried out every write the provider already returned from
    (no cache, no cloud lag): an empty read-back of a set then proves the set lost, and the
    engine writes it again at its next operation instead of after ``pending_ttl``. Leave it out
    (or False) for a lock that may report a just-written slot empty for a while.
    """

    @property
    def supports_push(self) -> bool:
        """True if the lock reports slot changes on its own through :meth:`updates`."""
        ...

    async def read_slots(self, slots: Collection[int] | None = None) -> dict[int, SlotCredential]:
        """Read the given slots (None: every slot the lock has) and return a reading per slot.

        The engine always names the slots (its managed ones, one read back, or a caller's
        survey): it never walks the whole lock. A slot left out of the reading is one the lock
        says nothing of: a managed one is unreported (a write-only lock), a surveyed one absent
        from the survey's answer (a slot the lock does not have).

        A code the lock reports masked (empty data, all ``*``) is ``SlotCredential.unreadable()``,
        never ``empty()``. Raises LockDisconnected or LockOperationFailed; nothing is returned
        for part of a failed read.
        """
        ...

    async def set_code(self, slot: int, pin: Pin) -> WriteResult:
        """Program ``pin`` into ``slot``.

        NO_CHANGE: the slot already held it and nothing was written; CONFIRMED: the lock
        acknowledged the write; OPTIMISTIC: sent, outcome unknown (it may not have landed).
        Raises LockDisconnected, LockOperationFailed, or CodeRejected (the lock refused this
        code; the slot is unchanged).
        """
        ...

    async def clear_code(self, slot: int) -> WriteResult:
        """Remove the code in ``slot``: NO_CHANGE if it was empty, else CONFIRMED or OPTIMISTIC.

        Raises LockDisconnected or LockOperationFailed.
        """
        ...

    def updates(self) -> AsyncIterator[SlotUpdate]:
        """The changes the lock pushes (a code set or cleared at the door), in order.

        Only used when :attr:`supports_push` is true. Pushes are hints, not a reliable log: a
        lock may drop them (a full buffer, a lost radio frame), so a consumer must still re-read
        to catch drift. If the returned iterator is closable, the consumer closes it when done.
        Named with a plural noun, as every such iterator of the library: each call is a new
        iterator that gets every update from the call on (a fan-out subscription, e.g. a
        :class:`~trio_locksync.core.Subscription`).
        """
        ...


def reads_follow_writes(provider: object) -> bool:
    """Whether ``provider`` promises that its reads follow its writes (its optional
    ``reads_follow_writes`` attribute is ``True``; see :class:`LockProvider`)."""
    return getattr(provider, "reads_follow_writes", False) is True
