"""The connect and the handshake each have their own timeout, in every reconnecting client: a
server that opened the socket and has not answered yet is given ``handshake_timeout`` (30 s by
default), not ``connect_timeout`` (10 s). In a reconnect storm the server answers in turn; a
client cut off at 10 s only went to the back of the queue (docs: "Reconnect storms").

Real sockets on the real clock: a loopback server that accepts and never answers. The cut is
timed from the server's accept to the status change's own time stamp, so a loaded machine's
scheduling delays do not count against it. The event stream's two phases are tested in virtual
time in tests/test_eventstream.py.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import pytest
import trio

from trio_locksync import Backoff, Jitter
from trio_locksync.mqtt import MqttStatus, open_mqtt_bridge
from trio_locksync.providers.zwave_js import ZWaveJsStatus, open_zwave_js

#: one attempt is all these tests watch
SLOW = Backoff(initial=60.0, maximum=60.0, jitter=Jitter.NONE)
#: the socket opens at once on loopback; the handshake is given longer than this
CONNECT = 1.0
HANDSHAKE = 3.0
#: the cut comes this late at most after the deadline (a loaded CI machine)
SLACK = 2.0


class MuteServer:
    """Accepts, reads what comes, never answers; notes when it accepted."""

    def __init__(self) -> None:
        self.accepted: list[float] = []
        self.first = trio.Event()

    async def handle(self, stream: trio.SocketStream) -> None:
        self.accepted.append(trio.current_time())
        self.first.set()
        async with stream:
            while await stream.receive_some(65536):
                pass

    async def port(self, nursery: trio.Nursery) -> int:
        serve = functools.partial(trio.serve_tcp, host="127.0.0.1")
        listeners = await nursery.start(serve, self.handle, 0)
        return int(listeners[0].socket.getsockname()[1])


async def first_cut(
    open_client: Callable[[int], Any], retrying: object, connecting: object
) -> tuple[float, str]:
    """Seconds from the mute server's accept to the client's first retry (the change's own
    time stamp), and its detail; the client is still connecting past ``connect_timeout``."""
    server = MuteServer()
    async with trio.open_nursery() as nursery:
        port = await server.port(nursery)
        with trio.fail_after(CONNECT + HANDSHAKE + 20):
            async with open_client(port) as client:
                changes = client.status_changes()
                await server.first.wait()
                await trio.sleep_until(server.accepted[0] + CONNECT + 0.5)
                assert client.status is connecting  # not cut at connect_timeout
                async for change in changes:
                    if change.status is retrying:
                        break
                else:
                    raise AssertionError("the status changes ended")
        nursery.cancel_scope.cancel()
    return change.at - server.accepted[0], str(change.detail)


@pytest.mark.parametrize("keepalive", [60, 1])
async def test_the_mqtt_bridge_waits_handshake_timeout_for_the_connack(keepalive: int) -> None:
    """Also with a ``keepalive`` shorter than the wait: paho closes a socket silent for
    ``keepalive`` s, also before the CONNACK, so the bridge keeps that check off until the
    CONNACK (else: cut at 1 s, "connection closed before CONNACK")."""
    took, detail = await first_cut(
        lambda port: open_mqtt_bridge(
            "127.0.0.1",
            port,
            backoff=SLOW,
            keepalive=keepalive,
            connect_timeout=CONNECT,
            handshake_timeout=HANDSHAKE,
        ),
        MqttStatus.RECONNECTING,
        MqttStatus.CONNECTING,
    )
    assert detail.startswith(f"no CONNACK within {HANDSHAKE:g} s"), detail
    assert HANDSHAKE <= took < HANDSHAKE + SLACK, took


async def test_the_zwave_js_client_waits_handshake_timeout_for_the_server() -> None:
    took, detail = await first_cut(
        lambda port: open_zwave_js(
            f"ws://127.0.0.1:{port}",
            backoff=SLOW,
            connect_timeout=CONNECT,
            handshake_timeout=HANDSHAKE,
        ),
        ZWaveJsStatus.RECONNECTING,
        ZWaveJsStatus.CONNECTING,
    )
    assert detail.startswith(f"no handshake within {HANDSHAKE:g} s"), detail
    assert HANDSHAKE <= took < HANDSHAKE + SLACK, took


@pytest.mark.parametrize("opener", ["mqtt", "zwave_js"])
@pytest.mark.parametrize("bad", [0.0, -1.0, float("inf"), float("nan")])
async def test_a_bad_handshake_timeout_is_refused_before_anything_starts(
    opener: str, bad: float
) -> None:
    """Refused as the block is entered, before its first checkpoint (no task, no thread)."""
    if opener == "mqtt":
        block = open_mqtt_bridge("127.0.0.1", 1, handshake_timeout=bad)
    else:
        block = open_zwave_js("ws://127.0.0.1:1", handshake_timeout=bad)
    entering = block.__aenter__()
    with pytest.raises(ValueError, match="handshake_timeout"):
        entering.send(None)  # runs up to the first checkpoint: the check is before it
