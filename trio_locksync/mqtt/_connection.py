"""What the bridge's trio side learns of one connection and how it judges its end; the
publishes waiting for their answer; the bridge's own counters."""

from __future__ import annotations

from typing import final

import attrs
import trio

from ..core import AttemptOutcome
from ._errors import MqttError, MqttNotDelivered
from ._events import Connack, Disconnected, Puback
from ._models import MqttStatistics, MqttStatus
from ._paho import REFUSALS, TAKEN_OVER, PahoSession, SessionEnd
from ._router import Router

__all__ = ["FLAP_HINT", "V5_HINT", "Connection", "Counters", "Publishes"]

#: added to the status detail after CONNECTs in a row closed before any CONNACK (MQTT 5)
V5_HINT = (
    "the broker may not speak MQTT 5; for MQTT 3.1.1 pass protocol=MqttProtocol.V311 to "
    "open_mqtt_bridge() (or does it expect TLS?)"
)
#: added to the status detail after connections in a row lost within ``stable_after``
FLAP_HINT = "another client with this client id? a broker refusing this client after CONNACK?"


@final
@attrs.frozen
class Unheard:
    """Nothing from the broker yet on this connection (or only a DISCONNECT, which without a
    CONNACK says nothing the worker thread's own account does not)."""


@final
@attrs.frozen
class Unanswered:
    """The socket was not open within ``connect_timeout``, or no CONNACK came within
    ``handshake_timeout`` of its opening: the run was stopped. ``detail`` says which."""

    detail: str


@final
@attrs.frozen
class Answered:
    """The broker answered the CONNECT (``connack``: either way)."""

    connack: Connack


@final
@attrs.frozen
class Dropped:
    """The broker answered, then the connection ended with ``disconnect``."""

    connack: Connack
    disconnect: Disconnected


#: what the trio side heard of one connection: one value, moved as events come
Heard = Unheard | Unanswered | Answered | Dropped


@final
@attrs.define(eq=False)
class Connection:
    """What the trio side learned of one connection (one run of the network loop): facts
    gathered from the paho thread's events, judged when the run has ended."""

    generation: int
    #: the socket is open (paho's ``connect()`` returned), or the run ended
    opened: trio.Event = attrs.field(factory=trio.Event)
    #: a CONNACK came (either way), or the run ended
    answered: trio.Event = attrs.field(factory=trio.Event)
    #: the run of the network loop ended (the worker thread returned)
    ended: trio.Event = attrs.field(factory=trio.Event)
    heard: Heard = Unheard()

    def connacked(self, event: Connack) -> None:
        """The broker answered the CONNECT."""
        self.heard = Answered(event)
        self.answered.set()

    def disconnected(self, event: Disconnected) -> None:
        """A DISCONNECT: kept once the broker had answered (see :class:`Unheard`)."""
        heard = self.heard
        if isinstance(heard, Answered):
            self.heard = Dropped(heard.connack, event)

    async def run(
        self,
        session: PahoSession,
        limiter: trio.CapacityLimiter,
        connect_timeout: float,
        handshake_timeout: float,
    ) -> SessionEnd:
        """Run the network loop in a worker thread, from connect to its end; stopped if the
        socket is not open within ``connect_timeout``, if no CONNACK comes within
        ``handshake_timeout`` after that, or if this is cancelled. The worker thread's own
        account of the end (the paho thread's events are for the caller to drain)."""
        ended: list[SessionEnd] = []
        token = trio.lowlevel.current_trio_token()

        def opened() -> None:
            # [paho thread] through trio's thread bridge (as every word from that thread),
            # without waiting for trio
            token.run_sync_soon(self.opened.set)

        async def run_loop() -> None:
            # Not abandoned on cancellation: this task waits for the thread, so no paho thread
            # outlives the bridge. A stop ends a connected loop at once (the DISCONNECT wakes
            # it), a connect() under way within connect_timeout.
            try:
                ended.append(
                    await trio.to_thread.run_sync(
                        session.run, self.generation, opened, limiter=limiter
                    )
                )
            finally:
                self.opened.set()
                self.answered.set()
                self.ended.set()

        async with trio.open_nursery() as nursery:
            nursery.start_soon(run_loop)
            try:
                # The socket within connect_timeout, then the CONNACK within handshake_timeout
                # (the run's end sets both events).
                for event, seconds, what in (
                    (self.opened, connect_timeout, "connection"),
                    (self.answered, handshake_timeout, "CONNACK"),
                ):
                    with trio.move_on_after(seconds):
                        await event.wait()
                    if not event.is_set():
                        self.heard = Unanswered(f"no {what} within {seconds:g} s")
                        session.request_stop(self.generation)
                        break
                await self.ended.wait()
            finally:
                if not self.ended.is_set():
                    session.request_stop(self.generation)
        return ended[0]

    def judge(self, end: SessionEnd) -> tuple[AttemptOutcome, str, int | None]:
        """How the connection ended, in the core's outcome words, from what the thread
        (``end``) and its events said. A refusal retrying may fix, or a session taken over, is
        DENIED (one retry); so is an untrusted certificate (the worker thread's own verdict)."""
        heard = self.heard
        if isinstance(heard, Unanswered):
            return AttemptOutcome.FAILED, heard.detail, None
        if isinstance(heard, Unheard):
            if end.outcome is AttemptOutcome.LOST:
                return AttemptOutcome.UNANSWERED, "connection closed before CONNACK", None
            return end.outcome, end.detail, end.code
        connack = heard.connack
        if connack.code >= 0x80:
            code, name = connack.code, connack.name
            if code in REFUSALS:
                return AttemptOutcome.DENIED, f"{REFUSALS[code]} (CONNACK {name})", code
            return AttemptOutcome.FAILED, f"the broker refused the connection ({name})", code
        if isinstance(heard, Dropped):
            code, name = heard.disconnect.code, heard.disconnect.name
            if heard.disconnect.from_server and code == TAKEN_OVER:
                detail = f"session taken over by another client ({name})"
                return AttemptOutcome.DENIED, detail, code
            return AttemptOutcome.LOST, f"connection lost ({name})", code
        return AttemptOutcome.LOST, "connection lost", end.code


@final
@attrs.define(eq=False)
class _Publish:
    topic: str
    done: trio.Event = attrs.field(factory=trio.Event)
    error: MqttError | None = None


@final
class Publishes:
    """The bridge's publishes waiting for their PUBACK (or for being written, QoS 0)."""

    def __init__(self) -> None:
        self._waiting: dict[int, _Publish] = {}

    async def wait(self, mid: int, topic: str) -> None:
        """Wait for the answer to publish ``mid``; raises :class:`MqttNotDelivered` if the
        broker refused it, or the error :meth:`fail` gave."""
        pending = self._waiting[mid] = _Publish(topic)
        try:
            await pending.done.wait()
        finally:
            self._waiting.pop(mid, None)
        if pending.error is not None:
            raise pending.error

    def answered(self, event: Puback) -> None:
        """The broker answered (or paho wrote) a publish."""
        pending = self._waiting.get(event.mid)
        if pending is None:
            return
        if event.code >= 0x80:
            reason = f"the broker refused it ({event.name})"
            pending.error = MqttNotDelivered(pending.topic, reason)
        pending.done.set()

    def fail(self, error: MqttError) -> None:
        """The bridge gave up or closed: every waiting publish raises ``error``."""
        for pending in self._waiting.values():
            pending.error = error
            pending.done.set()


@final
@attrs.define
class Counters:
    """The bridge's own running counts (see :class:`MqttStatistics` for each)."""

    connections: int = 0
    attempts: int = 0
    published: int = 0
    publish_failures: int = 0

    def snapshot(self, *, status: MqttStatus, router: Router, flaps: int) -> MqttStatistics:
        """The counts as a frozen record, with the router's and the policy's."""
        return MqttStatistics(
            status=status,
            connections=self.connections,
            attempts=self.attempts,
            received=router.received,
            delivered=router.delivered,
            duplicates=router.duplicates,
            dropped=router.dropped,
            acked=router.acks.acked,
            stale_acks=router.acks.stale,
            published=self.published,
            publish_failures=self.publish_failures,
            flaps=flaps,
            buffered=router.buffered,
        )
