"""What every process of the reconnect-storm benchmark shares: its constants, the JSON-lines
protocol between the parent and its children (:func:`emit`, :func:`stdin_commands`), and the
entry point a child is started with (``storm_bench.py --role ...``)."""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path
from typing import Any

import trio
import trio.lowlevel

NAME = "storm_bench"
NODES = 50
HEARTBEAT = 25.0
QUIET = 1.0
PYISY = (0.01, 1.0, 10.0, 30.0, 60.0)
PYISYOX = (1.0, 2.0, 5.0, 10.0, 30.0, 60.0)
#: the replay-quiet-drop server keeps a connection uniform(0, this) s after it went CONNECTED
QUIETDROP_LIVE = 8.0
TICK = "storm/tick"
WS_STRATEGIES = (
    "oracle",
    "default",
    "seed",
    "full",
    "decorrelated",
    "pyisy",
    "pyisyox",
    "websockets",
)
MQTT_STRATEGIES = ("default", "full", "decorrelated", "aiomqtt", "paho")
#: the storm the issue's goals are set on (N = 1000, D = 10 s): run GOAL_ROUNDS times in a full
#: run, since one round's "all back" moves by seconds on a shared machine
GOAL = (1000, 10.0)
GOAL_ROUNDS = 3
MQTT_NOTES = {
    "aiomqtt": "aiomqtt 3.0.0a1's formula through our bridge (modelled)",
    "paho": "paho 2.2 loop_forever, reconnect_delay_set(1, 120)",
}


def emit(payload: dict[str, Any]) -> None:
    """One JSON line to the parent."""
    sys.stdout.write(json.dumps(payload) + "\n")
    sys.stdout.flush()


def cpu_seconds() -> float:
    return time.process_time()


async def stdin_commands() -> Any:
    """Lines from the parent, split into words."""
    stream = trio.lowlevel.FdStream(os.dup(sys.stdin.fileno()))
    buffer = b""
    while True:
        chunk = await stream.receive_some(65536)
        if not chunk:
            return
        buffer += chunk
        while b"\n" in buffer:
            line, buffer = buffer.split(b"\n", 1)
            yield line.decode().split()


#: the script a child process runs (``storm_bench.py --role server|fleet <spec>``)
ENTRY = str(Path(__file__).with_name("storm_bench.py"))
