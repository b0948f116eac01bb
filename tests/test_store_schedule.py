"""The store's sans-I/O save schedule: generations, debounce windows, retry delays.

No trio here: every input carries its ``now`` and the effects are plain values, so each rule
the store's timing rests on is a few lines (``tests/test_store_machine.py`` checks the same
rules end to end, through the real store).
"""

from __future__ import annotations

import math

from hypothesis import given
from hypothesis import strategies as st

from trio_locksync import Backoff, Jitter
from trio_locksync.store._schedule import (
    CloseWindow,
    DebounceWindow,
    MoveWindow,
    OpenWindow,
    SaveSchedule,
)

RETRY = Backoff(initial=1.0, maximum=8.0, jitter=Jitter.NONE)


def schedule(max_delay: float = 60.0) -> SaveSchedule:
    return SaveSchedule(max_delay=max_delay, backoff=RETRY)


def opened(s: SaveSchedule) -> DebounceWindow:
    assert s.window is not None
    return s.window


def test_starts_with_nothing_pending_and_no_window() -> None:
    s = schedule()
    assert not s.has_pending()
    assert s.latest.generation == 0
    assert s.latest.produce() is None
    assert s.written == 0
    assert s.window is None
    assert s.due_at is None


def test_each_change_gets_the_next_generation_and_is_pending_until_settled() -> None:
    s = schedule()
    assert s.change(lambda: "a") == 1
    assert s.change(lambda: "b") == 2
    assert s.latest.produce() == "b"
    assert s.has_pending()
    assert s.settled(1) == []  # generation 2 is still pending
    assert s.has_pending()
    s.settled(2)
    assert not s.has_pending()
    assert s.written == 2


def test_settled_never_moves_back() -> None:
    """A write abandoned by a cancelled caller may report an older generation late."""
    s = schedule()
    s.change(lambda: 1)
    s.change(lambda: 2)
    s.settled(2)
    s.settled(1)
    assert s.written == 2
    assert not s.has_pending()


def test_a_request_opens_a_window_due_after_its_delay() -> None:
    s = schedule()
    s.change(lambda: 1)
    effects = s.request(10.0, 2.0)
    window = opened(s)
    assert effects == [OpenWindow(window)]
    assert window.deadline == s.due_at == 12.0


def test_a_later_request_extends_the_window_and_an_earlier_one_never_pulls_it_in() -> None:
    s = schedule()
    s.request(10.0, 2.0)
    assert s.request(11.0, 5.0) == [MoveWindow(16.0)]
    assert s.request(12.0, 0.0) == [MoveWindow(16.0)]
    assert s.due_at == 16.0


def test_the_window_is_capped_at_max_delay_after_the_request_that_opened_it() -> None:
    s = schedule(max_delay=4.0)
    s.request(10.0, 1.0)
    for t in (10.5, 11.0, 11.5, 12.0, 12.5, 13.0, 13.5):
        s.request(t, 1.0)
    assert s.due_at == 14.0


def test_no_cap_with_an_infinite_max_delay() -> None:
    s = schedule(max_delay=math.inf)
    for t in range(200):  # a request every 0.5 s, each wanting 1 s of quiet
        s.request(t / 2, 1.0)
    assert s.due_at == 100.5


def test_a_request_after_the_deadline_opens_a_new_window() -> None:
    """The writer may not have taken the old window yet (same tick): the request still gets a
    window of its own, with a fresh cap."""
    s = schedule(max_delay=10.0)
    s.request(0.0, 2.0)
    first = opened(s)
    effects = s.request(2.0, 3.0)
    second = opened(s)
    assert second is not first
    assert effects == [OpenWindow(second)]
    assert second.deadline == 5.0
    assert not first.closed  # its waiter still runs its write


def test_settled_closes_the_window_only_when_nothing_is_left() -> None:
    s = schedule()
    s.change(lambda: 1)
    s.request(0.0, 5.0)
    window = opened(s)
    s.change(lambda: 2)
    assert s.settled(1) == []
    assert s.window is window
    assert s.settled(2) == [CloseWindow()]
    assert window.closed
    assert s.window is None


def test_window_ended_asks_for_the_newest_generation_and_clears_the_window() -> None:
    s = schedule()
    s.change(lambda: 1)
    s.request(0.0, 1.0)
    window = opened(s)
    s.change(lambda: 2)
    assert s.window_ended(window) == 2
    assert s.window is None
    # Changes that arrive while that write runs open the next window, not a back-to-back write.
    s.change(lambda: 3)
    assert s.request(1.0, 1.0) == [OpenWindow(opened(s))]


def test_window_ended_writes_nothing_if_closed_or_nothing_pending() -> None:
    s = schedule()
    s.change(lambda: 1)
    s.request(0.0, 1.0)
    closed = opened(s)
    s.settled(1)
    assert s.window_ended(closed) is None
    s.request(2.0, 1.0)  # a request with nothing new pending still opens a window
    quiet = opened(s)
    assert s.window_ended(quiet) is None
    assert s.window is None


def test_window_ended_leaves_a_newer_window_alone() -> None:
    s = schedule()
    s.change(lambda: 1)
    s.request(0.0, 1.0)
    old = opened(s)
    s.request(1.0, 1.0)  # the old one is over: a new one opens
    new = opened(s)
    assert s.window_ended(old) == 1
    assert s.window is new


def test_background_retries_follow_one_backoff_sequence_per_window() -> None:
    s = schedule()
    s.change(lambda: 1)
    s.request(0.0, 0.0)
    s.window_ended(opened(s))
    assert [s.next_retry_delay() for _ in range(5)] == [1.0, 2.0, 4.0, 8.0, 8.0]
    s.request(30.0, 0.0)
    s.window_ended(opened(s))
    assert s.next_retry_delay() == 1.0


def test_a_failed_foreground_write_is_retried_after_the_first_backoff_delay() -> None:
    s = schedule()
    s.change(lambda: 1)
    assert s.retry_soon(5.0) == [OpenWindow(opened(s))]
    assert s.due_at == 6.0
    # ... or later, if the open window already ends later.
    s.request(5.5, 10.0)
    assert s.retry_soon(6.5) == [MoveWindow(15.5)]


def test_withdraw_and_restore_keep_the_delayed_write_on_time() -> None:
    s = schedule(max_delay=60.0)
    s.change(lambda: 1)
    s.request(0.0, 10.0)
    window = opened(s)
    assert s.withdraw() == [CloseWindow()]
    assert window.closed
    assert s.window is None
    restored = s.restore(4.0, 10.0)
    assert restored == [OpenWindow(opened(s))]
    assert s.due_at == 10.0
    # Past the old deadline it is due at once.
    s.withdraw()
    s.restore(12.0, 10.0)
    assert s.due_at == 12.0


def test_restore_after_the_data_was_written_schedules_nothing() -> None:
    s = schedule()
    s.change(lambda: 1)
    s.request(0.0, 10.0)
    s.withdraw()
    s.settled(1)
    assert s.restore(1.0, 10.0) == []
    assert s.window is None


def test_withdraw_and_close_without_a_window_do_nothing() -> None:
    s = schedule()
    assert s.withdraw() == []
    assert s.close() == []


def test_close_ends_the_open_window() -> None:
    s = schedule()
    s.change(lambda: 1)
    s.request(0.0, 10.0)
    window = opened(s)
    assert s.close() == [CloseWindow()]
    assert window.closed
    assert s.window_ended(window) is None
    assert s.has_pending()  # for the final flush


quarter = st.integers(0, 40).map(lambda q: q / 4)


@given(
    max_delay=st.one_of(quarter.filter(lambda d: d > 0), st.just(math.inf)),
    requests=st.lists(st.tuples(quarter, quarter), min_size=1, max_size=20),
)
def test_deadline_is_latest_request_plus_delay_within_the_cap(
    max_delay: float, requests: list[tuple[float, float]]
) -> None:
    """Within one window the deadline is ``min(max(t + delay), opened_at + max_delay)``: it
    never moves earlier, and a request at or after it opens the next window."""
    s = schedule(max_delay=max_delay)
    now = 0.0
    opened_at = quiet_until = -math.inf
    for gap, delay in requests:
        now += gap
        before = s.window
        effects = s.request(now, delay)
        if before is None or now >= before.deadline:
            assert effects == [OpenWindow(opened(s))]
            opened_at, quiet_until = now, now + delay
        else:
            assert s.window is before
            assert effects == [MoveWindow(before.deadline)]
            assert before.deadline >= now
            quiet_until = max(quiet_until, now + delay)
        assert s.due_at == min(quiet_until, opened_at + max_delay)
