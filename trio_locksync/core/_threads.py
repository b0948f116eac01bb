"""How blocking work (file I/O, encoding) leaves the trio thread: one runner per owner.

:func:`worker_thread_runner` makes a :class:`RunBlocking` with its own ``CapacityLimiter`` (one
thread by default): a hung disk then holds a thread of that owner only, never tokens of trio's
process-wide limiter that every other ``to_thread`` user in the application shares. Work is
abandoned on cancellation (``abandon_on_cancel=True``): the caller must make an abandoned call
harmless, as the store's file writer does by ordering writes by generation.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Protocol, TypeVar

import trio

__all__ = ["RunBlocking", "worker_thread_runner"]

T = TypeVar("T")


class RunBlocking(Protocol):
    """Runs blocking work off the trio thread: ``await run(fn)`` returns ``fn()``."""

    def __call__(self, fn: Callable[[], T], /) -> Awaitable[T]: ...


def worker_thread_runner(threads: int = 1) -> RunBlocking:
    """A :class:`RunBlocking` of its own: at most ``threads`` worker threads at once, abandoned
    on cancellation. Each store (and so each autolock service) makes one."""
    if threads < 1:
        raise ValueError(f"threads must be >= 1, got {threads!r}")
    limiter = trio.CapacityLimiter(threads)

    async def run(fn: Callable[[], T], /) -> T:
        return await trio.to_thread.run_sync(fn, abandon_on_cancel=True, limiter=limiter)

    return run
