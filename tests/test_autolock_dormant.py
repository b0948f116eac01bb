"""Dormant timers: what ``recover()`` resumes without making an object, in virtual time.

A resumed timer nobody touched is a ``(deadline, id)`` tuple until it is read, started,
cancelled, or ``_PROMOTE_LEAD`` seconds from its deadline. Each test checks that this is not
observable: the same deadlines (from recover()'s one clock pair), the same view, the same counts,
one fire each, and a cancel that still wins.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import trio

from trio_locksync import TimerState
from trio_locksync.autolock import ServiceState
from trio_locksync.autolock._entry import TimerEntry
from trio_locksync.autolock._service import _PROMOTE_LEAD
from trio_locksync.store import json_encoder
from trio_locksync.store._codec import EncodedValues

from .autolockhelpers import Recorder, Wall, autolock, iso, read_timers, write_timers


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return tmp_path / "autolock" / "timers.json"


def three(path: Path) -> None:
    write_timers(
        path,
        {
            "a": {"end_time": iso(10), "duration": 60},
            "b": {"end_time": iso(20), "duration": 60},
            "c": {"end_time": iso(30), "duration": 60},
        },
    )


async def test_untouched_timers_have_no_object_until_near_their_deadline(
    autojump_clock: trio.abc.Clock, path: Path
) -> None:
    three(path)
    action = Recorder()
    async with autolock(path, action) as service:
        await service.recover()
        assert service._timers == {}  # all three dormant
        stats = service.statistics()
        assert (stats.timers, stats.armed) == (3, 3)
        await trio.sleep(10 - _PROMOTE_LEAD / 2)
        assert set(service._timers) == {"a"}  # promoted, its call armed at its deadline
        assert service._timers["a"]._call is not None
        assert service._timers["a"]._call.deadline == 10.0
        await trio.sleep(30)
    assert action.calls == [("a", 10.0), ("b", 20.0), ("c", 30.0)]  # each once, on time
    assert read_timers(path) == {}


async def test_touching_a_dormant_timer_arms_it_from_recovers_clock_pair(
    autojump_clock: trio.abc.Clock, path: Path
) -> None:
    three(path)
    wall = Wall()
    action = Recorder()
    async with autolock(path, action, now=wall) as service:
        await service.recover()
        await trio.sleep(2)
        wall.jump = 1000.0  # the wall clock jumps after recover(): the deadline must not move
        b = service.timer("b")
        assert b.state is TimerState.ACTIVE
        assert b._call is not None
        assert b._call.deadline == 20.0
        assert service.timer("b") is b
        stats = service.statistics()
        assert (stats.timers, stats.armed) == (3, 3)
        wall.jump = 0.0
        await trio.sleep(40)
    assert action.calls == [("a", 10.0), ("b", 20.0), ("c", 30.0)]


async def test_cancel_of_a_dormant_timer_wins(autojump_clock: trio.abc.Clock, path: Path) -> None:
    three(path)
    action = Recorder()
    async with autolock(path, action) as service:
        await service.recover()
        await service.timer("b").cancel()
        assert read_timers(path).keys() == {"a", "c"}  # durable when cancel() returned
        await trio.sleep(40)
    assert action.calls == [("a", 10.0), ("c", 30.0)]


async def test_cancel_after_promotion_before_the_fire_wins(
    autojump_clock: trio.abc.Clock, path: Path
) -> None:
    three(path)
    action = Recorder()
    async with autolock(path, action) as service:
        await service.recover()
        await trio.sleep(20 - _PROMOTE_LEAD / 2)  # "b" promoted, its call pending
        assert "b" in service._timers
        await service.timer("b").cancel()
        await trio.sleep(40)
    assert action.calls == [("a", 10.0), ("c", 30.0)]


async def test_timers_view_lists_and_makes_dormant_timers(
    autojump_clock: trio.abc.Clock, path: Path
) -> None:
    three(path)
    async with autolock(path, Recorder()) as service:
        await service.recover()
        view = service.timers
        assert len(view) == 3
        assert "c" in view
        assert "zzz" not in view
        assert sorted(view) == ["a", "b", "c"]
        assert service._timers == {}  # listing made nothing
        assert view["c"].state is TimerState.ACTIVE  # reading made "c"
        assert set(service._timers) == {"c"}
        assert {name: t.state for name, t in view.items()} == dict.fromkeys(
            "abc", TimerState.ACTIVE
        )
        with pytest.raises(KeyError):
            view["zzz"]
        assert len(view) == 3
    assert {name: t.state for name, t in service.timers.items()} == dict.fromkeys(
        "abc", TimerState.DETACHED
    )


async def test_dormant_timers_are_detached_after_close_and_stay_on_disk(
    autojump_clock: trio.abc.Clock, path: Path
) -> None:
    three(path)
    async with autolock(path, Recorder()) as service:
        await service.recover()
    assert service.statistics().armed == 0
    assert service.timer("b").state is TimerState.DETACHED  # a dormant one, made after close
    assert read_timers(path).keys() == {"a", "b", "c"}


async def test_timer_touched_during_recover_after_its_id_went_dormant(
    autojump_clock: trio.abc.Clock, path: Path
) -> None:
    """A task that calls timer(id) while recover() yields, for an id recover() already put in
    the dormant heap: the object is made FRESH, claimed at the end of recover() with the same
    clock pair, and the stale heap entry never fires it twice."""
    entries = {f"t{i:04d}": {"end_time": iso(50 + i), "duration": 6000} for i in range(2500)}
    write_timers(path, entries)
    action = Recorder()
    async with autolock(path, action) as service, trio.open_nursery() as nursery:
        seen: list[TimerState] = []

        async def touch() -> None:
            while service.state is not ServiceState.RECOVERING:
                await trio.lowlevel.checkpoint()
            # recover() yielded after its first 1,000 entries: "t0000" is in the heap already
            seen.append(service.timer("t0000").state)

        nursery.start_soon(touch)
        await service.recover()
        assert seen == [TimerState.FRESH]
        t0 = service.timer("t0000")
        assert t0.state is TimerState.ACTIVE
        assert t0._call is not None
        assert t0._call.deadline == 50.0
        await trio.sleep(3000)
    assert action.calls == [(name, 50.0 + i) for i, name in enumerate(entries)]


@pytest.mark.parametrize(
    "end_time",
    [
        "2026-12-06T20:00:00+00:00",
        "2026-12-06T20:00:00.123456+00:00",
        "2026-12-06T20:00:00.000000+00:00",  # fraction of 0: isoformat() drops it
        "2026-12-06 20:00:00+00:00",
        "2026-12-06T20:00:00Z",
        "2026-12-06T20:00:00-00:00",
        "2026-12-06T20:00:00.123+00:00",
        "2026-12-06T20:00:00,123456+00:00",
        "2026-W49-7T20:00:00+00:00",
        "20261206T200000+00:00",
        "2026-12-06T20:00:00.1234+00:00",
        "2026-12-06T20:00:00+01:00",
        "2026-12-06T20:00:00",
        "0001-01-01T00:00:00+00:00",
    ],
)
@pytest.mark.parametrize("duration", [60, 12.5, 0, 0.0])
def test_entry_json_text_is_what_the_encoder_writes(end_time: str, duration: float) -> None:
    """The text is made from the file's own string when that is canonical: it must still be
    byte for byte what json_encoder makes of to_json()."""
    entry = TimerEntry.from_json({"end_time": end_time, "duration": duration})
    assert entry.json_text == json.dumps(entry.to_json(), separators=(",", ":"))
    assert TimerEntry.from_json(json.loads(entry.json_text)) == entry


def test_encoded_values_are_written_verbatim() -> None:
    texts = {"a": '{"x":1}', "b\u00e9": "[1,2]", "": "null"}
    expected = json.dumps(
        {key: json.loads(text) for key, text in texts.items()},
        separators=(",", ":"),
        ensure_ascii=False,
    ).encode()
    assert json_encoder(EncodedValues(texts)) == expected
    assert json_encoder({"outer": EncodedValues(texts)}) == b'{"outer":' + expected + b"}"


async def test_heap_is_dropped_once_every_dormant_timer_was_touched(
    autojump_clock: trio.abc.Clock, path: Path
) -> None:
    three(path)
    action = Recorder()
    async with autolock(path, action) as service:
        await service.recover()
        assert len(service._dormant.heap) == 3
        for name in "ab":
            service.timer(name)
        assert len(service._dormant.heap) == 3
        service.timer("c")
        assert service._dormant.heap == []
        assert (service.statistics().timers, service.statistics().armed) == (3, 3)
        await trio.sleep(40)
    assert action.calls == [("a", 10.0), ("b", 20.0), ("c", 30.0)]
