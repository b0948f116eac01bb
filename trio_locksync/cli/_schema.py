"""The site configuration (``site.toml``), one schema for ``trio-locksync run`` and the demo:
the site's time zone and state dir, how to reach the MQTT broker (Zigbee2MQTT), the Z-Wave JS
Server and the ISY controller, the locks, the grants (:mod:`._grants`) and the autolock rules.

:func:`parse_site` reads it whole and collects every problem it finds — one line each, naming
the entry, never a PIN — into one :class:`ConfigProblems`. The demo's own lock kind
(``virtual``, a ``VirtualLock`` the demo hands the runner) and its ``behaviour`` key are
accepted only with ``demo=True``."""

from __future__ import annotations

import enum
import os
import re
import tomllib
import zoneinfo
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import final

import attrs

from ..core import Pin
from ._grants import GrantSpec, check_autolock, parse_grants, parse_slots
from ._links import (
    IsySettings,
    MqttSettings,
    ZWaveSettings,
    parse_isy,
    parse_mqtt,
    parse_text,
    parse_zwave,
)
from ._problems import Problems

__all__ = [
    "AutolockRule",
    "ConfigProblems",
    "GrantSpec",
    "IsySettings",
    "LockConfig",
    "LockKind",
    "MqttSettings",
    "SiteConfig",
    "ZWaveSettings",
    "load_site",
    "parse_site",
]

#: a lock's name is part of its state file's name: letters, digits, ``_`` and ``-``
_LOCK_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,63}")


class LockKind(enum.Enum):
    """What stands behind a lock."""

    #: a Zigbee lock in Zigbee2MQTT, over the MQTT broker (``friendly_name``)
    ZIGBEE2MQTT = "zigbee2mqtt"
    #: a Z-Wave lock on the Z-Wave JS Server (``node_id``)
    ZWAVE = "zwave"
    #: the demo's own: a ``VirtualLock`` the demo hands the runner (not for ``run``)
    VIRTUAL = "virtual"


class ConfigProblems(ValueError):
    """The configuration is not usable; :attr:`problems` has one line per problem (each
    naming its entry, never a PIN)."""

    def __init__(self, problems: Sequence[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = tuple(problems)


@final
@attrs.frozen
class LockConfig:
    """One lock. ``slots``: the candidate slots the access plan may give grants (None: the
    plan's default); ``fixed``: slots kept as given outside the plan (a PIN, or None: kept
    empty)."""

    name: str
    kind: LockKind
    friendly_name: str | None = None
    node_id: int | None = None
    #: the ISY node reporting this door (None: no door sensor)
    door: str | None = None
    slots: tuple[int, ...] | None = None
    fixed: Mapping[int, Pin | None] = attrs.field(factory=dict, repr=False)
    #: Zigbee2MQTT's ``expose_pin`` device option (None: use ``pin_code`` when present)
    expose_pin: bool | None = None
    #: the demo's simulated behaviour (demo only)
    behaviour: str | None = None

    @property
    def topic_name(self) -> str:
        """The lock's Zigbee2MQTT friendly name."""
        return self.friendly_name or self.name


@final
@attrs.frozen
class AutolockRule:
    """Lock ``lock`` ``seconds`` after a keypad unlock (a hand lock cancels)."""

    lock: str
    seconds: float


@final
@attrs.frozen
class SiteConfig:
    """The whole site, as read from its file."""

    locks: tuple[LockConfig, ...]
    grants: tuple[GrantSpec, ...] = ()
    autolock: tuple[AutolockRule, ...] = ()
    time_zone: str = "UTC"
    state_dir: Path | None = None
    mqtt: MqttSettings | None = None
    zwave_js: ZWaveSettings | None = None
    isy: IsySettings | None = None

    def lock(self, name: str) -> LockConfig:
        for spec in self.locks:
            if spec.name == name:
                return spec
        raise KeyError(name)

    def with_kind(self, kind: LockKind) -> list[LockConfig]:
        return [spec for spec in self.locks if spec.kind is kind]

    def autolock_seconds(self) -> dict[str, float]:
        """The seconds of each lock's autolock rule."""
        return {rule.lock: rule.seconds for rule in self.autolock}

    def without(self, names: Sequence[str]) -> SiteConfig:
        """The site without the locks ``names`` (their grants and rules dropped with them)."""
        gone = set(names)
        grants = tuple(g.without(gone) for g in self.grants)
        return attrs.evolve(
            self,
            locks=tuple(s for s in self.locks if s.name not in gone),
            grants=tuple(g for g in grants if g is not None),
            autolock=tuple(r for r in self.autolock if r.lock not in gone),
        )


_TOP = {"time_zone", "state_dir", "mqtt", "zwave_js", "isy", "locks", "grants", "autolock"}
_LOCK = {"name", "kind", "friendly_name", "node_id", "door", "slots", "fixed", "expose_pin"}


def load_site(path: Path, *, demo: bool = False) -> SiteConfig:
    """Read and parse ``path``; :class:`ConfigProblems` (an unreadable file is one problem)."""
    try:
        text = path.read_text("utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else type(exc).__name__
        raise ConfigProblems([f"{path}: cannot read it ({reason})"]) from None
    return parse_site(text, str(path), demo=demo)


def parse_site(
    text: str, where: str, *, demo: bool = False, environ: Mapping[str, str] | None = None
) -> SiteConfig:
    """The site in ``text`` (from ``where``); every problem found, at once, in
    :class:`ConfigProblems`. ``environ`` (default ``os.environ``) resolves ``password_env``."""
    problems = Problems(where)
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigProblems([f"{where}: not valid TOML ({exc})"]) from None
    env = os.environ if environ is None else environ
    problems.unknown_keys("the file", raw, _TOP)
    zone = _zone(raw.get("time_zone", "UTC"), problems)
    state_dir = raw.get("state_dir")
    if state_dir is not None and (not isinstance(state_dir, str) or not state_dir):
        problems.add("state_dir", "must be a path (a string)")
        state_dir = None
    mqtt = parse_mqtt(raw.get("mqtt"), problems, env)
    zwave = parse_zwave(raw.get("zwave_js"), problems)
    isy = parse_isy(raw.get("isy"), problems, env)
    locks = _locks(raw.get("locks"), problems, demo=demo)
    for spec in locks:
        if not demo:  # the demo fills in its simulators' addresses
            _needs(spec, mqtt, zwave, isy, problems)
    grants = parse_grants(raw.get("grants", []), locks, zone, problems)
    autolock = check_autolock(raw.get("autolock", []), locks, problems)
    if problems:
        raise ConfigProblems(problems.lines)
    return SiteConfig(
        locks=tuple(locks),
        grants=tuple(grants),
        autolock=tuple(AutolockRule(lock, seconds) for lock, seconds in autolock),
        time_zone=str(raw.get("time_zone", "UTC")),
        state_dir=None if state_dir is None else Path(state_dir).expanduser(),
        mqtt=mqtt,
        zwave_js=zwave,
        isy=isy,
    )


def _zone(value: object, problems: Problems) -> zoneinfo.ZoneInfo:
    if isinstance(value, str) and value:
        try:
            return zoneinfo.ZoneInfo(value)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            pass
    problems.add("time_zone", f"{value!r} is not an IANA time zone (e.g. 'Europe/Berlin')")
    return zoneinfo.ZoneInfo("UTC")


def _locks(value: object, problems: Problems, *, demo: bool) -> list[LockConfig]:
    if not isinstance(value, list) or not value:
        problems.add("locks", "give at least one [[locks]] entry")
        return []
    locks: list[LockConfig] = []
    for index, entry in enumerate(value, start=1):
        spec = _lock(entry, index, problems, demo=demo)
        if spec is None:
            continue
        if any(other.name == spec.name for other in locks):
            problems.add(f"lock {spec.name!r}", "a second lock of that name")
            continue
        locks.append(spec)
    return locks


def _lock(entry: object, index: int, problems: Problems, *, demo: bool) -> LockConfig | None:
    if not isinstance(entry, dict):
        problems.add(f"lock #{index}", "must be a table")
        return None
    name = entry.get("name")
    if name is None:
        problems.missing(f"lock #{index}", "name", "letters, digits, _ or -")
        return None
    if not isinstance(name, str) or not _LOCK_NAME.fullmatch(name):
        problems.add(f"lock #{index}", "name must be letters, digits, _ or - (at most 64)")
        return None
    where = f"lock {name!r}"
    problems.unknown_keys(where, entry, _LOCK | ({"behaviour"} if demo else set()))
    kinds = [k.value for k in LockKind if demo or k is not LockKind.VIRTUAL]
    try:
        kind = LockKind(entry.get("kind"))
    except ValueError:
        kind = None
    if "kind" not in entry:
        problems.missing(where, "kind", f"one of {', '.join(kinds)}")
        return None
    if kind is None or kind.value not in kinds:
        problems.add(where, f"kind {entry.get('kind')!r} is not one of {', '.join(kinds)}")
        return None
    node_id = entry.get("node_id")
    if kind is LockKind.ZWAVE and node_id is None:
        problems.missing(where, "node_id", "a zwave lock's Z-Wave node id")
    elif kind is LockKind.ZWAVE and (
        isinstance(node_id, bool) or not isinstance(node_id, int) or not 0 < node_id < 4096
    ):
        problems.add(where, f"a zwave lock needs node_id, its Z-Wave node id (got {node_id!r})")
    elif kind is not LockKind.ZWAVE and node_id is not None:
        problems.add(where, "node_id is for zwave locks")
    if kind is not LockKind.ZIGBEE2MQTT:
        for key in ("friendly_name", "expose_pin"):
            if key in entry:
                problems.add(where, f"{key} is for zigbee2mqtt locks")
    expose_pin = entry.get("expose_pin")
    if expose_pin is not None and not isinstance(expose_pin, bool):
        problems.add(where, "expose_pin must be true or false")
        expose_pin = None
    lowest = 0 if kind is LockKind.ZIGBEE2MQTT else 1
    slots = None
    if "slots" in entry:
        slots = parse_slots(entry["slots"], lowest, where, problems)
    fixed = _fixed(entry.get("fixed", {}), lowest, where, problems)
    for slot in sorted(set(fixed) & set(slots or ())):
        problems.add(where, f"slot {slot} is both fixed and a candidate for the plan")
    behaviour = entry.get("behaviour")
    if behaviour is not None and not isinstance(behaviour, str):
        problems.add(where, "behaviour must be a string")
        behaviour = None
    return LockConfig(
        name=name,
        kind=kind,
        friendly_name=parse_text(entry, "friendly_name", where, problems),
        node_id=node_id if isinstance(node_id, int) else None,
        door=parse_text(entry, "door", where, problems),
        slots=slots,
        fixed=fixed,
        expose_pin=expose_pin,
        behaviour=behaviour,
    )


def _fixed(value: object, lowest: int, where: str, problems: Problems) -> dict[int, Pin | None]:
    if not isinstance(value, dict):
        problems.add(where, 'fixed must be a table of slot = "PIN" ("" keeps the slot empty)')
        return {}
    fixed: dict[int, Pin | None] = {}
    for key, pin in value.items():
        if not key.isdigit() or int(key) < lowest:
            problems.add(where, f"fixed: {key!r} is not a slot number (from {lowest})")
            continue
        if not isinstance(pin, str):
            problems.add(where, f"fixed slot {key}: a PIN must be a string")
            continue
        try:
            fixed[int(key)] = Pin(pin) if pin else None
        except ValueError:
            problems.add(where, f"fixed slot {key}: not a valid PIN (4 to 10 digits)")
    return fixed


def _needs(
    spec: LockConfig,
    mqtt: MqttSettings | None,
    zwave: ZWaveSettings | None,
    isy: IsySettings | None,
    problems: Problems,
) -> None:
    where = f"lock {spec.name!r}"
    if spec.kind is LockKind.ZIGBEE2MQTT and mqtt is None:
        problems.add(where, "a zigbee2mqtt lock needs the [mqtt] section (host, port)")
    if spec.kind is LockKind.ZWAVE and zwave is None:
        problems.add(where, "a zwave lock needs the [zwave_js] section (its url)")
    if spec.door is not None and isy is None:
        problems.add(where, "door names an ISY node: it needs the [isy] section (its url)")
