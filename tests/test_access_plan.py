"""Access plans in virtual time over VirtualLocks: windows, restarts across edges, uses, slots,
duplicates, unmanaged codes, locks apart, revocation. Exact times throughout; the wall clock is
derived from the trio clock (tests/accesshelpers.py)."""

from __future__ import annotations

import datetime
import json
from pathlib import Path

import pytest
import trio

from tests.accesshelpers import EPOCH, at, codes, open_site, wall
from trio_locksync import StoreCorruptError, VirtualLock
from trio_locksync.access import (
    AccessChange,
    AccessState,
    DuplicatePin,
    Grant,
    NoFreeSlot,
    UnknownGrant,
    UnknownLock,
    UsesNotCounted,
    Weekly,
)
from trio_locksync.credentials import SyncState

H = datetime.timedelta(hours=1)
A, S, E, U, R, OFF = (
    AccessState.ACTIVE,
    AccessState.SCHEDULED,
    AccessState.EXPIRED,
    AccessState.USED_UP,
    AccessState.REVOKED,
    AccessState.OFF_HOURS,
)


def two_locks() -> dict[str, VirtualLock]:
    return {"front": VirtualLock(slots=10), "back": VirtualLock(slots=10)}


async def test_an_always_on_grant_lands_on_every_lock_and_is_verified(
    tmp_path: Path, autojump_clock: trio.abc.Clock
) -> None:
    locks = two_locks()
    async with open_site(tmp_path, locks) as site:
        await site.plan.grant(Grant("alice", "1357"))
        await site.plan.wait_settled()
        assert site.plan.status("alice") == {"front": A, "back": A}
        assert codes(locks["front"]) == {1: "1357"} and codes(locks["back"]) == {1: "1357"}
        detail = site.plan.detail("alice", "front")
        assert (detail.slot, detail.sync, detail.uses_left, detail.next_edge) == (
            1, SyncState.IN_SYNC, None, None,
        )  # fmt: skip
        assert "1357" not in repr(detail) + repr(site.plan.grant_of("alice"))


async def test_a_window_opens_and_closes_at_its_exact_edges(
    tmp_path: Path, autojump_clock: trio.abc.Clock
) -> None:
    lock = VirtualLock(slots=10)
    async with open_site(tmp_path, {"front": lock}) as site:
        changes = site.plan.changes()
        await site.plan.grant(Grant("guest", "2468", starts=wall(3600), ends=wall(7200)))
        assert site.plan.status("guest") == {"front": S}
        assert site.plan.detail("guest", "front").next_edge == wall(3600)
        seen: list[tuple[float, AccessChange]] = []
        async for change in changes:
            seen.append((trio.current_time(), change))
            if change.state is E:
                break
        assert [(t, c.state) for t, c in seen] == [(0, S), (3600, A), (7200, E)]
        await site.plan.wait_settled()
        assert codes(lock) == {}
        assert site.plan.detail("guest", "front").slot is None  # given back


async def test_a_fall_back_opening_in_the_repeated_hour_happens_once(
    tmp_path: Path, autojump_clock: trio.abc.Clock
) -> None:
    # New York falls back on 2026-11-01 at 02:00 EDT: 01:30 happens twice; the opening is the
    # first (05:30 UTC), and the window closes at 02:30 EST (07:30 UTC) — two hours, once.
    lock = VirtualLock(slots=10)
    starts = datetime.datetime(2026, 10, 31, 12, tzinfo=datetime.UTC)
    async with open_site(tmp_path, {"door": lock}, tz="America/New_York") as site:
        await trio.sleep(at(starts))
        changes = site.plan.changes()
        await site.plan.grant(Grant("night", "1122", weekly=Weekly.parse("sun 01:30-02:30")))
        seen = []
        async for change in changes:
            seen.append((wall(trio.current_time()), change.state))
            if len(seen) == 3:
                break
        utc = datetime.UTC
        assert seen == [
            (starts, OFF),
            (datetime.datetime(2026, 11, 1, 5, 30, tzinfo=utc), A),
            (datetime.datetime(2026, 11, 1, 7, 30, tzinfo=utc), OFF),
        ]
        assert site.plan.detail("night", "door").next_edge == datetime.datetime(
            2026, 11, 8, 6, 30, tzinfo=utc
        )


async def test_weekly_hours_follow_dst_in_the_plans_zone(
    tmp_path: Path, autojump_clock: trio.abc.Clock
) -> None:
    # America/New_York springs forward on 2026-03-08 at 02:00: a 02:30 opening that day
    # happens once, at 03:30 EDT (07:30 UTC); the day before it is 02:30 EST (07:30 UTC too).
    lock = VirtualLock(slots=10)
    ny = "America/New_York"
    starts = datetime.datetime(2026, 3, 7, 12, tzinfo=datetime.UTC)
    async with open_site(tmp_path, {"door": lock}, tz=ny) as site:
        await trio.sleep(at(starts))
        changes = site.plan.changes()
        await site.plan.grant(Grant("cleaner", "1122", weekly=Weekly.parse("daily 02:30-04:00")))
        opened: list[datetime.datetime] = []
        async for change in changes:
            if change.state is A:
                opened.append(wall(trio.current_time()))
                if len(opened) == 3:
                    break
        assert opened == [
            datetime.datetime(2026, 3, 8, 7, 30, tzinfo=datetime.UTC),  # 03:30 EDT (shifted)
            datetime.datetime(2026, 3, 9, 6, 30, tzinfo=datetime.UTC),  # 02:30 EDT
            datetime.datetime(2026, 3, 10, 6, 30, tzinfo=datetime.UTC),
        ]


#: a grant whose one edge at trio time 3600 (01:00 UTC on a Monday) is of each kind: the state
#: before it, the state after it, and whether the code is on the lock after it
EDGES = {
    "starts": (Grant("g", "2468", starts=wall(3600)), S, A),
    "ends": (Grant("g", "2468", ends=wall(3600)), A, E),
    "weekly-opening": (Grant("g", "2468", weekly=Weekly.parse("mon 01:00-12:00")), OFF, A),
    "weekly-closing": (Grant("g", "2468", weekly=Weekly.parse("sun,mon 00:00-01:00")), A, OFF),
}


@pytest.mark.parametrize("kind", sorted(EDGES))
@pytest.mark.parametrize(
    ("closed_at", "reopened_at", "moved_at_open"),
    [
        pytest.param(1800, 3000, False, id="restart-before-the-edge"),
        pytest.param(1800, 3600, True, id="reopened-on-the-edge"),
        pytest.param(1800, 5400, True, id="edge-passed-while-closed"),
        pytest.param(3600.5, 5400, False, id="closed-just-after-applying-the-edge"),
    ],
)
async def test_a_restart_neither_misses_nor_repeats_an_edge(
    tmp_path: Path,
    autojump_clock: trio.abc.Clock,
    kind: str,
    closed_at: float,
    reopened_at: float,
    moved_at_open: bool,
) -> None:
    grant, before, after = EDGES[kind]
    lock = VirtualLock(slots=10)
    async with open_site(tmp_path, {"front": lock}) as site:
        await site.plan.grant(grant)
        assert site.plan.status("g") == {"front": before}
        await trio.sleep_until(closed_at)
        await site.plan.wait_settled()
    await trio.sleep_until(reopened_at)
    async with open_site(tmp_path, {"front": lock}) as site:
        assert [c.state for c in site.plan.recovered] == ([after] if moved_at_open else [])
        changes = site.plan.changes()
        if reopened_at < 3600:
            change = await changes.__anext__()
            assert (trio.current_time(), change.state) == (3600, after)
        await site.plan.wait_settled()
        assert site.plan.status("g") == {"front": after}
        assert codes(lock) == ({1: "2468"} if after is A else {})
    # opened again: nothing left to apply, nothing applied again
    async with open_site(tmp_path, {"front": lock}) as site:
        assert site.plan.recovered == ()
        assert site.plan.status("g") == {"front": after}


async def test_uses_are_counted_from_keypad_unlocks_and_survive_a_restart(
    tmp_path: Path, autojump_clock: trio.abc.Clock
) -> None:
    locks = two_locks()
    async with open_site(tmp_path, locks) as site:
        await site.plan.grant(Grant("courier", "4321", uses=2))
        await site.plan.wait_settled()
        locks["front"].keypad_unlock(1)
        locks["front"].keypad_lock(1)  # not a use
        locks["back"].keypad_unlock(1)  # a use on the back door only
        await trio.sleep(1)
        assert site.plan.detail("courier", "front").uses_left == 1
        assert site.plan.detail("courier", "back").uses_left == 1
    stored = json.loads((tmp_path / "access.json").read_text())
    assert stored["data"]["grants"]["courier"]["on"]["front"]["uses_left"] == 1
    async with open_site(tmp_path, locks) as site:
        changes = site.plan.changes()
        locks["front"].keypad_unlock(1)
        change = await changes.__anext__()
        assert change == AccessChange("courier", "front", U, "uses spent")
        await site.plan.wait_settled()
        assert codes(locks["front"]) == {} and codes(locks["back"]) == {1: "4321"}
        assert site.plan.status("courier") == {"front": U, "back": A}
        assert site.plan.statistics().uses_counted == 1


async def test_the_same_pin_twice_on_one_lock_is_refused_with_nothing_written(
    tmp_path: Path, autojump_clock: trio.abc.Clock
) -> None:
    locks = two_locks()
    async with open_site(tmp_path, locks) as site:
        await site.plan.grant(Grant("alice", "1357", locks=["front"]))
        await site.plan.wait_settled()
        before = (tmp_path / "access.json").read_bytes()
        with pytest.raises(DuplicatePin, match=r"'bob'.*'front'.*grant 'alice'") as info:
            await site.plan.grant(Grant("bob", "1357"))
        assert "1357" not in str(info.value)
        assert (tmp_path / "access.json").read_bytes() == before
        assert site.plan.grants() == ["alice"]
        await site.plan.grant(Grant("bob", "1357", locks=["back"]))  # another lock: fine
        await site.plan.wait_settled()
        assert codes(locks["back"]) == {1: "1357"}


async def test_a_code_the_plan_does_not_manage_is_reported_never_overwritten(
    tmp_path: Path, autojump_clock: trio.abc.Clock
) -> None:
    lock = VirtualLock(slots=10)
    lock.codes.update({1: "9999", 2: "5555"})
    async with open_site(tmp_path, {"front": lock}) as site:
        await site.plan.grant(Grant("alice", "1357"))
        await site.plan.wait_settled()
        assert codes(lock) == {1: "9999", 2: "5555", 3: "1357"}
        assert site.plan.detail("alice", "front").slot == 3
        assert sorted(site.plan.unmanaged("front")) == [1, 2]
        with pytest.raises(DuplicatePin, match="slot 1, not managed"):
            await site.plan.grant(Grant("bob", "9999"))
        await site.plan.clear_unmanaged("front", 2)
        await site.plan.wait_settled()
        assert codes(lock) == {1: "9999", 3: "1357"}
        await site.plan.grant(Grant("carol", "2580"))
        await site.plan.wait_settled()
        assert site.plan.detail("carol", "front").slot == 2  # the cleared slot, reused


async def test_a_full_lock_refuses_a_grant_with_nothing_written(
    tmp_path: Path, autojump_clock: trio.abc.Clock
) -> None:
    lock = VirtualLock(slots=10)
    lock.codes.update({1: "9999"})
    async with open_site(tmp_path, {"front": lock}, slots=range(1, 3)) as site:
        await site.plan.grant(Grant("alice", "1357"))
        before = (tmp_path / "access.json").read_bytes()
        with pytest.raises(NoFreeSlot, match="slots 1-2: 1 held by grants, 1 hold codes"):
            await site.plan.grant(Grant("bob", "2468"))
        assert (tmp_path / "access.json").read_bytes() == before
        await site.plan.wait_settled()
        assert codes(lock) == {1: "9999", 2: "1357"}
        await site.plan.revoke("alice")
        await site.plan.grant(Grant("bob", "2468"))  # alice's slot, given back
        await site.plan.wait_settled()
        assert codes(lock) == {1: "9999", 2: "2468"}


async def test_one_lock_offline_delays_only_its_own_slots(
    tmp_path: Path, autojump_clock: trio.abc.Clock
) -> None:
    locks = two_locks()
    locks["back"].online = False
    async with open_site(tmp_path, locks) as site:
        await site.plan.grant(Grant("alice", "1357"))
        await site.plan.wait_settled()
        assert codes(locks["front"]) == {1: "1357"}
        assert site.plan.status("alice") == {"front": A, "back": AccessState.WAITING}
        assert "lock not read yet" in site.plan.detail("alice", "back").reason
        locks["back"].online = True
        changes = site.plan.changes()
        async for change in changes:
            if change.lock == "back" and change.state is A:
                break
        await site.plan.wait_settled()
        assert codes(locks["back"]) == {1: "1357"}


async def test_revoke_removes_the_code_everywhere(
    tmp_path: Path, autojump_clock: trio.abc.Clock
) -> None:
    locks = two_locks()
    async with open_site(tmp_path, locks) as site:
        await site.plan.grant(Grant("alice", "1357"))
        await site.plan.grant(Grant("bob", "2468", locks=["back"]))
        await site.plan.wait_settled()
        await site.plan.revoke("alice")
        await site.plan.wait_settled()
        assert site.plan.status("alice") == {"front": R, "back": R}
        assert codes(locks["front"]) == {} and codes(locks["back"]) == {2: "2468"}
        with pytest.raises(UnknownGrant):
            await site.plan.revoke("nobody")


async def test_uses_on_a_lock_without_events_are_refused(
    tmp_path: Path, autojump_clock: trio.abc.Clock
) -> None:
    class Quiet:
        """A provider that does not report lock events."""

        def __init__(self, lock: VirtualLock) -> None:
            self._lock = lock
            self.supports_push = False
            self.read_slots = lock.read_slots
            self.set_code = lock.set_code
            self.clear_code = lock.clear_code
            self.updates = lock.updates

    async with open_site(tmp_path, {"front": Quiet(VirtualLock())}) as site:  # type: ignore[dict-item]
        with pytest.raises(UsesNotCounted, match="'front' does not report"):
            await site.plan.grant(Grant("courier", "4321", uses=1))
        with pytest.raises(UnknownLock):
            await site.plan.grant(Grant("courier", "4321", locks=["gate"]))
        assert site.plan.grants() == []


async def test_a_corrupt_plan_file_is_refused_and_kept(
    tmp_path: Path, autojump_clock: trio.abc.Clock
) -> None:
    (tmp_path / "access.json").write_text("{not json")
    with pytest.raises(StoreCorruptError):
        async with open_site(tmp_path, two_locks()):
            pass  # pragma: no cover
    assert (tmp_path / "access.json").read_text() == "{not json"


async def test_a_regrant_keeps_the_slot_and_changes_the_code(
    tmp_path: Path, autojump_clock: trio.abc.Clock
) -> None:
    lock = VirtualLock(slots=10)
    async with open_site(tmp_path, {"front": lock}) as site:
        await site.plan.grant(Grant("alice", "1357"))
        await site.plan.grant(Grant("bob", "2468"))
        await site.plan.wait_settled()
        await site.plan.grant(Grant("alice", "8642"))
        await site.plan.wait_settled()
        assert codes(lock) == {1: "8642", 2: "2468"}


def test_grant_validation_never_echoes_the_pin() -> None:
    with pytest.raises(ValueError, match="aware"):
        Grant("x", "1234", starts=datetime.datetime(2026, 1, 1))
    with pytest.raises(ValueError, match="after"):
        Grant("x", "1234", starts=EPOCH, ends=EPOCH)
    with pytest.raises(ValueError, match="uses"):
        Grant("x", "1234", uses=0)
    with pytest.raises(ValueError) as info:
        Grant("x", "12a4")
    assert "12a4" not in str(info.value)
    assert "1234" not in repr(Grant("x", "1234"))
