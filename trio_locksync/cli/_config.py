"""The demo's configuration, read once: the command line's choices resolved into one
:class:`DemoOptions` record, and the site — the locks, how each behaves, and the PINs its
managed slots should hold — read from ``demo_site.toml`` shipped beside this module (or a file
of the same shape). PINs are kept as :class:`~trio_locksync.Pin`, so no repr or log line shows
them."""

from __future__ import annotations

import enum
import tomllib
from collections.abc import Mapping
from importlib import resources
from pathlib import Path
from typing import Any, final

import attrs

from ..core import Backoff, Jitter, Pin
from ..testing import BrokerKind

__all__ = [
    "FAST",
    "Behaviour",
    "ConfigError",
    "DemoOptions",
    "Kind",
    "LockSpec",
    "SiteConfig",
    "demo_options",
    "load_config",
]

#: reconnects in the demo are quick (the library's defaults are 1 s doubling to 60 s)
FAST = Backoff(initial=0.2, maximum=2.0, jitter=Jitter.FULL)


class Kind(enum.Enum):
    """What stands behind a lock."""

    #: a Zigbee lock in the simulated Zigbee2MQTT, driven by ``Zigbee2MqttLock`` over MQTT
    ZIGBEE = "zigbee"
    #: a ``VirtualLock``; its door reports through the ISY controller's event stream
    VIRTUAL = "virtual"
    #: a mock lock of zwave-js's mock controller behind the real Z-Wave JS Server (node >= 20),
    #: driven by ``ZWaveJsLock`` over its websocket; "readable" or "masked" only
    ZWAVE = "zwave"


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

    def without(self, kind: Kind) -> SiteConfig:
        """The site without its locks of ``kind``."""
        return attrs.evolve(self, locks=tuple(s for s in self.locks if s.kind is not kind))


@final
@attrs.frozen(kw_only=True)
class DemoOptions:
    """Everything a run needs to know, resolved once from the command line and the config."""

    site: SiteConfig
    duration: float = 60.0
    state_dir: Path
    broker: BrokerKind = BrokerKind.AUTO
    #: ``HOST:PORT`` of a broker to use as it is (None: start one of ``broker``)
    mqtt: str | None = None
    #: seconds an autolock timer runs
    autolock_seconds: float
    seed: int = 2026
    #: run the site's Z-Wave locks on the real Z-Wave JS Server if node >= 20 is here
    zwave: bool = True


def demo_options(
    *,
    duration: float,
    state_dir: Path,
    config: Path | None = None,
    autolock: float | None = None,
    broker: BrokerKind = BrokerKind.AUTO,
    mqtt: str | None = None,
    seed: int = 2026,
    zwave: bool = True,
) -> DemoOptions:
    """The run's options: ``config`` read (the shipped one if None; :class:`ConfigError`),
    ``autolock`` None resolved to the config's seconds scaled to ``duration``."""
    site = load_config(config)
    if autolock is None:
        autolock = max(2.0, site.autolock_seconds * duration / 60.0)
    return DemoOptions(
        site=site,
        duration=duration,
        state_dir=state_dir,
        broker=broker,
        mqtt=mqtt,
        autolock_seconds=autolock,
        seed=seed,
        zwave=zwave,
    )


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
    kind = Kind(entry.get("kind", "virtual"))
    behaviour = Behaviour(entry.get("behaviour", "readable"))
    if kind is Kind.ZWAVE and behaviour not in _ZWAVE_BEHAVIOURS:
        raise ValueError(
            f"lock {name!r}: a zwave lock is 'readable' or 'masked' (the mock's locks)"
        )
    return LockSpec(name=name, kind=kind, behaviour=behaviour, slots=slots)


#: the behaviours the mock controller's locks have (``MockNode.PLAIN`` and ``MockNode.MASKING``)
_ZWAVE_BEHAVIOURS = (Behaviour.READABLE, Behaviour.MASKED)
