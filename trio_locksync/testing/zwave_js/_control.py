"""The launcher's two small clients: HTTP/1.0 to the mock's control port (``locks.cjs``), and a
websocket to the server that waits until the driver has interviewed the mock nodes."""

from __future__ import annotations

import json
import urllib.parse
from collections.abc import Mapping
from typing import Any, final

import trio
from trio_websocket import open_websocket_url

from ...core import LockSyncError

__all__ = ["MockControlError", "control_request", "wait_interviewed"]

#: schema the readiness check speaks (the dump's node fields are the same from 0 up)
_SCHEMA = 50
#: dumps of big networks reach MBs (trio-websocket's default limit is 1 MiB)
_MAX_MESSAGE = 64 * 2**20


@final
class MockControlError(LockSyncError, RuntimeError):
    """The mock's control port refused a request (no such node, a dead node asked to act at
    the door, ...) or could not be reached; says which request and why (never a code)."""


async def control_request(
    port: int,
    method: str,
    path: str,
    query: Mapping[str, object],
    body: str = "",
) -> dict[str, Any]:
    """One HTTP/1.0 request to ``127.0.0.1:port``; the JSON answer. ``body`` (a PIN, for
    ``/program``) travels in the request body, never in the URL."""
    target = f"{path}?{urllib.parse.urlencode({k: str(v) for k, v in query.items()})}"
    payload = body.encode()
    request = (
        f"{method} {target} HTTP/1.0\r\nHost: 127.0.0.1\r\nContent-Length: {len(payload)}\r\n\r\n"
    ).encode() + payload
    try:
        stream = await trio.open_tcp_stream("127.0.0.1", port)
        async with stream:
            await stream.send_all(request)
            chunks = []
            while chunk := await stream.receive_some():
                chunks.append(chunk)
    except OSError as exc:
        raise MockControlError(
            f"{method} {path}: control port {port} unreachable: {exc!r}"
        ) from None
    head, _, answer = b"".join(chunks).partition(b"\r\n\r\n")
    status = head.split(b" ", 2)[1:2]
    try:
        decoded: dict[str, Any] = json.loads(answer)
    except ValueError:
        decoded = {"error": answer.decode(errors="replace").strip()}
    if status != [b"200"]:
        raise MockControlError(f"{method} {path} {dict(query)}: {decoded.get('error', status)}")
    return decoded


async def _command(ws: Any, message_id: str, command: str, **args: object) -> dict[str, Any]:
    await ws.send_message(json.dumps({"messageId": message_id, "command": command, **args}))
    while True:
        frame: dict[str, Any] = json.loads(await ws.get_message())
        if frame.get("type") == "result" and frame.get("messageId") == message_id:
            if not frame.get("success"):
                raise LockSyncError(f"{command} failed: {frame}")
            result: dict[str, Any] = frame.get("result") or {}
            return result


async def wait_interviewed(
    url: str, ready: frozenset[int], asleep_or_ready: frozenset[int], status: list[str]
) -> None:
    """Connect to the server at ``url`` (handshake: version, initialize, start_listening) and
    return once every node in ``ready`` is ``ready`` and every node in ``asleep_or_ready`` is
    ready or asleep (status 1), from the dump and then the node ``ready``/``sleep`` events
    (/work/shared/zwave_js.md §1.3; zwave-js-server src/lib/forward.ts:388-407).
    ``status[0]`` says what is still awaited, for the caller's timeout message."""
    done: set[int] = set()
    asleep: set[int] = set()

    def pending() -> list[int]:
        missing = [n for n in sorted(ready) if n not in done]
        missing += [n for n in sorted(asleep_or_ready) if n not in done and n not in asleep]
        status[0] = f"nodes not yet interviewed: {missing}"
        return missing

    async with open_websocket_url(url, max_message_size=_MAX_MESSAGE) as ws:
        version = json.loads(await ws.get_message())
        schema = min(int(version["maxSchemaVersion"]), _SCHEMA)
        await _command(ws, "ready-init", "initialize", schemaVersion=schema)
        state = (await _command(ws, "ready-listen", "start_listening"))["state"]
        for node in state["nodes"]:
            if node.get("ready"):
                done.add(node["nodeId"])
            elif node.get("status") == 1:
                asleep.add(node["nodeId"])
        while pending():
            frame = json.loads(await ws.get_message())
            event = frame.get("event", {}) if frame.get("type") == "event" else {}
            if event.get("source") != "node":
                continue
            if event.get("event") == "ready":
                done.add(event["nodeId"])
            elif event.get("event") == "sleep":
                asleep.add(event["nodeId"])
