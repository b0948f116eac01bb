"""What a plan machine asks for (its effects) and its record of one grant on one lock."""

from __future__ import annotations

from typing import final

import attrs

from ..core import Pin
from ._state import AccessChange, AccessState

__all__ = ["Assignment", "Changed", "Desire", "Effect", "NeedSlots", "Save"]


@final
@attrs.frozen
class Desire:
    """``slot`` of ``lock`` should hold ``pin`` (None: be empty)."""

    lock: str
    slot: int
    pin: Pin | None = attrs.field(repr=False)


@final
@attrs.frozen
class Changed:
    """A grant moved on a lock."""

    change: AccessChange


@final
@attrs.frozen
class NeedSlots:
    """Grants wait for ``count`` slots of ``lock`` beyond its pool."""

    lock: str
    count: int


@final
@attrs.frozen
class Save:
    """The plan's durable state changed (the trio layer writes it)."""


Effect = Desire | Changed | NeedSlots | Save


@final
@attrs.define(eq=False)
class Assignment:
    """One grant on one lock (mutable: the machine's own record)."""

    state: AccessState
    reason: str
    slot: int | None
    uses_left: int | None
