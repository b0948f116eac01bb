"""What paho's thread tells trio: one typed record per callback, handed over by the
:class:`~._inbox.Inbox` and dispatched by type on the trio thread.

Each record carries the ``generation`` of the connection (the run of the network loop) it
came from: the trio side ignores the events of a connection it has already given up.

They are ``NamedTuple`` s (frozen, slotted: a tuple underneath), not attrs classes: a
:class:`Received` is made for every PUBLISH on paho's thread, the hot path, and measured
(CPython 3.12, 8 fields) a NamedTuple costs 0.5 µs to make, a frozen attrs class 2 µs.
"""

from __future__ import annotations

from typing import NamedTuple

from ._models import QoS

__all__ = ["Connack", "Disconnected", "Event", "Puback", "Received", "Suback"]


class Received(NamedTuple):
    """A PUBLISH arrived (paho's ``on_message``); the topic decoded, the payload as bytes."""

    generation: int
    topic: str
    payload: bytes
    qos: QoS
    retain: bool
    duplicate: bool
    mid: int
    #: the MQTT 5 subscription identifiers of the filters it was sent for (empty in 3.1.1)
    identifiers: tuple[int, ...]

    def __repr__(self) -> str:
        # Never the payload: Zigbee2MQTT payloads carry PINs (as MqttMessage's repr).
        return (
            f"Received(generation={self.generation}, topic={self.topic!r}, "
            f"payload=<{len(self.payload)} bytes>, qos={self.qos}, retain={self.retain}, "
            f"duplicate={self.duplicate}, mid={self.mid}, identifiers={self.identifiers})"
        )


class Puback(NamedTuple):
    """A publish of ours was acknowledged (QoS 1 and 2) or written (QoS 0): ``on_publish``."""

    generation: int
    mid: int
    code: int
    name: str


class Suback(NamedTuple):
    """The broker answered a SUBSCRIBE: one reason code per filter (``on_subscribe``)."""

    generation: int
    mid: int
    codes: tuple[int, ...]


class Connack(NamedTuple):
    """The broker answered the CONNECT, either way (``on_connect``)."""

    generation: int
    session_present: bool
    code: int
    name: str


class Disconnected(NamedTuple):
    """The connection ended (``on_disconnect``); ``from_server``: the broker sent a
    DISCONNECT packet."""

    generation: int
    code: int
    name: str
    from_server: bool


#: every event paho's thread hands to trio
Event = Received | Puback | Suback | Connack | Disconnected
