"""The replay gate (SYNCING's quiet window, ``eventstream/_gate.py``): its arithmetic matches
the core's :class:`~trio_locksync.core.QuietDeadline`, and its waiter wakes at the exact
deadline in virtual time however many frames move it, waking about once per ``quiet``."""

from __future__ import annotations

import math

import pytest
import trio
from hypothesis import given
from hypothesis import strategies as st

from trio_locksync.core import QuietDeadline, QuietReason
from trio_locksync.eventstream._gate import ReplayGate


@given(
    quiet=st.sampled_from([0.25, 0.5, 1.0, 2.0]),
    cap=st.sampled_from([0.5, 1.0, 3.0, math.inf]),
    gaps=st.lists(st.sampled_from([0.0, 0.125, 0.25, 0.5, 1.0, 2.5]), max_size=20),
)
def test_gate_agrees_with_quiet_deadline(quiet: float, cap: float, gaps: list[float]) -> None:
    gate = ReplayGate(10.0, quiet=quiet, cap=cap)
    oracle = QuietDeadline.open(10.0, quiet=quiet, cap=cap)
    now = 10.0
    for gap in gaps:
        now += gap
        expected = oracle.reason_at(now)
        if expected is None:
            oracle.touch(now, quiet)
        assert gate.frame(now) is expected
        assert gate.deadline == oracle.deadline
    assert gate.reason_at(gate.deadline) is oracle.reason_at(oracle.deadline)


def test_frame_after_the_window_changes_nothing() -> None:
    gate = ReplayGate(0.0, quiet=1.0, cap=10.0)
    assert gate.frame(1.0) is QuietReason.QUIET
    assert gate.deadline == 1.0


def test_capped_under_constant_frames() -> None:
    gate = ReplayGate(0.0, quiet=1.0, cap=3.0)
    for tick in range(1, 30):
        assert gate.frame(tick * 0.1) is None
    assert gate.frame(3.0) is QuietReason.CAPPED


@pytest.mark.parametrize(("quiet", "cap"), [(-1.0, 1.0), (math.nan, 1.0), (1.0, -1.0)])
def test_bad_quiet_or_cap_raises(quiet: float, cap: float) -> None:
    with pytest.raises(ValueError):
        ReplayGate(0.0, quiet=quiet, cap=cap)


async def test_waiter_wakes_at_the_exact_deadline_once_per_quiet(autojump_clock: object) -> None:
    """Frames every 10 ms for 2.5 s then silence: the window ends at exactly 2.5 + 1.0, and
    the waiter woke ~once a second, not once a frame."""
    gate = ReplayGate(trio.current_time(), quiet=1.0, cap=math.inf)
    ended: list[tuple[float, QuietReason]] = []
    wakeups = 0
    original = trio.sleep_until

    async def counting_sleep_until(deadline: float) -> None:
        nonlocal wakeups
        wakeups += 1
        await original(deadline)

    async def waiter() -> None:
        reason = await gate.wait()
        ended.append((trio.current_time(), reason))

    trio_sleep_until = trio.sleep_until
    trio.sleep_until = counting_sleep_until  # type: ignore[assignment]
    try:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(waiter)
            for tick in range(1, 251):
                await trio.sleep_until(tick * 0.01)
                assert gate.frame(trio.current_time()) is None
    finally:
        trio.sleep_until = trio_sleep_until  # type: ignore[assignment]
    assert ended == [(pytest.approx(3.5, abs=1e-9), QuietReason.QUIET)]
    assert wakeups - 250 <= 4  # the waiter's own sleeps: ~2.5 s / 1.0 s + 1
