"""The demo's ISY controller: the simulator in :mod:`trio_locksync.testing.isy`, doors as nodes.

On every connection it announces a heartbeat and replays each door's status (the burst that must
not look live), then sends a frame for every change the site publishes. ``drop_all()`` cuts every
connection, as a network blip would.
"""

from __future__ import annotations

import trio

from ..testing.isy import IsyController, isy_status_frame

__all__ = ["DemoController", "door_frame"]

#: ISY's unit of measure for a deadbolt: 100 locked, 0 unlocked.
_DEADBOLT = "11"
_HEARTBEAT = 30.0


def door_frame(seqnum: int, lock_id: str, locked: bool) -> str:
    """An ISY ``ST`` event for a door lock: 100 = locked, 0 = unlocked."""
    return isy_status_frame(seqnum, lock_id, _door_value(locked), uom=_DEADBOLT)


def _door_value(locked: bool) -> int:
    return 100 if locked else 0


class DemoController:
    """Serves ``/rest/subscribe`` on 127.0.0.1; ``doors`` is the live truth it replays."""

    def __init__(self, doors: dict[str, bool]) -> None:
        self.doors = doors
        self.published = 0
        self.controller = IsyController(heartbeat=_HEARTBEAT)
        for lock_id, locked in doors.items():
            self.controller.set_status(lock_id, _door_value(locked), uom=_DEADBOLT)

    @property
    def port(self) -> int:
        """The port it listens on (once serving)."""
        return self.controller.port

    @property
    def connections(self) -> int:
        """Subscriptions accepted so far."""
        return sum(h.refused_with is None for h in self.controller.handshakes)

    async def serve(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Run the server until cancelled (start it with ``nursery.start``)."""
        await self.controller.serve(task_status=task_status)

    def publish(self, lock_id: str, locked: bool) -> None:
        """A door changed: every connected subscriber gets a live frame."""
        self.doors[lock_id] = locked
        self.published += 1
        self.controller.set_status(lock_id, _door_value(locked), uom=_DEADBOLT)

    async def drop_all(self) -> None:
        """Close every connection without a goodbye (the client sees an abnormal closure)."""
        await self.controller.drop_all()
