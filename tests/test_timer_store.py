"""TimerStore (keymaster tests/autolock/test_store.py): persistence only, one file, atomic."""

from __future__ import annotations

import datetime
import json
from pathlib import Path
from typing import Any

import pytest
import trio

from trio_locksync import open_store
from trio_locksync.autolock import TimerEntry, TimerStore
from trio_locksync.autolock._timer_store import REMOVE_SOON_DELAY

from .storehelpers import run_inline

UTC = datetime.UTC
T0 = datetime.datetime(2026, 1, 1, tzinfo=UTC)


def entry(seconds: float = 60, duration: float = 60) -> TimerEntry:
    return TimerEntry(end_time=T0 + datetime.timedelta(seconds=seconds), duration=duration)


async def test_read_absent_returns_none(tmp_path: Path) -> None:
    async with open_store(tmp_path / "t.json", run_blocking=run_inline) as store:
        timers = TimerStore(store)
        assert await timers.load() == 0
        assert timers.get("front") is None


async def test_write_then_read_roundtrips(tmp_path: Path) -> None:
    path = tmp_path / "t.json"
    async with open_store(path, run_blocking=run_inline) as store:
        await TimerStore(store).write("front", entry(30, 60))
    async with open_store(path, run_blocking=run_inline) as store:
        timers = TimerStore(store)
        await timers.load()
        assert timers.get("front") == entry(30, 60)
    assert json.loads(path.read_text()) == {
        "front": {"end_time": "2026-01-01T00:00:30+00:00", "duration": 60}
    }


async def test_remove_deletes_entry_and_absent_is_noop(tmp_path: Path) -> None:
    path = tmp_path / "t.json"
    async with open_store(path, run_blocking=run_inline) as store:
        timers = TimerStore(store)
        await timers.write("front", entry())
        await timers.remove("front")
        await timers.remove("front")
        await timers.remove("never")
        assert timers.get("front") is None
    assert json.loads(path.read_text()) == {}


async def test_write_overwrites_and_ids_are_isolated(tmp_path: Path) -> None:
    async with open_store(tmp_path / "t.json", run_blocking=run_inline) as store:
        timers = TimerStore(store)
        await timers.write("a", entry(10))
        await timers.write("b", entry(20))
        await timers.write("a", entry(30))
        assert (timers.get("a"), timers.get("b")) == (entry(30), entry(20))
        assert sorted(timers.ids()) == ["a", "b"]
        assert len(timers) == 2


@pytest.mark.parametrize(
    "bad",
    [
        ["not", "a", "mapping"],
        {"end_time": "2026-01-01T00:00:00+00:00", "duration": -5},
        {"end_time": "garbage", "duration": 5},
        {"end_time": None, "duration": 5},
    ],
)
async def test_malformed_entry_is_removed_on_read(tmp_path: Path, bad: Any) -> None:
    path = tmp_path / "t.json"
    path.write_text(
        json.dumps({"bad": bad, "ok": {"end_time": "2026-01-01T00:01:00", "duration": 1}})
    )
    async with open_store(path, run_blocking=run_inline) as store:
        timers = TimerStore(store)
        assert await timers.load() == 1
        assert timers.get("bad") is None
    assert set(json.loads(path.read_text())) == {"ok"}


async def test_unusable_timer_ids_are_pruned_on_read(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """JSON keys are always strings, but "" (and a lone surrogate, which can't be written back)
    cannot name a timer; a custom decoder can even hand over non-string keys. All are pruned,
    counted, logged by id, and the file is rewritten without them."""
    path = tmp_path / "t.json"
    path.write_text("{}")  # replaced by the decoder below
    good = {"end_time": "2026-01-01T00:01:00+00:00", "duration": 60}
    decoded = {"": good, "\ud800": good, 7: good, None: good, " ": good, "ok": good}
    async with open_store(path, decoder=lambda raw: decoded, run_blocking=run_inline) as store:
        timers = TimerStore(store)
        assert await timers.load() == 4
        assert sorted(timers.ids()) == [" ", "ok"]
    assert set(json.loads(path.read_text())) == {" ", "ok"}
    for logged in (
        "'': timer id is empty",
        "'\\ud800': timer id is not valid Unicode",
        "7: timer id is not a string (int)",
        "None: timer id is not a string",
    ):
        assert f"pruned stored timer {logged}" in caplog.text


async def test_naive_end_time_interpreted_as_utc(tmp_path: Path) -> None:
    path = tmp_path / "t.json"
    path.write_text(json.dumps({"a": {"end_time": "2026-01-01T00:01:00", "duration": 60}}))
    async with open_store(path, run_blocking=run_inline) as store:
        timers = TimerStore(store)
        await timers.load()
        assert timers.get("a") == entry(60, 60)


async def test_concurrent_writes_all_land(tmp_path: Path) -> None:
    path = tmp_path / "t.json"
    async with open_store(path) as store:  # real worker threads
        timers = TimerStore(store)
        async with trio.open_nursery() as nursery:
            for n in range(20):
                nursery.start_soon(timers.write, f"t{n}", entry(n))
    assert len(json.loads(path.read_text())) == 20


async def test_remove_soon_lands_without_blocking(
    autojump_clock: trio.abc.Clock, tmp_path: Path
) -> None:
    path = tmp_path / "t.json"
    async with open_store(path, run_blocking=run_inline) as store:
        timers = TimerStore(store)
        await timers.write("a", entry())
        timers.remove_soon("a")
        timers.remove_soon("a")  # already gone: nothing scheduled twice
        assert timers.get("a") is None
        await trio.sleep(REMOVE_SOON_DELAY - 0.01)
        assert "a" in json.loads(path.read_text())  # coalescing window still open
        await trio.sleep(0.02)
        assert json.loads(path.read_text()) == {}
