"""The trio side of a store's writes: single flight, the background writer, removal, closing.

:class:`Saver` carries out what :class:`~._schedule.SaveSchedule` decides. Each debounce window
is awaited in one ``trio.CancelScope`` whose deadline follows the window's, as the core
``QuietWindow`` does (a request moves the deadline; there is no timer task to race with), by one
background task that then writes, retrying failures with backoff. Every write and removal takes
one ``trio.Lock`` and runs in the worker thread through ``run_blocking``; the file writer's
generations keep a write abandoned by a cancelled caller from landing over a newer one. The
lifecycle ends in the final flush: shielded, bounded by ``close_timeout``, then CLOSED with no
checkpoint after its last look at the pending data.
"""

from __future__ import annotations

import enum
import functools
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

import attrs
import trio

from ..core import Backoff, RunBlocking, StateTable
from . import _files
from ._errors import (
    KEPT_CLOSING,
    KEPT_NOT_DURABLE,
    KEPT_NOT_REMOVED,
    KEPT_PENDING,
    KEPT_REMOVED_NOT_DURABLE,
    KEPT_TIMED_OUT,
    StoreClosedError,
    StoreWriteError,
    describe_cause,
)
from ._schedule import (
    DataFunc,
    DebounceWindow,
    Effect,
    MoveWindow,
    OpenWindow,
    SaveSchedule,
)

__all__ = ["Saver", "Snapshot", "StoreState"]

logger = logging.getLogger("trio_locksync.store")

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


@attrs.frozen(eq=False)
class _WindowWait:
    """A debounce window and the cancel scope the background writer waits in until it ends."""

    window: DebounceWindow
    scope: trio.CancelScope


class Saver:
    """Writes one store file for its :class:`~._store.Store`. Trio thread only.

    ``encode`` runs in the worker thread, inside the file writer's lock, and returns the bytes
    to write.
    """

    def __init__(
        self,
        path: Path,
        *,
        writer: _files.FileWriter,
        encode: Callable[[Any], bytes],
        snapshot: Snapshot | None,
        max_delay: float,
        backoff: Backoff,
        close_timeout: float,
        run_blocking: RunBlocking,
    ) -> None:
        self.path = path
        #: runs the blocking work of writes, removals and loads (tests swap it)
        self.run_blocking = run_blocking
        #: held by every write and removal, and by a load from its read to a quarantine
        self.write_lock: trio.Lock = trio.Lock()
        #: what is pending and when it is due; read it freely, only the saver changes it
        self.schedule: SaveSchedule = SaveSchedule(max_delay=max_delay, backoff=backoff)
        # The counters of StoreStatistics.
        self.writes: int = 0
        self.write_failures: int = 0
        self.delayed_calls: int = 0
        self._writer = writer
        self._encode = encode
        self._snapshot = snapshot
        self._close_timeout = close_timeout
        self._state = StateTable("Store", StoreState.OPEN, _STATE_TABLE)
        # The schedule's open window, as the background writer waits for it.
        self._open: _WindowWait | None = None
        self._window_opened = trio.Event()

    @property
    def state(self) -> StoreState:
        """Where the store is in its lifecycle."""
        return self._state.current

    # -- requests -----------------------------------------------------------------------------

    def delay(self, produce: DataFunc, delay: float) -> None:
        """A delayed save of ``produce()`` (the latest wins), debounced by ``delay``."""
        self.delayed_calls += 1
        self.schedule.change(produce)
        if self.state is StoreState.OPEN:
            self._apply(self.schedule.request(trio.current_time(), delay))
        # While CLOSING the final flush is writing until nothing is pending; it takes this too.

    async def save(self, data: Any) -> None:
        """Write ``data`` now (single flight); raises :class:`StoreWriteError`."""
        generation = self.schedule.change(lambda: data)
        await self._write_up_to(generation)

    async def flush(self) -> None:
        """Write what is pending now, if anything; raises :class:`StoreWriteError`."""
        if not self.schedule.has_pending():
            await trio.lowlevel.checkpoint()
            return
        await self._write_up_to(self.schedule.latest.generation)

    async def remove(self) -> None:
        """Remove the file and drop what was pending before the call (see ``Store.remove``)."""
        # Before any checkpoint: what was asked for before this call is what gets dropped, and
        # its delayed write is cancelled now (as HA does), so changes requested while the removal
        # runs open a window of their own. Put back if the file cannot be removed.
        generation = self.schedule.latest.generation
        withdrawn_at = self.schedule.due_at
        self._apply(self.schedule.withdraw())
        removed = False
        try:
            async with self.write_lock:
                if self.state is StoreState.CLOSED:
                    raise StoreClosedError(self.path, "remove()")
                try:
                    await self.run_blocking(functools.partial(self._writer.remove, generation))
                except _files.WriterReleased:
                    raise StoreClosedError(self.path, "remove()") from None
                except _files.DirectorySyncFailed as exc:
                    removed = True
                    self._apply(self.schedule.settled(generation))
                    cause = exc.__cause__ if exc.__cause__ is not None else exc
                    raise self._remove_failed(cause, KEPT_REMOVED_NOT_DURABLE) from cause
                except OSError as exc:
                    raise self._remove_failed(exc, KEPT_NOT_REMOVED) from exc
                removed = True
                self._apply(self.schedule.settled(generation))
        except BaseException:
            if not removed and withdrawn_at is not None and self.state is StoreState.OPEN:
                # Re-armed for the same trio time. (A removal cancelled while in the worker
                # thread may still happen: the writer's generations then make this write of
                # the older data a no-op, as the removal intends.)
                self._apply(self.schedule.restore(trio.current_time(), withdrawn_at))
            raise

    # -- writing ------------------------------------------------------------------------------

    def _apply(self, effects: list[Effect]) -> None:
        for effect in effects:
            if isinstance(effect, OpenWindow):
                scope = trio.CancelScope(deadline=effect.window.deadline)
                self._open = _WindowWait(effect.window, scope)
                self._window_opened.set()
            elif isinstance(effect, MoveWindow):
                assert self._open is not None
                self._open.scope.deadline = effect.deadline
            else:  # CloseWindow
                assert self._open is not None
                self._open.scope.cancel()
                self._open = None

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
            if self.state is StoreState.OPEN and self.schedule.has_pending():
                self._apply(self.schedule.request(trio.current_time(), 0.0))
            raise

    async def _write_locked(self, generation: int, *, background: bool) -> None:
        async with self.write_lock:
            if self.schedule.written >= generation:
                return
            if self.state is StoreState.CLOSED:
                raise StoreClosedError(self.path, "the write")
            change = self.schedule.latest
            try:
                data = change.produce()
                if self._snapshot is not None:
                    data = self._snapshot(data)
                encode = functools.partial(self._encode, data)
                wrote = await self.run_blocking(
                    functools.partial(self._writer.write, change.generation, encode)
                )
            except _files.WriterReleased:
                raise StoreClosedError(self.path, "the write") from None
            except Exception as exc:
                error = self._write_failed(exc, background=background)
                raise error from error.cause
            if wrote:
                self.writes += 1
            self._apply(self.schedule.settled(change.generation))

    def _write_failed(self, exc: Exception, *, background: bool) -> StoreWriteError:
        """Count, log and describe a failed write; schedule its retry if nobody else will."""
        self.write_failures += 1
        is_open = self.state is StoreState.OPEN
        cause: BaseException = exc
        detail = ""
        kept = KEPT_PENDING if is_open else KEPT_CLOSING
        if isinstance(exc, _files.EncodeFailed) and exc.__cause__ is not None:
            cause = exc.__cause__
            detail = f"encoding failed: {describe_cause(cause)}"
        elif isinstance(exc, _files.DirectorySyncFailed) and exc.__cause__ is not None:
            cause = exc.__cause__
            if is_open:
                kept = KEPT_NOT_DURABLE
        error = StoreWriteError(self.path, cause, detail=detail, kept=kept)
        logger.error("%s", error)
        if not background and is_open:
            # Keep it and retry in the background, whoever asked for this write.
            self._apply(self.schedule.retry_soon(trio.current_time()))
        return error

    def _remove_failed(self, cause: BaseException, kept: str) -> StoreWriteError:
        self.write_failures += 1
        error = StoreWriteError(
            self.path, cause, detail=f"removal failed: {describe_cause(cause)}", kept=kept
        )
        logger.error("%s", error)
        return error

    async def background_writer(self) -> None:
        """Waits for each debounce window to end, then writes once, retrying with backoff.

        Changes that arrive while a write runs open the next window; they are not written
        straight after, so a slow disk cannot turn the debounce into back-to-back writes.
        """
        while True:
            await self._window_opened.wait()
            self._window_opened = trio.Event()
            waiting = self._open
            if waiting is None:
                continue
            with waiting.scope:
                await trio.sleep_forever()
            if self._open is waiting:
                self._open = None
            # None: a save wrote everything (a newer window, if any, handles later changes), or
            # the store is closing (the final flush writes).
            target = self.schedule.window_ended(waiting.window)
            if target is None:
                continue
            while self.schedule.written < target:
                try:
                    await self._write_up_to(self.schedule.latest.generation, background=True)
                except StoreWriteError:
                    # Logged by _write_failed; the data is still pending.
                    await trio.sleep(self.schedule.next_retry_delay())

    # -- closing ------------------------------------------------------------------------------

    async def close(self) -> None:
        """CLOSING, the final flush, then CLOSED; raises :class:`StoreWriteError` if the flush
        failed or ran out of ``close_timeout`` (its data is then lost)."""
        self._state.advance(StoreState.CLOSING)
        self._apply(self.schedule.close())
        try:
            await self._final_flush()
        finally:
            # CLOSED with no checkpoint after the flush's last look at the pending data:
            # a save or delay_save from another task now raises instead of being lost.
            self._state.advance(StoreState.CLOSED)
            self._writer.release()

    async def _final_flush(self) -> None:
        """Write what is pending, shielded and bounded by ``close_timeout``; raise on failure."""
        with trio.move_on_after(self._close_timeout, shield=True) as scope:
            while self.schedule.has_pending():
                try:
                    await self._write_up_to(self.schedule.latest.generation)
                except StoreWriteError:
                    logger.error("final flush of %s failed; its pending data is lost", self.path)
                    raise
        if scope.cancelled_caught:
            error = StoreWriteError(
                self.path,
                TimeoutError(f"final flush did not finish within {self._close_timeout} s"),
                detail=f"final flush did not finish within {self._close_timeout} s",
                kept=KEPT_TIMED_OUT,
            )
            logger.error("%s", error)
            raise error
