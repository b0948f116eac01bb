"""A per-file JSON store with debounced, single-flight, atomic and durable saves (seed 002).

Home Assistant's ``Store`` on trio. What is ours beyond it:

* the debounce is the core :class:`~trio_locksync.core.QuietWindow`: a delayed save is written
  ``delay`` after the last request, never later than ``max_delay`` after the first unsaved one;
* writes are durable by default (fsync the temp file, rename, fsync the directory);
* a failed write raises :class:`StoreWriteError` to whoever awaited it, keeps the data pending and
  retries it with :class:`~trio_locksync.core.Backoff` — nothing is dropped;
* the final flush is structural: leaving ``async with open_store(...)`` writes what is pending,
  shielded from cancellation and bounded by ``close_timeout``;
* one owner per file, across processes (an advisory ``flock`` on ``<path>.lock``).
"""

from __future__ import annotations

import copy
import datetime
import enum
import functools
import logging
import math
import os
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, Literal, TypeVar

import attrs
import trio

from ..core import (
    Backoff,
    QuietReason,
    QuietWindow,
    RunBlocking,
    StateTable,
    open_service_nursery,
    worker_thread_runner,
)
from . import _files
from ._codec import Envelope, json_decoder, json_encoder
from ._errors import (
    KEPT_CLOSING,
    KEPT_NOT_DURABLE,
    KEPT_NOT_REMOVED,
    KEPT_PENDING,
    KEPT_REMOVED_NOT_DURABLE,
    KEPT_TIMED_OUT,
    StoreClosedError,
    StoreCorruptError,
    StoreReadError,
    StoreVersionError,
    StoreWriteError,
    describe_cause,
)

__all__ = [
    "DataFunc",
    "Decoder",
    "Encoder",
    "Migrate",
    "Store",
    "StoreState",
    "StoreStatistics",
    "open_store",
]

logger = logging.getLogger("trio_locksync.store")

T = TypeVar("T")

Encoder = Callable[[Any], "bytes | str"]
Decoder = Callable[[bytes], Any]
DataFunc = Callable[[], Any]
#: ``migrate(old_major, old_minor, data) -> new_data``; raise ``NotImplementedError`` to decline
Migrate = Callable[[int, int, Any], Any]
#: called on the trio thread when a write takes its data; returns what the worker thread encodes
Snapshot = Callable[[Any], Any]


class StoreState(enum.Enum):
    """Lifecycle of a store: open while its block runs, closing during the final flush."""

    OPEN = "open"
    CLOSING = "closing"
    CLOSED = "closed"


_STATE_TABLE = {
    StoreState.OPEN: frozenset({StoreState.CLOSING}),
    StoreState.CLOSING: frozenset({StoreState.CLOSED}),
}


@attrs.frozen
class StoreStatistics:
    """A snapshot of a store's counters (see :meth:`Store.statistics`)."""

    state: StoreState
    #: a change is waiting to be written
    pending: bool
    #: writes that reached the disk
    writes: int
    #: writes that raised (each one was reported and its data kept)
    write_failures: int
    #: ``delay_save`` calls, coalesced into ``writes``
    delayed_calls: int


@attrs.frozen
class _Change:
    """The newest unsaved change: ``produce()`` gives the data, called at write time."""

    generation: int
    produce: DataFunc


def _utc_stamp() -> str:
    return datetime.datetime.now(datetime.UTC).isoformat()


class Store:
    """One JSON (or custom-encoded) file, owned by the ``open_store`` block that made it.

    Not constructed directly: use :func:`open_store`. All methods must be called from the trio
    thread that opened it. Data handed over (``save(data)``, or what a ``data_func`` returns) is
    encoded in a worker thread: do not mutate it until the write is done — build a fresh
    structure in ``data_func`` (the usual pattern) rather than returning a live object.
    """

    def __init__(
        self,
        path: Path,
        *,
        writer: _files.FileWriter,
        encoder: Encoder,
        decoder: Decoder,
        max_delay: float,
        version: int | None,
        minor_version: int,
        migrate: Migrate | None,
        on_corrupt: Literal["raise", "quarantine"],
        close_timeout: float,
        backoff: Backoff,
        run_blocking: RunBlocking,
        snapshot: Snapshot | None,
    ) -> None:
        self._path = path
        self._writer = writer
        self._encoder = encoder
        self._decoder = decoder
        self._max_delay = max_delay
        self._version = version
        self._minor_version = minor_version
        self._migrate = migrate
        self._on_corrupt = on_corrupt
        self._close_timeout = close_timeout
        self._backoff = backoff
        self._run_blocking = run_blocking
        self._snapshot = snapshot
        self._state = StateTable("Store", StoreState.OPEN, _STATE_TABLE)
        self._write_lock = trio.Lock()
        self._load_lock = trio.Lock()
        # Pending iff latest.generation > written; the store starts with nothing to write.
        self._latest = _Change(0, lambda: None)
        self._written = 0
        self._window: QuietWindow | None = None
        self._window_opened = trio.Event()
        self._writes = 0
        self._write_failures = 0
        self._delayed_calls = 0

    # -- public API -------------------------------------------------------------------------

    @property
    def path(self) -> Path:
        """The store file."""
        return self._path

    @property
    def state(self) -> StoreState:
        """Where the store is in its lifecycle."""
        return self._state.current

    @property
    def pending(self) -> bool:
        """Whether a change has not reached the disk yet."""
        return self._latest.generation > self._written

    def statistics(self) -> StoreStatistics:
        """Counters and state, as a frozen record."""
        return StoreStatistics(
            state=self.state,
            pending=self.pending,
            writes=self._writes,
            write_failures=self._write_failures,
            delayed_calls=self._delayed_calls,
        )

    async def load(self) -> Any:
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
        async with self._load_lock:
            if self.pending:
                return await self._pending_copy()
            # Under the write lock: a save cannot replace the file between our read and a
            # quarantine of what we read (which would move the fresh, good file aside).
            async with self._write_lock:
                outcome = await self._run_blocking(self._read_and_decode)
                if isinstance(outcome, _Undecodable):
                    return await self._handle_corrupt(outcome.cause)
            if self._has_pending():
                # A change was made while we read: it is newer than the disk.
                return await self._pending_copy()
            if isinstance(outcome, _Missing):
                return None
            return await self._unwrap(outcome.value)

    def _has_pending(self) -> bool:
        # A method, not the property: type checkers narrow a property across an await.
        return self._latest.generation > self._written

    async def _pending_copy(self) -> Any:
        data = self._latest.produce()
        await trio.lowlevel.checkpoint()
        return copy.deepcopy(data)

    def delay_save(self, data_func: DataFunc, delay: float = 0.0) -> None:
        """Schedule a write of ``data_func()`` about ``delay`` seconds from now. Never blocks.

        ``data_func`` is called at write time (and by ``load()`` while pending); the latest one
        wins. Trailing debounce that always extends: the write happens at the latest
        ``now + delay`` of the requests since the last write (or ``remove()``), but no later than
        ``max_delay`` after the first of them (``math.inf``: no cap). An earlier request never
        pulls the write in. (Home Assistant re-arms its timer to an earlier request, records only
        the most recent later one, and has no cap; see the README.) A failed delayed write is
        logged, kept and retried with backoff.
        """
        self._check_usable("delay_save()")
        if not (delay >= 0 and math.isfinite(delay)):
            raise ValueError(f"delay must be a finite number >= 0, got {delay!r}")
        self._delayed_calls += 1
        self._replace_latest(data_func)
        if self.state is StoreState.OPEN:
            self._schedule(delay)
        # While CLOSING the final flush is writing until nothing is pending; it takes this too.

    async def save(self, data: Any) -> None:
        """Write ``data`` now, superseding any pending delayed save.

        Single-flight: concurrent saves serialise and the latest data wins; a save whose data was
        already overtaken by a newer write returns without writing. Raises
        :class:`StoreWriteError` if the write fails: the data stays pending and is retried.
        Cancelling a save whose write is in the worker thread leaves the old or the new file,
        never a torn one.
        """
        self._check_usable("save()")
        generation = self._replace_latest(lambda: data)
        await self._write_up_to(generation)

    async def flush(self) -> None:
        """Write pending data now (no-op if nothing is pending); raises :class:`StoreWriteError`."""
        self._check_usable("flush()")
        if not self.pending:
            await trio.lowlevel.checkpoint()
            return
        await self._write_up_to(self._latest.generation)

    async def remove(self) -> None:
        """Delete the store file durably and drop the data still pending (Home Assistant's
        ``Store.async_remove``, used when an integration is unloaded for good).

        Everything requested before this call — a delayed save not yet written, a failed save
        being retried — is dropped: no later flush, and not the final flush on close, writes it
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
        # Before any checkpoint: what was asked for before this call is what gets dropped, and
        # its delayed write is cancelled now (as HA does), so changes requested while the removal
        # runs open a window of their own. Put back if the file cannot be removed.
        generation = self._latest.generation
        removed = False
        cancelled_deadline = None
        if self._window is not None:
            cancelled_deadline = self._window.deadline
            self._window.close()
            self._window = None
        try:
            async with self._write_lock:
                if self.state is StoreState.CLOSED:
                    raise StoreClosedError(self._path, "remove()")
                try:
                    await self._run_blocking(functools.partial(self._writer.remove, generation))
                except _files.WriterReleased:
                    raise StoreClosedError(self._path, "remove()") from None
                except _files.DirectorySyncFailed as exc:
                    removed = True
                    self._drop_up_to(generation)
                    cause = exc.__cause__ if exc.__cause__ is not None else exc
                    error = self._remove_failed(cause, KEPT_REMOVED_NOT_DURABLE)
                    raise error from cause
                except OSError as exc:
                    error = self._remove_failed(exc, KEPT_NOT_REMOVED)
                    raise error from exc
                removed = True
                self._drop_up_to(generation)
        except BaseException:
            if not removed and cancelled_deadline is not None:
                self._restore_delayed_write(cancelled_deadline)
            raise

    def __repr__(self) -> str:
        return f"<Store {os.fspath(self._path)!r} {self.state.value} pending={self.pending}>"

    # -- writing ----------------------------------------------------------------------------

    def _check_usable(self, operation: str) -> None:
        if self.state is StoreState.CLOSED:
            raise StoreClosedError(self._path, operation)

    def _replace_latest(self, produce: DataFunc) -> int:
        self._latest = _Change(self._latest.generation + 1, produce)
        return self._latest.generation

    def _schedule(self, delay: float) -> None:
        """Open a quiet window for the pending change, or extend the open one."""
        if self._window is not None and not self._window.is_over:
            self._window.touch(delay)
            return
        self._window = QuietWindow(quiet=delay, cap=self._max_delay)
        self._window_opened.set()

    def _encode(self, data: Any) -> bytes:
        """Runs in the worker thread, inside the file writer's lock."""
        if self._version is not None:
            data = Envelope(self._version, self._minor_version, data).to_json()
        payload = self._encoder(data)
        if isinstance(payload, str):
            return payload.encode("utf-8")
        if not isinstance(payload, (bytes, bytearray, memoryview)):
            raise TypeError(f"encoder returned {type(payload).__name__}, expected bytes or str")
        return bytes(payload)

    async def _write_up_to(self, generation: int, *, background: bool = False) -> None:
        """Make sure everything up to ``generation`` is on disk (single-flight).

        A failure raises :class:`StoreWriteError` and keeps the data pending; unless the caller
        is the background writer (which retries on its own backoff), a retry is scheduled. A
        write that did not finish for any other reason (cancellation) is also rescheduled, so
        pending data is never left without a write on its way.
        """
        try:
            await self._write_locked(generation, background=background)
        except Exception:
            raise  # StoreWriteError (retry scheduled) or StoreClosedError
        except BaseException:
            # Cancelled waiting for the lock or during the write: the data must still land.
            if self.state is StoreState.OPEN and self._has_pending():
                self._schedule(0.0)
            raise

    async def _write_locked(self, generation: int, *, background: bool) -> None:
        async with self._write_lock:
            if self._written >= generation:
                return
            if self.state is StoreState.CLOSED:
                raise StoreClosedError(self._path, "the write")
            change = self._latest
            try:
                data = change.produce()
                if self._snapshot is not None:
                    data = self._snapshot(data)
                encode = functools.partial(self._encode, data)
                wrote = await self._run_blocking(
                    functools.partial(self._writer.write, change.generation, encode)
                )
            except _files.WriterReleased:
                raise StoreClosedError(self._path, "the write") from None
            except Exception as exc:
                error = self._write_failed(exc, background=background)
                raise error from error.cause
            self._written = max(self._written, change.generation)
            if wrote:
                self._writes += 1
            if not self.pending and self._window is not None:
                self._window.close()
                self._window = None

    def _drop_up_to(self, generation: int) -> None:
        """Changes up to ``generation`` are superseded by a removal: nothing left to write."""
        self._written = max(self._written, generation)
        if not self.pending and self._window is not None:
            self._window.close()
            self._window = None

    def _restore_delayed_write(self, deadline: float) -> None:
        """Re-arm, for the same trio time, the delayed write a remove() that did not remove the
        file (unlink failed, cancelled, store closed) had cancelled: pending data keeps its write.
        (A removal cancelled while in the worker thread may still happen: the writer's
        generations then make this write of the older data a no-op, as the removal intends.)"""
        if self.state is StoreState.OPEN and self._has_pending():
            self._schedule(max(deadline - trio.current_time(), 0.0))

    def _remove_failed(self, cause: BaseException, kept: str) -> StoreWriteError:
        self._write_failures += 1
        error = StoreWriteError(
            self._path, cause, detail=f"removal failed: {describe_cause(cause)}", kept=kept
        )
        logger.error("%s", error)
        return error

    def _write_failed(self, exc: Exception, *, background: bool) -> StoreWriteError:
        """Count, log and describe a failed write; schedule its retry if nobody else will."""
        self._write_failures += 1
        cause: BaseException = exc
        detail = ""
        kept = KEPT_PENDING if self.state is StoreState.OPEN else KEPT_CLOSING
        if isinstance(exc, _files.EncodeFailed) and exc.__cause__ is not None:
            cause = exc.__cause__
            detail = f"encoding failed: {describe_cause(cause)}"
        elif isinstance(exc, _files.DirectorySyncFailed) and exc.__cause__ is not None:
            cause = exc.__cause__
            if self.state is StoreState.OPEN:
                kept = KEPT_NOT_DURABLE
        error = StoreWriteError(self._path, cause, detail=detail, kept=kept)
        logger.error("%s", error)
        if not background and self.state is StoreState.OPEN:
            # Keep it and retry in the background, whoever asked for this write.
            self._schedule(next(self._backoff.delays()))
        return error

    async def _background_writer(self) -> None:
        """Waits for each quiet window to end, then writes once, retrying with backoff on failure.

        Changes that arrive while a write runs open the next window; they are not written
        straight after, so a slow disk cannot turn the debounce into back-to-back writes.
        """
        while True:
            await self._window_opened.wait()
            self._window_opened = trio.Event()
            window = self._window
            if window is None:
                continue
            reason = await window.wait()
            if reason is QuietReason.CLOSED:
                # A save wrote everything (a newer window, if any, handles later changes), or
                # the store is closing (the final flush writes).
                continue
            if self._window is window:
                self._window = None
            if not self.pending:
                continue
            target = self._latest.generation
            delays = self._backoff.delays()
            while self._written < target:
                try:
                    await self._write_up_to(self._latest.generation, background=True)
                except StoreWriteError:
                    # Logged by _write_up_to; the data is still pending.
                    await trio.sleep(next(delays))

    async def _final_flush(self) -> None:
        """Write what is pending, shielded and bounded by ``close_timeout``; raise on failure."""
        with trio.move_on_after(self._close_timeout, shield=True) as scope:
            while self.pending:
                try:
                    await self._write_up_to(self._latest.generation)
                except StoreWriteError:
                    logger.error("final flush of %s failed; its pending data is lost", self._path)
                    raise
        if scope.cancelled_caught:
            error = StoreWriteError(
                self._path,
                TimeoutError(f"final flush did not finish within {self._close_timeout} s"),
                detail=f"final flush did not finish within {self._close_timeout} s",
                kept=KEPT_TIMED_OUT,
            )
            logger.error("%s", error)
            raise error

    # -- reading ----------------------------------------------------------------------------

    def _read_and_decode(self) -> _Decoded | _Missing | _Undecodable:
        """Runs in the worker thread: read and decode in one hop."""
        try:
            raw = _files.read_bytes(self._path)
        except OSError as exc:
            raise StoreReadError(self._path, exc) from exc
        if raw is None:
            return _Missing()
        try:
            return _Decoded(self._decoder(raw))
        except Exception as exc:
            return _Undecodable(exc)

    async def _handle_corrupt(self, cause: BaseException | str) -> None:
        error = StoreCorruptError(self._path, cause)
        if self._on_corrupt == "raise":
            if isinstance(cause, BaseException):
                raise error from cause
            raise error
        moved = await self._run_blocking(
            functools.partial(_files.quarantine, self._path, _utc_stamp())
        )
        logger.error(
            "store file %s is corrupt; moved it to %s and starting empty", self._path, moved
        )
        return

    async def _unwrap(self, decoded: Any) -> Any:
        if self._version is None:
            return decoded
        try:
            envelope = Envelope.from_decoded(decoded)
        except ValueError as exc:
            return await self._handle_corrupt(str(exc))
        if (envelope.version, envelope.minor_version) == (self._version, self._minor_version):
            return envelope.data
        if envelope.version > self._version or (
            envelope.version == self._version and envelope.minor_version > self._minor_version
        ):
            return self._accept_newer(envelope)
        data = self._run_migration(envelope)
        logger.info(
            "migrated %s from %d.%d to %d.%d",
            self._path,
            envelope.version,
            envelope.minor_version,
            self._version,
            self._minor_version,
        )
        if self._has_pending():
            # A change made while we read wins; it will be written, not the migration.
            return await self._pending_copy()
        await self.save(data)
        return data

    def _accept_newer(self, envelope: Envelope) -> Any:
        assert self._version is not None
        if envelope.version > self._version:
            raise StoreVersionError(
                self._path,
                f"store file {self._path} has version {envelope.version}.{envelope.minor_version}, "
                f"newer than this code's {self._version}.{self._minor_version}; file left as is",
            )
        # A newer minor version is compatible by definition; read it, do not rewrite it.
        return envelope.data

    def _run_migration(self, envelope: Envelope) -> Any:
        assert self._version is not None
        where = (
            f"store file {self._path} from {envelope.version}.{envelope.minor_version} "
            f"to {self._version}.{self._minor_version}"
        )
        if self._migrate is None:
            if envelope.version != self._version:
                raise StoreVersionError(
                    self._path, f"no migration for {where} (major version differs); file left as is"
                )
            return envelope.data
        try:
            return self._migrate(envelope.version, envelope.minor_version, envelope.data)
        except NotImplementedError:
            if envelope.version != self._version:
                raise StoreVersionError(
                    self._path,
                    f"migration declined for {where} (major version differs); file left as is",
                ) from None
            return envelope.data
        except Exception as exc:
            raise StoreVersionError(
                self._path, f"migration failed for {where}: {describe_cause(exc)}; file left as is"
            ) from exc

    # -- lifecycle --------------------------------------------------------------------------

    def _begin_close(self) -> None:
        self._state.advance(StoreState.CLOSING)
        if self._window is not None:
            self._window.close()

    def _finish_close(self) -> None:
        self._state.advance(StoreState.CLOSED)
        self._writer.release()


@attrs.frozen
class _Decoded:
    value: Any


@attrs.frozen
class _Missing:
    pass


@attrs.frozen
class _Undecodable:
    cause: Exception


def _absolute(path: os.PathLike[str] | str) -> Path:
    # A getcwd() call, not disk I/O; done once at open.
    return Path(os.path.abspath(os.fspath(path)))


def _check_mode(mode: int) -> int:
    if not isinstance(mode, int) or not 0 <= mode <= 0o777:
        raise ValueError(f"mode must be permission bits within 0o000..0o777, got {mode!r}")
    return mode


@asynccontextmanager
async def open_store(
    path: os.PathLike[str] | str,
    *,
    encoder: Encoder = json_encoder,
    decoder: Decoder = json_decoder,
    mode: int = 0o600,
    durable: bool = True,
    max_delay: float = 60.0,
    version: int | None = None,
    minor_version: int = 1,
    migrate: Migrate | None = None,
    on_corrupt: Literal["raise", "quarantine"] = "raise",
    close_timeout: float = 30.0,
    backoff: Backoff | None = None,
    snapshot: Snapshot | None = None,
    run_blocking: RunBlocking | None = None,
) -> AsyncIterator[Store]:
    """Open the store file at ``path`` for the duration of the block.

    Takes ownership of the file (a second ``open_store`` on the same path, here or in another
    process, raises :class:`StoreLockedError` at once), creates parent directories, removes temp
    files a crashed owner left, and runs the debounce task in its own nursery. Leaving the block —
    normally, by an exception or by cancellation — writes pending data, shielded from cancellation
    and bounded by ``close_timeout`` seconds; if that final write fails, :class:`StoreWriteError`
    propagates (chained to whatever ended the block).

    ``mode`` is the file's permission bits (default owner-only: lock PINs live in these files).
    ``durable=False`` skips the fsyncs (faster; a power cut may then lose the last writes, or
    leave an empty file). ``version``/``minor_version`` wrap the data in an envelope and enable
    ``migrate(old_major, old_minor, data)``. ``backoff`` (default ``Backoff()``) paces background
    retries of failed writes.

    Data is encoded in a worker thread, while other trio tasks run: what you hand over (the
    value given to ``save``, or what ``data_func`` returns) must not be mutated until it is
    written. Build a fresh structure in ``data_func`` (deep enough that it shares nothing other
    tasks change), or pass ``snapshot=copy.deepcopy``: it runs on the trio thread when the write
    takes its data, and the copy is what gets encoded.

    ``run_blocking`` runs blocking work (default: one worker thread of this store's own); tests
    pass an inline runner to use virtual time.
    """
    target = _absolute(path)
    _check_mode(mode)
    if not max_delay > 0:
        raise ValueError(f"max_delay must be > 0 (math.inf for no cap), got {max_delay!r}")
    if not (close_timeout > 0):
        raise ValueError(f"close_timeout must be > 0, got {close_timeout!r}")
    if on_corrupt not in ("raise", "quarantine"):
        raise ValueError(f"on_corrupt must be 'raise' or 'quarantine', got {on_corrupt!r}")
    if version is not None and (version < 1 or minor_version < 1):
        raise ValueError("version and minor_version must be >= 1")

    runner = worker_thread_runner() if run_blocking is None else run_blocking
    # Shielded: cancelling an abandoned acquire would leak the lock it takes (mkdir and a
    # non-blocking flock are quick). The try below starts with no checkpoint in between.
    with trio.CancelScope(shield=True):
        lock_fd = await runner(functools.partial(_files.acquire_owner, target))
    writer = _files.FileWriter(target, mode=mode, durable=durable, lock_fd=lock_fd)
    try:
        async with _run_store(
            target,
            writer,
            encoder=encoder,
            decoder=decoder,
            max_delay=max_delay,
            version=version,
            minor_version=minor_version,
            migrate=migrate,
            on_corrupt=on_corrupt,
            close_timeout=close_timeout,
            backoff=Backoff() if backoff is None else backoff,
            run_blocking=runner,
            snapshot=snapshot,
        ) as store:
            yield store
    finally:
        writer.release()  # idempotent; also covers a failure before the block ran


@asynccontextmanager
async def _run_store(
    target: Path, writer: _files.FileWriter, **options: Any
) -> AsyncIterator[Store]:
    store = Store(target, writer=writer, **options)
    body_error: BaseException | None = None
    async with open_service_nursery() as nursery:
        nursery.start_soon(store._background_writer)
        try:
            yield store
        except BaseException as exc:
            body_error = exc
            raise
        finally:
            store._begin_close()
            try:
                await store._final_flush()
            except StoreWriteError:
                # Logged by the flush. Ctrl-C or SystemExit must stay what the caller sees.
                if not isinstance(body_error, (KeyboardInterrupt, SystemExit)):
                    raise
            finally:
                # CLOSED with no checkpoint after the flush's last look at the pending data:
                # a save or delay_save from another task now raises instead of being lost.
                store._finish_close()
                nursery.cancel_scope.cancel()
