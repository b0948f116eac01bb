"""The nursery behind every ``open_x()`` context manager, with errors its callers can catch.

trio wraps everything a nursery raises in an ``ExceptionGroup`` (strict groups). A context manager
that *hides* its nursery should not make users write ``except*`` for one error: when the group holds
exactly one exception (after flattening), that exception is raised as itself; a group of several
genuinely concurrent errors is raised as the group.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import trio

__all__ = ["open_service_nursery"]


def _leaves(group: BaseExceptionGroup[BaseException]) -> list[BaseException]:
    found: list[BaseException] = []
    for exc in group.exceptions:
        if isinstance(exc, BaseExceptionGroup):
            found.extend(_leaves(exc))
        else:
            found.append(exc)
    return found


@asynccontextmanager
async def open_service_nursery() -> AsyncIterator[trio.Nursery]:
    """``trio.open_nursery()`` that re-raises a lone error unwrapped."""
    try:
        async with trio.open_nursery() as nursery:
            yield nursery
    except BaseExceptionGroup as group:
        leaves = _leaves(group)
        if len(leaves) != 1:
            raise
        leaf = leaves[0]
        context = leaf.__context__
        try:
            raise leaf
        finally:
            # Keep the leaf's own context instead of the wrapping group.
            leaf.__context__ = context
            del leaf, context
