"""The ``Store`` facade: each method checks its arguments and the store's state, then hands over
to the part that does the work (the package docstring lists them). Made by ``open_store``."""

from __future__ import annotations

import copy
import math
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any, Generic, TypeVar, final

import attrs
import trio

from ..core import NoPublicConstructor, RunBlocking
from ._errors import StoreClosedError
from ._reading import Missing, Reader, Undecodable
from ._saving import Saver, StoreState
from ._versions import Current, Malformed, Versioning

__all__ = ["Store", "StoreStatistics"]

#: what a store holds: what ``load()`` returns and ``save()`` takes
T = TypeVar("T")


@final
@attrs.frozen
class StoreStatistics:
    """A snapshot of a store's counters (see :meth:`Store.statistics`).

    * ``state``: where the store is in its lifecycle (:class:`StoreState`);
    * ``pending``: a change is waiting to be written;
    * ``writes``: writes that reached the disk;
    * ``write_failures``: writes and removals that raised (each one was reported, and a failed
      write's data kept);
    * ``delayed_calls``: ``delay_save`` calls, coalesced into ``writes``.
    """

    state: StoreState
    pending: bool
    writes: int
    write_failures: int
    delayed_calls: int


@final
class Store(Generic[T], metaclass=NoPublicConstructor):
    """One JSON (or custom-encoded) file, owned by the ``open_store`` block that made it.

    No public constructor: use :func:`open_store`. All methods must be called from the trio
    thread that opened it. Data handed over (``save(data)``, or what a ``data_func`` returns) is
    encoded in a worker thread: do not mutate it until the write is done -- build a fresh
    structure in ``data_func`` (the usual pattern) rather than returning a live object.

    Generic in what it holds, for type checkers only (nothing is checked at run time): say it
    where the store is used -- ``store: Store[dict[str, int]]``, declared before ``async with
    open_store(path) as store:`` or as a parameter's annotation -- and ``load()`` returns
    ``dict[str, int] | None``, ``save()`` and ``delay_save()`` take that. A bare ``Store`` (what
    :func:`open_store` yields) holds ``Any``.
    """

    _OPENED_BY = "open_store()"

    def __init__(self, *, saver: Saver, reader: Reader, versioning: Versioning | None) -> None:
        self._path = saver.path
        self._saver = saver
        self._reader = reader
        self._versioning = versioning
        self._load_lock = trio.Lock()

    # -- public API -------------------------------------------------------------------------

    @property
    def path(self) -> Path:
        """The store file."""
        return self._path

    @property
    def state(self) -> StoreState:
        """Where the store is in its lifecycle."""
        return self._saver.state

    @property
    def pending(self) -> bool:
        """Whether a change has not reached the disk yet."""
        return self._saver.schedule.has_pending()

    def statistics(self) -> StoreStatistics:
        """Counters and state, as a frozen record."""
        return StoreStatistics(
            state=self.state,
            pending=self.pending,
            writes=self._saver.writes,
            write_failures=self._saver.write_failures,
            delayed_calls=self._saver.delayed_calls,
        )

    async def load(self) -> T | None:
        """The stored data, or None if the file does not exist.

        Unsaved pending data is returned in preference to the disk, as a deep copy (mutating it
        does not change what will be written). Corrupt content raises :class:`StoreCorruptError`
        (file left as is) unless the store was opened with ``on_corrupt="quarantine"``, which moves
        the file to ``<path>.corrupt.<utc-iso>``, logs at ERROR and returns None. Other read errors
        raise :class:`StoreReadError`. With ``version`` set, older data is migrated and the result
        saved at once (a failed save raises :class:`StoreWriteError`; the migrated data stays
        pending, so the next ``load()`` returns it).
        """
        self._check_usable("load()")
        schedule = self._saver.schedule
        async with self._load_lock:
            if schedule.has_pending():
                return await self._pending_copy()
            # Under the write lock: a save cannot replace the file between our read and a
            # quarantine of what we read (which would move the fresh, good file aside).
            async with self._saver.write_lock:
                outcome = await self._run_blocking(self._reader.read)
                if isinstance(outcome, Undecodable):
                    await self._reader.corrupt(outcome.cause, self._run_blocking)
                    return None  # quarantined (or it raised)
            if schedule.has_pending():
                # A change was made while we read: it is newer than the disk.
                return await self._pending_copy()
            if isinstance(outcome, Missing):
                return None
            return await self._unwrap(outcome.value)

    def delay_save(self, data_func: Callable[[], T], delay: float = 0.0) -> None:
        """Schedule a write of ``data_func()`` about ``delay`` seconds from now. Never blocks.

        ``data_func`` is called at write time (and by ``load()`` while pending); the latest one
        wins. Trailing debounce that always extends: the write happens at the latest
        ``now + delay`` of the requests since the last write (or ``remove()``), but no later than
        ``max_delay`` after the first of them (``math.inf``: no cap). An earlier request never
        pulls the write in. (Home Assistant re-arms its timer to an earlier request, records only
        the most recent later one, and has no cap; see docs/guides/store.md.) A failed delayed
        write is logged, kept and retried with backoff.
        """
        self._check_usable("delay_save()")
        if not (delay >= 0 and math.isfinite(delay)):
            raise ValueError(f"delay must be a finite number >= 0, got {delay!r}")
        self._saver.delay(data_func, delay)

    async def save(self, data: T) -> None:
        """Write ``data`` now, superseding any pending delayed save.

        Single-flight: concurrent saves serialise and the latest data wins; a save whose data was
        already overtaken by a newer write returns without writing. Raises
        :class:`StoreWriteError` if the write fails: the data stays pending and is retried.
        Cancelling a save whose write is in the worker thread leaves the old or the new file,
        never a torn one.
        """
        self._check_usable("save()")
        await self._saver.save(data)

    async def flush(self) -> None:
        """Write pending data now (no-op if nothing is pending); raises :class:`StoreWriteError`."""
        self._check_usable("flush()")
        await self._saver.flush()

    async def remove(self) -> None:
        """Delete the store file durably and drop the data still pending (Home Assistant's
        ``Store.async_remove``, used when an integration is unloaded for good).

        Everything requested before this call -- a delayed save not yet written, a failed save
        being retried -- is dropped: no later flush, and not the final flush on close, writes it
        back. Changes requested after the call are kept and written as usual. A write already
        running finishes first; the removal runs after it, in the worker thread like a write:
        unlink, then fsync of the directory (skipped with ``durable=False``). A missing file is
        not an error. The store stays open and owned (its lock is kept): a later ``save()`` or
        ``delay_save()`` writes a new file.

        Raises :class:`StoreWriteError`, counted in ``statistics().write_failures`` and not
        retried in the background; its ``kept`` says what was kept. If the unlink fails, nothing
        changed: the file is as it was and pending data is still pending, written as scheduled.
        If only the directory fsync fails, the file is gone and the pending data dropped, but the
        removal may not survive a power cut; calling ``remove()`` again retries the fsync.
        Raises :class:`StoreClosedError` once the store's block has ended.
        """
        self._check_usable("remove()")
        await self._saver.remove()

    def __repr__(self) -> str:
        return f"<Store {os.fspath(self._path)!r} {self.state.value} pending={self.pending}>"

    # -- internals ----------------------------------------------------------------------------

    @property
    def _run_blocking(self) -> RunBlocking:
        """Runs the blocking work of loads and writes alike (tests swap in a gated runner)."""
        return self._saver.run_blocking

    @_run_blocking.setter
    def _run_blocking(self, runner: RunBlocking) -> None:
        self._saver.run_blocking = runner

    def _check_usable(self, operation: str) -> None:
        if self.state is StoreState.CLOSED:
            raise StoreClosedError(self._path, operation)

    async def _pending_copy(self) -> T:
        # What a data_func (or save) of this store gave, so a T.
        data: T = self._saver.schedule.latest.produce()
        await trio.lowlevel.checkpoint()
        return copy.deepcopy(data)

    async def _unwrap(self, decoded: Any) -> T | None:
        # From here on the decoded data is taken to be a T: the caller said what it stores.
        if self._versioning is None:
            data: T = decoded
            return data
        outcome = self._versioning.read(self._path, decoded)
        if isinstance(outcome, Malformed):
            await self._reader.corrupt(outcome.reason, self._run_blocking)
            return None  # quarantined (or it raised)
        if isinstance(outcome, Current):
            data = outcome.data
            return data
        if self._saver.schedule.has_pending():
            # A change made while we read wins; it will be written, not the migration.
            return await self._pending_copy()
        data = outcome.data
        await self.save(data)
        return data
