"""The bridge's own PUBLISH decoder (``trio_locksync.mqtt._wire``), against paho-mqtt's: every
well-formed PUBLISH decodes to what was encoded and to what paho's ``Properties.unpack`` reads
(``paho/mqtt/properties.py``, the parser the bridge no longer calls per message), garbage raises
only ``MalformedPacket``; and through a real mosquitto, messages with every PUBLISH property
reach the consumer, while a server's malformed PUBLISH ends the connection as a protocol error."""

from __future__ import annotations

import functools
import struct

import paho.mqtt.client as paho
import pytest
import trio
from hypothesis import given, settings
from hypothesis import strategies as st
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from trio_locksync.mqtt import MqttStatus, open_mqtt_bridge
from trio_locksync.mqtt._paho_compat import BufferedClient, BufferedSocket
from trio_locksync.mqtt._wire import MalformedPacket, decode_publish

from .brokerhelpers import FAST, Broker, connected, needs_mosquitto

V5, V311 = paho.MQTTv5, paho.MQTTv311

# -- encoding, as MQTT 5.0 sections 1.5 and 3.3 ----------------------------------------------


def variable_int(value: int) -> bytes:
    out = bytearray()
    while True:
        byte, value = value & 0x7F, value >> 7
        out.append(byte | (0x80 if value else 0))
        if not value:
            return bytes(out)


def utf8(text: str) -> bytes:
    data = text.encode()
    return struct.pack("!H", len(data)) + data


def binary(data: bytes) -> bytes:
    return struct.pack("!H", len(data)) + data


# the properties of a PUBLISH (section 3.3.2.3), as (identifier, bytes)
mqtt_text = st.text(
    st.characters(blacklist_categories=["Cs"], blacklist_characters="\x00\ufeff"), max_size=12
)
publish_property = st.one_of(
    st.integers(0, 1).map(lambda v: (1, bytes([v]))),
    st.integers(0, 2**32 - 1).map(lambda v: (2, struct.pack("!L", v))),
    mqtt_text.map(lambda v: (3, utf8(v))),
    mqtt_text.map(lambda v: (8, utf8(v))),
    st.binary(max_size=12).map(lambda v: (9, binary(v))),
    st.integers(1, 268_435_455).map(lambda v: (11, variable_int(v))),
    st.integers(1, 65535).map(lambda v: (35, struct.pack("!H", v))),
    st.tuples(mqtt_text, mqtt_text).map(lambda v: (38, utf8(v[0]) + utf8(v[1]))),
)
REPEATABLE = {11, 38}


@st.composite
def publishes(draw: st.DrawFn) -> tuple[int, bytes, int, dict[str, object]]:
    """A well-formed PUBLISH: (header, bytes after the fixed header, protocol, expected)."""
    protocol = draw(st.sampled_from([V5, V311]))
    qos = draw(st.integers(0, 1))
    topic = draw(mqtt_text.filter(bool) if protocol == V311 else mqtt_text)
    mid = draw(st.integers(1, 65535)) if qos else 0
    payload = draw(st.binary(max_size=64))
    header = 0x30 | qos << 1 | draw(st.integers(0, 1)) | draw(st.integers(0, 1)) << 3
    body = utf8(topic) + (struct.pack("!H", mid) if qos else b"")
    ids: list[int] = []
    if protocol == V5:
        chosen = draw(st.lists(publish_property, max_size=6))
        once: set[int] = set()
        props = b""
        for ident, value in chosen:
            if ident not in REPEATABLE:
                if ident in once:
                    continue
                once.add(ident)
            if ident == 11:
                ids.append(_value_of(value))
            props += variable_int(ident) + value
        body += variable_int(len(props)) + props
    expected = {"topic": topic, "mid": mid, "ids": tuple(ids), "payload": payload}
    return header, body + payload, protocol, expected


def _value_of(encoded: bytes) -> int:
    value, shift = 0, 0
    for byte in encoded:
        value |= (byte & 0x7F) << shift
        shift += 7
    return value


def paho_reads(body: bytes, topic_end: int) -> tuple[tuple[int, ...], int]:
    """What paho's own property parser reads from the properties at ``topic_end``: the
    subscription identifiers and the bytes it consumed."""
    properties = Properties(PacketTypes.PUBLISH)
    _, consumed = properties.unpack(body[topic_end:])
    ids = getattr(properties, "SubscriptionIdentifier", None)
    return (tuple(ids) if ids else ()), consumed


@settings(max_examples=400, deadline=None)
@given(publishes())
def test_a_well_formed_publish_decodes_as_encoded_and_as_paho_reads_it(
    case: tuple[int, bytes, int, dict[str, object]],
) -> None:
    header, body, protocol, expected = case
    topic, mid, ids, payload = decode_publish(header, bytearray(body), protocol)
    assert (topic, mid, ids, payload) == (
        expected["topic"],
        expected["mid"],
        expected["ids"],
        expected["payload"],
    )
    assert type(payload) is bytes
    if protocol == V5:
        topic_end = 2 + len(str(expected["topic"]).encode()) + (2 if header & 0x06 else 0)
        paho_ids, consumed = paho_reads(body, topic_end)
        assert ids == paho_ids
        assert body[topic_end + consumed :] == payload


@settings(max_examples=600, deadline=None)
@given(publishes(), st.data())
def test_a_damaged_publish_raises_only_malformed_packet(
    case: tuple[int, bytes, int, dict[str, object]], data: st.DataObject
) -> None:
    """Cut short, bytes flipped, or garbage: decoded (the damage was in the payload, or kept the
    packet well-formed) or ``MalformedPacket`` — never another exception out of paho's thread
    (paho's own parser raises ``KeyError``, ``IndexError`` or ``struct.error`` for some)."""
    header, body, protocol, _ = case
    damaged = bytearray(body)
    how = data.draw(st.sampled_from(["cut", "flip", "garbage"]))
    if how == "cut" and damaged:
        del damaged[data.draw(st.integers(0, len(damaged) - 1)) :]
    elif how == "flip" and damaged:
        damaged[data.draw(st.integers(0, len(damaged) - 1))] = data.draw(st.integers(0, 255))
    else:
        damaged = bytearray(data.draw(st.binary(max_size=40)))
    try:
        decode_publish(header, damaged, protocol)
    except MalformedPacket:
        pass


@pytest.mark.parametrize(
    ("body", "protocol", "why"),
    [
        (b"\x00", V5, "too short"),
        (b"\x00\x05ab", V5, "topic longer"),
        (b"\x00\x02\xff\xfe\x00", V5, "not UTF-8"),
        (b"\x00\x00payload", V311, "empty"),
        (b"\x00\x01t\x02\x02\x00", V5, "longer than the properties"),
        (b"\x00\x01t\x04\x01\x01\x01\x01", V5, "more than once"),
        (b"\x00\x01t\x02\x07\x00", V5, "property 7 is not one of a PUBLISH"),
        (b"\x00\x01t\x03\x13\x00\x00", V5, "property 19 is not one of a PUBLISH"),
        (b"\x00\x01t\x05\x0b\xff\xff\xff\xff", V5, "more than four bytes"),
        (b"\x00\x01t\x03\x03\x00\x05", V5, "too long"),
        (b"\x00\x01t\x05\x03\x00\x02\x00a", V5, "forbids"),
        (b"\x00\x01t\x09", V5, "longer than the packet"),
    ],
)
def test_each_malformation_is_named(body: bytes, protocol: int, why: str) -> None:
    with pytest.raises(MalformedPacket, match=why):
        decode_publish(0x30, body, protocol)


def test_the_bridge_client_hands_qos_0_and_1_to_its_sink_and_qos_2_to_paho() -> None:
    client = BufferedClient(CallbackAPIVersion.VERSION2, protocol=V5, manual_ack=True)
    sunk: list[tuple[object, ...]] = []
    client.publish_sink = lambda *fields: sunk.append(fields)

    def handle(header: int, body: bytes) -> paho.MQTTErrorCode:
        client._in_packet["command"] = header
        client._in_packet["packet"] = bytearray(body)
        return client._handle_publish()

    assert handle(0x30 | 0x01, utf8("a/b") + b"\x02\x0b\x07" + b"zero") == paho.MQTT_ERR_SUCCESS
    assert handle(0x32 | 0x08, utf8("a/c") + b"\x00\x09\x00" + b"one") == paho.MQTT_ERR_SUCCESS
    assert sunk == [
        ("a/b", b"zero", 0, True, False, 0, (7,)),
        ("a/c", b"one", 1, False, True, 9, ()),
    ]
    # QoS 2 goes paho's way: kept for its PUBREL (its PUBREC finds no connection here)
    handle(0x34, utf8("a/d") + b"\x00\x0a\x00" + b"two")
    assert len(sunk) == 2
    assert client._in_messages[10].payload == b"two"
    assert handle(0x30, b"\x00\x05ab") == paho.MQTT_ERR_PROTOCOL


# -- through a real broker -------------------------------------------------------------------


@needs_mosquitto
async def test_messages_with_every_publish_property_reach_the_consumer(broker: Broker) -> None:
    """A paho publisher (MQTT 5) sets every property a PUBLISH may carry; mosquitto forwards
    them; the bridge delivers topic and payload, QoS 0 and 1, to overlapping filters."""
    properties = Properties(PacketTypes.PUBLISH)
    properties.PayloadFormatIndicator = 1
    properties.MessageExpiryInterval = 60
    properties.ContentType = "application/json"
    properties.ResponseTopic = "reply/here"
    properties.CorrelationData = b"\x00\x01"
    properties.UserProperty = ("k", "v")
    properties.UserProperty = ("k2", "v2")
    publisher = paho.Client(CallbackAPIVersion.VERSION2, protocol=V5)
    publisher.connect("127.0.0.1", broker.port)
    try:
        async with (
            connected(broker.port) as bridge,
            bridge.subscribe("props/#", 1) as wide,
            bridge.subscribe("props/one", 0) as narrow,
        ):
            for qos in (0, 1):
                publisher.publish("props/one", b"p%d" % qos, qos, properties=properties)
            for _ in range(5):  # CONNACK, PUBACK: the publisher's own loop, a turn at a time
                await trio.to_thread.run_sync(publisher.loop, 0.05)
            with trio.fail_after(10):
                got_wide = [(await anext(wide)).payload for _ in range(2)]
                got_narrow = [(await anext(narrow)).payload for _ in range(2)]
        assert got_wide == got_narrow == [b"p0", b"p1"]
    finally:
        publisher.disconnect()


async def malformed_publish_after_connack(stream: trio.SocketStream) -> None:
    """A server that accepts the CONNECT (MQTT 5 CONNACK: no session, success, no properties),
    then sends a PUBLISH whose topic is not UTF-8, and waits."""
    async with stream:
        await stream.receive_some(65536)
        await stream.send_all(b"\x20\x03\x00\x00\x00")
        await stream.send_all(b"\x30\x06\x00\x02\xff\xfe\x00x")
        while await stream.receive_some(65536):
            pass


async def test_a_malformed_publish_ends_the_connection_and_says_why(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The connection is given up (the status detail's wording is paho's: "Protocol error" in
    2.2, "Unspecified error" in 2.1), and the bridge's warning names the malformation."""
    async with trio.open_nursery() as nursery:
        listeners = await nursery.start(
            functools.partial(trio.serve_tcp, host="127.0.0.1"), malformed_publish_after_connack, 0
        )
        port = listeners[0].socket.getsockname()[1]
        async with open_mqtt_bridge("127.0.0.1", port, backoff=FAST) as bridge:
            with trio.fail_after(10):
                async for change in bridge.status_changes():
                    if change.status is MqttStatus.RECONNECTING:
                        detail = change.detail
                        break
        nursery.cancel_scope.cancel()
    assert detail.startswith("connection lost"), detail
    assert "malformed PUBLISH from the broker: PUBLISH topic is not UTF-8" in caplog.text


class Chunks:
    """A socket whose ``recv`` returns the given chunks, one per call, then b"" (closed)."""

    def __init__(self, *chunks: bytes) -> None:
        self.chunks = list(chunks)

    def recv(self, size: int) -> bytes:
        return self.chunks.pop(0)[:size] if self.chunks else b""

    def close(self) -> None:
        self.chunks = []


def packet(header: int, body: bytes) -> bytes:
    return bytes([header]) + variable_int(len(body)) + body


def test_whole_publishes_are_taken_from_the_buffer_and_the_rest_read_paho_s_way(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A QoS 0/1 PUBLISH whole in the read buffer goes straight to the sink; one split across
    reads, a PINGRESP and a QoS 2 PUBLISH are read by paho byte by byte — in arrival order."""
    client = BufferedClient(CallbackAPIVersion.VERSION2, protocol=V5, manual_ack=True)
    sunk: list[tuple[object, ...]] = []
    client.publish_sink = lambda *fields: sunk.append(fields[:2])
    one = packet(0x30, utf8("t/1") + b"\x00" + b"a")
    two = packet(0x32, utf8("t/2") + b"\x00\x07" + b"\x00" + b"b" * 300)  # 2-byte length
    ping = b"\xd0\x00"
    three = packet(0x34, utf8("t/3") + b"\x00\x08" + b"\x00" + b"c")  # QoS 2
    four = packet(0x30, utf8("t/4") + b"\x00" + b"d")
    stream = one + two + ping + three + four + four
    cut = len(stream) - 3
    # the last PUBLISH arrives in two reads, the second holding one more, whole, to its end
    client._sock = BufferedSocket(Chunks(stream[:cut], stream[cut:] + four))
    pahos_way: list[int] = []
    original = paho.Client._packet_read

    def counted(self: paho.Client) -> paho.MQTTErrorCode:
        pahos_way.append(len(sunk))
        return original(self)

    monkeypatch.setattr(paho.Client, "_packet_read", counted)
    for _ in range(7):
        assert client._packet_read() == paho.MQTT_ERR_SUCCESS, sunk
    # the first, whose read fills the buffer; the PINGRESP and the QoS 2 PUBLISH after two
    # messages; the split one after three
    assert pahos_way == [0, 2, 2, 3]
    assert sunk == [("t/1", b"a"), ("t/2", b"b" * 300)] + [("t/4", b"d")] * 3
    assert client._in_messages[8].payload == b"c"  # QoS 2: paho's, kept for its PUBREL
    assert client._packet_read() == paho.MQTT_ERR_CONN_LOST  # the socket's end
