"""Autolock timers across a SIGKILL: real processes, real files, the real clock.

A child process (``tests/autolock_crash_child.py``) opens ``open_autolock(path)``, recovers,
starts a timer and reports ``started <id> <end time>`` once ``start()`` returned; the parent
kills it with SIGKILL right after reading that line. Then this process (in a trio test, on the
real clock) or the next child opens the same path and recovers: a timer whose end time passed
while nothing ran fires inside ``recover()``; a future one is ACTIVE again with the very end
time the killed process persisted. A loop of kills at random moments checks that an entry
whose ``start()`` returned is never lost: the door still locks at the next ``recover()``.

The random kill delays come from a seeded RNG; the seed is in every failure message, and
``TRIO_LOCKSYNC_CRASH_SEED=<seed>`` replays the same schedule.
"""

from __future__ import annotations

import contextlib
import datetime
import json
import os
import random
import sys
import time
from pathlib import Path

import attrs
import trio

from trio_locksync.autolock import RecoveryReport, TimerState, open_autolock

from .childprocess import LINE_TIMEOUT, Child, spawn

CHILD_SCRIPT = Path(__file__).with_name("autolock_crash_child.py")
STORE_NAME = "autolock.json"
#: children killed by the loop test, each after a random delay of up to MAX_KILL_DELAY
KILLS = int(os.environ.get("TRIO_LOCKSYNC_AUTOLOCK_KILLS", "20"))
MAX_KILL_DELAY = 0.010
UTC = datetime.UTC


# -- the child process ------------------------------------------------------------------------


def spawn_child(workdir: Path, *args: str) -> contextlib.AbstractContextManager[Child]:
    return spawn([sys.executable, str(CHILD_SCRIPT), *args], workdir / "child.stderr")


@attrs.frozen
class Started:
    timer_id: str
    #: the end time the child's timer reported after start() returned, as ISO-8601
    end_time: str


def start_and_kill(workdir: Path, timer_id: str, duration: float) -> Started:
    """A child recovers (nothing on disk), starts ``timer_id`` and is SIGKILLed as soon as it
    reports that ``start()`` returned. The timer must not have fired in the child."""
    where = f"child starting {timer_id!r} for {duration} s"
    with spawn_child(workdir, str(workdir / STORE_NAME), timer_id, repr(duration)) as child:
        recovered = child.expect(where, "recovered")
        assert recovered[1:] == ["0", "0", "0"], f"{where}: the file was not empty: {recovered}"
        started = child.expect(where, "started")
        late = child.kill(where)
    assert started[1] == timer_id, f"{where}: {started}"
    assert not late, f"{where}: the child said more before the kill landed: {late}"
    return Started(timer_id, started[2])


def on_disk(workdir: Path) -> dict[str, dict[str, object]]:
    """The timers file as the store left it (it is always replaced atomically)."""
    path = workdir / STORE_NAME
    assert path.exists(), f"no timers file: nothing was persisted ({path})"
    raw = json.loads(path.read_bytes())
    assert isinstance(raw, dict)
    return raw


class Recorder:
    """The action of the recovering process: records each timer id it is called with."""

    def __init__(self) -> None:
        self.calls: list[str] = []

    async def __call__(self, timer_id: str) -> None:
        self.calls.append(timer_id)
        await trio.lowlevel.checkpoint()


# -- one kill, then recovery in this process ---------------------------------------------------


async def test_timer_that_expired_while_down_fires_inside_recover(tmp_path: Path) -> None:
    """A child starts "front" for 0.2 s and is SIGKILLed right after ``start()`` returned; the
    end time passes while no process runs. The next ``recover()`` on the same file fires it
    before it returns (expired == 1, the action called with "front" once), the timer ends DONE,
    the entry is removed, and a later recovery does not fire it again."""
    started = start_and_kill(tmp_path, "front", 0.2)
    end_time = datetime.datetime.fromisoformat(started.end_time)
    assert on_disk(tmp_path)["front"]["end_time"] == started.end_time
    await trio.sleep(max(0.0, (end_time - datetime.datetime.now(UTC)).total_seconds()) + 0.1)

    action = Recorder()
    async with open_autolock(tmp_path / STORE_NAME, action=action) as service:
        report = await service.recover()
        assert report == RecoveryReport(expired=1, resumed=0, pruned=0)
        assert action.calls == ["front"]
        timer = service.timer("front")
        assert timer.state is TimerState.DONE
        assert timer.end_time is None
        assert timer.remaining is None
    assert on_disk(tmp_path) == {}

    again = Recorder()
    async with open_autolock(tmp_path / STORE_NAME, action=again) as service:
        assert await service.recover() == RecoveryReport(expired=0, resumed=0, pruned=0)
    assert again.calls == []


async def test_future_timer_resumes_active_with_the_persisted_end_time(tmp_path: Path) -> None:
    """A child starts "front" for an hour and is SIGKILLed right after ``start()`` returned.
    The next ``recover()`` resumes it: ACTIVE, ``end_time`` exactly the one the child reported
    (and the file holds), ``remaining`` within (0, 3600], the action not called; leaving the
    block keeps the entry on disk."""
    started = start_and_kill(tmp_path, "front", 3600.0)
    assert on_disk(tmp_path) == {"front": {"end_time": started.end_time, "duration": 3600.0}}

    action = Recorder()
    async with open_autolock(tmp_path / STORE_NAME, action=action) as service:
        report = await service.recover()
        assert report == RecoveryReport(expired=0, resumed=1, pruned=0)
        timer = service.timer("front")
        assert timer.state is TimerState.ACTIVE
        assert timer.is_running
        assert timer.end_time == datetime.datetime.fromisoformat(started.end_time)
        remaining = timer.remaining
        assert remaining is not None
        assert 0 < remaining <= 3600
        # The wall clock moved on by the child's lifetime and this test, not by more.
        assert remaining > 3600 - LINE_TIMEOUT
        assert action.calls == []
    assert action.calls == []
    assert on_disk(tmp_path) == {"front": {"end_time": started.end_time, "duration": 3600.0}}


# -- kills at random moments -----------------------------------------------------------------


def _pick_seed() -> int:
    configured = os.environ.get("TRIO_LOCKSYNC_CRASH_SEED")
    return int(configured) if configured else random.SystemRandom().randrange(2**32)


@attrs.define
class LoopResult:
    #: timer id -> end time reported by a start() that returned
    acknowledged: dict[str, str] = attrs.Factory(dict)
    #: timers on disk after the last kill
    on_disk: set[str] = attrs.Factory(set)
    #: kills that left the start in flight on disk although it had not reported back
    ahead_of_ack: int = 0


def run_kill_loop(workdir: Path, *, kills: int, seed: int) -> LoopResult:
    """Kill ``kills`` children in turn on one timers file, each a random moment (0-10 ms) after
    its first ``start()`` returned while it keeps starting more timers; check the file after
    each kill, and that the next child's ``recover()`` resumes exactly the timers on disk."""
    rng = random.Random(seed)
    result = LoopResult()
    for kill in range(1, kills + 1):
        where = f"seed={seed} kill {kill}/{kills}"
        prefix = f"door{kill}"
        args = (str(workdir / STORE_NAME), prefix, "3600", "--loop")
        with spawn_child(workdir, *args) as child:
            recovered = child.expect(where, "recovered")
            expected = ["0", str(len(result.on_disk)), "0"]
            assert recovered[1:] == expected, f"{where}: recovery found {recovered[1:]}"
            lines = [" ".join(child.expect(where, "started"))]
            time.sleep(rng.uniform(0.0, MAX_KILL_DELAY))
            lines += child.kill(where)
        for line in lines:
            word, timer_id, end_time = line.split()
            assert word == "started", f"{where}: the child said {line!r}"
            assert timer_id.startswith(prefix), f"{where}: {line!r}"
            result.acknowledged[timer_id] = end_time

        stored = on_disk(workdir)
        for timer_id, end_time in result.acknowledged.items():
            assert timer_id in stored, f"{where}: {timer_id!r} lost although start() returned"
            assert stored[timer_id]["end_time"] == end_time, f"{where}: {timer_id!r} changed"
        lost = result.on_disk - set(stored)
        assert not lost, f"{where}: entries of earlier lives lost: {lost}"
        # New and not acknowledged: at most the one start that was writing when the kill landed.
        ahead = set(stored) - set(result.acknowledged) - result.on_disk
        assert len(ahead) <= 1, f"{where}: unexpected entries {ahead}"
        assert all(t.startswith(prefix) for t in ahead), f"{where}: {ahead}"
        result.ahead_of_ack += len(ahead)
        result.on_disk = set(stored)
    return result


async def test_sigkill_right_after_start_returned_never_loses_the_entry(tmp_path: Path) -> None:
    """Twenty children in turn on one file, each killed 0-10 ms after its first ``start()``
    returned while it keeps starting new timers: after every kill, each timer whose ``start()``
    returned is on disk with the end time it reported (at most one more, the start in flight),
    and the next child's ``recover()`` resumes exactly those. Finally a recovery with the wall
    clock two hours on fires every one of them inside ``recover()``: the doors all lock."""
    seed = _pick_seed()
    print(f"kill loop: TRIO_LOCKSYNC_CRASH_SEED={seed} kills={KILLS}")
    result = run_kill_loop(tmp_path, kills=KILLS, seed=seed)
    assert len(result.acknowledged) >= KILLS
    print(f"{len(result.acknowledged)} starts acknowledged, {result.ahead_of_ack} ahead of ack")

    later = datetime.datetime.now(UTC) + datetime.timedelta(hours=2)
    action = Recorder()
    async with open_autolock(tmp_path / STORE_NAME, action=action, now=lambda: later) as service:
        report = await service.recover()
        assert report == RecoveryReport(expired=len(result.on_disk), resumed=0, pruned=0)
        assert sorted(action.calls) == sorted(result.on_disk), f"seed={seed}"
        assert set(result.acknowledged) <= set(action.calls), f"seed={seed}"
    assert on_disk(tmp_path) == {}
