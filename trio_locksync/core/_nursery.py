"""The nursery behind every ``open_x()`` context manager, with errors its callers can catch.

trio wraps everything a nursery raises in an ``ExceptionGroup`` (strict groups). A context manager
that *hides* its nursery should not make users write ``except*`` for one error: when the group holds
exactly one exception, that exception is raised as itself (even if it is a group the body raised
on purpose); a group of several genuinely concurrent errors is raised as the group.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import trio

__all__ = ["open_service_nursery"]


@asynccontextmanager
async def open_service_nursery() -> AsyncIterator[trio.Nursery]:
    """``trio.open_nursery()`` that re-raises a lone error unwrapped."""
    try:
        async with trio.open_nursery() as nursery:
            yield nursery
    except BaseExceptionGroup as group:
        # Only the nursery's own group is unwrapped, one level: a group the body raised itself
        # (or a nested nursery's) comes out intact.
        if len(group.exceptions) != 1:
            raise
        lone = group.exceptions[0]
        context = lone.__context__
        try:
            raise lone
        finally:
            # Keep the error's own context instead of the wrapping group.
            lone.__context__ = context
            del lone, context
