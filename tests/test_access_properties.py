"""A Hypothesis harness over the real access plan (the same trio layer and interpreter): grants,
revokes, keypad unlocks, clock moves and restarts over VirtualLocks in virtual time. After
settling, every lock holds exactly the codes of the grants ACTIVE on it, in the slots the plan
gave them, and nothing else the plan manages; a code the plan does not manage is never touched;
each state agrees with the grant's validity at that instant."""

from __future__ import annotations

import datetime
import tempfile
from pathlib import Path
from typing import Any

import trio
import trio.testing
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from tests.accesshelpers import clock, open_site, wall
from trio_locksync import VirtualLock
from trio_locksync.access import AccessState, DuplicatePin, Grant, NoFreeSlot, Weekly
from trio_locksync.access._windows import Phase, Validity

LOCKS = ("front", "back")
UNMANAGED = (3, "0000")
SCHEDULES = ("daily 08:00-17:00", "mon-fri 22:00-06:00", "sat,sun 10:00-14:00")
TIMED = {AccessState.SCHEDULED: Phase.BEFORE, AccessState.ACTIVE: Phase.OPEN}
TIMED[AccessState.OFF_HOURS] = Phase.BETWEEN

grants = st.builds(
    lambda name, pin, locks, start, length, weekly, uses: (
        "grant",
        Grant(
            name,
            pin,
            locks=locks,
            starts=None if start is None else wall(start),
            ends=None if length is None else wall((start or 0) + length),
            weekly=None if weekly is None else Weekly.parse(weekly),
            uses=uses,
        ),
    ),
    st.sampled_from(["ann", "bo", "cy", "di"]),
    st.sampled_from(["1111", "2222", "3333", "0000"]),
    st.sampled_from([None, ["front"], ["back"]]),
    st.none() | st.integers(0, 4 * 86400),
    st.none() | st.integers(3600, 3 * 86400),
    st.none() | st.sampled_from(SCHEDULES),
    st.sampled_from([None, 1, 2, 3]),
)
steps = st.lists(
    st.one_of(
        grants,
        st.tuples(st.just("revoke"), st.sampled_from(["ann", "bo", "cy", "di"])),
        st.tuples(st.just("advance"), st.integers(1, 2 * 86400)),
        st.tuples(st.just("unlock"), st.sampled_from(LOCKS), st.integers(0, 5)),
        st.tuples(st.just("restart"), st.sampled_from([0, 0, 3600, 86400])),
    ),
    max_size=14,
)


async def _settle(site: Any) -> None:
    await site.plan.wait_settled()


def _check(site: Any, locks: dict[str, VirtualLock]) -> None:
    plan = site.plan
    now = clock()
    for lock_name, lock in locks.items():
        expected = {UNMANAGED[0]: UNMANAGED[1]}
        for name in plan.grants():
            state = plan.status(name).get(lock_name)
            if state is None:
                continue
            detail = plan.detail(name, lock_name)
            grant = plan.grant_of(name)
            if state in TIMED:
                validity = Validity(grant.starts, grant.ends, grant.weekly, datetime.UTC)
                assert validity.phase(now) is TIMED[state], (name, lock_name, state)
            if state is AccessState.ACTIVE:
                assert detail.slot is not None
                expected[detail.slot] = grant.pin.reveal()
        assert dict(lock.codes) == expected, lock_name


@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(steps)
# the edge applied at open and not saved: a second restart applied it again
@example([("grant", Grant("ann", "1111", starts=wall(3600))), ("restart", 7200), ("restart", 0)])
def test_every_lock_holds_exactly_the_active_grants(script: list[tuple[Any, ...]]) -> None:
    async def main() -> None:
        locks = {name: VirtualLock(slots=6) for name in LOCKS}
        for lock in locks.values():
            lock.codes[UNMANAGED[0]] = UNMANAGED[1]
        with tempfile.TemporaryDirectory() as tmp:
            remaining = list(script)
            last: dict[tuple[str, str], AccessState] = {}
            while True:
                async with open_site(Path(tmp), locks, slots=range(1, 7)) as site:
                    _check_recovery(site.plan, last)
                    await _settle(site)
                    _check(site, locks)
                    downtime = None
                    while remaining and downtime is None:
                        step = remaining.pop(0)
                        if step[0] == "restart":
                            downtime = step[1]
                            continue
                        await _apply(site, locks, step)
                        await _settle(site)
                        _check(site, locks)
                    last = _states(site.plan)
                if downtime is None:
                    return
                await trio.sleep(downtime)  # down for a while: edges pass while closed

    trio.run(main, clock=trio.testing.MockClock(autojump_threshold=0))


def _states(plan: Any) -> dict[tuple[str, str], AccessState]:
    return {(n, lock): state for n in plan.grants() for lock, state in plan.status(n).items()}


def _check_recovery(plan: Any, last: dict[tuple[str, str], AccessState]) -> None:
    """At open: every state that differs from the one at close was applied at open and is in
    ``recovered`` (an edge not missed), and nothing in ``recovered`` repeats a state the plan
    had already applied (an edge not repeated)."""
    now = _states(plan)
    moved = {(c.grant, c.lock) for c in plan.recovered}
    assert all(last.get((c.grant, c.lock)) is not c.state for c in plan.recovered)
    assert {key for key, state in now.items() if key in last and last[key] is not state} <= moved


async def _apply(site: Any, locks: dict[str, VirtualLock], step: tuple[Any, ...]) -> None:
    plan = site.plan
    if step[0] == "grant":
        before = plan._machine.to_json()
        try:
            await plan.grant(step[1])
        except (DuplicatePin, NoFreeSlot):
            assert plan._machine.to_json() == before  # refused: nothing changed
    elif step[0] == "revoke":
        if step[1] in plan.grants():
            await plan.revoke(step[1])
            final = {AccessState.REVOKED, AccessState.EXPIRED, AccessState.USED_UP}
            assert set(plan.status(step[1]).values()) <= final
    elif step[0] == "advance":
        await trio.sleep(step[1])
    elif step[0] == "unlock" and locks[step[1]].codes:
        lock = step[1]
        holders = {
            d.slot: d
            for n in plan.grants()
            if lock in plan.status(n) and (d := plan.detail(n, lock)).slot is not None
        }
        # slots of use-limited grants first: an unlock mostly spends a use
        held = sorted(
            locks[lock].codes,
            key=lambda s: (s not in holders or holders[s].uses_left is None, s),
        )
        slot = held[step[2] % len(held) if step[2] < 3 else 0]
        holder = holders[slot].grant if slot in holders else None
        before = None if holder is None else plan.detail(holder, lock).uses_left
        locks[lock].keypad_unlock(slot)
        await trio.sleep(0.1)
        if holder is not None and before is not None:
            after = plan.detail(holder, lock)
            assert after.uses_left == before - 1, (holder, lock)
            assert (after.state is AccessState.USED_UP) == (before == 1)
