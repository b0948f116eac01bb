"""A Hypothesis state machine over the real Store, in virtual time, with injected write faults.

Each example opens one real store (``open_store`` on the inline runner, exact retry delays, a
drawn ``max_delay``) inside its own ``trio.run(..., clock=MockClock())`` on a helper thread. The
rules run on the test thread and hand each operation to that trio run with
``trio.from_thread.run``; between rules trio sits idle with the clock stopped, so virtual time
moves only in the ``sleep`` rule (where the clock auto-jumps from deadline to deadline) and every
rule ends with ``wait_all_tasks_blocked``: the run is deterministic and time is exact.

Operations: ``delay_save(value, delay)``, ``save(value)``, ``flush()``, ``load()``,
``sleep(dt)``, a steady stream of ``delay_save`` calls (to reach ``max_delay``), a fault on
``write``/``fsync``/``replace`` (``OSError(ENOSPC)`` from ``_files.OS``) switched on, moved
and off, a batch of concurrent operations in their own tasks, and (teardown) leaving the
``open_store`` block with the fault off while up to four other tasks (drawn at the start) use the
store after a few checkpoints — so while it is OPEN, CLOSING or CLOSED — then reopening the file.

Every value handed over is ``{"n": k}`` with ``k`` counting up, logged on the trio thread in the
same synchronous step as the ``delay_save``/``save`` call, so the log has the exact order in
which the store saw them whatever the task interleaving. A wrapper around ``_files.OS.replace``
logs what landed (the file's content right after the rename) and when; the fault wrapper logs
each injected failure. The checker replays that one log in order.

Properties (each is an assertion below):

* P1 latest wins, nothing lost: after the block is left with no fault on, the file holds the
  last value handed over (no file if none was), and a fresh store loads it;
* P2 ``load()`` (a rule, and an invariant after every step) returns the newest value handed
  over (``None`` before the first); a concurrent load returns a value at least as new as the
  newest when it started and no newer than the newest when it ended;
* P3 the file only ever holds values handed over, in the order handed over: the ``k`` of each
  landed write is at most the newest handed and strictly greater than the previous landed one;
* P4 no write while nothing changed: the same strict increase (a rewrite of the same value or a
  write when nothing was handed over since the last landing fails it), and
  ``statistics().writes`` equals the number of landings;
* P5 debounce bound (and exact debounce time). Call a ``delay_save`` at time ``s`` *clean* if
  just before it nothing was pending, no fault was on, and no injected failure happened in
  ``(s - 8, s]`` (8 s is ``EXACT_RETRY.maximum``, the longest backoff sleep, so the background
  writer is not sleeping off an earlier failure). A clean call opens an obligation with
  ``quiet_until = s + delay`` and ``cap = s + max_delay``; each later ``delay_save`` at
  ``t < deadline`` raises ``quiet_until`` to ``max(quiet_until, t + delay)``, where
  ``deadline = min(quiet_until, cap)``. A fault switched on drops the obligation. Otherwise a
  write must land at a time ``<= cap`` and no later than ``deadline``, and — unless a
  foreground ``save``/``flush`` ran in between — exactly at ``deadline`` (never early). One
  tie: a request in the very tick in which a ``delay=0`` window opened (and so ended) may find
  the writer has not picked that window up yet and open the next one at the same instant, so
  it extends ``quiet_until`` like a request inside the window but leaves the exact time open;
* P5b retries: after an injected failure at ``f``, another failure or a landing happens by
  ``f + 8`` (the background writer's backoff sleep is at most 8 s; a failed foreground write
  schedules a 1 s window), unless a ``delay_save`` came after ``f`` (it may legitimately
  extend the window the retry waits in) — so a fault switched off is followed by the pending
  data landing without any further request;
* P6 no temp file ever remains in the directory (after every step, and after close only the
  store file and its ``.lock`` are there);
* P7 ``statistics().pending`` is true exactly when the newest value handed over is not the one
  on disk; ``write_failures`` equals the injected failures, which only happen while a fault is
  on; ``delayed_calls`` equals the ``delay_save`` calls;
* P8 a direct ``save`` raises ``StoreWriteError`` exactly when a fault is on; ``flush`` raises
  exactly when a fault is on and something was pending; concurrent saves likewise never raise
  with the fault off; no operation other than ``sleep``/``stream`` takes virtual time or leaves
  a task behind; a task using the store while it closes gets ``StoreClosedError`` exactly when
  it calls after the store is CLOSED (a value it handed over before that lands, P1).
"""

from __future__ import annotations

import errno
import json
import math
import shutil
import sys
import tempfile
import threading
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

import attrs
import trio
import trio.testing
from hypothesis import event, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    rule,
)

from trio_locksync.store import (
    Store,
    StoreClosedError,
    StoreState,
    StoreWriteError,
    _files,
    open_store,
)

from .storehelpers import EXACT_RETRY, run_inline, temp_files

T = TypeVar("T")

FAULT_CALLS = ("write", "fsync", "replace")
#: the longest backoff sleep of EXACT_RETRY: after it the background writer is not sleeping off
#: a failure any more
BACKOFF_MAX = EXACT_RETRY.maximum

# Times on a quarter-second grid: sums stay exact in binary floating point, and deadlines that
# coincide (a sleep ending exactly at a write, a request exactly at a window's end) are common.
delays = st.integers(0, 20).map(lambda q: q / 4)  # 0 .. 5 s
sleeps = st.integers(0, 40).map(lambda q: q / 4)  # 0 .. 10 s
max_delays = st.one_of(
    st.integers(1, 8).map(lambda q: q / 4),  # short caps, so that streams reach them
    st.integers(1, 40).map(lambda q: q / 4),
    st.just(math.inf),
)
concurrent_ops = st.lists(
    st.one_of(
        st.just(("save", 0.0)),
        st.just(("flush", 0.0)),
        st.just(("load", 0.0)),
        st.tuples(st.just("delay_save"), delays),
    ),
    min_size=2,
    max_size=4,
)
#: (operation, checkpoints to wait first): tasks racing the close
close_races = st.lists(
    st.tuples(
        st.sampled_from(["delay_save", "save", "flush", "load"]),
        st.one_of(st.integers(0, 2), st.integers(0, 8)),
    ),
    max_size=4,
)


def value(k: int) -> Any:
    return {"n": k} if k else None


# -- the event log (appended on the trio thread, replayed by the checker) -----------------------


@attrs.frozen
class Hand:
    """Value ``k`` handed over by ``delay_save`` (with ``delay``) or ``save``."""

    t: float
    k: int
    kind: str
    delay: float
    pending_before: bool


@attrs.frozen
class Land:
    """Value ``k`` is in the file (logged right after the rename)."""

    t: float
    k: int


@attrs.frozen
class Fail:
    t: float
    call: str


@attrs.frozen
class FaultSwitch:
    t: float
    call: str | None


@attrs.frozen
class Foreground:
    """A flush (or the final flush at close): writes now, whatever the debounce."""

    t: float
    what: str


Event = Hand | Land | Fail | FaultSwitch | Foreground


# -- the trio side ------------------------------------------------------------------------------


class Harness:
    """One store in one ``trio.run`` on a helper thread; ``call`` runs an operation in it."""

    def __init__(self, max_delay: float, close_race: list[tuple[str, int]]) -> None:
        self.max_delay = max_delay
        self.close_race = close_race
        self.race_outcomes: list[tuple[str, StoreState, Any]] = []
        self.dir = Path(tempfile.mkdtemp(prefix="store-machine-"))
        self.path = self.dir / "locks.json"
        self.clock = trio.testing.MockClock()  # autojump off: time stands still between steps
        self.log: list[Event] = []
        self.fault: str | None = None
        self.k = 0
        self.outstanding = 0
        self.closed = False
        self.reopened: Any = None
        self.crash: BaseException | None = None
        self.store: Store
        self.nursery: trio.Nursery
        self.token: trio.lowlevel.TrioToken
        self._close_requested: trio.Event
        self._ready = threading.Event()
        self._saved_os: dict[str, Any] = {}
        self._install_os_hooks()
        self._thread = threading.Thread(target=self._thread_main, daemon=True)
        try:
            self._thread.start()
            if not self._ready.wait(10):
                raise RuntimeError("the store did not open")
            if self.crash is not None:
                raise self.crash
        except BaseException:
            self.dispose()
            raise

    # OS indirection: faults and the landing log --------------------------------------------

    def _install_os_hooks(self) -> None:
        for call in FAULT_CALLS:
            self._saved_os[call] = vars(_files.OS).get(call)
            real = getattr(_files.OS, call)
            setattr(_files.OS, call, self._hook(call, real))

    def _hook(self, call: str, real: Callable[..., Any]) -> Callable[..., Any]:
        def hooked(*args: Any) -> Any:
            if self.fault == call:
                self.log.append(Fail(trio.current_time(), call))
                raise OSError(errno.ENOSPC, "injected ENOSPC")
            result = real(*args)
            if call == "replace":
                landed = json.loads(Path(args[1]).read_bytes())
                self.log.append(Land(trio.current_time(), landed["n"]))
            return result

        return hooked

    def dispose(self) -> None:
        for call, saved in self._saved_os.items():
            if saved is None:
                vars(_files.OS).pop(call, None)
            else:
                setattr(_files.OS, call, saved)
        self._saved_os.clear()
        shutil.rmtree(self.dir, ignore_errors=True)

    # the run ----------------------------------------------------------------------------------

    def _thread_main(self) -> None:
        try:
            trio.run(self._main, clock=self.clock)
        except BaseException as exc:
            self.crash = exc
        finally:
            self._ready.set()

    async def _main(self) -> None:
        self.token = trio.lowlevel.current_trio_token()
        self._close_requested = trio.Event()
        # The racers' nursery encloses the store: they run while its block is being left.
        async with (
            trio.open_nursery() as racers,
            open_store(
                self.path, run_blocking=run_inline, backoff=EXACT_RETRY, max_delay=self.max_delay
            ) as store,
        ):
            self.store = store
            async with trio.open_nursery() as nursery:
                self.nursery = nursery
                # Settle first (the background writer's first step) so that the first command
                # never races with it: trio's scheduler, seeded by Hypothesis, is then
                # deterministic.
                await trio.testing.wait_all_tasks_blocked()
                self._ready.set()
                await self._close_requested.wait()
            self.log.append(Foreground(trio.current_time(), "close"))
            for kind, yields in self.close_race:
                racers.start_soon(self._racer, kind, yields)
            # leaving the block: the racers run at the final flush's checkpoints
        self.closed = True
        async with open_store(self.path, run_blocking=run_inline, backoff=EXACT_RETRY) as again:
            self.reopened = await again.load()

    async def _racer(self, kind: str, yields: int) -> None:
        """Another task using the store while its block is left (P1, P8)."""
        for _ in range(yields):
            await trio.lowlevel.checkpoint()
        store = self.store
        state = store.state
        closed = state is StoreState.CLOSED
        first = self.k
        try:
            if kind == "delay_save":
                k = first if closed else self.hand("delay_save")
                store.delay_save(lambda: value(k))
                outcome: Any = "ok"
            elif kind == "save":
                k = first if closed else self.hand("save")
                await store.save(value(k))
                outcome = "ok"
            elif kind == "flush":
                await store.flush()
                outcome = "ok"
            else:
                outcome = (first, await store.load(), self.k)
        except StoreClosedError:
            outcome = "closed"
        self.race_outcomes.append((kind, state, outcome))

    @property
    def alive(self) -> bool:
        return self._thread.is_alive()

    def now(self) -> float:
        return self.clock.current_time()

    def call(self, fn: Callable[[], Awaitable[T]]) -> T:
        """Run ``fn`` in the trio run, then let every task settle; the clock auto-jumps only
        while this runs (so ``sleep`` sees deadlines fire in order, at their exact time)."""
        return trio.from_thread.run(self._step, fn, trio_token=self.token)

    async def _step(self, fn: Callable[[], Awaitable[T]]) -> T:
        self.clock.autojump_threshold = 0
        try:
            result = await fn()
            await trio.testing.wait_all_tasks_blocked()
        finally:
            self.clock.autojump_threshold = math.inf
        return result

    def set_fault(self, call: str | None) -> None:
        async def switch() -> None:
            self.fault = call
            self.log.append(FaultSwitch(trio.current_time(), call))
            await trio.lowlevel.checkpoint()

        self.call(switch)

    def hand(self, kind: str, delay: float = 0.0) -> int:
        """Log the next value; call it with no checkpoint before the store call that takes it."""
        self.k += 1
        self.log.append(Hand(trio.current_time(), self.k, kind, delay, self.store.pending))
        return self.k

    def close(self) -> None:
        def request() -> None:
            self.clock.autojump_threshold = 0  # the close_timeout must be able to elapse
            self._close_requested.set()

        trio.from_thread.run_sync(request, trio_token=self.token)
        self._thread.join(30)
        if self._thread.is_alive():
            raise AssertionError("leaving the open_store block hung")


# -- the checker --------------------------------------------------------------------------------


@attrs.define
class Obligation:
    """A clean first unsaved delay_save: a write is due by ``deadline`` (P5)."""

    start: float
    quiet_until: float
    cap: float
    exact: bool = True

    @property
    def deadline(self) -> float:
        return min(self.quiet_until, self.cap)


@attrs.define
class Checker:
    max_delay: float
    newest: int = 0
    landed: int = 0
    landings: int = 0
    failures: int = 0
    delayed_calls: int = 0
    fault: str | None = None
    last_failure: float = -math.inf
    obligation: Obligation | None = None
    retry_due: float | None = None
    closing: bool = False
    seen: int = 0

    def absorb(self, log: list[Event], now: float) -> None:
        for logged in log[self.seen :]:
            self._event(logged)
        self.seen = len(log)
        self._check_due(now, settled=True)

    def _check_due(self, now: float, *, settled: bool) -> None:
        # settled: every task has run at ``now``, so what is due at ``now`` has happened
        if self.retry_due is not None:
            late = now >= self.retry_due if settled else now > self.retry_due
            assert not late, (
                f"P5b: failure at {self.retry_due - BACKOFF_MAX}, no retry by {self.retry_due}"
            )
        ob = self.obligation
        if ob is None:
            return
        late = now >= ob.deadline if settled else now > ob.deadline
        assert not late, (
            f"P5: debounce bound: first unsaved delay_save at {ob.start} (max_delay "
            f"{self.max_delay}) was due by {ob.deadline}, nothing landed by {now}"
        )

    def _event(self, ev: Event) -> None:
        if not isinstance(ev, Land):
            self._check_due(ev.t, settled=False)
        ob = self.obligation
        if isinstance(ev, Hand):
            assert ev.k == self.newest + 1
            self.newest = ev.k
            if ev.kind == "delay_save":
                self.delayed_calls += 1
                self.retry_due = None
                clean = (
                    not self.closing
                    and not ev.pending_before
                    and self.fault is None
                    and ev.t >= self.last_failure + BACKOFF_MAX
                )
                if clean:
                    self.obligation = Obligation(ev.t, ev.t + ev.delay, ev.t + self.max_delay)
                elif ob is not None and ev.t < ob.deadline:
                    ob.quiet_until = max(ob.quiet_until, ev.t + ev.delay)
                elif ob is not None and ev.t == ob.start:
                    # A delay of 0 opened a window that is over in the tick it opened: if the
                    # writer has not picked it up yet, this request opens the next window (same
                    # instant, same cap) and the write moves to its deadline; if it has, the
                    # write lands now. Either is within the bound; the exact time is not fixed.
                    ob.quiet_until = max(ob.quiet_until, ev.t + ev.delay)
                    ob.exact = False
            elif ob is not None:
                ob.exact = False
        elif isinstance(ev, Land):
            assert ev.k <= self.newest, f"P3: landed {ev.k}, never handed over"
            assert ev.k != self.landed, f"P4: rewrote {ev.k} although nothing changed"
            assert ev.k > self.landed, f"P3: landed {ev.k} after the newer {self.landed}"
            self.landed = ev.k
            self.landings += 1
            if self.retry_due is not None:
                event("P5b: a retry landed after a failure")
            self.retry_due = None
            if ob is not None:
                event(
                    "P5: landed by the cap"
                    if ev.t == ob.cap
                    else f"P5: landed {'exactly ' if ob.exact else ''}by the debounce deadline"
                )
                assert ev.t <= ob.cap, f"P5: landed at {ev.t}, past the cap {ob.cap}"
                assert ev.t <= ob.deadline, f"P5: landed at {ev.t}, past {ob.deadline}"
                if ob.exact:
                    assert ev.t == ob.deadline, (
                        f"P5: delayed write landed at {ev.t}, debounce deadline {ob.deadline} "
                        f"(window opened at {ob.start})"
                    )
                self.obligation = None
        elif isinstance(ev, Fail):
            assert self.fault == ev.call
            self.failures += 1
            self.last_failure = ev.t
            self.retry_due = ev.t + BACKOFF_MAX
        elif isinstance(ev, FaultSwitch):
            self.fault = ev.call
            if ev.call is not None:
                self.obligation = None
        else:  # Foreground: a flush, or leaving the block
            self.closing = self.closing or ev.what == "close"
            if ob is not None:
                ob.exact = False


# -- the machine --------------------------------------------------------------------------------


class StoreMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.h: Harness | None = None
        self.c = Checker(0.0)

    @property
    def harness(self) -> Harness:
        assert self.h is not None
        return self.h

    def sync(self) -> None:
        self.c.absorb(self.harness.log, self.harness.now())

    def run_op(self, fn: Callable[[], Awaitable[T]], *, takes_time: bool = False) -> T:
        h = self.harness
        before = h.now()
        result = h.call(fn)
        if not takes_time:
            assert h.now() == before, f"P8: an operation took {h.now() - before} s"
        assert h.outstanding == 0, "P8: a concurrent operation is still blocked"
        self.sync()
        return result

    @initialize(max_delay=max_delays, close_race=close_races)
    def open_store(self, max_delay: float, close_race: list[tuple[str, int]]) -> None:
        """Open the store; ``close_race`` are tasks that use it while it closes (teardown)."""
        self.h = Harness(max_delay, close_race)
        self.c = Checker(max_delay)

    @rule(delay=delays)
    def delay_save(self, delay: float) -> None:
        h = self.harness

        async def op() -> None:
            k = h.hand("delay_save", delay)
            h.store.delay_save(lambda: value(k), delay)
            await trio.lowlevel.checkpoint()

        self.run_op(op)

    @rule()
    def save(self) -> None:
        h = self.harness

        async def op() -> StoreWriteError | None:
            k = h.hand("save")
            try:
                await h.store.save(value(k))
            except StoreWriteError as exc:
                return exc
            return None

        fault = self.c.fault
        error = self.run_op(op)
        assert (error is not None) == (fault is not None), f"P8: save with fault {fault}: {error}"

    @rule()
    def flush(self) -> None:
        h = self.harness

        async def op() -> tuple[bool, StoreWriteError | None]:
            pending = h.store.pending
            h.log.append(Foreground(trio.current_time(), "flush"))
            try:
                await h.store.flush()
            except StoreWriteError as exc:
                return pending, exc
            return pending, None

        fault = self.c.fault
        pending, error = self.run_op(op)
        expected = fault is not None and pending
        assert (error is not None) == expected, f"P8: flush (pending={pending}, fault={fault})"

    @rule()
    def load(self) -> None:
        h = self.harness
        loaded = self.run_op(h.store.load)
        assert loaded == value(self.c.newest), "P2: load() is not the newest value"

    @rule(n=st.integers(2, 12), every=st.integers(0, 6).map(lambda q: q / 4), delay=delays)
    def stream(self, n: int, every: float, delay: float) -> None:
        """A steady stream: ``n`` delay_saves, ``every`` seconds apart (reaches the cap)."""
        h = self.harness
        before = h.now()

        async def op() -> None:
            for i in range(n):
                k = h.hand("delay_save", delay)
                h.store.delay_save(lambda k=k: value(k), delay)
                if i < n - 1:
                    await trio.sleep(every)

        self.run_op(op, takes_time=True)
        assert h.now() == before + (n - 1) * every

    @rule(dt=sleeps)
    def sleep(self, dt: float) -> None:
        h = self.harness
        before = h.now()

        async def op() -> None:
            await trio.sleep(dt)

        self.run_op(op, takes_time=True)
        assert h.now() == before + dt

    @rule(call=st.sampled_from([None, *FAULT_CALLS]))
    def fault(self, call: str | None) -> None:
        """Switch the fault to ``call`` (ENOSPC from ``_files.OS.<call>``), or off."""
        h = self.harness
        before = h.now()
        h.set_fault(call)
        assert h.now() == before
        self.sync()

    @rule(ops=concurrent_ops)
    def concurrent(self, ops: list[tuple[str, float]]) -> None:
        """Each operation in its own task, all started at once; trio picks the order."""
        h = self.harness
        outcomes: list[tuple[str, Any]] = []

        async def one(kind: str, delay: float) -> None:
            try:
                if kind == "delay_save":
                    k = h.hand("delay_save", delay)
                    h.store.delay_save(lambda: value(k), delay)
                elif kind == "save":
                    k = h.hand("save")
                    await h.store.save(value(k))
                elif kind == "flush":
                    h.log.append(Foreground(trio.current_time(), "flush"))
                    await h.store.flush()
                else:
                    first = h.k
                    loaded = await h.store.load()
                    outcomes.append(("load", (first, loaded, h.k)))
            except StoreWriteError as exc:
                outcomes.append((kind, exc))
            finally:
                h.outstanding -= 1

        async def op() -> None:
            for kind, delay in ops:
                h.outstanding += 1
                h.nursery.start_soon(one, kind, delay)
            await trio.lowlevel.checkpoint()

        fault = self.c.fault
        self.run_op(op)
        for kind, outcome in outcomes:
            if kind == "load":
                first, loaded, last = outcome
                assert loaded in [value(k) for k in range(first, last + 1)], (
                    f"P2: concurrent load gave {loaded}, newest went {first} -> {last}"
                )
            else:
                assert fault is not None, f"P8: concurrent {kind} failed with no fault on"

    @invariant()
    def store_agrees_with_the_log(self) -> None:
        h = self.harness

        async def look() -> tuple[Any, Any]:
            stats = h.store.statistics()
            return stats, await h.store.load()

        stats, loaded = self.run_op(look)
        c = self.c
        assert loaded == value(c.newest), f"P2: load() gave {loaded}, newest is {c.newest}"
        on_disk = json.loads(h.path.read_bytes()) if h.path.exists() else None
        assert on_disk == value(c.landed), "the file is not what the last rename put there"
        assert stats.pending == (c.landed != c.newest), (
            f"P7: pending={stats.pending}, newest {c.newest}, on disk {c.landed}"
        )
        assert stats.writes == c.landings, "P4: statistics().writes"
        assert stats.write_failures == c.failures, "P7: statistics().write_failures"
        assert stats.delayed_calls == c.delayed_calls, "P7: statistics().delayed_calls"
        assert stats.state is StoreState.OPEN
        assert temp_files(h.path) == [], "P6: temp file left behind"

    def teardown(self) -> None:
        h = self.h
        if h is None:
            return
        failing = sys.exc_info()[1] is not None
        try:
            if h.alive:
                if h.fault is not None:
                    h.set_fault(None)  # logged; checked with the rest below
                h.close()
            if failing:
                return  # cleanup only: the step's own failure is the one to report
            if h.crash is not None:
                raise h.crash
            self.c.absorb(h.log, h.now())
            assert h.closed
            final = json.loads(h.path.read_bytes()) if h.path.exists() else None
            assert final == value(self.c.newest), (
                f"P1: after close the file holds {final}, last handed over {self.c.newest}"
            )
            assert self.c.landed == self.c.newest
            assert h.reopened == value(self.c.newest), "P1: a fresh store loads something else"
            for kind, state, outcome in h.race_outcomes:
                event(f"close race: {kind} while {state.value}")
                closed = state is StoreState.CLOSED
                assert (outcome == "closed") == closed, (
                    f"P8: {kind} racing the close (store closed: {closed}) gave {outcome}"
                )
                if kind == "load" and not closed:
                    first, loaded, last = outcome
                    assert loaded in [value(k) for k in range(first, last + 1)], (
                        f"P2: load racing the close gave {loaded}, newest {first} -> {last}"
                    )
            stats = h.store.statistics()
            assert stats.state is StoreState.CLOSED
            assert not stats.pending
            assert stats.writes == self.c.landings, "P4: statistics().writes"
            assert stats.write_failures == self.c.failures, "P7: statistics().write_failures"
            assert stats.delayed_calls == self.c.delayed_calls, "P7: statistics().delayed_calls"
            names = sorted(p.name for p in h.dir.iterdir())
            expected = ["locks.json.lock"] if final is None else ["locks.json", "locks.json.lock"]
            assert names == expected, f"P6: left in the directory: {names}"
        finally:
            h.dispose()


StoreMachine.TestCase.settings = settings(max_examples=150, stateful_step_count=30, deadline=None)
TestStoreMachine = StoreMachine.TestCase
