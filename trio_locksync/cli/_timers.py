"""The doors' autolock timers, as a user of the library writes them: a keypad unlock arms the
door's timer, a hand lock cancels it, and the autolock service fires it — the action resolved
by the door's name when it fires, never by a captured lock object."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Collection, Mapping
from contextlib import asynccontextmanager
from pathlib import Path
from typing import final

import trio

from ..autolock import AutolockService, AutolockTargetGone, RecoveryReport, open_autolock
from ..core import Backoff
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
        seconds: Mapping[str, float],
        running: set[str],
        publish: Callable[[DemoEvent], None],
    ) -> None:
        self._service = service
        self._seconds = seconds
        self._publish = publish
        self.running = running

    def has_rule(self, name: str) -> bool:
        """Whether door ``name`` has an autolock rule."""
        return name in self._seconds

    async def arm(self, name: str) -> None:
        """Start (or restart) door ``name``'s timer; a door without a rule has none."""
        seconds = self._seconds.get(name)
        if seconds is None:
            return
        timer = self._service.timer(f"door:{name}")
        with trio.CancelScope(shield=True):  # persisted and counted, or neither
            await timer.start(seconds)
            self.running.add(timer.timer_id)
        self._publish(TimerArmed(name, trio.current_time() + seconds))

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
    seconds: Mapping[str, float],
    doors: Collection[str],
    lock_door: Callable[[str], Awaitable[None]],
    running: set[str],
    publish: Callable[[DemoEvent], None],
    backoff: Backoff | None = None,
) -> AsyncIterator[DoorTimers]:
    """The autolock service on ``path`` for the block; a keypad unlock arms a door's timer for
    its ``seconds`` (a door without any has no timer); a timer that fires calls
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

    async with open_autolock(path, action=fire, backoff=backoff) as service:
        yield DoorTimers(service, seconds, running, publish)
