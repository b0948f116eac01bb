"""The connect and the handshake each have their own timeout, in every reconnecting client: a
server that opened the socket and has not answered yet is given ``handshake_timeout`` (30 s by
default), not ``connect_timeout`` (10 s). In a reconnect storm the server answers in turn; a
client cut off at 10 s only went to the back of the queue (docs: "Reconnect storms").

Real sockets on the real clock (short timeouts): a loopback server that accepts and never
answers. The event stream's two phases are tested in virtual time in tests/test_eventstream.py.
"""

from __future__ import annotations

import functools
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
import trio

from trio_locksync import Backoff, Jitter
from trio_locksync.mqtt import MqttStatus, open_mqtt_bridge
from trio_locksync.providers.zwave_js import ZWaveJsStatus, open_zwave_js

#: one attempt is all these tests watch
SLOW = Backoff(initial=60.0, maximum=60.0, jitter=Jitter.NONE)
#: the socket opens at once on loopback; the handshake gets longer than this to be cut
CONNECT = 0.3
HANDSHAKE = 1.5


async def mute(stream: trio.SocketStream) -> None:
    """Accepts, reads what comes, never answers."""
    async with stream:
        while await stream.receive_some(65536):
            pass


async def mute_port(nursery: trio.Nursery) -> int:
    listeners = await nursery.start(functools.partial(trio.serve_tcp, host="127.0.0.1"), mute, 0)
    return int(listeners[0].socket.getsockname()[1])


async def first_retry(changes: AsyncIterator[Any], retrying: object) -> tuple[float, str]:
    """The time and detail of the first change to ``retrying``."""
    async for change in changes:
        if change.status is retrying:
            return trio.current_time(), str(change.detail)
    raise AssertionError("the status changes ended")


async def cut_after(
    open_client: Callable[[int], Any], retrying: object, connecting: object
) -> tuple[float, str]:
    """Seconds from the client's start to its first retry against a mute server, its detail;
    still connecting past ``connect_timeout``."""
    async with trio.open_nursery() as nursery:
        port = await mute_port(nursery)
        start = trio.current_time()
        with trio.fail_after(HANDSHAKE + 10):
            async with open_client(port) as client:
                changes = client.status_changes()
                await trio.sleep(CONNECT * 3)
                assert client.status is connecting  # not cut at connect_timeout
                at, detail = await first_retry(changes, retrying)
        nursery.cancel_scope.cancel()
    return at - start, detail


async def test_the_mqtt_bridge_waits_handshake_timeout_for_the_connack() -> None:
    pytest.importorskip("paho.mqtt")
    took, detail = await cut_after(
        lambda port: open_mqtt_bridge(
            "127.0.0.1",
            port,
            backoff=SLOW,
            connect_timeout=CONNECT,
            handshake_timeout=HANDSHAKE,
        ),
        MqttStatus.RECONNECTING,
        MqttStatus.CONNECTING,
    )
    assert detail.startswith(f"no CONNACK within {HANDSHAKE:g} s"), detail
    assert HANDSHAKE <= took < HANDSHAKE + 1.0, took


async def test_the_zwave_js_client_waits_handshake_timeout_for_the_server() -> None:
    took, detail = await cut_after(
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
    assert HANDSHAKE <= took < HANDSHAKE + 1.0, took


@pytest.mark.parametrize("opener", ["mqtt", "zwave_js"])
@pytest.mark.parametrize("bad", [0.0, -1.0, float("inf"), float("nan")])
async def test_a_bad_handshake_timeout_is_refused_before_anything_starts(
    opener: str, bad: float
) -> None:
    with pytest.raises(ValueError, match="handshake_timeout"):
        if opener == "mqtt":
            async with open_mqtt_bridge("127.0.0.1", 1, handshake_timeout=bad):
                pass
        else:
            async with open_zwave_js("ws://127.0.0.1:1", handshake_timeout=bad):
                pass
