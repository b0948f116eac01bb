"""The per-lock credential sync engine (seed 001): verified, event-driven, one operation at a time.

One worker task per lock performs every operation (set, clear, read) in turn, at least
``operation_spacing`` apart, and sleeps in a cancel scope whose deadline is the earliest thing
that can need it (a retry, a pending confirmation's deadline, the drift re-read, a probe of an
unreachable lock). A desired change, a pushed update or a read result wakes it at once. An
optimistic write is never trusted: the slot is unverified, read back immediately (just that
slot), and resolved by what the lock shows or, failing that, by its deadline.
"""

from __future__ import annotations

import collections
import logging
import math
import os
import secrets
import weakref
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import asynccontextmanager
from typing import Any, NamedTuple

import attrs
import trio

from ..core import Pin, open_service_nursery
from ..store import Store, open_store
from ._breaker import LockBreaker, SlotBreaker
from ._errors import CodeRejected, LockDisconnected, LockOperationFailed
from ._models import CredentialKind, SlotCredential, SlotUpdate, SyncState, WriteResult
from ._provider import LockProvider
from ._rules import Desired, in_sync, pin_digest

__all__ = ["LockSync", "LockSyncStatistics", "SlotChange", "open_lock_sync"]

logger = logging.getLogger("trio_locksync.credentials")


class SlotChange(NamedTuple):
    """A slot's state changed (or its reason did): ``for slot, state, reason in sync.changes()``."""

    slot: int
    state: SyncState
    reason: str


@attrs.frozen
class LockSyncStatistics:
    """Counters of one engine."""

    operations: int
    sets: int
    clears: int
    reads: int
    optimistic: int
    confirmed_by_read: int
    slot_failures: int
    disconnects: int
    lock_reachable: bool
    states: Mapping[SyncState, int]


@attrs.define
class _Pending:
    believed: Pin
    digest: str
    deadline: float
    #: the reading before the write: a read-back equal to it says nothing about the write
    before: SlotCredential | None


@attrs.define
class _Slot:
    number: int
    desired: Desired
    digest: str | None  # pin_digest of desired.pin
    breaker: SlotBreaker
    observed: SlotCredential | None = None  # None until the first read: LOADING
    verified: bool = True
    pending: _Pending | None = None
    last_written: str | None = None
    suspended_for: Desired | None = None  # the target a suspension latched on
    suspend_reason: str = ""
    retry_at: float = -math.inf
    #: replace a masked code by clearing first, so the set's read-back is informative
    clear_first: bool = False
    in_flight: bool = False
    state: SyncState = SyncState.LOADING
    reason: str = "waiting for the first read"


_KNOWN_MASKED = _UNKNOWN_PRESENT = SlotCredential.unreadable()


class LockSync:
    """Keeps the managed slots of one lock as desired; made by :func:`open_lock_sync`."""

    def __init__(
        self,
        provider: LockProvider,
        desired: Mapping[int, Desired],
        *,
        operation_spacing: float,
        pending_ttl: float,
        retry_interval: float,
        breaker_failures: int,
        breaker_window: float,
        drift_interval: float,
        believed: bool,
        salt: bytes,
        last_written: Mapping[int, str],
        store: Store | None,
    ) -> None:
        self._provider = provider
        self._spacing = operation_spacing
        self._ttl = pending_ttl
        self._retry_interval = retry_interval
        self._drift_interval = drift_interval
        self._believed = believed
        self._salt = salt
        self._store = store
        self._slots: dict[int, _Slot] = {}
        for number, want in desired.items():
            self._slots[number] = _Slot(
                number=number,
                desired=want,
                digest=self._digest(number, want.pin),
                breaker=SlotBreaker(failures=breaker_failures, window=breaker_window),
                last_written=last_written.get(number),
            )
        self._lock_breaker = LockBreaker()
        self._unreachable = False
        self._probe_at = math.inf
        self._drift_at = math.inf
        self._last_op = -math.inf
        self._wake = trio.Event()
        # Weak: a subscriber that stops iterating and drops its iterator costs nothing more.
        self._subscribers: weakref.WeakSet[_Feed] = weakref.WeakSet()
        self._counts: collections.Counter[str] = collections.Counter()

    # -- public ------------------------------------------------------------------------------

    def state(self, slot: int) -> SyncState:
        """The slot's state."""
        return self._slot(slot).state

    def reason(self, slot: int) -> str:
        """Why the slot is in its state (never contains a PIN)."""
        return self._slot(slot).reason

    @property
    def slots(self) -> list[int]:
        return sorted(self._slots)

    def set_desired(self, slot: int, *, pin: str | Pin | None, enabled: bool = True) -> None:
        """Change what ``slot`` should hold; the engine acts on it at once. Never blocks.

        A change of (enabled, PIN) lifts a suspension and drops a pending optimistic write
        without charging it (a clear supersedes a pending set).
        """
        record = self._slot(slot)
        want = Desired(enabled=enabled, pin=_as_pin(pin))
        if want == record.desired:
            return
        record.desired = want
        record.digest = self._digest(slot, want.pin)
        record.breaker.reset()
        record.suspended_for = None
        record.retry_at = -math.inf
        if record.pending is not None:
            # Dropped without charge. The write may or may not have landed: the slot's content
            # and our last written PIN are unknown until the next operation settles them.
            self._forget(record)
        self._update(record)
        self._wake_up()

    def changes(self) -> AsyncIterator[SlotChange]:
        """Every change of a slot's (state, reason), in order, from now on. A subscriber that
        falls more than 10,000 changes behind loses the oldest ones (counted in ``dropped``)."""
        feed = _Feed(self)
        self._subscribers.add(feed)
        return feed

    def statistics(self) -> LockSyncStatistics:
        states = collections.Counter(s.state for s in self._slots.values())
        return LockSyncStatistics(
            operations=self._counts["operations"],
            sets=self._counts["sets"],
            clears=self._counts["clears"],
            reads=self._counts["reads"],
            optimistic=self._counts["optimistic"],
            confirmed_by_read=self._counts["confirmed_by_read"],
            slot_failures=self._counts["slot_failures"],
            disconnects=self._counts["disconnects"],
            lock_reachable=not self._unreachable,
            states=dict(states),
        )

    async def wait_settled(self) -> None:
        """Wait until every slot is IN_SYNC or SUSPENDED (at that moment)."""
        feed = _Feed(self)
        self._subscribers.add(feed)
        try:
            while not self._settled():
                await feed.__anext__()
        finally:
            self._subscribers.discard(feed)
        await trio.lowlevel.checkpoint()

    # -- the worker --------------------------------------------------------------------------

    async def _run(self) -> None:
        await self._read_all(initial=True)
        while True:
            now = trio.current_time()
            self._expire_pending(now)
            if self._unreachable:
                if now >= self._probe_at:
                    await self._read_all(initial=False)
                    continue
            elif now >= self._drift_at:
                await self._read_all(initial=False)
                continue
            else:
                record = self._next_slot(now)
                if record is not None:
                    await self._sync(record)
                    continue
            with trio.move_on_at(self._next_deadline()):
                await self._wake.wait()

    def _next_slot(self, now: float) -> _Slot | None:
        due = [
            r
            for r in self._slots.values()
            if r.state is SyncState.OUT_OF_SYNC and r.retry_at <= now and not r.in_flight
        ]
        return min(due, key=lambda r: (r.retry_at, r.number)) if due else None

    def _next_deadline(self) -> float:
        candidates = [self._probe_at if self._unreachable else self._drift_at]
        for r in self._slots.values():
            if r.pending is not None:
                candidates.append(r.pending.deadline)
            if r.state is SyncState.OUT_OF_SYNC and not self._unreachable:
                candidates.append(r.retry_at)
        return min(candidates)

    async def _space(self) -> None:
        """One operation at a time, at least ``operation_spacing`` apart."""
        await trio.sleep_until(self._last_op + self._spacing)
        self._last_op = trio.current_time()
        self._counts["operations"] += 1

    async def _operate(self, record: _Slot | None, operation: Callable[[], Awaitable[Any]]) -> Any:
        """Run one provider call; classify its failure. Returns ``_FAILED`` if it failed."""
        await self._space()
        try:
            result = await operation()
        except LockDisconnected:
            self._counts["disconnects"] += 1
            if self._lock_breaker.record_failure():
                self._set_unreachable()
            elif record is not None:
                record.retry_at = trio.current_time() + self._retry_interval
            return _FAILED
        except LockOperationFailed as exc:
            self._lock_breaker.record_success()  # the lock answered
            if record is not None:
                self._charge(record, f"operation failed: {exc.reason}")
            return _FAILED
        except CodeRejected as exc:
            self._lock_breaker.record_success()
            if record is not None:
                record.suspended_for = record.desired
                record.suspend_reason = f"code rejected by the lock: {exc.reason}"
            return _FAILED
        except Exception as exc:
            logger.exception("slot %s: unexpected provider error", record.number if record else "*")
            if record is not None:
                record.suspended_for = record.desired
                record.suspend_reason = f"unexpected error {type(exc).__name__} (logged)"
            return _FAILED
        self._reachable_again()
        return result

    async def _read_all(self, *, initial: bool) -> None:
        self._counts["reads"] += 1
        result = await self._operate(None, self._provider.read_slots)
        now = trio.current_time()
        if result is _FAILED:
            if not self._unreachable:
                # Not yet given up on the lock: try the full read again soon.
                self._drift_at = now + self._retry_interval
            for record in self._slots.values():
                self._update(record)
            return
        self._drift_at = now + self._drift_interval
        for number, found in self._slots.items():
            # A full read that says nothing of a slot (a write-only lock) counts as "present,
            # unreadable": in sync only if we know what we last wrote there.
            self._observe(found, result.get(number, _UNKNOWN_PRESENT))

    async def _sync(self, record: _Slot) -> None:
        want = record.desired
        if record.clear_first and want.wants_code:
            await self._clear_first(record)
            return
        record.in_flight = True
        record.state, record.reason = (
            SyncState.SYNCING,
            "writing" if want.wants_code else "clearing",
        )
        self._emit(record)
        try:
            if want.wants_code:
                assert want.pin is not None
                pin = want.pin
                self._counts["sets"] += 1
                result = await self._operate(
                    record, lambda: self._provider.set_code(record.number, pin)
                )
            else:
                self._counts["clears"] += 1
                result = await self._operate(
                    record, lambda: self._provider.clear_code(record.number)
                )
        finally:
            record.in_flight = False
        if result is not _FAILED:
            self._wrote(record, want, result)
        self._update(record)
        if record.pending is not None:
            await self._confirm(record)

    async def _clear_first(self, record: _Slot) -> None:
        record.in_flight = True
        record.state, record.reason = SyncState.SYNCING, "clearing before rewriting a masked code"
        self._emit(record)
        try:
            self._counts["clears"] += 1
            result = await self._operate(record, lambda: self._provider.clear_code(record.number))
        finally:
            record.in_flight = False
        if result is not _FAILED:
            record.clear_first = False
            record.observed = SlotCredential.empty()
            record.verified = True
        self._update(record)

    def _wrote(self, record: _Slot, want: Desired, result: WriteResult) -> None:
        """Record what a finished write did. ``want`` is what it wrote, which may no longer be
        what is desired (changed while it was in flight): the lock's content is still what the
        write made it, and the slot is judged against the new target from that."""
        if not want.wants_code:
            record.observed = SlotCredential.empty()
            record.verified = True
            return
        assert want.pin is not None
        digest = pin_digest(self._salt, record.number, want.pin)
        if result is WriteResult.OPTIMISTIC:
            self._counts["optimistic"] += 1
            if record.desired == want:
                record.pending = _Pending(
                    believed=want.pin,
                    digest=digest,
                    deadline=trio.current_time() + self._ttl,
                    before=record.observed,
                )
                record.verified = False
            else:
                self._forget(record)  # superseded and unconfirmed: the slot may hold anything
            return
        # CONFIRMED or NO_CHANGE: the lock itself says it holds the PIN.
        record.observed = SlotCredential.known(want.pin)
        record.verified = True
        self._remember(record, digest)

    async def _confirm(self, record: _Slot) -> None:
        """Read back just this slot (never a full scan): the optimistic write's confirmation."""
        self._counts["reads"] += 1
        result = await self._operate(None, lambda: self._provider.read_slots([record.number]))
        if result is _FAILED:
            return  # not fatal: the slot stays pending and its deadline resolves it
        credential = result.get(record.number)
        if credential is not None:
            self._observe(record, credential)

    # -- observations ------------------------------------------------------------------------

    def _observe(self, record: _Slot, credential: SlotCredential) -> None:
        """Apply a read or push of ``record``'s slot."""
        pending = record.pending
        record.observed = credential
        if pending is not None:
            unchanged = credential == pending.before
            if credential.kind is CredentialKind.KNOWN and credential.pin != pending.believed:
                record.pending = None
                record.verified = True
                if unchanged:
                    # Still the code from before the write: the write did not land.
                    self._charge(record, "write did not land (the previous code is still there)")
                # else: a readable different code is an external change, and it wins
            elif credential.kind is CredentialKind.UNREADABLE and (
                pending.before is not None and pending.before.is_present
            ):
                # A code was there before and a masked one is there now: the reading says
                # nothing about our write. Clear first, then write again, so that the next
                # read-back can tell (no charge).
                self._forget(record)
                record.clear_first = True
            elif credential.is_present:
                record.pending = None  # present (even masked) confirms the believed PIN
                record.verified = True
                self._counts["confirmed_by_read"] += 1
                self._remember(record, pending.digest)
            # absent: keep waiting for the deadline
        elif self._believed and record.last_written is not None and not credential.is_present:
            record.last_written = None  # believed mode: only a contradiction erases belief
        self._update(record)

    async def _consume_pushes(self) -> None:
        async for update in self._provider.updates():
            self._pushed(update)

    def _pushed(self, update: SlotUpdate) -> None:
        self._reachable_again()
        record = self._slots.get(update.slot)
        if record is not None:
            self._observe(record, update.credential)
        self._wake_up()

    def _expire_pending(self, now: float) -> None:
        for record in self._slots.values():
            pending = record.pending
            if pending is None or now < pending.deadline:
                continue
            record.pending = None
            record.verified = True
            if record.desired.pin != pending.believed or not record.desired.wants_code:
                pass  # desired changed meanwhile: dropped without charge
            elif self._believed:
                # Believed mode: silence never erases a belief; only a contradiction does.
                record.observed = _KNOWN_MASKED
                self._remember(record, pending.digest)
            else:
                # The last real reading stays what we know of the slot (never a made-up one).
                self._charge(record, "optimistic write never confirmed")
            self._update(record)

    # -- bookkeeping -------------------------------------------------------------------------

    def _charge(self, record: _Slot, why: str) -> None:
        now = trio.current_time()
        self._counts["slot_failures"] += 1
        record.retry_at = now + self._retry_interval
        if record.breaker.record_failure(now):
            count = record.breaker.count(now)
            record.suspended_for = record.desired
            record.suspend_reason = (
                f"sync attempts exceeded ({count} failures within {record.breaker._window:g} s; "
                f"last: {why})"
            )
        else:
            record.suspend_reason = why

    def _set_unreachable(self) -> None:
        if not self._unreachable:
            logger.warning("lock unreachable after %d disconnects", self._lock_breaker.consecutive)
        self._unreachable = True
        self._probe_at = trio.current_time() + self._lock_breaker.next_probe_delay()
        for record in self._slots.values():
            self._update(record)

    def _reachable_again(self) -> None:
        self._lock_breaker.record_success()
        if self._unreachable:
            # Slots are not re-judged here on readings from before the outage: the read that
            # brought the lock back (or the full re-read it triggers) updates each of them.
            self._unreachable = False
            self._probe_at = math.inf
            self._drift_at = trio.current_time()

    def _forget(self, record: _Slot) -> None:
        """We no longer know what the slot holds: it must be written (or cleared) again."""
        record.pending = None
        record.verified = True
        record.observed = _UNKNOWN_PRESENT
        if record.last_written is not None:
            record.last_written = None
            if self._store is not None:
                self._store.delay_save(self._snapshot, 1.0)

    def _remember(self, record: _Slot, digest: str) -> None:
        if record.last_written == digest:
            return
        record.last_written = digest
        if self._store is not None:
            self._store.delay_save(self._snapshot, 1.0)

    def _snapshot(self) -> dict[str, Any]:
        return {
            "salt": self._salt.hex(),
            "last_written": {
                str(r.number): r.last_written for r in self._slots.values() if r.last_written
            },
        }

    def _digest(self, slot: int, pin: Pin | None) -> str | None:
        return pin_digest(self._salt, slot, pin) if pin is not None else None

    def _update(self, record: _Slot) -> None:
        """Recompute the slot's state from its facts; emit if it changed."""
        synced = record.observed is not None and in_sync(
            record.desired,
            record.observed,
            verified=record.verified,
            last_written=record.last_written,
            digest=record.digest,
        )
        if synced:
            record.breaker.reset()
            record.suspended_for = None
        if record.in_flight:
            return  # SYNCING until the operation returns
        if self._unreachable:
            state, reason = SyncState.SUSPENDED, "lock unreachable; re-probing with backoff"
        elif record.suspended_for is not None:
            state, reason = SyncState.SUSPENDED, record.suspend_reason
        elif record.observed is None:
            state, reason = SyncState.LOADING, "waiting for the first read"
        elif record.pending is not None:
            state, reason = SyncState.PENDING_CONFIRMATION, "optimistic write awaiting confirmation"
        elif synced:
            state, reason = SyncState.IN_SYNC, "in sync"
        else:
            state = SyncState.OUT_OF_SYNC
            reason = record.suspend_reason or "differs from the desired code"
        if (state, reason) != (record.state, record.reason):
            record.state, record.reason = state, reason
            self._emit(record)
            if state is SyncState.OUT_OF_SYNC:
                self._wake_up()

    def _emit(self, record: _Slot) -> None:
        change = SlotChange(record.number, record.state, record.reason)
        for feed in self._subscribers:
            feed.push(change)

    def _wake_up(self) -> None:
        self._wake.set()
        self._wake = trio.Event()

    def _settled(self) -> bool:
        return all(
            r.state in (SyncState.IN_SYNC, SyncState.SUSPENDED) for r in self._slots.values()
        )

    def _slot(self, slot: int) -> _Slot:
        try:
            return self._slots[slot]
        except KeyError:
            raise KeyError(f"slot {slot} is not managed by this engine") from None

    def __repr__(self) -> str:
        return f"<LockSync slots={len(self._slots)} reachable={not self._unreachable}>"


_FAILED = object()


class _Feed:
    """One subscriber's queue of changes (bounded: the oldest are dropped and counted)."""

    def __init__(self, engine: LockSync) -> None:
        self._queue: collections.deque[SlotChange] = collections.deque(maxlen=10_000)
        self._event = trio.Event()
        self.dropped = 0

    def push(self, change: SlotChange) -> None:
        if len(self._queue) == self._queue.maxlen:
            self.dropped += 1
        self._queue.append(change)
        self._event.set()

    def __aiter__(self) -> _Feed:
        return self

    async def __anext__(self) -> SlotChange:
        while not self._queue:
            self._event = trio.Event()
            await self._event.wait()
        await trio.lowlevel.checkpoint()
        return self._queue.popleft()


def _as_pin(pin: str | Pin | None) -> Pin | None:
    if pin is None or isinstance(pin, Pin):
        return pin
    return Pin(pin)


async def _load_memory(store: Store) -> tuple[bytes, dict[int, str]]:
    raw = await store.load()
    if isinstance(raw, dict) and isinstance(raw.get("salt"), str):
        try:
            salt = bytes.fromhex(raw["salt"])
            written = {int(k): str(v) for k, v in dict(raw.get("last_written", {})).items()}
            return salt, written
        except (ValueError, TypeError):
            logger.warning("ignoring malformed credential memory in %s", store.path)
    return secrets.token_bytes(16), {}


@asynccontextmanager
async def open_lock_sync(
    provider: LockProvider,
    slots: Mapping[int, str | None],
    *,
    operation_spacing: float = 2.0,
    pending_ttl: float = 60.0,
    retry_interval: float = 2.0,
    breaker_failures: int = 3,
    breaker_window: float = 300.0,
    drift_interval: float = 3600.0,
    store_path: os.PathLike[str] | str | None = None,
    store: Store | None = None,
    believed: bool = False,
) -> AsyncIterator[LockSync]:
    """Keep ``slots`` of the lock behind ``provider`` as desired, for the duration of the block.

    ``slots`` maps each managed slot to its PIN (None: managed and must be empty). With
    ``store_path`` the engine remembers, across restarts, a salted digest of the last PIN it
    wrote to each slot (so a masked slot needs no extra write after a restart); without, in
    memory. ``store`` is the same with a Store you opened yourself (and keep open longer than
    this block); give at most one of the two. ``believed=True`` is for write-only locks: an
    optimistic write that is never contradicted counts as in sync after ``pending_ttl`` instead
    of being charged (see README).
    """
    for name, value in (
        ("operation_spacing", operation_spacing),
        ("retry_interval", retry_interval),
        ("pending_ttl", pending_ttl),
        ("drift_interval", drift_interval),
        ("breaker_window", breaker_window),
    ):
        if not (value >= 0 if name == "operation_spacing" else value > 0):
            raise ValueError(f"{name} must be positive, got {value!r}")
    desired = {int(n): Desired(enabled=p is not None, pin=_as_pin(p)) for n, p in slots.items()}
    if store_path is not None and store is not None:
        raise ValueError("give store_path or store, not both")
    async with _memory(store_path, store) as (memory, salt, written):
        engine = LockSync(
            provider,
            desired,
            operation_spacing=operation_spacing,
            pending_ttl=pending_ttl,
            retry_interval=retry_interval,
            breaker_failures=breaker_failures,
            breaker_window=breaker_window,
            drift_interval=drift_interval,
            believed=believed,
            salt=salt,
            last_written=written,
            store=memory,
        )
        async with open_service_nursery() as nursery:
            nursery.start_soon(engine._run)
            if provider.supports_push:
                nursery.start_soon(engine._consume_pushes)
            try:
                yield engine
            finally:
                nursery.cancel_scope.cancel()


@asynccontextmanager
async def _memory(
    store_path: os.PathLike[str] | str | None, store: Store | None
) -> AsyncIterator[tuple[Store | None, bytes, dict[int, str]]]:
    if store is not None:
        salt, written = await _load_memory(store)
        yield store, salt, written
        return
    if store_path is None:
        yield None, secrets.token_bytes(16), {}
        return
    async with open_store(store_path) as store:
        salt, written = await _load_memory(store)
        yield store, salt, written
