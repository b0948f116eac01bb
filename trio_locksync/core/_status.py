"""The one status holder of a reconnecting client: its status, the changes, the waiting.

The event stream, the MQTT bridge and the Z-Wave JS client each keep their status in a
:class:`StatusHolder`: it moves the status only along the client's transition table, publishes
every change to the client's ``status_changes()`` iterators, answers ``wait_status()`` — which
never waits for a status that can no longer come: it raises the client's closed error once the
client is closed and its failure once it gave up — and says since when the client's data has
been stale (:attr:`StatusHolder.stale_since`). The client keeps only what is its own: its
status enum and table, its change record, its words, and its errors.
"""

from __future__ import annotations

import enum
import math
from collections.abc import Callable, Mapping
from typing import Generic, Protocol, TypeVar, final

import attrs
import trio

from ._feed import ChangeFeed, Subscription
from ._state import StateTable

__all__ = ["StatusHolder"]

S = TypeVar("S", bound=enum.Enum)
C = TypeVar("C")
S_contra = TypeVar("S_contra", bound=enum.Enum, contravariant=True)
C_co = TypeVar("C_co", covariant=True)


class ChangeRecord(Protocol[S_contra, C_co]):
    """Makes a client's change record: ``(previous, status, at, detail, connection)``."""

    def __call__(
        self, previous: S_contra, status: S_contra, at: float, detail: str, connection: int, /
    ) -> C_co: ...


#: unread changes each ``status_changes()`` iterator keeps; then the oldest go
STATUS_BACKLOG = 1000


@final
@attrs.frozen
class _Open:
    """The client runs (and may still reach any status)."""


@final
@attrs.frozen
class _GaveUp:
    """The client stopped reconnecting: waiters raise ``error()`` (a fresh one each)."""

    error: Callable[[], BaseException]


@final
@attrs.frozen
class _Closed:
    """The client's block ended: waiters raise its closed error."""


#: where the client's life is, as far as waiters care: one value, never flags read together
_Life = _Open | _GaveUp | _Closed


def _now_if_running() -> float:
    try:
        return trio.current_time()
    except RuntimeError:  # made outside trio: since the first move
        return math.nan


@final
class StatusHolder(Generic[S, C]):
    """One client's status: ``current``, ``changes()``, ``wait()``, ``stale_since``.

    ``table`` holds the allowed moves (a move to the current status is ignored unless the table
    allows it, as MQTT's RECONNECTING → RECONNECTING); ``live`` is the status in which the
    client's data is current; ``closed_error(statuses)`` makes the error a waiter gets once the
    client is closed. Use it from one trio thread.
    """

    __slots__ = (
        "_changes",
        "_closed_error",
        "_life",
        "_live",
        "_make",
        "_moved",
        "_stale_since",
        "_table",
    )

    def __init__(
        self,
        name: str,
        initial: S,
        table: Mapping[S, frozenset[S]],
        *,
        change: ChangeRecord[S, C],
        live: S,
        closed_error: Callable[[tuple[S, ...]], BaseException],
        backlog: int = STATUS_BACKLOG,
    ) -> None:
        self._table = StateTable(name, initial, table)
        self._make = change
        self._live = live
        self._closed_error = closed_error
        self._changes = ChangeFeed[C](backlog=backlog)
        self._moved = trio.Event()
        self._life: _Life = _Open()
        self._stale_since: float | None = _now_if_running()

    @property
    def current(self) -> S:
        """The status now."""
        return self._table.current

    @property
    def closed(self) -> bool:
        """:meth:`close` was called: the client's block has ended."""
        return isinstance(self._life, _Closed)

    @property
    def stale_since(self) -> float | None:
        """None while the status is ``live``; else the trio time since which the client's data
        has not been current: when the live status was left, or when the client was made (its
        first move, if it was made outside trio) if it never was live."""
        return self._stale_since

    def changes(self) -> Subscription[C]:
        """Every change from now on, in order; the iterator ends after :meth:`close`."""
        return self._changes.subscribe()

    def move(self, new: S, detail: str = "", *, connection: int = 0) -> C | None:
        """Move to ``new`` (raises ``InvalidTransition`` if the table forbids it); returns the
        change published, or None if ``new`` is the current status and the table has no such
        edge (nothing happened)."""
        table = self._table
        if new is table.current and not table.can_advance(new):
            return None
        previous = table.advance(new)
        now = trio.current_time()
        if new is self._live:
            self._stale_since = None
        elif previous is self._live or (
            self._stale_since is not None and math.isnan(self._stale_since)
        ):
            self._stale_since = now
        change = self._make(previous, new, now, detail, connection)
        self._changes.publish(change)
        self._wake()
        return change

    def fail(self, error: Callable[[], BaseException]) -> None:
        """The client gave up: waiters raise ``error()`` (a fresh exception per raise)."""
        if isinstance(self._life, _Open):
            self._life = _GaveUp(error)
            self._wake()

    def close(self, final: S, detail: str, *, connection: int = 0) -> None:
        """The client's block ended: move to ``final`` (unless there already), end the changes,
        and make every waiter raise the closed error. Idempotent."""
        if isinstance(self._life, _Closed):
            return
        if self._table.current is not final:
            self.move(final, detail, connection=connection)
        self._life = _Closed()
        self._changes.end()
        self._wake()

    async def wait(self, *statuses: S, prompt: bool = False) -> S:
        """Wait until the status is one of ``statuses`` (at once if it already is); raises the
        closed error once the client is closed, the failure once it gave up.

        A checkpoint after the wake-up lets every task woken by the same move take its step
        first; ``prompt=True`` skips it, for a client's own wait that must act in the move's
        scheduling step (the MQTT bridge's subscribe sends its SUBSCRIBE before a caller of
        ``wait_status(CONNECTED)`` can publish)."""
        if not statuses:
            raise ValueError("wait for at least one status")
        woken = False
        while self._table.current not in statuses:
            life = self._life
            if isinstance(life, _Closed):
                raise self._closed_error(statuses)
            if isinstance(life, _GaveUp):
                raise life.error()
            await self._moved.wait()
            woken = True
        if not (woken and prompt):
            await trio.lowlevel.checkpoint()
        return self._table.current

    def _wake(self) -> None:
        self._moved.set()
        self._moved = trio.Event()

    def __repr__(self) -> str:
        return f"<StatusHolder {self._table.current!s} {type(self._life).__name__[1:].lower()}>"
