"""Reconnect storms: how a fleet of clients comes back when the server they all use goes away
and returns, by reconnect strategy, all in one run on one machine (issue 13).

Prints a Markdown report (for the README), writes the figures as JSON to
``benchmarks/results/storm_bench.json`` (``storm_bench-quick.json`` with ``--quick``) and one
PNG plot per scenario beside it (``storm_*.png``; matplotlib, the ``bench`` extra).

Processes (every figure is ``time.monotonic()``, one clock for all of them on Linux):

* the **server**: the project's ISY controller simulator (``trio_locksync.testing.isy``, a
  trio-websocket server on 127.0.0.1) with 50 nodes (a 50-frame replay on each connect) and
  heartbeats every 25 s, in a process of its own, told by this script to stop (listener closed,
  every connection cut), start again on the same port, or misbehave;
* one **fleet**: N clients of one strategy in one ``trio.run`` in a process of its own (so its
  CPU seconds and RSS are the clients' own), each counting its connection attempts (our
  streams through ``open_transport=``) and following its status; the ``websockets`` peer's fleet
  runs in another interpreter (``--peer-python``: websockets 17 cannot share a venv with
  amqtt, which pins 15);
* for MQTT, a mosquitto of our own (``trio_locksync.testing.MosquittoBroker``, SIGKILLed for
  D seconds, restarted on the same port; up when it first accepts a TCP connection, polled every
  5 ms) and a fleet of bridges or paho clients; this script publishes a QoS 0 tick every
  100 ms once the broker is back.

Scenarios:

1. **WebSocket storm** (N = 100 and 1000, each with D = 2, 10, 30 s): every strategy
   connects, the server stops for D seconds and restarts. Measured from the restart: the time
   until every client is ``CONNECTED`` again (through ``SYNCING``: 1 s without a frame after
   the replay), attempts per 100 ms (the plot), total and peak attempts, the fleet's CPU seconds
   from the stop to the last client back, and RSS per client (after the first sync, above the
   fleet process's RSS before the clients started). The **floor** is the oracle, which waits
   (inside ``open_transport``) until it is told the server is listening again and connects at
   that instant: all N handshakes and replays at once, the cost of the work itself.
2. **Accept-then-drop** (two servers: one accepting the handshake and cutting the connection at
   once; one replaying, going quiet and cutting the connection U(0, 8) s after the client went
   ``CONNECTED``), misbehaving for 30 s, then behaving: attempts per client in the 30 s for each
   strategy and each ``stable_after`` candidate, and how long until all clients are
   ``CONNECTED`` once it behaves. All groups run at once against one server (attempt counts do
   not depend on the CPU share).
3. **MQTT storm** (N = 50 and 200, D = 10 s): bridges subscribed to a topic; mosquitto killed
   and restarted; the time until every client has received a tick again; attempts. Baselines:
   paho's own ``loop_forever`` reconnect (``reconnect_delay_set(1, 120)``, no jitter, reset at
   CONNACK) and aiomqtt 3.0.0a1's delay formula ``uniform(0, 1.5**min(attempt, 10))`` starting
   over after every successful connect, run through our bridge (modelled: see the report).
   Then accept-then-drop: a fake broker that answers CONNECT with CONNACK and closes.

Strategies: ``default`` is whatever the event stream's and the bridge's ``backoff`` and
``stable_after`` default to in the package as installed (``RECONNECT_BACKOFF``: growing jitter);
``seed`` the seed's ±10 % (``Jitter.PROPORTIONAL``); ``full``/``decorrelated`` the other jitters
(same 1 s → 60 s; decorrelated was the default before growing); ``pyisy`` (0.01, 1, 10, 30,
60 s) and ``pyisyox`` (1, 2, 5, 10, 30, 60 s) fixed schedules through our stream, starting over
at ``CONNECTED`` (upstream starts over at socket-open, sooner still); ``websockets`` the peer's
own ``async for ws in connect(...)`` loop (reconnect at once after a drop, then U(0, 5 s), 3.1 s
x 1.618 up to 90 s; reset after every handshake) with the same SYNCING rule (quiet 1 s, cap
10 s) and ISY decoding layered on top.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import math
import os
import random
import select
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

import trio
import trio.lowlevel
from _harness import (
    RESULTS_DIR,
    Machine,
    bench_parser,
    describe_machine,
    machine_section,
    markdown,
    mosquitto_version,
    parse_bench_args,
    rss_kib,
    run_in_scratch,
    table,
)

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
    elif strategy == "oracle":
        # It waits inside open_transport until the server is back; a connect_timeout longer
        # than any outage here keeps that wait (and a handshake slowed by the stampede) from
        # timing out and retrying: the floor is the work, not our timeouts.
        options["backoff"] = Backoff(initial=0.001, maximum=0.001, jitter=Jitter.NONE)
        options["connect_timeout"] = 60.0
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


# -- fleet bookkeeping -------------------------------------------------------------------------


@dataclass
class Client:
    group: str
    index: int
    attempts: list[float] = field(default_factory=list)
    connected: list[float] = field(default_factory=list)
    received: list[float] = field(default_factory=list)
    live: bool = False
    resynced_at: float | None = None


class Fleet:
    """What every client of a fleet process reports into; answers the parent's commands."""

    def __init__(self, spec: dict[str, Any]) -> None:
        self.spec = spec
        self.clients: list[Client] = []
        self.mark: float | None = None
        self.mark_cpu = 0.0
        self.server_up = True
        self.up_event = trio.Event()
        self.up_event.set()
        self.first_synced = 0
        self.resynced = 0
        self.all_synced = trio.Event()
        self.all_resynced = trio.Event()
        self.rss_before = rss_kib()
        self.mqtt = spec.get("kind") == "mqtt"

    def add(self, group: str, index: int) -> Client:
        client = Client(group, index)
        self.clients.append(client)
        return client

    def attempt(self, client: Client) -> None:
        client.attempts.append(time.monotonic())

    def went_live(self, client: Client, at: float) -> None:
        client.live = True
        if not client.connected:
            self.first_synced += 1
            if self.first_synced == len(self.clients):
                self.all_synced.set()
        client.connected.append(at)
        if not self.mqtt:
            self._resync(client, at)

    def got_message(self, client: Client, at: float) -> None:
        client.received.append(at)
        self._resync(client, at)

    def _resync(self, client: Client, at: float) -> None:
        if self.mark is not None and at > self.mark and client.resynced_at is None:
            client.resynced_at = at
            self.resynced += 1
            if self.resynced == len(self.clients):
                self.all_resynced.set()

    def lost(self, client: Client) -> None:
        client.live = False

    async def wait_up(self) -> None:
        while not self.server_up:
            await self.up_event.wait()

    def do_mark(self) -> None:
        self.mark = time.monotonic()
        self.mark_cpu = cpu_seconds()
        self.resynced = 0
        self.all_resynced = trio.Event()
        for client in self.clients:
            client.resynced_at = None

    def report(self, *, complete: bool, live_at: dict[str, float] | None = None) -> dict[str, Any]:
        """Per group: each client's attempt times since the mark and its resync time."""
        mark = self.mark or 0.0
        groups: dict[str, dict[str, Any]] = {}
        for client in self.clients:
            group = groups.setdefault(client.group, {"clients": [], "resynced": [], "n": 0})
            group["n"] += 1
            group["clients"].append([round(t, 4) for t in client.attempts if t >= mark])
            group["resynced"].append(client.resynced_at)
        for label, at in (live_at or {}).items():
            groups[label]["all_live_at"] = at
        return {
            "report": True,
            "complete": complete,
            "mark": mark,
            "cpu_s": cpu_seconds() - self.mark_cpu,
            "groups": groups,
        }


async def fleet_commands(fleet: Fleet, nursery: trio.Nursery) -> None:
    async for words in stdin_commands():
        command = words[0]
        if command == "mark":
            fleet.do_mark()
            emit({"marked": fleet.mark})
        elif command == "down":
            fleet.server_up = False
            fleet.up_event = trio.Event()
        elif command == "up":
            fleet.server_up = True
            fleet.up_event.set()
        elif command == "await_resync":
            nursery.start_soon(await_resync, fleet, float(words[1]))
        elif command == "await_all_live":
            nursery.start_soon(await_all_live, fleet, float(words[1]), float(words[2]))
        elif command == "report":
            emit(fleet.report(complete=False))
        elif command == "quit":
            sys.stdout.flush()
            os._exit(0)


async def await_resync(fleet: Fleet, limit: float) -> None:
    with trio.move_on_after(limit):
        await fleet.all_resynced.wait()
    emit(fleet.report(complete=fleet.all_resynced.is_set()))


async def await_all_live(fleet: Fleet, since: float, limit: float) -> None:
    """Poll until every client of each group is CONNECTED at once (at or after ``since``);
    report when all groups got there or at the timeout."""
    deadline = time.monotonic() + limit
    groups: dict[str, list[Client]] = {}
    for client in fleet.clients:
        groups.setdefault(client.group, []).append(client)
    live_at: dict[str, float] = {}
    while time.monotonic() < deadline and len(live_at) < len(groups):
        now = time.monotonic()
        for label, clients in groups.items():
            if label not in live_at and now >= since and all(c.live for c in clients):
                live_at[label] = now
        await trio.sleep(0.05)
    emit(fleet.report(complete=len(live_at) == len(groups), live_at=live_at))


async def run_fleet(spec: dict[str, Any], client_fn: Callable[..., Any]) -> None:
    fleet = Fleet(spec)
    async with trio.open_nursery() as nursery:
        nursery.start_soon(fleet_commands, fleet, nursery)
        index = 0
        for group in spec["groups"]:
            for _ in range(group["n"]):
                client = fleet.add(group["label"], index)
                nursery.start_soon(client_fn, fleet, client, group)
                index += 1
                if index % 50 == 0:
                    await trio.lowlevel.checkpoint()
        emit({"started": time.monotonic()})
        await fleet.all_synced.wait()
        emit({"synced": time.monotonic(), "rss_kib": rss_kib(), "rss_before_kib": fleet.rss_before})


# -- websocket clients -------------------------------------------------------------------------


async def our_stream_client(fleet: Fleet, client: Client, group: dict[str, Any]) -> None:
    from trio_locksync import EventStreamStatus, open_isy_event_stream

    host, port = "127.0.0.1", fleet.spec["port"]
    oracle = group["strategy"] == "oracle"

    async def transport() -> trio.abc.Stream:
        if oracle:
            await fleet.wait_up()
        fleet.attempt(client)
        return await trio.open_tcp_stream(host, port)

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
            elif client.live:
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


# -- the parent: processes ---------------------------------------------------------------------


class Child:
    """A child process speaking JSON lines on stdout, taking commands on stdin."""

    def __init__(self, python: str, role: str, spec: dict[str, Any], log: Path) -> None:
        self.log = log
        self.process = subprocess.Popen(
            [python, __file__, "--role", role, json.dumps(spec)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=log.open("wb"),
        )
        self._buffer = b""

    def send(self, *words: object) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write((" ".join(str(w) for w in words) + "\n").encode())
        self.process.stdin.flush()

    def read(self, key: str, timeout: float) -> dict[str, Any]:
        """The next message holding ``key`` (others are skipped)."""
        assert self.process.stdout is not None
        fd = self.process.stdout.fileno()
        deadline = time.monotonic() + timeout
        while True:
            while b"\n" in self._buffer:
                line, self._buffer = self._buffer.split(b"\n", 1)
                message = json.loads(line)
                if key in message:
                    return cast(dict[str, Any], message)
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"no {key!r} within {timeout} s; log: {self.tail()}")
            readable, _, _ = select.select([fd], [], [], left)
            if readable:
                chunk = os.read(fd, 1 << 20)
                if not chunk:
                    raise RuntimeError(f"child exited; log: {self.tail()}")
                self._buffer += chunk

    def tail(self) -> str:
        with contextlib.suppress(OSError):
            return self.log.read_text(errors="replace")[-1500:]
        return ""

    def close(self) -> None:
        if self.process.poll() is None:
            with contextlib.suppress(OSError, ValueError):
                self.send("quit")
            try:
                self.process.wait(5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        for pipe in (self.process.stdin, self.process.stdout):
            if pipe is not None:
                with contextlib.suppress(OSError):
                    pipe.close()


@contextlib.contextmanager
def child(python: str, role: str, spec: dict[str, Any], log: Path) -> Iterator[Child]:
    process = Child(python, role, spec, log)
    try:
        yield process
    finally:
        process.close()


# -- the parent: measuring ---------------------------------------------------------------------


def binned(times: Sequence[float], start: float, end: float, width: float = 0.1) -> list[int]:
    count = max(1, math.ceil((end - start) / width))
    bins = [0] * count
    for t in times:
        index = int((t - start) / width)
        if 0 <= index < count:
            bins[index] += 1
    return bins


def peaks(bins: Sequence[int]) -> tuple[int, int]:
    """(most attempts in any 1 s window, most in one 100 ms bin)."""
    per_s = max((sum(bins[i : i + 10]) for i in range(max(1, len(bins) - 9))), default=0)
    return per_s, max(bins, default=0)


@dataclass
class StormRow:
    """One strategy in one storm (times in seconds from the server's restart)."""

    strategy: str
    n: int
    down_s: float
    available: bool = True
    note: str = ""
    synced: int = 0
    all_synced_s: float | None = None
    p50_synced_s: float | None = None
    ratio_to_floor: float | None = None
    total_attempts: int = 0
    attempts_per_client: float = 0.0
    max_attempts_client: int = 0
    peak_per_s: int = 0
    peak_per_100ms: int = 0
    #: most attempts in any 1 s window from the restart on (the load the server meets)
    peak_after_restart_per_s: int = 0
    cpu_s: float = 0.0
    rss_per_client_kib: float = 0.0
    #: attempts per 100 ms bin from the stop (the plot); the first bin starts ``bins_start_s``
    bins: list[int] = field(default_factory=list)
    bins_start_s: float = 0.0
    #: each client's time back, sorted (the plot)
    synced_times: list[float] = field(default_factory=list)
    #: with several rounds: every round's "all back" and ratio to that round's floor (the row's
    #: other figures are the median round's)
    rounds_all_synced_s: list[float] = field(default_factory=list)
    rounds_ratio_to_floor: list[float] = field(default_factory=list)


def storm_row(
    strategy: str,
    n: int,
    down: float,
    report: dict[str, Any],
    t_down: float,
    t_up: float,
    synced_msg: dict[str, Any],
) -> StormRow:
    group = next(iter(report["groups"].values()))
    resynced = [t for t in group["resynced"] if t is not None]
    attempts = sorted(t for client in group["clients"] for t in client)
    end = max([*resynced, *attempts, t_up + 1.0])
    bins = binned(attempts, t_down, end)
    per_s, per_100ms = peaks(bins)
    times = sorted(round(t - t_up, 3) for t in resynced)
    rss_growth = synced_msg["rss_kib"] - synced_msg["rss_before_kib"]
    return StormRow(
        strategy=strategy,
        n=n,
        down_s=down,
        synced=len(resynced),
        all_synced_s=times[-1] if len(resynced) == n else None,
        p50_synced_s=times[len(times) // 2] if times else None,
        total_attempts=len(attempts),
        attempts_per_client=len(attempts) / n,
        max_attempts_client=max((len(c) for c in group["clients"]), default=0),
        peak_per_s=per_s,
        peak_per_100ms=per_100ms,
        peak_after_restart_per_s=peaks(bins[int((t_up - t_down) / 0.1) :])[0],
        cpu_s=round(report["cpu_s"], 3),
        rss_per_client_kib=round(rss_growth / n, 1),
        bins=bins,
        bins_start_s=round(t_down - t_up, 3),
        synced_times=times,
    )


@dataclass
class Setup:
    python: str
    peer_python: str | None
    peer_note: str
    scratch: Path
    recover_timeout: float
    quick: bool


def ws_storm(setup: Setup, strategy: str, n: int, down: float) -> StormRow:
    python = setup.python
    if strategy == "websockets":
        if setup.peer_python is None:
            return StormRow(strategy, n, down, available=False, note=setup.peer_note)
        python = setup.peer_python
    log = setup.scratch / f"ws-{strategy}-{n}-{down:g}"
    with child(setup.python, "server", {"kind": "isy"}, log.with_suffix(".server.log")) as server:
        port = server.read("up", 20)["port"]
        group = {"label": strategy, "strategy": strategy, "n": n}
        spec = {"kind": "ws", "port": port, "groups": [group]}
        with child(python, "fleet", spec, log.with_suffix(".fleet.log")) as fleet:
            synced = fleet.read("synced", 60 + n / 10)
            time.sleep(0.5)
            fleet.send("mark")
            fleet.read("marked", 10)
            fleet.send("down")
            server.send("stop")
            t_down = server.read("down", 10)["down"]
            time.sleep(max(0.0, t_down + down - time.monotonic()))
            server.send("start")
            t_up = server.read("up", 20)["up"]
            fleet.send("up")
            fleet.send("await_resync", setup.recover_timeout)
            report = fleet.read("report", setup.recover_timeout + 30)
    row = storm_row(strategy, n, down, report, t_down, t_up, synced)
    note = setup.peer_note if strategy == "websockets" else ""
    return noted(
        row, note, report["complete"], setup, f"ws N={n} D={down:g} {strategy}: all synced"
    )


def noted(row: StormRow, note: str, complete: bool, setup: Setup, progress: str) -> StormRow:
    """``row`` with its note (and how many came back, if not all did), told on stderr."""
    row.note = note
    if not complete:
        missing = f"{row.synced}/{row.n} back within {setup.recover_timeout:g} s"
        row.note = f"{row.note}; {missing}" if row.note else missing
    print(
        f"  {progress} {row.all_synced_s} s, attempts {row.total_attempts}, "
        f"peak/s {row.peak_per_s}, cpu {row.cpu_s:.2f} s",
        file=sys.stderr,
    )
    return row


@dataclass
class AtdRow:
    """One group of an accept-then-drop run: attempts per client while the server misbehaved."""

    label: str
    strategy: str
    stable_after: float
    n: int
    attempts_mean: float
    attempts_max: int
    #: the most attempts of one client in the window's second half (steady state)
    late_max: int
    #: the shortest wait between two attempts of one client, in the window
    shortest_gap_s: float | None
    tight_loop: bool
    #: seconds from the server behaving again until every client of the group was CONNECTED
    all_connected_after_s: float | None = None
    note: str = ""


def atd_row(
    group: dict[str, Any], data: dict[str, Any], start: float, end: float, tight: float
) -> AtdRow:
    counts, late, gaps = [], [], []
    middle = (start + end) / 2
    for attempts in data["clients"]:
        inside = [t for t in attempts if start <= t <= end]
        counts.append(len(inside))
        late.append(sum(1 for t in inside if t >= middle))
        gaps += [b - a for a, b in itertools.pairwise(inside)]
    live_at = data.get("all_live_at")
    return AtdRow(
        label=group["label"],
        strategy=group["strategy"],
        stable_after=group["shown_stable_after"],
        n=data["n"],
        attempts_mean=round(sum(counts) / len(counts), 2),
        attempts_max=max(counts, default=0),
        shortest_gap_s=round(min(gaps), 3) if gaps else None,
        late_max=max(late, default=0),
        tight_loop=max(late, default=0) > (end - middle) / tight,
        all_connected_after_s=None if live_at is None else round(live_at - end, 2),
    )


def atd_groups(candidates: Sequence[float], n: int, default_stable: float) -> list[dict[str, Any]]:
    groups: list[dict[str, Any]] = [
        {"label": "default", "strategy": "default", "n": n, "shown_stable_after": default_stable}
    ]
    for strategy in ("default", "full", "seed", "decorrelated"):
        for stable in candidates:
            if strategy == "default" and stable == default_stable:
                continue
            groups.append(
                {
                    "label": f"{strategy} stable_after={stable:g}",
                    "strategy": strategy,
                    "stable_after": stable,
                    "shown_stable_after": stable,
                    "n": n,
                }
            )
    for strategy in ("pyisy", "pyisyox"):
        groups.append({"label": strategy, "strategy": strategy, "n": n, "shown_stable_after": 0.0})
    return groups


def ws_accept_then_drop(
    setup: Setup,
    misbehaviour: str,
    window: float,
    n: int,
    candidates: Sequence[float],
    default_stable: float,
    tight: float,
) -> list[AtdRow]:
    groups = atd_groups(candidates, n, default_stable)
    peer_group = {
        "label": "websockets",
        "strategy": "websockets",
        "n": n,
        "shown_stable_after": 0.0,
    }
    log = setup.scratch / f"atd-{misbehaviour}"
    with contextlib.ExitStack() as stack:
        server = stack.enter_context(
            child(setup.python, "server", {"kind": "isy"}, log.with_suffix(".server.log"))
        )
        port = server.read("up", 20)["port"]
        fleets = [
            (
                groups,
                stack.enter_context(
                    child(
                        setup.python,
                        "fleet",
                        {"kind": "ws", "port": port, "groups": groups},
                        log.with_suffix(".fleet.log"),
                    )
                ),
            )
        ]
        if setup.peer_python is not None:
            fleets.append(
                (
                    [peer_group],
                    stack.enter_context(
                        child(
                            setup.peer_python,
                            "fleet",
                            {"kind": "ws", "port": port, "groups": [peer_group]},
                            log.with_suffix(".peer.log"),
                        )
                    ),
                )
            )
        for _, fleet in fleets:
            fleet.read("synced", 60)
        time.sleep(0.5)
        for _, fleet in fleets:
            fleet.send("mark")
            fleet.read("marked", 10)
        server.send("mode", misbehaviour)
        start = server.read("mode", 10)["at"]
        server.send("dropall")
        server.read("dropped", 20)
        time.sleep(max(0.0, start + window - time.monotonic()))
        server.send("mode", "normal")
        end = server.read("mode", 10)["at"]
        behave_timeout = 15.0 if setup.quick else 30.0
        for _, fleet in fleets:
            fleet.send("await_all_live", end, behave_timeout)
        rows = []
        for fleet_groups, fleet in fleets:
            report = fleet.read("report", behave_timeout + 30)
            for group in fleet_groups:
                row = atd_row(group, report["groups"][group["label"]], start, end, tight)
                if row.all_connected_after_s is None:
                    row.note = f"not all CONNECTED within {behave_timeout:g} s"
                rows.append(row)
    if setup.peer_python is None:
        rows.append(
            AtdRow("websockets", "websockets", 0.0, 0, 0.0, 0, 0, None, False, note=setup.peer_note)
        )
    for row in rows:
        print(
            f"  atd {misbehaviour} {row.label}: {row.attempts_mean} attempts/client "
            f"(max {row.attempts_max}), back after {row.all_connected_after_s}",
            file=sys.stderr,
        )
    return rows


# -- MQTT ----------------------------------------------------------------------------------------


def mqtt_storm(setup: Setup, strategy: str, n: int, down: float) -> StormRow:
    import paho.mqtt.client as mqtt

    from trio_locksync.testing import MosquittoBroker

    directory = setup.scratch / f"mqtt-{strategy}-{n}"
    directory.mkdir(parents=True, exist_ok=True)
    # polled every 5 ms: t_up is at most that late (the tables show hundredths of a second)
    broker = MosquittoBroker(directory, extra="max_connections -1", poll_interval=0.005)
    broker.start()
    try:
        group = {"label": strategy, "strategy": strategy, "n": n}
        spec = {"kind": "mqtt", "port": broker.port, "groups": [group]}
        with child(setup.python, "fleet", spec, directory / "fleet.log") as fleet:
            synced = fleet.read("synced", 60 + n / 5)
            time.sleep(0.5)
            fleet.send("mark")
            fleet.read("marked", 10)
            broker.kill()
            t_down = time.monotonic()
            time.sleep(max(0.0, t_down + down - time.monotonic()))
            broker.start()
            t_up = time.monotonic()
            fleet.send("await_resync", setup.recover_timeout)
            publisher = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="storm-publisher")
            publisher.connect("127.0.0.1", broker.port)
            report = None
            deadline = time.monotonic() + setup.recover_timeout + 30
            while report is None and time.monotonic() < deadline:
                publisher.publish(TICK, b"tick")
                publisher.loop(timeout=0.02)
                with contextlib.suppress(TimeoutError):
                    report = fleet.read("report", 0.08)
            publisher.disconnect()
            if report is None:
                raise TimeoutError("the MQTT fleet did not report")
    finally:
        broker.stop()
    row = storm_row(strategy, n, down, report, t_down, t_up, synced)
    note = MQTT_NOTES.get(strategy, "")
    progress = f"mqtt N={n} D={down:g} {strategy}: all receiving"
    return noted(row, note, report["complete"], setup, progress)


def mqtt_accept_then_drop(
    setup: Setup, window: float, n: int, default_stable: float, tight: float
) -> list[AtdRow]:
    groups: list[dict[str, Any]] = [
        {"label": "default", "strategy": "default", "n": n, "shown_stable_after": default_stable},
        {
            "label": "default stable_after=0",
            "strategy": "default",
            "stable_after": 0.0,
            "n": n,
            "shown_stable_after": 0.0,
        },
        {"label": "seed (±10 %)", "strategy": "seed", "n": n, "shown_stable_after": default_stable},
        {
            "label": "decorrelated",
            "strategy": "decorrelated",
            "n": n,
            "shown_stable_after": default_stable,
        },
        {
            "label": "aiomqtt 3.0.0a1 formula",
            "strategy": "aiomqtt",
            "n": n,
            "shown_stable_after": 0.0,
        },
        {"label": "paho loop_forever", "strategy": "paho", "n": n, "shown_stable_after": 0.0},
    ]
    directory = setup.scratch / "mqtt-atd"
    directory.mkdir(parents=True, exist_ok=True)
    with child(setup.python, "server", {"kind": "connack"}, directory / "server.log") as server:
        port = server.read("up", 20)["port"]
        spec = {"kind": "mqtt", "port": port, "groups": groups, "subscribe": False}
        with child(setup.python, "fleet", spec, directory / "fleet.log") as fleet:
            fleet.read("started", 30)
            fleet.send("mark")
            start = fleet.read("marked", 10)["marked"]
            time.sleep(max(0.0, start + window - time.monotonic()))
            end = time.monotonic()
            fleet.send("report")
            report = fleet.read("report", 30)
    rows = [atd_row(g, report["groups"][g["label"]], start, end, tight) for g in groups]
    for row in rows:
        print(f"  mqtt atd {row.label}: {row.attempts_mean}/client", file=sys.stderr)
    return rows


# -- the run -----------------------------------------------------------------------------------


@dataclass
class AtdScenario:
    name: str
    misbehaviour: str
    window_s: float
    rows: list[AtdRow]


@dataclass
class Report:
    mode: str
    machine: Machine
    versions: dict[str, str]
    defaults: dict[str, str]
    peer: str
    ws_storms: list[StormRow]
    accept_then_drop: list[AtdScenario]
    mqtt_storms: list[StormRow]
    plots: list[str]
    tight_loop_rule: str
    wall_s: float = 0.0
    notes: list[str] = field(default_factory=list)


def library_defaults() -> tuple[dict[str, str], float, float, dict[str, str]]:
    """The defaults of the package as installed: described, the two ``stable_after`` values,
    and for each of the stream and the bridge which named strategy is its default backoff."""
    import inspect

    from trio_locksync import Backoff, Jitter, open_mqtt_bridge
    from trio_locksync.eventstream._options import StreamSettings

    stream = StreamSettings()
    parameters = inspect.signature(inspect.unwrap(open_mqtt_bridge)).parameters
    mqtt_stable = float(parameters["stable_after"].default)
    bridge_backoff = _bridge_default_backoff()
    same: dict[str, str] = {}
    for part, backoff in (("ws", stream.backoff), ("mqtt", bridge_backoff)):
        for name in ("seed", "full", "decorrelated"):
            if backoff == jittered(name):
                same[part] = name

    def describe(backoff: Backoff) -> str:
        spread = (
            f" ±{backoff.ratio:.0%}"
            if backoff.jitter in (Jitter.GROWING, Jitter.PROPORTIONAL)
            else ""
        )
        return (
            f"jitter {backoff.jitter.value}, {backoff.initial:g} s x{backoff.factor:g}{spread} "
            f"up to {backoff.maximum:g} s"
        )

    described = {
        "Backoff() (core: store, autolock)": describe(Backoff()),
        "event stream backoff": describe(stream.backoff),
        "event stream stable_after": f"{stream.stable_after:g} s",
        "MQTT bridge backoff": describe(bridge_backoff),
        "MQTT bridge stable_after": f"{mqtt_stable:g} s",
    }
    return described, stream.stable_after, mqtt_stable, same


def _bridge_default_backoff() -> Any:
    """The backoff ``open_mqtt_bridge`` uses when given none."""
    from trio_locksync.mqtt._open import DEFAULT_BACKOFF

    return DEFAULT_BACKOFF


def versions() -> dict[str, str]:
    from importlib.metadata import version

    found = {}
    for name in ("trio", "trio-websocket", "wsproto", "paho-mqtt", "trio-locksync"):
        with contextlib.suppress(Exception):
            found[name] = version(name)
    import trio_locksync

    found["trio_locksync imported from"] = str(Path(trio_locksync.__file__).parent)
    with contextlib.suppress(Exception):
        found["mosquitto"] = mosquitto_version()
    return found


def peer_python(requested: str | None) -> tuple[str | None, str]:
    """The interpreter for the websockets peer, and what to say about it."""
    candidate = requested or str(Path(__file__).resolve().parents[2] / "stormvenv/bin/python")
    if not os.path.exists(candidate):
        return None, f"peer not run: no interpreter at {candidate} (--peer-python)"
    probe = subprocess.run(
        [
            candidate,
            "-c",
            "import websockets, websockets.trio.client, trio_locksync; "
            "print(websockets.__version__)",
        ],
        capture_output=True,
        text=True,
    )
    if probe.returncode != 0:
        return None, f"peer not run: {candidate} lacks websockets' trio client or trio_locksync"
    found = probe.stdout.strip()
    if not found.startswith("17."):
        return None, f"peer not run: {candidate} has websockets {found}, not 17.x"
    return candidate, f"websockets {found} (trio client) in {candidate}"


def ws_rounds(
    setup: Setup, strategies: Sequence[str], n: int, down: float, rounds: int
) -> list[StormRow]:
    """One websocket storm per strategy, ``rounds`` times (strategies interleaved, so a noisy
    minute hurts every strategy of that round alike); each round's times are divided by that
    round's floor. With several rounds a strategy's row is its median round (by "all back"),
    carrying every round's "all back" and ratio, and the median ratio."""
    by_strategy: dict[str, list[StormRow]] = {strategy: [] for strategy in strategies}
    for round_ in range(rounds):
        if rounds > 1:
            print(f"  ws N={n} D={down:g}: round {round_ + 1} of {rounds}", file=sys.stderr)
        rows = [guarded(ws_storm, setup, strategy, n, down) for strategy in strategies]
        floor = next((r.all_synced_s for r in rows if r.strategy == "oracle"), None)
        for row in rows:
            if floor and row.all_synced_s is not None:
                row.ratio_to_floor = round(row.all_synced_s / floor, 2)
            by_strategy[row.strategy].append(row)
    chosen = []
    for runs in by_strategy.values():
        done = sorted(
            (r for r in runs if r.all_synced_s is not None), key=lambda r: r.all_synced_s or 0.0
        )
        if rounds == 1 or not done:
            chosen.append(runs[0])
            continue
        row = done[(len(done) - 1) // 2]
        row.rounds_all_synced_s = [r.all_synced_s or 0.0 for r in runs if r in done]
        ratios = sorted(r.ratio_to_floor for r in done if r.ratio_to_floor is not None)
        row.rounds_ratio_to_floor = [r.ratio_to_floor for r in runs if r.ratio_to_floor]
        if ratios:
            row.ratio_to_floor = ratios[(len(ratios) - 1) // 2]
        if len(done) < len(runs):
            row.note = f"{len(runs) - len(done)} of {len(runs)} rounds not all back"
        chosen.append(row)
    return chosen


def guarded(
    measure: Callable[[Setup, str, int, float], StormRow],
    setup: Setup,
    strategy: str,
    n: int,
    down: float,
) -> StormRow:
    """One storm; a failure becomes a row saying what went wrong, not the end of the run."""
    try:
        return measure(setup, strategy, n, down)
    except Exception as exc:
        print(f"  {strategy} N={n} D={down:g} failed: {exc!r}"[:2000], file=sys.stderr)
        reason = str(exc).splitlines()[0][:160] if str(exc) else ""
        return StormRow(
            strategy, n, down, available=False, note=f"failed: {type(exc).__name__} {reason}"
        )


def run(args: Any, scratch: Path) -> Report:
    from trio_locksync.testing import find_mosquitto

    began = time.monotonic()
    quick = args.quick
    defaults, stream_stable, mqtt_stable, same = library_defaults()
    peer, peer_note = peer_python(args.peer_python)
    setup = Setup(
        python=sys.executable,
        peer_python=peer,
        peer_note=peer_note,
        scratch=scratch,
        recover_timeout=20.0 if quick else 75.0,
        quick=quick,
    )
    only = set(args.only or ("ws", "atd", "mqtt"))
    strategies = list(args.strategies or WS_STRATEGIES)
    # A named strategy that is the default's very client runs once, as "default".
    if same.get("ws") in strategies:
        strategies.remove(same["ws"])
    mqtt_strategies = [name for name in MQTT_STRATEGIES if name != same.get("mqtt")]
    if quick:
        ws_plan = [(20, 2.0)]
        atd_window, atd_n, candidates = 8.0, 3, (0.0, 10.0)
        mqtt_plan = [(10, 2.0)]
        mqtt_window = 8.0
    else:
        ws_plan = [(n, d) for n in (100, 1000) for d in (2.0, 10.0, 30.0)]
        atd_window, atd_n, candidates = 30.0, 10, (0.0, 2.0, 5.0, 10.0, 30.0)
        mqtt_plan = [(50, 10.0), (200, 10.0)]
        mqtt_window = 30.0
    if args.down:
        ws_plan = [(n, d) for n, d in ws_plan if d in args.down]
    if args.n:
        ws_plan = [(n, d) for n, d in ws_plan if n in args.n]
        mqtt_plan = [(n, d) for n, d in mqtt_plan if n in args.n]
    tight = 3.0  # more than one attempt per 3 s per client, on average, is a tight loop
    ws_rows: list[StormRow] = []
    if "ws" in only:
        for n, down in ws_plan:
            rounds = args.rounds or (GOAL_ROUNDS if (n, down) == GOAL and not quick else 1)
            ws_rows += ws_rounds(setup, strategies, n, down, rounds)
    atd: list[AtdScenario] = []
    if "atd" in only:
        for name, misbehaviour in (
            ("accept, then drop at once", "drop"),
            (
                f"accept, replay, go quiet, drop U(0, {QUIETDROP_LIVE:g}) s after CONNECTED",
                "quietdrop",
            ),
        ):
            try:
                rows_atd = ws_accept_then_drop(
                    setup, misbehaviour, atd_window, atd_n, candidates, stream_stable, tight
                )
            except Exception as exc:
                print(f"  atd {misbehaviour} failed: {exc!r}"[:2000], file=sys.stderr)
                rows_atd = []
            atd.append(AtdScenario(name, misbehaviour, atd_window, rows_atd))
    mqtt_rows: list[StormRow] = []
    if "mqtt" in only and find_mosquitto() is not None:
        for n, down in mqtt_plan:
            mqtt_rows += [
                guarded(mqtt_storm, setup, strategy, n, down) for strategy in mqtt_strategies
            ]
        try:
            rows_atd = mqtt_accept_then_drop(setup, mqtt_window, atd_n, mqtt_stable, tight)
        except Exception as exc:
            print(f"  mqtt atd failed: {exc!r}"[:2000], file=sys.stderr)
            rows_atd = []
        atd.append(
            AtdScenario(
                "MQTT: a broker that closes right after CONNACK", "connack", mqtt_window, rows_atd
            )
        )
    report = Report(
        mode="quick" if quick else "full",
        machine=describe_machine(scratch),
        versions=versions(),
        defaults=defaults,
        peer=peer_note,
        ws_storms=ws_rows,
        accept_then_drop=atd,
        mqtt_storms=mqtt_rows,
        plots=[],
        tight_loop_rule=(
            f"a client still attempting more often than once per {tight:g} s in the second half "
            "of the window"
        ),
    )
    report.plots = plot(report, suffix="-quick" if quick else "")
    report.wall_s = round(time.monotonic() - began, 1)
    return report


# -- plots ---------------------------------------------------------------------------------------


def plot(report: Report, suffix: str) -> list[str]:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        report.notes.append("no plots: matplotlib is missing (the bench extra)")
        return []
    written = []

    def storm_figure(rows: list[StormRow], title: str, name: str, what: str) -> None:
        figure, (top, bottom) = plt.subplots(2, 1, figsize=(10, 7), sharex=True)
        for row in rows:
            if not row.available or not row.bins:
                continue
            xs = [row.bins_start_s + 0.1 * i for i in range(len(row.bins))]
            top.step(xs, row.bins, where="post", label=row.strategy, linewidth=1)
            if row.synced_times:
                fraction = [(i + 1) / row.n for i in range(len(row.synced_times))]
                bottom.step(row.synced_times, fraction, where="post", label=row.strategy)
        top.axvline(0, color="black", linewidth=0.8)
        bottom.axvline(0, color="black", linewidth=0.8)
        top.set_ylabel("connection attempts per 100 ms")
        top.set_yscale("symlog", linthresh=10)
        bottom.set_ylabel(f"fraction of clients {what}")
        bottom.set_xlabel("seconds since the server came back (it went down at the left edge)")
        top.set_title(title)
        top.legend(fontsize=8, ncol=4)
        bottom.legend(fontsize=8, ncol=4, loc="lower right")
        figure.tight_layout()
        path = RESULTS_DIR / f"{name}{suffix}.png"
        figure.savefig(path, dpi=90)
        plt.close(figure)
        written.append(str(path.relative_to(RESULTS_DIR.parent.parent)))

    for kind, rows_all, what in (
        ("ws", report.ws_storms, "CONNECTED again"),
        ("mqtt", report.mqtt_storms, "receiving again"),
    ):
        for n, down in sorted({(r.n, r.down_s) for r in rows_all}):
            rows = [r for r in rows_all if r.n == n and r.down_s == down]
            label = "WebSocket" if kind == "ws" else "MQTT"
            storm_figure(
                rows,
                f"{label} storm: N = {n} clients, server down {down:g} s",
                f"storm_{kind}_n{n}_d{down:g}",
                what,
            )
    for scenario in report.accept_then_drop:
        figure, axis = plt.subplots(figsize=(10, 0.32 * len(scenario.rows) + 1.5))
        labels = [row.label for row in scenario.rows]
        axis.barh(
            labels, [row.attempts_mean for row in scenario.rows], color="tab:blue", label="mean"
        )
        axis.plot(
            [row.attempts_max for row in scenario.rows], labels, "k|", markersize=12, label="max"
        )
        axis.axvline(scenario.window_s / 3.0, color="red", linewidth=0.8, label="tight-loop line")
        axis.invert_yaxis()
        axis.set_xlabel(f"connection attempts per client in {scenario.window_s:g} s")
        axis.set_title(f"Accept-then-drop: {scenario.name}", fontsize=10)
        axis.legend(fontsize=8)
        figure.tight_layout()
        path = RESULTS_DIR / f"storm_atd_{scenario.misbehaviour}{suffix}.png"
        figure.savefig(path, dpi=90)
        plt.close(figure)
        written.append(str(path.relative_to(RESULTS_DIR.parent.parent)))
    return written


# -- Markdown ------------------------------------------------------------------------------------


def _s(value: float | None, digits: int = 1) -> str:
    return "—" if value is None else f"{value:.{digits}f}"


def storm_table(rows: list[StormRow], floor_column: bool) -> list[str]:
    header = ["strategy", "all back s", "p50 s"]
    if floor_column:
        header.append("÷ floor")
    header += [
        "attempts",
        "max/client",
        "peak /s",
        "peak /100 ms",
        "peak /s after restart",
        "CPU s",
        "RSS/client",
    ]
    lines = []
    for row in rows:
        if not row.available:
            lines.append([row.strategy, row.note] + [""] * (len(header) - 2))
            continue
        every = ""
        if len(row.rounds_all_synced_s) > 1:
            every = " (" + ", ".join(f"{t:.1f}" for t in row.rounds_all_synced_s) + ")"
        cells = [
            row.strategy + (f" ({row.note})" if row.note else ""),
            _s(row.all_synced_s, 2) + every,
            _s(row.p50_synced_s, 2),
        ]
        if floor_column:
            ratios = ""
            if len(row.rounds_ratio_to_floor) > 1:
                ratios = " (" + ", ".join(f"{r:.2f}" for r in row.rounds_ratio_to_floor) + ")"
            cells.append(_s(row.ratio_to_floor, 2) + ratios)
        cells += [
            str(row.total_attempts),
            str(row.max_attempts_client),
            str(row.peak_per_s),
            str(row.peak_per_100ms),
            str(row.peak_after_restart_per_s),
            f"{row.cpu_s:.2f}",
            f"{row.rss_per_client_kib:.0f} KiB",
        ]
        lines.append(cells)
    return table(header, lines)


def render(report: Report) -> str:
    parts: list[str | Sequence[str]] = [
        f"## Reconnect storms ({report.mode} run, {report.wall_s:g} s)",
        machine_section(report.machine, filesystem=False),
        table(("Versions", ""), sorted(report.versions.items())),
        table(("Library default at this run", ""), sorted(report.defaults.items())),
        f"Peer: {report.peer}.",
    ]
    for n, down in sorted({(r.n, r.down_s) for r in report.ws_storms}):
        rows = [r for r in report.ws_storms if r.n == n and r.down_s == down]
        parts += [
            f"### WebSocket storm: N = {n}, server down {down:g} s",
            "Seconds from the restart until every client is CONNECTED (through SYNCING); "
            "÷ floor = that over the oracle's; attempts from the stop on; CPU = the fleet "
            "process's CPU seconds from the stop to the last client back."
            + (
                " Run in several rounds: the median round's figures, every round's in brackets "
                "(÷ floor against that round's oracle)."
                if any(len(r.rounds_all_synced_s) > 1 for r in rows)
                else ""
            ),
            storm_table(rows, True),
        ]
    for scenario in report.accept_then_drop:
        rows_atd = [
            [
                row.label,
                f"{row.stable_after:g}",
                f"{row.attempts_mean:.1f}",
                str(row.attempts_max),
                str(row.late_max),
                _s(row.shortest_gap_s, 2),
                "**YES**" if row.tight_loop else "no",
                _s(row.all_connected_after_s, 1) + (f" ({row.note})" if row.note else ""),
            ]
            for row in scenario.rows
        ]
        parts += [
            f"### Accept-then-drop: {scenario.name} ({scenario.window_s:g} s)",
            table(
                (
                    "group",
                    "stable_after s",
                    "attempts/client",
                    "max",
                    "max in 2nd half",
                    "shortest gap s",
                    "tight loop",
                    "all CONNECTED after it behaves, s",
                ),
                rows_atd,
            ),
        ]
    for n, down in sorted({(r.n, r.down_s) for r in report.mqtt_storms}):
        rows = [r for r in report.mqtt_storms if r.n == n and r.down_s == down]
        parts += [
            f"### MQTT storm: N = {n}, mosquitto killed for {down:g} s",
            "Seconds from mosquitto listening again until every client has received a tick "
            "(re-subscribed); attempts counted from the kill (bridges: sampled every 100 ms).",
            storm_table(rows, False),
        ]
    parts.append(f"Tight loop: {report.tight_loop_rule}.")
    if report.plots:
        parts.append([f"![{Path(p).stem}]({p})" for p in report.plots])
    parts += report.notes
    return markdown(*parts)


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["--role"]:
        role, spec = argv[1], json.loads(argv[2])
        if role == "server":
            server_main(spec)
        else:
            fleet_main(spec)
        return 0
    parser = bench_parser(__doc__, quick="N = 20, D = 2 s, short windows (about 3 min)")
    parser.add_argument(
        "--peer-python",
        help="interpreter with websockets 17 "
        "(default: ../stormvenv/bin/python beside the repository)",
    )
    parser.add_argument(
        "--only", nargs="*", choices=("ws", "atd", "mqtt"), help="run only these scenarios"
    )
    parser.add_argument(
        "--strategies",
        nargs="*",
        help="websocket strategies to run (default: all)",
    )
    parser.add_argument("--n", nargs="*", type=int, help="only these fleet sizes")
    parser.add_argument(
        "--rounds",
        type=int,
        help=f"run every websocket storm this many times and report the median round "
        f"(default: {GOAL_ROUNDS} for N = {GOAL[0]}, D = {GOAL[1]:g} s in a full run, else 1)",
    )
    parser.add_argument(
        "--down", nargs="*", type=float, help="only these outages (s) in the websocket storm"
    )
    args = parse_bench_args(parser, NAME, argv)
    return run_in_scratch(NAME, args, run, render)


if __name__ == "__main__":
    sys.exit(main())
