"""One managed slot as a sans-I/O state machine: inputs carry ``now``, outputs are effects.

:class:`SlotMachine` knows nothing of trio, providers or files. Each input (a reading, an
operation starting or ending, a desired change, a deadline, the lock becoming unreachable or
reachable) moves its :class:`SyncState` along the transition table and returns the effects the
I/O layer carries out: emit a change, remember or forget the digest of the last PIN written,
need a read or an operation (not before some time), wake at a time. An input the current state
does not take raises :class:`~trio_locksync.core.InvalidTransition` and changes nothing.

Each state carries its own payload, present exactly while in it (no flags read together)::

    LOADING ──reading──▶ IN_SYNC | OUT_OF_SYNC | SUSPENDED
    IN_SYNC ──reading that differs──▶ OUT_OF_SYNC
    OUT_OF_SYNC ──begin──▶ SYNCING ──CONFIRMED / NO_CHANGE──▶ IN_SYNC (trusted for pending_ttl)
                                   ──OPTIMISTIC─────────────▶ PENDING_CONFIRMATION
                                   ──failed─────────────────▶ OUT_OF_SYNC (retry) | SUSPENDED
    PENDING_CONFIRMATION ──reading / deadline──▶ IN_SYNC | OUT_OF_SYNC | SUSPENDED
    SUSPENDED (breaker open) ──retry due: begin──▶ SYNCING (a probe; a failure re-opens it)
    any but SYNCING ──lock unreachable──▶ SUSPENDED ──lock reachable──▶ LOADING

The slot breaker (:class:`CircuitBreaker`) decides when charges suspend the slot and when a
suspended slot is tried again; the machine consults it and resets it when the slot is in sync or
wants something else.
"""

from __future__ import annotations

import enum
import math

import attrs

from ..core import Backoff, BreakerState, CircuitBreaker, InvalidTransition, Jitter, Pin, StateTable
from ._models import CredentialKind, SlotCredential, SyncState, WriteResult
from ._rules import Desired, in_sync, pin_digest

__all__ = [
    "Changed",
    "Charged",
    "Confirmed",
    "Effect",
    "Failure",
    "Forget",
    "Need",
    "NeedKind",
    "OpKind",
    "Operation",
    "Remember",
    "SlotMachine",
    "SlotPolicy",
    "WakeAt",
]

S = SyncState

_TABLE: dict[SyncState, frozenset[SyncState]] = {
    S.LOADING: frozenset({S.LOADING, S.IN_SYNC, S.OUT_OF_SYNC, S.SUSPENDED}),
    S.IN_SYNC: frozenset({S.IN_SYNC, S.OUT_OF_SYNC, S.SUSPENDED}),
    S.OUT_OF_SYNC: frozenset({S.OUT_OF_SYNC, S.IN_SYNC, S.SYNCING, S.SUSPENDED}),
    S.SYNCING: frozenset(
        {S.SYNCING, S.IN_SYNC, S.OUT_OF_SYNC, S.PENDING_CONFIRMATION, S.SUSPENDED}
    ),
    S.PENDING_CONFIRMATION: frozenset(
        {S.PENDING_CONFIRMATION, S.IN_SYNC, S.OUT_OF_SYNC, S.SUSPENDED}
    ),
    S.SUSPENDED: frozenset({S.SUSPENDED, S.IN_SYNC, S.OUT_OF_SYNC, S.SYNCING, S.LOADING}),
}

#: the default schedule of retries of a suspended slot: 1 h doubling to 24 h
SUSPENDED_RETRY = Backoff(initial=3600.0, maximum=86400.0, factor=2.0, jitter=Jitter.NONE)

#: what we know of a slot whose content we cannot tell: present, unreadable
_UNKNOWN = SlotCredential.unreadable()
#: the reason of a slot in sync although the lock just read it empty (the trust window)
_TRUSTING = (
    "in sync (the lock accepted this code moments ago but reads the slot empty; "
    "trusted until the window ends)"
)


# -- operations and effects ----------------------------------------------------------------------


class OpKind(enum.Enum):
    """The provider call an operation makes."""

    SET = "set"
    CLEAR = "clear"
    #: clear a masked code before writing, so that the write's read-back can tell
    CLEAR_FIRST = "clear_first"


@attrs.frozen
class Operation:
    """A write the machine asked for: ``SET`` writes ``pin``; the clears write nothing.
    ``target`` is what the slot was wanted to hold when it began."""

    kind: OpKind
    target: Desired

    @property
    def pin(self) -> Pin:
        """The PIN a SET writes."""
        if self.kind is not OpKind.SET or self.target.pin is None:
            raise ValueError(f"a {self.kind.value} operation writes no PIN")
        return self.target.pin


class Failure(enum.Enum):
    """How an operation failed, as the caller classified the provider's error."""

    #: LockDisconnected: the lock's fault, not the slot's (uncharged; the lock breaker counts it)
    DISCONNECTED = "disconnected"
    #: LockOperationFailed: charged to the slot
    FAILED = "failed"
    #: CodeRejected: suspended until the desired code changes
    REJECTED = "rejected"
    #: anything else (a provider bug): the slot breaker opens at once
    UNEXPECTED = "unexpected"


class NeedKind(enum.Enum):
    """What a slot needs from the worker."""

    NOTHING = "nothing"
    #: a read of this slot (a read-back, or a re-check at the end of a trust window)
    READ = "read"
    #: its turn for an operation (:meth:`SlotMachine.begin`)
    OPERATION = "operation"


@attrs.frozen
class Changed:
    """The slot's (state, reason) changed: tell the subscribers."""

    state: SyncState
    reason: str


@attrs.frozen
class Remember:
    """Persist ``digest`` as the last PIN written to the slot."""

    digest: str


@attrs.frozen
class Forget:
    """The slot no longer holds the last PIN we wrote (or we cannot tell): drop its digest."""


@attrs.frozen
class Need:
    """Replaces the slot's previous need: ``kind``, not before ``not_before``."""

    kind: NeedKind
    not_before: float = -math.inf


@attrs.frozen
class WakeAt:
    """Replaces the slot's previous wake-up: call :meth:`SlotMachine.tick` at ``when``
    (``math.inf``: never)."""

    when: float


@attrs.frozen
class Charged:
    """A failure was charged to the slot breaker (for statistics)."""

    why: str


@attrs.frozen
class Confirmed:
    """An optimistic write was confirmed by reading the slot back (for statistics)."""


Effect = Changed | Remember | Forget | Need | WakeAt | Charged | Confirmed


# -- the payload of each state --------------------------------------------------------------------


class SuspendCause(enum.Enum):
    """Why a slot is SUSPENDED."""

    #: the slot breaker is open (charged failures, or an unexpected provider error)
    BREAKER = "breaker"
    #: the lock refused the code; nothing happens until the desired code changes
    REJECTED = "rejected"
    #: the whole lock is unreachable; the lock's probes bring it back
    UNREACHABLE = "unreachable"


@attrs.frozen
class _Loading:
    pass


@attrs.frozen
class _InSync:
    pass


@attrs.frozen
class _OutOfSync:
    retry_at: float
    clear_first: bool


@attrs.frozen
class _Syncing:
    operation: Operation


@attrs.frozen
class _Pending:
    target: Desired
    #: what the write should have left: the PIN, or None for a clear
    believed: Pin | None
    deadline: float
    #: the reading before the write: a read-back equal to it says nothing about the write
    before: SlotCredential
    read_at: float


@attrs.frozen
class _Suspended:
    cause: SuspendCause


_Payload = _Loading | _InSync | _OutOfSync | _Syncing | _Pending | _Suspended


@attrs.frozen
class SlotPolicy:
    """The timing of one lock's slots (see :func:`open_lock_sync`)."""

    pending_ttl: float = 60.0
    retry_interval: float = 2.0
    believed: bool = False


class SlotMachine:
    """One managed slot's sync state; sans-I/O and not thread-safe."""

    __slots__ = (
        "_breaker",
        "_desired",
        "_digest",
        "_doubt_expires",
        "_effects",
        "_last_written",
        "_need",
        "_observed",
        "_payload",
        "_policy",
        "_reason",
        "_salt",
        "_state",
        "_trusted_until",
        "_wake",
        "slot",
    )

    def __init__(
        self,
        slot: int,
        desired: Desired,
        *,
        salt: bytes,
        last_written: str | None,
        breaker: CircuitBreaker,
        policy: SlotPolicy,
    ) -> None:
        self.slot = slot
        self._salt = salt
        self._policy = policy
        self._breaker = breaker
        self._desired = desired
        self._digest = self._digest_of(desired.pin)
        #: the digest of the last PIN written to the slot, as remembered (persisted) by the caller
        self._last_written = last_written
        #: what we know the slot holds (the last reading, or what a confirmed write left)
        self._observed = _UNKNOWN
        #: until this time an empty reading is trusted away: the lock accepted our write of the
        #: code ``_observed`` holds (cloud-synced locks report a just-written slot empty)
        self._trusted_until = -math.inf
        #: once an empty reading was trusted away: when the trust runs out (then the slot is
        #: believed empty, and a rewrite of the code it was accepted with is charged)
        self._doubt_expires = math.inf
        self._state = StateTable(f"slot {slot}", S.LOADING, _TABLE)
        self._payload: _Payload = _Loading()
        self._reason = "waiting for the first read"
        self._need = Need(NeedKind.NOTHING)
        self._wake = math.inf
        self._effects: list[Effect] = []

    # -- what callers read ------------------------------------------------------------------

    @property
    def state(self) -> SyncState:
        """The slot's state."""
        return self._state.current

    @property
    def reason(self) -> str:
        """Why the slot is in its state (never contains a PIN)."""
        return self._reason

    @property
    def desired(self) -> Desired:
        """What the slot should hold."""
        return self._desired

    @property
    def observed(self) -> SlotCredential:
        """What we know the slot holds (``unreadable()`` when we cannot tell)."""
        return self._observed

    @property
    def last_written(self) -> str | None:
        """The digest of the last PIN we know we wrote there, or None."""
        return self._last_written

    @property
    def breaker(self) -> CircuitBreaker:
        """The slot's breaker (read it; the machine drives it)."""
        return self._breaker

    @property
    def need(self) -> Need:
        """What the slot needs from the worker now (the last :class:`Need` effect)."""
        return self._need

    @property
    def wake(self) -> float:
        """When the slot wants :meth:`tick` (the last :class:`WakeAt` effect)."""
        return self._wake

    def snapshot(self) -> tuple[object, ...]:
        """Everything the machine holds, for checking that a refused input changed nothing."""
        return (
            self._state.current,
            self._payload,
            self._reason,
            self._desired,
            self._observed,
            self._trusted_until,
            self._doubt_expires,
            self._last_written,
            self._need,
            self._wake,
            self._breaker.state,
            self._breaker.retry_at,
        )

    # -- inputs -----------------------------------------------------------------------------

    def desire(self, now: float, desired: Desired) -> list[Effect]:
        """The slot should hold ``desired`` from now on. A change lifts a suspension and resets
        the breaker; it drops a pending optimistic write without charge (its outcome is then
        unknown: the slot must be written again)."""
        if desired == self._desired:
            return []
        self._desired = desired
        self._digest = self._digest_of(desired.pin)
        self._breaker.reset()
        payload = self._payload
        if isinstance(payload, _Loading | _Syncing) or (
            isinstance(payload, _Suspended) and payload.cause is SuspendCause.UNREACHABLE
        ):
            pass  # judged by the next reading or by the operation's result
        elif isinstance(payload, _Pending):
            self._forget_content()
            self._settle(now)
        else:
            self._settle(now, retry_at=-math.inf)
        return self._done()

    def observe(self, now: float, reading: SlotCredential) -> list[Effect]:
        """A reading of the slot: a full read, a read-back, or a push."""
        if now >= self._doubt_expires:
            self._trust_ran_out(now)
        payload = self._payload
        if reading.kind is not CredentialKind.EMPTY:
            self._trusted_until, self._doubt_expires = -math.inf, math.inf
        elif now < self._trusted_until and not isinstance(payload, _Pending):
            # A recent set is trusted over an empty reading until the window ends (a pending
            # write waits for its deadline anyway): then, if nothing showed a code meanwhile,
            # the slot is believed empty.
            self._doubt_expires = self._trusted_until
            if isinstance(self._payload, _InSync):
                self._enter(S.IN_SYNC, self._payload, _TRUSTING)
            return self._done()
        if isinstance(payload, _Pending):
            self._resolve(now, payload, reading)
        else:
            self._take(reading)
            self._judge(now)
        return self._done()

    def read_failed(self, now: float) -> list[Effect]:
        """A read-back this slot needed failed: a pending write keeps waiting for its deadline."""
        payload = self._payload
        if isinstance(payload, _Pending):
            self._enter(S.PENDING_CONFIRMATION, attrs.evolve(payload, read_at=math.inf))
        return self._done()

    def begin(self, now: float) -> tuple[Operation, list[Effect]]:
        """The worker gives the slot its turn: the operation to make. Only when the slot needs
        one (OUT_OF_SYNC and due, or SUSPENDED with its retry due)."""
        payload = self._payload
        due = self._need.kind is NeedKind.OPERATION and now >= self._need.not_before
        if not due or not isinstance(payload, _OutOfSync | _Suspended):
            raise InvalidTransition(f"slot {self.slot}", self._state.current, S.SYNCING)
        self._breaker.probe(now)
        if self._doubt_expires < math.inf:
            self._take(SlotCredential.empty())  # a new write ends the trust: believe the reading
        self._trusted_until, self._doubt_expires = -math.inf, math.inf
        if not self._desired.wants_code:
            kind = OpKind.CLEAR
        elif isinstance(payload, _OutOfSync) and payload.clear_first:
            kind = OpKind.CLEAR_FIRST
        else:
            kind = OpKind.SET
        operation = Operation(kind, self._desired)
        reason = {
            OpKind.SET: "writing",
            OpKind.CLEAR: "clearing",
            OpKind.CLEAR_FIRST: "clearing before rewriting a masked code",
        }[kind]
        self._enter(S.SYNCING, _Syncing(operation), reason)
        return operation, self._done()

    def written(self, now: float, result: WriteResult) -> list[Effect]:
        """The operation returned ``result``. The slot is judged against what is desired *now*
        (it may have changed while the write was in flight) from what the write left."""
        operation = self._syncing("written").operation
        pin = operation.pin if operation.kind is OpKind.SET else None
        if pin is not None:
            # Whatever the answer, the lock may hold the PIN now: an empty reading within
            # pending_ttl does not prove otherwise (a lock may report a write late).
            self._trusted_until = now + self._policy.pending_ttl
        if result is WriteResult.OPTIMISTIC:
            if self._desired == operation.target:
                self._enter_pending(now, operation, pin)
            else:
                self._forget_content()  # superseded and unconfirmed: it may hold anything
                self._settle(now)
            return self._done()
        # CONFIRMED or NO_CHANGE: the lock itself says the slot holds it.
        if pin is None:
            self._observed = SlotCredential.empty()
            self._forget_memory()
            self._settle(now, seen=False)
        else:
            self._observed = SlotCredential.known(pin)
            self._remember(pin_digest(self._salt, self.slot, pin))
            self._settle(now, seen=False)
        return self._done()

    def unverified(self, now: float, why: str) -> list[Effect]:
        """The operation returned something that is not a WriteResult (a provider bug): charged
        to the slot, and verified by reading back as if it were OPTIMISTIC."""
        self._syncing("unverified")
        self._effects.append(Charged(why))
        self._breaker.record_failure(now)
        return self.written(now, WriteResult.OPTIMISTIC)

    def failed(self, now: float, failure: Failure, detail: str) -> list[Effect]:
        """The operation raised; ``detail`` says what (never a PIN)."""
        self._syncing("failed")
        if failure is Failure.DISCONNECTED:
            self._settle(now, retry_at=now + self._policy.retry_interval, why=detail)
        elif failure is Failure.FAILED:
            self._charge(now, f"operation failed: {detail}")
        elif failure is Failure.REJECTED:
            self._enter(
                S.SUSPENDED,
                _Suspended(SuspendCause.REJECTED),
                f"code rejected by the lock: {detail}",
            )
        else:
            self._breaker.trip(now)
            self._settle(now, why=f"unexpected error {detail} (logged)")
        return self._done()

    def tick(self, now: float) -> list[Effect]:
        """Time passed: an optimistic write whose deadline came is resolved; a trusted write
        whose slot still read empty when its trust ran out is out of sync, and charged."""
        if now >= self._doubt_expires:
            self._trust_ran_out(now)
        payload = self._payload
        if not (isinstance(payload, _Pending) and now >= payload.deadline):
            return self._done()
        if not self._policy.believed:
            # The write may or may not have landed: the slot's content is unknown (neither the
            # reading from before the write nor a made-up one), so it is written again.
            self._forget_content()
            self._charge(now, "optimistic write never confirmed")
        elif payload.believed is None:
            self._observed = SlotCredential.empty()
            self._forget_memory()
            self._settle(now)
        else:
            # Believed mode: silence never erases a belief; only a contradiction does.
            self._observed = _UNKNOWN
            self._remember(pin_digest(self._salt, self.slot, payload.believed))
            self._settle(now)
        return self._done()

    def lock_unreachable(self, now: float, why: str) -> list[Effect]:
        """The lock cannot be reached: SUSPENDED until it can. A pending write is dropped
        without charge (the outage is not the slot's fault); the next full read judges it."""
        if isinstance(self._payload, _Syncing):
            raise InvalidTransition(f"slot {self.slot}", S.SYNCING, "lock unreachable")
        reason = "lock unreachable; re-probing with backoff" + (f" ({why})" if why else "")
        self._enter(S.SUSPENDED, _Suspended(SuspendCause.UNREACHABLE), reason)
        return self._done()

    def lock_reachable(self, now: float) -> list[Effect]:
        """The lock answers again: LOADING until the full read that follows."""
        payload = self._payload
        if not (isinstance(payload, _Suspended) and payload.cause is SuspendCause.UNREACHABLE):
            raise InvalidTransition(f"slot {self.slot}", self._state.current, S.LOADING)
        self._enter(S.LOADING, _Loading(), "re-reading after the lock was unreachable")
        return self._done()

    # -- judging ----------------------------------------------------------------------------

    def _trust_ran_out(self, now: float) -> None:
        """The slot read empty within the trust window and nothing has shown the code since:
        it is empty after all. If it is wanted with that code, the rewrite is charged (a lock
        that accepts codes and keeps none must add up to a suspension)."""
        self._trusted_until, self._doubt_expires = -math.inf, math.inf
        self._take(SlotCredential.empty())
        if isinstance(self._payload, _InSync):
            self._charge(now, "the lock accepted the code, but the slot still reads empty")
        elif not isinstance(self._payload, _Loading):  # LOADING waits for a real reading
            self._judge(now)

    def _judge(self, now: float) -> None:
        """Re-judge the slot after a reading (not while an operation or a pending write
        decides, nor while the lock is unreachable; a rejection holds until the desired code
        changes or the slot is found in sync)."""
        payload = self._payload
        if isinstance(payload, _Syncing | _Pending):
            return
        if isinstance(payload, _Suspended):
            if payload.cause is SuspendCause.UNREACHABLE:
                return
            if payload.cause is SuspendCause.REJECTED and not self._in_sync():
                return
        self._settle(now)

    def _resolve(self, now: float, payload: _Pending, reading: SlotCredential) -> None:
        """A reading of a slot whose optimistic write awaits confirmation."""
        believed = payload.believed
        if believed is None:
            if reading.kind is CredentialKind.EMPTY:
                self._take(reading)
                self._effects.append(Confirmed())
                self._settle(now)
            else:  # still shows a code: wait for the deadline
                self._observed = reading
                self._enter(S.PENDING_CONFIRMATION, attrs.evolve(payload, read_at=math.inf))
            return
        if reading.kind is CredentialKind.KNOWN and reading.pin != believed:
            self._take(reading)
            if reading == payload.before:
                # Still the code from before the write: the write did not land.
                self._charge(now, "write did not land (the previous code is still there)")
            else:
                self._settle(now)  # a readable different code is an external change: it wins
        elif reading.kind is CredentialKind.UNREADABLE and payload.before.is_present:
            # A code was there before and a masked one is there now: the reading says nothing
            # about our write. Clear first, then write again, so the next read-back can tell.
            self._forget_content()
            self._settle(now, clear_first=True)
        elif reading.is_present:
            self._observed = reading  # present (even masked) confirms the believed PIN
            self._remember(pin_digest(self._salt, self.slot, believed))
            self._effects.append(Confirmed())
            self._settle(now)
        else:  # absent: keep waiting for the deadline
            self._observed = reading
            self._enter(S.PENDING_CONFIRMATION, attrs.evolve(payload, read_at=math.inf))

    def _settle(
        self,
        now: float,
        *,
        retry_at: float | None = None,
        why: str | None = None,
        clear_first: bool = False,
        seen: bool = True,
    ) -> None:
        """Enter IN_SYNC, SUSPENDED (breaker open) or OUT_OF_SYNC, as the facts say.

        ``seen``: the facts come from a reading (or a desired change), not only from the lock's
        answer to our own write. Only a slot *seen* in sync resets its breaker: a lock that
        accepts every write and keeps none must still add up to a suspension."""
        if self._in_sync():
            if seen:
                self._breaker.reset()
            trusting = self._doubt_expires < math.inf
            self._enter(S.IN_SYNC, _InSync(), _TRUSTING if trusting else "in sync")
            return
        if self._breaker.state is BreakerState.OPEN:
            payload = _Suspended(SuspendCause.BREAKER)
            # A reading of a slot already suspended keeps the reason it was suspended for.
            keep = why is None and self._payload == payload
            self._enter(S.SUSPENDED, payload, None if keep else self._suspended_reason(now, why))
            return
        previous = self._payload
        if retry_at is None:
            retry_at = previous.retry_at if isinstance(previous, _OutOfSync) else -math.inf
        if isinstance(previous, _OutOfSync) and previous.clear_first:
            clear_first = self._observed.kind is not CredentialKind.EMPTY
        self._enter(
            S.OUT_OF_SYNC,
            _OutOfSync(retry_at=retry_at, clear_first=clear_first and self._desired.wants_code),
            why or "differs from the desired code",
        )

    def _charge(self, now: float, why: str) -> None:
        """A failure of this slot's sync: retried after ``retry_interval``, or suspended."""
        self._effects.append(Charged(why))
        self._breaker.record_failure(now)
        self._settle(now, retry_at=now + self._policy.retry_interval, why=why)

    def _suspended_reason(self, now: float, why: str | None) -> str:
        breaker = self._breaker
        last = f"last: {why}" if why else "charged failures"
        if math.isinf(breaker.retry_at):
            then = "no retry until the desired code changes"
        else:
            then = f"next try in {_duration(breaker.retry_at - now)}"
        if why and why.startswith("unexpected error"):
            return f"{why}; {then}"
        return (
            f"sync attempts exceeded ({breaker.failures} failures within {breaker.window:g} s; "
            f"{last}); {then}"
        )

    def _in_sync(self) -> bool:
        return in_sync(
            self._desired,
            self._observed,
            verified=True,
            last_written=self._last_written,
            digest=self._digest,
        )

    # -- bookkeeping ------------------------------------------------------------------------

    def _syncing(self, what: str) -> _Syncing:
        payload = self._payload
        if not isinstance(payload, _Syncing):
            raise InvalidTransition(f"slot {self.slot}", self._state.current, what)
        return payload

    def _enter_pending(self, now: float, operation: Operation, believed: Pin | None) -> None:
        pending = _Pending(
            target=operation.target,
            believed=believed,
            deadline=now + self._policy.pending_ttl,
            before=self._observed,
            read_at=now,  # no push confirms a masked write: read it back at once
        )
        self._enter(S.PENDING_CONFIRMATION, pending, "optimistic write awaiting confirmation")

    def _take(self, reading: SlotCredential) -> None:
        """Adopt a reading. An empty slot no longer holds the last PIN we wrote."""
        self._observed = reading
        if reading.kind is CredentialKind.EMPTY:
            self._forget_memory()

    def _forget_content(self) -> None:
        """We no longer know what the slot holds: it must be written (or cleared) again."""
        self._observed = _UNKNOWN
        self._forget_memory()

    def _forget_memory(self) -> None:
        if self._last_written is not None:
            self._last_written = None
            self._effects.append(Forget())

    def _remember(self, digest: str) -> None:
        if self._last_written != digest:
            self._last_written = digest
            self._effects.append(Remember(digest))

    def _digest_of(self, pin: Pin | None) -> str | None:
        return pin_digest(self._salt, self.slot, pin) if pin is not None else None

    def _enter(self, state: SyncState, payload: _Payload, reason: str | None = None) -> None:
        previous = (self._state.current, self._reason)
        self._state.advance(state)
        self._payload = payload
        if reason is not None:
            self._reason = reason
        if (state, self._reason) != previous:
            self._effects.append(Changed(state, self._reason))

    def _done(self) -> list[Effect]:
        """Close an input: add the need and wake-up if they changed, hand the effects over."""
        payload = self._payload
        need = Need(NeedKind.NOTHING)
        wake = math.inf
        if isinstance(payload, _OutOfSync):
            need = Need(NeedKind.OPERATION, payload.retry_at)
        elif isinstance(payload, _Suspended) and payload.cause is SuspendCause.BREAKER:
            if self._breaker.retry_at < math.inf:
                need = Need(NeedKind.OPERATION, self._breaker.retry_at)
        elif isinstance(payload, _Pending):
            wake = payload.deadline
            if payload.read_at < math.inf:
                need = Need(NeedKind.READ, payload.read_at)
        wake = min(wake, self._doubt_expires)
        if need != self._need:
            self._need = need
            self._effects.append(need)
        if wake != self._wake:
            self._wake = wake
            self._effects.append(WakeAt(wake))
        effects, self._effects = self._effects, []
        return effects

    def __repr__(self) -> str:
        return f"<SlotMachine slot={self.slot} {self._state.current.value}: {self._reason}>"


def _duration(seconds: float) -> str:
    """``3600`` → ``"1 h"``, ``90`` → ``"90 s"``: a delay as a person reads it."""
    if seconds >= 3600 and seconds % 3600 == 0:
        return f"{seconds / 3600:g} h"
    if seconds >= 60 and seconds % 60 == 0:
        return f"{seconds / 60:g} min"
    return f"{seconds:g} s"
