"""Explicit state machines: an enum plus a transition table; invalid transitions raise."""

from __future__ import annotations

import enum
from collections.abc import Mapping
from typing import Generic, TypeVar, final

from ._errors import InvalidTransition

__all__ = ["StateTable"]

S = TypeVar("S", bound=enum.Enum)


@final
class StateTable(Generic[S]):
    """Holds one current state and moves it only along the edges of ``table``.

    ``table`` maps each state to the states it may move to; a state missing from the table is
    terminal. :meth:`advance` raises :class:`InvalidTransition` and changes nothing when the edge
    is not in the table. Not thread-safe: use it from one trio thread.
    """

    __slots__ = ("_current", "_name", "_table")

    def __init__(self, name: str, initial: S, table: Mapping[S, frozenset[S]]) -> None:
        self._name = name
        self._current = initial
        self._table = table

    @property
    def current(self) -> S:
        """The current state."""
        return self._current

    def can_advance(self, new: S) -> bool:
        """Whether ``new`` is reachable from the current state in one step."""
        return new in self._table.get(self._current, frozenset())

    def advance(self, new: S) -> S:
        """Move to ``new`` and return the previous state; raise if the table forbids the edge."""
        if not self.can_advance(new):
            raise InvalidTransition(self._name, self._current, new)
        previous, self._current = self._current, new
        return previous

    def __repr__(self) -> str:
        return f"<StateTable {self._name} at {self._current!s}>"
