"""Hypothesis properties of the event stream, over the real :func:`open_event_stream`.

Each example is one ``trio.run(..., clock=MockClock(autojump_threshold=0))`` (pytest-trio's
``autojump_clock`` fixture does not combine with ``@given``) against trio-websocket's own
server on in-memory streams (``tests/wshelpers.open_memory_server``), so every time is exact.

1. **Quiet window against an oracle.** A generated replay (gaps between frames, a quiet
   period, a cap, and perhaps a drop of the socket) is run through the stream and compared with
   :func:`promotion_time`, a few lines of pure arithmetic: when CONNECTED comes (or that it never
   comes for a socket lost first), which frames are flagged ``replayed``, the order of the
   statuses, and when the reconnect after a drop syncs and connects.
2. **Shared consumers.** Any number of consumers sharing ``events()`` (and ``receive()``), at
   any pace, breaking out and iterating again, together see every frame exactly once, and each
   one sees its own share in order.

Schedule perturbation: the promoter task normally runs first at the window's deadline (its
deadline fires in the same scheduler batch as the server's), so a frame arriving at exactly the
deadline always finds the stream promoted already. ``promoter_lag`` makes the quiet window's
``wait()`` return a few scheduler ticks late (no virtual time passes), as a busy event loop
would, so the reader can see such a frame first; the flags and times must not change.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import attrs
import trio
import trio.testing
from hypothesis import currently_in_test_context, event, given, settings
from hypothesis import strategies as st

from trio_locksync import Backoff, EventStreamStatus, Jitter, StatusChange, open_event_stream
from trio_locksync.core import QuietReason
from trio_locksync.eventstream import _gate

from .wshelpers import Peer, isy_frame, open_memory_server

S = EventStreamStatus
URL = "ws://isy.test/rest/subscribe"
STEADY = Backoff(initial=1.0, maximum=60.0, jitter=Jitter.NONE)
FIRST_DELAY = 1.0  # STEADY's first delay; never jittered


def run_virtual(fn: Any, *args: Any) -> Any:
    return trio.run(fn, *args, clock=trio.testing.MockClock(autojump_threshold=0))


@contextmanager
def lagging_promoter(ticks: int) -> Iterator[None]:
    """Make ``ReplayGate.wait()`` return ``ticks`` scheduler ticks after the window ended."""
    if not ticks:
        yield
        return
    original = _gate.ReplayGate.wait

    async def wait(self: _gate.ReplayGate) -> QuietReason:
        reason = await original(self)
        for _ in range(ticks):
            await trio.lowlevel.checkpoint()
        return reason

    _gate.ReplayGate.wait = wait  # type: ignore[method-assign]
    try:
        yield
    finally:
        _gate.ReplayGate.wait = original  # type: ignore[method-assign]


# -- 1. the quiet window against an oracle ---------------------------------------------------


def promotion_time(frames: list[float], quiet: float, cap: float) -> float:
    """The oracle: when a window opened at 0 ends, given frames at ``frames`` (sorted).

    The deadline is ``min(last_activity + quiet, cap)``; a frame before it extends the last
    activity, a frame at or after it arrives once the window is over (and changes nothing).
    """
    last = 0.0
    for at in frames:
        if at >= min(last + quiet, cap):
            break
        last = at
    return min(last + quiet, cap)


@attrs.frozen
class Replay:
    quiet: float
    cap: float
    gaps: list[float]
    drop_at: float | None  # k * 0.25 + 0.125: never ties with a frame or a deadline
    promoter_lag: int

    @property
    def frame_times(self) -> list[float]:
        return list(itertools.accumulate(self.gaps))


QUARTERS = [0.25 * i for i in range(13)]  # 0.0 … 3.0


@st.composite
def replays(draw: st.DrawFn) -> Replay:
    quiet = draw(st.sampled_from([0.5, 1.0, 2.0]))
    cap = draw(st.sampled_from(sorted({quiet, 3.0, 10.0})))
    gaps = draw(st.lists(st.sampled_from(QUARTERS), max_size=30))
    promoted_at = promotion_time(list(itertools.accumulate(gaps)), quiet, cap)
    if draw(st.booleans()):
        # Also a frame at exactly the promotion instant (too late to extend the window, so the
        # promotion time stays put): the edge where "replayed" flips.
        times = sorted([*itertools.accumulate(gaps), promoted_at])
        gaps = [b - a for a, b in zip([0.0, *times], times, strict=False)]
    # Anywhere in the first 13 s, or either side of the oracle's promotion time (the edge).
    drop_at = draw(
        st.none()
        | st.integers(0, 52).map(lambda k: 0.25 * k + 0.125)
        | st.sampled_from([promoted_at - 0.125, promoted_at + 0.125])
    )
    promoter_lag = draw(st.sampled_from([0, 8, 20]))
    return Replay(quiet, cap, gaps, drop_at, promoter_lag)


async def run_replay(replay: Replay) -> None:
    times = replay.frame_times
    promoted_at = promotion_time(times, replay.quiet, replay.cap)
    drop_at = replay.drop_at
    dropped_first = drop_at is not None and drop_at < promoted_at

    async def handler(peer: Peer) -> None:
        await peer.accept()
        if peer.number != 1:
            await trio.sleep_forever()  # later connections: silent
        with trio.move_on_at(math.inf if drop_at is None else drop_at):
            for i, gap in enumerate(replay.gaps):
                await trio.sleep(gap)
                await peer.send(isy_frame(i))
            await trio.sleep_forever()
        await peer.drop()

    if drop_at is None:
        horizon = max([promoted_at, *times]) + 0.5
    else:
        horizon = drop_at + FIRST_DELAY + replay.quiet + 0.5
    changes: list[StatusChange] = []
    async with open_memory_server(handler) as server:
        async with open_event_stream(
            URL,
            quiet=replay.quiet,
            cap=replay.cap,
            backoff=STEADY,
            ping_interval=None,
            open_transport=server.open_transport,
        ) as stream:
            status_changes = stream.status_changes()
            # Nothing happens at the horizon itself, and the clock only jumps once every task
            # is blocked, so every change before it has been read when this scope ends.
            with trio.move_on_at(horizon):
                async for change in status_changes:
                    changes.append(change)
                    if change.status is S.CONNECTED and change.connection == 2:
                        break
                    if drop_at is None and change.status is S.CONNECTED:
                        await trio.sleep_until(horizon)  # keep reading the live frames
            assert trio.current_time() <= horizon
        events = [e async for e in stream]

    log = [(c.at, c.status, c.connection) for c in changes]
    if currently_in_test_context():
        if drop_at is None:
            event("socket: not dropped")
        else:
            event(f"socket: dropped {'before' if dropped_first else 'after'} promotion")
        last_touch = max([0.0, *(at for at in times if at < promoted_at)])
        event(f"promoted by: {'cap' if last_touch + replay.quiet > replay.cap else 'quiet'}")
        event(f"a frame at the promotion instant: {promoted_at in times}")
        event(f"promoter lag: {replay.promoter_lag}")
    ours = [
        c
        for c in changes
        if c.connection <= 1 and not (c.connection == 1 and c.status is S.CONNECTING)
    ]
    second = [(c.at, c.status) for c in changes if c.connection == 2]
    connected_1 = [c.at for c in ours if c.status is S.CONNECTED]

    # (a) A socket lost before the oracle's promotion time never connects; otherwise it
    # connects at exactly that time.
    if dropped_first:
        assert connected_1 == [], (promoted_at, log)
    else:
        assert connected_1 == [promoted_at], (promoted_at, log)

    # (b) Every frame of connection 1 arrived (those sent before the drop), in order, and is
    # flagged replayed iff it arrived before the promotion time (at that instant it is live).
    sent = [at for at in times if drop_at is None or at < drop_at]
    assert [e.received_at for e in events] == sent, log
    assert [e.sequence for e in events] == list(range(1, len(sent) + 1))
    assert all(e.connection == 1 for e in events)
    flags = [(e.received_at, e.replayed) for e in events]
    assert flags == [(at, at < promoted_at) for at in sent], (promoted_at, log)

    # (c) Connection 1: CONNECTING -> SYNCING -> [CONNECTED] -> [LOST_CONNECTION, RECONNECTING].
    expected_1 = [(0.0, S.CONNECTING), (0.0, S.SYNCING)]
    if not dropped_first:
        expected_1.append((promoted_at, S.CONNECTED))
    if drop_at is not None:
        expected_1 += [(drop_at, S.LOST_CONNECTION), (drop_at, S.RECONNECTING)]
    assert [(c.at, c.status) for c in ours] == expected_1, (promoted_at, log)

    # (d) After a drop the first backoff delay (1.0, whether or not the backoff was reset by a
    # sync) leads to connection 2, which, silent, syncs and connects ``quiet`` later.
    if drop_at is None:
        assert second == [], log
    else:
        reopen = drop_at + FIRST_DELAY
        assert second == [
            (reopen, S.SYNCING),
            (reopen + replay.quiet, S.CONNECTED),
        ], log
        assert [(c.at, c.status) for c in changes if c.connection == 1][-1] == (
            reopen,
            S.CONNECTING,
        ), log


@settings(max_examples=150, deadline=None)
@given(replays())
def test_quiet_window_matches_the_oracle(replay: Replay) -> None:
    """The SYNCING gate is exactly the quiet-window arithmetic, socket by socket: CONNECTED at
    ``min(last frame + quiet, cap)`` (frames at or after that instant do not extend it) and never
    for a socket dropped first; a frame is ``replayed`` iff it arrived strictly before
    promotion; statuses go CONNECTING, SYNCING, [CONNECTED], [LOST_CONNECTION, RECONNECTING];
    after a drop the next socket opens one backoff delay later and is re-gated from its own
    socket-open. Holds however late the promoter task runs within the deadline's instant."""
    with lagging_promoter(replay.promoter_lag):
        run_virtual(run_replay, replay)


def test_oracle_examples() -> None:
    """The oracle itself, on hand-checked cases (the numbers of tests/test_eventstream.py)."""
    assert promotion_time([], 1.0, 10.0) == 1.0
    assert promotion_time([0.0, 0.75, 1.5, 2.25, 3.0], 1.0, 10.0) == 4.0
    assert promotion_time([0.5 * i for i in range(40)], 1.0, 10.0) == 10.0
    assert promotion_time([1.0], 1.0, 10.0) == 1.0  # at the deadline: too late to extend it
    assert promotion_time([0.5, 2.0], 1.0, 10.0) == 1.5  # the 2.0 frame is live


# -- 2. shared consumers ---------------------------------------------------------------------


@attrs.frozen
class Consumer:
    use_receive: bool  # await stream.receive() instead of iterating events()
    sleeps: list[float]  # per event, cycled
    restarts: list[bool]  # per event, cycled: break out and iterate a fresh events()


@st.composite
def consumers(draw: st.DrawFn) -> Consumer:
    sleeps = draw(
        st.lists(st.sampled_from([0.0, 0.0, 0.1, 0.25, 0.5, 2.0]), min_size=1, max_size=8)
    )
    restarts = draw(st.lists(st.booleans(), min_size=1, max_size=4))
    return Consumer(draw(st.booleans()), sleeps, restarts)


@attrs.frozen
class Sharing:
    frames: int
    gaps: list[float]  # server side, cycled
    consumers: list[Consumer]


@st.composite
def sharings(draw: st.DrawFn) -> Sharing:
    frames = draw(st.integers(0, 40))
    gaps = draw(st.lists(st.sampled_from([0.0, 0.0, 0.1, 0.3, 1.5]), min_size=1, max_size=6))
    return Sharing(frames, gaps, draw(st.lists(consumers(), min_size=1, max_size=3)))


async def run_sharing(sharing: Sharing) -> None:
    async def handler(peer: Peer) -> None:
        await peer.accept()
        for i, gap in zip(range(sharing.frames), itertools.cycle(sharing.gaps), strict=False):
            await trio.sleep(gap)
            await peer.send(isy_frame(i))
        await trio.sleep_forever()

    seen: list[list[int]] = [[] for _ in sharing.consumers]
    all_in = trio.Event()

    async def consume(index: int, plan: Consumer, stream: Any) -> None:
        sleeps = itertools.cycle(plan.sleeps)
        restarts = itertools.cycle(plan.restarts)

        async def record(got: Any) -> None:
            seen[index].append(got.sequence)
            if sum(map(len, seen)) >= sharing.frames:
                all_in.set()
            await trio.sleep(next(sleeps))

        while True:
            if plan.use_receive:
                await record(await stream.receive())
                continue
            async for item in stream:
                await record(item)
                if next(restarts):
                    break  # a fresh iterator continues where this one left off

    async with (
        open_memory_server(handler) as server,
        open_event_stream(
            URL, backoff=STEADY, ping_interval=None, open_transport=server.open_transport
        ) as stream,
    ):
        async with trio.open_nursery() as nursery:
            for index, plan in enumerate(sharing.consumers):
                nursery.start_soon(consume, index, plan, stream)
            with trio.move_on_after(10_000):
                if sharing.frames:
                    await all_in.wait()
                # A little longer: anything extra (a duplicate) would show up now.
                await trio.sleep(5.0)
            nursery.cancel_scope.cancel()
        assert stream.statistics().frames == sharing.frames

    union = sorted(itertools.chain.from_iterable(seen))
    assert union == list(range(1, sharing.frames + 1)), seen
    for own in seen:
        assert own == sorted(own) and len(set(own)) == len(own), seen


@settings(max_examples=150, deadline=None)
@given(sharings())
def test_shared_consumers_see_each_event_once_in_order(sharing: Sharing) -> None:
    """However many consumers share the stream (``events()`` iterators, broken out of and
    restarted, or ``receive()``), at whatever pace: every event goes to exactly one of them,
    together they see sequences 1..frames with no gap and no duplicate, and each consumer's own
    sequences increase."""
    run_virtual(run_sharing, sharing)
