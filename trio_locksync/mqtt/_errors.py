"""Errors of the MQTT bridge; each says what failed and what was kept, never a payload or a
password."""

from __future__ import annotations

from typing import final

from ..core import ClosedError, LockSyncError

__all__ = [
    "MqttClosedError",
    "MqttError",
    "MqttNotDelivered",
    "MqttRefused",
    "TopicError",
]


class MqttError(LockSyncError):
    """Base class of the MQTT bridge's errors."""


@final
class TopicError(MqttError, ValueError):
    """A topic name or filter is not valid for the call (raised at the call; nothing was sent)."""


@final
class MqttRefused(MqttError):
    """The broker refused this client for a reason retrying cannot fix (bad username or
    password, not authorised, a client id it will not take, a TLS certificate the client does
    not trust). The bridge gave up after one retry: its status is REFUSED. ``reason`` says
    why (the broker's reason code name, or the TLS error), never the credentials."""

    def __init__(self, reason: str, *, code: int | None = None) -> None:
        super().__init__(f"MQTT broker refused the connection: {reason}; not retrying")
        self.reason = reason
        self.code = code


@final
class MqttNotDelivered(MqttError):
    """A publish did not reach the broker, or the broker refused it (a PUBACK reason code of
    0x80 or more, e.g. not authorised). ``topic`` says which; the payload is never quoted."""

    def __init__(self, topic: str, reason: str) -> None:
        super().__init__(f"publish to {topic!r} not delivered: {reason}")
        self.topic = topic
        self.reason = reason


@final
class MqttClosedError(MqttError, ClosedError):
    """The bridge's ``async with`` block has ended (or is ending); nothing was sent."""
