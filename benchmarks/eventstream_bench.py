"""Benchmark of ``trio_locksync.eventstream``: replay throughput, live latency, memory per
buffered event, and keepalive under a slow consumer, against a real websocket server.

Prints a Markdown report (for the README) and writes the same figures as JSON to
``benchmarks/results/eventstream_bench.json`` (``eventstream_bench-quick.json`` with
``--quick``).

Everything runs on the real clock over real TCP sockets: the project's ISY controller
simulator (``trio_locksync.testing.isy.IsyController``, a trio-websocket server on 127.0.0.1, an
ephemeral port, accepting the ``ISYSUB`` subprotocol when asked; no nodes, no heartbeat, so it
sends nothing of its own) and the client, in the **same** ``trio.run``. Each run's server side
is the controller's ``on_subscribe`` hook, which sends straight on the subscriber's ``ws``
(``send_message``, not the simulator's live queue, so no task hop is timed). Client and server
share one CPU thread, so every figure is a lower bound on what a client alone achieves: the
server's framing and sending (wsproto) is charged to the same CPU and competes for the same
thread. ISY frames are ``isy_status_frame``'s ``<?xml ...?><Event seqnum=... sid=...>
<control>ST</control><action uom=... prec=...>...</action><node>...</node><eventInfo>
</eventInfo></Event>`` (about 170 characters), built before any measurement starts. Client
options are the defaults except ``quiet=0.2`` and ``buffer_size`` = the frames of the run
(nothing can be dropped).

What is measured, and how:

1. **Replay throughput**. Right after accepting, the server sends ``--frames`` (50,000; 5,000
   quick) ISY ``<Event>`` frames as fast as ``send_message`` goes; the consumer ``receive()`` s
   all of them. *Frames/s*: (N - 1) over the time from the first frame's ``received_at`` to
   the last one's (when the stream read them off the socket). *CPU µs/frame*:
   ``time.process_time()`` from just before the server's first send to the consumer getting
   the last event, divided by N (client *and* server work). Checked: ``statistics().dropped
   == 0``, ``connections == 1``, every event in order; also how many events came flagged
   ``replayed`` (a replay longer than ``cap``, 10 s by default, is promoted to ``CONNECTED``
   while it is still arriving, and the rest comes flagged live). Four clients:
   ``open_isy_event_stream`` (XML decoded into ``IsyEvent``), ``open_event_stream`` with the
   default text decoder (no parse: the difference is the decode cost), trio-websocket's client
   calling ``decode_isy_event`` on each message (the decode without the stream), and **the
   limit**:
   trio-websocket's own client calling ``get_message()`` N times on the same frames from the
   same server (no event stream; its frames/s is timed from the first ``get_message()`` return
   to the last). ``--rounds`` interleaved rounds (5; quick 3): each round runs every client
   once, the order rotating, each in a fresh ``trio.run``; a client's *share of the limit* is
   its frames/s over the limit's in the same round (median and range over rounds), and its
   *CPU share* the limit's CPU time over its own (median).
2. **Live latency**. Once the client is ``CONNECTED`` (``wait_status``), the server sends
   ``--latency-frames`` (2,000; 500 quick) frames one at a time, sleeping 1 ms between them,
   each carrying ``trio.current_time()`` taken just before its ``send_message`` in its
   ``<node>``. The consumer waits in ``receive()`` and computes two latencies per frame:
   ``StreamEvent.received_at`` minus the send time (socket to buffer), and the trio time when
   ``receive()`` returned minus the send time (what the consumer sees). p50/p99/max in ms,
   nearest-rank. Both ends read the same clock.
3. **Memory per buffered event**. The consumer does not read. Once the socket is open
   (``SYNCING``) and the server is holding its frames back, ``gc.collect()`` and
   ``tracemalloc``'s traced size are taken; the server then replays ``--frames`` frames, the
   benchmark waits until ``statistics().buffered`` is N, collects again and takes the size
   again. The difference over N is what one buffered event costs: the ``StreamEvent``, its
   decoded data (the ``IsyEvent`` and its strings, or the frame's ``str`` for the text
   decoder) and its share of the buffer's deque. Tracing slows the run; it is done separately.
4. **Slow consumer**. A ``--slow-frames`` (5,000; 1,000 quick) frame replay while the server
   pings the client every 50 ms (one ``ws.ping()`` task per tick, each given 200 ms for its
   pong); the consumer sleeps 1 ms after each event. Reported: pings sent and pongs back in
   time (all of them expected: the stream drains the socket into its own buffer, so
   trio-websocket's reader keeps answering pings however slow the consumer is), pong round
   trips, and the consumer's time from its first event to its last against N x 1 ms.
5. **Machine**: CPU, cores, kernel, Python, trio (``_harness.py``).

Run ``python benchmarks/eventstream_bench.py`` (full: 5 rounds of 50,000 frames, then the other
parts; about three minutes) or ``--quick`` (seconds); ``--replay-only`` runs the replay rounds
alone.
"""

from __future__ import annotations

import argparse
import gc
import math
import statistics
import sys
import time
from collections.abc import AsyncIterator, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import trio
import trio_websocket
from _harness import (
    Machine,
    MemoryProbe,
    Spread,
    bench_parser,
    blocks,
    describe_machine,
    kib,
    machine_section,
    markdown,
    mode,
    ms,
    parse_bench_args,
    percentile,
    run_in_scratch,
    spread_table,
    table,
    tracing,
    yes,
)

from trio_locksync.eventstream import (
    ISY_SUBPROTOCOL,
    EventStream,
    EventStreamStatistics,
    EventStreamStatus,
    IsyEvent,
    decode_isy_event,
    open_event_stream,
    open_isy_event_stream,
)
from trio_locksync.testing.isy import IsyController, IsySubscriber, SubscriberHook, isy_status_frame

QUIET = 0.2
LATENCY_GAP = 0.001
PING_EVERY = 0.050
PING_TIMEOUT = 0.200
CONSUMER_SLEEP = 0.001
#: how many source files the memory breakdown lists
BREAKDOWN_FILES = 5
#: no single phase of a run may take longer than this (a hang is a bug, not a figure)
PHASE_LIMIT = 120.0

# -- frames and the server -------------------------------------------------------------------


def replay_frames(count: int) -> list[str]:
    """``count`` status events of distinct Insteon-like nodes, seqnum 0..count-1."""
    return [
        isy_status_frame(
            i, f"{(i >> 16) & 0xFF:02X} {(i >> 8) & 0xFF:02X} {i & 0xFF:02X} 1", i % 256
        )
        for i in range(count)
    ]


@asynccontextmanager
async def serving(hook: SubscriberHook) -> AsyncIterator[IsyController]:
    """The simulated controller on a loopback port, running ``hook`` for each subscriber."""
    controller = IsyController(on_subscribe=hook)
    async with trio.open_nursery() as nursery:
        await nursery.start(controller.serve)
        yield controller
        nursery.cancel_scope.cancel()


def _open_stream(
    decoder: str, controller: IsyController, buffer_size: int
) -> AbstractAsyncContextManager[EventStream[Any]]:
    if decoder == "isy":
        return open_isy_event_stream(controller.base_url, quiet=QUIET, buffer_size=buffer_size)
    return open_event_stream(controller.url, quiet=QUIET, buffer_size=buffer_size)


def _check(condition: bool, what: str) -> None:
    if not condition:
        raise AssertionError(what)


# -- 1. replay throughput --------------------------------------------------------------------


@dataclass(frozen=True)
class ReplayRun:
    frames: int
    #: first frame read off the socket to the last one
    first_to_last_s: float
    frames_per_s: float
    #: process CPU from the server's first send to the consumer holding the last event
    cpu_s: float
    cpu_us_per_frame: float
    #: wall time over the same span
    wall_s: float
    #: None for the trio-websocket baseline (no event stream)
    dropped: int | None
    connections: int | None
    #: events flagged replayed=True / False (all replayed unless the replay outlasts ``cap``)
    replayed: int | None
    live: int | None
    in_order: bool


@dataclass(frozen=True)
class ReplayResult:
    label: str
    decoder: str
    frames: int
    runs: list[ReplayRun]
    median_frames_per_s: float
    min_frames_per_s: float
    max_frames_per_s: float
    median_cpu_us_per_frame: float
    #: median over rounds of this client's frames/s over the limit's in the same round
    share_of_limit: float
    min_share_of_limit: float
    max_share_of_limit: float
    #: median over rounds of the limit's CPU time over this client's (same frames, same server)
    cpu_share_of_limit: float
    all_received: bool
    none_dropped: bool
    one_connection: bool
    #: fewest events any run delivered with replayed=True
    min_replayed: int | None


@dataclass
class _Marks:
    cpu0: float = math.nan
    wall0: float = math.nan


def _sending_hook(frames: Sequence[str], marks: _Marks) -> SubscriberHook:
    async def hook(subscriber: IsySubscriber) -> None:
        ws = subscriber.ws
        marks.cpu0, marks.wall0 = time.process_time(), trio.current_time()
        for frame in frames:
            await ws.send_message(frame)

    return hook


async def _replay_stream(decoder: str, frames: Sequence[str]) -> ReplayRun:
    count = len(frames)
    marks = _Marks()
    async with (
        serving(_sending_hook(frames, marks)) as controller,
        _open_stream(decoder, controller, count) as stream,
    ):
        with trio.fail_after(PHASE_LIMIT):
            first = last = await stream.receive()
            in_order = first.sequence == 1
            for number in range(2, count + 1):
                last = await stream.receive()
                in_order = in_order and last.sequence == number
        cpu1, wall1 = time.process_time(), trio.current_time()
        stats = stream.statistics()
    if decoder == "isy":
        in_order = in_order and last.data.seqnum == count - 1
    else:
        in_order = in_order and f'seqnum="{count - 1}"' in last.data
    span = last.received_at - first.received_at
    return ReplayRun(
        frames=count,
        first_to_last_s=span,
        frames_per_s=(count - 1) / span,
        cpu_s=cpu1 - marks.cpu0,
        cpu_us_per_frame=1e6 * (cpu1 - marks.cpu0) / count,
        wall_s=wall1 - marks.wall0,
        dropped=stats.dropped,
        connections=stats.connections,
        replayed=stats.replayed,
        live=stats.live,
        in_order=in_order,
    )


async def _replay_raw(frames: Sequence[str], decode: bool) -> ReplayRun:
    """The limit: trio-websocket's client reading the same replay, no event stream (and, with
    ``decode``, ``decode_isy_event`` called on each message as it is returned)."""
    count = len(frames)
    marks = _Marks()
    async with (
        serving(_sending_hook(frames, marks)) as controller,
        trio_websocket.open_websocket_url(controller.url, subprotocols=[ISY_SUBPROTOCOL]) as ws,
    ):
        with trio.fail_after(PHASE_LIMIT):
            message = await ws.get_message()
            first_at = trio.current_time()
            if decode:
                decode_isy_event(message)
            for _ in range(count - 1):
                message = await ws.get_message()
                if decode:
                    decode_isy_event(message)
        cpu1, wall1 = time.process_time(), trio.current_time()
    span = wall1 - first_at
    return ReplayRun(
        frames=count,
        first_to_last_s=span,
        frames_per_s=(count - 1) / span,
        cpu_s=cpu1 - marks.cpu0,
        cpu_us_per_frame=1e6 * (cpu1 - marks.cpu0) / count,
        wall_s=wall1 - marks.wall0,
        dropped=None,
        connections=None,
        replayed=None,
        live=None,
        in_order=f'seqnum="{count - 1}"' in message,
    )


REPLAY_CASES = (
    ("`open_isy_event_stream` (XML → `IsyEvent`)", "isy"),
    ("`open_event_stream`, default text decoder", "text"),
    ("trio-websocket `get_message()` + `decode_isy_event` (no stream)", "raw+isy"),
    ("trio-websocket `get_message()` alone (the limit)", "raw"),
)


def _replay_once(decoder: str, frames: Sequence[str]) -> ReplayRun:
    gc.collect()
    if decoder.startswith("raw"):
        return trio.run(_replay_raw, frames, decoder == "raw+isy")
    return trio.run(_replay_stream, decoder, frames)


def bench_replay(frames: Sequence[str], rounds: int) -> list[ReplayResult]:
    """``rounds`` interleaved rounds: each round runs every client once, the order rotating
    from round to round (so no client always runs first or last), each in a fresh
    ``trio.run``. A client's share of the limit is taken round by round (its frames/s over
    the limit's in the same round), so a machine that slows down for a while slows both."""
    cases = [decoder for _, decoder in REPLAY_CASES]
    runs: dict[str, list[ReplayRun]] = {decoder: [] for decoder in cases}
    for number in range(rounds):
        shift = number % len(cases)
        for decoder in cases[shift:] + cases[:shift]:
            runs[decoder].append(_replay_once(decoder, frames))
    limit = runs["raw"]
    results = []
    for label, decoder in REPLAY_CASES:
        mine = runs[decoder]
        rates = [r.frames_per_s for r in mine]
        shares = [r.frames_per_s / b.frames_per_s for r, b in zip(mine, limit, strict=True)]
        cpu_shares = [b.cpu_s / r.cpu_s for r, b in zip(mine, limit, strict=True)]
        results.append(
            ReplayResult(
                label=label,
                decoder=decoder,
                frames=len(frames),
                runs=mine,
                median_frames_per_s=statistics.median(rates),
                min_frames_per_s=min(rates),
                max_frames_per_s=max(rates),
                median_cpu_us_per_frame=statistics.median(r.cpu_us_per_frame for r in mine),
                share_of_limit=statistics.median(shares),
                min_share_of_limit=min(shares),
                max_share_of_limit=max(shares),
                cpu_share_of_limit=statistics.median(cpu_shares),
                all_received=all(r.in_order for r in mine),
                none_dropped=all(r.dropped in (0, None) for r in mine),
                one_connection=all(r.connections in (1, None) for r in mine),
                min_replayed=None
                if decoder.startswith("raw")
                else min(r.replayed or 0 for r in mine),
            )
        )
    return results


# -- 2. live latency -------------------------------------------------------------------------


@dataclass(frozen=True)
class LatencyResult:
    frames: int
    gap_s: float
    #: events delivered with replayed=False (all of them expected)
    live: int
    #: StreamEvent.received_at minus the send time
    to_buffer: Spread
    #: receive() returned minus the send time
    to_consumer: Spread
    #: send time of the last frame minus that of the first
    send_span_s: float
    dropped: int
    connections: int


async def _latency_run(count: int, gap: float) -> LatencyResult:
    connected = trio.Event()
    sent_at: list[float] = []

    async def hook(subscriber: IsySubscriber) -> None:
        ws = subscriber.ws
        await connected.wait()
        for seqnum in range(count):
            if seqnum:
                await trio.sleep(gap)
            now = trio.current_time()
            sent_at.append(now)
            await ws.send_message(isy_status_frame(seqnum, repr(now), seqnum % 256))

    to_buffer: list[float] = []
    to_consumer: list[float] = []
    live = 0
    async with serving(hook) as controller, _open_stream("isy", controller, count) as stream:
        with trio.fail_after(PHASE_LIMIT):
            await stream.wait_status(EventStreamStatus.CONNECTED)
            connected.set()
            for _ in range(count):
                event = await stream.receive()
                got = trio.current_time()
                data: IsyEvent = event.data
                assert data.node is not None
                sent = float(data.node)
                to_buffer.append(event.received_at - sent)
                to_consumer.append(got - sent)
                live += not event.replayed
        stats = stream.statistics()
    return LatencyResult(
        frames=count,
        gap_s=gap,
        live=live,
        to_buffer=Spread.of(to_buffer),
        to_consumer=Spread.of(to_consumer),
        send_span_s=sent_at[-1] - sent_at[0],
        dropped=stats.dropped,
        connections=stats.connections,
    )


def bench_latency(count: int) -> LatencyResult:
    gc.collect()
    return trio.run(_latency_run, count, LATENCY_GAP)


# -- 3. memory per buffered event ------------------------------------------------------------


@dataclass(frozen=True)
class FileShare:
    file: str
    bytes: int
    bytes_per_event: float


@dataclass(frozen=True)
class MemoryResult:
    label: str
    decoder: str
    frames: int
    #: mean characters per frame
    frame_chars: float
    #: traced bytes with N events buffered minus with the socket open and none yet
    held_bytes: int
    bytes_per_event: float
    #: tracemalloc peak during the replay, above the baseline
    peak_bytes: int
    buffered: int
    dropped: int
    connections: int
    breakdown: list[FileShare]


async def _wait_buffered(stream: EventStream[Any], count: int) -> EventStreamStatistics:
    # The stream has no wait-for-size hook; poll its public statistics.
    while (stats := stream.statistics()).buffered < count and stats.dropped == 0:  # noqa: ASYNC110
        await trio.sleep(0.005)
    return stats


async def _memory_run(label: str, decoder: str, frames: Sequence[str]) -> MemoryResult:
    count = len(frames)
    go = trio.Event()

    async def hook(subscriber: IsySubscriber) -> None:
        ws = subscriber.ws
        await go.wait()
        for frame in frames:
            await ws.send_message(frame)

    async with serving(hook) as controller, _open_stream(decoder, controller, count) as stream:
        with trio.fail_after(PHASE_LIMIT):
            await stream.wait_status(EventStreamStatus.SYNCING, EventStreamStatus.CONNECTED)
            probe = MemoryProbe()
            go.set()
            stats = await _wait_buffered(stream, count)
        memory = probe.measure(BREAKDOWN_FILES)
    return MemoryResult(
        label=label,
        decoder=decoder,
        frames=count,
        frame_chars=sum(map(len, frames)) / count,
        held_bytes=memory.held_bytes,
        bytes_per_event=memory.held_bytes / count,
        peak_bytes=memory.peak_bytes,
        buffered=stats.buffered,
        dropped=stats.dropped,
        connections=stats.connections,
        breakdown=[
            FileShare(file=file, bytes=size, bytes_per_event=size / count)
            for file, size in memory.top_files
        ],
    )


def bench_memory(frames: Sequence[str]) -> list[MemoryResult]:
    results = []
    for label, decoder in REPLAY_CASES[:2]:
        gc.collect()
        with tracing():
            results.append(trio.run(_memory_run, label, decoder, frames))
    return results


# -- 4. slow consumer ------------------------------------------------------------------------


@dataclass
class _PingLog:
    sent: int = 0
    late: int = 0
    closed: int = 0
    round_trips: list[float] = field(default_factory=list)


@dataclass(frozen=True)
class SlowResult:
    frames: int
    consumer_sleep_s: float
    ping_every_s: float
    ping_timeout_s: float
    pings_sent: int
    pongs_in_time: int
    pings_late: int
    pings_closed: int
    pong_p50_ms: float
    pong_max_ms: float
    #: the consumer's first event to its last
    consumer_s: float
    #: frames x consumer sleep
    consumer_floor_s: float
    #: the server's first send to the client having read the whole replay off the socket
    replay_read_s: float
    max_buffered: int
    dropped: int
    connections: int
    client_ping_timeouts: int


async def _ping_once(ws: trio_websocket.WebSocketConnection, log: _PingLog) -> None:
    log.sent += 1
    began = trio.current_time()
    with trio.move_on_after(PING_TIMEOUT):
        try:
            await ws.ping()
        except trio_websocket.ConnectionClosed:
            log.closed += 1
            return
        log.round_trips.append(trio.current_time() - began)
        return
    log.late += 1


async def _pinger(
    ws: trio_websocket.WebSocketConnection, log: _PingLog, pings: trio.Nursery
) -> None:
    tick = trio.current_time()
    while True:
        tick += PING_EVERY
        await trio.sleep_until(tick)
        pings.start_soon(_ping_once, ws, log)


async def _slow_run(frames: Sequence[str]) -> SlowResult:
    count = len(frames)
    done = trio.Event()
    pings_over = trio.Event()
    log = _PingLog()
    began = math.nan

    async def hook(subscriber: IsySubscriber) -> None:
        nonlocal began
        ws = subscriber.ws
        async with trio.open_nursery() as pings, trio.open_nursery() as ticking:
            ticking.start_soon(_pinger, ws, log, pings)
            began = trio.current_time()
            for frame in frames:
                await ws.send_message(frame)
            await done.wait()
            ticking.cancel_scope.cancel()
            # Leaving ``pings`` waits for the pings still in flight (each within its timeout).
        pings_over.set()

    max_buffered = 0
    replay_read_at = math.nan
    async with serving(hook) as controller, _open_stream("isy", controller, count) as stream:
        with trio.fail_after(PHASE_LIMIT):
            first = await stream.receive()
            consumer_began = trio.current_time()
            await trio.sleep(CONSUMER_SLEEP)
            for _ in range(count - 1):
                stats = stream.statistics()
                max_buffered = max(max_buffered, stats.buffered)
                if math.isnan(replay_read_at) and stats.frames == count:
                    replay_read_at = trio.current_time()
                await stream.receive()
                await trio.sleep(CONSUMER_SLEEP)
            consumer_s = trio.current_time() - consumer_began
            done.set()
            await pings_over.wait()
        stats = stream.statistics()
    _check(first.sequence == 1, "slow consumer: first event is not sequence 1")
    round_trips = log.round_trips
    return SlowResult(
        frames=count,
        consumer_sleep_s=CONSUMER_SLEEP,
        ping_every_s=PING_EVERY,
        ping_timeout_s=PING_TIMEOUT,
        pings_sent=log.sent,
        pongs_in_time=len(round_trips),
        pings_late=log.late,
        pings_closed=log.closed,
        pong_p50_ms=ms(percentile(round_trips, 50)),
        pong_max_ms=ms(max(round_trips, default=math.nan)),
        consumer_s=consumer_s,
        consumer_floor_s=count * CONSUMER_SLEEP,
        replay_read_s=replay_read_at - began,
        max_buffered=max_buffered,
        dropped=stats.dropped,
        connections=stats.connections,
        client_ping_timeouts=stats.ping_timeouts,
    )


def bench_slow(frames: Sequence[str]) -> SlowResult:
    gc.collect()
    return trio.run(_slow_run, frames)


# -- report ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Report:
    mode: str
    machine: Machine
    quiet_s: float
    replay: list[ReplayResult]
    #: None with ``--replay-only``
    latency: LatencyResult | None
    memory: list[MemoryResult] | None
    slow: SlowResult | None


def _share(r: ReplayResult) -> str:
    if r.decoder == "raw":
        return "100 % (the limit)"
    spread = f" ({r.min_share_of_limit:.0%}-{r.max_share_of_limit:.0%})" if len(r.runs) > 1 else ""
    return f"{r.share_of_limit:.0%}{spread}".replace("%", " %")


def _replay_section(results: Sequence[ReplayResult]) -> list[str]:
    first = results[0]
    rounds = len(first.runs)
    intro = (
        f"The server sends {first.frames:,} ISY `<Event>` frames as fast as it can right after "
        f"accepting; the consumer `receive()`s them all. {rounds} interleaved round"
        + ("s" if rounds > 1 else "")
        + ": each round runs every client once (the order rotating), each in a fresh "
        "`trio.run`. **The limit** is trio-websocket's own client calling `get_message()` on "
        "the same frames from the same server (no event stream). *Frames/s*: from the first "
        "frame read off the socket to the last (`received_at`; for the limit, `get_message()` "
        "returns), median over rounds, range in brackets. *Share of the limit*: the client's "
        "frames/s over the limit's in the same round, median (range). *CPU µs/frame*: "
        "`time.process_time()` from the server's first send to the consumer holding the last "
        "event, over N: client **and** server (one thread); *CPU share*: the limit's CPU over "
        "the client's, median over rounds. The text-decoder row is the stream without the XML "
        "parse. *Replayed*: events flagged `replayed=True` (the rest came after the default "
        "10 s `cap` promoted the stream to `CONNECTED`)."
    )
    header = (
        "client",
        "frames",
        "frames/s",
        "share of the limit",
        "CPU µs/frame",
        "CPU share",
        "all received in order",
        "dropped = 0",
        "connections = 1",
        "replayed",
    )
    rows = [
        (
            r.label,
            f"{r.frames:,}",
            f"{r.median_frames_per_s:,.0f}"
            + (
                f" ({r.min_frames_per_s:,.0f}-{r.max_frames_per_s:,.0f})" if len(r.runs) > 1 else ""
            ),
            _share(r),
            f"{r.median_cpu_us_per_frame:.1f}",
            "—" if r.decoder == "raw" else f"{r.cpu_share_of_limit:.0%}".replace("%", " %"),
            yes(r.all_received),
            "—" if r.decoder.startswith("raw") else yes(r.none_dropped),
            "—" if r.decoder.startswith("raw") else yes(r.one_connection),
            "—" if r.min_replayed is None else f"{r.min_replayed:,}",
        )
        for r in results
    ]
    by = {r.decoder: r for r in results}
    cpu = {decoder: r.median_cpu_us_per_frame for decoder, r in by.items()}
    note = (
        f"XML decode into `IsyEvent`: about {cpu['isy'] - cpu['text']:.1f} µs/frame in the "
        f"stream (ISY row minus text row), {cpu['raw+isy'] - cpu['raw']:.1f} µs/frame on bare "
        "trio-websocket (its two rows); the event stream's own cost over bare trio-websocket: "
        f"about {cpu['text'] - cpu['raw']:.1f} µs/frame (text row minus the limit), "
        f"{cpu['isy'] - cpu['raw+isy']:.1f} µs/frame with the decode on both sides. The ISY "
        f"stream's CPU share of bare trio-websocket doing the same decode: "
        f"{cpu['raw+isy'] / cpu['isy']:.0%}.".replace("%", " %")
    )
    return blocks(intro, table(header, rows), note)


def _latency_section(r: LatencyResult) -> list[str]:
    intro = (
        f"Once the client is `CONNECTED`, the server sends {r.frames:,} frames one at a time, "
        f"{ms(r.gap_s):g} ms apart (`trio.sleep`; {r.send_span_s:.2f} s in all), each carrying "
        "`trio.current_time()` taken just before its `send_message`. *Socket → buffer*: "
        "`StreamEvent.received_at` minus the send time. *→ consumer*: the time `receive()` "
        "returned to the waiting consumer minus the send time. Nearest-rank percentiles."
    )
    checks = (
        f"Live (`replayed=False`): {yes(r.live == r.frames)} ({r.live:,}/{r.frames:,}); "
        f"dropped: {r.dropped}; connections: {r.connections}."
    )
    spreads = spread_table(
        "latency", [("socket → buffer", r.to_buffer), ("→ consumer", r.to_consumer)], 3
    )
    return blocks(intro, spreads, checks)


def _memory_section(results: Sequence[MemoryResult]) -> list[str]:
    intro = (
        "The consumer does not read. `tracemalloc`'s traced bytes with all N events buffered "
        "minus with the socket open and none received yet, both after `gc.collect()`, over N: "
        "the `StreamEvent`, its data (the decoded `IsyEvent` with its strings, or the frame's "
        "`str`) and its share of the buffer's deque. *Peak*: the most held above the "
        "baseline during the replay (socket buffers and frames being decoded included)."
    )
    header = (
        "client",
        "events buffered",
        "frame chars",
        "held",
        "bytes / event",
        "peak during replay",
        "dropped",
    )
    rows = [
        (
            r.label,
            f"{r.buffered:,}",
            f"{r.frame_chars:.0f}",
            kib(r.held_bytes),
            f"{r.bytes_per_event:,.0f}",
            kib(r.peak_bytes),
            str(r.dropped),
        )
        for r in results
    ]
    notes = []
    for r in results:
        shares = ", ".join(f"`{s.file}` {s.bytes_per_event:,.0f}" for s in r.breakdown)
        notes += [
            f"{r.label}, bytes per event by the source file that allocated them: {shares}.",
            "",
        ]
    notes.append(
        "(`isy/_events.py`: the `IsyEvent`, the strings it keeps and its `seqnum` int (for a "
        "frame the decoder's fast path reads; `ElementTree.py` for the strings of one it "
        "parses); `_connection.py`: the `StreamEvent` and its `sequence` int; "
        "`core/_buffer.py`: its place in the buffer's deque; `trio/_core/_run.py`: the "
        "`received_at` float from `trio.current_time()`; `<frozen codecs>`: the frame's `str`.)"
    )
    return blocks(intro, table(header, rows), notes)


def _slow_section(r: SlowResult) -> list[str]:
    intro = (
        f"A {r.frames:,}-frame replay while the server pings the client every "
        f"{ms(r.ping_every_s):g} ms (each ping gets {ms(r.ping_timeout_s):g} ms for its pong); "
        f"the consumer (`open_isy_event_stream`) sleeps {ms(r.consumer_sleep_s):g} ms after each "
        "event. Pongs come from trio-websocket's reader on the client, which keeps running "
        "because the stream drains every frame into its own buffer at once."
    )
    header = (
        "pings sent",
        "pongs in time",
        "late",
        "pong p50 ms",
        "pong max ms",
        "replay read off socket",
        "most buffered",
        "consumer time",
        "consumer floor",
        "dropped",
        "connections",
    )
    rows = [
        (
            str(r.pings_sent),
            f"{r.pongs_in_time} ({yes(r.pongs_in_time == r.pings_sent)})",
            str(r.pings_late),
            f"{r.pong_p50_ms:.2f}",
            f"{r.pong_max_ms:.2f}",
            f"{r.replay_read_s:.2f} s",
            f"{r.max_buffered:,}",
            f"{r.consumer_s:.2f} s",
            f"{r.consumer_floor_s:.2f} s",
            str(r.dropped),
            str(r.connections),
        )
    ]
    return blocks(intro, table(header, rows))


def render_markdown(report: Report) -> str:
    parts: list[str | Sequence[str]] = [
        f"## Event stream benchmark ({report.mode})",
        machine_section(report.machine),
        "### Event stream",
        "Real clock, real TCP: a trio-websocket server on 127.0.0.1 and the client in the same "
        "`trio.run`, so client and server share one CPU thread and every figure is a lower "
        "bound on what a client alone achieves. Client options: defaults except "
        f"`quiet={report.quiet_s:g}` and `buffer_size` = the frames of the run.",
        "#### Replay throughput",
        _replay_section(report.replay),
    ]
    if report.latency is not None:
        parts += ["#### Live latency", _latency_section(report.latency)]
    if report.memory is not None:
        parts += ["#### Memory per buffered event", _memory_section(report.memory)]
    if report.slow is not None:
        parts += ["#### Slow consumer and keepalive", _slow_section(report.slow)]
    return markdown(*parts)


# -- command line ----------------------------------------------------------------------------


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = bench_parser(__doc__)
    parser.add_argument("--frames", type=int, help="replay and memory frames (50000; quick 5000)")
    parser.add_argument("--latency-frames", type=int, help="live frames timed (2000; quick 500)")
    parser.add_argument("--slow-frames", type=int, help="slow-consumer replay (5000; quick 1000)")
    parser.add_argument(
        "--rounds", type=int, help="interleaved replay rounds, each client once (5; quick 3)"
    )
    parser.add_argument(
        "--replay-only", action="store_true", help="only the replay throughput (no other parts)"
    )
    args = parse_bench_args(parser, "eventstream_bench", argv)
    quick = args.quick
    args.frames = args.frames or (5_000 if quick else 50_000)
    args.latency_frames = args.latency_frames or (500 if quick else 2_000)
    args.slow_frames = args.slow_frames or (1_000 if quick else 5_000)
    args.rounds = args.rounds or (3 if quick else 5)
    if min(args.frames, args.latency_frames, args.slow_frames) < 2 or args.rounds < 1:
        parser.error("frame counts must be >= 2 and --rounds >= 1")
    return args


def run(args: argparse.Namespace, tmp_dir: Path) -> Report:
    frames = replay_frames(args.frames)
    replay = bench_replay(frames, args.rounds)
    only = args.replay_only
    return Report(
        mode=mode(args) + (", replay only" if only else ""),
        machine=describe_machine(tmp_dir),
        quiet_s=QUIET,
        replay=replay,
        latency=None if only else bench_latency(args.latency_frames),
        memory=None if only else bench_memory(frames),
        slow=None if only else bench_slow(replay_frames(args.slow_frames)),
    )


def main(argv: Sequence[str] | None = None) -> int:
    return run_in_scratch("eventstream_bench", parse_args(argv), run, render_markdown)


if __name__ == "__main__":
    sys.exit(main())
