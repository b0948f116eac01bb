"""Deadline scheduling without a task per waiting call: one heap, one sleeping task.

A :class:`DeadlineScheduler` runs as one task in its owner's nursery. It sleeps in a cancel scope
whose deadline is the earliest pending call (``call_at`` pulls that deadline in, so there is no
polling), and when a call is due it starts the call as its own task in the same nursery. Waiting
calls cost a heap entry and a small record, not a task.

Each :class:`ScheduledCall` has an explicit state: PENDING → RUNNING → DONE, or PENDING →
CANCELLED. ``cancel()`` succeeds while the call is PENDING — including the window after the
deadline passed but before the call's task started (keymaster #671) — and then the call never
runs. Once RUNNING it cannot be cancelled; ``wait_done()`` waits for it to finish. A running call
is shielded from its nursery's cancellation; :meth:`DeadlineScheduler.close` bounds it instead.
"""

from __future__ import annotations

import enum
import heapq
import math
from collections.abc import Awaitable, Callable
from typing import final

import trio

from ._errors import InvalidTransition

__all__ = ["DeadlineScheduler", "ScheduledCall", "ScheduledCallState"]


class ScheduledCallState(enum.Enum):
    """Where a scheduled call is."""

    PENDING = "pending"
    RUNNING = "running"
    DONE = "done"
    CANCELLED = "cancelled"


@final
class ScheduledCall:
    """One call of ``fn()`` at trio time ``deadline``; made by :meth:`DeadlineScheduler.call_at`."""

    __slots__ = ("_done", "_fn", "_scheduler", "_scope", "_state", "deadline")

    def __init__(
        self, scheduler: DeadlineScheduler, deadline: float, fn: Callable[[], Awaitable[object]]
    ) -> None:
        self._scheduler = scheduler
        self.deadline: float = deadline
        self._fn = fn
        self._state = ScheduledCallState.PENDING
        self._done: trio.Event | None = None  # made on first wait: most calls are never awaited
        # Made when the call starts running: a waiting call costs no cancel scope (~200 B).
        self._scope: trio.CancelScope | None = None

    @property
    def state(self) -> ScheduledCallState:
        """The call's state."""
        return self._state

    @property
    def finished(self) -> bool:
        """DONE or CANCELLED."""
        return self._state in (ScheduledCallState.DONE, ScheduledCallState.CANCELLED)

    def cancel(self) -> bool:
        """Prevent the call if it has not started; True if it is now CANCELLED (or was)."""
        if self._state is ScheduledCallState.PENDING:
            self._scheduler._live -= 1
            self._finish(ScheduledCallState.CANCELLED)
        return self._state is ScheduledCallState.CANCELLED

    async def wait_done(self) -> None:
        """Wait until the call is DONE or CANCELLED."""
        if self.finished:
            await trio.lowlevel.checkpoint()
            return
        if self._done is None:
            self._done = trio.Event()
        await self._done.wait()

    def _finish(self, state: ScheduledCallState) -> None:
        self._state = state
        if self._done is not None:
            self._done.set()

    async def _run(self) -> None:
        if self._state is not ScheduledCallState.PENDING:
            return  # cancelled after it fell due, before this task started: never runs
        self._scheduler._live -= 1
        self._state = ScheduledCallState.RUNNING
        self._scope = trio.CancelScope(shield=True)
        try:
            with self._scope:
                await self._fn()
        finally:
            self._finish(ScheduledCallState.DONE)

    def __repr__(self) -> str:
        return f"<ScheduledCall at {self.deadline:.3f} {self._state.value}>"


@final
class DeadlineScheduler:
    """Runs each scheduled call at its deadline, as a task in ``nursery``.

    Start :meth:`run` in the same nursery. Not thread-safe; trio thread only.
    """

    def __init__(self, nursery: trio.Nursery) -> None:
        self._nursery = nursery
        self._heap: list[tuple[float, int, ScheduledCall]] = []
        self._sequence = 0
        self._sleep = trio.CancelScope()  # replaced on every sleep; moving an idle one is harmless
        self._running: set[ScheduledCall] = set()
        self._live = 0  # PENDING calls; the heap also holds cancelled ones until dropped
        self._closed = False

    def call_at(self, deadline: float, fn: Callable[[], Awaitable[object]]) -> ScheduledCall:
        """Schedule ``fn()`` at trio time ``deadline`` (a past deadline runs at once)."""
        if self._closed:
            raise InvalidTransition("DeadlineScheduler", "closed", "call_at")
        if math.isnan(deadline):
            raise ValueError("deadline is NaN")
        call = ScheduledCall(self, deadline, fn)
        self._live += 1
        self._sequence += 1
        heapq.heappush(self._heap, (deadline, self._sequence, call))
        if deadline < self._sleep.deadline:
            self._sleep.deadline = deadline
        self._compact()
        return call

    @property
    def closed(self) -> bool:
        """True once :meth:`close` was called: ``call_at`` then raises."""
        return self._closed

    @property
    def pending(self) -> int:
        """Calls waiting for their deadline (not cancelled)."""
        return self._live

    def running(self) -> list[ScheduledCall]:
        """Calls whose task is running now."""
        return list(self._running)

    async def run(self) -> None:
        """The scheduling loop; returns after :meth:`close`."""
        while not self._closed:
            self._start_due(trio.current_time())
            deadline = self._heap[0][0] if self._heap else math.inf
            with trio.CancelScope(deadline=deadline) as self._sleep:
                await trio.sleep_forever()

    async def close(self, grace: float) -> None:
        """Start nothing more; give running calls ``grace`` seconds, then cancel them, and wait.

        Pending calls are left as they are (their owners decide what that means).
        """
        self._closed = True
        self._sleep.cancel()
        deadline = trio.current_time() + grace
        running = list(self._running)
        for call in running:
            if call._scope is not None:  # None: cancelled before it ran, it returns at once
                call._scope.deadline = min(call._scope.deadline, deadline)
        for call in running:
            await call.wait_done()

    def _start_due(self, now: float) -> None:
        while self._heap and self._heap[0][0] <= now:
            _, _, call = heapq.heappop(self._heap)
            if call.state is ScheduledCallState.PENDING:
                self._nursery.start_soon(self._run_call, call)

    async def _run_call(self, call: ScheduledCall) -> None:
        self._running.add(call)
        try:
            await call._run()
        finally:
            self._running.discard(call)

    def _compact(self) -> None:
        # Cancelled calls stay in the heap until due; rebuild it when they are the majority, so
        # a timer re-armed every few seconds with a long duration cannot grow it without bound.
        # Amortised O(1) per call_at: a rebuild at least halves the heap.
        if len(self._heap) > 64 and self._live * 2 < len(self._heap):
            live = [item for item in self._heap if item[2].state is ScheduledCallState.PENDING]
            heapq.heapify(live)
            self._heap = live
