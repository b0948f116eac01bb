"""Write faults: the error surfaces, the old file stays intact, the data stays pending and lands
once the fault clears. Faults are injected at the exact OS call (``_files.OS``) in virtual time."""

from __future__ import annotations

import errno
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import trio

from trio_locksync import LockSyncError, StoreWriteError
from trio_locksync.store import _files

from .storehelpers import RecordingEncoder, inline_store, read_json, temp_files

SECRET = "SECRET-PIN-918273"


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return tmp_path / "store" / "locks.json"


class Fault:
    """Makes one OS call fail with ``errno`` while ``active``; counts the failures."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, call: str, code: int) -> None:
        self.active = True
        self.failures = 0
        real: Callable[..., Any] = getattr(_files.OS, call)

        def faulty(*args: Any) -> Any:
            if self.active:
                self.failures += 1
                raise OSError(code, f"injected {errno.errorcode[code]}")
            return real(*args)

        monkeypatch.setattr(_files.OS, call, faulty)


@pytest.mark.parametrize(
    ("call", "code"),
    [
        ("write", errno.ENOSPC),
        ("write", errno.EIO),
        ("fsync", errno.EIO),
        ("replace", errno.EACCES),
        ("open", errno.EROFS),
    ],
)
async def test_os_fault_surfaces_keeps_old_file_and_lands_after_clearing(
    autojump_clock: trio.abc.Clock,
    path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    call: str,
    code: int,
) -> None:
    encoder = RecordingEncoder()
    async with inline_store(path, encoder=encoder) as store:
        await store.save({"v": "old"})
        fault = Fault(monkeypatch, call, code)

        with pytest.raises(StoreWriteError) as info:
            await store.save({"v": "new", "pin": SECRET})
        error = info.value
        assert isinstance(error, LockSyncError)
        assert error.path == str(path)
        assert errno.errorcode[code] in str(error)
        assert "previous file content kept" in str(error)
        assert isinstance(error.__cause__, OSError) and error.__cause__.errno == code
        assert read_json(path) == {"v": "old"}
        assert temp_files(path) == []
        assert store.pending
        assert await store.load() == {"v": "new", "pin": SECRET}

        # Background retries on the exact backoff (1, then 1, 2, 4 s after each failure).
        await trio.sleep(2.5)
        assert fault.failures == 1 + 2  # the save, then retries at t=1 and t=2
        fault.active = False
        await trio.sleep(10)
        assert not store.pending
        assert store.statistics().write_failures == 3
    assert read_json(path) == {"v": "new", "pin": SECRET}
    assert encoder.times[-1] == 4.0  # the retry after the 2 s backoff
    assert SECRET not in caplog.text


async def test_encoder_raising_is_a_write_error_without_data_in_message(
    autojump_clock: trio.abc.Clock, path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    fail = True

    def encoder(data: Any) -> bytes:
        if fail:
            raise ValueError(f"cannot encode {data!r}")  # quotes the data, PIN included
        return b'{"ok": true}'

    async with inline_store(path, encoder=encoder) as store:
        with pytest.raises(StoreWriteError) as info:
            await store.save({"pin": SECRET})
        assert "encoding failed: ValueError" in str(info.value)
        assert SECRET not in str(info.value)
        assert isinstance(info.value.__cause__, ValueError)
        assert not path.exists()
        assert temp_files(path) == []
        fail = False
        await trio.sleep(5)
        assert not store.pending
    assert SECRET not in caplog.text
    assert read_json(path) == {"ok": True}


async def test_encoder_returning_wrong_type_is_a_write_error(
    autojump_clock: trio.abc.Clock, path: Path
) -> None:
    def encoder(data: Any) -> Any:
        return 42

    with pytest.raises(StoreWriteError) as closing:
        async with inline_store(path, encoder=encoder) as store:
            with pytest.raises(StoreWriteError) as info:
                await store.save({"a": 1})
            assert "TypeError" in str(info.value)
    # The final flush tries once more and fails: the error is not swallowed.
    assert "TypeError" in str(closing.value)
    assert not path.exists()


async def test_unencodable_default_json_is_a_write_error(
    autojump_clock: trio.abc.Clock, path: Path
) -> None:
    with pytest.raises(StoreWriteError) as closing:
        async with inline_store(path) as store:
            with pytest.raises(StoreWriteError):
                await store.save({"nan": float("nan")})
            with pytest.raises(StoreWriteError):
                await store.save({"obj": object()})
    assert "encoding failed" in str(closing.value)


async def test_data_func_raising_keeps_pending_and_retries(
    autojump_clock: trio.abc.Clock, path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    calls: list[float] = []

    def data_func() -> dict[str, int]:
        calls.append(trio.current_time())
        if len(calls) < 3:
            raise RuntimeError("model not ready")
        return {"ready": 1}

    async with inline_store(path) as store:
        store.delay_save(data_func, 1)
        await trio.sleep(10)
        assert not store.pending
    assert calls == [1.0, 2.0, 4.0]  # delayed write at 1, retries after 1 s and 2 s backoffs
    assert read_json(path) == {"ready": 1}
    assert sum("could not write" in r.getMessage() for r in caplog.records) == 2


async def test_failed_delayed_save_retries_with_backoff_and_keeps_latest_data(
    autojump_clock: trio.abc.Clock, path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    encoder = RecordingEncoder()
    async with inline_store(path, encoder=encoder) as store:
        fault = Fault(monkeypatch, "fsync", errno.EIO)
        store.delay_save(lambda: {"v": 1}, 1)
        await trio.sleep(1.5)  # write at 1 failed; retry due at 2
        store.delay_save(lambda: {"v": 2}, 30)
        await trio.sleep(4)  # retries at 2 and 4 fail too
        assert fault.failures == 3
        fault.active = False
        await trio.sleep(4)  # retry at 8 succeeds with the newest data
        assert not store.pending
    # Attempts at 1 (failed), then backoff 1, 2, 4: each retry takes the newest data.
    assert encoder.writes == [(1.0, {"v": 1}), (2.0, {"v": 2}), (4.0, {"v": 2}), (8.0, {"v": 2})]
    assert read_json(path) == {"v": 2}
    assert store.statistics().writes == 1


async def test_directory_disappears_then_returns(
    autojump_clock: trio.abc.Clock, path: Path
) -> None:
    async with inline_store(path) as store:
        await store.save({"v": 1})
        shutil.rmtree(path.parent)
        with pytest.raises(StoreWriteError) as info:
            await store.save({"v": 2})
        assert "ENOENT" in str(info.value)
        assert store.pending
        # Not recreated behind the owner's back (a vanished mount must not be papered over).
        await trio.sleep(3)
        assert not path.parent.exists()
        path.parent.mkdir()
        await trio.sleep(10)
        assert not store.pending
    assert read_json(path) == {"v": 2}


async def test_final_flush_failure_propagates_after_logging(
    autojump_clock: trio.abc.Clock,
    path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    with pytest.raises(StoreWriteError) as info:
        async with inline_store(path) as store:
            await store.save({"v": 1})
            Fault(monkeypatch, "write", errno.ENOSPC)
            store.delay_save(lambda: {"v": 2, "pin": SECRET}, 60)
    assert "ENOSPC" in str(info.value)
    assert read_json(path) == {"v": 1}
    assert any("final flush" in r.getMessage() for r in caplog.records)
    assert SECRET not in caplog.text


async def test_final_flush_failure_chains_the_block_error(
    autojump_clock: trio.abc.Clock, path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with pytest.raises(StoreWriteError) as info:
        async with inline_store(path) as store:
            Fault(monkeypatch, "write", errno.EIO)
            store.delay_save(lambda: {"v": 2}, 60)
            raise KeyError("the block's own error")
    chain: list[BaseException] = []
    link: BaseException | None = info.value
    while link is not None:
        chain.append(link)
        link = link.__cause__ or link.__context__
    assert any(isinstance(exc, KeyError) for exc in chain)


async def test_failed_write_never_leaves_a_temp_file(
    autojump_clock: trio.abc.Clock, path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with inline_store(path) as store:
        for call in ("write", "fsync", "replace", "fchmod"):
            with monkeypatch.context() as patch:
                Fault(patch, call, errno.EIO)
                with pytest.raises(StoreWriteError):
                    await store.save({"call": call})
            assert temp_files(path) == [], call
        await store.flush()
    assert read_json(path) == {"call": "fchmod"}


async def test_directory_fsync_failure_reports_and_retries(
    autojump_clock: trio.abc.Clock, path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The rename landed but may not survive power loss: say so, and write again."""
    real_fsync = _files.OS.fsync
    failures: list[int] = []

    def fsync(fd: int) -> None:
        import os
        import stat

        if stat.S_ISDIR(os.fstat(fd).st_mode) and not failures:
            failures.append(fd)
            raise OSError(errno.EIO, "injected")
        real_fsync(fd)

    monkeypatch.setattr(_files.OS, "fsync", fsync)
    async with inline_store(path) as store:
        with pytest.raises(StoreWriteError):
            await store.save({"v": 1})
        assert store.pending
        await trio.sleep(2)
        assert not store.pending
    assert read_json(path) == {"v": 1}


def test_fault_helper_fails_only_while_active(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    fault = Fault(monkeypatch, "unlink", errno.EIO)
    victim = tmp_path / "x"
    victim.write_text("x")
    with pytest.raises(OSError):
        _files.OS.unlink(victim)
    fault.active = False
    _files.OS.unlink(victim)
    assert not victim.exists()
