"""The storm benchmark's floor (issue 24, ``benchmarks/_storm_floor.py``): when a paced rate is
"kept up", what the capacity is, and how several fleet processes' reports are joined. Pure
arithmetic on made-up reports: no processes, no clock."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))

import _storm_floor as floor
from _storm_common import QUIET


def paced_report(rate: float, n: int, latency: Any) -> dict[str, Any]:
    """Client k attempts at k / rate and is back ``latency(k)`` + QUIET later."""
    clients, resynced = [], []
    for k in range(n):
        attempt = 100.0 + k / rate
        clients.append([attempt])
        resynced.append(attempt + latency(k) + QUIET)
    group = {"clients": clients, "resynced": resynced, "n": n}
    return {"cpu_s": 1.0, "groups": {"all": group}}


def test_a_rate_served_with_a_flat_latency_is_kept_up() -> None:
    step = floor.rate_step(50.0, paced_report(50.0, 200, lambda k: 0.012))
    assert step.kept_up
    assert step.completed_per_s == 50.0
    assert step.first_p50_ms == 12.0
    assert step.last_p90_ms == 12.0
    assert step.back == 200


def test_a_queue_that_grows_is_falling_behind() -> None:
    # served at 40/s while arriving at 50/s: client k waits k * (1/40 - 1/50) s more
    step = floor.rate_step(50.0, paced_report(50.0, 200, lambda k: 0.012 + k * 0.005))
    assert not step.kept_up
    assert step.completed_per_s == pytest.approx(40.0, abs=0.5)


def test_a_client_not_back_means_not_kept_up() -> None:
    report = paced_report(50.0, 200, lambda k: 0.012)
    report["groups"]["all"]["resynced"][7] = None
    step = floor.rate_step(50.0, report)
    assert not step.kept_up
    assert step.back == 199


def test_latency_counts_from_the_last_attempt_before_the_client_was_back() -> None:
    report = paced_report(50.0, 8, lambda k: 0.010)
    # client 0 tried once and failed 5 s before: its latency is from its last attempt
    report["groups"]["all"]["clients"][0].insert(0, 95.0)
    step = floor.rate_step(50.0, report)
    assert step.first_p50_ms == 10.0


class FakeChild:
    def __init__(self, message: dict[str, Any]) -> None:
        self.message = message

    def read(self, key: str, timeout: float) -> dict[str, Any]:
        assert key in self.message
        return self.message


def test_fleets_reports_are_joined_and_their_cpu_added() -> None:
    def report(clients: list[list[float]], cpu: float, mark: float) -> dict[str, Any]:
        group = {
            "clients": clients,
            "resynced": [c[-1] + 1 for c in clients],
            "n": len(clients),
            "sockets": [[c[-1], None, True] for c in clients],
        }
        return {
            "report": True,
            "complete": True,
            "mark": mark,
            "cpu_s": cpu,
            "groups": {"g": group},
        }

    joined = floor.Fleets(
        [FakeChild(report([[1.0], [2.0]], 1.5, 10.0)), FakeChild(report([[3.0]], 0.5, 9.0))]  # type: ignore[list-item]
    ).report(5)
    group = joined["groups"]["all"]
    assert group["n"] == 3
    assert group["clients"] == [[1.0], [2.0], [3.0]]
    assert group["resynced"] == [2.0, 3.0, 4.0]
    assert len(group["sockets"]) == 3
    assert joined["cpu_s"] == 2.0
    assert joined["mark"] == 9.0
    assert joined["complete"]


def step(rate: float, completed: float, kept_up: bool, back: int = 600) -> Any:
    return floor.RateStep(rate, 600, back, completed, 10.0, 12.0, kept_up, 4.2, 2.1)


def test_the_capacity_is_the_fastest_drain_of_any_step_everyone_came_back_in() -> None:
    found = floor.Capacity(n=600, procs=2)
    found.steps = [
        step(50, 50, True),
        step(75, 75, True),
        step(112.5, 105.1, False),
        step(91.9, 87.8, False),
        step(150, 120.0, False, back=599),  # not all back: its rate does not count
    ]
    floor.settle(found, cores=2)
    assert found.per_s == 105.1
    assert found.kept_up_per_s == 75
    assert found.note == ""


def test_the_cpu_bound_is_the_tightest_of_cores_server_and_fleet_processes() -> None:
    found = floor.Capacity(n=600, procs=2)
    found.steps = [step(50, 50, True)]
    floor.settle(found, cores=2)
    # 4.2 s / 600 = 7 ms per reconnect in the fleets, 2.1 s / 600 = 3.5 ms in the server
    assert (found.fleet_ms, found.server_ms) == (7.0, 3.5)
    assert found.ceiling_per_s == round(1000 * 2 / 10.5, 1)  # both cores: 190.5 /s
    floor.settle(found, cores=8)
    assert found.ceiling_per_s == round(1000 * 2 / 7.0, 1)  # two fleet processes: 285.7 /s


def test_no_rate_kept_up_is_said() -> None:
    found = floor.Capacity(n=600, procs=2)
    found.steps = [step(50, 40, False, back=599)]
    floor.settle(found, cores=2)
    assert found.per_s is None
    assert found.kept_up_per_s is None
    assert found.note == "no rate kept up"
