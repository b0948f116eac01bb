"""The options of an MQTT bridge, declared the way the event stream declares its own: frozen
attrs records whose validators check every value when ``open_mqtt_bridge()`` is called, before
anything starts. The reconnect options are the core's :class:`~trio_locksync.core.ReconnectOptions`,
the same record and checks as every reconnecting client's."""

from __future__ import annotations

import ssl
from typing import Any, final

import attrs

from ..core import Overflow, ReconnectOptions
from ._models import MqttProtocol, MqttWill
from ._topics import check_topic

__all__ = ["BridgeSettings", "SessionSettings", "check_buffer_size"]


def _host(instance: object, attribute: attrs.Attribute[str], value: str) -> None:
    if not isinstance(value, str) or not value:
        raise ValueError("host must be a non-empty str")


def _port(instance: object, attribute: attrs.Attribute[int], value: int) -> None:
    if not (isinstance(value, int) and 0 < value < 65536):
        raise ValueError(f"port must be 1..65535, got {value!r}")


def _client_id(instance: object, attribute: attrs.Attribute[str], value: str) -> None:
    if not isinstance(value, str) or not value or len(value.encode()) > 65535:
        raise ValueError("client_id must be a non-empty str")


def _keepalive(instance: object, attribute: attrs.Attribute[int], value: int) -> None:
    if not (isinstance(value, int) and value > 0):
        raise ValueError(f"keepalive must be a positive int of seconds, got {value!r}")


def _tls(instance: object, attribute: attrs.Attribute[Any], value: object) -> None:
    if value is not None and not isinstance(value, bool | ssl.SSLContext):
        raise TypeError("tls must be None, a bool or an ssl.SSLContext")


def _will(instance: object, attribute: attrs.Attribute[Any], value: MqttWill | None) -> None:
    if value is not None:
        check_topic(value.topic)


def _session_expiry(instance: object, attribute: attrs.Attribute[int], value: int) -> None:
    if not (isinstance(value, int) and 0 < value <= 0xFFFFFFFF):
        raise ValueError(f"session_expiry must be a positive int of seconds, got {value!r}")


def _window(instance: object, attribute: attrs.Attribute[int], value: int) -> None:
    if not (isinstance(value, int) and 1 <= value <= 65535):
        raise ValueError(f"{attribute.name} must be 1..65535, got {value!r}")


@final
@attrs.frozen(kw_only=True)
class SessionSettings:
    """What paho's client is made with and connects by (the password is never shown)."""

    host: str = attrs.field(validator=_host)
    port: int = attrs.field(validator=_port)
    client_id: str = attrs.field(validator=_client_id)
    protocol: MqttProtocol = attrs.field(validator=attrs.validators.instance_of(MqttProtocol))
    keepalive: int = attrs.field(validator=_keepalive)
    username: str | None = None
    password: str | None = attrs.field(default=None, repr=False)
    tls: ssl.SSLContext | bool | None = attrs.field(default=None, validator=_tls)
    will: MqttWill | None = attrs.field(default=None, validator=_will)
    session_expiry: int = attrs.field(validator=_session_expiry)
    #: the QoS 1 messages received and not yet acknowledged the broker may send
    receive_maximum: int = attrs.field(validator=_window)

    def __attrs_post_init__(self) -> None:
        if self.password is not None and self.username is None:
            raise ValueError("a password needs a username")


@final
@attrs.frozen(kw_only=True)
class BridgeSettings:
    """Every option of one bridge, checked: the session's, the reconnect policy's, and the
    subscriptions' defaults."""

    session: SessionSettings
    reconnect: ReconnectOptions
    #: each subscription's buffer unless its ``subscribe()`` says otherwise
    buffer_size: int = attrs.field(validator=_window)
    overflow: Overflow = attrs.field(validator=attrs.validators.instance_of(Overflow))


def check_buffer_size(value: int) -> None:
    """``buffer_size``'s check, for a call that must make it before the records are made."""
    _window(None, attrs.fields(BridgeSettings).buffer_size, value)
