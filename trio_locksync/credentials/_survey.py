"""What one engine knows of the slots it does not manage, and the reads callers ask of them.

:class:`SurveyBook` keeps the last reading of each unmanaged slot the engine has seen (a survey's
reading, or a push for a slot it does not manage) and the queue of surveys callers asked for, in
the order asked. It decides nothing about when a survey runs (:class:`SyncDriver` does) and does
no I/O. A slot the engine starts managing leaves the readings; a slot it stops managing is not in
them until it is read again.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Collection, Mapping
from typing import final

from ._errors import LockDisconnected, LockOperationFailed
from ._models import SlotCredential
from ._work import Survey

__all__ = ["SurveyBook", "SurveyOutcome", "check_slot", "refusal"]

#: what a caller of a survey gets: the readings of the slots the lock has, or the error to raise
#: (LockDisconnected, LockOperationFailed, the provider's ValueError for slots the lock cannot
#: have)
SurveyOutcome = Mapping[int, SlotCredential] | LockDisconnected | LockOperationFailed | ValueError


def check_slot(slot: object) -> int:
    """``slot`` as a slot number: an int >= 0 (TypeError for another type, ValueError if < 0)."""
    if isinstance(slot, bool) or not isinstance(slot, int):
        raise TypeError(f"a slot number must be an int, not {type(slot).__name__}")
    if slot < 0:
        raise ValueError(f"slot numbers are >= 0, got {slot}")
    return slot


@final
class SurveyBook:
    """Unmanaged slots' last readings and the surveys waiting their turn. No I/O."""

    __slots__ = ("_ids", "_queue", "_seen")

    def __init__(self) -> None:
        self._seen: dict[int, SlotCredential] = {}
        self._queue: dict[int, Survey] = {}  # insertion order: the order asked
        self._ids = itertools.count(1)

    @property
    def seen(self) -> Mapping[int, SlotCredential]:
        """Slot → the last reading seen of it, for the slots not managed (read-only view)."""
        return self._seen

    @property
    def waiting(self) -> list[Survey]:
        """The surveys asked for and not answered yet, oldest first."""
        return list(self._queue.values())

    def saw(self, slot: int, reading: SlotCredential) -> None:
        """An unmanaged slot was read (a survey or a push)."""
        self._seen[slot] = reading

    def managed(self, slot: int) -> None:
        """``slot`` is managed from now on: its reading leaves the book."""
        self._seen.pop(slot, None)

    def ask(self, slots: Collection[object], managed: Collection[int]) -> Survey | None:
        """Queue a survey of ``slots`` (None: no slots, nothing to read). TypeError or
        ValueError for a slot that is not a number >= 0; ValueError naming the managed ones."""
        wanted = tuple(sorted({check_slot(slot) for slot in slots}))
        taken = [slot for slot in wanted if slot in managed]
        if taken:
            raise ValueError(f"slots {taken} are managed by this engine; a survey reads others")
        if not wanted:
            return None
        survey = Survey(next(self._ids), wanted)
        self._queue[survey.request] = survey
        return survey

    def withdraw(self, survey: Survey) -> None:
        """The caller no longer waits for ``survey`` (no-op once answered)."""
        self._queue.pop(survey.request, None)

    def wanted(self, survey: Survey) -> bool:
        """Whether a caller still waits for ``survey``."""
        return survey.request in self._queue


def refusal(consecutive: int, probe_in: float) -> LockDisconnected:
    """The error a survey of an unreachable lock gets at once, without I/O."""
    then = "at once" if probe_in <= 0 else f"in {probe_in:g} s"
    if math.isinf(probe_in):
        then = "not scheduled"
    return LockDisconnected(
        f"{consecutive} failures in a row; surveys wait for the lock's probe (next {then})"
    )
