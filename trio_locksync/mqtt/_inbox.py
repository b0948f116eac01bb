"""The one way paho's callbacks reach trio: :class:`Inbox`.

Callbacks run on the paho thread. Each one only appends a typed event (:mod:`._events`) to the
inbox (a deque: appends
are atomic); a drain is scheduled with the trio token's ``run_sync_soon`` — never a blocking
``from_thread.run_sync`` per message — at most one at a time, and for messages once per loop
turn. The drain runs on the trio thread and never raises (a ``run_sync_soon`` callback that
raises ends the run). While trio is behind, the paho thread pauses (:meth:`Inbox.pause`), so
that the two threads take turns in batches rather than per message.

Neither wait is unbounded: while paho's thread waits it reads nothing — no SUBACK, PUBACK or
PINGRESP either — and what trio waits for may be among those packets (a block waiting for its
SUBACK, a consumer waiting for its publish's PUBACK). So each wait ends after a limit and the
thread then reads on (see :meth:`Inbox.pause`, :meth:`Inbox.hold`).
"""

from __future__ import annotations

import collections
import logging
import threading
import time
from collections.abc import Callable
from typing import final

import trio

from ._events import Event

__all__ = ["HOLD_CAP", "HOLD_LIMIT", "PAUSE_AT", "PAUSE_LIMIT", "Inbox"]

logger = logging.getLogger("trio_locksync.mqtt")

#: the longest the paho thread waits for a consumer that fell behind (see ``Inbox.pause``)
PAUSE_LIMIT = 0.05
#: events not drained yet from which the paho thread pauses
PAUSE_AT = 64
#: the longest the paho thread waits for room for QoS 1 messages (see ``Inbox.hold``)
HOLD_LIMIT = 1.0
#: held QoS 1 messages, in multiples of ``hold_limit``, from which the paho thread waits
#: without a time limit (see ``Inbox.hold``): the memory bound
HOLD_CAP = 4


@final
class Inbox:
    """Hand-over from the paho thread to trio: :meth:`put` from any thread, one drain at a time
    on the trio thread. The handler is called for each event, in order, and never lets an
    exception out (it is logged)."""

    __slots__ = (
        "_handler",
        "_hold_limit",
        "_holds",
        "_items",
        "_overheld",
        "_overridden",
        "_pressure",
        "_releases",
        "_relief",
        "_resume",
        "_room",
        "_scheduled",
        "_token",
        "_waiting",
    )

    def __init__(
        self,
        token: trio.lowlevel.TrioToken,
        handler: Callable[[Event], None],
        *,
        hold_limit: int = 1000,
    ) -> None:
        self._token = token
        self._handler = handler
        self._items: collections.deque[Event] = collections.deque()
        self._scheduled = False
        # QoS 1 messages received and not yet taken (or dropped) by every holder, from which
        # the paho thread waits (the bridge's receive_maximum): mosquitto's ReceiveMaximum is
        # not a hard bound, so the paho thread waits for room instead.
        self._hold_limit = hold_limit
        self._resume = hold_limit - max(1, hold_limit // 8)
        self._holds = 0  # written by the paho thread only
        self._releases = 0  # written by the trio thread only
        self._waiting = False
        self._room = threading.Condition()
        # hold() waited HOLD_LIMIT in vain: it reads on without waiting until the count is
        # back at the resume point (written by the paho thread only)
        self._overheld = False
        # A consumer behind by a buffer's high-water mark (see pause()).
        self._pressure = False
        self._relief = threading.Event()
        self._overridden = False

    def press(self, on: bool) -> None:
        """[trio thread] A consumer fell behind (True) or caught up (False)."""
        self._pressure = on
        if not on:
            self._relief.set()

    def pause(self) -> None:
        """[paho thread, after each message] While trio is behind — ``PAUSE_AT`` events not
        drained yet, or a consumer behind by its buffer's high-water mark — wait (at most
        ``PAUSE_LIMIT``) for it to catch up before reading on.

        Why: paho and trio share the GIL. Reading from a buffer, paho does no system call for
        dozens of messages and keeps the GIL, while every message the consumer takes passes
        trio's scheduler, which gives the GIL away (its epoll). Left alone, paho parses dozens
        of messages per one taken, and the buffer overflows (QoS 0 drops, measured: 4,000 to
        5,500 of 50,000; with the pause, none) or fills the QoS 1 window. Pausing here lets
        the consumer empty its buffer in a row, untroubled: a few thread switches per batch
        instead of per message (0.05 a message, measured). Trio not catching up within the
        limit (a consumer that stalled, or a trio thread busy elsewhere) is left behind: the
        paho thread reads on until it catches up, then pauses are armed again. So a stalled
        consumer costs one pause, and its buffer's overflow policy applies as before."""
        if not self._pressure and len(self._items) < PAUSE_AT:
            self._overridden = False
            return
        if self._overridden:
            return
        self.flush()
        self._relief.clear()
        # Again, after clear(): trio's set() that came before it would be lost.
        if not self._pressure and len(self._items) < PAUSE_AT:
            return
        if not self._relief.wait(PAUSE_LIMIT):
            self._overridden = True

    def hold(self, stopping: Callable[[], bool]) -> bool:
        """[paho thread] Count one more QoS 1 message held; first, if ``hold_limit`` are held,
        wait (at most ``HOLD_LIMIT``) until the consumers took an eighth of them. False if
        ``stopping()`` became true meanwhile (the message is then dropped unacknowledged: the
        broker redelivers it).

        While this waits paho reads nothing more, so TCP pushes back on the broker; the
        consumers taking messages make room. If they do not within the limit — they may be
        waiting for a packet paho has not read (a SUBACK, a PUBACK) — the thread reads on
        (the broker's window, MQTT 5 ReceiveMaximum, bounds what comes meanwhile; mosquitto
        2.0.11 does not always hold to it). Up to ``HOLD_CAP`` times ``hold_limit`` held: consumers
        that took nothing while paho read that much more are stalled, not waiting for a packet
        behind those, so from there it waits without a time limit — the memory bound. Once the
        count is back at the resume point, the one-second wait is armed again (and at every
        connection: :meth:`rearm`). No lock unless it waits: ``_holds`` is written only here,
        ``_releases`` only by :meth:`unhold`."""
        held = self._holds - self._releases
        if held >= self._hold_limit:
            if not self._overheld:
                if not self._wait_for_room(stopping, HOLD_LIMIT):
                    return False
            elif held >= HOLD_CAP * self._hold_limit and not self._wait_for_room(stopping, None):
                return False
        elif self._overheld and held <= self._resume:
            self._overheld = False
        self._holds += 1
        return True

    def rearm(self) -> None:
        """[paho thread, at each connection] Arm :meth:`hold`'s one-second wait again."""
        self._overheld = False

    def _wait_for_room(self, stopping: Callable[[], bool], limit: float | None) -> bool:
        """[paho thread] :meth:`hold`'s wait, at most ``limit`` seconds (None: none); False if
        stopping."""
        self.flush()
        deadline = None if limit is None else time.monotonic() + limit
        with self._room:
            self._waiting = True
            try:
                while self._holds - self._releases > self._resume:
                    if stopping():
                        return False
                    if deadline is None:
                        self._room.wait(timeout=0.25)
                        continue
                    left = deadline - time.monotonic()
                    if left <= 0:
                        self._overheld = True
                        return True
                    self._room.wait(timeout=min(left, 0.25))
            finally:
                self._waiting = False
        self._overheld = False
        return True

    def unhold(self) -> None:
        """[trio thread] A held QoS 1 message was taken (or dropped) by every holder."""
        self._releases += 1
        # hold() sets _waiting before it looks at the counts: either it sees this release,
        # or this sees it waiting.
        if self._waiting and self._holds - self._releases <= self._resume:
            with self._room:
                self._room.notify()

    def wake(self) -> None:
        """[trio thread] Let a waiting :meth:`hold` look at its stop condition now, and end a
        :meth:`pause`."""
        self._relief.set()
        with self._room:
            self._room.notify_all()

    @property
    def held(self) -> int:
        """QoS 1 messages held now (for statistics)."""
        return self._holds - self._releases

    def put(self, event: Event, *, flush: bool = True) -> None:
        """[any thread] Queue ``event``; unless ``flush`` is False, see that a drain is
        scheduled (:meth:`flush`)."""
        self._items.append(event)
        if flush:
            self.flush()

    def flush(self) -> None:
        """[paho thread] Schedule a drain unless one is scheduled already or nothing waits.
        The network loop puts messages with ``flush=False`` and flushes once per turn
        (``BURST`` packets at most) and before it waits: each ``run_sync_soon`` is a system
        call (trio's wake-up socket) and so a chance for the GIL to change hands."""
        if not self._scheduled and self._items:
            self._scheduled = True
            try:
                self._token.run_sync_soon(self.drain)
            except trio.RunFinishedError:  # the bridge's run is over: nobody to tell
                pass

    def drain(self) -> None:
        """[trio thread] Handle every queued event. Never raises."""
        self._scheduled = False  # first: an event put from now on schedules another drain
        items = self._items
        while items:
            event = items.popleft()
            try:
                self._handler(event)
            except Exception:
                logger.exception("MQTT bridge: handling a %s event failed", type(event).__name__)
        if not self._pressure:
            self._relief.set()  # a paused paho thread reads on
