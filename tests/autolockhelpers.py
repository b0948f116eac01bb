"""Helpers for the autolock tests: a wall clock that follows virtual time, a gated disk."""

from __future__ import annotations

import datetime
import json
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, TypeVar

import attrs
import trio

from trio_locksync import AutolockService, Backoff, Jitter, open_autolock

from .storehelpers import run_inline

T = TypeVar("T")

EPOCH = datetime.datetime(2026, 11, 22, 12, 0, tzinfo=datetime.UTC)
EXACT_RETRY = Backoff(initial=1.0, maximum=8.0, jitter=Jitter.NONE)


@attrs.define
class Wall:
    """Wall clock = EPOCH + trio time + ``jump`` (set ``jump`` to move the wall clock alone)."""

    jump: float = 0.0

    def __call__(self) -> datetime.datetime:
        return EPOCH + datetime.timedelta(seconds=trio.current_time() + self.jump)


@attrs.define
class Recorder:
    """An action that records (timer id, trio time); can fail, block, or report the target gone."""

    calls: list[tuple[str, float]] = attrs.Factory(list)
    fail: int = 0  # fail this many more calls
    gone: set[str] = attrs.Factory(set)
    gate: trio.Event | None = None
    started: trio.Event = attrs.Factory(trio.Event)
    finished: list[str] = attrs.Factory(list)

    async def __call__(self, timer_id: str) -> None:
        from trio_locksync import AutolockTargetGone

        self.calls.append((timer_id, trio.current_time()))
        self.started.set()
        if timer_id in self.gone:
            raise AutolockTargetGone(timer_id)
        if self.gate is not None:
            await self.gate.wait()
        if self.fail:
            self.fail -= 1
            raise RuntimeError("lock jammed")
        self.finished.append(timer_id)

    @property
    def times(self) -> list[float]:
        return [t for _, t in self.calls]


@attrs.define
class GatedDisk:
    """A RunBlocking that runs inline, but holds every blocking call while ``closed``."""

    gate: trio.Event = attrs.Factory(trio.Event)
    holding: bool = False
    waiting: int = 0

    def close(self) -> None:
        self.holding = True
        self.gate = trio.Event()

    def open(self) -> None:
        self.holding = False
        self.gate.set()

    async def __call__(self, fn: Callable[[], T], /) -> T:
        if self.holding:
            self.waiting += 1
            try:
                await self.gate.wait()
            finally:
                self.waiting -= 1
        return await run_inline(fn)


@asynccontextmanager
async def autolock(path: Path, action: Any, **kwargs: Any) -> AsyncIterator[AutolockService]:
    kwargs.setdefault("now", Wall())
    kwargs.setdefault("run_blocking", run_inline)
    kwargs.setdefault("backoff", EXACT_RETRY)
    async with open_autolock(path, action=action, **kwargs) as service:
        yield service


def write_timers(path: Path, entries: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(entries))


def read_timers(path: Path) -> dict[str, Any]:
    return json.loads(path.read_bytes()) if path.exists() else {}


def iso(seconds_after_epoch: float) -> str:
    return (EPOCH + datetime.timedelta(seconds=seconds_after_epoch)).isoformat()
