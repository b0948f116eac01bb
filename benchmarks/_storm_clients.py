"""The storm benchmark's clients, one per reconnect strategy, in the fleet processes: the
strategies (``backoff=`` and ``stable_after`` per name), our event stream and the
``websockets`` peer for the ISY server, our bridge and paho for MQTT, and the fleet's
``main``."""

from __future__ import annotations

import random
import time
from collections.abc import Iterator, Sequence
from typing import Any, cast

import trio
import trio.lowlevel
from _storm_common import HEARTBEAT, PYISY, PYISYOX, QUIET, TICK
from _storm_fleet import Client, Fleet, run_fleet

# -- strategies (in the fleet processes) ------------------------------------------------------


class Schedule:
    """A fixed delay schedule (the last delay repeats), shaped like ``Backoff`` for ``backoff=``."""

    def __init__(self, steps: Sequence[float]) -> None:
        self.steps = tuple(steps)

    def delays(self, rng: random.Random | None = None) -> Iterator[float]:
        yield from self.steps
        while True:
            yield self.steps[-1]


class AiomqttDelays:
    """aiomqtt 3.0.0a1's ``_reconnect_loop``: ``uniform(0, 1.5**attempt)``, attempt capped at 10."""

    def delays(self, rng: random.Random | None = None) -> Iterator[float]:
        rng = random.Random() if rng is None else rng
        attempt = 0
        while True:
            yield rng.uniform(0.0, 1.5**attempt)
            attempt = min(10, attempt + 1)


def jittered(strategy: str) -> Any:
    """``Backoff(jitter=...)`` for the strategies named after a jitter, else None."""
    from trio_locksync import Backoff, Jitter

    named = {"seed": Jitter.PROPORTIONAL, "full": Jitter.FULL, "decorrelated": Jitter.DECORRELATED}
    return Backoff(jitter=named[strategy]) if strategy in named else None


def stream_options(strategy: str, stable_after: float | None) -> dict[str, Any]:
    from trio_locksync import Backoff, Jitter

    options: dict[str, Any] = {}
    if ":" in strategy:
        # a candidate: "<jitter>:name=value,...", Backoff fields and stream options
        jitter, _, rest = strategy.partition(":")
        fields = {k: float(v) for k, v in (item.split("=") for item in rest.split(","))}
        backoff_fields = {
            k: fields.pop(k) for k in list(fields) if k in ("initial", "maximum", "factor", "ratio")
        }
        options["backoff"] = Backoff(jitter=Jitter(jitter), **backoff_fields)
        options.update(fields)
    elif strategy in ("pyisy", "pyisyox"):
        options["backoff"] = cast(Backoff, Schedule(PYISY if strategy == "pyisy" else PYISYOX))
        options["stable_after"] = 0.0
    elif strategy in ("oracle", "paced"):
        # It waits inside open_transport until the server is back; timeouts longer than any
        # outage here keep that wait (connect_timeout) and a handshake slowed by the stampede
        # (handshake_timeout) from timing out and retrying: the floor is the work, not our
        # timeouts.
        options["backoff"] = Backoff(initial=0.001, maximum=0.001, jitter=Jitter.NONE)
        options["connect_timeout"] = 60.0
        options["handshake_timeout"] = 60.0
    return strategy_options(strategy, stable_after, options)


def bridge_options(strategy: str, stable_after: float | None) -> dict[str, Any]:
    from trio_locksync import Backoff

    options: dict[str, Any] = {}
    if strategy == "aiomqtt":
        options["backoff"] = cast(Backoff, AiomqttDelays())
        options["stable_after"] = 0.0
    return strategy_options(strategy, stable_after, options)


def strategy_options(
    strategy: str, stable_after: float | None, own: dict[str, Any]
) -> dict[str, Any]:
    """``own`` (a strategy's options, empty for the others) with a named jitter's backoff;
    ``stable_after`` if given; ValueError for a strategy nobody knows."""
    options = dict(own)
    if jittered(strategy) is not None:
        options["backoff"] = jittered(strategy)
    elif not own and strategy != "default":
        raise ValueError(f"unknown strategy {strategy}")
    if stable_after is not None:
        options["stable_after"] = stable_after
    return options


# -- websocket clients -------------------------------------------------------------------------


class TracedStream(trio.abc.Stream):
    """A transport that notes in ``log`` ``[opened, closed (None while open), answered,
    reads]``: whether the server ever sent a byte (the handshake's answer), and how many reads
    returned data (a 50-frame replay read in one go, or frame by frame under load)."""

    def __init__(self, inner: trio.abc.Stream, start: float, log: list[list[Any]]) -> None:
        self.inner, self.answered = inner, False
        self.entry: list[Any] = [round(start, 4), None, False, 0]
        log.append(self.entry)

    async def send_all(self, data: bytes | bytearray | memoryview) -> None:
        await self.inner.send_all(data)

    async def wait_send_all_might_not_block(self) -> None:
        await self.inner.wait_send_all_might_not_block()

    async def receive_some(self, max_bytes: int | None = None) -> bytes | bytearray:
        data = await self.inner.receive_some(max_bytes)
        self.answered = True
        self.entry[2] = True
        self.entry[3] += 1
        return data

    async def aclose(self) -> None:
        if self.entry[1] is None:
            self.entry[1:] = [round(time.monotonic(), 4), self.answered]
        await self.inner.aclose()


async def our_stream_client(fleet: Fleet, client: Client, group: dict[str, Any]) -> None:
    from trio_locksync import EventStreamStatus, open_isy_event_stream

    host, port = "127.0.0.1", fleet.spec["port"]
    oracle = group["strategy"] == "oracle"
    paced = group["strategy"] == "paced"

    async def transport() -> trio.abc.Stream:
        if oracle:
            await fleet.wait_up()
        elif paced:
            await fleet.wait_turn(client)
        fleet.attempt(client)
        start = time.monotonic()
        return TracedStream(await trio.open_tcp_stream(host, port), start, client.sockets)

    options = stream_options(group["strategy"], group.get("stable_after"))
    async with (
        open_isy_event_stream(
            f"http://{host}:{port}", open_transport=transport, **options
        ) as stream,
        trio.open_nursery() as nursery,
    ):

        async def drain() -> None:
            async for _ in stream:
                pass

        nursery.start_soon(drain)
        async for change in stream.status_changes():
            if change.status is EventStreamStatus.CONNECTED:
                fleet.went_live(client, time.monotonic())
            else:
                if change.status is not EventStreamStatus.SYNCING:
                    why = f"{change.previous.name}->{change.status.name}: {change.detail}"
                    client.endings.append((time.monotonic(), why))
                if client.live:
                    fleet.lost(client)


async def websockets_client(fleet: Fleet, client: Client, group: dict[str, Any]) -> None:
    """The peer: websockets 17's trio client and its own reconnect loop; SYNCING and the ISY
    decoding layered on top as our stream does them."""
    from websockets.client import process_exception
    from websockets.exceptions import ConnectionClosed
    from websockets.trio.client import connect

    from trio_locksync.eventstream.isy import decode_isy_event, isy_headers

    def counting(exc: Exception) -> Exception | None:
        fleet.attempt(client)  # a failed attempt (a successful one is counted below)
        return process_exception(exc)

    url = f"ws://127.0.0.1:{fleet.spec['port']}/rest/subscribe"
    async for ws in connect(
        url,
        subprotocols=["ISYSUB"],  # type: ignore[list-item]
        additional_headers=isy_headers(),
        proxy=None,
        process_exception=counting,
    ):
        fleet.attempt(client)
        heartbeat = HEARTBEAT
        try:
            opened = trio.current_time()
            while True:  # SYNCING: until QUIET s without a frame, at most 10 s
                left = min(QUIET, opened + 10.0 - trio.current_time())
                if left <= 0:
                    break
                with trio.move_on_after(left) as scope:
                    event = decode_isy_event(await ws.recv())
                    heartbeat = event.heartbeat_interval or heartbeat
                if scope.cancelled_caught:
                    break
            fleet.went_live(client, time.monotonic())
            while True:  # live, with the heartbeat watchdog
                with trio.move_on_after(heartbeat + 2.0) as scope:
                    event = decode_isy_event(await ws.recv())
                    heartbeat = event.heartbeat_interval or heartbeat
                if scope.cancelled_caught:
                    await ws.close()
                    break
        except ConnectionClosed:
            pass
        finally:
            fleet.lost(client)


# -- MQTT clients ------------------------------------------------------------------------------


async def our_bridge_client(fleet: Fleet, client: Client, group: dict[str, Any]) -> None:
    from trio_locksync import open_mqtt_bridge

    options = bridge_options(group["strategy"], group.get("stable_after"))
    client_id = f"storm-{group['label']}-{client.index}"
    async with (
        open_mqtt_bridge("127.0.0.1", fleet.spec["port"], client_id=client_id, **options) as bridge,
        trio.open_nursery() as nursery,
    ):

        async def count_attempts() -> None:
            seen = 0
            while True:
                attempts = bridge.statistics().attempts
                now = time.monotonic()
                client.attempts.extend([now] * (attempts - seen))
                seen = attempts
                await trio.sleep(0.1)

        nursery.start_soon(count_attempts)
        if fleet.spec.get("subscribe", True):
            async with bridge.subscribe(TICK) as subscription:
                fleet.went_live(client, time.monotonic())
                async for _ in subscription:
                    fleet.got_message(client, time.monotonic())
        else:
            await trio.sleep_forever()


async def paho_client(fleet: Fleet, client: Client, group: dict[str, Any]) -> None:
    """paho-mqtt's own reconnect: ``loop_forever(retry_first_connection=True)`` in a worker
    thread, ``reconnect_delay_set(1, 120)``; callbacks hand over to trio with run_sync_soon."""
    import paho.mqtt.client as mqtt

    token = trio.lowlevel.current_trio_token()
    paho = mqtt.Client(
        mqtt.CallbackAPIVersion.VERSION2,
        client_id=f"storm-{group['label']}-{client.index}",
        protocol=mqtt.MQTTv5,
    )
    paho.reconnect_delay_set(1, 120)
    subscribe = fleet.spec.get("subscribe", True)

    def on_pre_connect(c: Any, userdata: Any) -> None:
        client.attempts.append(time.monotonic())

    def on_connect(c: Any, userdata: Any, flags: Any, reason: Any, properties: Any) -> None:
        if subscribe:
            c.subscribe(TICK)

    def on_subscribe(c: Any, userdata: Any, mid: Any, reasons: Any, properties: Any) -> None:
        token.run_sync_soon(fleet.went_live, client, time.monotonic())

    def on_message(c: Any, userdata: Any, message: Any) -> None:
        token.run_sync_soon(fleet.got_message, client, time.monotonic())

    paho.on_pre_connect = on_pre_connect
    paho.on_connect = on_connect
    paho.on_subscribe = on_subscribe
    paho.on_message = on_message
    paho.connect_async("127.0.0.1", fleet.spec["port"], keepalive=60)
    limiter = fleet.spec.setdefault("_limiter", trio.CapacityLimiter(10_000))
    await trio.to_thread.run_sync(
        lambda: paho.loop_forever(retry_first_connection=True), limiter=limiter
    )


def fleet_main(spec: dict[str, Any]) -> None:
    kind = spec["kind"]
    # Everything a client imports, imported before the fleet's baseline RSS is taken.
    import trio_locksync
    import trio_locksync.eventstream.isy  # noqa: F401

    if kind == "ws" and spec["groups"][0]["strategy"] == "websockets":
        import websockets.trio.client  # noqa: F401
    if kind == "mqtt":
        import paho.mqtt.client  # noqa: F401
    if kind == "ws":
        peer = spec["groups"][0]["strategy"] == "websockets"
        trio.run(run_fleet, spec, websockets_client if peer else our_stream_client)
    else:
        # open_mqtt_bridge runs paho's loop with trio.to_thread.run_sync on trio's default
        # limiter (40 threads): a 41st bridge in one process would never connect. Raised here
        # so a fleet of 200 can run (a finding for the bridge, reported with the results).
        trio_limit = 10_000

        async def mqtt_client(fleet: Fleet, client: Client, group: dict[str, Any]) -> None:
            if group["strategy"] == "paho":
                await paho_client(fleet, client, group)
            else:
                await our_bridge_client(fleet, client, group)

        async def with_threads(spec: dict[str, Any]) -> None:
            trio.to_thread.current_default_thread_limiter().total_tokens = trio_limit
            await run_fleet(spec, mqtt_client)

        trio.run(with_threads, spec)
    # run_fleet only returns when the parent says quit (os._exit); keep the process alive
    # otherwise: the clients are still running in the nursery.
