"""Defects a review of the access plan found, each pinned by the scenario that showed it: codes
the plan does not manage overwritten through spare slots or after a restart, malformed plan files,
small locks, uses charged to the wrong grant, blocked revokes, failed writes, survey storms."""

from __future__ import annotations

import json
from contextlib import AsyncExitStack
from pathlib import Path

import pytest
import trio

from tests.accesshelpers import clock, codes, open_site
from tests.storehelpers import inline_store
from trio_locksync import StoreCorruptError, VirtualLock, open_lock_sync
from trio_locksync.access import AccessState, Grant, NoFreeSlot, open_access_plan
from trio_locksync.credentials import LockOperationFailed


# -- pool overwrite (review finding) --
async def test_a_code_added_at_the_door_in_a_spare_slot_is_never_overwritten(
    tmp_path, autojump_clock
):
    lock = VirtualLock(slots=10, push=True)
    async with open_site(tmp_path, {"front": lock}) as site:
        await site.plan.grant(Grant("alice", "1357"))  # slot 1; slots 2,3,4 pooled
        await site.plan.wait_settled()
        lock.keypad_set(2, "7777")  # homeowner adds a code at the door
        await trio.sleep(1)
        print("plan reports unmanaged:", site.plan.unmanaged("front"))
        await site.plan.grant(Grant("bob", "2468"))
        await site.plan.wait_settled()
        print("codes:", codes(lock), "bob slot", site.plan.detail("bob", "front").slot)
        assert codes(lock).get(2) == "7777"


async def test_a_code_added_while_closed_in_a_spare_slot_survives_a_restart(
    tmp_path, autojump_clock
):
    lock = VirtualLock(slots=10)
    async with open_site(tmp_path, {"front": lock}) as site:
        await site.plan.grant(Grant("alice", "1357"))
        await site.plan.wait_settled()
    lock.keypad_set(3, "7777")  # added while the plan was closed
    async with open_site(tmp_path, {"front": lock}) as site:
        await site.plan.wait_settled()
        print("codes after restart:", codes(lock))
        assert codes(lock).get(3) == "7777"


# -- own overwrite (review finding) --
async def test_the_engines_own_slots_are_never_the_plans_after_a_restart(tmp_path, autojump_clock):
    lock = VirtualLock(slots=10)
    async with open_site(tmp_path, {"front": lock}) as site:
        await site.plan.grant(Grant("alice", "1357"))  # slot 1; pool 2,3,4
        await site.plan.wait_settled()
    # the owner now manages slots 1 and 3 themselves
    async with open_site(tmp_path, {"front": lock}, own={"front": {1: "4444", 3: "5555"}}) as site:
        await site.plan.wait_settled()
        print("codes", codes(lock), "alice", site.plan.detail("alice", "front").slot)
        assert codes(lock).get(1) == "4444" and codes(lock).get(3) == "5555"


# -- noslot stuck (review finding) --
async def test_a_grant_with_no_slot_takes_one_freed_at_the_door(tmp_path, autojump_clock):
    lock = VirtualLock(slots=10, push=True)
    lock.codes.update({1: "9991", 2: "9992"})
    lock.online = False
    async with open_site(tmp_path, {"front": lock}, slots=range(1, 3)) as site:
        await site.plan.grant(Grant("alice", "1357"))
        assert site.plan.status("alice") == {"front": AccessState.WAITING}
        lock.online = True
        await trio.sleep(3600)
        print("after back:", site.plan.status("alice"), site.plan.detail("alice", "front").reason)
        assert site.plan.status("alice") == {"front": AccessState.NO_SLOT}
        lock.keypad_clear(2)  # someone frees slot 2 at the door (pushed)
        await trio.sleep(3 * 86400)  # three days, resurvey_interval is 1 h
        print("3 days later:", site.plan.status("alice"), site.plan.unmanaged("front"), codes(lock))
        assert site.plan.status("alice") == {"front": AccessState.ACTIVE}


# -- survey range (review finding) --
async def test_candidates_beyond_a_small_lock_end_its_range_with_no_free_slot(
    tmp_path, autojump_clock
):
    lock = VirtualLock(slots=4)
    lock.codes.update({1: "9991", 2: "9992", 3: "9993", 4: "9994"})
    async with open_site(tmp_path, {"front": lock}, slots=range(1, 9)) as site:
        with pytest.raises(NoFreeSlot):
            await site.plan.grant(Grant("a", "1357"))


async def test_a_background_search_past_a_small_lock_does_not_end_the_plan(
    tmp_path, autojump_clock
):
    lock = VirtualLock(slots=4)
    lock.codes.update({1: "9991", 2: "9992", 3: "9993", 4: "9994"})
    lock.online = False
    async with open_site(tmp_path, {"front": lock}, slots=range(1, 9)) as site:
        await site.plan.grant(Grant("a", "1357"))  # unreachable? -> WAITING
        print("status", site.plan.status("a"), site.syncs["front"].reachable)
        lock.online = True
        await trio.sleep(7200)
        print("status", site.plan.status("a"))


# -- uses reuse (review finding) --
async def test_an_unlock_with_the_previous_holders_code_is_not_charged_to_the_new_one(
    tmp_path, autojump_clock
):
    lock = VirtualLock(slots=10, latency=5.0)
    async with open_site(tmp_path, {"front": lock}, slots=range(1, 2)) as site:
        await site.plan.grant(Grant("alice", "1357"))
        await site.plan.wait_settled()
        assert codes(lock) == {1: "1357"}
        await site.plan.revoke("alice")
        await site.plan.grant(Grant("bob", "2468", uses=1))
        assert site.plan.detail("bob", "front").slot == 1
        assert codes(lock) == {1: "1357"}  # alice's code is still physically in slot 1
        lock.keypad_unlock(1)  # ... and alice uses it (slot 1 in the event)
        await trio.sleep(0.1)
        print(
            "bob:",
            site.plan.status("bob"),
            site.plan.detail("bob", "front").uses_left,
            "codes",
            codes(lock),
        )
        assert site.plan.status("bob") == {"front": AccessState.ACTIVE}, "bob never entered"


# -- revoke blocked (review finding) --
async def test_revoke_does_not_wait_behind_another_locks_survey(tmp_path, autojump_clock):
    front = VirtualLock(slots=30)
    back = VirtualLock(slots=30)
    back.codes.update({i: f"90{i:02d}" for i in range(1, 25)})  # mostly full: several batches
    async with open_site(tmp_path, {"front": front, "back": back}, slots=range(1, 31)) as site:
        await site.plan.grant(Grant("alice", "1357", locks=["front"]))
        await site.plan.wait_settled()
        back.latency = 20.0  # a slow (mesh) lock
        async with trio.open_nursery() as n:
            n.start_soon(site.plan.grant, Grant("bob", "2468", locks=["back"]))
            await trio.sleep(0.1)
            t0 = trio.current_time()
            await site.plan.revoke("alice")
            took = trio.current_time() - t0
        assert took < 1


# -- write error (review finding) --
async def test_a_failed_write_of_the_plan_file_on_a_use_does_not_end_the_plan(
    tmp_path, autojump_clock
):
    fail = {"on": False}

    async def run_blocking(fn):
        await trio.lowlevel.checkpoint()
        if fail["on"]:
            raise OSError(28, "No space left on device")
        return fn()

    lock = VirtualLock(slots=10)
    async with AsyncExitStack() as stack:
        store = await stack.enter_async_context(inline_store(tmp_path / "c.json"))
        sync = await stack.enter_async_context(
            open_lock_sync(lock, {}, store=store, operation_spacing=0.5)
        )
        plan = await stack.enter_async_context(
            open_access_plan(
                tmp_path / "access.json",
                {"front": sync},
                now=clock,
                slots=range(1, 11),
                run_blocking=run_blocking,
            )
        )
        await plan.grant(Grant("courier", "4321", uses=3))
        await plan.wait_settled()
        fail["on"] = True
        lock.keypad_unlock(1)
        await trio.sleep(1)
        fail["on"] = False
        await trio.sleep(60)
        print("plan still alive; uses_left", plan.detail("courier", "front").uses_left)


# -- search burst (review finding) --
class Refusing:
    """A VirtualLock whose reads of slots >= 9 fail (the lock answers with an error)."""

    def __init__(self, lock):
        self._lock = lock
        self.supports_push = False
        self.refuse = False
        self.survey_attempts = 0
        self.set_code, self.clear_code, self.updates, self.events = (
            lock.set_code,
            lock.clear_code,
            lock.updates,
            lock.events,
        )

    async def read_slots(self, slots=None):
        if self.refuse and slots is not None and max(slots) >= 9:
            self.survey_attempts += 1
            raise LockOperationFailed("refused")
        return await self._lock.read_slots(slots)


async def test_failed_surveys_back_off(tmp_path, autojump_clock):
    lock = VirtualLock(slots=20)
    p = Refusing(lock)
    async with open_site(tmp_path, {"front": p}, slots=range(1, 21)) as site:
        for i in range(8):
            await site.plan.grant(Grant(f"g{i}", f"{1000 + i}"))
        await site.plan.wait_settled()
        p.refuse = True
        trio.current_time()
        await site.plan.grant(Grant("late", "5555"))  # needs slot 9+: every survey fails
        await trio.sleep(600)
        print(
            "survey attempts in 10 min:",
            p.survey_attempts,
            "plan surveys:",
            site.plan.statistics().surveys,
        )
        # backoff 30,60,120,240 s -> about 5 attempts in 10 minutes
        assert p.survey_attempts <= 6


# -- uses restore quiet (review finding) --
class Quiet:
    def __init__(self, lock):
        self.supports_push = False
        self.read_slots, self.set_code, self.clear_code, self.updates = (
            lock.read_slots,
            lock.set_code,
            lock.clear_code,
            lock.updates,
        )


async def test_uses_restored_onto_a_lock_without_events_are_said_to_be_uncounted(
    tmp_path, autojump_clock, caplog
):
    lock = VirtualLock(slots=10)
    async with open_site(tmp_path, {"front": lock}) as site:
        await site.plan.grant(Grant("courier", "4321", uses=1))
        await site.plan.wait_settled()
    async with open_site(tmp_path, {"front": Quiet(lock)}) as site:  # provider swapped
        await site.plan.wait_settled()
        d = site.plan.detail("courier", "front")
        print(
            "state",
            d.state,
            "uses_left",
            d.uses_left,
            "reason",
            d.reason,
            "log:",
            caplog.text[:200],
        )
        assert d.uses_left is None or "count" in d.reason or "uses" in caplog.text


# -- clear bad slot (review finding) --
async def test_clear_unmanaged_refuses_a_negative_slot(tmp_path, autojump_clock):
    lock = VirtualLock(slots=10)
    async with open_site(tmp_path, {"front": lock}) as site:
        with pytest.raises(ValueError):
            await site.plan.clear_unmanaged("front", -1)
        # the machine kept -1 in its pool anyway
        print("pool after refused clear:", site.plan._machine.pool["front"])
        assert -1 not in site.plan._machine.pool["front"]


async def test_clear_unmanaged_refuses_a_slot_outside_the_candidates(tmp_path, autojump_clock):
    lock = VirtualLock(slots=10)
    lock.codes.update({i: f"90{i:02d}" for i in range(1, 11)})  # a full lock
    async with open_site(tmp_path, {"front": lock}, slots=range(1, 11)) as site:
        with pytest.raises(ValueError, match="not among the plan's candidate slots"):
            await site.plan.clear_unmanaged("front", 99)  # typo: lock has 1..10
        assert site.plan._machine.plan_slots("front") == set()


async def test_a_refused_clear_leaves_no_half_state(tmp_path, autojump_clock):
    lock = VirtualLock(slots=10)
    async with open_site(tmp_path, {"front": lock}) as site:
        with pytest.raises(ValueError):
            await site.plan.clear_unmanaged("front", -1)
        try:
            await site.plan.grant(Grant("alice", "1357"))
        except Exception as exc:
            print("grant raised", type(exc).__name__, exc)
        print(
            "grants",
            site.plan.grants(),
            "status",
            site.plan.status("alice") if site.plan.grants() else None,
            "slot",
            site.plan.detail("alice", "front").slot if site.plan.grants() else None,
        )
        print("file has alice:", "alice" in (tmp_path / "access.json").read_text())


# -- corrupt (review finding) --
def write(tmp: Path, data):
    (tmp / "access.json").write_text(json.dumps({"version": 1, "minor_version": 1, "data": data}))


def g(pin, on, **kw):
    d = {
        "pin": pin,
        "locks": None,
        "starts": None,
        "ends": None,
        "weekly": [],
        "uses": None,
        "revoked": False,
        "on": on,
    }
    d.update(kw)
    return d


def A(slot, state="active", uses=None):
    return {"slot": slot, "uses_left": uses, "state": state}


async def test_hostile_file_dropped_entry_leaves_a_ghost_holder_and_crashes_on_keypad(
    tmp_path, autojump_clock
):
    # entry "b" is valid on front (slot 2) and bad on back (unknown state): dropped, but
    # front's holder table still names "b" -> a keypad unlock on front slot 2 KeyErrors the plan.
    write(
        tmp_path,
        {
            "grants": {
                "a": g("1357", {"front": A(1), "back": A(1)}),
                "b": g("2468", {"front": A(2, uses=3), "back": A(2, "bogus")}),
            }
        },
    )
    locks = {"front": VirtualLock(slots=10), "back": VirtualLock(slots=10)}
    locks["front"].codes[2] = "2468"  # b's code, written before the file got damaged
    async with open_site(tmp_path, locks) as site:
        assert site.plan.dropped == 1
        assert site.plan.grants() == ["a"]
        await site.plan.wait_settled()
        print(
            "front codes after open:",
            codes(locks["front"]),
            "unmanaged:",
            site.plan.unmanaged("front"),
        )
        locks["front"].keypad_unlock(2)
        await trio.sleep(1)  # _count_uses -> machine.unlocked -> self._entries['b'] KeyError


async def test_hostile_file_dropped_slotless_entry_crashes_hand_out(tmp_path, autojump_clock):
    # "b" WAITING on front (no slot) and bad on back: dropped, but left in front's _slotless;
    # the slot search then hands a slot to a grant that does not exist -> KeyError.
    write(
        tmp_path,
        {
            "grants": {
                "b": g("2468", {"front": A(None, "waiting"), "back": A(1, "bogus")}),
            }
        },
    )
    locks = {"front": VirtualLock(slots=10), "back": VirtualLock(slots=10)}
    async with open_site(tmp_path, locks) as site:
        assert site.plan.dropped == 1
        await site.plan.wait_settled()
        await site.plan.grant(Grant("c", "1111"))


async def test_hostile_file_pool_not_a_mapping(tmp_path, autojump_clock):
    write(tmp_path, {"grants": {}, "pool": [1, 2]})
    with pytest.raises(StoreCorruptError):
        async with open_site(tmp_path, {"front": VirtualLock(slots=10)}):
            pass


async def test_hostile_file_on_entry_not_a_mapping_of_dicts(tmp_path, autojump_clock):
    write(tmp_path, {"grants": {"a": g("1357", {"front": "x"})}})
    async with open_site(tmp_path, {"front": VirtualLock(slots=10)}) as site:
        assert site.plan.dropped == 1


async def test_hostile_file_negative_slot(tmp_path, autojump_clock):
    write(tmp_path, {"grants": {"a": g("1357", {"front": A(-1)})}})
    async with open_site(tmp_path, {"front": VirtualLock(slots=10)}) as site:
        assert site.plan.dropped == 1


async def test_hostile_file_bool_slot(tmp_path, autojump_clock):
    write(tmp_path, {"grants": {"a": g("1357", {"front": A(True)})}})
    async with open_site(tmp_path, {"front": VirtualLock(slots=10)}) as site:
        assert site.plan.dropped == 1


async def test_hostile_file_grants_entry_not_dict_value_list(tmp_path, autojump_clock):
    write(tmp_path, {"grants": {"a": g("1357", [["front", A(1)]])}})
    async with open_site(tmp_path, {"front": VirtualLock(slots=10)}) as site:
        print(site.plan.dropped, site.plan.grants())


async def test_hostile_file_raw_data_list(tmp_path, autojump_clock):
    write(tmp_path, [1, 2])
    with pytest.raises(StoreCorruptError):
        async with open_site(tmp_path, {"front": VirtualLock(slots=10)}):
            pass


async def test_hostile_file_uses_left_bool(tmp_path, autojump_clock):
    write(tmp_path, {"grants": {"a": g("1357", {"front": A(1, uses=True)}, uses=2)}})
    async with open_site(tmp_path, {"front": VirtualLock(slots=10)}) as site:
        assert site.plan.dropped == 1


async def test_hostile_file_slot_shared_by_two_grants_in_file(tmp_path, autojump_clock):
    # a and b both claim back slot 1: b is dropped, but front slot 2 stays held by ghost "b":
    # never in the pool, never cleared (b's PIN stays on the lock), never reported unmanaged.
    write(
        tmp_path,
        {
            "grants": {
                "a": g("1357", {"front": A(1), "back": A(1)}),
                "b": g("2468", {"front": A(2), "back": A(1)}),
            }
        },
    )
    locks = {"front": VirtualLock(slots=10), "back": VirtualLock(slots=10)}
    locks["front"].codes.update({1: "1357", 2: "2468"})
    async with open_site(tmp_path, locks) as site:
        await site.plan.wait_settled()
        await trio.sleep(86400)
        print(
            "dropped",
            site.plan.dropped,
            "front codes",
            codes(locks["front"]),
            "unmanaged",
            site.plan.unmanaged("front"),
            "holder of 2:",
            site.plan._machine.holder("front", 2),
        )
        assert 2 not in codes(locks["front"]) or 2 in site.plan.unmanaged("front")
