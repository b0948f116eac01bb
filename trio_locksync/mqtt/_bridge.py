"""The MQTT bridge: paho's network thread owned by a trio nursery, messages into trio safely.

``open_mqtt_bridge()`` opens a nursery whose manager task runs one connection at a time: it
starts paho's network loop with ``trio.to_thread.run_sync`` (never ``loop_start()``, which
makes a bare thread) and waits for it; the thread's callbacks reach trio only through
:class:`~._inbox.Inbox` (``run_sync_soon``, one drain at a time). When a connection ends, the
core's :class:`~trio_locksync.core.ReconnectPolicy` says when to try again, or to give up; the
status lives in the core's :class:`~trio_locksync.core.StatusHolder`. Leaving the block
sends a DISCONNECT, which wakes the loop at once, and waits for the thread: no thread outlives
the block. Everything the consumer sees — statuses, messages, publish results — is handled on
the trio thread.
"""

from __future__ import annotations

import logging
import math
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Literal, final

import trio
from paho.mqtt.enums import MQTTErrorCode

from ..core import (
    AttemptOutcome,
    NoPublicConstructor,
    Overflow,
    ReconnectAction,
    ReconnectPolicy,
    RefusalRetry,
    StatusHolder,
    Subscription,
)
from ._acks import Delivery
from ._connection import FLAP_HINT, V5_HINT, Connection, Counters, Publishes
from ._errors import MqttClosedError, MqttError, MqttNotDelivered, MqttRefused
from ._events import Connack, Disconnected, Event, Puback, Received, Suback
from ._inbox import Inbox
from ._models import (
    STATUS_TABLE,
    MqttMessage,
    MqttProtocol,
    MqttStatistics,
    MqttStatus,
    MqttStatusChange,
    QoS,
    check_qos,
)
from ._paho import PahoSession
from ._router import Router
from ._settings import BridgeSettings
from ._subscription import MqttSubscription
from ._topics import check_filter, check_topic

__all__ = ["MqttBridge"]

logger = logging.getLogger("trio_locksync.mqtt")


@final
class MqttBridge(metaclass=NoPublicConstructor):
    """A connection to one MQTT broker, kept up for the duration of an
    :func:`open_mqtt_bridge` block. Use it from the trio thread that opened it."""

    _OPENED_BY = "open_mqtt_bridge()"

    def __init__(self, settings: BridgeSettings) -> None:
        session = settings.session
        # The QoS 1 messages held (received, not taken) from which paho's thread waits: the
        # broker's window, receive_maximum (also with MQTT 3.1.1, which has none to send).
        token = trio.lowlevel.current_trio_token()
        self._inbox = Inbox(token, self._handle, hold_limit=session.receive_maximum)
        reconnect = settings.reconnect
        self._session = PahoSession(
            session, connect_timeout=reconnect.connect_timeout, inbox=self._inbox
        )
        # paho's loop holds a thread for the bridge's whole life: its own limiter, not trio's
        # shared one (40 tokens: a 41st bridge in one process would never connect).
        self._thread_limiter = trio.CapacityLimiter(1)
        self._policy = ReconnectPolicy(
            reconnect,
            refusal_retry=RefusalRetry.AFTER_DELAY,
            flap_hint=FLAP_HINT,
            unanswered_hint=V5_HINT if session.protocol is MqttProtocol.V5 else None,
        )
        self._connect_timeout = reconnect.connect_timeout
        self._handshake_timeout = reconnect.handshake_timeout
        self._buffer_size = settings.buffer_size
        self._overflow = settings.overflow
        self._status = StatusHolder(
            "MQTT bridge",
            MqttStatus.DISCONNECTED,
            STATUS_TABLE,
            change=MqttStatusChange,
            live=MqttStatus.CONNECTED,
            closed_error=self._closed_error,
        )
        self._router = Router(self._session, self._inbox)
        self._connection = Connection(0)
        self._publishes = Publishes()
        self._failure: MqttRefused | None = None
        # Subscriptions whose block ended, for the bridge's own task to release (see _leave).
        self._leaving_send, self._leaving = trio.open_memory_channel[tuple[str, list[Delivery]]](
            math.inf
        )
        self._counts = Counters()

    # -- public ------------------------------------------------------------------------------

    @property
    def status(self) -> MqttStatus:
        """Where the connection is (see :class:`MqttStatus`)."""
        return self._status.current

    @property
    def client_id(self) -> str:
        """The client id this bridge connects with (fixed for its lifetime)."""
        return self._session.client_id

    @property
    def stale_since(self) -> float | None:
        """None while CONNECTED; else the trio time since which messages have not been
        arriving: when the connection was lost, or when the bridge started if it never
        connected."""
        return self._status.stale_since

    @property
    def failure(self) -> MqttRefused | None:
        """Why the bridge gave up (status REFUSED), else None."""
        return self._failure

    def status_changes(self) -> Subscription[MqttStatusChange]:
        """Every status change from now on, in order (each iterator keeps up to 1,000 unread;
        then the oldest go, counted in its ``dropped``). It ends when the bridge closes."""
        return self._status.changes()

    async def wait_status(self, *statuses: MqttStatus) -> MqttStatus:
        """Wait until the status is one of ``statuses``; returns it.

        It never waits for a status that can no longer come: raises :class:`MqttClosedError`
        (a :class:`~trio_locksync.ClosedError`) once the block has ended — also when it ends
        while this waits — and :class:`MqttRefused` once the bridge gave up."""
        if not statuses:
            raise ValueError("give at least one status to wait for")
        return await self._status.wait(*statuses)

    def _closed_error(self, statuses: tuple[MqttStatus, ...]) -> MqttClosedError:
        waiting = " or ".join(s.name for s in statuses)
        return MqttClosedError(
            f"MQTT bridge {self.client_id!r} is closed; waiting for {waiting} not done"
        )

    def _fresh_failure(self) -> MqttRefused:
        # A new instance per raise: one shared instance would grow its traceback each time.
        assert self._failure is not None
        return MqttRefused(self._failure.reason, code=self._failure.code)

    @asynccontextmanager
    async def subscribe(
        self,
        topic_filter: str,
        qos: Literal[0, 1] = 0,
        *,
        buffer_size: int | None = None,
        overflow: Overflow | None = None,
    ) -> AsyncIterator[MqttSubscription]:
        """Subscribe to ``topic_filter`` for the duration of the block; iterate the yielded
        :class:`MqttSubscription` for :class:`MqttMessage` s.

        The block starts once the broker acknowledged the subscription (waiting for the
        connection if need be). Every block gets the filter's retained messages (flagged
        ``retain``), also when another block already subscribed the same filter: the bridge
        then subscribes it again, and a block that already had a retained copy of a topic on
        this connection does not get the repeat. After a reconnect that does not resume the
        session they come again (a replay). QoS 1 messages are acknowledged to the broker only
        when taken from the iterator; QoS 2 subscriptions are refused (``ValueError``, as is any
        QoS but 0 and 1): with manual acknowledgement paho loses a QoS 2 message on a crash, so
        ask for QoS 1. A bad ``topic_filter`` raises :class:`TopicError`. The
        subscription is restored after every reconnect. Leaving the block drops the messages
        not taken (acknowledging QoS 1 ones, so that later messages can be acknowledged in
        order) and unsubscribes.
        """
        check_filter(topic_filter)
        asked: object = qos  # typed Literal[0, 1]; a caller may still pass 2 (or anything)
        if type(asked) is int and asked == 2:
            raise ValueError(
                f"subscribe({topic_filter!r}, qos=2): QoS 2 subscriptions are refused, because "
                "the bridge acknowledges a message only once it is taken and, acknowledging "
                "that way, paho loses a QoS 2 message when this client crashes (it ignores the "
                "broker's resent PUBREL); ask for QoS 1, which the broker redelivers instead"
            )
        check_qos(f"subscribe({topic_filter!r})", qos, allowed=(0, 1))
        self._check_open("subscribe()")
        size = self._buffer_size if buffer_size is None else buffer_size
        if size < 1:
            raise ValueError(f"buffer_size must be >= 1, got {size!r}")
        subscription = MqttSubscription._create(
            topic_filter,
            qos,
            buffer_size=size,
            overflow=self._overflow if overflow is None else overflow,
            upstream=self._router,
        )
        self._router.add(subscription)
        try:
            await self._wait_subscribed(subscription)
            yield subscription
        finally:
            untaken = self._router.remove(subscription)
            if not self._status.closed:
                # Released by the bridge's own task, at its next turn: if the bridge closes
                # right after this block (cancelled, or ending), that turn never comes, nothing
                # is acknowledged and the broker keeps the subscription and the messages for
                # the next bridge with this client id.
                self._leaving_send.send_nowait((topic_filter, untaken))

    async def _leave(self) -> None:
        """[a task of the bridge] Subscriptions whose block ended while the bridge goes on:
        acknowledge what they did not take (so later messages can be acknowledged in order),
        and unsubscribe filters no other block uses."""
        async for topic_filter, untaken in self._leaving:
            connected = self._status.current is MqttStatus.CONNECTED
            self._router.leave(topic_filter, untaken, connected=connected)

    async def publish(
        self, topic: str, payload: bytes | str, qos: QoS = 0, retain: bool = False
    ) -> None:
        """Publish ``payload`` to ``topic``. Waits for the connection if there is none
        (cancellable). QoS 1 and 2 return once the broker acknowledged the message; QoS 0 once
        it was written to the socket. Raises :class:`MqttNotDelivered` if the broker refused it
        or it could not be sent, :class:`MqttRefused` if the bridge gave up,
        :class:`MqttClosedError` after the block; a bad ``topic`` raises :class:`TopicError`
        and a ``qos`` other than 0, 1 and 2 ``ValueError``, at once."""
        check_topic(topic)
        check_qos(f"publish({topic!r})", qos)
        data = payload.encode() if isinstance(payload, str) else bytes(payload)
        while True:
            await self._wait_connected()
            rc, mid = self._session.publish(topic, data, qos, retain)
            if rc is MQTTErrorCode.MQTT_ERR_QUEUE_SIZE:
                self._counts.publish_failures += 1
                raise MqttNotDelivered(topic, "paho's outgoing queue is full")
            if rc is MQTTErrorCode.MQTT_ERR_NO_CONN and qos == 0:
                await trio.lowlevel.checkpoint()
                continue  # the link went down just now: QoS 0 is not queued; send it again
            break
        # QoS >= 1 while the link just went down: paho queued it and sends it after the next
        # CONNACK; its acknowledgement arrives then.
        try:
            await self._publishes.wait(mid, topic)
        except MqttError:
            self._counts.publish_failures += 1
            raise
        self._counts.published += 1

    def statistics(self) -> MqttStatistics:
        """The bridge's counters (see :class:`MqttStatistics`)."""
        return self._counts.snapshot(
            status=self._status.current, router=self._router, flaps=self._policy.flaps_total
        )

    def __repr__(self) -> str:
        return (
            f"<MqttBridge {self._session.host}:{self._session.port} client_id="
            f"{self.client_id!r} {self._status.current.value}>"
        )

    # -- the manager -------------------------------------------------------------------------

    async def _run(self) -> None:
        host, port = self._session.host, self._session.port
        self._move(MqttStatus.CONNECTING, f"connecting to {host}:{port}")
        while True:
            outcome, detail, code = await self._one_connection()
            decision = self._policy.ended(trio.current_time(), outcome, detail)
            if decision.action is ReconnectAction.GIVE_UP:
                self._failure = MqttRefused(decision.detail, code=code)
                logger.error("MQTT bridge %s: %s", self.client_id, self._failure)
                self._move(MqttStatus.REFUSED, decision.detail)
                self._status.fail(self._fresh_failure)
                self._fail_waiters(self._failure)
                return
            logger.info(
                "MQTT bridge %s: %s; reconnecting in %.1f s",
                self.client_id,
                decision.detail,
                decision.delay,
            )
            detail = f"{decision.detail}; next attempt in {decision.delay:.1f} s"
            self._move(MqttStatus.RECONNECTING, detail)
            await trio.sleep(decision.delay)

    async def _one_connection(self) -> tuple[AttemptOutcome, str, int | None]:
        """One run of the network loop in a worker thread, from connect to its end."""
        generation = self._router.new_connection()
        connection = self._connection = Connection(generation)
        self._counts.attempts += 1
        end = await connection.run(
            self._session, self._thread_limiter, self._connect_timeout, self._handshake_timeout
        )
        self._inbox.drain()  # what the thread reported last is handled before judging
        return connection.judge(end)

    # -- events from the paho thread (run by the inbox's drain, on the trio thread) ------------

    def _handle(self, event: Event) -> None:
        if event.generation != self._connection.generation:
            if type(event) is Received and event.qos >= 1:  # held by the paho thread: make room
                self._inbox.unhold()
            return  # an event of a connection already given up
        match event:
            case Received():  # the hot path: first
                message = MqttMessage(
                    topic=event.topic,
                    payload=event.payload,
                    qos=event.qos,
                    retain=event.retain,
                    duplicate=event.duplicate,
                    received_at=trio.current_time(),
                    connection=event.generation,
                )
                self._router.route(message, event.mid, event.identifiers)
            case Puback():
                self._publishes.answered(event)
            case Suback():
                self._router.on_suback(event.mid, event.codes)
            case Connack():
                self._on_connack(event)
            case Disconnected():
                self._connection.disconnected(event)

    def _on_connack(self, event: Connack) -> None:
        connection = self._connection
        connection.connacked(event)
        if event.code >= 0x80:
            return  # judged when the run ends (paho closes the connection now)
        self._policy.answered()
        self._policy.live(trio.current_time())
        self._counts.connections += 1
        self._move(
            MqttStatus.CONNECTED,
            f"connected (session {'resumed' if event.session_present else 'new'})",
        )
        self._router.connected(event.session_present)

    # -- helpers ---------------------------------------------------------------------------

    async def _wait_subscribed(self, subscription: MqttSubscription) -> None:
        topic_filter = subscription.topic_filter
        while True:
            await self._wait_connected()
            # Its own SUBSCRIBE even if another block has the filter: the broker sends the
            # retained messages only in answer to one (see Router.cover).
            suback = self._router.cover(subscription)
            if suback is None:
                break
            await suback.done.wait()
            if suback.refused:
                raise MqttError(
                    f"the broker refused the subscription to {topic_filter!r} "
                    f"(reason codes {', '.join(hex(c) for c in suback.codes)})"
                )
        await trio.lowlevel.checkpoint()

    async def _wait_connected(self) -> None:
        # No checkpoint when connected: publish() is a hot path.
        if self._status.current is not MqttStatus.CONNECTED:
            await self._status.wait(MqttStatus.CONNECTED, prompt=True)

    def _check_open(self, what: str) -> None:
        if self._status.closed:
            raise MqttClosedError(f"MQTT bridge {self.client_id!r} is closed; {what} not done")

    def _move(self, status: MqttStatus, detail: str) -> None:
        self._status.move(status, detail, connection=self._connection.generation)

    def _fail_waiters(self, error: MqttError) -> None:
        self._publishes.fail(error)
        self._router.fail(error)

    def _close(self) -> None:
        if self._status.closed:
            return
        self._session.close()  # the worker thread is done (the nursery waited for it)
        closed = MqttClosedError(f"MQTT bridge {self.client_id!r} closed")
        self._fail_waiters(closed)
        self._status.close(
            MqttStatus.DISCONNECTED, "bridge closed", connection=self._connection.generation
        )
