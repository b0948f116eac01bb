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
                                   ──a clear before a set done──▶ OUT_OF_SYNC (now the set)
                                   ──OPTIMISTIC─────────────▶ PENDING_CONFIRMATION
                                   ──failed─────────────────▶ OUT_OF_SYNC (retry) | SUSPENDED
    PENDING_CONFIRMATION ──reading / deadline──▶ IN_SYNC | OUT_OF_SYNC | SUSPENDED
                         ──read-back proves the set absent──▶ OUT_OF_SYNC (due now) | SUSPENDED
    SUSPENDED (breaker open) ──retry due: begin──▶ SYNCING (a probe; a failure re-opens it)
    any but SYNCING ──lock unreachable──▶ SUSPENDED ──lock reachable──▶ LOADING

**A masked code is cleared before it is overwritten, unless the lock's sets prove themselves**
(issue 19). A set over a masked code that the lock answers OPTIMISTIC can never be verified: the
read-back shows a masked code whether the set landed or not (:attr:`ReadBack.UNINFORMATIVE`). A
set the lock answers CONFIRMED proves itself. So a reading that shows a masked code while the
slot is not in sync (it wants a code, and the last PIN we remember writing there is not that
code) gives the slot the plan ``WritePlan.OVER_MASKED``, and the write is chosen when it begins,
from what this lock's sets have shown (:class:`WriteEvidence`: lock-level knowledge that
:class:`SyncDriver` holds and passes to :meth:`SlotMachine.begin`). After a set the lock answered
CONFIRMED: one set. Otherwise (the last set was answered OPTIMISTIC, or none was answered yet):
clear-then-set (``OpKind.CLEAR_FIRST``), one clear, whose read-back can show the slot empty, then
one set, whose read-back over an empty slot can tell, instead of a set that proves nothing, a
clear and the set again. The slot is empty between the two; that is the price. On a lock that
confirms its writes the first masked slot costs that one clear too (nothing is known yet); the
masked slots after its first confirmed set are set directly.

Once a clear-then-set has begun it is the plan (``WritePlan.CLEAR_FIRST``) for as long as the
slot may still hold a code we cannot read (the clear failed, was not confirmed by its deadline,
or the lock was not heard), whatever other slots' sets show meanwhile: every retry is a clear
again (a suspended slot's probe too), charged like any write, so a lock that ignores clears ends
SUSPENDED, never in a loop. A confirmed clear, or an empty or readable reading, ends it. A set
over a masked code (or over content we merely do not know, after an unconfirmed write) that is
answered OPTIMISTIC and read back masked makes the plan CLEAR_FIRST too: the clear and the set
follow, uncharged. A masked code known to be ours is in sync and costs no write; a slot that
should be empty gets one clear; a readable code gets one set (its read-back can tell). A slot a
full read says nothing of (a write-only lock, :meth:`SlotMachine.unreported`) gets no clear
first: no read-back can tell anything there.

**A set the read-back proves lost is written again at once** (issue 24). An empty read-back
proves nothing by itself: a cloud-synced lock reports a just-written slot empty for a while,
and rewriting on it loops (so the slot waits for a reading with the code, or for
``pending_ttl``, and is charged then). But a lock whose reads follow its writes (its provider
says so: ``reads_follow_writes``) answers the read-back from its own table after it carried out
the set, so an empty answer there is evidence: :meth:`SlotMachine.read_back` judges it
:attr:`ReadBack.ABSENT`, charges the slot and makes it due at once — the worker's spacing is
the only wait. A read-back that is missing (failed, timed out, left out) or masked proves
nothing and is judged as before. The charge keeps the bound: ``breaker_failures`` lost writes
within the breaker's window suspend the slot, visibly, so even a lagging lock whose provider
wrongly claims current reads costs at most that many writes, never a storm.

The slot breaker (:class:`CircuitBreaker`) decides when charges suspend the slot and when a
suspended slot is tried again; the machine consults it and resets it when the slot is in sync or
wants something else.
"""

from __future__ import annotations

import math
from typing import final

import attrs

from ..core import InvalidTransition
from ._effects import Charged, Effect, Failure, NeedKind, Operation, OpKind
from ._knowledge import WriteEvidence
from ._models import CredentialKind, SlotCredential, SyncState, WriteResult
from ._rules import Desired
from ._slot_core import SlotCore
from ._slot_states import (
    SUSPENDED_RETRY,
    TRUSTING,
    InSync,
    Loading,
    OutOfSync,
    Pending,
    SlotPolicy,
    SuspendCause,
    Suspended,
    Syncing,
    WritePlan,
)

__all__ = ["SUSPENDED_RETRY", "SlotMachine", "SlotPolicy", "SuspendCause"]

S = SyncState


@final
class SlotMachine(SlotCore):
    """One managed slot's sync state; sans-I/O and not thread-safe. Its inputs carry ``now``
    and return the effects to carry out (what it holds and how facts settle it:
    its base, ``SlotCore``)."""

    __slots__ = ()

    # -- inputs -----------------------------------------------------------------------------

    def desire(self, now: float, desired: Desired) -> list[Effect]:
        """The slot should hold ``desired`` from now on. A change lifts a suspension and resets
        the breaker; it drops a pending optimistic write without charge (its outcome is then
        unknown: the slot must be written again)."""
        if desired == self._desired:
            return []
        self._desired = desired
        self._breaker.reset()
        payload = self._payload
        if isinstance(payload, Loading | Syncing) or (
            isinstance(payload, Suspended) and payload.cause is SuspendCause.UNREACHABLE
        ):
            pass  # judged by the next reading or by the operation's result
        elif isinstance(payload, Pending):
            self._known.forget_content()
            self._settle(now)
        else:
            self._settle(now, retry_at=-math.inf)
        return self._done()

    def observe(self, now: float, reading: SlotCredential) -> list[Effect]:
        """A reading of the slot: a full read, a read-back, or a push. A masked code that is
        not known to be ours makes the plan OVER_MASKED (see the module docstring)."""
        return self._observe(now, reading, shown=True)

    def unreported(self, now: float) -> list[Effect]:
        """A full read said nothing of the slot (a write-only lock): taken as a masked code
        (in sync only if we know what we last wrote there), but with no clear first: no
        read-back tells anything on such a lock, so a clear would only cost a write and leave
        the slot empty meanwhile. A write awaiting confirmation is not confirmed by that
        silence: it waits for its deadline, as after a failed read-back (a lock that left one
        user out of a full read — it did not answer in time — says nothing of it)."""
        if isinstance(self._payload, Pending):
            return self.read_failed(now)
        return self._observe(now, SlotCredential.unreadable(), shown=False)

    def read_back(self, now: float, reading: SlotCredential) -> list[Effect]:
        """The targeted read-back of the optimistic write awaiting confirmation, answered by a
        lock whose reads follow its writes (its own answer, given after it carried out the
        write): a set it shows absent did not land — charged, and due again at once (see the
        module docstring). Only in PENDING_CONFIRMATION; any other reading is
        :meth:`observe`'s."""
        if not isinstance(self._payload, Pending):
            raise InvalidTransition(f"slot {self.slot}", self._state.current, "a read-back")
        return self._observe(now, reading, shown=True, current=True)

    def _observe(
        self, now: float, reading: SlotCredential, *, shown: bool, current: bool = False
    ) -> list[Effect]:
        """``shown``: the lock itself gave ``reading`` (a masked one then plans OVER_MASKED).
        ``current``: a read-back that follows the write (:meth:`read_back`)."""
        if self._known.trust_ran_out(now):
            self._after_trust(now)
        payload = self._payload
        # A recent write is trusted over an empty reading until its window ends (a pending
        # write waits for its deadline anyway); if nothing shows a code meanwhile, the slot is
        # believed empty then.
        if self._known.sets_aside(now, reading) and not isinstance(payload, Pending):
            if isinstance(payload, InSync):
                self._enter(S.IN_SYNC, payload, TRUSTING)
            return self._done()
        if isinstance(payload, Pending):
            self._resolve(now, payload, reading, current=current)
        else:
            self._known.take(reading)
            masked = shown and reading.kind is CredentialKind.UNREADABLE
            self._judge(now, plan=WritePlan.OVER_MASKED if masked else WritePlan.DIRECT)
        return self._done()

    def read_failed(self, now: float) -> list[Effect]:
        """A read-back this slot needed failed: a pending write keeps waiting for its deadline."""
        payload = self._payload
        if isinstance(payload, Pending):
            self._enter(S.PENDING_CONFIRMATION, attrs.evolve(payload, read_at=math.inf))
        return self._done()

    def begin(
        self, now: float, *, writes: WriteEvidence = WriteEvidence.UNKNOWN
    ) -> tuple[Operation, list[Effect]]:
        """The worker gives the slot its turn: the operation to make. Only when the slot needs
        one (OUT_OF_SYNC and due, or SUSPENDED with its retry due). ``writes``: what the lock's
        answers to sets have shown so far (by default nothing); it decides whether a masked code
        is cleared first (see the module docstring)."""
        payload = self._payload
        due = self._need.kind is NeedKind.OPERATION and now >= self._need.not_before
        if not due or not isinstance(payload, OutOfSync | Suspended):
            raise InvalidTransition(f"slot {self.slot}", self._state.current, S.SYNCING)
        self._breaker.probe(now)
        self._known.end_trust()  # a new write: an empty reading set aside is believed now
        plan = payload.plan
        if not self._desired.wants_code:
            kind = OpKind.CLEAR
        elif plan is WritePlan.CLEAR_FIRST or (
            plan is WritePlan.OVER_MASKED and not writes.proves_sets
        ):
            kind, plan = OpKind.CLEAR_FIRST, WritePlan.CLEAR_FIRST
        else:
            kind = OpKind.SET
        operation = Operation(kind, self._desired)
        reason = {
            OpKind.SET: "writing",
            OpKind.CLEAR: "clearing",
            OpKind.CLEAR_FIRST: "clearing before rewriting a masked code",
        }[kind]
        self._enter(S.SYNCING, Syncing(operation, plan), reason)
        return operation, self._done()

    def written(self, now: float, result: WriteResult) -> list[Effect]:
        """The operation returned ``result``. The slot is judged against what is desired *now*
        (it may have changed while the write was in flight) from what the write left."""
        operation = self._syncing("written").operation
        pin = operation.pin if operation.kind is OpKind.SET else None
        if pin is not None:
            # Whatever the answer, the lock may hold the PIN now: an empty reading within
            # pending_ttl does not prove otherwise (a lock may report a write late).
            self._known.wrote(now, self._policy.pending_ttl)
        if result is WriteResult.OPTIMISTIC:
            if self._desired == operation.target:
                self._enter_pending(now, operation, pin)
            else:
                self._known.forget_content()  # superseded and unconfirmed: it may hold anything
                self._settle(now)
            return self._done()
        # CONFIRMED or NO_CHANGE: the lock itself says the slot holds it.
        if pin is None:
            self._known.take(SlotCredential.empty())
        else:
            self._known.observed = SlotCredential.known(pin)
            self._known.remember(pin)
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
                Suspended(SuspendCause.REJECTED),
                f"code rejected by the lock: {detail}",
            )
        else:
            self._breaker.trip(now)
            self._settle(now, why=f"unexpected error {detail} (logged)")
        return self._done()

    def tick(self, now: float) -> list[Effect]:
        """Time passed: an optimistic write whose deadline came is resolved; a trusted write
        whose slot still read empty when its trust ran out is out of sync, and charged."""
        if self._known.trust_ran_out(now):
            self._after_trust(now)
        payload = self._payload
        if not (isinstance(payload, Pending) and now >= payload.deadline):
            return self._done()
        if not self._policy.believed:
            # The write may or may not have landed: the slot's content is unknown (neither the
            # reading from before the write nor a made-up one), so it is written again.
            self._known.forget_content()
            self._charge(now, "optimistic write never confirmed")
        elif payload.believed is None:
            self._known.take(SlotCredential.empty())
            self._settle(now)
        else:
            # Believed mode: silence never erases a belief; only a contradiction does.
            self._known.forget_content()
            self._known.remember(payload.believed)
            self._settle(now)
        return self._done()

    def lock_unreachable(self, now: float, why: str) -> list[Effect]:
        """The lock cannot be reached: SUSPENDED until it can. A pending write is dropped
        without charge (the outage is not the slot's fault); the next full read judges it."""
        if isinstance(self._payload, Syncing):
            raise InvalidTransition(f"slot {self.slot}", S.SYNCING, "lock unreachable")
        reason = "lock unreachable; re-probing with backoff" + (f" ({why})" if why else "")
        self._enter(S.SUSPENDED, Suspended(SuspendCause.UNREACHABLE), reason)
        return self._done()

    def lock_reachable(self, now: float) -> list[Effect]:
        """The lock answers again: LOADING until the full read that follows."""
        payload = self._payload
        if not (isinstance(payload, Suspended) and payload.cause is SuspendCause.UNREACHABLE):
            raise InvalidTransition(f"slot {self.slot}", self._state.current, S.LOADING)
        self._enter(S.LOADING, Loading(), "re-reading after the lock was unreachable")
        return self._done()

    def __repr__(self) -> str:
        return f"<SlotMachine slot={self.slot} {self._state.current.value}: {self._reason}>"
