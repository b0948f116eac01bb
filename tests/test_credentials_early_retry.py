"""Issue 24: a set the read-back proves lost is written again at the next operation, not after
``pending_ttl`` — and only on evidence. In virtual time, against a scripted lock whose sets all
answer OPTIMISTIC (as Zigbee2MQTT's do), with exact timelines: one operation every
``operation_spacing`` (2 s), the full read at 0.

The evidence is the lock's own answer to the targeted read-back, from a provider whose reads
follow its writes (``reads_follow_writes``). A lock that lags (reads a just-written slot empty
for a while) says no such thing and keeps the old rule — wait for a reading with the code, or for
the deadline — so it costs no extra write; a missing answer proves nothing either. A lagging
lock whose provider wrongly claims current reads is bounded by the slot breaker: three writes,
then SUSPENDED with the reason, never a storm.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Iterable
from typing import Any

import trio
import trio.testing

from trio_locksync import Pin
from trio_locksync.credentials import SlotCredential, SyncState, WriteResult
from trio_locksync.credentials._engine import LockSync, open_lock_sync
from trio_locksync.credentials._provider import reads_follow_writes

IN, SUSP = SyncState.IN_SYNC, SyncState.SUSPENDED


class ScriptedLock:
    """Every set answers OPTIMISTIC; the sets numbered in ``lost`` (0 first) are not stored; a
    stored code reads empty for ``lag`` seconds after its set; ``silent``: read-backs (reads of
    one slot after the first read) leave the slot out. ``log``: (time, operation, slot)."""

    supports_push = False

    def __init__(
        self,
        *,
        follows: bool,
        lost: Iterable[int] = (),
        lag: float = 0.0,
        silent: bool = False,
    ) -> None:
        self.reads_follow_writes = follows
        self.lost = frozenset(lost)
        self.lag = lag
        self.silent = silent
        self.codes: dict[int, tuple[str, float]] = {}
        self.sets = 0
        self.log: list[tuple[float, str, int]] = []

    async def read_slots(self, slots: Collection[int] | None = None) -> dict[int, SlotCredential]:
        assert slots is not None
        now = trio.current_time()
        first = not self.log
        self.log += [(now, "read", slot) for slot in sorted(slots)]
        result = {}
        for slot in slots:
            code, when = self.codes.get(slot, (None, -math.inf))
            if self.silent and not first:
                continue
            shown = code is not None and now >= when + self.lag
            result[slot] = SlotCredential.known(code) if shown else SlotCredential.empty()
        return result

    async def set_code(self, slot: int, pin: Pin) -> WriteResult:
        now = trio.current_time()
        self.log.append((now, "set", slot))
        if self.sets not in self.lost:
            self.codes[slot] = (pin.reveal(), now)
        self.sets += 1
        return WriteResult.OPTIMISTIC

    async def clear_code(self, slot: int) -> WriteResult:
        self.log.append((trio.current_time(), "clear", slot))
        self.codes.pop(slot, None)
        return WriteResult.OPTIMISTIC

    def updates(self) -> Any:
        raise AssertionError("no pushes")


async def settled_at(engine: LockSync) -> float:
    await engine.wait_settled()
    return trio.current_time()


def test_only_a_true_reads_follow_writes_is_a_promise() -> None:
    assert reads_follow_writes(ScriptedLock(follows=True))
    assert not reads_follow_writes(ScriptedLock(follows=False))
    assert not reads_follow_writes(object())  # a provider without the attribute
    lock = ScriptedLock(follows=True)
    lock.reads_follow_writes = 1  # type: ignore[assignment]  # truthy is not a promise
    assert not reads_follow_writes(lock)


async def test_lost_write_proved_by_read_back_is_rewritten_at_next_spacing_slot(
    autojump_clock: trio.abc.Clock,
) -> None:
    lock = ScriptedLock(follows=True, lost={0})
    async with open_lock_sync(lock, {1: "1111"}) as engine:
        assert await settled_at(engine) == 8.0
        assert engine.state(1) is IN
        stats = engine.statistics()
    # read at 0, set at 2 (lost), read back empty at 4: rewritten at 6, read back at 8
    assert lock.log == [
        (0.0, "read", 1),
        (2.0, "set", 1),
        (4.0, "read", 1),
        (6.0, "set", 1),
        (8.0, "read", 1),
    ]
    assert (stats.sets, stats.slot_failures, stats.confirmed_by_read) == (2, 1, 1)


async def test_lost_write_read_back_without_the_promise_waits_out_pending_ttl(
    autojump_clock: trio.abc.Clock,
) -> None:
    """The same lost write from a provider that does not promise current reads: the empty
    read-back might be lag, so the slot waits for its deadline (2 + 60 s), is charged, and is
    written again ``retry_interval`` later."""
    lock = ScriptedLock(follows=False, lost={0})
    async with open_lock_sync(lock, {1: "1111"}) as engine:
        assert await settled_at(engine) == 66.0
        assert engine.state(1) is IN
    assert [(t, op) for t, op, _ in lock.log] == [
        (0.0, "read"),
        (2.0, "set"),
        (4.0, "read"),
        (64.0, "set"),
        (66.0, "read"),
    ]


async def test_lagging_lock_empty_read_back_costs_no_rewrite(
    autojump_clock: trio.abc.Clock,
) -> None:
    """The lagging-lock counter-case: every set lands but reads empty for 10 s (a cloud-synced
    lock, which does not promise current reads). The empty read-back at 4 is not evidence: no
    rewrite, no charge; the drift re-read after the lag shows the code and confirms it."""
    lock = ScriptedLock(follows=False, lag=10.0)
    async with open_lock_sync(lock, {1: "1111"}, drift_interval=3.0) as engine:
        settled = await settled_at(engine)
        assert engine.state(1) is IN
        stats = engine.statistics()
    assert lock.sets == 1
    assert stats.slot_failures == 0
    assert settled == 12.0  # the first re-read at or after 2 + 10 s
    assert [t for t, op, _ in lock.log if op == "read"] == [0.0, 4.0, 6.0, 9.0, 12.0]


async def test_lagging_lock_wrongly_promising_current_reads_suspends_after_three_writes(
    autojump_clock: trio.abc.Clock,
) -> None:
    """A lagging lock whose provider claims current reads: each empty read-back is taken as a
    lost write and charged, so the breaker (3 in 300 s) suspends the slot after three writes,
    with the reason — and nothing more is written until its retry, an hour later."""
    lock = ScriptedLock(follows=True, lag=1000.0)
    async with open_lock_sync(lock, {1: "1111"}) as engine:
        assert await settled_at(engine) == 12.0
        assert engine.state(1) is SUSP
        assert engine.reason(1) == (
            "sync attempts exceeded (3 failures within 300 s; last: write did not land "
            "(the lock's answer shows no code)); next try in 1 h"
        )
        await trio.sleep(600.0)
        assert lock.sets == 3
    assert [t for t, op, _ in lock.log if op == "set"] == [2.0, 6.0, 10.0]


async def test_three_lost_writes_in_a_row_suspend_the_slot_visibly(
    autojump_clock: trio.abc.Clock,
) -> None:
    """Early retry keeps the suspension rule: three proven losses within the breaker window."""
    lock = ScriptedLock(follows=True, lost={0, 2, 3})  # slot 1's three sets; slot 2's lands
    async with open_lock_sync(lock, {1: "1111", 2: "2222"}) as engine:
        await engine.wait_settled()
        assert engine.state(1) is SUSP
        assert engine.reason(1).startswith("sync attempts exceeded (3 failures within 300 s")
        assert engine.state(2) is IN
        assert engine.statistics().slot_failures == 3
    assert [slot for _, op, slot in lock.log if op == "set"] == [1, 2, 1, 1]


async def test_missing_read_back_answer_is_not_evidence(
    autojump_clock: trio.abc.Clock,
) -> None:
    """The read-back leaves the slot out (no answer in time): the write waits for its deadline
    (2 + 60 s), as before, even from a provider that promises current reads."""
    lock = ScriptedLock(follows=True, lost={0}, silent=True)
    async with open_lock_sync(lock, {1: "1111"}, drift_interval=3600.0) as engine:
        with trio.move_on_after(63.0):
            await engine.wait_settled()
        stats = engine.statistics()
    assert [t for t, op, _ in lock.log if op == "set"] == [2.0]
    assert stats.slot_failures == 1  # charged at the deadline, 62 s
