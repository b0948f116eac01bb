"""paho-mqtt's side of the bridge: the client, its network loop in a worker thread, and the one
way its callbacks reach trio.

Facts this relies on (paho-mqtt 2.2.0 ``client.py``, checked against mosquitto 2.0.11; the
workarounds of paho's internals are in :mod:`._paho_compat`):

* Without ``loop_start()`` (a bare thread, not allowed here), paho writes a packet *on the thread
  that calls* ``publish``/``ack``/``subscribe`` — racing the loop thread on the socket — unless
  ``on_socket_register_write`` is set. So it is set, to :meth:`PahoSession._wake`: paho then
  only queues the packet, and the hook wakes the worker thread's loop (one byte on the bridge's
  own socket pair, once per batch of queued packets). paho's own socket pair exists only with
  its ``loop()``, which writes a byte to it per queued packet — a system call per
  acknowledgement on trio's thread — so the worker thread runs its own loop of paho's public
  ``loop_read()``/``loop_write()``/``loop_misc()`` (:meth:`PahoSession._step`).
* ``connect()`` blocks (DNS, TCP, the TLS handshake): it runs in the worker thread. It also
  resets "first connect" each call, so the default CleanStart would wipe the session every
  time: ``clean_start=False`` always (MQTT 5), ``clean_session=False`` (3.1.1).
* ``reconnect_on_failure=False``: paho never reconnects by itself; the bridge owns the backoff.
* Callbacks run on the paho thread and only hand events to trio through :class:`~._inbox.Inbox`
  (see there).
* Speed: paho's thread and trio's share the GIL, and every system call hands it over. The
  socket is read 64 KiB at a time (:class:`~._paho_compat.BufferedSocket`; paho itself reads
  each packet's header byte by byte), and the paho thread pauses while trio is behind
  (:meth:`Inbox.pause`), so that the two take turns in batches rather than per message.
  Measured (benchmarks/mqtt_bench.py): 5.7 thread switches a message before, 0.05 after.
"""

from __future__ import annotations

import logging
import select
import socket
import ssl
from collections.abc import Callable
from typing import Any, cast, final

import attrs
import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion, MQTTErrorCode
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from ..core import AttemptOutcome
from ._events import Connack, Disconnected, Puback, Received, Suback
from ._inbox import Inbox
from ._models import MqttProtocol, QoS
from ._paho_compat import BufferedClient, BufferedSocket, ClosingContext
from ._settings import SessionSettings

__all__ = ["PahoSession", "SessionEnd"]

logger = logging.getLogger("trio_locksync.mqtt")

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
#: packets read from the buffer in a row before the loop turns to writes and timers
BURST = 64
#: the network loop's longest wait (keepalive timers are checked at least this often)
LOOP_TIMEOUT = 1.0


@final
@attrs.frozen
class SessionEnd:
    """How one run of the network loop ended, as the worker thread saw it."""

    outcome: AttemptOutcome
    detail: str
    code: int | None = None


@final
class PahoSession:
    """The paho client of one bridge and the worker-thread side of its connections.

    Methods marked [paho thread] run only in the bridge's worker thread; the others are called
    from the trio thread, are its only calls into paho, and only queue packets (see above)."""

    def __init__(self, settings: SessionSettings, *, connect_timeout: float, inbox: Inbox) -> None:
        self._settings = settings
        self.host = settings.host
        self.port = settings.port
        self.client_id = settings.client_id
        self._connect_timeout = connect_timeout
        self._inbox = inbox
        self._client: paho.Client | None = None
        self._tls_sockets: ClosingContext | None = None
        self._generation = 0  # the current (or last) run's, set by run() at its start
        # [paho thread] this run's CONNACK came: until then paho's timers stay off (_step)
        self._connacked = False
        # Runs of this generation or an earlier one are to stop (written by the trio thread
        # only): not a flag the run clears at its start, which loses a stop requested before
        # the worker thread got there (the loop then ran on forever: issue 19).
        self._stop_through = 0
        # The network loop's wake-up (made by the first run): paho's own socket pair exists
        # only with paho's loop(), which writes one byte to it per queued packet — a system
        # call per acknowledgement, on trio's thread.
        self._wake_r: socket.socket | None = None
        self._wake_w: socket.socket | None = None
        self._woken = False

    # -- trio thread ------------------------------------------------------------------------

    def _live(self) -> paho.Client:
        """The paho client (made by the first run, in the worker thread)."""
        if self._client is None:
            raise RuntimeError("the paho client is made by the first connection attempt")
        return self._client

    def request_stop(self, generation: int) -> None:
        """End the run of connection ``generation``, whenever it is asked: before the worker
        thread reached :meth:`run` (the run then returns at once), during ``connect()`` (it
        returns when ``connect()`` does, within ``connect_timeout`` for TCP; DNS is not
        interruptible), or in the loop (a DISCONNECT is queued and wakes it at once; the loop
        also looks at least every ``LOOP_TIMEOUT``)."""
        self._stop_through = max(self._stop_through, generation)
        self._inbox.wake()
        client = self._client
        if client is not None:
            client.disconnect()
        self._woken = False
        self._poke()  # also when nothing was queued

    def close(self) -> None:
        """[trio thread, once the worker thread is done] Close the wake-up socket pair."""
        for sock in (self._wake_r, self._wake_w):
            if sock is not None:
                sock.close()

    def subscribe(
        self, topic_filter: str, qos: int, identifier: int
    ) -> tuple[MQTTErrorCode, int | None]:
        """Send SUBSCRIBE (queued); paho's result code and packet id. With MQTT 5 the filter
        carries ``identifier``, which the broker puts on every message it sends for it, so
        overlapping filters route exactly."""
        if self._settings.protocol is MqttProtocol.V5:
            properties = Properties(PacketTypes.SUBSCRIBE)  # type: ignore[no-untyped-call]
            properties.SubscriptionIdentifier = identifier
            return self._live().subscribe(topic_filter, qos, properties=properties)
        return self._live().subscribe(topic_filter, qos)

    def unsubscribe(self, topic_filter: str) -> None:
        """Send UNSUBSCRIBE (queued; nothing waits for its UNSUBACK)."""
        self._live().unsubscribe(topic_filter)

    def publish(
        self, topic: str, payload: bytes, qos: int, retain: bool
    ) -> tuple[MQTTErrorCode, int]:
        """Send PUBLISH (queued); paho's result code and the packet id its :class:`Puback`
        will carry. QoS >= 1 while the link is down: queued, sent after the next CONNACK."""
        info = self._live().publish(topic, payload, qos, retain)
        return info.rc, info.mid

    def ack(self, mids: list[int]) -> None:
        """Send the PUBACKs of the QoS 1 messages ``mids`` (queued, in this order). (Queuing a
        batch as one packet, one ``send`` instead of one each, was measured: no gain.)"""
        ack = self._live().ack
        for mid in mids:
            ack(mid, 1)

    # -- paho thread ------------------------------------------------------------------------

    def run(self, generation: int, opened: Callable[[], object]) -> SessionEnd:
        """[paho thread] Connect and run the network loop until the connection ends or a stop
        of ``generation`` is requested (at any time: see :meth:`request_stop`). Never raises for
        network reasons: the outcome says what happened. ``opened`` is called once ``connect()``
        has returned (the socket is open, TLS done within paho's ``connect_timeout``, CONNECT
        queued): the trio side then waits ``handshake_timeout`` for the CONNACK."""
        self._generation = generation
        self._connacked = False
        self._inbox.rearm()
        if self._wake_r is None:
            self._wake_r, self._wake_w = socket.socketpair()
            self._wake_r.setblocking(False)
            self._wake_w.setblocking(False)
        # From here on a stop pokes the wake-up socket, and the loop looks before each wait.
        if self._stopping():
            return SessionEnd(AttemptOutcome.FAILED, "stopped before connecting")
        try:
            client = self._client if self._client is not None else self._make_client()
        except (OSError, ssl.SSLError) as exc:  # loading CA certificates failed
            return SessionEnd(AttemptOutcome.DENIED, f"TLS setup failed: {type(exc).__name__}")
        if self._stopping():
            return SessionEnd(AttemptOutcome.FAILED, "stopped before connecting")
        try:
            try:
                self._connect(client)
            finally:
                if self._tls_sockets is not None:
                    self._tls_sockets.close_failed(client.socket())
        except ssl.SSLCertVerificationError as exc:
            return SessionEnd(
                AttemptOutcome.DENIED, f"untrusted TLS certificate ({exc.verify_message})"
            )
        except (OSError, ValueError) as exc:
            return SessionEnd(AttemptOutcome.FAILED, f"cannot connect: {_describe(exc)}")
        opened()
        rc = MQTTErrorCode.MQTT_ERR_SUCCESS
        while not self._stopping() and rc is MQTTErrorCode.MQTT_ERR_SUCCESS:
            rc = self._step(client, LOOP_TIMEOUT)
        if self._stopping() and client.socket() is not None:
            # request_stop() queued a DISCONNECT already (paho then says not is_connected(),
            # though nothing was written yet): write it, so that the broker sees a clean close
            # and does not publish our will; paho closes the socket once it is written.
            if client.is_connected():
                client.disconnect()
            for _ in range(4):  # the loop reports NO_CONN once closed
                if self._step(client, 0.05) is not MQTTErrorCode.MQTT_ERR_SUCCESS:
                    break
        return SessionEnd(
            AttemptOutcome.LOST, f"network loop ended ({paho.error_string(rc)})", int(rc)
        )

    def _stopping(self) -> bool:
        """[paho thread] A stop of the current run was requested."""
        return self._stop_through >= self._generation

    def _step(self, client: paho.Client, timeout: float) -> MQTTErrorCode:
        """[paho thread] One turn of the network loop, paho's ``loop()`` made of its public
        parts (``loop_read``/``loop_write``/``loop_misc``): wait until the socket is readable,
        writable if paho has packets queued, or :meth:`_wake` is called; read every packet
        already buffered (up to ``BURST``) without a system call in between; write; timers."""
        sock, wake = client.socket(), self._wake_r
        if sock is None or wake is None:
            return MQTTErrorCode.MQTT_ERR_NO_CONN
        buffered = sock.pending() if isinstance(sock, BufferedSocket) else 0
        wlist = [sock] if client.want_write() else []
        try:
            readable, _, _ = select.select([sock, wake], wlist, [], 0.0 if buffered else timeout)
        except (OSError, ValueError):  # closed under us: the connection is gone
            return MQTTErrorCode.MQTT_ERR_CONN_LOST
        if wake in readable:
            try:
                wake.recv(4096)
            except BlockingIOError:
                pass
        # After the byte is read, before want_write() below: a packet queued from here on
        # wakes the next select(), one queued before is written now.
        self._woken = False
        if buffered or sock in readable:
            try:
                for _ in range(BURST):
                    rc = client.loop_read()
                    if rc is not MQTTErrorCode.MQTT_ERR_SUCCESS:
                        return rc
                    if not isinstance(sock, BufferedSocket) or not sock.pending():
                        break
            finally:
                self._inbox.flush()
        if client.want_write():
            rc = client.loop_write()
            if rc is not MQTTErrorCode.MQTT_ERR_SUCCESS:
                return rc
        if not self._connacked:
            # Before the CONNACK, paho's keepalive check would close the socket after
            # ``keepalive`` s of silence and cut handshake_timeout short; the trio side's
            # timer is the one bound on that wait.
            return MQTTErrorCode.MQTT_ERR_SUCCESS
        return client.loop_misc()

    def _wake(self, client: paho.Client, userdata: object, sock: object) -> None:
        """[any thread] paho's write-registration hook, called when a packet is queued and
        none was waiting: wake the network loop (one byte on the wake-up socket, at most one
        until the loop has seen it). Being set, it also stops paho writing on the caller's
        thread (see the module docstring)."""
        self._poke()

    def _poke(self) -> None:
        wake = self._wake_w
        if self._woken or wake is None:
            return
        self._woken = True
        try:
            wake.send(b"\0")
        except OSError:  # full (the loop wakes anyway) or closed (the bridge is done)
            pass

    def _connect(self, client: paho.Client) -> None:
        if self._settings.protocol is MqttProtocol.V5:
            properties = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
            properties.SessionExpiryInterval = self._settings.session_expiry
            properties.ReceiveMaximum = self._settings.receive_maximum
            client.connect(
                self.host,
                self.port,
                self._settings.keepalive,
                clean_start=False,
                properties=properties,
            )
        else:
            client.connect(self.host, self.port, self._settings.keepalive)

    def _make_client(self) -> paho.Client:
        v5 = self._settings.protocol is MqttProtocol.V5
        client = BufferedClient(
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
        if self._settings.username is not None:
            client.username_pw_set(self._settings.username, self._settings.password)
        if self._settings.will is not None:
            will = self._settings.will
            client.will_set(will.topic, will.payload, will.qos, will.retain)
        if self._settings.tls:
            context = (
                self._settings.tls
                if isinstance(self._settings.tls, ssl.SSLContext)
                else _default_context()
            )
            self._tls_sockets = ClosingContext(context)
            client.tls_set_context(self._tls_sockets)  # type: ignore[arg-type]
        # Queue packets and wake the loop; never write on the caller's thread (see above).
        client.on_socket_register_write = self._wake
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_message = self._on_message  # QoS 2 only (see publish_sink)
        client.publish_sink = self._deliver
        client.on_subscribe = self._on_subscribe
        client.on_publish = self._on_publish
        self._client = client
        return client

    # -- paho's callbacks [paho thread]: one typed event each, into the inbox ------------------

    def _on_connect(
        self, client: paho.Client, userdata: object, flags: Any, reason: Any, properties: Any
    ) -> None:
        self._connacked = True
        present = bool(flags.session_present)
        self._inbox.put(Connack(self._generation, present, int(reason.value), str(reason)))

    def _on_disconnect(
        self, client: paho.Client, userdata: object, flags: Any, reason: Any, properties: Any
    ) -> None:
        from_server = bool(flags.is_disconnect_packet_from_server)
        self._inbox.put(Disconnected(self._generation, int(reason.value), str(reason), from_server))

    def _on_message(self, client: paho.Client, userdata: object, message: paho.MQTTMessage) -> None:
        """paho's own way, for what ``publish_sink`` does not take (QoS 2)."""
        properties = message.properties
        ids = getattr(properties, "SubscriptionIdentifier", None) if properties else None
        self._deliver(
            message.topic,
            message.payload,  # type: ignore[arg-type]  # paho makes it with struct: bytes
            message.qos,
            bool(message.retain),
            bool(message.dup),
            message.mid,
            tuple(ids) if ids else (),
        )

    def _deliver(
        self,
        topic: str,
        payload: bytes,
        qos: int,
        retain: bool,
        dup: bool,
        mid: int,
        identifiers: tuple[int, ...],
    ) -> None:
        """A PUBLISH arrived: into the inbox (the :class:`BufferedClient`'s ``publish_sink``)."""
        if qos >= 1 and not self._inbox.hold(self._stopping):
            return  # stopping: not acknowledged, so the broker redelivers it
        self._inbox.put(
            # paho hands on only QoS 0, 1 and 2 (any other value is a protocol error to it)
            Received(
                self._generation, topic, payload, cast(QoS, qos), retain, dup, mid, identifiers
            ),
            flush=False,  # the loop flushes once per turn (see Inbox.flush)
        )
        self._inbox.pause()

    def _on_subscribe(
        self, client: paho.Client, userdata: object, mid: int, reasons: Any, properties: Any
    ) -> None:
        codes = tuple(int(r.value) for r in reasons)
        self._inbox.put(Suback(self._generation, mid, codes))

    def _on_publish(
        self, client: paho.Client, userdata: object, mid: int, reason: Any, properties: Any
    ) -> None:
        self._inbox.put(Puback(self._generation, mid, int(reason.value), str(reason)))


def _default_context() -> ssl.SSLContext:
    """Certificate and host name verification on, the system's CAs (loaded in the worker
    thread: it reads files)."""
    return ssl.create_default_context()


def _describe(exc: BaseException) -> str:
    text = str(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
