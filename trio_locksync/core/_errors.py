"""The root of the library's exception hierarchy and the errors the shared core raises."""

from __future__ import annotations

from typing import final

import trio

__all__ = ["ClosedError", "InvalidPinError", "InvalidTransition", "LockSyncError"]


class LockSyncError(Exception):
    """Base class of every error trio_locksync raises on purpose.

    Catch this to handle any library failure; each subclass says what failed, on which object
    (a path, a slot, a URL), and what was kept. Every one pickles (to another process, say)
    with its type, message and attributes.
    """

    def __reduce__(self) -> tuple[object, ...]:
        # The default, type(self)(*self.args), calls a subclass's own __init__ with the finished
        # message as its only argument: a TypeError, or the message wrapped twice. Rebuilt
        # without __init__ instead: the same args, then the attributes from the state.
        return (_rebuild, (type(self), self.args), self.__dict__)


def _rebuild(cls: type[LockSyncError], args: tuple[object, ...]) -> LockSyncError:
    """An unpickled error: ``cls`` made with ``args`` but without its ``__init__``."""
    error = cls.__new__(cls, *args)
    BaseException.__init__(error, *args)
    return error


@final
class InvalidTransition(LockSyncError, RuntimeError):
    """A state machine was asked for a transition its table does not allow; nothing changed."""

    def __init__(self, machine: str, current: object, requested: object) -> None:
        super().__init__(f"{machine}: cannot go from {current!s} to {requested!s}; state unchanged")
        self.machine = machine
        self.current = current
        self.requested = requested


@final
class InvalidPinError(LockSyncError, ValueError):
    """A PIN was not a string of digits of an allowed length (the value itself is never echoed)."""


class ClosedError(LockSyncError, trio.ClosedResourceError):
    """An object was used after its ``async with`` block ended (or while it was closing);
    nothing was changed. The one convention for "used after close": every subsystem's closed
    error derives from it (and from ``trio.ClosedResourceError``, as trio's own objects do)."""
