"""The storm benchmark's scenarios, run from the parent: the websocket storm, websocket
accept-then-drop, the MQTT storm (a real mosquitto killed and restarted) and MQTT
accept-then-drop."""

from __future__ import annotations

import contextlib
import sys
import time
from collections.abc import Sequence
from typing import Any

from _storm_common import MQTT_NOTES, TICK
from _storm_measure import AtdRow, Setup, StormRow, atd_groups, atd_row, child, noted, storm_row


def ws_storm(setup: Setup, strategy: str, n: int, down: float) -> StormRow:
    python = setup.python
    if strategy == "websockets":
        if setup.peer_python is None:
            return StormRow(strategy, n, down, available=False, note=setup.peer_note)
        python = setup.peer_python
    log = setup.scratch / f"ws-{strategy}-{n}-{down:g}"
    with child(setup.python, "server", {"kind": "isy"}, log.with_suffix(".server.log")) as server:
        port = server.read("up", 20)["port"]
        group = {"label": strategy, "strategy": strategy, "n": n}
        spec = {"kind": "ws", "port": port, "groups": [group]}
        with child(python, "fleet", spec, log.with_suffix(".fleet.log")) as fleet:
            synced = fleet.read("synced", 60 + n / 10)
            time.sleep(0.5)
            fleet.send("mark")
            fleet.read("marked", 10)
            fleet.send("down")
            server.send("stop")
            t_down = server.read("down", 10)["down"]
            time.sleep(max(0.0, t_down + down - time.monotonic()))
            server.send("start")
            t_up = server.read("up", 20)["up"]
            fleet.send("up")
            fleet.send("await_resync", setup.recover_timeout)
            report = fleet.read("report", setup.recover_timeout + 30)
    row = storm_row(strategy, n, down, report, t_down, t_up, synced)
    note = setup.peer_note if strategy == "websockets" else ""
    return noted(
        row, note, report["complete"], setup, f"ws N={n} D={down:g} {strategy}: all synced"
    )


def ws_accept_then_drop(
    setup: Setup,
    misbehaviour: str,
    window: float,
    n: int,
    candidates: Sequence[float],
    default_stable: float,
    tight: float,
) -> list[AtdRow]:
    groups = atd_groups(candidates, n, default_stable)
    peer_group = {
        "label": "websockets",
        "strategy": "websockets",
        "n": n,
        "shown_stable_after": 0.0,
    }
    log = setup.scratch / f"atd-{misbehaviour}"
    with contextlib.ExitStack() as stack:
        server = stack.enter_context(
            child(setup.python, "server", {"kind": "isy"}, log.with_suffix(".server.log"))
        )
        port = server.read("up", 20)["port"]
        fleets = [
            (
                groups,
                stack.enter_context(
                    child(
                        setup.python,
                        "fleet",
                        {"kind": "ws", "port": port, "groups": groups},
                        log.with_suffix(".fleet.log"),
                    )
                ),
            )
        ]
        if setup.peer_python is not None:
            fleets.append(
                (
                    [peer_group],
                    stack.enter_context(
                        child(
                            setup.peer_python,
                            "fleet",
                            {"kind": "ws", "port": port, "groups": [peer_group]},
                            log.with_suffix(".peer.log"),
                        )
                    ),
                )
            )
        for _, fleet in fleets:
            fleet.read("synced", 60)
        time.sleep(0.5)
        for _, fleet in fleets:
            fleet.send("mark")
            fleet.read("marked", 10)
        server.send("mode", misbehaviour)
        start = server.read("mode", 10)["at"]
        server.send("dropall")
        server.read("dropped", 20)
        time.sleep(max(0.0, start + window - time.monotonic()))
        server.send("mode", "normal")
        end = server.read("mode", 10)["at"]
        behave_timeout = 15.0 if setup.quick else 30.0
        for _, fleet in fleets:
            fleet.send("await_all_live", end, behave_timeout)
        rows = []
        for fleet_groups, fleet in fleets:
            report = fleet.read("report", behave_timeout + 30)
            for group in fleet_groups:
                row = atd_row(group, report["groups"][group["label"]], start, end, tight)
                if row.all_connected_after_s is None:
                    row.note = f"not all CONNECTED within {behave_timeout:g} s"
                rows.append(row)
    if setup.peer_python is None:
        rows.append(
            AtdRow("websockets", "websockets", 0.0, 0, 0.0, 0, 0, None, False, note=setup.peer_note)
        )
    for row in rows:
        print(
            f"  atd {misbehaviour} {row.label}: {row.attempts_mean} attempts/client "
            f"(max {row.attempts_max}), back after {row.all_connected_after_s}",
            file=sys.stderr,
        )
    return rows


# -- MQTT ----------------------------------------------------------------------------------------


def mqtt_storm(setup: Setup, strategy: str, n: int, down: float) -> StormRow:
    import paho.mqtt.client as mqtt

    from trio_locksync.testing import MosquittoBroker

    directory = setup.scratch / f"mqtt-{strategy}-{n}"
    directory.mkdir(parents=True, exist_ok=True)
    # polled every 5 ms: t_up is at most that late (the tables show hundredths of a second)
    broker = MosquittoBroker(directory, extra="max_connections -1", poll_interval=0.005)
    broker.start()
    try:
        group = {"label": strategy, "strategy": strategy, "n": n}
        spec = {"kind": "mqtt", "port": broker.port, "groups": [group]}
        with child(setup.python, "fleet", spec, directory / "fleet.log") as fleet:
            synced = fleet.read("synced", 60 + n / 5)
            time.sleep(0.5)
            fleet.send("mark")
            fleet.read("marked", 10)
            broker.kill()
            t_down = time.monotonic()
            time.sleep(max(0.0, t_down + down - time.monotonic()))
            broker.start()
            t_up = time.monotonic()
            fleet.send("await_resync", setup.recover_timeout)
            publisher = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="storm-publisher")
            publisher.connect("127.0.0.1", broker.port)
            report = None
            deadline = time.monotonic() + setup.recover_timeout + 30
            while report is None and time.monotonic() < deadline:
                publisher.publish(TICK, b"tick")
                publisher.loop(timeout=0.02)
                with contextlib.suppress(TimeoutError):
                    report = fleet.read("report", 0.08)
            publisher.disconnect()
            if report is None:
                raise TimeoutError("the MQTT fleet did not report")
    finally:
        broker.stop()
    row = storm_row(strategy, n, down, report, t_down, t_up, synced)
    note = MQTT_NOTES.get(strategy, "")
    progress = f"mqtt N={n} D={down:g} {strategy}: all receiving"
    return noted(row, note, report["complete"], setup, progress)


def mqtt_accept_then_drop(
    setup: Setup, window: float, n: int, default_stable: float, tight: float
) -> list[AtdRow]:
    groups: list[dict[str, Any]] = [
        {"label": "default", "strategy": "default", "n": n, "shown_stable_after": default_stable},
        {
            "label": "default stable_after=0",
            "strategy": "default",
            "stable_after": 0.0,
            "n": n,
            "shown_stable_after": 0.0,
        },
        {"label": "seed (±10 %)", "strategy": "seed", "n": n, "shown_stable_after": default_stable},
        {
            "label": "decorrelated",
            "strategy": "decorrelated",
            "n": n,
            "shown_stable_after": default_stable,
        },
        {
            "label": "aiomqtt 3.0.0a1 formula",
            "strategy": "aiomqtt",
            "n": n,
            "shown_stable_after": 0.0,
        },
        {"label": "paho loop_forever", "strategy": "paho", "n": n, "shown_stable_after": 0.0},
    ]
    directory = setup.scratch / "mqtt-atd"
    directory.mkdir(parents=True, exist_ok=True)
    with child(setup.python, "server", {"kind": "connack"}, directory / "server.log") as server:
        port = server.read("up", 20)["port"]
        spec = {"kind": "mqtt", "port": port, "groups": groups, "subscribe": False}
        with child(setup.python, "fleet", spec, directory / "fleet.log") as fleet:
            fleet.read("started", 30)
            fleet.send("mark")
            start = fleet.read("marked", 10)["marked"]
            time.sleep(max(0.0, start + window - time.monotonic()))
            end = time.monotonic()
            fleet.send("report")
            report = fleet.read("report", 30)
    rows = [atd_row(g, report["groups"][g["label"]], start, end, tight) for g in groups]
    for row in rows:
        print(f"  mqtt atd {row.label}: {row.attempts_mean}/client", file=sys.stderr)
    return rows
