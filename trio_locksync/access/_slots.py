"""Finding free slots on one lock: scoped, rate-limited surveys, never a walk of the whole lock.

A slot is a candidate when it is in the plan's range for the lock, no engine manages it, and no
reading shows a code in it. Candidates are read in small batches through the lock's engine
(:meth:`~trio_locksync.LockSync.survey`: one operation, the engine's spacing), only as many as
the grants waiting need; a slot read empty is free. Slots read occupied are remembered by the
engine (``unmanaged()``) and skipped — re-read only when the range runs out, at most once per
``resurvey_interval``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import final

import attrs
import trio

from ..credentials import CredentialKind, LockSync

__all__ = ["Found", "SlotFinder"]


@final
@attrs.frozen
class Found:
    """What a search found: ``free`` slots, and whether the range ran out (``exhausted``,
    with ``detail`` saying what holds the rest)."""

    free: tuple[int, ...]
    exhausted: bool
    detail: str


@final
class SlotFinder:
    """The survey state of one lock (``candidates``: the plan's range for it)."""

    def __init__(self, candidates: Sequence[int], *, batch: int, resurvey_interval: float) -> None:
        self.candidates = tuple(candidates)
        self._batch = batch
        self._resurvey_interval = resurvey_interval
        self._last_pass = -math.inf
        #: survey operations made (each one engine operation)
        self.surveys = 0
        #: slots read by surveys
        self.read = 0

    async def find(self, engine: LockSync, count: int, held: set[int]) -> Found:
        """Up to ``count`` free slots (not in ``held``, the plan's own). Raises what the
        engine's ``survey`` raises (the lock is unreachable, or refused the read)."""
        managed = set(engine.slots)
        known = engine.unmanaged()
        now = trio.current_time()
        again = now >= self._last_pass + self._resurvey_interval
        todo = [
            s
            for s in self.candidates
            if s not in managed
            and s not in held
            and (again or s not in known or not known[s].is_present)
        ]
        free: list[int] = []
        while todo and len(free) < count:
            size = max(self._batch, count - len(free))
            batch, todo = todo[:size], todo[size:]
            self.surveys += 1
            self.read += len(batch)
            readings = await engine.survey(batch)
            for slot in batch:
                reading = readings.get(slot)
                if reading is not None and reading.kind is CredentialKind.EMPTY:
                    free.append(slot)
        if len(free) >= count:
            return Found(tuple(free), False, "")
        self._last_pass = now
        return Found(tuple(free), True, self._describe(engine, held))

    def _describe(self, engine: LockSync, held: set[int]) -> str:
        known = engine.unmanaged()
        managed = set(engine.slots)
        others = sum(1 for s in self.candidates if s in known and known[s].is_present)
        ours = sum(1 for s in self.candidates if s in held)
        engine_only = sum(1 for s in self.candidates if s in managed and s not in held)
        span = f"{self.candidates[0]}-{self.candidates[-1]}" if self.candidates else "none"
        return (
            f"slots {span}: {ours} held by grants, {others} hold codes the plan does not "
            f"manage, {engine_only} managed outside the plan"
        )
