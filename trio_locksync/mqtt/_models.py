"""The values of the MQTT bridge: statuses and their changes, messages, the last will,
protocol versions and statistics. A message's repr never shows its payload (PINs travel in
Zigbee2MQTT payloads)."""

from __future__ import annotations

import enum
from typing import Literal, final

import attrs

__all__ = [
    "STATUS_TABLE",
    "MqttMessage",
    "MqttProtocol",
    "MqttStatistics",
    "MqttStatus",
    "MqttStatusChange",
    "MqttWill",
    "QoS",
    "check_qos",
]

#: An MQTT quality of service: 0 at most once, 1 at least once, 2 exactly once.
QoS = Literal[0, 1, 2]


def check_qos(call: str, qos: object, allowed: tuple[int, ...] = (0, 1, 2)) -> QoS:
    """``qos`` if it is one of the ints ``allowed`` (0, 1 or 2 by default); ``ValueError``
    naming ``call`` otherwise (a bool or a float too)."""
    if isinstance(qos, bool) or qos not in allowed or not isinstance(qos, int):
        said = " or ".join(", ".join(map(str, allowed)).rsplit(", ", 1))
        raise ValueError(f"{call}: qos must be {said}, got {qos!r}")
    return qos  # type: ignore[return-value]


class MqttStatus(enum.Enum):
    """Where the bridge's connection to the broker is.

    A consumer can tell stale data by it: anything but CONNECTED means messages published now
    do not reach this client until it is CONNECTED again (QoS 1 ones are then redelivered)."""

    #: not connected: before the first attempt, and after the bridge's block ended
    DISCONNECTED = "disconnected"
    #: the first connection attempt is under way
    CONNECTING = "connecting"
    #: the broker accepted the connection (CONNACK); subscriptions are in place
    CONNECTED = "connected"
    #: the connection was lost (or an attempt failed); retrying with backoff
    RECONNECTING = "reconnecting"
    #: the broker refused this client for a reason retrying cannot fix; final
    REFUSED = "refused"


S = MqttStatus
STATUS_TABLE: dict[MqttStatus, frozenset[MqttStatus]] = {
    S.DISCONNECTED: frozenset({S.CONNECTING}),
    S.CONNECTING: frozenset({S.CONNECTED, S.RECONNECTING, S.REFUSED, S.DISCONNECTED}),
    S.CONNECTED: frozenset({S.RECONNECTING, S.DISCONNECTED}),
    S.RECONNECTING: frozenset({S.CONNECTED, S.RECONNECTING, S.REFUSED, S.DISCONNECTED}),
    S.REFUSED: frozenset({S.DISCONNECTED}),
}


@final
@attrs.frozen
class MqttStatusChange:
    """One change of :class:`MqttStatus`: ``previous`` → ``status`` at trio time ``at``;
    ``detail`` says why (never a password); ``connection`` is the connection's generation."""

    previous: MqttStatus
    status: MqttStatus
    at: float
    detail: str
    connection: int


class MqttProtocol(enum.Enum):
    """The MQTT version spoken."""

    #: MQTT 5 (default): ReceiveMaximum bounds unacknowledged messages, session expiry
    V5 = "5"
    #: MQTT 3.1.1: no inbound bound but the broker's own (mosquitto: max_inflight_messages)
    V311 = "3.1.1"


@final
@attrs.frozen(repr=False)
class MqttMessage:
    """A message received on a subscription.

    ``retain``: the broker stored it and sent it because we subscribed (a replay, not news).
    ``duplicate``: the broker resent it (DUP flag): a QoS 1 message may arrive twice around a
    reconnect. ``received_at``: trio time; ``connection``: the connection's generation.
    """

    topic: str
    payload: bytes
    qos: QoS
    retain: bool
    duplicate: bool
    received_at: float
    connection: int

    def __repr__(self) -> str:
        return (
            f"MqttMessage(topic={self.topic!r}, payload=<{len(self.payload)} bytes>, "
            f"qos={self.qos}, retain={self.retain}, duplicate={self.duplicate})"
        )


def _bytes(value: bytes | str) -> bytes:
    return value.encode() if isinstance(value, str) else bytes(value)


def _will_qos(value: QoS) -> QoS:
    return check_qos("MqttWill", value)


@final
@attrs.frozen(repr=False)
class MqttWill:
    """The last will the broker publishes if this client vanishes without disconnecting
    (``qos`` 0, 1 or 2: ``ValueError`` otherwise)."""

    topic: str
    payload: bytes = attrs.field(default=b"", converter=_bytes)
    qos: QoS = attrs.field(default=0, converter=_will_qos)
    retain: bool = False

    def __repr__(self) -> str:
        return (
            f"MqttWill(topic={self.topic!r}, payload=<{len(self.payload)} bytes>, "
            f"qos={self.qos}, retain={self.retain})"
        )


@final
@attrs.frozen
class MqttStatistics:
    """Counters of one bridge (see :meth:`MqttBridge.statistics`).

    * ``status``: the current :class:`MqttStatus`.
    * ``connections``: CONNACKs accepted; ``attempts``: connection attempts made.
    * ``received``: PUBLISHes received; ``delivered``: messages handed to a consumer;
      ``duplicates``: received with the DUP flag; ``dropped``: QoS 0 messages dropped because a
      subscription's buffer was full (never QoS 1: the broker holds those).
    * ``acked``: QoS 1 acknowledgements sent; ``stale_acks``: acknowledgements not sent
      because their message came on an earlier connection (the broker redelivers it).
    * ``published``: publishes acknowledged (QoS 1) or written (QoS 0); ``publish_failures``:
      publishes that raised :class:`MqttNotDelivered`.
    * ``flaps``: connections lost within ``stable_after`` of their CONNACK (a broker that
      accepts then drops, or another client with the same client id).
    * ``buffered``: messages waiting in subscriptions' buffers now.
    """

    status: MqttStatus
    connections: int
    attempts: int
    received: int
    delivered: int
    duplicates: int
    dropped: int
    acked: int
    stale_acks: int
    published: int
    publish_failures: int
    flaps: int
    buffered: int
