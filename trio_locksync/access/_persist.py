"""Reading a plan's file back: one grant's entry at a time, checked whole before anything is
kept (a malformed entry is dropped, never half-entered), with the slots it names."""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from typing import Any

from ._effects import Assignment
from ._grant import Grant, grant_from_json
from ._state import TERMINAL, AccessState

__all__ = ["read_entry", "slot_number", "slots_in"]

_SLOTLESS = frozenset({AccessState.WAITING, AccessState.NO_SLOT})


def read_entry(
    name: str,
    value: Any,
    locks: Sequence[str],
    held: Mapping[str, Collection[int]],
    reserved: Mapping[str, Collection[int]],
) -> tuple[Grant, bool, dict[str, Assignment], dict[str, int]]:
    """Grant ``name``'s stored entry: the grant, whether it was revoked, its assignment per lock
    of the plan (``locks``), and the slot it holds on each. Raises (KeyError, TypeError,
    ValueError) if any part is malformed, or names a slot another grant ``held`` already. A slot
    now ``reserved`` (the engine's own) is not the grant's any more: it waits for another."""
    grant = grant_from_json(name, value)
    revoked = value.get("revoked", False)
    stored = value.get("on", {})
    if not isinstance(revoked, bool) or not isinstance(stored, dict):
        raise ValueError("revoked, on")
    on: dict[str, Assignment] = {}
    slots: dict[str, int] = {}
    for lock, a in stored.items():
        if lock not in held or not grant.for_lock(lock):
            continue  # a lock no longer in the plan: forgotten
        state = AccessState(a["state"])
        slot, uses_left = a["slot"], a["uses_left"]
        if slot is not None and (not slot_number(slot) or slot in held[lock]):
            raise ValueError("slot")
        if uses_left is not None and not slot_number(uses_left):
            raise ValueError("uses_left")
        if state in TERMINAL or slot in reserved.get(lock, ()):
            slot = None  # final, or the engine's own slot now: never the plan's
        if slot is None and state not in TERMINAL and state not in _SLOTLESS:
            state = AccessState.WAITING
        if slot is not None:
            slots[lock] = slot
        on[lock] = Assignment(state, "restored", slot, uses_left)
    for lock in locks:  # a lock added to the plan since
        if grant.for_lock(lock) and lock not in on:
            on[lock] = Assignment(AccessState.WAITING, "new lock", None, grant.uses)
    return grant, revoked, on, slots


def slot_number(value: object) -> bool:
    """A slot number or a count as a file may hold one: an int >= 0, not a bool."""
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def slots_in(value: object) -> list[tuple[str, int]]:
    """The (lock, slot) pairs a malformed entry still names, as far as they can be read."""
    found: list[tuple[str, int]] = []
    on = value.get("on") if isinstance(value, dict) else None
    if isinstance(on, dict):
        for lock, a in on.items():
            slot = a.get("slot") if isinstance(a, dict) else None
            if isinstance(lock, str) and slot_number(slot):
                assert isinstance(slot, int)
                found.append((lock, slot))
    return found
