"""The reconnect defaults the storm benchmark chose (issue 13, ``benchmarks/storm_bench.py``):
the event stream and the MQTT bridge wait decorrelated-jitter delays (each uniform between 1 s
and three times the last, at most 60 s), and start them over only after a connection stayed up
``stable_after`` = 10 s. Pinned by value and by behaviour: in virtual time for the event stream,
against a refused port in real time for the bridge (paho's thread cannot run on a virtual clock).
"""

from __future__ import annotations

import contextlib
import inspect
import itertools
import re

import trio
import trio_websocket

from trio_locksync import (
    Backoff,
    EventStreamStatus,
    Jitter,
    MqttStatus,
    open_mqtt_bridge,
)
from trio_locksync.eventstream._options import DEFAULT_BACKOFF as STREAM_DEFAULT
from trio_locksync.eventstream._options import StreamSettings
from trio_locksync.mqtt._open import DEFAULT_BACKOFF as BRIDGE_DEFAULT

from . import wshelpers
from .brokerhelpers import free_port
from .wshelpers import Peer, isy_replay

URL = "ws://isy.test/rest/subscribe"
S = EventStreamStatus


def test_both_default_to_decorrelated_jitter_and_10_s_stable_after() -> None:
    chosen = Backoff(jitter=Jitter.DECORRELATED)
    assert StreamSettings().backoff == chosen == STREAM_DEFAULT == BRIDGE_DEFAULT
    assert (chosen.initial, chosen.maximum) == (1.0, 60.0)
    assert StreamSettings().stable_after == 10.0
    bridge_parameters = inspect.signature(inspect.unwrap(open_mqtt_bridge)).parameters
    assert bridge_parameters["stable_after"].default == 10.0
    assert bridge_parameters["backoff"].default is None  # None: DEFAULT_BACKOFF
    # The shared core's own default is untouched (store and autolock retry with it).
    assert Backoff().jitter is Jitter.FULL


async def opened_at(count: int, handler: object, **options: object) -> list[float]:
    """When the first ``count`` sockets opened (SYNCING), default options unless given."""
    return await wshelpers.opened_at(URL, count, handler, **options)


async def accept_then_drop(peer: Peer) -> None:
    await peer.accept()
    await peer.drop()


async def test_default_delays_are_decorrelated_never_under_1_s_nor_over_3x_the_last(
    autojump_clock: object,
) -> None:
    """Against a server that accepts and drops (never CONNECTED, so never a reset): every wait
    is at least 1 s (full jitter's first one is under 1 s) and at most three times the one
    before and 60 s. (That they grow is only likely, not certain: each delay is drawn from
    U(1 s, 3x the last), so a run of low draws can stay near 1 to 3 s; no assertion on it.)"""
    opened = await opened_at(13, accept_then_drop)
    gaps = [b - a for a, b in itertools.pairwise(opened)]
    assert all(1.0 <= gap <= 60.0 for gap in gaps), gaps
    assert all(b <= 3.0 * a + 1e-9 for a, b in itertools.pairwise(gaps)), gaps


async def replay_quiet_drop_after_3_s(peer: Peer) -> None:
    """Accept, replay, go quiet (CONNECTED at +1.0), drop 3 s later (at +4.0)."""
    await peer.accept()
    with contextlib.suppress(trio_websocket.ConnectionClosed):
        await peer.send(*isy_replay(5))
    await trio.sleep(4.0)
    await peer.drop()


async def test_default_reset_rule_a_connection_live_3_s_proves_nothing(
    autojump_clock: object,
) -> None:
    """The storm benchmark's replay-quiet-drop server: with the defaults a connection that was
    CONNECTED for 3 s does not start the delays over, so the waits between connections keep
    growing (every wait > 1 s, the last ones long); with ``stable_after=0`` (reset at CONNECTED)
    every wait is the first delay again: 1 to 3 s, forever."""
    by_default = await opened_at(9, replay_quiet_drop_after_3_s)
    waits = [b - a - 4.0 for a, b in itertools.pairwise(by_default)]
    assert all(1.0 <= wait <= 60.0 for wait in waits), waits
    assert all(b <= 3.0 * a + 1e-9 for a, b in itertools.pairwise(waits)), waits
    resetting = await opened_at(9, replay_quiet_drop_after_3_s, stable_after=0.0)
    reset_waits = [b - a - 4.0 for a, b in itertools.pairwise(resetting)]
    assert all(1.0 <= wait <= 3.0 for wait in reset_waits), reset_waits
    assert by_default[-1] > resetting[-1]


async def test_bridge_default_first_delays_are_decorrelated() -> None:
    """Against a port nobody listens on: the bridge's first two waits (from its RECONNECTING
    details) are at least 1 s, and the second at most three times the first."""
    delays: list[float] = []
    with trio.fail_after(30):
        async with open_mqtt_bridge("127.0.0.1", free_port(), connect_timeout=2.0) as bridge:
            async for change in bridge.status_changes():
                if change.status is MqttStatus.RECONNECTING:
                    found = re.search(r"next attempt in ([0-9.]+) s", change.detail)
                    assert found is not None, change.detail
                    delays.append(float(found.group(1)))
                    if len(delays) == 2:
                        break
    assert all(delay >= 1.0 for delay in delays), delays
    assert delays[1] <= 3.0 * delays[0] + 0.15, delays
