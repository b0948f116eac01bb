"""The demo site's configuration: the locks, how each behaves, and the PINs its managed slots
should hold — read from ``demo_site.toml`` shipped beside this module (or a file of the same
shape). PINs are kept as :class:`~trio_locksync.Pin`, so no repr or log line shows them."""

from __future__ import annotations

import enum
import tomllib
from collections.abc import Mapping
from importlib import resources
from pathlib import Path
from typing import Any, final

import attrs

from ..core import Pin

__all__ = ["Behaviour", "Kind", "LockSpec", "SiteConfig", "load_config"]


class Kind(enum.Enum):
    """What stands behind a lock."""

    #: a Zigbee lock in the simulated Zigbee2MQTT, driven by ``Zigbee2MqttLock`` over MQTT
    ZIGBEE = "zigbee"
    #: a ``VirtualLock``; its door reports through the ISY controller's event stream
    VIRTUAL = "virtual"


class Behaviour(enum.Enum):
    """The quirk a lock shows."""

    READABLE = "readable"
    MASKED = "masked"
    FLAKY = "flaky"
    #: readable, and it goes offline for a while (a scheduled fault)
    OFFLINE = "offline"


@final
@attrs.frozen
class LockSpec:
    """One lock of the site; ``slots`` maps each managed slot to its PIN (None: empty)."""

    name: str
    kind: Kind
    behaviour: Behaviour
    slots: Mapping[int, Pin | None] = attrs.field(repr=False)

    def desired(self) -> dict[int, str | None]:
        """The slots as :func:`~trio_locksync.open_lock_sync` takes them (handed to the lock
        only)."""
        return {slot: None if pin is None else pin.reveal() for slot, pin in self.slots.items()}


@final
@attrs.frozen
class SiteConfig:
    """The whole site."""

    locks: tuple[LockSpec, ...]
    #: seconds an autolock timer runs after a keypad unlock, for a 60 s demo
    autolock_seconds: float

    def lock(self, name: str) -> LockSpec:
        for spec in self.locks:
            if spec.name == name:
                return spec
        raise KeyError(name)

    def with_kind(self, kind: Kind) -> list[LockSpec]:
        return [spec for spec in self.locks if spec.kind is kind]


class ConfigError(ValueError):
    """The demo configuration is not usable (says which entry, never a PIN)."""


def load_config(path: Path | None = None) -> SiteConfig:
    """Read ``path``, or the shipped ``demo_site.toml``."""
    if path is None:
        text = resources.files(__package__).joinpath("demo_site.toml").read_text("utf-8")
        where = "demo_site.toml"
    else:
        text, where = path.read_text("utf-8"), str(path)
    try:
        raw = tomllib.loads(text)
        locks = tuple(_lock(entry) for entry in raw["locks"])
        seconds = float(raw.get("autolock_seconds", 12))
    except (KeyError, TypeError, ValueError) as exc:
        raise ConfigError(f"{where}: {exc}") from None
    if not locks or len({spec.name for spec in locks}) != len(locks):
        raise ConfigError(f"{where}: give at least one lock, each with its own name")
    if not seconds > 0:
        raise ConfigError(f"{where}: autolock_seconds must be positive")
    return SiteConfig(locks=locks, autolock_seconds=seconds)


def _lock(entry: Mapping[str, Any]) -> LockSpec:
    name = str(entry["name"])
    if not name.isidentifier():
        raise ValueError(f"lock name {name!r} must be a plain identifier")
    slots: dict[int, Pin | None] = {}
    for key, value in dict(entry["slots"]).items():
        if not isinstance(value, str):
            raise TypeError(f"lock {name!r} slot {key}: a PIN must be a string")
        try:
            slots[int(key)] = Pin(value) if value else None
        except ValueError:
            raise ValueError(f"lock {name!r} slot {key}: not a valid PIN") from None
    if not slots:
        raise ValueError(f"lock {name!r} manages no slot")
    return LockSpec(
        name=name,
        kind=Kind(entry.get("kind", "virtual")),
        behaviour=Behaviour(entry.get("behaviour", "readable")),
        slots=slots,
    )
