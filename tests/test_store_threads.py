"""The store with its real worker threads, on the real clock: encoding and I/O leave the trio
thread, a cancelled save never tears the file, and ownership holds across processes."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path
from typing import Any

import pytest
import trio

from trio_locksync import StoreLockedError, open_store
from trio_locksync.store import _files

from .storehelpers import read_json, temp_files


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return tmp_path / "locks.json"


async def test_round_trip_through_worker_threads(path: Path) -> None:
    async with open_store(path) as store:
        await store.save({"slots": list(range(100))})
        assert await store.load() == {"slots": list(range(100))}
        store.delay_save(lambda: {"delayed": True}, 0.01)
    assert read_json(path) == {"delayed": True}


async def test_encoder_and_write_run_off_the_trio_thread(path: Path) -> None:
    trio_thread = threading.get_ident()
    seen: list[int] = []

    def encoder(data: Any) -> bytes:
        seen.append(threading.get_ident())
        return json.dumps(data).encode()

    async with open_store(path, encoder=encoder) as store:
        await store.save({"a": 1})
    assert seen and trio_thread not in seen


async def test_slow_encoder_does_not_block_the_trio_thread(path: Path) -> None:
    """While a 0.3 s encode runs, other trio tasks keep running (the encode is in a thread)."""
    encoding = threading.Event()

    def slow_encoder(data: Any) -> bytes:
        encoding.set()
        time.sleep(0.3)
        return json.dumps(data).encode()

    ticks_during_encode = 0

    async def ticker() -> None:
        nonlocal ticks_during_encode
        while True:
            await trio.sleep(0.01)
            if encoding.is_set():
                ticks_during_encode += 1

    async with open_store(path, encoder=slow_encoder) as store, trio.open_nursery() as nursery:
        nursery.start_soon(ticker)
        await store.save({"a": 1})
        nursery.cancel_scope.cancel()
    assert ticks_during_encode >= 5


async def test_cancelled_save_leaves_old_or_new_never_torn(path: Path) -> None:
    """Cancel a save while its write is in the thread: the file is whole, and a later save is
    never overtaken by the abandoned one (generations order the writes)."""
    gate = threading.Event()
    entered = threading.Event()
    big = {"blob": "x" * 200_000}

    def gated_encoder(data: Any) -> bytes:
        if data.get("gated"):
            entered.set()
            gate.wait(10)
        return json.dumps(data).encode()

    async with open_store(path, encoder=gated_encoder) as store:
        await store.save({"v": "old"})
        async with trio.open_nursery() as nursery:

            async def abandoned_save() -> None:
                await store.save({"v": "abandoned", "gated": True, **big})

            nursery.start_soon(abandoned_save)
            await trio.to_thread.run_sync(entered.wait, 10)  # the write is in its thread
            nursery.cancel_scope.cancel()
        assert read_json(path) == {"v": "old"}
        assert store.pending  # not known to be written: kept

        async def release_later() -> None:
            await trio.sleep(0.05)
            gate.set()

        async with trio.open_nursery() as nursery:
            nursery.start_soon(release_later)
            await store.save({"v": "newest"})
    assert read_json(path) == {"v": "newest"}
    assert temp_files(path) == []


def test_file_writer_skips_older_generations(tmp_path: Path) -> None:
    target = tmp_path / "f.json"
    fd = _files.acquire_owner(target)
    writer = _files.FileWriter(target, mode=0o600, durable=False, lock_fd=fd)
    assert writer.write(2, lambda: b"2")
    assert not writer.write(1, lambda: b"1")
    assert not writer.write(2, lambda: b"2 again")
    assert target.read_bytes() == b"2"
    writer.release()
    with pytest.raises(_files.WriterReleased):  # refused after release, never "skipped"
        writer.write(3, lambda: b"3")
    assert target.read_bytes() == b"2"


async def test_release_waits_for_an_abandoned_write_before_dropping_the_lock(
    tmp_path: Path,
) -> None:
    """The store closes while a cancelled (abandoned) write still runs in its worker thread: the
    owner lock is held until that write is done, so no new owner can interleave with it."""
    target = tmp_path / "f.json"
    fd = await trio.to_thread.run_sync(_files.acquire_owner, target)
    writer = _files.FileWriter(target, mode=0o600, durable=False, lock_fd=fd)
    inside = threading.Event()
    go = threading.Event()
    done = threading.Event()

    def produce() -> bytes:
        inside.set()
        go.wait(10)
        return b"late"

    def write() -> None:
        try:
            writer.write(1, produce)
        finally:
            done.set()

    with trio.CancelScope() as scope:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(lambda: trio.to_thread.run_sync(write, abandon_on_cancel=True))
            await trio.to_thread.run_sync(inside.wait, 10)
            scope.cancel()  # abandon the thread mid-write
    writer.release()
    with pytest.raises(StoreLockedError):
        _files.acquire_owner(target)  # still owned while the write runs
    go.set()
    await trio.to_thread.run_sync(done.wait, 10)
    assert target.read_bytes() == b"late"
    _files.FileWriter(
        target, mode=0o600, durable=False, lock_fd=_files.acquire_owner(target)
    ).release()


CHILD = textwrap.dedent(
    """
    import sys, trio
    from trio_locksync import open_store

    async def main():
        async with open_store(sys.argv[1]) as store:
            await store.save({"owner": "child"})
            print("ready", flush=True)
            await trio.to_thread.run_sync(sys.stdin.readline)

    trio.run(main)
    """
)


async def test_second_owner_in_another_process_fails_at_once(path: Path) -> None:
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, str(path)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert child.stdout is not None and child.stdin is not None
        line = await trio.to_thread.run_sync(child.stdout.readline)
        assert line.strip() == "ready"
        with pytest.raises(StoreLockedError) as info:
            async with open_store(path):
                pass  # pragma: no cover
        assert f"pid {child.pid}" in str(info.value)
        child.stdin.write("\n")
        child.stdin.flush()
        assert await trio.to_thread.run_sync(child.wait, 10) == 0
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
        for stream in (child.stdin, child.stdout):
            if stream is not None:
                stream.close()
    async with open_store(path) as store:
        assert await store.load() == {"owner": "child"}
