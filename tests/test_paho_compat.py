"""The workarounds of paho-mqtt's internals (``trio_locksync.mqtt._paho_compat``): what they
rely on, checked statically and against a real mosquitto, so that a paho release that breaks
one fails here, loudly and naming the paho version, instead of the bridge silently getting
slower or leaking sockets."""

from __future__ import annotations

import ssl
from typing import Any

import paho.mqtt.client as paho
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from trio_locksync.mqtt._paho_compat import (
    PAHO_VERSION,
    BufferedClient,
    BufferedSocket,
    ClosingContext,
    incompatibilities,
)

from .brokerhelpers import Broker, needs_mosquitto

WHICH = f"paho-mqtt {PAHO_VERSION}"


def test_paho_still_has_what_the_workarounds_override_and_proxy() -> None:
    problems = incompatibilities()
    assert not problems, f"{WHICH} broke trio_locksync's workarounds: " + "; ".join(problems)


class RecordingSocket:
    """A raw socket that hands out ``incoming`` and counts its recv() calls."""

    def __init__(self, incoming: bytes = b"") -> None:
        self.incoming = bytearray(incoming)
        self.recv_calls = 0

    def recv(self, size: int) -> bytes:
        self.recv_calls += 1
        if not self.incoming:
            raise BlockingIOError
        data = bytes(self.incoming[:size])
        del self.incoming[:size]
        return data


def test_the_read_buffer_serves_paho_byte_reads_from_one_recv() -> None:
    """paho reads a packet as recv(1), recv(1), recv(rest): 3 system calls per message
    without the buffer, 1 per 64 KiB with it — in the same order, byte for byte."""

    packets = [bytes([0x30, 5]) + b"%05d" % i for i in range(100)]
    raw = RecordingSocket(b"".join(packets))
    sock = BufferedSocket(raw)
    got = []
    for _ in packets:
        head = sock.recv(1) + sock.recv(1)
        got.append(head + sock.recv(head[1]))
    assert got == packets
    assert raw.recv_calls == 1
    assert sock.pending() == 0
    with pytest.raises(BlockingIOError):  # nothing more: paho's "try again later"
        sock.recv(1)


def test_the_read_buffer_reports_what_it_holds() -> None:

    sock = BufferedSocket(RecordingSocket(b"abcdef"))
    assert sock.pending() == 0  # nothing read yet: the socket itself is readable
    assert sock.recv(2) == b"ab"
    assert sock.pending() == 4  # the loop reads on without waiting in select()
    assert sock.recv(10) == b"cdef"  # a short read at the end of the buffer
    assert sock.pending() == 0


def test_the_paho_client_reads_through_the_buffer() -> None:
    """The bridge's paho client wraps the socket it makes (paho's _create_socket): if a paho
    release moves that, this fails instead of the bridge silently getting slower."""
    import socket

    import paho.mqtt.client as paho
    from paho.mqtt.enums import CallbackAPIVersion

    from trio_locksync.mqtt._paho_compat import BufferedClient, BufferedSocket

    with socket.create_server(("127.0.0.1", 0)) as server:
        client = BufferedClient(CallbackAPIVersion.VERSION2, client_id="x", protocol=paho.MQTTv5)
        client.on_socket_register_write = lambda c, u, s: None  # queue, never write here
        client.connect("127.0.0.1", server.getsockname()[1], clean_start=False)
        peer, _ = server.accept()
        try:
            assert isinstance(client.socket(), BufferedSocket)
        finally:
            peer.close()
            client.socket().close()  # type: ignore[union-attr]


class CountingRaw:
    """A real socket, its recv() calls counted."""

    def __init__(self, raw: Any) -> None:
        self.raw = raw
        self.recv_calls = 0

    def recv(self, size: int) -> bytes:
        self.recv_calls += 1
        data: bytes = self.raw.recv(size)
        return data

    def __getattr__(self, name: str) -> Any:
        return getattr(self.raw, name)


def loop_until(client: paho.Client, done: Any, what: str) -> None:
    for _ in range(1000):  # paho reads one packet a turn; select() waits 0.1 s at most
        if done():
            return
        client.loop(0.1)
    raise AssertionError(f"{WHICH}: {what} never happened ({done()!r})")


@needs_mosquitto
def test_a_real_broker_s_messages_are_read_through_the_buffer_and_sends_queue(
    broker: Broker,
) -> None:
    """paho keeps what ``_create_socket`` made as its socket and reads every packet through
    it; with ``on_socket_register_write`` set it queues a packet rather than write it on the
    caller's thread (what ``PahoSession`` relies on)."""
    received: list[bytes] = []
    acks: list[int] = []
    client = BufferedClient(CallbackAPIVersion.VERSION2, client_id="compat", protocol=paho.MQTTv5)
    client.on_message = lambda c, u, m: received.append(m.payload)
    client.on_subscribe = lambda c, u, mid, reasons, p: acks.append(mid)
    client.connect("127.0.0.1", broker.port)
    sock = client.socket()
    assert isinstance(sock, BufferedSocket), f"{WHICH}: the client's socket is not ours"
    counting = sock.raw = CountingRaw(sock.raw)
    try:
        loop_until(client, client.is_connected, "CONNACK")
        client.subscribe("compat/t", 0)
        loop_until(client, lambda: acks, "SUBACK")
        registered: list[object] = []
        client.on_socket_register_write = lambda c, u, s: registered.append(s)
        for i in range(200):
            client.publish("compat/t", b"%03d" % i)
        assert registered == [sock], f"{WHICH}: the write hook was not called with our socket"
        assert client.want_write(), f"{WHICH}: publish() wrote on the caller's thread"
        loop_until(client, lambda: len(received) >= 200, "200 messages")
        assert received == [b"%03d" % i for i in range(200)]
        # Byte by byte paho would recv() 3 times a message: the buffer reads in chunks.
        assert counting.recv_calls < 100, f"{WHICH}: {counting.recv_calls} recv() calls"
    finally:
        client.disconnect()
        client.loop(0.1)


@needs_mosquitto
def test_a_failed_tls_handshake_s_socket_is_closed(broker: Broker) -> None:
    """paho wraps the socket with the context given to ``tls_set_context`` (our proxy), and
    leaves the socket of a failed handshake open: ``close_failed`` closes it."""
    context = ClosingContext(ssl.create_default_context())
    client = BufferedClient(CallbackAPIVersion.VERSION2, client_id="compat", protocol=paho.MQTTv5)
    client.connect_timeout = 5.0
    client.tls_set_context(context)  # type: ignore[arg-type]
    with pytest.raises((ssl.SSLError, OSError)):  # mosquitto speaks plain TCP here
        client.connect("127.0.0.1", broker.port)
    wrapped = list(context._wrapped)
    assert len(wrapped) == 1, f"{WHICH}: paho did not wrap the socket with the given context"
    context.close_failed(client.socket())
    assert wrapped[0].fileno() == -1, f"{WHICH}: the failed handshake's socket stays open"
