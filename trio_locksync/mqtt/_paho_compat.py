"""Every workaround of paho-mqtt's internals in one place, and what each relies on.

The bridge uses paho's public API everywhere else. Here it reaches further:

* :class:`BufferedClient` overrides paho's private ``Client._handle_publish()`` (paho 2.x: called
  by ``_packet_handle()`` for every PUBLISH, the packet's first byte and the rest in
  ``self._in_packet["command"]`` and ``["packet"]``) to decode a QoS 0 or 1 PUBLISH with
  :func:`._wire.decode_publish` and hand it to ``publish_sink`` — no ``Properties`` object, no
  ``MQTTMessage``, no ``on_message`` dispatch (the cost: see :mod:`._wire`); a malformed one
  ends the connection with a protocol error (``MQTT_ERR_PROTOCOL``). It relies on nothing else of
  paho's needing the message (``manual_ack``: paho sends no PUBACK itself; no
  ``message_callback_add`` filters are used), and on ``self._protocol``. QoS 2 goes paho's own
  way (``on_message``).
* It also overrides the private ``Client._packet_read()`` (paho 2.x: ``loop_read()`` calls it
  once per packet; it reads the fixed header a byte at a time, then the rest, into the
  ``self._in_packet`` dictionary): when no packet is half read and a QoS 0 or 1 PUBLISH is whole
  at the head of the :class:`BufferedSocket`'s buffer, it takes it from there into
  ``publish_sink`` and stamps the time as paho does (``_last_bytes_received``, paho 2.1's
  ``_last_msg_in``, under ``_msgtime_mutex``, with paho's ``time_func``); anything else is
  read by paho's own method. Measured: paho's thread 9-10 -> 6-8 µs a message.
* :class:`BufferedClient` overrides paho's private ``Client._create_socket()`` (paho 2.x: the
  one place that makes the connection's socket, TCP then TLS) to wrap the socket in
  :class:`BufferedSocket`, a read buffer (speed: see there). It relies on paho calling it with
  no argument from ``connect()``/``reconnect()``, keeping its result as the socket it reads
  (``recv``), writes (``send``), selects on (``fileno``), sets non-blocking, asks
  ``pending()`` and closes — all of them proxied. A paho without ``_create_socket`` would
  make a plain socket: the bridge would work the same, only slower.
* :class:`ClosingContext` stands in for the ``ssl.SSLContext`` given to paho's
  ``tls_set_context()`` (a proxy: paho only calls ``wrap_socket`` on it and reads
  ``check_hostname``), to close the socket of a failed TLS handshake, which paho's
  ``connect()`` leaves open (a leaked file descriptor).

:func:`incompatibilities` checks what can be checked without a connection (the paho version,
the overridden method's signature, the proxied calls); ``tests/test_paho_compat.py`` runs it
and the behavioural checks against a real broker, naming the paho version when one fails.
"""

from __future__ import annotations

import inspect
import logging
import ssl
from collections.abc import Callable
from typing import Any, final

import paho.mqtt.client as paho
from paho.mqtt import __version__ as _paho_version
from paho.mqtt.enums import MQTTErrorCode

from ._wire import MalformedPacket, decode_publish

__all__ = [
    "PAHO_VERSION",
    "READ_CHUNK",
    "BufferedClient",
    "BufferedSocket",
    "ClosingContext",
    "PublishSink",
    "incompatibilities",
]

#: the installed paho-mqtt
PAHO_VERSION: str = _paho_version
#: bytes read from the socket at once (see :class:`BufferedSocket`)
READ_CHUNK = 65536

logger = logging.getLogger("trio_locksync.mqtt")

#: what :class:`BufferedClient` hands a QoS 0 or 1 PUBLISH to: topic, payload, QoS, retain,
#: dup, packet identifier, subscription identifiers [paho thread]
PublishSink = Callable[[str, bytes, int, bool, bool, int, tuple[int, ...]], None]


@final
class BufferedClient(paho.Client):
    """paho's client with its socket wrapped in :class:`BufferedSocket`, its QoS 0 and 1
    PUBLISHes decoded by :func:`._wire.decode_publish` into ``publish_sink`` (see the module
    docstring)."""

    #: where QoS 0 and 1 PUBLISHes go (None: paho's ``on_message``, as a plain client)
    publish_sink: PublishSink | None = None

    def _create_socket(self) -> Any:
        return BufferedSocket(super()._create_socket())

    def _packet_read(self) -> MQTTErrorCode:
        # A whole QoS 0 or 1 PUBLISH at the head of the read buffer: straight to the sink,
        # without paho's byte-by-byte framing and its packet dictionary (see take_publish).
        sink, sock = self.publish_sink, self._sock
        if sink is not None and isinstance(sock, BufferedSocket) and not self._in_packet["command"]:
            frame = sock.take_publish()
            if frame is not None:
                rc = self._publish(sink, *frame)
                # what paho stamps after each packet read (its keepalive reads it): paho 2.2's
                # _last_bytes_received, 2.1's _last_msg_in (both set in paho's __init__)
                stamp = (
                    "_last_bytes_received"
                    if hasattr(self, "_last_bytes_received")
                    else "_last_msg_in"
                )
                with self._msgtime_mutex:
                    setattr(self, stamp, paho.time_func())
                return rc
        return super()._packet_read()

    def _handle_publish(self) -> MQTTErrorCode:
        sink = self.publish_sink
        header: int = self._in_packet["command"]
        if sink is None or header & 0x06 > 0x02:  # QoS 2 (or the invalid 3): paho's way
            return super()._handle_publish()
        return self._publish(sink, header, self._in_packet["packet"])

    def _publish(self, sink: PublishSink, header: int, body: bytes | bytearray) -> MQTTErrorCode:
        """Decode a QoS 0 or 1 PUBLISH (``header``: its first byte; ``body``: the rest after
        the fixed header) into ``sink``."""
        try:
            topic, mid, identifiers, payload = decode_publish(header, body, self._protocol)
        except MalformedPacket as exc:  # as paho 2.2's _packet_read: the connection ends
            logger.warning("MQTT bridge: malformed PUBLISH from the broker: %s", exc)
            return MQTTErrorCode.MQTT_ERR_PROTOCOL
        try:
            sink(
                topic,
                payload,
                (header >> 1) & 3,
                bool(header & 1),
                bool(header & 8),
                mid,
                identifiers,
            )
        except Exception:  # as paho's suppress_exceptions: the network loop goes on
            logger.exception("MQTT bridge: handing a message to trio failed")
        return MQTTErrorCode.MQTT_ERR_SUCCESS


@final
class BufferedSocket:
    """The connection's socket with a read buffer.

    paho reads a packet's type byte and each length byte with ``recv(1)``, then the rest: 3 or
    4 system calls per message, each one releasing the GIL — and with trio's thread waiting
    for it, handing it over (measured: 5.7 thread switches per message). This reads up to
    ``READ_CHUNK`` bytes at once and hands them out as asked; :meth:`pending` tells paho's
    loop (as for TLS, whose records buffer too) and ``PahoSession._step`` that packets are
    waiting without the socket being readable. (Gathering paho's sends — one per PUBACK —
    into one per loop turn was tried too: no measurable gain, so writes go straight through.)
    """

    __slots__ = ("_buffer", "_position", "raw")

    def __init__(self, raw: Any) -> None:
        self.raw = raw
        self._buffer = b""
        self._position = 0

    def recv(self, size: int) -> bytes:
        """Up to ``size`` bytes: from the buffer, else one ``recv`` of ``READ_CHUNK``."""
        buffer, position = self._buffer, self._position
        if position < len(buffer):
            end = position + size
            if end >= len(buffer):
                self._buffer, self._position = b"", 0
                return buffer[position:] if position else buffer
            self._position = end
            return buffer[position:end]
        data: bytes = self.raw.recv(max(size, READ_CHUNK))
        if len(data) <= size:
            return data
        self._buffer, self._position = data, size
        return data[:size]

    def take_publish(self) -> tuple[int, bytes] | None:
        """The first byte and the rest (after the fixed header) of a QoS 0 or 1 PUBLISH that
        is whole at the head of the buffer, taken out of it; None (nothing taken) for any other
        packet, or one not read whole yet: paho reads those its own way."""
        buffer, position = self._buffer, self._position
        end = len(buffer)
        if position >= end or buffer[position] & 0xF4 != 0x30:  # PUBLISH, QoS 0 or 1
            return None
        size, shift, at = 0, 0, position + 1
        while True:
            if at >= end or shift > 21:  # not buffered yet, or over four bytes: paho's way
                return None
            byte = buffer[at]
            at += 1
            size |= (byte & 0x7F) << shift
            if not byte & 0x80:
                break
            shift += 7
        if at + size > end:
            return None
        self._position = at + size
        return buffer[position], buffer[at : at + size]

    def pending(self) -> int:
        """Bytes readable without a system call (ours, and TLS's decrypted ones)."""
        inner = self.raw.pending() if isinstance(self.raw, ssl.SSLSocket) else 0
        return len(self._buffer) - self._position + inner

    def send(self, data: bytes | bytearray) -> int:
        """Write straight through."""
        sent: int = self.raw.send(data)
        return sent

    def fileno(self) -> int:
        """The raw socket's (for ``select``)."""
        fileno: int = self.raw.fileno()
        return fileno

    def setblocking(self, flag: bool) -> None:
        """The raw socket's."""
        self.raw.setblocking(flag)

    def close(self) -> None:
        """Drop the buffer, close the raw socket."""
        self._buffer, self._position = b"", 0
        self.raw.close()

    def __getattr__(self, name: str) -> Any:
        return getattr(self.raw, name)


@final
class ClosingContext:
    """An ``ssl.SSLContext`` that remembers the sockets it wraps, so that the one of a failed
    handshake gets closed: paho's ``connect()`` leaves it open (a leaked file descriptor)."""

    def __init__(self, context: ssl.SSLContext) -> None:
        self._context = context
        self._wrapped: list[ssl.SSLSocket] = []

    def wrap_socket(self, *args: Any, **kwargs: Any) -> ssl.SSLSocket:
        """The context's ``wrap_socket``, remembered."""
        sock = self._context.wrap_socket(*args, **kwargs)
        self._wrapped.append(sock)
        return sock

    def close_failed(self, current: object) -> None:
        """Close every wrapped socket but the client's current one; forget them all."""
        current = getattr(current, "raw", current)  # under its read buffer
        wrapped, self._wrapped = self._wrapped, []
        for sock in wrapped:
            if sock is not current:
                sock.close()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._context, name)


def incompatibilities() -> list[str]:
    """What the installed paho no longer provides of what the workarounds rely on (empty if
    all is there). Static checks only; the tests add behavioural ones."""
    problems = []
    if not PAHO_VERSION.startswith("2."):
        problems.append("not a paho-mqtt 2.x (the workarounds are written against 2.2.0)")
    create = getattr(paho.Client, "_create_socket", None)
    if create is None:
        problems.append("Client._create_socket is gone: the read buffer is never used")
    elif list(inspect.signature(create).parameters) != ["self"]:
        problems.append(f"Client._create_socket{inspect.signature(create)} takes arguments now")
    # The calls paho makes on the socket and the TLS context, by name, in its own source.
    source = inspect.getsource(paho.Client)
    if not any(
        f"self.{stamp} = time_func()" in source
        for stamp in ("_last_bytes_received", "_last_msg_in")
    ):
        problems.append("paho's Client stamps a read packet's time some other way")
    for name, parameters in (("_handle_publish", ["self"]), ("_packet_read", ["self"])):
        method = getattr(paho.Client, name, None)
        if method is None:
            problems.append(f"Client.{name} is gone")
        elif list(inspect.signature(method).parameters) != parameters:
            problems.append(f"Client.{name}{inspect.signature(method)} differs")
    for needed in (
        "return self._handle_publish()",
        "self._in_packet['command'] = command[0]",
        "self._in_packet['packet'] += data",
        "rc = self._packet_read()",
        "self._sock = self._create_socket()",
        "self._sock.recv(",
        "self._sock.send(",
        "self._sock.setblocking(",
        "self._ssl_context.wrap_socket(",
    ):
        if needed not in source:
            problems.append(f"paho's Client no longer does {needed!r}")
    return problems
