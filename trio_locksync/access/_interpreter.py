"""The one interpreter of a plan machine's effects, shared by the trio layer and the tests.

It carries :class:`~._machine.Desire` to the lock's engine (``set_desired`` on a slot the engine
manages, ``take`` on one it does not yet), publishes :class:`~._machine.Changed`, and records
what the trio layer must do next — write the plan's file, survey a lock for slots — for that
layer to do (it never awaits)."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Protocol, final

from ..core import Pin
from ._effects import Changed, Desire, Effect, NeedSlots, Save
from ._state import AccessChange

__all__ = ["Engine", "Interpreter"]


class Engine(Protocol):
    """What the interpreter needs of a lock's :class:`~trio_locksync.LockSync`."""

    @property
    def slots(self) -> list[int]: ...

    def set_desired(self, slot: int, *, pin: str | Pin | None, enabled: bool = True) -> None: ...

    def take(self, slot: int, pin: str | Pin | None, *, enabled: bool = True) -> None: ...


@final
class Interpreter:
    """Applies effects to ``engines`` (lock name → engine) and ``publish``es changes."""

    def __init__(
        self,
        engines: Mapping[str, Engine],
        publish: Callable[[AccessChange], None],
        need_slots: Callable[[str], None],
    ) -> None:
        self._engines = engines
        self._publish = publish
        self._need_slots = need_slots
        #: a change to the plan's file is waiting to be written
        self.dirty: bool = False
        #: counters: writes asked of the engines, changes published
        self.desires: int = 0
        self.changes: int = 0

    def apply(self, effects: Iterable[Effect]) -> list[AccessChange]:
        """Carry ``effects`` out in order; returns the changes published."""
        published: list[AccessChange] = []
        for effect in effects:
            if isinstance(effect, Desire):
                engine = self._engines[effect.lock]
                self.desires += 1
                if effect.slot in engine.slots:
                    engine.set_desired(effect.slot, pin=effect.pin)
                else:
                    engine.take(effect.slot, effect.pin)
            elif isinstance(effect, Changed):
                self.changes += 1
                published.append(effect.change)
                self._publish(effect.change)
            elif isinstance(effect, NeedSlots):
                self._need_slots(effect.lock)
            elif isinstance(effect, Save):
                self.dirty = True
        return published
