"""The sans-I/O heart of an access plan: grants, their state on each lock, slots, uses, edges.

:class:`PlanMachine` takes inputs with the wall-clock ``now`` (an aware datetime) and returns
effects; it never awaits and knows nothing of trio, stores or locks. The trio layer
(:mod:`._plan`) carries the effects out with :class:`~._interpreter.Interpreter` — the same
interpreter the Hypothesis harness drives.

* **State.** Each grant has one :class:`Assignment` per lock it is for: its slot (or none yet),
  its uses left, and its :class:`AccessState` moved only along :data:`~._state.MOVES`. The state
  is a function of the grant's validity at ``now``, its revocation, its uses and its slot; an
  input recomputes it and a move is one :class:`Changed` effect. Only an ACTIVE grant's slot
  should hold its PIN (:class:`Desire`).
* **Edges.** Each live grant's next window edge sits in a heap; :meth:`PlanMachine.tick` applies
  every edge that came by ``now``. A restart restores the states the file kept and recomputes
  them at the new ``now`` — an edge that passed while closed is applied once, at open; an edge
  already applied is not applied again (its state is the one kept).
* **Slots.** Per lock, the slots the plan manages and nobody holds (the pool) are handed out
  first; a grant that finds none WAITS and the machine asks for slots (:class:`NeedSlots`); the
  trio layer surveys the lock and offers what it found free (:meth:`PlanMachine.offer`), or says
  there is none (:meth:`PlanMachine.exhausted`: NO_SLOT). A grant in a final state gives its
  slot back to the pool, where a waiting grant takes it.
"""

from __future__ import annotations

import datetime
import heapq
import itertools
from collections.abc import Collection, Iterable, Mapping, Sequence
from typing import Any, final

import attrs

from ..core import InvalidTransition, Pin
from ._effects import Assignment, Changed, Desire, Effect, NeedSlots, Save
from ._grant import Grant, grant_to_json
from ._persist import read_entry, slot_number, slots_in
from ._state import MOVES, TERMINAL, AccessChange, AccessState, from_phase
from ._windows import Phase, Validity

__all__ = ["PlanMachine"]


@final
@attrs.define(eq=False)
class _Entry:
    grant: Grant
    validity: Validity
    revoked: bool
    on: dict[str, Assignment]
    next_edge: datetime.datetime | None = None
    #: its stored form, made once per change (None: changed since)
    json: dict[str, Any] | None = None


@final
class PlanMachine:
    """Every grant of a plan over ``locks`` (their names), in time zone ``tz``."""

    def __init__(self, locks: Sequence[str], tz: datetime.tzinfo) -> None:
        self.locks: tuple[str, ...] = tuple(locks)
        self.tz = tz
        self._entries: dict[str, _Entry] = {}
        #: lock -> slot -> the grant holding it (a live assignment)
        self._holders: dict[str, dict[int, str]] = {lock: {} for lock in self.locks}
        #: lock -> slots the plan manages that no grant holds
        self.pool: dict[str, set[int]] = {lock: set() for lock in self.locks}
        #: lock -> the grants waiting for a slot there (WAITING or NO_SLOT), in grant order
        self._slotless: dict[str, dict[str, None]] = {lock: {} for lock in self.locks}
        #: lock -> PIN -> the live (not final) grant with that PIN there
        self._pins: dict[str, dict[Pin, str]] = {lock: {} for lock in self.locks}
        self._edges: list[tuple[datetime.datetime, int, str]] = []
        self._order = itertools.count()
        #: the grant whose edge :meth:`tick` just took off the heap (its next one goes back on)
        self._popped: str | None = None
        #: edges applied (a grant whose window opened or closed), for statistics
        self.edges_applied: int = 0

    # -- what the trio layer reads --------------------------------------------------------

    def names(self) -> list[str]:
        """The grants' names, in the order they were first granted."""
        return list(self._entries)

    def grant_of(self, name: str) -> Grant:
        """The grant called ``name`` (KeyError if there is none)."""
        return self._entries[name].grant

    def assignment(self, name: str, lock: str) -> Assignment:
        """Where grant ``name`` stands on ``lock``."""
        return self._entries[name].on[lock]

    def assignments(self, name: str) -> Mapping[str, Assignment]:
        """Where grant ``name`` stands on each of its locks, by lock name."""
        return self._entries[name].on

    def next_edge(self, name: str) -> datetime.datetime | None:
        """When grant ``name``'s window next opens or closes (None: never again)."""
        return self._entries[name].next_edge

    def next_wake(self) -> datetime.datetime | None:
        """The earliest edge any grant waits for (None: none)."""
        while self._edges:
            when, _, name = self._edges[0]
            entry = self._entries.get(name)
            if entry is not None and entry.next_edge == when:
                return when
            heapq.heappop(self._edges)  # stale: the grant was replaced or moved on
        return None

    def holder(self, lock: str, slot: int) -> str | None:
        """The grant holding ``slot`` of ``lock``, if any."""
        return self._holders[lock].get(slot)

    def plan_slots(self, lock: str) -> set[int]:
        """Every slot of ``lock`` the plan manages (held or in the pool)."""
        return set(self._holders[lock]) | self.pool[lock]

    def waiting(self, lock: str) -> int:
        """Grants waiting for a slot of ``lock`` (WAITING or NO_SLOT)."""
        return len(self._slotless[lock])

    def duplicate(self, grant: Grant, lock: str) -> str | None:
        """The other live grant on ``lock`` with ``grant``'s PIN, if any."""
        holder = self._pins[lock].get(grant.pin)
        return None if holder == grant.name else holder

    def shortfall(self, grant: Grant) -> dict[str, int]:
        """Per lock, how many slots beyond its pool ``grant`` would need (its own slot, if a
        grant of that name holds one there, is reused)."""
        old = self._entries.get(grant.name)
        need: dict[str, int] = {}
        for lock in self._locks_of(grant):
            if old is not None and lock in old.on and old.on[lock].slot is not None:
                continue
            if not self.pool[lock]:
                need[lock] = 1 + self.waiting(lock)
        return need

    # -- inputs ---------------------------------------------------------------------------

    def grant(self, now: datetime.datetime, grant: Grant) -> list[Effect]:
        """Add ``grant``, or replace the grant of its name (its slots are kept on the locks
        both are for; its uses start again; a lock it is no longer for loses its code)."""
        effects: list[Effect] = []
        old = self._entries.get(grant.name)
        if old is not None and old.grant == grant and not old.revoked:
            return []  # the same grant again: its uses and states are kept
        self._entries.pop(grant.name, None)
        kept: dict[str, int] = {}
        if old is not None:
            for lock, a in old.on.items():
                self._slotless[lock].pop(grant.name, None)
                if self._pins[lock].get(old.grant.pin) == grant.name:
                    del self._pins[lock][old.grant.pin]
                if a.slot is not None:
                    if grant.for_lock(lock):
                        kept[lock] = a.slot
                    else:
                        effects += self._free(lock, a.slot)
        entry = _Entry(grant, Validity(grant.starts, grant.ends, grant.weekly, self.tz), False, {})
        self._entries[grant.name] = entry
        for lock in self._locks_of(grant):
            slot = kept.get(lock)
            if slot is None and self.pool[lock]:
                slot = min(self.pool[lock])
                self.pool[lock].discard(slot)
            if slot is not None:
                self._holders[lock][slot] = grant.name
            else:
                self._slotless[lock][grant.name] = None
            self._pins[lock][grant.pin] = grant.name
            entry.on[lock] = Assignment(AccessState.WAITING, "waiting for a slot", slot, grant.uses)
        effects += self._settle(now, entry, announce_all=True)
        effects += self._hand_out(now)
        effects += self._asks()
        effects.append(Save())
        return effects

    def revoke(self, now: datetime.datetime, name: str) -> list[Effect]:
        """Revoke ``name`` on every lock (KeyError if unknown; a no-op if already revoked)."""
        entry = self._entries[name]
        if entry.revoked:
            return []
        entry.revoked = True
        entry.json = None
        return [*self._settle(now, entry), *self._hand_out(now), Save()]

    def tick(self, now: datetime.datetime) -> list[Effect]:
        """Apply every window edge that came by ``now``."""
        effects: list[Effect] = []
        while (when := self.next_wake()) is not None and when <= now:
            _, _, name = heapq.heappop(self._edges)
            self.edges_applied += 1
            self._popped = name
            effects += self._settle(now, self._entries[name])
            self._popped = None
        if effects:
            effects += self._hand_out(now)
            effects.append(Save())
        return effects

    def unlocked(self, now: datetime.datetime, lock: str, slot: int) -> list[Effect]:
        """A keypad unlock on ``lock`` named ``slot``: one use of the grant holding it."""
        name = self._holders.get(lock, {}).get(slot)
        if name is None:
            return []
        entry = self._entries[name]
        a = entry.on[lock]
        if a.uses_left is None or a.uses_left == 0 or a.state in TERMINAL:
            return []
        a.uses_left -= 1
        entry.json = None
        return [*self._settle(now, entry), *self._hand_out(now), Save()]

    def offer(
        self, now: datetime.datetime, lock: str, slots: Iterable[int], *, keep: bool = False
    ) -> list[Effect]:
        """``slots`` of ``lock`` were just found free (empty, not managed): waiting grants take
        them in grant order. With ``keep`` the rest join the pool (the caller takes them on at
        once); without, they are left alone — a slot the plan has not taken on is read again
        before it is used, since a code may be programmed into it at the door meanwhile."""
        free = sorted(set(slots) - self.plan_slots(lock))
        if not keep:
            free = free[: len(self._slotless[lock])]
        if not free:
            return []
        self.pool[lock].update(free)
        return [*self._hand_out(now), Save()]

    def exhausted(self, now: datetime.datetime, lock: str, detail: str) -> list[Effect]:
        """No free slot is left on ``lock``: its waiting grants are NO_SLOT."""
        effects: list[Effect] = []
        for name in self._slotless[lock]:
            a = self._entries[name].on[lock]
            if a.state is not AccessState.NO_SLOT:
                effects += self._move(name, lock, a, AccessState.NO_SLOT, f"no free slot: {detail}")
        return effects

    def unreachable(self, lock: str, why: str) -> list[Effect]:
        """The lock could not be surveyed: its slotless grants wait (NO_SLOT ones stay)."""
        effects: list[Effect] = []
        for name in self._slotless[lock]:
            a = self._entries[name].on[lock]
            if a.state is AccessState.WAITING and a.reason != why:
                a.reason = why
                effects.append(Changed(AccessChange(name, lock, a.state, why)))
        return effects

    # -- restoring and persisting ----------------------------------------------------------

    def restore(self, raw: Mapping[str, Any], reserved: Mapping[str, Collection[int]]) -> int:
        """Load what :meth:`to_json` wrote (before any input); returns the entries dropped as
        malformed (the caller logs them, by count). ``reserved`` are the slots each engine
        manages outside the plan: never the plan's, whatever the file says. A dropped entry's
        slots go to the pool (its code is removed). ValueError if the file is not a plan."""
        grants, pool = raw.get("grants", {}), raw.get("pool", {})
        if not isinstance(grants, dict) or not isinstance(pool, dict):
            raise ValueError("grants and pool must be mappings")
        dropped = 0
        orphans: list[tuple[str, int]] = []
        for name, value in grants.items():
            try:
                grant, revoked, on, slots = read_entry(
                    name, value, self.locks, self._holders, reserved
                )
            except (KeyError, TypeError, ValueError, AttributeError):
                dropped += 1
                orphans += slots_in(value)
                continue
            validity = Validity(grant.starts, grant.ends, grant.weekly, self.tz)
            self._commit(name, _Entry(grant, validity, revoked, on), slots)
        for lock, slots in [*pool.items(), *((lock, [slot]) for lock, slot in orphans)]:
            if lock in self.pool and isinstance(slots, list):
                taken = set(self._holders[lock]) | set(reserved.get(lock, ()))
                self.pool[lock].update(s for s in slots if slot_number(s) and s not in taken)
        return dropped

    def resume(self, now: datetime.datetime) -> list[Effect]:
        """After :meth:`restore`: every state recomputed at ``now`` (a move is an edge missed
        while closed, applied now), every slot's desired code said again (the engines were
        opened afresh), waiting grants asking for slots."""
        effects: list[Effect] = []
        for entry in self._entries.values():
            effects += self._settle(now, entry, desire_all=True)
        for lock, slots in self.pool.items():
            effects += [Desire(lock, slot, None) for slot in sorted(slots)]
        effects += self._asks()
        if any(isinstance(effect, Changed) for effect in effects):
            effects.append(Save())  # a move applied at open is kept: never applied again
        return effects

    def to_json(self) -> dict[str, Any]:
        """The plan's durable state (safe to hand to a store: an entry's stored form is made
        afresh whenever the entry changes, never mutated after)."""
        grants = {}
        for name, entry in self._entries.items():
            if entry.json is None:
                as_json = grant_to_json(entry.grant)
                as_json["revoked"] = entry.revoked
                as_json["on"] = {
                    lock: {"slot": a.slot, "uses_left": a.uses_left, "state": a.state.value}
                    for lock, a in entry.on.items()
                }
                entry.json = as_json
            grants[name] = entry.json
        pool = {lock: sorted(slots) for lock, slots in self.pool.items() if slots}
        return {"grants": grants, "pool": pool}

    # -- the rules ------------------------------------------------------------------------

    def _commit(self, name: str, entry: _Entry, slots: Mapping[str, int]) -> None:
        """Enter a restored entry into the tables."""
        self._entries[name] = entry
        for lock, a in entry.on.items():
            if a.state in TERMINAL:
                continue
            self._pins[lock].setdefault(entry.grant.pin, name)
            if lock in slots:
                self._holders[lock][slots[lock]] = name
            else:
                self._slotless[lock][name] = None

    def _locks_of(self, grant: Grant) -> list[str]:
        return [lock for lock in self.locks if grant.for_lock(lock)]

    def _hand_out(self, now: datetime.datetime) -> list[Effect]:
        """Pool slots to the grants waiting for one, in grant order, lowest slot first."""
        effects: list[Effect] = []
        for lock in self.locks:
            waiting, pool = self._slotless[lock], self.pool[lock]
            while waiting and pool:
                name = next(iter(waiting))
                del waiting[name]
                slot = min(pool)
                pool.discard(slot)
                entry = self._entries[name]
                entry.on[lock].slot = slot
                entry.json = None
                self._holders[lock][slot] = name
                effects += self._settle(now, entry, only=lock)
        return effects

    def _asks(self) -> list[Effect]:
        return [NeedSlots(lock, n) for lock in self.locks if (n := self.waiting(lock))]

    def _settle(
        self,
        now: datetime.datetime,
        entry: _Entry,
        *,
        announce_all: bool = False,
        desire_all: bool = False,
        only: str | None = None,
    ) -> list[Effect]:
        """Recompute ``entry``'s state on each lock (or ``only`` one) at ``now`` and schedule
        its next edge."""
        effects: list[Effect] = []
        phase = entry.validity.phase(now)
        for lock, a in entry.on.items():
            if only is not None and lock != only:
                continue
            target, why = self._target(entry, a, phase)
            if target is not a.state:
                if a.state in TERMINAL:
                    continue  # final: nothing leaves it but a new grant
                effects += self._move(entry.grant.name, lock, a, target, why)
            elif announce_all:
                effects.append(Changed(AccessChange(entry.grant.name, lock, a.state, a.reason)))
            elif desire_all and a.slot is not None:
                effects.append(self._desire(entry, lock, a))
        if phase is Phase.AFTER or entry.revoked:
            entry.next_edge = None
        elif only is None or entry.next_edge is None:
            edge = entry.validity.next_edge(now)
            if edge != entry.next_edge or self._popped == entry.grant.name:
                entry.next_edge = edge
                if edge is not None:
                    heapq.heappush(self._edges, (edge, next(self._order), entry.grant.name))
        return effects

    @staticmethod
    def _target(entry: _Entry, a: Assignment, phase: Phase) -> tuple[AccessState, str]:
        if a.state in TERMINAL:
            return a.state, a.reason
        if entry.revoked:
            return AccessState.REVOKED, "revoked"
        if phase is Phase.AFTER:
            return AccessState.EXPIRED, "ended"
        if a.uses_left == 0:
            return AccessState.USED_UP, "uses spent"
        if a.slot is None:
            return a.state if a.state is AccessState.NO_SLOT else AccessState.WAITING, a.reason
        state = from_phase(phase)
        return state, _WHY[state]

    def _move(
        self, name: str, lock: str, a: Assignment, target: AccessState, why: str
    ) -> list[Effect]:
        if target not in MOVES.get(a.state, frozenset()):
            raise InvalidTransition(f"grant {name!r} on {lock!r}", a.state, target)
        a.state, a.reason = target, why
        entry = self._entries[name]
        entry.json = None
        effects: list[Effect] = [Changed(AccessChange(name, lock, target, why))]
        if target in TERMINAL:
            self._slotless[lock].pop(name, None)
            if self._pins[lock].get(entry.grant.pin) == name:
                del self._pins[lock][entry.grant.pin]
        if a.slot is not None:
            if target in TERMINAL:
                effects += self._free(lock, a.slot)
                a.slot = None
            else:
                effects.append(self._desire(entry, lock, a))
        return effects

    @staticmethod
    def _desire(entry: _Entry, lock: str, a: Assignment) -> Desire:
        assert a.slot is not None
        return Desire(lock, a.slot, entry.grant.pin if a.state is AccessState.ACTIVE else None)

    def _free(self, lock: str, slot: int) -> list[Effect]:
        """``slot`` is given back to the pool (a waiting grant takes it in :meth:`_hand_out`)."""
        self._holders[lock].pop(slot, None)
        self.pool[lock].add(slot)
        return [Desire(lock, slot, None)]


_WHY = {
    AccessState.SCHEDULED: "starts later",
    AccessState.ACTIVE: "in its window",
    AccessState.OFF_HOURS: "outside its weekly hours",
}
