"""The storm benchmark's servers, each in a process of its own: the ISY controller simulator
(stopped, restarted, misbehaving on command) and a fake MQTT broker that answers CONNECT with
CONNACK and closes."""

from __future__ import annotations

import contextlib
import random
import time
from typing import Any

import trio
import trio.lowlevel
from _storm_common import HEARTBEAT, NODES, QUIET, QUIETDROP_LIVE, emit, stdin_commands

# -- the servers (in their own process) -------------------------------------------------------


async def isy_server(spec: dict[str, Any]) -> None:
    from trio_locksync.testing.isy import IsyController, IsySubscriber

    mode = {"now": "normal"}

    async def quiet_then_drop(subscriber: IsySubscriber) -> None:
        await trio.sleep(QUIET + random.uniform(0.0, QUIETDROP_LIVE))
        if mode["now"] == "quietdrop":
            await subscriber.drop()

    nodes = {f"ZW{i:03d}_1": (i * 7) % 101 for i in range(NODES)}
    controller = IsyController(nodes, heartbeat=HEARTBEAT, port=spec.get("port", 0))
    async with trio.open_nursery() as nursery:
        await nursery.start(controller.serve)
        emit({"up": time.monotonic(), "port": controller.port})
        async for words in stdin_commands():
            command = words[0]
            if command == "stop":
                controller.stop()
                emit({"down": time.monotonic()})
            elif command == "start":
                await controller.start()
                emit({"up": time.monotonic()})
            elif command == "mode":
                mode["now"] = words[1]
                controller.drop_after_handshake = words[1] == "drop"
                controller.on_subscribe = quiet_then_drop if words[1] == "quietdrop" else None
                emit({"mode": words[1], "at": time.monotonic()})
            elif command == "dropall":
                await controller.drop_all()
                emit({"dropped": time.monotonic()})
            elif command == "quit":
                nursery.cancel_scope.cancel()
                return


async def connack_then_close_broker(spec: dict[str, Any]) -> None:
    """A fake MQTT broker: reads CONNECT, answers CONNACK (accepted), closes the connection."""

    async def handle(stream: trio.abc.Stream) -> None:
        with trio.move_on_after(5), contextlib.suppress(trio.BrokenResourceError, OSError):
            data = await stream.receive_some(65536)
            # protocol level is after fixed header, remaining length, and "\0\4MQTT"
            level = 5
            if data and data[0] >> 4 == 1:
                index = 1
                while data[index] & 0x80:
                    index += 1
                level = data[index + 1 + 6] if len(data) > index + 7 else 5
            await stream.send_all(b"\x20\x03\x00\x00\x00" if level == 5 else b"\x20\x02\x00\x00")
        await trio.aclose_forcefully(stream)

    listeners = await trio.open_tcp_listeners(0, host="127.0.0.1")
    emit({"up": time.monotonic(), "port": listeners[0].socket.getsockname()[1]})
    async with trio.open_nursery() as nursery:
        nursery.start_soon(trio.serve_listeners, handle, listeners)
        async for words in stdin_commands():
            if words[0] == "quit":
                nursery.cancel_scope.cancel()


def server_main(spec: dict[str, Any]) -> None:
    trio.run(isy_server if spec["kind"] == "isy" else connack_then_close_broker, spec)
