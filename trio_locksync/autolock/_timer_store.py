"""Persistence only: every timer entry of one service in one Store file.

The in-memory mirror is authoritative (the Store owns its file exclusively), and every change
to it is made synchronously before the write is awaited. Changes therefore cannot interleave:
two timers writing at once cannot clobber each other (keymaster's cross-timer overwrite), and a
read never sees a state older than a write that was already requested (the stale-setup read).
"""

from __future__ import annotations

import datetime
import logging
from collections.abc import Iterator
from typing import Any, final

import trio

from ..store import Store, StoreCorruptError
from ..store._codec import EncodedValues
from ._entry import EntryParts, InvalidEntry, TimerEntry, timer_id_problem

__all__ = ["TimerStore"]

logger = logging.getLogger("trio_locksync.autolock")

#: how long a removal after a fire may wait to be coalesced with others
REMOVE_SOON_DELAY = 0.5


@final
class TimerStore:
    """``{timer_id: {"end_time": ISO-8601 UTC, "duration": seconds}}`` in one durable file."""

    def __init__(self, store: Store[Any]) -> None:
        self._store = store
        # timer id -> the entry's parts (end_time, duration, JSON text): a plain tuple per timer,
        # which the cyclic GC stops tracking (see TimerEntry.parts); the JSON text is made once
        # and shared by every snapshot
        self._entries: dict[str, EntryParts] = {}

    async def load(self) -> int:
        """Read the file; prune and log malformed entries (saving the pruned file). Returns the
        number pruned. A file whose top level is not a mapping raises StoreCorruptError.

        Pruned: an id that cannot name a timer (see ``timer_id_problem``: not a
        non-empty, UTF-8-encodable string) and an entry :meth:`TimerEntry.from_json` refuses.
        Each is logged by id and reason, never by content."""
        raw = await self._store.load()
        if raw is None:
            return 0
        if not isinstance(raw, dict):
            raise StoreCorruptError(self._store.path, "top level is not a mapping of timer ids")
        pruned = 0
        # One encode of every id at once: if it passes, no id has a lone surrogate, and each
        # only needs the cheap checks (a JSON key is always a str).
        all_encode = _all_encode(raw)
        for count, (timer_id, value) in enumerate(raw.items(), start=1):
            if count % 1000 == 0:
                await trio.lowlevel.checkpoint()  # a large file must not hold the trio thread
            problem = None if all_encode and timer_id else timer_id_problem(timer_id)
            if problem is None:
                try:
                    entry = TimerEntry.from_json(value)
                except InvalidEntry as exc:
                    problem = str(exc)
            if problem is not None:
                pruned += 1
                logger.warning("pruned stored timer %r: %s", timer_id, problem)
                continue
            self._entries[timer_id] = entry.parts()
        if pruned:
            await self._store.save(self._snapshot())
        return pruned

    def get(self, timer_id: str) -> TimerEntry | None:
        """The stored entry of ``timer_id``, if any."""
        found = self._entries.get(timer_id)
        return TimerEntry.from_parts(found) if found is not None else None

    def remaining(self, timer_id: str, now: datetime.datetime) -> float | None:
        """``get(timer_id).remaining(now)`` without making the entry; None if there is none."""
        found = self._entries.get(timer_id)
        if found is None:
            return None
        end_time, duration, _ = found
        return min(max((end_time - now).total_seconds(), 0.0), float(duration))

    def __contains__(self, timer_id: object) -> bool:
        return timer_id in self._entries

    def ids(self) -> Iterator[str]:
        """The ids of the timers with a stored entry."""
        return iter(list(self._entries))

    def __len__(self) -> int:
        return len(self._entries)

    async def write(self, timer_id: str, entry: TimerEntry) -> None:
        """Store ``entry`` durably; raises StoreWriteError (the change stays pending, retried)."""
        self._entries[timer_id] = entry.parts()
        await self._store.save(self._snapshot())

    async def remove(self, timer_id: str) -> None:
        """Remove the entry durably (no-op if absent); raises StoreWriteError like write()."""
        if self._entries.pop(timer_id, None) is None:
            await self._store.flush()  # an earlier change may still be pending: make it land
            return
        await self._store.save(self._snapshot())

    def remove_soon(self, timer_id: str) -> None:
        """Remove the entry now in memory, and on disk within ``REMOVE_SOON_DELAY`` s (never
        blocks; failures are retried by the store). Used after a fire, where nothing must wait;
        a burst of fires is coalesced into a few writes. A crash before the write replays the
        fire at the next recover (at-least-once)."""
        if self._entries.pop(timer_id, None) is not None:
            self._store.delay_save(self._snapshot, REMOVE_SOON_DELAY)

    def _snapshot(self) -> EncodedValues:
        # The entries' JSON texts, written verbatim by the store's encoder (the same bytes as
        # {timer_id: entry.to_json()}): no dict per entry, in memory or per save.
        return EncodedValues((timer_id, parts[2]) for timer_id, parts in self._entries.items())


def _all_encode(raw: dict[Any, Any]) -> bool:
    """Whether every key of ``raw`` is a str and all of them encode as UTF-8."""
    try:
        "".join(raw).encode("utf-8")
    except (TypeError, UnicodeEncodeError):
        return False
    return True
