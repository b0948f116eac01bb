"""The site's links in its configuration: how to reach the MQTT broker Zigbee2MQTT uses, the
Z-Wave JS Server and the ISY controller. A password is given in the file (``password``) or,
better, named by the environment variable that holds it (``password_env``: a systemd unit's
``EnvironmentFile=``); never both, and never shown in a repr."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, final

import attrs

from ..mqtt import MqttProtocol
from ._problems import Problems

__all__ = [
    "IsySettings",
    "MqttSettings",
    "ZWaveSettings",
    "parse_isy",
    "parse_mqtt",
    "parse_text",
    "parse_zwave",
]

_MQTT = {"host", "port", "username", "password", "password_env", "base_topic", "client_id", "tls"}
_ISY = {"url", "username", "password", "password_env"}


@final
@attrs.frozen
class MqttSettings:
    """How to reach the MQTT broker Zigbee2MQTT uses."""

    host: str
    port: int = 1883
    username: str | None = None
    password: str | None = attrs.field(default=None, repr=False)
    #: Zigbee2MQTT's ``base_topic``
    base_topic: str = "zigbee2mqtt"
    client_id: str = "trio-locksync"
    tls: bool = False
    #: not in the file: the demo's amqtt broker may speak 3.1.1
    protocol: MqttProtocol = MqttProtocol.V5


@final
@attrs.frozen
class ZWaveSettings:
    """Where the Z-Wave JS Server listens (``ws://host:3000``)."""

    url: str


@final
@attrs.frozen
class IsySettings:
    """The ISY / IoX controller reporting the doors (``http://isy.local``)."""

    url: str
    username: str | None = None
    password: str | None = attrs.field(default=None, repr=False)


def _table(value: object, name: str, problems: Problems) -> Mapping[str, Any] | None:
    if value is None:
        return None
    if not isinstance(value, dict):
        problems.add(f"[{name}]", "must be a table")
        return None
    return value


def parse_text(table: Mapping[str, Any], key: str, where: str, problems: Problems) -> str | None:
    value = table.get(key)
    if value is None:
        return None
    if not isinstance(value, str) or not value:
        problems.add(where, f"{key} must be a non-empty string")
        return None
    return value


def _password(
    table: Mapping[str, Any], where: str, problems: Problems, env: Mapping[str, str]
) -> str | None:
    """``password``, or the environment variable ``password_env`` names (never both)."""
    if "password" in table and "password_env" in table:
        problems.add(where, "give password or password_env, not both")
        return None
    if "password" in table:
        value = table["password"]
        if not isinstance(value, str):
            problems.add(where, "password must be a string")
            return None
        return value
    name = parse_text(table, "password_env", where, problems)
    if name is None:
        return None
    if name not in env:
        problems.add(where, f"password_env: the environment variable {name} is not set")
        return None
    return env[name]


def parse_mqtt(value: object, problems: Problems, env: Mapping[str, str]) -> MqttSettings | None:
    table = _table(value, "mqtt", problems)
    if table is None:
        return None
    problems.unknown_keys("[mqtt]", table, _MQTT)
    host = parse_text(table, "host", "[mqtt]", problems)
    if host is None and "host" not in table:
        problems.missing("[mqtt]", "host", "the broker's name or address")
    port = table.get("port", 1883)
    if isinstance(port, bool) or not isinstance(port, int) or not 0 < port < 65536:
        problems.add("[mqtt]", f"port must be a port number (1-65535), got {port!r}")
        port = 1883
    tls = table.get("tls", False)
    if not isinstance(tls, bool):
        problems.add("[mqtt]", "tls must be true or false")
        tls = False
    return MqttSettings(
        host=host or "",
        port=port,
        username=parse_text(table, "username", "[mqtt]", problems),
        password=_password(table, "[mqtt]", problems, env),
        base_topic=parse_text(table, "base_topic", "[mqtt]", problems) or "zigbee2mqtt",
        client_id=parse_text(table, "client_id", "[mqtt]", problems) or "trio-locksync",
        tls=tls,
    )


def _url(
    table: Mapping[str, Any], section: str, schemes: tuple[str, ...], problems: Problems
) -> str:
    url = table.get("url")
    wanted = " or ".join(f"{s}://" for s in schemes)
    if url is None:
        problems.missing(f"[{section}]", "url", f"a {wanted} URL")
        return ""
    if not isinstance(url, str) or not url.startswith(tuple(f"{s}://" for s in schemes)):
        problems.add(f"[{section}]", f"url must be a {wanted} URL, got {url!r}")
        return ""
    return url


def parse_zwave(value: object, problems: Problems) -> ZWaveSettings | None:
    table = _table(value, "zwave_js", problems)
    if table is None:
        return None
    problems.unknown_keys("[zwave_js]", table, {"url"})
    return ZWaveSettings(_url(table, "zwave_js", ("ws", "wss"), problems))


def parse_isy(value: object, problems: Problems, env: Mapping[str, str]) -> IsySettings | None:
    table = _table(value, "isy", problems)
    if table is None:
        return None
    problems.unknown_keys("[isy]", table, _ISY)
    return IsySettings(
        url=_url(table, "isy", ("http", "https"), problems),
        username=parse_text(table, "username", "[isy]", problems),
        password=_password(table, "[isy]", problems, env),
    )
