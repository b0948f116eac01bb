"""The demo's site: doors with their keypad slots, as typed records that the durable store
persists (a fresh plain structure per snapshot: the store encodes it in a worker thread)."""

from __future__ import annotations

from typing import Any, final

import attrs

__all__ = ["Door", "Site", "SlotUse"]


@final
@attrs.define
class SlotUse:
    """Who a keypad slot belongs to and how often it was used."""

    name: str | None = None
    uses: int = 0


@final
@attrs.define
class Door:
    """One door: locked or not, its slots, when it last reported."""

    locked: bool = True
    slots: dict[int, SlotUse] = attrs.field(factory=dict)
    last_seen: float | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "locked": self.locked,
            "last_seen": self.last_seen,
            "slots": {str(n): {"name": s.name, "uses": s.uses} for n, s in self.slots.items()},
        }

    @classmethod
    def from_json(cls, raw: dict[str, Any]) -> Door:
        slots = {int(n): SlotUse(s["name"], s["uses"]) for n, s in raw["slots"].items()}
        return cls(locked=raw["locked"], slots=slots, last_seen=raw.get("last_seen"))


@final
@attrs.define
class Site:
    """Every door by id; ``autolocked`` counts doors locked by their autolock timer."""

    doors: dict[str, Door] = attrs.field(factory=dict)
    autolocked: int = 0

    @classmethod
    def new(cls, doors: int, slots: int) -> Site:
        return cls(
            {
                f"lock-{n}": Door(slots={s: SlotUse() for s in range(1, slots + 1)})
                for n in range(1, doors + 1)
            }
        )

    def snapshot(self) -> dict[str, Any]:
        """What the store writes: a fresh structure each time."""
        return {door_id: door.to_json() for door_id, door in self.doors.items()}

    @classmethod
    def restore(cls, raw: dict[str, Any]) -> Site:
        return cls({door_id: Door.from_json(door) for door_id, door in raw.items()})

    def locked(self) -> dict[str, bool]:
        return {door_id: door.locked for door_id, door in self.doors.items()}
