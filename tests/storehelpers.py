"""Helpers for the store tests: an inline runner, a recording encoder, file inspection."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, TypeVar

import attrs
import trio

from trio_locksync import Backoff, Jitter, Store, open_store
from trio_locksync.store import json_encoder

T = TypeVar("T")

EXACT_RETRY = Backoff(initial=1.0, maximum=8.0, jitter=Jitter.NONE)


async def run_inline(fn: Callable[[], T], /) -> T:
    """Run blocking work on the trio thread (real files, no thread hop): virtual time holds."""
    await trio.lowlevel.checkpoint()
    return fn()


@attrs.define
class RecordingEncoder:
    """JSON encoder that records (trio time, data) for each write. Inline runner only."""

    writes: list[tuple[float, Any]] = attrs.Factory(list)

    def __call__(self, data: Any) -> bytes:
        payload = json_encoder(data)
        self.writes.append((trio.current_time(), json.loads(payload)))
        return payload

    @property
    def times(self) -> list[float]:
        return [t for t, _ in self.writes]

    @property
    def data(self) -> list[Any]:
        return [d for _, d in self.writes]


@asynccontextmanager
async def inline_store(path: Path, **kwargs: Any) -> AsyncIterator[Store]:
    """open_store on the inline runner with exact (unjittered) retry delays."""
    kwargs.setdefault("run_blocking", run_inline)
    kwargs.setdefault("backoff", EXACT_RETRY)
    async with open_store(path, **kwargs) as store:
        yield store


def read_json(path: Path) -> Any:
    return json.loads(path.read_bytes())


def temp_files(path: Path) -> list[Path]:
    return sorted(path.parent.glob(f".{path.name}.*.tmp"))
