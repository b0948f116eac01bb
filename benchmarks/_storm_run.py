"""The storm benchmark's run: the library's defaults and versions, the peer interpreter, and
every scenario in turn into one :class:`Report`."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from _harness import (
    describe_machine,
    mosquitto_version,
)
from _storm_clients import jittered
from _storm_common import GOAL, GOAL_ROUNDS, MQTT_STRATEGIES, QUIETDROP_LIVE, WS_STRATEGIES
from _storm_floor import floor_rounds
from _storm_measure import AtdScenario, Report, Setup, StormRow
from _storm_report import plot
from _storm_scenarios import mqtt_accept_then_drop, mqtt_storm, ws_accept_then_drop, ws_storm


def library_defaults() -> tuple[dict[str, str], float, float, dict[str, str]]:
    """The defaults of the package as installed: described, the two ``stable_after`` values,
    and for each of the stream and the bridge which named strategy is its default backoff."""
    import inspect

    from trio_locksync import Backoff, Jitter, open_mqtt_bridge
    from trio_locksync.eventstream._options import StreamSettings

    stream = StreamSettings()
    parameters = inspect.signature(inspect.unwrap(open_mqtt_bridge)).parameters
    mqtt_stable = float(parameters["stable_after"].default)
    bridge_backoff = _bridge_default_backoff()
    same: dict[str, str] = {}
    for part, backoff in (("ws", stream.backoff), ("mqtt", bridge_backoff)):
        for name in ("seed", "full", "decorrelated"):
            if backoff == jittered(name):
                same[part] = name

    def describe(backoff: Backoff) -> str:
        spread = (
            f" ±{backoff.ratio:.0%}"
            if backoff.jitter in (Jitter.GROWING, Jitter.PROPORTIONAL)
            else ""
        )
        return (
            f"jitter {backoff.jitter.value}, {backoff.initial:g} s x{backoff.factor:g}{spread} "
            f"up to {backoff.maximum:g} s"
        )

    described = {
        "Backoff() (core: store, autolock)": describe(Backoff()),
        "event stream backoff": describe(stream.backoff),
        "event stream stable_after": f"{stream.stable_after:g} s",
        "MQTT bridge backoff": describe(bridge_backoff),
        "MQTT bridge stable_after": f"{mqtt_stable:g} s",
    }
    return described, stream.stable_after, mqtt_stable, same


def _bridge_default_backoff() -> Any:
    """The backoff ``open_mqtt_bridge`` uses when given none."""
    from trio_locksync.mqtt._open import DEFAULT_BACKOFF

    return DEFAULT_BACKOFF


def versions() -> dict[str, str]:
    from importlib.metadata import version

    found = {}
    for name in ("trio", "trio-websocket", "wsproto", "paho-mqtt", "trio-locksync"):
        with contextlib.suppress(Exception):
            found[name] = version(name)
    import trio_locksync

    found["trio_locksync imported from"] = str(Path(trio_locksync.__file__).parent)
    with contextlib.suppress(Exception):
        found["mosquitto"] = mosquitto_version()
    return found


def peer_python(requested: str | None) -> tuple[str | None, str]:
    """The interpreter for the websockets peer, and what to say about it."""
    candidate = requested or str(Path(__file__).resolve().parents[2] / "stormvenv/bin/python")
    if not os.path.exists(candidate):
        return None, f"peer not run: no interpreter at {candidate} (--peer-python)"
    probe = subprocess.run(
        [
            candidate,
            "-c",
            "import websockets, websockets.trio.client, trio_locksync; "
            "print(websockets.__version__)",
        ],
        capture_output=True,
        text=True,
    )
    if probe.returncode != 0:
        return None, f"peer not run: {candidate} lacks websockets' trio client or trio_locksync"
    found = probe.stdout.strip()
    if not found.startswith("17."):
        return None, f"peer not run: {candidate} has websockets {found}, not 17.x"
    return candidate, f"websockets {found} (trio client) in {candidate}"


def ws_rounds(
    setup: Setup, strategies: Sequence[str], n: int, down: float, rounds: int
) -> list[StormRow]:
    """One websocket storm per strategy, ``rounds`` times (strategies interleaved, so a noisy
    minute hurts every strategy of that round alike); each round's times are divided by that
    round's floor. With several rounds a strategy's row is its median round (by "all back"),
    carrying every round's "all back" and ratio, and the median ratio."""
    by_strategy: dict[str, list[StormRow]] = {strategy: [] for strategy in strategies}
    for round_ in range(rounds):
        if rounds > 1:
            print(f"  ws N={n} D={down:g}: round {round_ + 1} of {rounds}", file=sys.stderr)
        rows = [guarded(ws_storm, setup, strategy, n, down) for strategy in strategies]
        floor = next((r.all_synced_s for r in rows if r.strategy == "oracle"), None)
        for row in rows:
            if floor and row.all_synced_s is not None:
                row.ratio_to_floor = round(row.all_synced_s / floor, 2)
            by_strategy[row.strategy].append(row)
    chosen = []
    for runs in by_strategy.values():
        done = sorted(
            (r for r in runs if r.all_synced_s is not None), key=lambda r: r.all_synced_s or 0.0
        )
        if rounds == 1 or not done:
            chosen.append(runs[0])
            continue
        row = done[(len(done) - 1) // 2]
        row.rounds_all_synced_s = [r.all_synced_s or 0.0 for r in runs if r in done]
        ratios = sorted(r.ratio_to_floor for r in done if r.ratio_to_floor is not None)
        row.rounds_ratio_to_floor = [r.ratio_to_floor for r in runs if r.ratio_to_floor]
        if ratios:
            row.ratio_to_floor = ratios[(len(ratios) - 1) // 2]
        if len(done) < len(runs):
            row.note = f"{len(runs) - len(done)} of {len(runs)} rounds not all back"
        chosen.append(row)
    return chosen


def guarded(
    measure: Callable[[Setup, str, int, float], StormRow],
    setup: Setup,
    strategy: str,
    n: int,
    down: float,
) -> StormRow:
    """One storm; a failure becomes a row saying what went wrong, not the end of the run."""
    try:
        return measure(setup, strategy, n, down)
    except Exception as exc:
        print(f"  {strategy} N={n} D={down:g} failed: {exc!r}"[:2000], file=sys.stderr)
        reason = str(exc).splitlines()[0][:160] if str(exc) else ""
        return StormRow(
            strategy, n, down, available=False, note=f"failed: {type(exc).__name__} {reason}"
        )


def run(args: Any, scratch: Path) -> Report:
    from trio_locksync.testing import find_mosquitto

    began = time.monotonic()
    quick = args.quick
    defaults, stream_stable, mqtt_stable, same = library_defaults()
    peer, peer_note = peer_python(args.peer_python)
    setup = Setup(
        python=sys.executable,
        peer_python=peer,
        peer_note=peer_note,
        scratch=scratch,
        recover_timeout=20.0 if quick else 75.0,
        quick=quick,
    )
    only = set(args.only or ("floor", "ws", "atd", "mqtt"))
    strategies = list(args.strategies or WS_STRATEGIES)
    # A named strategy that is the default's very client runs once, as "default".
    if same.get("ws") in strategies:
        strategies.remove(same["ws"])
    mqtt_strategies = [name for name in MQTT_STRATEGIES if name != same.get("mqtt")]
    if quick:
        ws_plan = [(20, 2.0)]
        atd_window, atd_n, candidates = 8.0, 3, (0.0, 10.0)
        mqtt_plan = [(10, 2.0)]
        mqtt_window = 8.0
    else:
        ws_plan = [(n, d) for n in (100, 1000) for d in (2.0, 10.0, 30.0)]
        atd_window, atd_n, candidates = 30.0, 10, (0.0, 2.0, 5.0, 10.0, 30.0)
        mqtt_plan = [(50, 10.0), (200, 10.0)]
        mqtt_window = 30.0
    if args.down:
        ws_plan = [(n, d) for n, d in ws_plan if d in args.down]
    if args.n:
        ws_plan = [(n, d) for n, d in ws_plan if n in args.n]
        mqtt_plan = [(n, d) for n, d in mqtt_plan if n in args.n]
    tight = 3.0  # more than one attempt per 3 s per client, on average, is a tight loop
    floor = None
    if "floor" in only:
        floor_ns = args.floor_n or ([100] if quick else [1000, 3000])
        floor = floor_rounds(
            setup,
            floor_ns,
            args.floor_down or (2.0 if quick else 10.0),
            args.procs,
            args.floor_rounds or (1 if quick else 2),
            # the probe carries as many clients as the largest storm: the capacity of the
            # arrangement that storm runs in (600 measured 210-323 /s in steps of 2-3 s)
            args.capacity_n or max(floor_ns),
            args.capacity_rates,
            args.floor_strategies or ("default",),
        )
    ws_rows: list[StormRow] = []
    if "ws" in only:
        for n, down in ws_plan:
            rounds = args.rounds or (GOAL_ROUNDS if (n, down) == GOAL and not quick else 1)
            ws_rows += ws_rounds(setup, strategies, n, down, rounds)
    atd: list[AtdScenario] = []
    if "atd" in only:
        for name, misbehaviour in (
            ("accept, then drop at once", "drop"),
            (
                f"accept, replay, go quiet, drop U(0, {QUIETDROP_LIVE:g}) s after CONNECTED",
                "quietdrop",
            ),
        ):
            try:
                rows_atd = ws_accept_then_drop(
                    setup, misbehaviour, atd_window, atd_n, candidates, stream_stable, tight
                )
            except Exception as exc:
                print(f"  atd {misbehaviour} failed: {exc!r}"[:2000], file=sys.stderr)
                rows_atd = []
            atd.append(AtdScenario(name, misbehaviour, atd_window, rows_atd))
    mqtt_rows: list[StormRow] = []
    if "mqtt" in only and find_mosquitto() is not None:
        for n, down in mqtt_plan:
            mqtt_rows += [
                guarded(mqtt_storm, setup, strategy, n, down) for strategy in mqtt_strategies
            ]
        try:
            rows_atd = mqtt_accept_then_drop(setup, mqtt_window, atd_n, mqtt_stable, tight)
        except Exception as exc:
            print(f"  mqtt atd failed: {exc!r}"[:2000], file=sys.stderr)
            rows_atd = []
        atd.append(
            AtdScenario(
                "MQTT: a broker that closes right after CONNACK", "connack", mqtt_window, rows_atd
            )
        )
    report = Report(
        mode="quick" if quick else "full",
        machine=describe_machine(scratch),
        versions=versions(),
        defaults=defaults,
        peer=peer_note,
        ws_storms=ws_rows,
        accept_then_drop=atd,
        mqtt_storms=mqtt_rows,
        floor=floor,
        plots=[],
        tight_loop_rule=(
            f"a client still attempting more often than once per {tight:g} s in the second half "
            "of the window"
        ),
    )
    report.plots = plot(report, suffix="-quick" if quick else "")
    report.wall_s = round(time.monotonic() - began, 1)
    return report
