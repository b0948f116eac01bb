"""The doors' autolock timers, as a user of the library writes them: a keypad unlock arms the
door's timer, a hand lock cancels it, and the autolock service fires it — the action resolved
by the door's name when it fires, never by a captured lock object."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Collection
from contextlib import asynccontextmanager
from pathlib import Path
from typing import final

import trio

from ..autolock import AutolockService, AutolockTargetGone, RecoveryReport, open_autolock
from ._config import FAST
from ._events import (
    DemoEvent,
    TimerArmed,
    TimerCancelled,
    TimerFired,
    TimerResumed,
    TimerRetry,
    TimersRecovered,
)

__all__ = ["DoorTimers", "open_door_timers"]


@final
class DoorTimers:
    """Arm, cancel and recover the doors' timers, each reported. ``running``: the timers
    armed (or recovered) and not yet seen to fire or be cancelled — what the autolock file
    must hold once everything closed (a timer can still fire while the site closes, so a
    count taken earlier can be one too many). Made by :func:`open_door_timers`."""

    def __init__(
        self,
        service: AutolockService,
        seconds: float,
        running: set[str],
        publish: Callable[[DemoEvent], None],
    ) -> None:
        self._service = service
        self._seconds = seconds
        self._publish = publish
        self.running = running

    async def arm(self, name: str) -> None:
        timer = self._service.timer(f"door:{name}")
        with trio.CancelScope(shield=True):  # persisted and counted, or neither
            await timer.start(self._seconds)
            self.running.add(timer.timer_id)
        self._publish(TimerArmed(name, trio.current_time() + self._seconds))

    async def disarm(self, name: str, why: str) -> None:
        timer = self._service.timer(f"door:{name}")
        if timer.is_running:
            with trio.CancelScope(shield=True):
                await timer.cancel()
                self.running.discard(timer.timer_id)
            self._publish(TimerCancelled(name, why))

    async def recover(self) -> RecoveryReport:
        """The last run's timers: those that expired meanwhile fire now, the rest resume."""
        report = await self._service.recover()
        for timer_id, timer in self._service.timers.items():
            remaining = timer.remaining
            if timer.is_running:
                self.running.add(timer_id)
            if timer.is_running and remaining is not None:
                name = timer_id.removeprefix("door:")
                self._publish(TimerResumed(name, trio.current_time() + remaining))
        self._publish(TimersRecovered(report.expired, report.resumed))
        return report


@asynccontextmanager
async def open_door_timers(
    path: Path,
    *,
    seconds: float,
    doors: Collection[str],
    lock_door: Callable[[str], Awaitable[None]],
    running: set[str],
    publish: Callable[[DemoEvent], None],
) -> AsyncIterator[DoorTimers]:
    """The autolock service on ``path`` for the block; a timer that fires calls
    ``lock_door(name)`` (a door no longer in ``doors`` ends its timer: target gone; a failed
    lock keeps it, and it retries)."""

    async def fire(timer_id: str) -> None:
        name = timer_id.removeprefix("door:")
        if name not in doors:
            running.discard(timer_id)
            raise AutolockTargetGone(f"no lock {name!r} in the site any more")
        try:
            await lock_door(name)
        except Exception as exc:
            publish(TimerRetry(name, type(exc).__name__))
            raise  # the timer keeps its entry and retries
        running.discard(timer_id)
        publish(TimerFired(name))

    async with open_autolock(path, action=fire, backoff=FAST) as service:
        yield DoorTimers(service, seconds, running, publish)
