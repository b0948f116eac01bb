"""The tests' side of the Z-Wave JS Server launcher (``trio_locksync.testing.zwave_js``): the
skip marker for machines without node >= 20, the server fixtures, and a bare websocket client
for assertions on what the real server sends (no dependency on the library's own client).

Start-up measured here: about 4 s until the server listens and about 10 s until the mock locks
are interviewed (a fresh storage cache each start); a restart with ``keep_cache=True`` listens
in about 3 s with every node ready. Every test gets a server of its own (``zwave_server``), owned
by the test's trio run: no thread, nothing shared between tests."""

from __future__ import annotations

import json
import os
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
from trio_websocket import WebSocketConnection, open_websocket_url

from trio_locksync.testing.zwave_js import (
    ZWaveJsServer,
    ZWaveJsUnavailable,
    find_node,
    open_zwave_js_server,
)

__all__ = [
    "Listener",
    "listening",
    "needs_node",
    "node_children",
    "zwave_server",
]


def _node_missing() -> str | None:
    try:
        find_node()
    except ZWaveJsUnavailable as exc:
        return str(exc)
    return None


_MISSING = _node_missing()
needs_node = pytest.mark.skipif(
    _MISSING is not None, reason=f"the real Z-Wave JS Server cannot run here: {_MISSING}"
)

#: seconds the fixtures give the install (once), the start and the interview
START_BUDGET = 240.0


@pytest.fixture
async def zwave_server() -> AsyncIterator[ZWaveJsServer]:
    """A server of the test's own, its mock locks interviewed (battery lock asleep)."""
    async with open_zwave_js_server() as server:
        await server.wait_nodes_ready()
        yield server


class Listener:
    """A bare Z-Wave JS Server client: the version frame, the dump, commands and events."""

    def __init__(self, ws: WebSocketConnection, version: dict[str, Any]) -> None:
        self.ws = ws
        self.version = version
        self.state: dict[str, Any] = {}
        self.events: list[dict[str, Any]] = []
        self._ids = 0

    async def command(self, command: str, **args: object) -> dict[str, Any]:
        """Send one command; its result frame (events read meanwhile are kept)."""
        self._ids += 1
        message_id = f"t{self._ids}"
        await self.ws.send_message(
            json.dumps({"messageId": message_id, "command": command, **args})
        )
        while True:
            frame: dict[str, Any] = json.loads(await self.ws.get_message())
            if frame.get("type") == "result" and frame.get("messageId") == message_id:
                return frame
            if frame.get("type") == "event":
                self.events.append(frame["event"])

    async def event(self, match: Callable[[dict[str, Any]], bool]) -> dict[str, Any]:
        """The first event (kept or next) that ``match`` accepts."""
        for event in self.events:
            if match(event):
                self.events.remove(event)
                return event
        while True:
            frame = json.loads(await self.ws.get_message())
            if frame.get("type") == "event":
                if match(frame["event"]):
                    return dict(frame["event"])
                self.events.append(frame["event"])


@asynccontextmanager
async def listening(url: str) -> AsyncIterator[Listener]:
    """Connected, initialized at the server's highest schema, and listening (the dump in
    ``state``)."""
    async with open_websocket_url(url, max_message_size=64 * 2**20) as ws:
        listener = Listener(ws, json.loads(await ws.get_message()))
        schema = listener.version["maxSchemaVersion"]
        assert (await listener.command("initialize", schemaVersion=schema))["success"]
        frame = await listener.command("start_listening")
        listener.state = frame["result"]["state"]
        yield listener


def node_children() -> list[int]:
    """Pids of the node processes whose parent is this test process."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            cmdline = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        ppid = int(stat.rpartition(")")[2].split()[1])
        if ppid == os.getpid() and b"node" in cmdline.split(b"\0")[0]:
            found.append(int(entry.name))
    return found
