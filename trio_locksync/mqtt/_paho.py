"""paho-mqtt's side of the bridge: the client, its network loop in a worker thread, and the one
way its callbacks reach trio.

Facts this relies on (paho-mqtt 2.2.0 ``client.py``, checked against mosquitto 2.0.11):

* Without ``loop_start()`` (a bare thread, not allowed here), paho writes a packet *on the thread
  that calls* ``publish``/``ack``/``subscribe`` — racing the loop thread on the socket — unless
  ``on_socket_register_write`` is set. So it is set (to a no-op): paho then only queues the
  packet and wakes its loop through its socket pair, which only ``loop()`` creates (never
  ``loop_forever()``), so the thread runs its own ``loop()`` loop.
* ``connect()`` blocks (DNS, TCP, the TLS handshake): it runs in the worker thread. It also
  resets "first connect" each call, so the default CleanStart would wipe the session every
  time: ``clean_start=False`` always (MQTT 5), ``clean_session=False`` (3.1.1).
* ``reconnect_on_failure=False``: paho never reconnects by itself; the bridge owns the backoff.
* Callbacks run on the paho thread. Each one only appends a tuple to :class:`Inbox` (a deque:
  appends are atomic) and, if no drain is scheduled yet, schedules one with the trio token's
  ``run_sync_soon`` — never a blocking ``from_thread.run_sync`` per message. The drain runs on
  the trio thread and never raises (a ``run_sync_soon`` callback that raises ends the run).
"""

from __future__ import annotations

import collections
import logging
import ssl
import threading
from collections.abc import Callable
from typing import Any, final

import attrs
import paho.mqtt.client as paho
import trio
from paho.mqtt.enums import CallbackAPIVersion, MQTTErrorCode
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from ._models import MqttProtocol, MqttWill
from ._policy import Outcome

__all__ = ["Event", "Inbox", "PahoSession", "SessionEnd"]

logger = logging.getLogger("trio_locksync.mqtt")

#: what a callback hands to trio: (kind, connection generation, *details)
Event = tuple[Any, ...]

#: CONNACK reason codes that retrying cannot fix (MQTT 5 numbering; 3.1.1's 4 and 5 arrive
#: from paho as 134 and 135)
REFUSALS = {
    0x84: "unsupported protocol version",
    0x85: "client identifier not valid",
    0x86: "bad user name or password",
    0x87: "not authorized",
    0x8A: "banned",
    0x8C: "bad authentication method",
}
#: the broker's DISCONNECT reason "session taken over"
TAKEN_OVER = 0x8E


@final
class Inbox:
    """Hand-over from the paho thread to trio: :meth:`put` from any thread, one drain at a time
    on the trio thread. The handler is called for each event, in order, and never lets an
    exception out (it is logged)."""

    __slots__ = ("_handler", "_held", "_items", "_limit", "_room", "_scheduled", "_token")

    def __init__(
        self, token: trio.lowlevel.TrioToken, handler: Callable[[Event], None], *, limit: int = 1000
    ) -> None:
        self._token = token
        self._handler = handler
        self._items: collections.deque[Event] = collections.deque()
        self._scheduled = False
        # QoS 1 messages received and not yet taken (or dropped) by every holder: mosquitto's
        # ReceiveMaximum is not a hard bound, so the paho thread waits for room instead.
        self._limit = limit
        self._held = 0
        self._room = threading.Condition()

    def hold(self, stopping: Callable[[], bool]) -> bool:
        """[paho thread] Wait until fewer than ``limit`` QoS 1 messages are held, then count
        one more. False if ``stopping()`` became true meanwhile (the message is then dropped
        unacknowledged: the broker redelivers it). While this waits paho reads nothing more,
        so TCP pushes back on the broker; the consumer taking messages makes room."""
        with self._room:
            while self._held >= self._limit:
                if stopping():
                    return False
                self._room.wait(timeout=0.25)
            self._held += 1
            return True

    def unhold(self) -> None:
        """[trio thread] A held QoS 1 message was taken (or dropped) by every holder."""
        with self._room:
            self._held -= 1
            self._room.notify()

    def wake(self) -> None:
        """[trio thread] Let a waiting :meth:`hold` look at its stop condition now."""
        with self._room:
            self._room.notify_all()

    @property
    def held(self) -> int:
        """QoS 1 messages held now (for statistics)."""
        return self._held

    def put(self, event: Event) -> None:
        """[any thread] Queue ``event``; schedule a drain unless one is scheduled already."""
        self._items.append(event)
        if not self._scheduled:
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
                logger.exception("MQTT bridge: handling a %s event failed", event[0])


@final
@attrs.frozen
class SessionEnd:
    """How one run of the network loop ended, as the worker thread saw it."""

    outcome: Outcome
    detail: str
    code: int | None = None


@final
class PahoSession:
    """The paho client of one bridge and the worker-thread side of its connections.

    Methods marked [paho thread] run only in the bridge's worker thread; the others are called
    from the trio thread and only queue packets (see the module docstring)."""

    def __init__(
        self,
        *,
        host: str,
        port: int,
        client_id: str,
        protocol: MqttProtocol,
        keepalive: int,
        username: str | None,
        password: str | None,
        tls: ssl.SSLContext | bool | None,
        will: MqttWill | None,
        session_expiry: int,
        receive_maximum: int,
        connect_timeout: float,
        inbox: Inbox,
    ) -> None:
        self.host = host
        self.port = port
        self.client_id = client_id
        self._protocol = protocol
        self._keepalive = keepalive
        self._username = username
        self._password = password
        self._tls = tls
        self._will = will
        self._session_expiry = session_expiry
        self._receive_maximum = receive_maximum
        self._connect_timeout = connect_timeout
        self._inbox = inbox
        self._client: paho.Client | None = None
        self._tls_sockets: _ClosingContext | None = None
        self._generation = 0
        self._stop = threading.Event()

    # -- trio thread ------------------------------------------------------------------------

    @property
    def client(self) -> paho.Client:
        """The paho client (made by the first run, in the worker thread)."""
        if self._client is None:
            raise RuntimeError("the paho client is made by the first connection attempt")
        return self._client

    def request_stop(self) -> None:
        """End the current run: the loop sees the flag within its timeout, and a DISCONNECT
        (queued, waking the loop at once) closes the connection cleanly."""
        self._stop.set()
        self._inbox.wake()
        client = self._client
        if client is not None:
            client.disconnect()

    def subscribe(
        self, topic_filter: str, qos: int, identifier: int
    ) -> tuple[MQTTErrorCode, int | None]:
        """Send SUBSCRIBE (queued). With MQTT 5 the filter carries ``identifier``, which the
        broker puts on every message it sends for it, so overlapping filters route exactly."""
        if self._protocol is MqttProtocol.V5:
            properties = Properties(PacketTypes.SUBSCRIBE)  # type: ignore[no-untyped-call]
            properties.SubscriptionIdentifier = identifier
            return self.client.subscribe(topic_filter, qos, properties=properties)
        return self.client.subscribe(topic_filter, qos)

    # -- paho thread ------------------------------------------------------------------------

    def run(self, generation: int) -> SessionEnd:
        """[paho thread] Connect and run the network loop until the connection ends or a stop
        is requested. Never raises for network reasons: the outcome says what happened."""
        self._stop.clear()
        self._generation = generation
        try:
            client = self._client if self._client is not None else self._make_client()
        except (OSError, ssl.SSLError) as exc:  # loading CA certificates failed
            return SessionEnd(Outcome.UNTRUSTED, f"TLS setup failed: {type(exc).__name__}")
        try:
            try:
                self._connect(client)
            finally:
                if self._tls_sockets is not None:
                    self._tls_sockets.close_failed(client.socket())
        except ssl.SSLCertVerificationError as exc:
            return SessionEnd(
                Outcome.UNTRUSTED, f"untrusted TLS certificate ({exc.verify_message})"
            )
        except (OSError, ValueError) as exc:
            return SessionEnd(Outcome.NETWORK, f"cannot connect: {_describe(exc)}")
        rc = MQTTErrorCode.MQTT_ERR_SUCCESS
        while not self._stop.is_set() and rc is MQTTErrorCode.MQTT_ERR_SUCCESS:
            rc = client.loop(timeout=0.5)
        if self._stop.is_set() and client.is_connected():
            client.disconnect()
            for _ in range(4):  # write the DISCONNECT; the loop reports NO_CONN once closed
                if client.loop(timeout=0.05) is not MQTTErrorCode.MQTT_ERR_SUCCESS:
                    break
        return SessionEnd(Outcome.LOST, f"network loop ended ({paho.error_string(rc)})", int(rc))

    def _connect(self, client: paho.Client) -> None:
        if self._protocol is MqttProtocol.V5:
            properties = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
            properties.SessionExpiryInterval = self._session_expiry
            properties.ReceiveMaximum = self._receive_maximum
            client.connect(
                self.host,
                self.port,
                self._keepalive,
                clean_start=False,
                properties=properties,
            )
        else:
            client.connect(self.host, self.port, self._keepalive)

    def _make_client(self) -> paho.Client:
        v5 = self._protocol is MqttProtocol.V5
        client = paho.Client(
            CallbackAPIVersion.VERSION2,
            client_id=self.client_id,
            clean_session=None if v5 else False,
            protocol=paho.MQTTv5 if v5 else paho.MQTTv311,
            reconnect_on_failure=False,
            manual_ack=True,
        )
        client.connect_timeout = self._connect_timeout
        client.suppress_exceptions = True  # a callback bug must not kill the network loop
        client.max_queued_messages_set(0)
        if self._username is not None:
            client.username_pw_set(self._username, self._password)
        if self._will is not None:
            will = self._will
            client.will_set(will.topic, will.payload, will.qos, will.retain)
        if self._tls:
            context = self._tls if isinstance(self._tls, ssl.SSLContext) else _default_context()
            self._tls_sockets = _ClosingContext(context)
            client.tls_set_context(self._tls_sockets)  # type: ignore[arg-type]
        # Queue packets and wake the loop; never write on the caller's thread (see above).
        client.on_socket_register_write = _no_write
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_message = self._on_message
        client.on_subscribe = self._on_subscribe
        client.on_publish = self._on_publish
        self._client = client
        return client

    def _on_connect(
        self, client: paho.Client, userdata: object, flags: Any, reason: Any, properties: Any
    ) -> None:
        self._inbox.put(
            (
                "connack",
                self._generation,
                bool(flags.session_present),
                int(reason.value),
                str(reason),
            )
        )

    def _on_disconnect(
        self, client: paho.Client, userdata: object, flags: Any, reason: Any, properties: Any
    ) -> None:
        from_server = bool(flags.is_disconnect_packet_from_server)
        self._inbox.put(
            ("disconnect", self._generation, int(reason.value), str(reason), from_server)
        )

    def _on_message(self, client: paho.Client, userdata: object, message: paho.MQTTMessage) -> None:
        if message.qos >= 1 and not self._inbox.hold(self._stop.is_set):
            return  # stopping: not acknowledged, so the broker redelivers it
        # The topic is decoded here (paho keeps bytes); the payload stays bytes.
        ids = (
            getattr(message.properties, "SubscriptionIdentifier", None)
            if message.properties
            else None
        )
        self._inbox.put(
            (
                "message",
                self._generation,
                message.topic,
                message.payload,
                message.qos,
                bool(message.retain),
                bool(message.dup),
                message.mid,
                tuple(ids) if ids else (),
            )
        )

    def _on_subscribe(
        self, client: paho.Client, userdata: object, mid: int, reasons: Any, properties: Any
    ) -> None:
        self._inbox.put(("suback", self._generation, mid, [int(r.value) for r in reasons]))

    def _on_publish(
        self, client: paho.Client, userdata: object, mid: int, reason: Any, properties: Any
    ) -> None:
        self._inbox.put(("puback", self._generation, mid, int(reason.value), str(reason)))


@final
class _ClosingContext:
    """An ``ssl.SSLContext`` that remembers the sockets it wraps, so that the one of a failed
    handshake gets closed: paho's ``connect()`` leaves it open (a leaked file descriptor)."""

    def __init__(self, context: ssl.SSLContext) -> None:
        self._context = context
        self._wrapped: list[ssl.SSLSocket] = []

    def wrap_socket(self, *args: Any, **kwargs: Any) -> ssl.SSLSocket:
        sock = self._context.wrap_socket(*args, **kwargs)
        self._wrapped.append(sock)
        return sock

    def close_failed(self, current: object) -> None:
        """Close every wrapped socket but the client's current one; forget them all."""
        wrapped, self._wrapped = self._wrapped, []
        for sock in wrapped:
            if sock is not current:
                sock.close()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._context, name)


def _no_write(client: paho.Client, userdata: object, sock: object) -> None:
    """paho's write-registration hook: doing nothing makes it queue instead of writing."""


def _default_context() -> ssl.SSLContext:
    """Certificate and host name verification on, the system's CAs (loaded in the worker
    thread: it reads files)."""
    return ssl.create_default_context()


def _describe(exc: BaseException) -> str:
    text = str(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
