"""What one slot machine holds, and how facts settle it: the seam under :class:`SlotMachine`.

:class:`SlotCore` keeps the slot's state (a :class:`SyncState` on the transition table, the
state's payload, the reason), what is known of its content (:class:`SlotKnowledge`), its
breaker, and the effects an input is producing. Its judging methods turn the facts an input
established into the state they call for (IN_SYNC, OUT_OF_SYNC with a write plan, SUSPENDED),
charging the breaker where the slot failed; its bookkeeping enters states and closes an input
by deriving the need and the wake-up from the state reached. :class:`SlotMachine` (``_slot``)
adds the inputs: each establishes facts and asks the core to settle. Sans-I/O, like the machine.
"""

from __future__ import annotations

import math

import attrs

from ..core import BreakerState, CircuitBreaker, InvalidTransition, Pin, StateTable
from ._effects import Changed, Charged, Confirmed, Effect, Need, NeedKind, Operation, WakeAt
from ._knowledge import SlotKnowledge
from ._models import CredentialKind, SlotCredential, SyncState
from ._rules import Desired, ReadBack, judge_read_back
from ._slot_states import (
    TABLE,
    TRUSTING,
    InSync,
    Loading,
    OutOfSync,
    Payload,
    Pending,
    SlotPolicy,
    SuspendCause,
    Suspended,
    Syncing,
    WritePlan,
    duration,
)

__all__ = ["SlotCore"]

S = SyncState


class SlotCore:
    """One slot's held state and its judging; :class:`SlotMachine` adds the inputs."""

    __slots__ = (
        "_breaker",
        "_desired",
        "_effects",
        "_known",
        "_need",
        "_payload",
        "_policy",
        "_reason",
        "_state",
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
        wrote_at: float = -math.inf,
    ) -> None:
        """``wrote_at``: when the engine last wrote a PIN to the slot (for a slot taken again
        soon after it was released): an empty reading within ``pending_ttl`` of it is set
        aside, as after the machine's own write."""
        self.slot: int = slot
        self._policy = policy
        self._breaker = breaker
        self._desired = desired
        self._effects: list[Effect] = []
        #: what we know the slot holds; it adds Remember/Forget to ``_effects``
        self._known = SlotKnowledge(
            slot, salt=salt, last_written=last_written, effects=self._effects
        )
        if wrote_at > -math.inf:
            self._known.wrote(wrote_at, policy.pending_ttl)
        self._state = StateTable(f"slot {slot}", S.LOADING, TABLE)
        self._payload: Payload = Loading()
        self._reason = "waiting for the first read"
        self._need = Need(NeedKind.NOTHING)
        self._wake = math.inf

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
        return self._known.observed

    @property
    def last_written(self) -> str | None:
        """The digest of the last PIN we know we wrote there, or None."""
        return self._known.last_written

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
            self._known.snapshot(),
            self._need,
            self._wake,
            self._breaker.state,
            self._breaker.retry_at,
        )

    # -- judging ----------------------------------------------------------------------------

    def _after_trust(self, now: float) -> None:
        """The slot read empty within the trust window and nothing has shown a code since.
        Wanted with that code (IN_SYNC): it is empty after all, and the rewrite is charged (a
        lock that accepts codes and keeps none must add up to a suspension). Otherwise the
        empty reading is too old to prove the slot empty: its content is unknown."""
        if isinstance(self._payload, InSync):
            self._known.take(SlotCredential.empty())
            self._charge(now, "the lock accepted the code, but the slot still reads empty")
        else:
            self._known.forget_content()
            if not isinstance(self._payload, Loading):  # LOADING waits for a real reading
                self._judge(now)

    def _judge(self, now: float, *, plan: WritePlan = WritePlan.DIRECT) -> None:
        """Re-judge the slot after a reading (not while an operation or a pending write
        decides, nor while the lock is unreachable; a rejection holds until the desired code
        changes or the slot is found in sync). ``plan``: OVER_MASKED if the reading showed a
        masked code."""
        payload = self._payload
        if isinstance(payload, Syncing | Pending):
            return
        if isinstance(payload, Suspended):
            if payload.cause is SuspendCause.UNREACHABLE:
                return
            if payload.cause is SuspendCause.REJECTED and not self._known.in_sync(self._desired):
                return
        self._settle(now, plan=plan)

    def _resolve(
        self, now: float, payload: Pending, reading: SlotCredential, *, current: bool = False
    ) -> None:
        """A reading of a slot whose optimistic write awaits confirmation (``current``: the
        lock's own answer to the targeted read-back, given after it carried out the write)."""
        verdict = judge_read_back(payload.believed, payload.before, reading, current=current)
        if verdict is ReadBack.ABSENT:
            # Evidence, not lag: the lock answered after the set and holds no code. Charged as
            # any lost write (repeated losses suspend the slot, visibly), and written again at
            # the next operation rather than after pending_ttl; no trust in the lost write.
            self._known.end_trust()
            self._known.take(reading)
            self._charge(now, "write did not land (the lock's answer shows no code)", retry_at=now)
        elif verdict is ReadBack.WAITING:
            self._known.observed = reading
            self._enter(S.PENDING_CONFIRMATION, attrs.evolve(payload, read_at=math.inf))
        elif verdict is ReadBack.CONFIRMED:
            self._known.take(reading)
            if payload.believed is not None:
                self._known.remember(payload.believed)
            self._effects.append(Confirmed())
            self._settle(now)
        elif verdict is ReadBack.UNINFORMATIVE:
            # A set over a code we could not see (shown masked on a lock whose last set was
            # confirmed, or content unknown after an unconfirmed write): clear first, then write
            # again, so that the next read-back can tell (uncharged).
            self._known.forget_content()
            self._settle(now, plan=WritePlan.CLEAR_FIRST)
        else:
            self._known.take(reading)
            if verdict is ReadBack.LOST:
                self._charge(now, "write did not land (the previous code is still there)")
            else:
                self._settle(now)  # an external change wins

    def _settle(
        self,
        now: float,
        *,
        retry_at: float | None = None,
        why: str | None = None,
        plan: WritePlan = WritePlan.DIRECT,
        seen: bool = True,
    ) -> None:
        """Enter IN_SYNC, SUSPENDED (breaker open) or OUT_OF_SYNC, as the facts say.

        ``plan``: how the next write begins, as these facts say (OVER_MASKED: the slot showed a
        masked code; CLEAR_FIRST: a set over a masked code could not be verified). A stronger
        plan of the previous state is kept while the slot still reads masked: through a clear's
        failures, retries and expiry, and through a failed set; a clear that the lock confirmed,
        or an empty or readable reading, ends it.

        ``seen``: the facts come from a reading (or a desired change), not only from the lock's
        answer to our own write. Only a slot *seen* in sync resets its breaker: a lock that
        accepts every write and keeps none must still add up to a suspension."""
        if self._known.in_sync(self._desired):
            if seen:
                self._breaker.reset()
            trusting = self._known.doubting
            self._enter(S.IN_SYNC, InSync(), TRUSTING if trusting else "in sync")
            return
        previous = self._payload
        if self._known.observed.kind is CredentialKind.UNREADABLE:
            plan = plan.or_kept(_plan_of(previous))
        if self._breaker.state is BreakerState.OPEN:
            payload = Suspended(SuspendCause.BREAKER, plan)
            # A reading of a slot already suspended keeps the reason it was suspended for.
            keep = why is None and self._payload == payload
            self._enter(S.SUSPENDED, payload, None if keep else self._suspended_reason(now, why))
            return
        if retry_at is None:
            retry_at = previous.retry_at if isinstance(previous, OutOfSync) else -math.inf
        self._enter(
            S.OUT_OF_SYNC,
            OutOfSync(retry_at=retry_at, plan=plan),
            why or "differs from the desired code",
        )

    def _charge(self, now: float, why: str, *, retry_at: float | None = None) -> None:
        """A failure of this slot's sync: retried after ``retry_interval`` (or at
        ``retry_at``), or suspended."""
        self._effects.append(Charged(why))
        self._breaker.record_failure(now)
        if retry_at is None:
            retry_at = now + self._policy.retry_interval
        self._settle(now, retry_at=retry_at, why=why)

    def _suspended_reason(self, now: float, why: str | None) -> str:
        breaker = self._breaker
        last = f"last: {why}" if why else "charged failures"
        if math.isinf(breaker.retry_at):
            then = "no retry until the desired code changes"
        else:
            then = f"next try in {duration(breaker.retry_at - now)}"
        if why and why.startswith("unexpected error"):
            return f"{why}; {then}"
        return (
            f"sync attempts exceeded ({breaker.failures} failures within {breaker.window:g} s; "
            f"{last}); {then}"
        )

    # -- bookkeeping ------------------------------------------------------------------------

    def _syncing(self, what: str) -> Syncing:
        payload = self._payload
        if not isinstance(payload, Syncing):
            raise InvalidTransition(f"slot {self.slot}", self._state.current, what)
        return payload

    def _enter_pending(self, now: float, operation: Operation, believed: Pin | None) -> None:
        pending = Pending(
            target=operation.target,
            believed=believed,
            deadline=now + self._policy.pending_ttl,
            before=self._known.observed,
            read_at=now,  # no push confirms a masked write: read it back at once
        )
        self._enter(S.PENDING_CONFIRMATION, pending, "optimistic write awaiting confirmation")

    def _enter(self, state: SyncState, payload: Payload, reason: str | None = None) -> None:
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
        if isinstance(payload, OutOfSync):
            need = Need(NeedKind.OPERATION, payload.retry_at)
        elif isinstance(payload, Suspended) and payload.cause is SuspendCause.BREAKER:
            if self._breaker.retry_at < math.inf:
                need = Need(NeedKind.OPERATION, self._breaker.retry_at)
        elif isinstance(payload, Pending):
            wake = payload.deadline
            if payload.read_at < math.inf:
                need = Need(NeedKind.READ, payload.read_at)
        wake = min(wake, self._known.doubt_expires)
        if need != self._need:
            self._need = need
            self._effects.append(need)
        if wake != self._wake:
            self._wake = wake
            self._effects.append(WakeAt(wake))
        effects = list(self._effects)
        self._effects.clear()  # in place: the knowledge appends to this very list
        return effects


def _plan_of(payload: Payload) -> WritePlan:
    """The plan ``payload`` carries: planned, in flight, or (a clear-then-set's clear) pending."""
    if isinstance(payload, OutOfSync | Suspended | Syncing):
        return payload.plan
    if isinstance(payload, Pending) and payload.believed is None and payload.target.wants_code:
        return WritePlan.CLEAR_FIRST
    return WritePlan.DIRECT
