"""The demo's configuration, read once: the command line's choices resolved into one
:class:`DemoOptions` record, and the site read from ``demo_site.toml`` shipped beside this
module (or a file of the same shape) in the one schema ``trio-locksync run`` reads
(:mod:`._schema`), with the demo's own additions: lock kind ``virtual`` (a ``VirtualLock``) and
each lock's simulated :class:`Behaviour`. PINs are kept as :class:`~trio_locksync.Pin`, so no
repr or log line shows them."""

from __future__ import annotations

import enum
from collections.abc import Mapping
from importlib import resources
from pathlib import Path
from typing import final

import attrs

from ..core import Backoff, Jitter
from ..testing import BrokerKind
from ._schema import ConfigProblems, LockConfig, LockKind, SiteConfig, load_site, parse_site

__all__ = [
    "FAST",
    "Behaviour",
    "ConfigError",
    "DemoOptions",
    "behaviour_of",
    "demo_options",
    "load_config",
]

#: reconnects in the demo are quick (the library's defaults are 1 s doubling to 60 s)
FAST = Backoff(initial=0.2, maximum=2.0, jitter=Jitter.FULL)


class Behaviour(enum.Enum):
    """The quirk a simulated lock shows."""

    READABLE = "readable"
    MASKED = "masked"
    FLAKY = "flaky"
    #: readable, and it goes offline for a while (a scheduled fault)
    OFFLINE = "offline"


def behaviour_of(spec: LockConfig) -> Behaviour:
    """The simulated behaviour of lock ``spec`` (checked by :func:`load_config`)."""
    return Behaviour(spec.behaviour or "readable")


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
    #: seconds each door's autolock timer runs
    autolock_seconds: Mapping[str, float]
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
    """The run's options: ``config`` read (the shipped one if None; :class:`ConfigError`);
    ``autolock`` seconds for every door, or (None) each rule's seconds scaled to ``duration``
    (the config's are for a 60 s run), at least 2 s."""
    site = load_config(config)
    if autolock is None:
        seconds = {rule.lock: max(2.0, rule.seconds * duration / 60.0) for rule in site.autolock}
    else:
        seconds = {rule.lock: autolock for rule in site.autolock}
    return DemoOptions(
        site=site,
        duration=duration,
        state_dir=state_dir,
        broker=broker,
        mqtt=mqtt,
        autolock_seconds=seconds,
        seed=seed,
        zwave=zwave,
    )


class ConfigError(ValueError):
    """The demo configuration is not usable (says which entry, never a PIN)."""


def load_config(path: Path | None = None) -> SiteConfig:
    """Read ``path``, or the shipped ``demo_site.toml``."""
    where = "demo_site.toml" if path is None else str(path)
    try:
        if path is None:
            text = resources.files(__package__).joinpath(where).read_text("utf-8")
            site = parse_site(text, where, demo=True)
        else:
            site = load_site(path, demo=True)
    except ConfigProblems as exc:
        raise ConfigError("; ".join(exc.problems)) from None
    problems = [problem for spec in site.locks if (problem := _demo_problem(spec))]
    if problems:
        raise ConfigError("; ".join(f"{where}: {problem}" for problem in problems))
    # the simulated Zigbee lock's expose_pin is its behaviour's
    return attrs.evolve(site, locks=tuple(_exposed(spec) for spec in site.locks))


def _demo_problem(spec: LockConfig) -> str | None:
    try:
        behaviour = behaviour_of(spec)
    except ValueError:
        kinds = ", ".join(b.value for b in Behaviour)
        return f"lock {spec.name!r}: behaviour {spec.behaviour!r} is not one of {kinds}"
    if spec.kind is not LockKind.VIRTUAL and behaviour not in _READ_OR_MASKED:
        return f"lock {spec.name!r}: a {spec.kind.value} lock is 'readable' or 'masked'"
    if spec.kind is LockKind.VIRTUAL and spec.door is None:
        return f"lock {spec.name!r}: door is missing (a virtual lock's ISY node, e.g. 'ZW004_1')"
    if spec.kind is LockKind.ZWAVE and spec.node_id != _MOCK_NODE[behaviour]:
        return f"lock {spec.name!r}: the mock's locks are node 2 (readable) and 3 (masked)"
    return None


def _exposed(spec: LockConfig) -> LockConfig:
    if spec.kind is not LockKind.ZIGBEE2MQTT:
        return spec
    return attrs.evolve(spec, expose_pin=behaviour_of(spec) is not Behaviour.MASKED)


#: the behaviours the simulated Zigbee locks and the mock's Z-Wave locks have
_READ_OR_MASKED = (Behaviour.READABLE, Behaviour.MASKED)
#: the mock's node of each (``MockNode.PLAIN``, ``MockNode.MASKING``)
_MOCK_NODE = {Behaviour.READABLE: 2, Behaviour.MASKED: 3}
