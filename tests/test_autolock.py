"""Autolock timers in virtual time: keymaster's timer/store/scheduler tests re-expressed, and the
seed's eight race bugs (plus three found upstream later), each forced deterministically.

The race tests say in their docstring which interleaving they force and why the old design
(one object with nullable fields, callbacks scheduled "later", a kmlock captured by reference)
failed it. Here each is ruled out by structure: one authoritative in-memory mirror changed
synchronously, a scheduler whose pending call can be cancelled up to the moment it runs, the
action looked up by id at fire time, and a service nursery that owns every fire.
"""

from __future__ import annotations

import datetime
import math
from pathlib import Path
from typing import Any

import pytest
import trio
import trio.testing

from trio_locksync import (
    AutolockPersistError,
    LockSyncError,
    StoreCorruptError,
    TimerState,
)
from trio_locksync.autolock import (
    AutolockClosedError,
    AutolockNotRecoveredError,
    InvalidDurationError,
    ServiceState,
)
from trio_locksync.core import InvalidTransition

from .autolockhelpers import (
    EPOCH,
    GatedDisk,
    Recorder,
    Wall,
    autolock,
    iso,
    read_timers,
    write_timers,
)


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return tmp_path / "autolock" / "timers.json"


# -- keymaster tests/autolock/test_timer.py ----------------------------------------------------


async def test_constructed_in_fresh_state(autojump_clock: trio.abc.Clock, path: Path) -> None:
    async with autolock(path, Recorder()) as service:
        timer = service.timer("front")
        assert timer.state is TimerState.FRESH
        assert (timer.end_time, timer.remaining, timer.is_running) == (None, None, False)
        assert service.timer("front") is timer


async def test_start_before_recover_raises(autojump_clock: trio.abc.Clock, path: Path) -> None:
    async with autolock(path, Recorder()) as service:
        timer = service.timer("front")
        with pytest.raises(AutolockNotRecoveredError):
            await timer.start(60)
        with pytest.raises(AutolockNotRecoveredError):
            await timer.cancel()
        assert timer.state is TimerState.FRESH
    assert read_timers(path) == {}


async def test_recover_with_no_entry_goes_to_done(
    autojump_clock: trio.abc.Clock, path: Path
) -> None:
    async with autolock(path, Recorder()) as service:
        timer = service.timer("front")
        report = await service.recover()
        assert (report.expired, report.resumed, report.pruned) == (0, 0, 0)
        assert timer.state is TimerState.DONE
        assert service.timer("back").state is TimerState.DONE  # made after recovery


async def test_recover_resumes_active_entry(autojump_clock: trio.abc.Clock, path: Path) -> None:
    write_timers(path, {"front": {"end_time": iso(100), "duration": 600}})
    action = Recorder()
    async with autolock(path, action) as service:
        report = await service.recover()
        assert (report.expired, report.resumed) == (0, 1)
        timer = service.timer("front")
        assert timer.state is TimerState.ACTIVE
        assert timer.remaining == 100
        assert timer.end_time == EPOCH + datetime.timedelta(seconds=100)
        await trio.sleep(200)
        assert action.calls == [("front", 100.0)]
        assert timer.state is TimerState.DONE
    assert read_timers(path) == {}


async def test_recover_fires_expired_entry(autojump_clock: trio.abc.Clock, path: Path) -> None:
    """An entry that expired while the process was down fires at once, awaited inside recover."""
    write_timers(path, {"front": {"end_time": iso(-30), "duration": 60}})
    action = Recorder()
    async with autolock(path, action) as service:
        report = await service.recover()
        assert report.expired == 1
        assert action.finished == ["front"]
        assert trio.current_time() == 0
        assert service.timer("front").state is TimerState.DONE
    assert read_timers(path) == {}


async def test_start_writes_entry_and_schedules(autojump_clock: trio.abc.Clock, path: Path) -> None:
    action = Recorder()
    async with autolock(path, action) as service:
        await service.recover()
        timer = service.timer("front")
        await timer.start(90)
        assert read_timers(path) == {"front": {"end_time": iso(90), "duration": 90.0}}
        assert timer.state is TimerState.ACTIVE
        assert timer.is_running
        await trio.sleep(100)
    assert action.calls == [("front", 90.0)]


async def test_start_replaces_prior_schedule(autojump_clock: trio.abc.Clock, path: Path) -> None:
    action = Recorder()
    async with autolock(path, action) as service:
        await service.recover()
        timer = service.timer("front")
        await timer.start(100)
        await trio.sleep(50)
        await timer.start(100)  # re-arm with the full duration
        assert read_timers(path)["front"]["end_time"] == iso(150)
        await trio.sleep(200)
    assert action.calls == [("front", 150.0)]


async def test_cancel_clears_state_and_store(autojump_clock: trio.abc.Clock, path: Path) -> None:
    action = Recorder()
    async with autolock(path, action) as service:
        await service.recover()
        timer = service.timer("front")
        await timer.start(100)
        await timer.cancel()
        assert timer.state is TimerState.DONE
        assert (timer.end_time, timer.remaining, timer.is_running) == (None, None, False)
        assert read_timers(path) == {}
        await trio.sleep(500)
    assert action.calls == []


async def test_cancel_idempotent(autojump_clock: trio.abc.Clock, path: Path) -> None:
    async with autolock(path, Recorder()) as service:
        await service.recover()
        timer = service.timer("front")
        await timer.cancel()
        await timer.start(10)
        await timer.cancel()
        await timer.cancel()
        assert timer.state is TimerState.DONE


async def test_action_resolves_live_target_at_fire_time(
    autojump_clock: trio.abc.Clock, path: Path
) -> None:
    """The application rebinds what an id means in one synchronous step (a reload swaps the
    lock object); the fire acts on whatever the id means then, never on the orphan."""
    locks: dict[str, dict[str, Any]] = {"front": {"generation": 1, "locked": False}}
    orphan = locks["front"]

    async def action(timer_id: str) -> None:
        locks[timer_id]["locked"] = True

    async with autolock(path, action) as service:
        await service.recover()
        await service.timer("front").start(60)
        await trio.sleep(30)
        locks["front"] = {"generation": 2, "locked": False}  # reload: rebind by id
        await trio.sleep(60)
    assert locks["front"] == {"generation": 2, "locked": True}
    assert orphan["locked"] is False


async def test_cancel_awaits_in_flight_action(autojump_clock: trio.abc.Clock, path: Path) -> None:
    action = Recorder(gate=trio.Event())
    async with autolock(path, action) as service, trio.open_nursery() as nursery:
        await service.recover()
        timer = service.timer("front")
        await timer.start(10)
        await action.started.wait()
        assert timer.state is TimerState.FIRING
        cancelled = trio.Event()

        async def cancel() -> None:
            await timer.cancel()
            cancelled.set()

        nursery.start_soon(cancel)
        await trio.sleep(5)
        assert not cancelled.is_set()  # still waiting for the action
        action.gate.set()  # type: ignore[union-attr]
        await cancelled.wait()
        assert action.finished == ["front"]
        assert timer.state is TimerState.DONE
    assert read_timers(path) == {}


async def test_action_failure_preserves_entry_for_replay(
    autojump_clock: trio.abc.Clock, path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    action = Recorder(fail=2)
    async with autolock(path, action) as service:
        await service.recover()
        timer = service.timer("front")
        await timer.start(10)
        await trio.sleep(10.5)
        assert timer.state is TimerState.ACTIVE  # replay armed
        assert read_timers(path) == {"front": {"end_time": iso(10), "duration": 10.0}}
        assert timer.remaining == 0
        await trio.sleep(10)
        assert service.statistics().action_failures == 2
    # fired at 10, retried after 1 s and then 2 s (exact backoff), then succeeded
    assert action.times == [10.0, 11.0, 13.0]
    assert action.finished == ["front"]
    assert read_timers(path) == {}
    assert "action failed; entry kept for replay" in caplog.text


async def test_start_after_in_process_action_failure_rearms(
    autojump_clock: trio.abc.Clock, path: Path
) -> None:
    action = Recorder(fail=1)
    async with autolock(path, action) as service:
        await service.recover()
        timer = service.timer("front")
        await timer.start(10)
        await trio.sleep(10.5)  # failed at 10, retry due at 11
        await timer.start(100)
        await trio.sleep(200)
    assert action.times == [10.0, 110.5]


async def test_recovery_action_failure_preserves_entry(
    autojump_clock: trio.abc.Clock, path: Path
) -> None:
    write_timers(path, {"front": {"end_time": iso(-5), "duration": 60}})
    action = Recorder(fail=1)
    async with autolock(path, action) as service:
        report = await service.recover()
        assert report.expired == 1
        assert service.timer("front").state is TimerState.ACTIVE
        assert "front" in read_timers(path)
        await trio.sleep(5)
    assert action.times == [0.0, 1.0]
    assert read_timers(path) == {}


async def test_action_with_missing_target_clears_state_terminally(
    autojump_clock: trio.abc.Clock, path: Path
) -> None:
    action = Recorder(gone={"front"})
    async with autolock(path, action) as service:
        await service.recover()
        timer = service.timer("front")
        await timer.start(10)
        await trio.sleep(1000)
        assert timer.state is TimerState.DONE
        assert service.statistics().targets_gone == 1
    assert action.times == [10.0]  # no replays
    assert read_timers(path) == {}


async def test_cross_timer_writes_dont_clobber(autojump_clock: trio.abc.Clock, path: Path) -> None:
    async with autolock(path, Recorder()) as service, trio.open_nursery() as nursery:
        await service.recover()
        for n, name in enumerate(("front", "back", "garage")):
            nursery.start_soon(service.timer(name).start, 100 + n)
    assert set(read_timers(path)) == {"front", "back", "garage"}


async def test_parse_naive_datetime_as_utc(autojump_clock: trio.abc.Clock, path: Path) -> None:
    naive = (EPOCH + datetime.timedelta(seconds=40)).replace(tzinfo=None).isoformat()
    write_timers(path, {"front": {"end_time": naive, "duration": 60}})
    action = Recorder()
    async with autolock(path, action) as service:
        await service.recover()
        assert service.timer("front").end_time == EPOCH + datetime.timedelta(seconds=40)
        await trio.sleep(50)
    assert action.times == [40.0]


@pytest.mark.parametrize(
    ("entry", "reason"),
    [
        ("not a mapping", "entry is not a mapping"),
        ({"end_time": "tomorrow", "duration": 5}, "not an ISO-8601"),
        ({"end_time": 12, "duration": 5}, "end_time is missing"),
        ({"duration": 5}, "end_time is missing"),
        ({"end_time": iso(10), "duration": -1}, "negative"),
        ({"end_time": iso(10), "duration": True}, "not a number"),
        ({"end_time": iso(10), "duration": "5"}, "not a number"),
    ],
)
async def test_timer_entry_validation_prunes_and_logs(
    autojump_clock: trio.abc.Clock,
    path: Path,
    caplog: pytest.LogCaptureFixture,
    entry: Any,
    reason: str,
) -> None:
    write_timers(path, {"bad": entry, "good": {"end_time": iso(10), "duration": 60}})
    async with autolock(path, Recorder()) as service:
        report = await service.recover()
        assert (report.pruned, report.resumed) == (1, 1)
        assert service.timer("bad").state is TimerState.DONE
    assert reason in caplog.text
    assert set(read_timers(path)) <= {"good"}


async def test_recover_prunes_empty_timer_id_and_fires_every_valid_entry(
    autojump_clock: trio.abc.Clock, path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A stored key "" once made every recover() raise ValueError, so no timer ever fired again
    after a restart. It is pruned at load like any malformed entry; the others all fire."""
    write_timers(
        path,
        {
            "": {"end_time": iso(50), "duration": 60},  # a valid entry under an invalid id
            "front": {"end_time": iso(-30), "duration": 60},  # expired while down
            "back": {"end_time": iso(100), "duration": 600},
        },
    )
    action = Recorder()
    async with autolock(path, action) as service:
        report = await service.recover()
        assert (report.expired, report.resumed, report.pruned) == (1, 1, 1)
        assert action.calls == [("front", 0.0)]  # fired inside recover()
        assert action.finished == ["front"]
        assert "" not in read_timers(path)  # the pruned file was saved at load
        back = service.timer("back")
        assert back.state is TimerState.ACTIVE
        assert back.remaining == 100
        await trio.sleep(99.5)
        assert action.calls == [("front", 0.0)]
        await trio.sleep(1)
        assert action.calls == [("front", 0.0), ("back", 100.0)]
        assert back.state is TimerState.DONE
        assert set(service.timers) == {"front", "back"}
    assert read_timers(path) == {}
    assert "pruned stored timer '': timer id is empty" in caplog.text


@pytest.mark.parametrize(
    ("timer_id", "reason"),
    [
        ("", "timer id is empty"),
        ("\ud800", "timer id is not valid Unicode"),  # lone surrogate: can't be written back
    ],
    ids=["empty", "lone-surrogate"],
)
async def test_recover_prunes_every_unusable_timer_id(
    autojump_clock: trio.abc.Clock,
    path: Path,
    caplog: pytest.LogCaptureFixture,
    timer_id: str,
    reason: str,
) -> None:
    # json.dumps writes a lone surrogate as the escape \ud800; json.loads reads it back as one.
    write_timers(
        path,
        {
            timer_id: {"end_time": iso(10), "duration": 60},
            "ok": {"end_time": iso(20), "duration": 60},
        },
    )
    action = Recorder()
    async with autolock(path, action) as service:
        report = await service.recover()
        assert (report.pruned, report.resumed) == (1, 1)
        await service.timer("later").start(30)  # the file can be written again
        await trio.sleep(40)
    assert action.calls == [("ok", 20.0), ("later", 30.0)]
    assert reason in caplog.text
    assert read_timers(path) == {}


async def test_whitespace_timer_id_is_a_valid_id(
    autojump_clock: trio.abc.Clock, path: Path
) -> None:
    """Ids are opaque: " " is accepted by timer(), so a persisted " " entry must survive a restart
    and fire (pruning it would silently drop a door's autolock)."""
    write_timers(path, {" ": {"end_time": iso(10), "duration": 60}})
    action = Recorder()
    async with autolock(path, action) as service:
        report = await service.recover()
        assert (report.pruned, report.resumed) == (0, 1)
        await trio.sleep(20)
    assert action.calls == [(" ", 10.0)]


async def test_timer_refuses_ids_the_store_would_prune(
    autojump_clock: trio.abc.Clock, path: Path
) -> None:
    async with autolock(path, Recorder()) as service:
        await service.recover()
        for bad in ("", "\ud800", 7):
            with pytest.raises(ValueError, match="timer id"):
                service.timer(bad)  # type: ignore[arg-type]
        assert service.timers == {}


@pytest.mark.parametrize("content", [b"{not json", b"[1, 2]", b""])
async def test_timer_store_read_corrupt(
    autojump_clock: trio.abc.Clock, path: Path, content: bytes
) -> None:
    path.parent.mkdir(parents=True)
    path.write_bytes(content)
    with pytest.raises(StoreCorruptError):
        async with autolock(path, Recorder()):
            pass  # pragma: no cover
    assert path.read_bytes() == content  # kept for the user to inspect


# -- keymaster tests/autolock/test_scheduler.py, at the timer level ----------------------------


async def test_fires_after_delay_exactly(autojump_clock: trio.abc.Clock, path: Path) -> None:
    action = Recorder()
    async with autolock(path, action) as service:
        await service.recover()
        await service.timer("front").start(0.25)
        await trio.sleep(1)
    assert action.times == [0.25]


async def test_cancel_swallows_action_exception(autojump_clock: trio.abc.Clock, path: Path) -> None:
    action = Recorder(gate=trio.Event(), fail=1)
    async with autolock(path, action) as service:
        await service.recover()
        timer = service.timer("front")
        await timer.start(1)
        await action.started.wait()
        async with trio.open_nursery() as nursery:
            nursery.start_soon(timer.cancel)
            await trio.testing.wait_all_tasks_blocked()
            action.gate.set()  # type: ignore[union-attr]
        assert timer.state is TimerState.DONE  # the failure did not escape cancel()
        await trio.sleep(10)
        assert action.times == [1.0]  # and its retry was dropped
    assert read_timers(path) == {}


async def test_close_interrupting_an_action_keeps_the_entry(
    autojump_clock: trio.abc.Clock, path: Path
) -> None:
    """An action still running when the close grace ends is cancelled; the cancellation does not
    escape, and the entry stays for the next recover()."""
    action = Recorder(gate=trio.Event())
    async with autolock(path, action, close_timeout=3) as service:
        await service.recover()
        await service.timer("front").start(1)
        await action.started.wait()
    assert trio.current_time() == 1 + 3
    assert service.timer("front").state is TimerState.DETACHED
    assert "front" in read_timers(path)


async def test_action_failing_during_close_keeps_entry_without_crashing(
    autojump_clock: trio.abc.Clock, path: Path
) -> None:
    """The action was running when the block exited and then failed: its retry cannot be
    scheduled any more, so the entry simply stays for the next recover()."""
    action = Recorder(gate=trio.Event(), fail=1)

    async def release_later() -> None:
        await trio.sleep(3)
        action.gate.set()  # type: ignore[union-attr]

    async with trio.open_nursery() as nursery:
        nursery.start_soon(release_later)
        async with autolock(path, action, close_timeout=30) as service:
            await service.recover()
            await service.timer("front").start(1)
            await action.started.wait()
    assert service.timer("front").state is TimerState.DETACHED
    assert "front" in read_timers(path)
    replay = Recorder()
    async with autolock(path, replay) as service:
        assert (await service.recover()).expired == 1
    assert replay.finished == ["front"]


async def test_recover_after_close_raises_closed(
    autojump_clock: trio.abc.Clock, path: Path
) -> None:
    async with autolock(path, Recorder()) as service:
        pass
    with pytest.raises(AutolockClosedError):
        await service.recover()


# -- the seed's eight bugs ---------------------------------------------------------------------


async def test_bug1_persist_cancel_race_no_missing_end_time(
    autojump_clock: trio.abc.Clock, path: Path
) -> None:
    """#594: cancel() ran while start()'s persist was queued; the persist then read the
    end_time cancel had nulled (AttributeError on None.isoformat()). Forced: the disk holds
    start's write; cancel runs meanwhile. The entry is built before anything is awaited and the
    mirror changes in call order, so the later cancel wins, in memory and on disk."""
    disk = GatedDisk()
    action = Recorder()
    async with autolock(path, action, run_blocking=disk) as service:
        await service.recover()
        timer = service.timer("front")
        disk.close()
        async with trio.open_nursery() as nursery:
            nursery.start_soon(timer.start, 60)
            await trio.testing.wait_all_tasks_blocked()
            assert disk.waiting == 1
            nursery.start_soon(timer.cancel)
            await trio.testing.wait_all_tasks_blocked()
            disk.open()
        assert timer.state is TimerState.DONE
        await trio.sleep(100)
    assert action.calls == []
    assert read_timers(path) == {}


async def test_bug2_cross_timer_overwrite_in_shared_store(
    autojump_clock: trio.abc.Clock, path: Path
) -> None:
    """Two timers share one file; each did load→modify→save, so a slow save of A could write a
    file read before B's change (B lost). Forced: A's write is held while B starts. Both land:
    there is one authoritative mirror and every save writes all of it."""
    disk = GatedDisk()
    async with autolock(path, Recorder(), run_blocking=disk) as service:
        await service.recover()
        disk.close()
        async with trio.open_nursery() as nursery:
            nursery.start_soon(service.timer("a").start, 60)
            await trio.testing.wait_all_tasks_blocked()
            nursery.start_soon(service.timer("b").start, 70)
            await trio.testing.wait_all_tasks_blocked()
            disk.open()
    assert set(read_timers(path)) == {"a", "b"}


async def test_bug3_setup_reads_stale_store_while_previous_write_queued(
    autojump_clock: trio.abc.Clock, path: Path
) -> None:
    """Setup of a reloaded timer read the store while the outgoing timer's write was still
    queued, and saw no entry. Forced: the write is held; the "reload" looks the timer up again
    and then the service is closed and reopened. The state comes from the mirror (never stale),
    and the close flushes the queued write, so the reopened service recovers it."""
    disk = GatedDisk()
    async with autolock(path, Recorder(), run_blocking=disk) as service:
        await service.recover()
        disk.close()
        async with trio.open_nursery() as nursery:
            nursery.start_soon(service.timer("front").start, 60)
            await trio.testing.wait_all_tasks_blocked()
            again = service.timer("front")
            assert again.state is TimerState.ACTIVE
            assert again.end_time == EPOCH + datetime.timedelta(seconds=60)
            disk.open()
    action = Recorder()
    async with autolock(path, action) as service:
        assert (await service.recover()).resumed == 1
        await trio.sleep(100)
    assert action.times == [60.0]


async def test_bug4_concurrent_setups_recover_once(
    autojump_clock: trio.abc.Clock, path: Path
) -> None:
    """Two setups of one timer id both scheduled recovery, so the replay fired twice. Here
    recovery is one call on the service: a second recover() raises and changes nothing, and an
    expired entry fires exactly once."""
    write_timers(path, {"front": {"end_time": iso(-1), "duration": 60}})
    action = Recorder()
    async with autolock(path, action) as service:
        outcomes: list[str] = []

        async def setup() -> None:
            try:
                await service.recover()
                outcomes.append("recovered")
            except InvalidTransition:
                outcomes.append("refused")

        async with trio.open_nursery() as nursery:
            nursery.start_soon(setup)
            nursery.start_soon(setup)
        assert sorted(outcomes) == ["recovered", "refused"]
    assert action.calls == [("front", 0.0)]


async def test_bug5_fire_racing_detach_never_acts_on_orphan(
    autojump_clock: trio.abc.Clock, path: Path
) -> None:
    """The fire raced a config-entry reload and locked the orphaned kmlock object. Forced: the
    lock is removed (its id unbound) just before the deadline. The action resolves the id at
    fire time, finds nothing, reports the target gone, and the timer ends for good."""
    locks: dict[str, list[str]] = {"front": []}

    async def action(timer_id: str) -> None:
        from trio_locksync import AutolockTargetGone

        target = locks.get(timer_id)
        if target is None:
            raise AutolockTargetGone(timer_id)
        target.append("locked")

    async with autolock(path, action) as service:
        await service.recover()
        timer = service.timer("front")
        await timer.start(10)
        await trio.sleep(9.5)
        orphan = locks.pop("front")  # the reload removed the lock
        await trio.sleep(1)
        assert timer.state is TimerState.DONE
    assert orphan == []
    assert read_timers(path) == {}


async def test_bug6_storage_failure_at_expiry_still_runs_action(
    autojump_clock: trio.abc.Clock, path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A storage error while clearing the entry at expiry aborted the fire before the lock was
    locked. Here the action runs first and the removal never blocks it; a failed removal is
    retried by the store, and the action is not repeated in this process."""
    import errno

    from trio_locksync.store import _files

    action = Recorder()
    async with autolock(path, action) as service:
        await service.recover()
        timer = service.timer("front")
        await timer.start(10)
        real = _files.OS.replace

        def failing(*args: Any) -> None:
            raise OSError(errno.EIO, "injected")

        monkeypatch.setattr(_files.OS, "replace", failing)
        await trio.sleep(10.5)
        assert action.finished == ["front"]
        assert timer.state is TimerState.DONE
        assert "front" in read_timers(path)  # removal not on disk yet
        monkeypatch.setattr(_files.OS, "replace", real)
        await trio.sleep(10)
        assert read_timers(path) == {}
    assert action.calls == [("front", 10.0)]


async def test_bug7_close_awaits_in_flight_action(
    autojump_clock: trio.abc.Clock, path: Path
) -> None:
    """detach() did not await in-flight callbacks, so their mutations were lost. Here leaving the
    service block waits (shielded, up to close_timeout) for a running action to finish."""
    action = Recorder(gate=trio.Event())

    async def release_later() -> None:
        await trio.sleep(12)
        action.gate.set()  # type: ignore[union-attr]

    async with trio.open_nursery() as nursery:
        nursery.start_soon(release_later)
        async with autolock(path, action, close_timeout=30) as service:
            await service.recover()
            await service.timer("front").start(10)
            await action.started.wait()
        assert trio.current_time() == 12
    assert action.finished == ["front"]
    assert read_timers(path) == {}


async def test_bug8_close_keeps_a_start_whose_write_had_not_run(
    autojump_clock: trio.abc.Clock, path: Path
) -> None:
    """detach() lost a start() whose persist was still queued. Forced: start's write is held
    by the disk when the service block exits. The entry is in the mirror from the moment start
    was called, so the store's final flush writes it and the next recover() resumes it."""
    disk = GatedDisk()
    outcome: list[BaseException] = []

    async def start(service: Any) -> None:
        try:
            await service.timer("front").start(60)
        except LockSyncError as exc:
            outcome.append(exc)

    async with trio.open_nursery() as nursery:

        async def owner() -> None:
            async with autolock(path, Recorder(), run_blocking=disk) as service:
                await service.recover()
                disk.close()
                nursery.start_soon(start, service)
                await trio.testing.wait_all_tasks_blocked()
            # leaving: the store's final flush waits for the disk

        async def release() -> None:
            await trio.sleep(1)
            disk.open()

        nursery.start_soon(owner)
        nursery.start_soon(release)
    assert read_timers(path) == {"front": {"end_time": iso(60), "duration": 60.0}}
    action = Recorder()
    async with autolock(path, action) as service:
        assert (await service.recover()).resumed == 1
        await trio.sleep(100)
    assert action.times == [60.0]


# -- fixed upstream later -----------------------------------------------------------------------


async def test_cancel_after_deadline_before_action_started_wins(
    autojump_clock: trio.abc.Clock, path: Path
) -> None:
    """#671: the fire had been dispatched (deadline passed) but not started when cancel() came,
    and the action ran anyway. Forced: the scheduler starts the due call's task, and cancel()
    is called before that task runs. cancel() decides before its first checkpoint."""
    action = Recorder()
    async with autolock(path, action) as service:
        await service.recover()
        timer = service.timer("front")
        await timer.start(10)
        service._context.scheduler._start_due(trio.current_time() + 10)  # dispatched, not started
        await timer.cancel()
        await trio.testing.wait_all_tasks_blocked()
        await trio.sleep(100)
        assert timer.state is TimerState.DONE
    assert action.calls == []
    assert read_timers(path) == {}


async def test_start_cancel_interleave_never_crashes(
    autojump_clock: trio.abc.Clock, path: Path
) -> None:
    """Interleaved start/cancel calls crashed on half-updated state. Forced: every write is held
    while start, cancel, start, cancel, start are issued from separate tasks in that order. The
    last call wins, in memory and on disk."""
    disk = GatedDisk()
    action = Recorder()
    async with autolock(path, action, run_blocking=disk) as service:
        await service.recover()
        timer = service.timer("front")
        disk.close()
        async with trio.open_nursery() as nursery:
            for op in ("start", "cancel", "start", "cancel", "start"):
                if op == "start":
                    nursery.start_soon(timer.start, 30)
                else:
                    nursery.start_soon(timer.cancel)
                await trio.testing.wait_all_tasks_blocked()
            disk.open()
        assert timer.state is TimerState.ACTIVE
        assert read_timers(path) == {"front": {"end_time": iso(30), "duration": 30.0}}
        await trio.sleep(60)
    assert action.calls == [("front", 30.0)]


async def test_startup_arm_does_not_overwrite_preserved_replay_entry(
    autojump_clock: trio.abc.Clock, path: Path
) -> None:
    """#703: at startup the integration armed the timer (lock found unlocked) and overwrote the
    preserved entry of a failed earlier fire, so the replay never happened. Forced: start() is
    called while recover() is firing the preserved entry. start() waits for recovery, the
    replay fires first, and only then the new arm is made."""
    write_timers(path, {"front": {"end_time": iso(-60), "duration": 30}})
    action = Recorder(gate=trio.Event())
    async with autolock(path, action) as service, trio.open_nursery() as nursery:
        nursery.start_soon(service.recover)
        await action.started.wait()  # the replay is running inside recover()
        nursery.start_soon(service.timer("front").start, 100)
        await trio.sleep(1)
        assert action.calls == [("front", 0.0)]
        action.gate.set()  # type: ignore[union-attr]
        await trio.sleep(200)
    assert action.times == [0.0, 101.0]


# -- service lifecycle, clocks, validation -----------------------------------------------------


async def test_close_leaves_sleeping_entries_on_disk(
    autojump_clock: trio.abc.Clock, path: Path
) -> None:
    async with autolock(path, Recorder()) as service:
        await service.recover()
        timer = service.timer("front")
        await timer.start(600)
    assert timer.state is TimerState.DETACHED
    assert service.state is ServiceState.CLOSED
    assert "front" in read_timers(path)
    with pytest.raises(AutolockClosedError):
        await timer.start(5)
    with pytest.raises(AutolockClosedError):
        service.timer("new")


async def test_wall_clock_jump_back_cannot_delay_beyond_duration(
    autojump_clock: trio.abc.Clock, path: Path
) -> None:
    """Between start and recover the wall clock went back a year (dead RTC battery). The timer
    waits no longer than its full duration."""
    wall = Wall()
    async with autolock(path, Recorder(), now=wall) as service:
        await service.recover()
        await service.timer("front").start(60)
    wall.jump = -365 * 86400.0
    action = Recorder()
    async with autolock(path, action, now=wall) as service:
        await service.recover()
        assert service.timer("front").remaining == 60
        await trio.sleep(120)
    assert action.times == [60.0]


async def test_wall_clock_jump_forward_fires_early(
    autojump_clock: trio.abc.Clock, path: Path
) -> None:
    wall = Wall()
    async with autolock(path, Recorder(), now=wall) as service:
        await service.recover()
        await service.timer("front").start(3600)
    wall.jump = 3000.0
    action = Recorder()
    async with autolock(path, action, now=wall) as service:
        await service.recover()
        await trio.sleep(4000)
    assert action.times == [600.0]


@pytest.mark.parametrize("duration", [0, -1, math.nan, math.inf, 86400.5, True, "60"])
async def test_invalid_durations_rejected(
    autojump_clock: trio.abc.Clock, path: Path, duration: Any
) -> None:
    async with autolock(path, Recorder()) as service:
        await service.recover()
        timer = service.timer("front")
        with pytest.raises(InvalidDurationError):
            await timer.start(duration)
        assert timer.state is TimerState.DONE
    assert read_timers(path) == {}


async def test_max_duration_is_configurable(autojump_clock: trio.abc.Clock, path: Path) -> None:
    async with autolock(path, Recorder(), max_duration=120) as service:
        await service.recover()
        await service.timer("front").start(120)
        with pytest.raises(InvalidDurationError):
            await service.timer("front").start(121)


async def test_changes_yield_each_state(autojump_clock: trio.abc.Clock, path: Path) -> None:
    seen: list[TimerState] = []
    action = Recorder(gate=trio.Event())
    async with autolock(path, action) as service, trio.open_nursery() as nursery:
        await service.recover()
        timer = service.timer("front")

        async def watch() -> None:
            async for state in timer.changes():
                seen.append(state)
                if state is TimerState.DONE:
                    return

        nursery.start_soon(watch)
        await trio.testing.wait_all_tasks_blocked()
        await timer.start(5)
        await action.started.wait()
        action.gate.set()  # type: ignore[union-attr]
    assert seen == [TimerState.ACTIVE, TimerState.FIRING, TimerState.DONE]


async def test_changes_miss_nothing_and_end_when_the_service_closes(
    autojump_clock: trio.abc.Clock, path: Path
) -> None:
    """Read only after everything happened: every change of state is there, in order (a re-arm
    or a second cancel is not a change); the iterator ends after DETACHED."""
    async with autolock(path, Recorder()) as service:
        await service.recover()
        timer = service.timer("front")
        changes = timer.changes()
        await timer.start(5)
        await trio.sleep(10)
        await timer.start(5)
        await timer.start(5)
        await timer.cancel()
        await timer.cancel()
    seen = [state async for state in changes]
    assert seen == [
        TimerState.ACTIVE,
        TimerState.FIRING,
        TimerState.DONE,
        TimerState.ACTIVE,
        TimerState.DONE,
        TimerState.DETACHED,
    ]
    assert [state async for state in timer.changes()] == []  # detached: ends at once


async def test_values_yield_the_latest_state(autojump_clock: trio.abc.Clock, path: Path) -> None:
    action = Recorder(gate=trio.Event())
    async with autolock(path, action) as service:
        await service.recover()
        timer = service.timer("front")
        values = timer.values()
        await timer.start(5)
        await action.started.wait()
        assert await anext(values) is TimerState.FIRING  # ACTIVE came and went unread
        action.gate.set()  # type: ignore[union-attr]
        assert await anext(values) is TimerState.DONE
        assert trio.current_time() == 5


async def test_start_persist_failure_keeps_timer_armed(
    autojump_clock: trio.abc.Clock, path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import errno

    from trio_locksync.store import _files

    action = Recorder()
    async with autolock(path, action) as service:
        await service.recover()
        real = _files.OS.write

        def failing(*args: Any) -> int:
            raise OSError(errno.ENOSPC, "injected")

        monkeypatch.setattr(_files.OS, "write", failing)
        with pytest.raises(AutolockPersistError) as info:
            await service.timer("front").start(30)
        assert info.value.armed
        assert "armed in this process" in str(info.value)
        monkeypatch.setattr(_files.OS, "write", real)
        await trio.sleep(40)
    assert action.times == [30.0]  # the door still locked


async def test_statistics(autojump_clock: trio.abc.Clock, path: Path) -> None:
    action = Recorder(fail=1)
    async with autolock(path, action) as service:
        await service.recover()
        await service.timer("a").start(5)
        await service.timer("b").start(500)
        await trio.sleep(10)
        stats = service.statistics()
    assert (stats.timers, stats.armed, stats.fires, stats.action_failures) == (2, 1, 2, 1)


def test_invalid_service_options() -> None:
    async def main() -> None:
        for kwargs in ({"max_duration": 0}, {"close_timeout": 0}):
            with pytest.raises(ValueError):
                async with autolock(Path("/nonexistent/x.json"), Recorder(), **kwargs):
                    pass  # pragma: no cover

    trio.run(main)
