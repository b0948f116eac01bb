"""The Store's behaviour, re-expressing Home Assistant's storage tests, in virtual time.

The inline runner writes real files on the trio thread, so ``autojump_clock`` gives exact times
(``tests/test_store_threads.py`` repeats the essentials with real worker threads).
"""

from __future__ import annotations

import errno
import math
import os
import stat
from pathlib import Path
from typing import Any, NamedTuple

import pytest
import trio

from trio_locksync.store import (
    StoreClosedError,
    StoreCorruptError,
    StoreLockedError,
    StoreReadError,
    StoreState,
    StoreVersionError,
    StoreWriteError,
    _files,
)
from trio_locksync.store._errors import KEPT_NOT_REMOVED, KEPT_REMOVED_NOT_DURABLE

from .storehelpers import RecordingEncoder, inline_store, read_json, run_inline, temp_files

DATA = {"locks": {"front": {"slots": {"1": "alice"}}}}


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return tmp_path / "store" / "locks.json"


# -- loading -----------------------------------------------------------------------------------


async def test_loading(autojump_clock: trio.abc.Clock, path: Path) -> None:
    async with inline_store(path) as store:
        await store.save(DATA)
        assert await store.load() == DATA
    async with inline_store(path) as store:
        assert await store.load() == DATA


async def test_loading_non_existing(autojump_clock: trio.abc.Clock, path: Path) -> None:
    async with inline_store(path) as store:
        assert await store.load() is None


async def test_loading_parallel_gives_equal_independent_results(
    autojump_clock: trio.abc.Clock, path: Path
) -> None:
    path.parent.mkdir(parents=True)
    path.write_text('{"a": 1}')
    results: list[Any] = []
    async with inline_store(path) as store, trio.open_nursery() as nursery:
        for _ in range(2):
            nursery.start_soon(lambda: _append_load(store, results))
    assert results == [{"a": 1}, {"a": 1}]
    assert results[0] is not results[1]


async def _append_load(store: Any, results: list[Any]) -> None:
    results.append(await store.load())


async def test_custom_encoder(autojump_clock: trio.abc.Clock, path: Path) -> None:
    class Box:
        def __init__(self, value: str) -> None:
            self.value = value

    def encode(box: Box) -> str:
        return "BOX:" + box.value

    def decode(raw: bytes) -> Box:
        text = raw.decode()
        if not text.startswith("BOX:"):
            raise ValueError("not a box")
        return Box(text[4:])

    async with inline_store(path, encoder=encode, decoder=decode) as store:
        await store.save(Box("hello"))
    assert path.read_bytes() == b"BOX:hello"
    async with inline_store(path, encoder=encode, decoder=decode) as store:
        assert (await store.load()).value == "hello"


async def test_loading_while_delay_returns_pending_data(
    autojump_clock: trio.abc.Clock, path: Path
) -> None:
    async with inline_store(path) as store:
        await store.save({"old": True})
        store.delay_save(lambda: {"new": True}, 10)
        assert await store.load() == {"new": True}
        assert read_json(path) == {"old": True}


async def test_changing_delayed_written_data(autojump_clock: trio.abc.Clock, path: Path) -> None:
    """A mutated load result does not leak into the write of the pending data."""
    data = {"hello": "world"}
    encoder = RecordingEncoder()
    async with inline_store(path, encoder=encoder) as store:
        store.delay_save(lambda: data, 1)
        loaded = await store.load()
        assert loaded == data
        assert loaded is not data
        loaded["hello"] = "earth"
        await trio.sleep(2)
    assert encoder.data == [{"hello": "world"}]


async def test_saving_load_round_trip(autojump_clock: trio.abc.Clock, path: Path) -> None:
    class Point(NamedTuple):
        x: int
        y: int

    async with inline_store(path) as store:
        await store.save({"point": Point(1, 2), "tags": {"a"}, "by_id": {1: "x"}, "t": (1, 2)})
    async with inline_store(path) as store:
        assert await store.load() == {
            "point": [1, 2],
            "tags": ["a"],
            "by_id": {"1": "x"},
            "t": [1, 2],
        }


async def test_loading_corrupt_file_raises_and_keeps_it(
    autojump_clock: trio.abc.Clock, path: Path
) -> None:
    path.parent.mkdir(parents=True)
    path.write_bytes(b'{"truncated": ')
    async with inline_store(path) as store:
        with pytest.raises(StoreCorruptError) as info:
            await store.load()
    assert str(path) in str(info.value)
    assert info.value.path == str(path)
    assert path.read_bytes() == b'{"truncated": '


async def test_loading_empty_file_is_corrupt(autojump_clock: trio.abc.Clock, path: Path) -> None:
    """A zero-length file (what a crash after an unsynced rename leaves) is reported, not None."""
    path.parent.mkdir(parents=True)
    path.write_bytes(b"")
    async with inline_store(path) as store:
        with pytest.raises(StoreCorruptError):
            await store.load()


async def test_loading_corrupt_file_quarantine(
    autojump_clock: trio.abc.Clock, path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path.parent.mkdir(parents=True)
    path.write_bytes(b"\xff\xfenot json")
    async with inline_store(path, on_corrupt="quarantine") as store:
        assert await store.load() is None
        await store.save({"fresh": 1})
    moved = [p for p in path.parent.iterdir() if p.name.startswith("locks.json.corrupt.")]
    assert len(moved) == 1
    assert moved[0].read_bytes() == b"\xff\xfenot json"
    stamp = moved[0].name.removeprefix("locks.json.corrupt.")
    assert stamp.endswith("+00:00") and "T" in stamp
    assert read_json(path) == {"fresh": 1}
    assert any(r.levelname == "ERROR" and "corrupt" in r.getMessage() for r in caplog.records)


async def test_os_error_on_load_is_fatal(autojump_clock: trio.abc.Clock, path: Path) -> None:
    path.mkdir(parents=True)  # a directory where the file should be: EISDIR, even as root
    async with inline_store(path) as store:
        with pytest.raises(StoreReadError) as info:
            await store.load()
    assert "EISDIR" in str(info.value)


# -- delayed saves -----------------------------------------------------------------------------


async def test_saving_with_delay(autojump_clock: trio.abc.Clock, path: Path) -> None:
    encoder = RecordingEncoder()
    async with inline_store(path, encoder=encoder) as store:
        store.delay_save(lambda: DATA, 1)
        await trio.sleep(0.999)
        assert not path.exists()
        await trio.sleep(0.001)
        await trio.testing.wait_all_tasks_blocked()
        assert read_json(path) == DATA
    assert encoder.times == [1.0]


async def test_saving_with_delay_churn_reduction(
    autojump_clock: trio.abc.Clock, path: Path
) -> None:
    """Many requests within the delay become one write of the latest data."""
    encoder = RecordingEncoder()
    counter = 0
    async with inline_store(path, encoder=encoder) as store:
        for _ in range(100):
            counter += 1
            store.delay_save(lambda: {"n": counter}, 1)
            await trio.sleep(0.25)
        await trio.sleep(2)
        assert store.statistics().writes == 1
        assert store.statistics().delayed_calls == 100
    assert encoder.writes == [(24.75 + 1, {"n": 100})]


async def test_multiple_delay_save_calls_last_data_func_wins(
    autojump_clock: trio.abc.Clock, path: Path
) -> None:
    encoder = RecordingEncoder()
    async with inline_store(path, encoder=encoder) as store:
        for n in range(5):
            store.delay_save(lambda n=n: {"n": n}, 1)
        await trio.sleep(5)
    assert encoder.writes == [(1.0, {"n": 4})]


async def test_data_func_called_at_write_time_not_at_request(
    autojump_clock: trio.abc.Clock, path: Path
) -> None:
    state = {"n": 1}
    calls: list[float] = []

    def data_func() -> dict[str, int]:
        calls.append(trio.current_time())
        return dict(state)

    async with inline_store(path) as store:
        store.delay_save(data_func, 3)
        state["n"] = 2
        await trio.sleep(4)
        assert calls == [3.0]
    assert read_json(path) == {"n": 2}


async def test_later_request_extends_the_deadline(
    autojump_clock: trio.abc.Clock, path: Path
) -> None:
    """HA extend rule: a request that asks for a later write pushes the deadline out."""
    encoder = RecordingEncoder()
    async with inline_store(path, encoder=encoder) as store:
        store.delay_save(lambda: {"v": 1}, 1)
        await trio.sleep(0.5)
        store.delay_save(lambda: {"v": 2}, 5)
        await trio.sleep(10)
    assert encoder.writes == [(5.5, {"v": 2})]


async def test_earlier_request_does_not_pull_the_deadline_in(
    autojump_clock: trio.abc.Clock, path: Path
) -> None:
    encoder = RecordingEncoder()
    async with inline_store(path, encoder=encoder) as store:
        store.delay_save(lambda: {"v": 1}, 10)
        await trio.sleep(2)
        store.delay_save(lambda: {"v": 2}, 1)
        await trio.sleep(20)
    assert encoder.writes == [(10.0, {"v": 2})]


async def test_max_delay_caps_a_steady_stream(autojump_clock: trio.abc.Clock, path: Path) -> None:
    """A request every 0.375 s with delay 1 s would postpone HA's write forever; max_delay=5
    writes at most 5 s after the first unsaved request, with the newest data each time."""
    encoder = RecordingEncoder()
    n = 0
    async with inline_store(path, encoder=encoder, max_delay=5) as store:
        for _ in range(56):  # requests at t = 0, 0.375, ... 20.625
            n += 1
            store.delay_save(lambda: {"n": n}, 1)
            await trio.sleep(0.375)
        await trio.sleep(5)
    # Windows open at the first unsaved request: t = 0, 5.25, 10.5, 15.75; each ends 5 s later.
    assert encoder.times == [5.0, 10.25, 15.5, 20.75]
    assert [d["n"] for d in encoder.data] == [14, 28, 42, 56]


async def test_slow_write_does_not_turn_debounce_into_back_to_back_writes(
    autojump_clock: trio.abc.Clock, path: Path
) -> None:
    """Bug found by the benchmark: changes arriving while a write was in flight were written
    straight after it, so with a 50 ms write and a request every 10 ms the store wrote
    continuously. Now they open the next quiet window like any other change."""
    encoder = RecordingEncoder()

    async def slow_disk(fn: Any) -> Any:
        await trio.sleep(0.0625)
        return fn()

    n = 0
    async with inline_store(path, encoder=encoder, max_delay=1.0) as store:
        store._run_blocking = slow_disk
        for _ in range(1024):  # a request every 1/128 s for 8 s
            n += 1
            store.delay_save(lambda: {"n": n}, 0.5)
            await trio.sleep(1 / 128)
        await trio.sleep(3)
    assert len(encoder.writes) <= math.ceil(8 / 1.0) + 1
    assert encoder.data[-1] == {"n": 1024}
    gaps = [b - a for a, b in zip(encoder.times, encoder.times[1:], strict=False)]
    assert min(gaps) >= 0.5  # never back-to-back


async def test_max_delay_inf_is_home_assistant_unbounded(
    autojump_clock: trio.abc.Clock, path: Path
) -> None:
    encoder = RecordingEncoder()
    async with inline_store(path, encoder=encoder, max_delay=math.inf) as store:
        for n in range(40):
            store.delay_save(lambda n=n: {"n": n}, 1)
            await trio.sleep(0.5)
        await trio.sleep(5)
    assert encoder.writes == [(20.5, {"n": 39})]


async def test_delay_zero_writes_on_the_next_tick(
    autojump_clock: trio.abc.Clock, path: Path
) -> None:
    encoder = RecordingEncoder()
    async with inline_store(path, encoder=encoder) as store:
        store.delay_save(lambda: {"now": 1})
        await trio.sleep(0.001)
    assert encoder.writes == [(0.0, {"now": 1})]


@pytest.mark.parametrize("delay", [-1.0, math.nan, math.inf])
async def test_invalid_delay_rejected(
    autojump_clock: trio.abc.Clock, path: Path, delay: float
) -> None:
    async with inline_store(path) as store:
        with pytest.raises(ValueError):
            store.delay_save(lambda: 1, delay)
        assert not store.pending


# -- immediate saves ---------------------------------------------------------------------------


async def test_writing_while_writing_delay(autojump_clock: trio.abc.Clock, path: Path) -> None:
    """An immediate save supersedes the delayed one; the delayed data is never written."""
    encoder = RecordingEncoder()
    async with inline_store(path, encoder=encoder) as store:
        store.delay_save(lambda: {"delay": "yes"}, 1)
        await store.save({"delay": "no"})
        await trio.sleep(5)
        assert await store.load() == {"delay": "no"}
    assert encoder.data == [{"delay": "no"}]


async def test_multiple_save_calls_latest_wins_without_redundant_writes(
    autojump_clock: trio.abc.Clock, path: Path
) -> None:
    """Six concurrent saves: the last one *called* wins (trio may start them in any order),
    and they share at most two writes (the first in flight, then one for all the rest)."""
    encoder = RecordingEncoder()
    called: list[int] = []

    async def save(n: int) -> None:
        called.append(n)  # save() takes its data before its first checkpoint
        await store.save({"n": n})

    async with inline_store(path, encoder=encoder) as store, trio.open_nursery() as nursery:
        for n in range(6):
            nursery.start_soon(save, n)
    assert sorted(called) == list(range(6))
    assert read_json(path) == {"n": called[-1]}
    assert 1 <= len(encoder.data) <= 2
    assert encoder.data[-1] == {"n": called[-1]}


async def test_save_during_a_slow_write_waits_then_writes_latest(
    autojump_clock: trio.abc.Clock, path: Path
) -> None:
    release = trio.Event()
    order: list[str] = []

    async def gated(fn: Any) -> Any:
        await release.wait()
        return fn()

    first_done = trio.Event()
    async with inline_store(path, run_blocking=run_inline) as store:
        store._run_blocking = gated  # hold the first write "in the thread"

        async def first() -> None:
            await store.save({"n": 1})
            order.append("first")
            first_done.set()

        async with trio.open_nursery() as nursery:
            nursery.start_soon(first)
            await trio.testing.wait_all_tasks_blocked()
            nursery.start_soon(store.save, {"n": 2})
            await trio.testing.wait_all_tasks_blocked()
            assert not path.exists()
            release.set()
        assert read_json(path) == {"n": 2}
        assert order == ["first"]


async def test_save_none_of_data_then_flush_is_noop(
    autojump_clock: trio.abc.Clock, path: Path
) -> None:
    async with inline_store(path) as store:
        await store.flush()
        assert store.statistics().writes == 0
    assert not path.exists()


async def test_flush_writes_pending_now(autojump_clock: trio.abc.Clock, path: Path) -> None:
    encoder = RecordingEncoder()
    async with inline_store(path, encoder=encoder) as store:
        store.delay_save(lambda: {"f": 1}, 30)
        await trio.sleep(2)
        await store.flush()
        assert not store.pending
        await trio.sleep(60)
    assert encoder.writes == [(2.0, {"f": 1})]


# -- removing (Home Assistant's async_remove) --------------------------------------------------


def _fsync_spy(monkeypatch: pytest.MonkeyPatch) -> list[bool]:
    """Record, for each fsync, whether it was of a directory."""
    synced: list[bool] = []
    real_fsync = _files.OS.fsync

    def spy(fd: int) -> None:
        synced.append(stat.S_ISDIR(os.fstat(fd).st_mode))
        real_fsync(fd)

    monkeypatch.setattr(_files.OS, "fsync", spy)
    return synced


def _fail(monkeypatch: pytest.MonkeyPatch, call: str, code: int) -> list[int]:
    """Make ``_files.OS.<call>`` raise OSError(code) while the returned list is non-empty."""
    active = [code]
    real = getattr(_files.OS, call)

    def faulty(*args: Any) -> Any:
        if active:
            raise OSError(code, f"injected {errno.errorcode[code]}")
        return real(*args)

    monkeypatch.setattr(_files.OS, call, faulty)
    return active


@pytest.mark.parametrize(("durable", "directory_fsyncs"), [(True, [True]), (False, [])])
async def test_remove_deletes_the_file_durably(
    autojump_clock: trio.abc.Clock,
    path: Path,
    monkeypatch: pytest.MonkeyPatch,
    durable: bool,
    directory_fsyncs: list[bool],
) -> None:
    async with inline_store(path, durable=durable) as store:
        await store.save(DATA)
        synced = _fsync_spy(monkeypatch)
        await store.remove()
        assert not path.exists()
        assert synced == directory_fsyncs  # unlink, then fsync of the directory if durable
        assert not store.pending
        assert await store.load() is None
        assert store.state is StoreState.OPEN
    assert not path.exists()
    assert temp_files(path) == []


async def test_remove_drops_a_pending_delay_save_not_written_at_close(
    autojump_clock: trio.abc.Clock, path: Path
) -> None:
    """HA test_removing_while_delay_in_progress: the delayed write is cancelled, and (ours) the
    final flush on close does not bring the file back either."""
    encoder = RecordingEncoder()
    async with inline_store(path, encoder=encoder) as store:
        await store.save({"v": 1})
        store.delay_save(lambda: {"v": 2}, 5)
        await trio.sleep(1)
        await store.remove()
        assert not path.exists()
        assert not store.pending
        assert await store.load() is None
        await trio.sleep(10)
        assert not path.exists()
        assert store.statistics().writes == 1
    assert not path.exists()
    assert encoder.writes == [(0.0, {"v": 1})]


async def test_remove_drops_the_data_of_a_failed_save_being_retried(
    autojump_clock: trio.abc.Clock, path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    encoder = RecordingEncoder()
    async with inline_store(path, encoder=encoder) as store:
        await store.save({"v": 1})
        fault = _fail(monkeypatch, "write", errno.ENOSPC)
        with pytest.raises(StoreWriteError):
            await store.save({"v": 2})  # kept pending, retried in 1 s
        fault.clear()
        await store.remove()
        assert not store.pending
        await trio.sleep(30)
    assert not path.exists()
    assert encoder.data == [{"v": 1}, {"v": 2}]  # the failed attempt only


async def test_save_after_remove_writes_again_and_ownership_is_kept(
    autojump_clock: trio.abc.Clock, path: Path
) -> None:
    encoder = RecordingEncoder()
    async with inline_store(path, encoder=encoder) as store:
        await store.save({"v": 1})
        await store.remove()
        with pytest.raises(StoreLockedError):  # the flock is still held
            async with inline_store(path):
                pass  # pragma: no cover
        await store.save({"v": 2})
        assert read_json(path) == {"v": 2}
        await store.remove()
        store.delay_save(lambda: {"v": 3}, 2)
        await trio.sleep(3)
        assert read_json(path) == {"v": 3}
    assert encoder.writes == [(0.0, {"v": 1}), (0.0, {"v": 2}), (2.0, {"v": 3})]


async def test_remove_of_a_missing_file_is_fine(autojump_clock: trio.abc.Clock, path: Path) -> None:
    async with inline_store(path) as store:
        await store.remove()
        await store.remove()
        assert not store.pending
        assert store.statistics().write_failures == 0
    assert not path.exists()


async def test_changes_requested_while_remove_runs_are_kept(
    autojump_clock: trio.abc.Clock, path: Path
) -> None:
    """remove() drops what was asked for before it was called, nothing asked for after."""
    encoder = RecordingEncoder()

    async def slow_disk(fn: Any) -> Any:
        await trio.sleep(0.5)
        return fn()

    async with inline_store(path, encoder=encoder) as store:
        await store.save({"v": 1})
        store.delay_save(lambda: {"v": 2}, 60)
        store._run_blocking = slow_disk
        async with trio.open_nursery() as nursery:
            nursery.start_soon(store.remove)
            await trio.sleep(0.25)
            store.delay_save(lambda: {"v": 3}, 1)  # while the unlink is in the worker
        assert trio.current_time() == 0.5
        assert not path.exists()
        assert store.pending
        await trio.sleep(2)
        assert read_json(path) == {"v": 3}
    assert encoder.writes == [(0.0, {"v": 1}), (1.75, {"v": 3})]  # 1.25 + the slow disk


async def test_remove_waits_for_a_write_in_flight_then_removes(
    autojump_clock: trio.abc.Clock, path: Path
) -> None:
    async def slow_disk(fn: Any) -> Any:
        await trio.sleep(0.5)
        return fn()

    async with inline_store(path) as store:
        store._run_blocking = slow_disk
        async with trio.open_nursery() as nursery:
            nursery.start_soon(store.save, {"v": 1})
            await trio.sleep(0.25)
            await store.remove()
            assert trio.current_time() == 1.0  # the write, then the removal
        assert not path.exists()
        assert not store.pending
    assert not path.exists()


async def test_remove_cancelled_before_it_ran_keeps_the_delayed_write_on_time(
    autojump_clock: trio.abc.Clock, path: Path
) -> None:
    encoder = RecordingEncoder()

    async def slow_disk(fn: Any) -> Any:
        await trio.sleep(0.5)
        return fn()

    async with inline_store(path, encoder=encoder) as store:
        store._run_blocking = slow_disk
        async with trio.open_nursery() as nursery:
            nursery.start_soon(store.save, {"v": 1})  # holds the write lock until t=0.5
            await trio.sleep(0.125)
            store.delay_save(lambda: {"v": 2}, 5)
            with trio.move_on_after(0.125):
                await store.remove()  # waits for the lock, then is cancelled: nothing removed
        assert store.pending
        await trio.sleep(10)
    # Encoded after the slow disk's 0.5 s: v2's write started at 0.125 + 5, as scheduled.
    assert encoder.writes == [(0.5, {"v": 1}), (5.625, {"v": 2})]
    assert read_json(path) == {"v": 2}


async def test_remove_failing_at_unlink_raises_and_keeps_pending_data_and_ownership(
    autojump_clock: trio.abc.Clock,
    path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    encoder = RecordingEncoder()
    async with inline_store(path, encoder=encoder) as store:
        await store.save({"v": "old"})
        store.delay_save(lambda: {"v": "new", "pin": "SECRET-PIN-5150"}, 5)
        fault = _fail(monkeypatch, "unlink", errno.EIO)
        with pytest.raises(StoreWriteError) as info:
            await store.remove()
        error = info.value
        assert error.kept == KEPT_NOT_REMOVED
        assert error.path == str(path)
        assert "removal failed: OSError [EIO]" in str(error)
        assert isinstance(error.__cause__, OSError) and error.__cause__.errno == errno.EIO
        assert error.cause is error.__cause__
        assert read_json(path) == {"v": "old"}  # nothing removed
        assert store.pending  # nothing dropped
        assert await store.load() == {"v": "new", "pin": "SECRET-PIN-5150"}
        assert store.statistics().write_failures == 1
        with pytest.raises(StoreLockedError):
            async with inline_store(path):
                pass  # pragma: no cover
        fault.clear()
        await trio.sleep(10)  # the delayed save lands as it was scheduled
        assert read_json(path) == {"v": "new", "pin": "SECRET-PIN-5150"}
        await store.remove()  # and a second attempt succeeds
        assert not path.exists()
    assert encoder.times == [0.0, 5.0]
    assert not path.exists()
    assert "SECRET-PIN-5150" not in caplog.text


async def test_remove_whose_directory_fsync_fails_says_the_removal_may_not_be_durable(
    autojump_clock: trio.abc.Clock, path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with inline_store(path) as store:
        await store.save({"v": 1})
        store.delay_save(lambda: {"v": 2}, 5)
        fault = _fail(monkeypatch, "fsync", errno.EIO)
        with pytest.raises(StoreWriteError) as info:
            await store.remove()
        assert info.value.kept == KEPT_REMOVED_NOT_DURABLE
        assert not path.exists()  # the unlink happened: the pending data is dropped
        assert not store.pending
        fault.clear()
        synced = _fsync_spy(monkeypatch)
        await store.remove()  # a retry syncs the directory again
        assert synced == [True]
        await trio.sleep(10)
    assert not path.exists()


async def test_remove_on_a_closed_store_raises_closed(
    autojump_clock: trio.abc.Clock, path: Path
) -> None:
    async with inline_store(path) as store:
        await store.save({"v": 1})
    with pytest.raises(StoreClosedError, match=r"remove\(\) was not performed"):
        await store.remove()
    assert read_json(path) == {"v": 1}


def test_file_writer_orders_removals_and_writes_by_generation(tmp_path: Path) -> None:
    """A removal or write abandoned in a worker thread (its caller cancelled) can never undo a
    newer change, whichever thread the OS runs first."""
    target = tmp_path / "s.json"
    writer = _files.FileWriter(
        target, mode=0o600, durable=False, lock_fd=_files.acquire_owner(target)
    )
    try:
        assert writer.write(2, lambda: b"2")
        assert writer.remove(1) is False  # older than what is on disk: nothing removed
        assert target.read_bytes() == b"2"
        assert writer.remove(2) is True
        assert not target.exists()
        assert writer.write(2, lambda: b"late") is False  # superseded by the removal
        assert not target.exists()
        assert writer.write(3, lambda: b"3")
        assert target.read_bytes() == b"3"
    finally:
        writer.release()
    with pytest.raises(_files.WriterReleased):
        writer.remove(4)
    assert target.read_bytes() == b"3"


# -- closing -----------------------------------------------------------------------------------


async def test_saving_on_final_write(autojump_clock: trio.abc.Clock, path: Path) -> None:
    encoder = RecordingEncoder()
    async with inline_store(path, encoder=encoder) as store:
        store.delay_save(lambda: {"final": True}, 60)
        await trio.sleep(1)
    assert encoder.writes == [(1.0, {"final": True})]
    assert store.state is StoreState.CLOSED


async def test_final_write_when_block_raises(autojump_clock: trio.abc.Clock, path: Path) -> None:
    with pytest.raises(KeyError):
        async with inline_store(path) as store:
            store.delay_save(lambda: {"kept": 1}, 60)
            raise KeyError("boom")
    assert read_json(path) == {"kept": 1}


async def test_final_write_when_block_is_cancelled(
    autojump_clock: trio.abc.Clock, path: Path
) -> None:
    with trio.move_on_after(5) as scope:
        async with inline_store(path) as store:
            store.delay_save(lambda: {"kept": 2}, 60)
            await trio.sleep_forever()
    assert scope.cancelled_caught
    assert trio.current_time() == 5
    assert read_json(path) == {"kept": 2}


async def test_not_delayed_saving_while_stopping(
    autojump_clock: trio.abc.Clock, path: Path
) -> None:
    """A delay_save made while the final flush runs is written by it, not scheduled."""
    encoder = RecordingEncoder()
    release = trio.Event()

    async def gated(fn: Any) -> Any:
        await release.wait()
        return fn()

    async with trio.open_nursery() as nursery:

        async def owner() -> None:
            async with inline_store(path, encoder=encoder) as store:
                store.delay_save(lambda: {"v": 1}, 60)
                store._run_blocking = gated
                nursery.start_soon(late_writer, store)

        async def late_writer(store: Any) -> None:
            await trio.testing.wait_all_tasks_blocked()
            assert store.state is StoreState.CLOSING
            store.delay_save(lambda: {"v": 2}, 60)
            release.set()

        nursery.start_soon(owner)
    assert encoder.data[-1] == {"v": 2}
    assert trio.current_time() == 0


async def test_not_delayed_saving_after_stopping(
    autojump_clock: trio.abc.Clock, path: Path
) -> None:
    async with inline_store(path) as store:
        await store.save({"v": 1})
    with pytest.raises(StoreClosedError) as info:
        store.delay_save(lambda: {"v": 2}, 1)
    assert str(path) in str(info.value)
    for call in (store.save({"v": 3}), store.flush(), store.load()):
        with pytest.raises(StoreClosedError):
            await call
    assert read_json(path) == {"v": 1}


async def test_delay_save_racing_close_is_written_or_refused_never_lost(
    autojump_clock: trio.abc.Clock, path: Path
) -> None:
    """A change made by another task while the owner's block exits (after the final flush looked
    at the pending data, while the nursery winds down) used to be accepted and then dropped.
    Now it is either written by the final flush or refused with StoreClosedError."""
    leaving = trio.Event()
    outcome: list[str] = []

    async def late(store: Any) -> None:
        await leaving.wait()
        while store.state is StoreState.OPEN:
            await trio.lowlevel.checkpoint()
        try:
            store.delay_save(lambda: {"late": True}, 1)
            outcome.append("accepted")
        except StoreClosedError:
            outcome.append("refused")

    async with trio.open_nursery() as nursery, inline_store(path) as store:
        await store.save({"early": True})
        nursery.start_soon(late, store)
        await trio.testing.wait_all_tasks_blocked()
        leaving.set()
    assert outcome in (["refused"], ["accepted"])
    if outcome == ["accepted"]:
        assert read_json(path) == {"late": True}
    else:
        assert read_json(path) == {"early": True}


async def test_final_flush_bounded_by_close_timeout(
    autojump_clock: trio.abc.Clock, path: Path
) -> None:
    """A write that hangs does not hang the exit: StoreWriteError after close_timeout."""
    from trio_locksync import StoreWriteError

    async def hang(fn: Any) -> Any:
        await trio.sleep_forever()

    with pytest.raises(StoreWriteError) as info:
        async with inline_store(path, close_timeout=7) as store:
            store.delay_save(lambda: {"v": 1}, 60)
            store._run_blocking = hang
    assert trio.current_time() == 7
    assert "within 7" in str(info.value)


# -- ownership, files, modes -------------------------------------------------------------------


async def test_second_owner_in_process_fails_at_once(
    autojump_clock: trio.abc.Clock, path: Path
) -> None:
    async with inline_store(path):
        with pytest.raises(StoreLockedError) as info:
            async with inline_store(path):
                pass  # pragma: no cover
        assert str(os.getpid()) in str(info.value)
        assert str(path) in str(info.value)
    async with inline_store(path) as store:  # released on close
        await store.save({"ok": 1})


async def test_parent_directories_created(autojump_clock: trio.abc.Clock, tmp_path: Path) -> None:
    deep = tmp_path / "a" / "b" / "c" / "s.json"
    async with inline_store(deep) as store:
        await store.save([1])
    assert read_json(deep) == [1]


async def test_default_mode_is_owner_only(autojump_clock: trio.abc.Clock, path: Path) -> None:
    async with inline_store(path) as store:
        await store.save({"pin": "hashed"})
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


async def test_mode_is_exact_whatever_the_umask(autojump_clock: trio.abc.Clock, path: Path) -> None:
    old = os.umask(0o077)
    try:
        async with inline_store(path, mode=0o644) as store:
            await store.save([1])
    finally:
        os.umask(old)
    assert stat.S_IMODE(path.stat().st_mode) == 0o644


async def test_temp_file_has_target_mode_before_data(
    autojump_clock: trio.abc.Clock, path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: list[int] = []
    real_write = _files.OS.write

    def spy(fd: int, data: Any) -> int:
        seen.append(stat.S_IMODE(os.fstat(fd).st_mode))
        return real_write(fd, data)

    monkeypatch.setattr(_files.OS, "write", spy)
    async with inline_store(path, mode=0o640) as store:
        await store.save({"x": 1})
    assert seen and set(seen) == {0o640}


@pytest.mark.parametrize(("durable", "expected"), [(True, 2), (False, 0)])
async def test_durable_fsyncs_file_and_directory(
    autojump_clock: trio.abc.Clock,
    path: Path,
    monkeypatch: pytest.MonkeyPatch,
    durable: bool,
    expected: int,
) -> None:
    synced: list[bool] = []
    real_fsync = _files.OS.fsync

    def spy(fd: int) -> None:
        synced.append(stat.S_ISDIR(os.fstat(fd).st_mode))
        real_fsync(fd)

    monkeypatch.setattr(_files.OS, "fsync", spy)
    async with inline_store(path, durable=durable) as store:
        await store.save({"x": 1})
    assert len(synced) == expected
    if durable:
        assert synced == [False, True]  # the temp file first, the directory after the rename


async def test_stale_temp_files_removed_on_open(autojump_clock: trio.abc.Clock, path: Path) -> None:
    path.parent.mkdir(parents=True)
    leftover = path.parent / ".locks.json.deadbeef.tmp"
    leftover.write_bytes(b'{"half')
    unrelated = path.parent / ".other.json.deadbeef.tmp"
    unrelated.write_bytes(b"x")
    async with inline_store(path):
        assert not leftover.exists()
        assert unrelated.exists()


async def test_no_temp_files_after_writes(autojump_clock: trio.abc.Clock, path: Path) -> None:
    async with inline_store(path) as store:
        for n in range(5):
            await store.save({"n": n})
    assert temp_files(path) == []


async def test_statistics_and_repr_show_no_data(autojump_clock: trio.abc.Clock, path: Path) -> None:
    async with inline_store(path) as store:
        store.delay_save(lambda: {"secret": "271828"}, 5)
        stats = store.statistics()
        assert stats.pending and stats.delayed_calls == 1 and stats.writes == 0
        assert stats.state is StoreState.OPEN
        assert "271828" not in repr(store) and "271828" not in repr(stats)
        await trio.sleep(6)
        assert store.statistics().writes == 1 and not store.pending


@pytest.mark.parametrize(
    "kwargs",
    [
        {"mode": 0o1777},
        {"mode": -1},
        {"max_delay": 0},
        {"close_timeout": 0},
        {"on_corrupt": "ignore"},
        {"version": 0},
    ],
)
async def test_invalid_options_rejected_before_anything_happens(
    autojump_clock: trio.abc.Clock, path: Path, kwargs: Any
) -> None:
    with pytest.raises(ValueError):
        async with inline_store(path, **kwargs):
            pass  # pragma: no cover
    assert not path.parent.exists()


# -- versions and migration --------------------------------------------------------------------


def _write_envelope(path: Path, version: int, minor: int | None, data: Any) -> None:
    import json

    envelope: dict[str, Any] = {"version": version, "data": data}
    if minor is not None:
        envelope["minor_version"] = minor
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(envelope))


async def test_versioned_envelope_written(autojump_clock: trio.abc.Clock, path: Path) -> None:
    async with inline_store(path, version=2, minor_version=3) as store:
        await store.save({"a": 1})
    assert read_json(path) == {"version": 2, "minor_version": 3, "data": {"a": 1}}


async def test_minor_version_default(autojump_clock: trio.abc.Clock, path: Path) -> None:
    async with inline_store(path, version=1) as store:
        await store.save([1])
    assert read_json(path)["minor_version"] == 1


async def test_minor_version_bump_without_migration_accepted_as_is(
    autojump_clock: trio.abc.Clock, path: Path
) -> None:
    _write_envelope(path, 1, 1, {"a": 1})
    async with inline_store(path, version=1, minor_version=2) as store:
        assert await store.load() == {"a": 1}
    assert read_json(path) == {"version": 1, "minor_version": 2, "data": {"a": 1}}


async def test_migrate_minor_not_implemented_accepted_as_is(
    autojump_clock: trio.abc.Clock, path: Path
) -> None:
    _write_envelope(path, 1, 1, {"a": 1})

    def migrate(major: int, minor: int, data: Any) -> Any:
        raise NotImplementedError

    async with inline_store(path, version=1, minor_version=2, migrate=migrate) as store:
        assert await store.load() == {"a": 1}


async def test_migrate_major_not_implemented_raises(
    autojump_clock: trio.abc.Clock, path: Path
) -> None:
    _write_envelope(path, 1, 1, {"a": 1})
    before = path.read_bytes()

    def migrate(major: int, minor: int, data: Any) -> Any:
        raise NotImplementedError

    async with inline_store(path, version=2, migrate=migrate) as store:
        with pytest.raises(StoreVersionError):
            await store.load()
    async with inline_store(path, version=2) as store:
        with pytest.raises(StoreVersionError) as info:
            await store.load()
    assert "1.1" in str(info.value) and "2.1" in str(info.value)
    assert path.read_bytes() == before


async def test_migration_saved_at_once(autojump_clock: trio.abc.Clock, path: Path) -> None:
    _write_envelope(path, 1, 1, {"old": 1})
    calls: list[tuple[int, int]] = []

    def migrate(major: int, minor: int, data: Any) -> Any:
        calls.append((major, minor))
        return {"new": data["old"] + 1}

    encoder = RecordingEncoder()
    async with inline_store(
        path, version=2, minor_version=1, migrate=migrate, encoder=encoder
    ) as store:
        assert await store.load() == {"new": 2}
        assert encoder.times == [0.0]
    assert calls == [(1, 1)]
    assert read_json(path) == {"version": 2, "minor_version": 1, "data": {"new": 2}}


async def test_legacy_file_without_minor_version(
    autojump_clock: trio.abc.Clock, path: Path
) -> None:
    _write_envelope(path, 1, None, {"legacy": True})
    async with inline_store(path, version=1, minor_version=1) as store:
        assert await store.load() == {"legacy": True}


async def test_newer_major_on_disk_refused(autojump_clock: trio.abc.Clock, path: Path) -> None:
    _write_envelope(path, 3, 1, {"future": 1})
    before = path.read_bytes()
    async with inline_store(path, version=2) as store:
        with pytest.raises(StoreVersionError):
            await store.load()
    assert path.read_bytes() == before


async def test_newer_minor_on_disk_read_not_rewritten(
    autojump_clock: trio.abc.Clock, path: Path
) -> None:
    _write_envelope(path, 1, 5, {"newer": 1})
    before = path.read_bytes()
    async with inline_store(path, version=1, minor_version=2) as store:
        assert await store.load() == {"newer": 1}
    assert path.read_bytes() == before


async def test_migration_error_is_typed_and_keeps_file(
    autojump_clock: trio.abc.Clock, path: Path
) -> None:
    _write_envelope(path, 1, 1, {"old": 1})
    before = path.read_bytes()

    def migrate(major: int, minor: int, data: Any) -> Any:
        raise KeyError("missing field")

    async with inline_store(path, version=2, migrate=migrate) as store:
        with pytest.raises(StoreVersionError) as info:
            await store.load()
    assert isinstance(info.value.__cause__, KeyError)
    assert path.read_bytes() == before


@pytest.mark.parametrize(
    "content", ["[1, 2]", '{"data": 1}', '{"version": "1", "data": 1}', '{"version": 1}']
)
async def test_versioned_store_rejects_non_envelope(
    autojump_clock: trio.abc.Clock, path: Path, content: str
) -> None:
    path.parent.mkdir(parents=True)
    path.write_text(content)
    async with inline_store(path, version=1) as store:
        with pytest.raises(StoreCorruptError):
            await store.load()
