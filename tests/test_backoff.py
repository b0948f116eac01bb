"""Backoff and Jitter: the exact sequences, the jitter bounds (after the cap), validation."""

from __future__ import annotations

import itertools
import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from trio_locksync import Backoff, Jitter


def take(backoff: Backoff, n: int, seed: int = 0) -> list[float]:
    return list(itertools.islice(backoff.delays(random.Random(seed)), n))


def test_none_doubles_to_the_cap_and_stays() -> None:
    assert take(Backoff(jitter=Jitter.NONE), 9) == [1, 2, 4, 8, 16, 32, 60, 60, 60]


def test_contract_defaults() -> None:
    backoff = Backoff()
    assert (backoff.initial, backoff.maximum, backoff.factor, backoff.ratio) == (
        1.0,
        60.0,
        2.0,
        0.1,
    )
    assert backoff.jitter is Jitter.FULL


def test_delays_is_infinite_and_fresh_per_call() -> None:
    backoff = Backoff(jitter=Jitter.NONE)
    first = backoff.delays()
    assert list(itertools.islice(first, 200))[-1] == 60
    assert next(backoff.delays()) == 1


def test_factor_and_initial_respected() -> None:
    assert take(Backoff(initial=0.5, maximum=10, factor=3, jitter=Jitter.NONE), 5) == [
        0.5,
        1.5,
        4.5,
        10,
        10,
    ]


def test_no_overflow_after_many_delays() -> None:
    delays = Backoff(initial=1, maximum=1e300, factor=1e10, jitter=Jitter.NONE).delays()
    assert list(itertools.islice(delays, 100))[-1] == 1e300


@given(st.integers(0, 2**32), st.floats(0.01, 5), st.floats(5, 120), st.floats(1, 4))
def test_proportional_within_ratio_of_capped_nominal(
    seed: int, initial: float, maximum: float, factor: float
) -> None:
    backoff = Backoff(initial=initial, maximum=maximum, factor=factor, jitter=Jitter.PROPORTIONAL)
    nominal = list(itertools.islice(backoff.nominal(), 40))
    for d, n in zip(take(backoff, 40, seed), nominal, strict=True):
        assert n * 0.9 - 1e-9 <= d <= n * 1.1 + 1e-9


def test_proportional_spreads_clients_at_the_cap() -> None:
    """Jitter after the cap: delays at the cap are not all equal (no re-synchronisation)."""
    capped = take(Backoff(jitter=Jitter.PROPORTIONAL), 60)[20:]
    assert len(set(capped)) == len(capped)
    assert max(capped) > 60 and min(capped) < 60


@given(st.integers(0, 2**32))
def test_full_within_zero_and_capped_nominal(seed: int) -> None:
    backoff = Backoff(jitter=Jitter.FULL)
    nominal = list(itertools.islice(backoff.nominal(), 30))
    for d, n in zip(take(backoff, 30, seed), nominal, strict=True):
        assert 0 <= d <= n


@given(st.integers(0, 2**32))
def test_decorrelated_within_initial_and_cap(seed: int) -> None:
    delays = take(Backoff(initial=1, maximum=60, jitter=Jitter.DECORRELATED), 50, seed)
    previous = 1.0
    for d in delays:
        assert 1 <= d <= 60
        assert d <= max(previous * 3, 1)
        previous = d


@given(
    st.integers(0, 2**32),
    st.floats(0.01, 5),
    st.floats(5, 120),
    st.floats(1.2, 3),
    st.floats(0, 0.16),
)
def test_growing_each_delay_is_the_last_times_factor_within_ratio_and_spread_at_the_cap(
    seed: int, initial: float, maximum: float, factor: float, ratio: float
) -> None:
    backoff = Backoff(
        initial=initial, maximum=maximum, factor=factor, ratio=ratio, jitter=Jitter.GROWING
    )
    delays = take(backoff, 60, seed)
    assert initial - 1e-9 <= delays[0] <= min(3 * initial, maximum) + 1e-9
    for last, delay in itertools.pairwise(delays):
        assert delay <= maximum + 1e-9
        grown = last * factor
        if grown * (1 + ratio) <= maximum:
            assert grown * (1 - ratio) - 1e-9 <= delay <= grown * (1 + ratio) + 1e-9
        else:  # past the cap (or possibly so): within the capped band or the grown one
            assert delay >= min(grown * (1 - ratio), maximum * (1 - ratio)) - 1e-9


@given(st.integers(0, 2**32))
def test_growing_floor_rises_with_every_failure_unlike_decorrelated(seed: int) -> None:
    """The guarantee that rules out a tight loop: after ``k`` delays without a reset the next
    is at least ``min(initial * (factor * (1 - ratio)) ** k, maximum * (1 - ratio))``, whatever
    the draws (decorrelated's floor stays at ``initial`` forever)."""
    backoff = Backoff(factor=1.5, ratio=0.1, jitter=Jitter.GROWING)
    for k, delay in enumerate(take(backoff, 40, seed)):
        assert delay >= min(1.0 * (1.5 * 0.9) ** k, 60 * 0.9) - 1e-9


class Unluckiest(random.Random):
    """Every draw at the bottom of its range."""

    def uniform(self, a: float, b: float) -> float:
        return a


def test_growing_unluckiest_client_is_no_tight_loop() -> None:
    """The storm benchmark's tight-loop line (more than one attempt per 3 s in the second half
    of 30 s), against the unluckiest client possible: every draw at its lowest. Decorrelated's
    unluckiest client retries every second forever."""
    growing = Backoff(factor=1.5, ratio=0.1, jitter=Jitter.GROWING).delays(Unluckiest())
    lowest = list(itertools.islice(growing, 8))
    assert lowest == pytest.approx([1.0, 1.35, 1.823, 2.460, 3.322, 4.484, 6.053, 8.172], 1e-3)
    attempts = list(itertools.accumulate(lowest))
    assert sum(1 for t in attempts if 15.0 <= t <= 30.0) == 2
    decorrelated = Backoff(jitter=Jitter.DECORRELATED).delays(Unluckiest())
    assert list(itertools.islice(decorrelated, 30)) == [1.0] * 30


def test_growing_spreads_clients_at_the_cap() -> None:
    capped = take(Backoff(factor=1.5, jitter=Jitter.GROWING), 60)[20:]
    assert len(set(capped)) == len(capped)
    assert min(capped) >= 54.0 and max(capped) <= 60.0


def test_growing_that_could_shrink_is_refused() -> None:
    with pytest.raises(ValueError, match="factor \\* \\(1 - ratio\\) >= 1"):
        Backoff(factor=1.1, ratio=0.2, jitter=Jitter.GROWING)
    Backoff(factor=1.25, ratio=0.2, jitter=Jitter.GROWING)  # exactly 1: allowed


def test_seeded_rng_reproducible_and_default_rng_differs() -> None:
    backoff = Backoff(jitter=Jitter.FULL)
    assert take(backoff, 10, seed=7) == take(backoff, 10, seed=7)
    a = list(itertools.islice(backoff.delays(), 10))
    b = list(itertools.islice(backoff.delays(), 10))
    assert a != b


@pytest.mark.parametrize(
    "kwargs",
    [
        {"initial": 0},
        {"initial": -1},
        {"initial": float("nan")},
        {"maximum": 0.5},
        {"factor": 0.5},
        {"factor": float("inf")},
        {"ratio": 1.5},
        {"ratio": -0.1},
    ],
)
def test_invalid_configuration_raises(kwargs: dict[str, float]) -> None:
    with pytest.raises(ValueError):
        Backoff(**kwargs)  # type: ignore[arg-type]


def test_jitter_must_be_enum() -> None:
    with pytest.raises(TypeError):
        Backoff(jitter="full")  # type: ignore[arg-type]


def test_backoff_is_frozen_value() -> None:
    backoff = Backoff()
    with pytest.raises(AttributeError):
        backoff.initial = 2  # type: ignore[misc]
    assert backoff == Backoff()
