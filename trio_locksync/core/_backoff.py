"""Exponential backoff with jitter, as a pure iterator of delays.

Jitter is applied after the cap (capped clients that all wait exactly ``maximum``
re-synchronise into a storm). The AWS simulation quoted in SPEC.md (100 clients) is why ``FULL``
is ``Backoff()``'s default: full jitter made the fewest calls (795 vs 1,857 without jitter) at
close to the best completion time — right for one caller retrying one thing (the store, autolock).
A fleet reconnecting to one server is another matter: ``RECONNECT_BACKOFF`` (``GROWING``) is what
the event stream and the MQTT bridge use, chosen by the storm benchmark.
"""

from __future__ import annotations

import enum
import math
import random
from collections.abc import Iterator
from typing import final

import attrs

__all__ = ["RECONNECT_BACKOFF", "Backoff", "Jitter"]


class Jitter(enum.Enum):
    """How a nominal delay ``d = min(initial * factor**n, maximum)`` is randomised."""

    #: exactly ``d``: 1, 2, 4, … maximum, maximum, …
    NONE = "none"
    #: uniform in ``[d * (1 - ratio), d * (1 + ratio)]`` (the seed's ±10 %); not clamped, so
    #: clients sitting at the cap stay spread out
    PROPORTIONAL = "proportional"
    #: uniform in ``[0, d]`` (AWS "full jitter")
    FULL = "full"
    #: AWS "decorrelated jitter": ``min(maximum, uniform(initial, previous * 3))``
    DECORRELATED = "decorrelated"
    #: decorrelated, with a floor that grows: the first delay is uniform in
    #: ``[initial, 3 * initial]``, each next one the last times ``factor * uniform(1 - ratio,
    #: 1 + ratio)``; past ``maximum`` it is drawn from ``[maximum * (1 - ratio), maximum]``
    #: (jitter after the cap). Unlike ``DECORRELATED`` (whose floor stays at ``initial``), a
    #: client cannot keep drawing short delays: after ``k`` failures without a reset the delay is
    #: at least ``min(initial * (factor * (1 - ratio)) ** k, maximum * (1 - ratio))``.
    GROWING = "growing"


def _positive(instance: object, attribute: attrs.Attribute[float], value: float) -> None:
    if not (value > 0 and math.isfinite(value)):
        raise ValueError(
            f"Backoff.{attribute.name} must be a positive finite number, got {value!r}"
        )


@final
@attrs.frozen(kw_only=False)
class Backoff:
    """A reconnect/retry delay policy; immutable, so one instance can serve many loops.

    ``delays()`` returns a fresh, infinite iterator; each loop that retries takes its own and
    drops it (starts a new one) once the operation has proved stable — not merely on the first
    success signal (a broker that accepts and then drops must not reset it).

    >>> list(itertools.islice(Backoff(jitter=Jitter.NONE).delays(), 8))
    [1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 60.0, 60.0]
    """

    initial: float = attrs.field(default=1.0, validator=_positive)
    maximum: float = attrs.field(default=60.0, validator=_positive)
    factor: float = attrs.field(default=2.0)
    jitter: Jitter = attrs.field(
        default=Jitter.FULL, validator=attrs.validators.instance_of(Jitter)
    )
    ratio: float = attrs.field(default=0.1)

    @maximum.validator
    def _check_maximum(self, attribute: attrs.Attribute[float], value: float) -> None:
        if value < self.initial:
            raise ValueError(f"Backoff.maximum ({value}) must be >= initial ({self.initial})")

    @factor.validator
    def _check_factor(self, attribute: attrs.Attribute[float], value: float) -> None:
        if not (value >= 1.0 and math.isfinite(value)):
            raise ValueError(f"Backoff.factor must be a finite number >= 1, got {value!r}")

    @ratio.validator
    def _check_ratio(self, attribute: attrs.Attribute[float], value: float) -> None:
        if not 0.0 <= value <= 1.0:
            raise ValueError(f"Backoff.ratio must be within [0, 1], got {value!r}")
        if self.jitter is Jitter.GROWING and self.factor * (1.0 - value) < 1.0:
            raise ValueError(
                f"Jitter.GROWING needs factor * (1 - ratio) >= 1 so that its delays grow; "
                f"got factor={self.factor!r}, ratio={value!r}"
            )

    def nominal(self) -> Iterator[float]:
        """The un-jittered delays: ``initial * factor**n`` capped at ``maximum``, forever."""
        delay = self.initial
        while True:
            yield min(delay, self.maximum)
            if delay < self.maximum:
                delay *= self.factor

    def delays(self, rng: random.Random | None = None) -> Iterator[float]:
        """An infinite iterator of delays in seconds.

        ``rng`` makes the jitter reproducible (tests, simulations); by default each call gets its
        own ``random.Random()`` seeded from the OS, so two clients never share a sequence.
        """
        rng = random.Random() if rng is None else rng
        if self.jitter is Jitter.DECORRELATED:
            return self._decorrelated(rng)
        if self.jitter is Jitter.GROWING:
            return self._growing(rng)
        return self._jittered(rng)

    def _jittered(self, rng: random.Random) -> Iterator[float]:
        for nominal in self.nominal():
            if self.jitter is Jitter.NONE:
                yield nominal
            elif self.jitter is Jitter.FULL:
                yield rng.uniform(0.0, nominal)
            else:
                spread = nominal * self.ratio
                yield rng.uniform(nominal - spread, nominal + spread)

    def _decorrelated(self, rng: random.Random) -> Iterator[float]:
        previous = self.initial
        while True:
            previous = min(self.maximum, rng.uniform(self.initial, previous * 3.0))
            yield previous

    def _growing(self, rng: random.Random) -> Iterator[float]:
        low, high = 1.0 - self.ratio, 1.0 + self.ratio
        delay = min(self.maximum, rng.uniform(self.initial, self.initial * 3.0))
        while True:
            yield delay
            delay *= self.factor * rng.uniform(low, high)
            if delay > self.maximum:
                delay = rng.uniform(self.maximum * low, self.maximum)


#: How the event stream and the MQTT bridge wait between reconnects unless told otherwise: the
#: first delay 1 to 3 s, each next one 1.35 to 1.65 times the last, at most 60 s (54 to 60 s
#: there). Chosen by the storm benchmark (``benchmarks/storm_bench.py``; docs: "Reconnect
#: storms"): against full jitter (the old default) and AWS's decorrelated jitter it brought a
#: fleet back sooner after an outage with a lower peak of attempts, and because its floor grows
#: with every failure no client can keep drawing short delays against a server that accepts
#: and drops (decorrelated's floor stays at 1 s, so an unlucky client keeps retrying every
#: second or two).
RECONNECT_BACKOFF = Backoff(factor=1.5, ratio=0.1, jitter=Jitter.GROWING)
