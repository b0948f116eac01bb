"""The Z-Wave JS benchmark's independent witnesses: what the zwave-js driver itself counts
(node ``statistics``: ``commandsTX`` is every command the controller sent to the node, with
the driver's own follow-ups), read over a bare websocket of its own (not the library's client),
and the CPU time of the node processes (``/proc/<pid>/stat``)."""

from __future__ import annotations

import json
import os
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import trio
from trio_websocket import open_websocket_url

#: dumps of big networks reach MBs
_MAX_MESSAGE = 64 * 2**20


@dataclass(frozen=True)
class ServerVersions:
    """What the running server says it is (its version frame), and the node that runs it."""

    server: str
    driver: str
    node: str


class DriverCounts:
    """Per node, the driver's latest ``statistics`` (from the dump, then ``statistics updated``
    events), and the server's version frame."""

    def __init__(self) -> None:
        self.stats: dict[int, dict[str, int]] = {}
        self.version: dict[str, Any] = {}
        self.listening = trio.Event()

    def commands_tx(self, node: int) -> int:
        return int(self.stats.get(node, {}).get("commandsTX", 0))

    def total(self, nodes: list[int], key: str) -> int:
        return sum(int(self.stats.get(n, {}).get(key, 0)) for n in nodes)

    async def follow(self, url: str) -> None:
        """Connect (version, initialize at the server's max schema, start_listening) and keep
        the statistics up to date until cancelled."""
        async with open_websocket_url(url, max_message_size=_MAX_MESSAGE) as ws:
            self.version = json.loads(await ws.get_message())
            schema = int(self.version["maxSchemaVersion"])
            await ws.send_message(
                json.dumps({"messageId": "i", "command": "initialize", "schemaVersion": schema})
            )
            await ws.send_message(json.dumps({"messageId": "l", "command": "start_listening"}))
            while True:
                frame = json.loads(await ws.get_message())
                if frame.get("type") == "result" and frame.get("messageId") == "l":
                    for node in frame["result"]["state"]["nodes"]:
                        self.stats[node["nodeId"]] = dict(node.get("statistics") or {})
                    self.listening.set()
                event = frame.get("event", {}) if frame.get("type") == "event" else {}
                if event.get("source") == "node" and event.get("event") == "statistics updated":
                    self.stats[event["nodeId"]] = dict(event.get("statistics") or {})


def process_cpu_s(pids: tuple[int, ...]) -> float:
    """User + system CPU seconds of the processes and their waited-for children so far."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        # after the ")": state is field 3; utime 14, stime 15, cutime 16, cstime 17
        total += sum(int(fields[i - 3]) for i in (14, 15, 16, 17))
    return total / tick


def node_version(node: str) -> str:
    try:
        done = subprocess.run([node, "--version"], capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return done.stdout.strip() or "unknown"
