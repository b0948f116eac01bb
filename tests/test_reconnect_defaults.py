"""The reconnect defaults the storm benchmark chose (issue 13, ``benchmarks/storm_bench.py``):
the event stream and the MQTT bridge wait growing-jitter delays (``RECONNECT_BACKOFF``: the first
1 to 3 s, each next one 1.35 to 1.65 times the last, at most 60 s), and start them over only
after a connection stayed up ``stable_after`` = 10 s. Pinned by value and by behaviour: in
virtual time for the event stream, against a refused port in real time for the bridge (paho's
thread cannot run on a virtual clock).
"""

from __future__ import annotations

import contextlib
import inspect
import itertools
import re

import trio
import trio_websocket

from trio_locksync import (
    RECONNECT_BACKOFF,
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


def test_both_default_to_growing_jitter_and_10_s_stable_after() -> None:
    chosen = Backoff(factor=1.5, ratio=0.1, jitter=Jitter.GROWING)
    assert StreamSettings().backoff == chosen == STREAM_DEFAULT == BRIDGE_DEFAULT
    assert chosen == RECONNECT_BACKOFF
    assert (chosen.initial, chosen.maximum) == (1.0, 60.0)
    assert StreamSettings().stable_after == 10.0
    bridge_parameters = inspect.signature(inspect.unwrap(open_mqtt_bridge)).parameters
    assert bridge_parameters["stable_after"].default == 10.0
    assert bridge_parameters["backoff"].default is None  # None: DEFAULT_BACKOFF
    # The shared core's own default is untouched (store and autolock retry with it).
    assert Backoff().jitter is Jitter.FULL


def assert_growing(waits: list[float]) -> None:
    """The default's waits: the first within 1..3 s, each next one 1.35..1.65 times the last
    until the cap, then 54..60 s; so the k-th is at least min(1.35**k, 54) s, whatever the
    draws (decorrelated's and full jitter's floors do not rise)."""
    assert 1.0 <= waits[0] <= 3.0, waits
    for last, wait in itertools.pairwise(waits):
        capped = 54.0 - 1e-9 <= wait <= 60.0
        assert capped or 1.35 * last - 1e-9 <= wait <= 1.65 * last + 1e-9, waits
    for k, wait in enumerate(waits):
        assert wait >= min(1.35**k, 54.0) - 1e-9, waits


async def opened_at(count: int, handler: object, **options: object) -> list[float]:
    """When the first ``count`` sockets opened (SYNCING), default options unless given."""
    return await wshelpers.opened_at(URL, count, handler, **options)


async def accept_then_drop(peer: Peer) -> None:
    await peer.accept()
    await peer.drop()


async def test_default_delays_grow_with_every_failure_against_accept_then_drop(
    autojump_clock: object,
) -> None:
    """Against a server that accepts and drops (never CONNECTED, so never a reset): every wait
    is the last one times 1.35 to 1.65 until the 60 s cap, so no client can keep retrying
    every second or two (decorrelated jitter's floor stays at 1 s: an unlucky client did, in
    the storm benchmark). 13 sockets: the waits reach the cap."""
    opened = await opened_at(13, accept_then_drop)
    waits = [b - a for a, b in itertools.pairwise(opened)]
    assert_growing(waits)
    assert waits[-1] >= 54.0


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
    assert_growing(waits)
    resetting = await opened_at(9, replay_quiet_drop_after_3_s, stable_after=0.0)
    reset_waits = [b - a - 4.0 for a, b in itertools.pairwise(resetting)]
    assert all(1.0 <= wait <= 3.0 for wait in reset_waits), reset_waits
    assert by_default[-1] > resetting[-1]


async def test_bridge_default_first_delays_grow() -> None:
    """Against a port nobody listens on: the bridge's first two waits (from its RECONNECTING
    details, rounded to 0.1 s) are 1 to 3 s, then 1.35 to 1.65 times the first."""
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
    assert 0.95 <= delays[0] <= 3.05, delays
    assert 1.35 * delays[0] - 0.1 <= delays[1] <= 1.65 * delays[0] + 0.1, delays
