"""The bridge's own decoder of an incoming PUBLISH: paho's, minus paho's ``Properties`` object.

Why: profiled (``benchmarks/mqtt_bench.py --profile``, 20,000 QoS 0 messages of 64 bytes over
MQTT 5), paho spent most of its thread's time per message not reading or parsing the packet but
making a ``paho.mqtt.properties.Properties`` for it: its ``__init__`` builds two 27-entry tables
(``types.index`` thirty times), ``unpack`` calls ``clear`` and ``__setattr__``, and reading
``SubscriptionIdentifier`` back walks the names table with a ``str.replace`` per name — 78
``str.replace`` and 28 ``hasattr`` calls per message, 26 of the 47 µs the paho thread spent per
message. The bridge needs one property of a PUBLISH, the subscription identifiers; this reads
them straight from the bytes and skips the others, checking each property's identifier, framing
and strings as paho does (not the values' ranges: a subscription identifier or topic alias of 0,
a payload format indicator above 1 pass, unused), so a packet whose framing paho rejects is
rejected here too (:class:`MalformedPacket`, which the bridge's client turns into a protocol
error that closes the connection, as paho 2.2 does with its own).

The layout is MQTT 5.0 section 3.3 (3.1.1 section 3.3 without the properties): topic name (a
two-byte length, UTF-8), the packet identifier (QoS > 0), in MQTT 5 the properties (a variable
byte integer length, then identifier-value pairs, section 2.2.2), then the payload. What paho
does with the same bytes is ``paho/mqtt/_packet.py`` ``decode_publish`` and
``paho/mqtt/properties.py`` ``Properties.unpack``/``readProperty``/``readUTF`` (paho-mqtt
2.2.0); ``tests/test_mqtt_wire.py`` checks this decoder against those, packet for packet.
"""

from __future__ import annotations

from paho.mqtt.client import MQTTv5
from paho.mqtt.enums import MQTTProtocolVersion

__all__ = ["MalformedPacket", "decode_publish"]


class MalformedPacket(ValueError):
    """The bytes are not a valid PUBLISH (what paho calls a malformed packet; the bridge's
    client closes the connection with a protocol error, as paho does)."""


#: Subscription Identifier (a variable byte integer; may repeat)
SUBSCRIPTION_IDENTIFIER = 11
#: User Property (a string pair; may repeat)
USER_PROPERTY = 38
#: the other properties a PUBLISH may carry (MQTT 5.0 section 3.3.2.3), by identifier: the size
#: of a fixed-size value, or 0 for a UTF-8 string, -1 for binary data. Any other property is
#: rejected, as paho's ``Properties.__setattr__`` rejects one that "does not apply to PUBLISH
#: packets" (and an unknown identifier, where paho raises ``KeyError`` out of its network loop).
_PUBLISH_PROPERTIES = {
    1: 1,  # Payload Format Indicator (byte)
    2: 4,  # Message Expiry Interval (four-byte integer)
    3: 0,  # Content Type (UTF-8 string)
    8: 0,  # Response Topic (UTF-8 string)
    9: -1,  # Correlation Data (binary data)
    35: 2,  # Topic Alias (two-byte integer)
}
#: characters a UTF-8 string of MQTT must not hold (MQTT 5.0 section 1.5.4; paho's readUTF)
_FORBIDDEN = frozenset("\x00\ufeff") | frozenset(map(chr, range(0xD800, 0xE000)))


def decode_publish(
    header: int, packet: bytes | bytearray, protocol: MQTTProtocolVersion | int
) -> tuple[str, int, tuple[int, ...], bytes]:
    """Decode the variable header and payload of a PUBLISH (everything after its fixed header;
    ``header`` is the fixed header's first byte): its topic, packet identifier (0 at QoS 0),
    subscription identifiers (MQTT 5; empty otherwise) and payload. Raises
    :class:`MalformedPacket` for bytes that are not a valid PUBLISH."""
    size = len(packet)
    if size < 2:
        raise MalformedPacket("PUBLISH too short for its topic length")
    end = 2 + ((packet[0] << 8) | packet[1])
    if end > size:
        raise MalformedPacket("PUBLISH topic longer than the packet")
    try:
        topic = packet[2:end].decode("utf-8")
    except UnicodeDecodeError:
        raise MalformedPacket("PUBLISH topic is not UTF-8") from None
    position = end
    mid = 0
    if header & 0x06:
        if position + 2 > size:
            raise MalformedPacket("PUBLISH too short for its packet identifier")
        mid = (packet[position] << 8) | packet[position + 1]
        position += 2
    identifiers: tuple[int, ...] = ()
    if protocol == MQTTv5:
        length, position = _variable_int(packet, position, size)
        if length:
            identifiers = _properties(packet, position, position + length)
            position += length
    elif end == 2:
        raise MalformedPacket("topic can't be empty in MQTTv3")
    return topic, mid, identifiers, bytes(packet[position:])


def _variable_int(packet: bytes | bytearray, position: int, limit: int) -> tuple[int, int]:
    """A variable byte integer at ``position`` (MQTT 5.0 section 1.5.5): its value and the
    position after it."""
    value = 0
    shift = 0
    while True:
        if shift == 28:
            raise MalformedPacket("Variable Byte Integer is more than four bytes long")
        if position >= limit:
            raise MalformedPacket("Not enough data to decode Variable Byte Integer")
        byte = packet[position]
        position += 1
        value |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return value, position
        shift += 7


def _properties(packet: bytes | bytearray, position: int, end: int) -> tuple[int, ...]:
    """The subscription identifiers among the properties in ``packet[position:end]``; every
    other property is checked and skipped."""
    if end > len(packet):
        raise MalformedPacket("PUBLISH properties longer than the packet")
    identifiers: list[int] = []
    seen: set[int] = set()
    while position < end:
        ident, position = _variable_int(packet, position, end)
        if ident == SUBSCRIPTION_IDENTIFIER:
            value, position = _variable_int(packet, position, end)
            identifiers.append(value)
            continue
        if ident == USER_PROPERTY:
            position = _string(packet, _string(packet, position, end), end)
            continue
        kind = _PUBLISH_PROPERTIES.get(ident)
        if kind is None:
            raise MalformedPacket(f"property {ident} is not one of a PUBLISH")
        if ident in seen:
            raise MalformedPacket(f"property {ident} must not exist more than once")
        seen.add(ident)
        if kind > 0:
            position += kind
            if position > end:
                raise MalformedPacket(f"property {ident} longer than the properties")
        else:
            position = _string(packet, position, end, text=kind == 0)
    return tuple(identifiers)


def _string(packet: bytes | bytearray, position: int, end: int, *, text: bool = True) -> int:
    """Check the length-prefixed string (binary data if not ``text``) at ``position``; the
    position after it."""
    if position + 2 > end:
        raise MalformedPacket("Not enough data to read string length")
    after = position + 2 + ((packet[position] << 8) | packet[position + 1])
    if after > end:
        raise MalformedPacket("Length delimited string too long")
    if text:
        try:
            value = packet[position + 2 : after].decode("utf-8")
        except UnicodeDecodeError:
            raise MalformedPacket("string property is not UTF-8") from None
        if not _FORBIDDEN.isdisjoint(value):
            raise MalformedPacket("string property holds a character MQTT forbids")
    return after
