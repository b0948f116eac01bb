"""Benchmark of ``trio_locksync.mqtt``: messages/s into a consumer at QoS 0 and QoS 1 — raw
paho-mqtt, our bridge, aiomqtt 2.5.1 — with each consumer's peak RSS, and an overload run with
a slow consumer (RSS over time, messages lost).

Prints a Markdown report (for the README) and writes the same figures as JSON to
``benchmarks/results/mqtt_bench.json`` (``mqtt_bench-quick.json`` with ``--quick``).

Set-up. One machine, everything on 127.0.0.1. For every run the benchmark starts a fresh
mosquitto (``trio_locksync.testing.MosquittoBroker``: found on ``PATH`` or at
``/usr/sbin/mosquitto``) with its own config on a free port: ``persistence false``,
``max_queued_messages 1000000`` (mosquitto's default of 1,000 would drop most of a slow
consumer's backlog), ``allow_anonymous true``, mosquitto's defaults otherwise. Each consumer
runs in a process of its own, started fresh for every run (so peak RSS figures never mix); once
it has subscribed it prints ``READY`` and the benchmark starts the publisher, another process:
a raw paho client (MQTT 3.1.1, no network thread: each ``publish()`` writes straight to the
socket, no in-flight limit) publishing ``--messages`` 64-byte payloads that start with their
sequence number, as fast as it can, at the consumer's QoS; at QoS 1 it then waits for every
PUBACK.

Consumers (MQTT 5; each only counts, taking one ``perf_counter()`` per message):

* **bare socket** (the limit): MQTT 3.1.1 read straight from the socket 64 KiB at a time, each
  PUBLISH found by its fixed header and counted; at QoS 1 the PUBACKs of one read in one send.
* **raw paho**: a paho client whose counting ``on_message`` runs in its own ``loop()`` loop,
  on the process's main thread; paho acknowledges QoS 1 itself.
* **bridge**: ``open_mqtt_bridge()`` with its defaults (``buffer_size=1000``, which is also the
  ReceiveMaximum), ``async with bridge.subscribe(topic, qos) as sub: async for m in sub`` in
  ``trio.run``. QoS 1 is acknowledged when taken; QoS 0 overflow is dropped (counted).
* **aiomqtt 2.5.1** (the asyncio peer): ``async for m in client.messages`` under
  ``asyncio.run``, its defaults (unbounded queue; paho acknowledges QoS 1 on receipt). It runs
  with another interpreter (``--aiomqtt-python``; default: ``../benchvenv/bin/python`` next to
  the checkout, made with ``python -m venv benchvenv && benchvenv/bin/pip install
  aiomqtt==2.5.1 trio``), as aiomqtt is not a dependency of the project. Where that
  interpreter cannot import aiomqtt, its rows say so and nothing is measured.

Throughput: *msg/s* = (messages received - 1) / (time of the last one - time of the first),
taken in the consumer; the median of ``--repeat`` runs (3). The consumers take turns (bare
socket, raw paho, bridge, aiomqtt, ...), and the ratios (% of raw paho, vs aiomqtt) are the
medians of the ratios within one round, so that a shared machine slowing down for a while
moves all three alike. A consumer stops at ``--messages`` or after 2 s without a message
(QoS 0 ones may be dropped). The publisher's own rate is shown: a consumer near it was
publisher-bound. *CPU µs/msg*: the consumer process's CPU time (all threads, user and system)
from READY to its end per message; for the bridge also per thread (paho's worker thread,
trio's thread), and context switches per message. *Peak RSS*: ``VmHWM`` of the consumer
process at its end, its own peak (``ru_maxrss`` would be at least the RSS of the benchmark that
spawned it); the largest of the repeats; *base RSS*: its RSS after its imports, before
connecting.

Overload: the consumer takes one message per ``await sleep(0.001)`` (about 1.1 ms a message),
QoS 1, while the publisher sends ``--overload-messages`` as fast as it can. The benchmark
samples the consumer's RSS (``VmRSS`` in ``/proc/<pid>/status``) every 0.5 s until it has
taken every message. *Lost*: sequence numbers published and acknowledged by the broker but
never received (must be 0 at QoS 1); duplicates are counted apart. The same for aiomqtt.

Sizes: full mode 200,000 messages per throughput run (x3) and 200,000 for each overload run
(about 4 min each at 1.1 ms a message); ``--quick``: 20,000 and 20,000. Full takes about 20
minutes, quick about 3. ``--profile`` also runs the bridge consumer once per QoS under
cProfile (each thread apart) and prints where its time goes.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import socket
import statistics
import struct
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from _harness import (
    BENCH_DIR,
    Machine,
    bench_parser,
    blocks,
    describe_machine,
    machine_section,
    markdown,
    mode,
    mosquitto_version,
    parse_bench_args,
    rss_kib,
    run_in_scratch,
    table,
    yes,
)

SCRIPT = Path(__file__).resolve()
DEFAULT_AIOMQTT_PYTHON = BENCH_DIR.parent.parent / "benchvenv" / "bin" / "python"
AIOMQTT_VERSION = "2.5.1"
PAYLOAD_SIZE = 64
#: a consumer that got nothing for this long has everything it will get
IDLE_LIMIT = 2.0
SLOW_DELAY = 0.001
RSS_EVERY = 0.5
#: QoS 1 PUBLISHes the publisher keeps unacknowledged at most
PUBLISH_WINDOW = 20_000
#: functions listed per profile
PROFILE_LINES = 30
#: the per-run limit beyond the expected duration (a hang is a bug, not a figure)
RUN_SLACK = 120.0
CONSUMERS = ("socket", "paho", "bridge", "aiomqtt")
LABELS = {
    "socket": "bare socket (the limit)",
    "paho": "raw paho",
    "bridge": "bridge (trio)",
    "aiomqtt": "aiomqtt 2.5.1",
}
#: targets: the share of raw paho's rate by QoS (issue 24), and of issue 11
TARGET_OF_PAHO = {0: 0.8, 1: 0.9}
TARGET_VS_AIOMQTT = 2.0
TARGET_RSS = 100 * 1024 * 1024


# == child processes ==========================================================================
# ``mqtt_bench.py --worker KIND JSON``: KIND is "publisher" or a consumer; the worker prints
# ``READY`` (a consumer, once subscribed) and, at its end, ``RESULT {json}``.


def _context_switches() -> int:
    """Voluntary and involuntary context switches of this process so far (every thread)."""
    import resource

    usage = resource.getrusage(resource.RUSAGE_SELF)
    return int(usage.ru_nvcsw + usage.ru_nivcsw)


def _payload(seq: int) -> bytes:
    head = b"%010d" % seq
    return head + b"." * (PAYLOAD_SIZE - len(head))


class _Tally:
    """What a consumer saw: a count, first and last arrival times, and (if asked) which
    sequence numbers arrived."""

    __slots__ = ("count", "cpu_at_ready", "first", "last", "seen", "switches_at_ready", "unique")

    def __init__(self, expected: int, record: bool) -> None:
        self.cpu_at_ready = 0.0
        self.switches_at_ready = 0
        self.count = 0
        self.first = 0.0
        self.last = 0.0
        self.seen = bytearray(expected) if record else None
        self.unique = 0

    def ready(self) -> None:
        """Subscribed: tell the benchmark, which starts the publisher."""
        self.cpu_at_ready = time.process_time()
        self.switches_at_ready = _context_switches()
        print("READY", flush=True)

    def record(self, payload: bytes) -> None:
        seen = self.seen
        if seen is not None:
            seq = int(payload[:10])
            if not seen[seq]:
                seen[seq] = 1
                self.unique += 1

    def result(self, **extra: Any) -> dict[str, Any]:
        span = self.last - self.first
        rate = (self.count - 1) / span if self.count > 1 and span > 0 else math.nan
        seen = self.seen
        return {
            "received": self.count,
            "unique": self.unique if seen is not None else None,
            "missing": None if seen is None else [i for i, got in enumerate(seen) if not got],
            "seconds": span,
            "rate": rate,
            # the process's CPU time (every thread, user and system) from READY to the end
            "cpu_seconds": time.process_time() - self.cpu_at_ready,
            # VmHWM, not ru_maxrss: that one starts at the RSS of the benchmark that spawned us
            "peak_rss_kib": rss_kib(field_name="VmHWM"),
            "context_switches": _context_switches() - self.switches_at_ready,
            **extra,
        }


def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        n, digit = divmod(n, 128)
        out.append(digit | (0x80 if n else 0))
        if not n:
            return bytes(out)


def _string(text: str) -> bytes:
    data = text.encode()
    return struct.pack("!H", len(data)) + data


def worker_publisher(spec: dict[str, Any]) -> dict[str, Any]:
    """MQTT 3.1.1 spoken straight over a socket: PUBLISH packets built by hand, written 64 KiB
    at a time; at QoS 1 up to ``PUBLISH_WINDOW`` unacknowledged, PUBACKs read as they come."""
    qos, count = spec["qos"], spec["count"]
    sock = socket.create_connection(("127.0.0.1", spec["port"]))
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    # CONNECT: protocol "MQTT" level 4, clean session, keepalive 0 (none: no PINGREQ needed)
    body = _string("MQTT") + bytes([4, 0x02]) + struct.pack("!H", 0) + _string(spec["client_id"])
    sock.sendall(b"\x10" + _varint(len(body)) + body)
    connack = b""
    while len(connack) < 4:
        chunk = sock.recv(4 - len(connack))
        if not chunk:
            raise RuntimeError("the broker closed the connection before CONNACK")
        connack += chunk
    if connack[:2] != b"\x20\x02" or connack[3] != 0:
        raise RuntimeError(f"CONNACK refused: {connack!r}")
    topic = _string(spec["topic"])
    pending: dict[int, int] = {}  # packet id -> sequence number
    inbox = bytearray()
    acked = 0

    def read_acks(block: bool) -> None:
        nonlocal acked
        try:
            data = sock.recv(65536, 0 if block else socket.MSG_DONTWAIT)
        except BlockingIOError:
            return
        if not data:
            raise RuntimeError("the broker closed the connection")
        inbox.extend(data)
        while len(inbox) >= 2:
            size, shift, at = 0, 0, 1
            while at < len(inbox):
                size |= (inbox[at] & 0x7F) << shift
                shift += 7
                at += 1
                if not inbox[at - 1] & 0x80:
                    break
            else:
                return
            if len(inbox) < at + size:
                return
            is_puback = inbox[0] >> 4 == 4 and size >= 2
            if is_puback and pending.pop(struct.unpack_from("!H", inbox, at)[0], None) is not None:
                acked += 1
            del inbox[: at + size]

    out = bytearray()
    started = time.perf_counter()
    for seq in range(count):
        payload = _payload(seq)
        if qos:
            mid = seq % 65535 + 1
            while len(pending) >= PUBLISH_WINDOW or mid in pending:
                sock.sendall(out)
                out.clear()
                read_acks(block=True)
            pending[mid] = seq
            header = topic + struct.pack("!H", mid)
            out += b"\x32" + _varint(len(header) + len(payload)) + header + payload
        else:
            out += b"\x30" + _varint(len(topic) + len(payload)) + topic + payload
        if len(out) >= 65536:
            sock.sendall(out)
            out.clear()
            if qos:
                read_acks(block=False)
    sock.sendall(out)
    sent = time.perf_counter()
    sock.settimeout(60)
    with contextlib.suppress(TimeoutError):
        while pending:
            read_acks(block=True)
    done = time.perf_counter()
    sock.sendall(b"\xe0\x00")  # DISCONNECT
    sock.close()
    return {
        "published": count,
        "acked": acked if qos else count,
        "unacked": sorted(pending.values()),
        "rate": count / (sent - started),
        "seconds": done - started,
    }


def worker_socket(spec: dict[str, Any]) -> dict[str, Any]:
    """The limit: MQTT 3.1.1 read straight from a socket, 64 KiB at a time, each PUBLISH found by
    its fixed header and counted (as every consumer counts: one ``perf_counter()`` a message);
    at QoS 1 the PUBACKs of one read go out in one ``send``. No library, no parsing beyond the
    framing: what a Python consumer of this broker cannot beat on this machine."""
    base = rss_kib()
    tally = _Tally(spec["count"], spec["record"])
    qos, count = spec["qos"], spec["count"]
    sock = socket.create_connection(("127.0.0.1", spec["port"]))
    body = _string("MQTT") + bytes([4, 0x02]) + struct.pack("!H", 0) + _string(spec["client_id"])
    sock.sendall(b"\x10" + _varint(len(body)) + body)
    body = struct.pack("!H", 1) + _string(spec["topic"]) + bytes([qos])
    sock.sendall(b"\x82" + _varint(len(body)) + body)  # SUBSCRIBE
    inbox = bytearray()
    while len(inbox) < 9:  # CONNACK (4 bytes), SUBACK (5)
        inbox += sock.recv(65536)
    if inbox[:2] != b"\x20\x02" or inbox[4] != 0x90 or inbox[8] > 1:
        raise RuntimeError(f"not connected and subscribed: {bytes(inbox[:9])!r}")
    del inbox[:9]
    tally.ready()
    perf_counter = time.perf_counter
    record = tally.seen is not None
    sock.settimeout(IDLE_LIMIT)
    deadline = time.monotonic() + spec["limit"]
    while tally.count < count and time.monotonic() < deadline:
        try:
            data = sock.recv(65536)
        except TimeoutError:
            if tally.count:
                break
            continue
        if not data:
            break
        inbox += data
        acks = bytearray()
        at = 0
        end = len(inbox)
        while at + 2 <= end:
            size, shift, i = 0, 0, at + 1
            while i < end:
                size |= (inbox[i] & 0x7F) << shift
                shift += 7
                i += 1
                if not inbox[i - 1] & 0x80:
                    break
            else:
                break
            if i + size > end:
                break
            if inbox[at] >> 4 == 3:  # PUBLISH
                tally.count += 1
                tally.last = perf_counter()
                if tally.count == 1:
                    tally.first = tally.last
                topic_end = i + 2 + ((inbox[i] << 8) | inbox[i + 1])
                if inbox[at] & 0x06:
                    acks += b"\x40\x02" + inbox[topic_end : topic_end + 2]
                    topic_end += 2
                if record:
                    tally.record(bytes(inbox[topic_end : i + size]))
            at = i + size
        del inbox[:at]
        if acks:
            sock.sendall(acks)
    with contextlib.suppress(OSError):
        sock.sendall(b"\xe0\x00")  # DISCONNECT
    sock.close()
    return tally.result(base_rss_kib=base)


def worker_paho_publisher(spec: dict[str, Any]) -> dict[str, Any]:
    """The same with a paho client (no network thread: ``publish()`` writes to the socket)."""
    import paho.mqtt.client as paho
    from paho.mqtt.enums import CallbackAPIVersion

    qos, count = spec["qos"], spec["count"]
    unacked: dict[int, int] = {}

    def on_publish(client: Any, userdata: Any, mid: int, reason: Any, properties: Any) -> None:
        if not reason.is_failure:
            unacked.pop(mid, None)

    client = paho.Client(
        CallbackAPIVersion.VERSION2, client_id=spec["client_id"], protocol=paho.MQTTv311
    )
    client.max_inflight_messages_set(PUBLISH_WINDOW)
    client.max_queued_messages_set(0)
    client.on_publish = on_publish
    client.connect("127.0.0.1", spec["port"], keepalive=60)
    while not client.is_connected():
        client.loop(0.1)
    topic = spec["topic"]
    started = time.perf_counter()
    for seq in range(count):
        info = client.publish(topic, _payload(seq), qos)
        if qos:
            unacked[info.mid] = seq  # on_publish comes from loop(), never before this
        if seq % 200 == 199:
            client.loop(0)  # read PUBACKs, write what the socket took back
    sent = time.perf_counter()
    deadline = time.monotonic() + 60
    while (client.want_write() or unacked) and time.monotonic() < deadline:
        if client.loop(0.05) != 0:
            break
    done = time.perf_counter()
    client.disconnect()
    client.loop(0.1)
    return {
        "published": count,
        "acked": count - len(unacked),
        "unacked": sorted(unacked.values()),
        "rate": count / (sent - started),
        "seconds": done - started,
    }


def worker_paho(spec: dict[str, Any]) -> dict[str, Any]:
    import paho.mqtt.client as paho
    from paho.mqtt.enums import CallbackAPIVersion

    base = rss_kib()
    tally = _Tally(spec["count"], spec["record"])
    subscribed = False
    perf_counter = time.perf_counter
    record = tally.seen is not None

    def on_connect(client: Any, userdata: Any, flags: Any, reason: Any, properties: Any) -> None:
        client.subscribe(spec["topic"], spec["qos"])

    def on_subscribe(client: Any, userdata: Any, mid: int, reasons: Any, properties: Any) -> None:
        nonlocal subscribed
        subscribed = True

    def on_message(client: Any, userdata: Any, message: Any) -> None:
        tally.count += 1
        tally.last = perf_counter()
        if tally.count == 1:
            tally.first = tally.last
        if record:
            tally.record(message.payload)

    client = paho.Client(
        CallbackAPIVersion.VERSION2, client_id=spec["client_id"], protocol=paho.MQTTv5
    )
    client.on_connect = on_connect
    client.on_subscribe = on_subscribe
    client.on_message = on_message
    client.connect("127.0.0.1", spec["port"], keepalive=60)
    while not subscribed:
        client.loop(0.1)
    tally.ready()
    count = spec["count"]
    deadline = time.monotonic() + spec["limit"]
    while tally.count < count and time.monotonic() < deadline:
        client.loop(0.1)
        if tally.count and perf_counter() - tally.last > IDLE_LIMIT:
            break
    client.disconnect()
    client.loop(0.1)
    return tally.result(base_rss_kib=base)


def _profiled(function: Callable[..., object], *args: object) -> dict[str, str]:
    """Run ``function`` under cProfile, and paho's worker thread of the bridge under another
    (cProfile sees one thread only): the two reports, by own time."""
    import cProfile
    import io
    import pstats

    from trio_locksync.mqtt import _paho

    thread_profile = cProfile.Profile()
    original = _paho.PahoSession.run

    def run(self: Any, generation: int) -> Any:
        return thread_profile.runcall(original, self, generation)

    main_profile = cProfile.Profile()
    _paho.PahoSession.run = run  # type: ignore[method-assign]
    try:
        main_profile.runcall(function, *args)
    finally:
        _paho.PahoSession.run = original  # type: ignore[method-assign]
    reports = {}
    for name, profile in (("trio thread", main_profile), ("paho thread", thread_profile)):
        out = io.StringIO()
        pstats.Stats(profile, stream=out).sort_stats("tottime").print_stats(PROFILE_LINES)
        reports[name] = out.getvalue()
    return reports


def worker_bridge(spec: dict[str, Any]) -> dict[str, Any]:
    import trio

    from trio_locksync.mqtt import open_mqtt_bridge

    base = rss_kib()
    tally = _Tally(spec["count"], spec["record"])
    slow = spec["slow"]
    count = spec["count"]
    stats: dict[str, Any] = {}

    async def watchdog(scope: trio.CancelScope) -> None:
        while True:
            await trio.sleep(0.25)
            if tally.count and time.perf_counter() - tally.last > IDLE_LIMIT:
                scope.cancel()

    async def consume() -> None:
        perf_counter = time.perf_counter
        record = tally.seen is not None
        async with (
            open_mqtt_bridge("127.0.0.1", spec["port"], client_id=spec["client_id"]) as bridge,
            bridge.subscribe(spec["topic"], spec["qos"]) as sub,
        ):
            tally.ready()
            with trio.move_on_after(spec["limit"]):
                async with trio.open_nursery() as nursery:
                    nursery.start_soon(watchdog, nursery.cancel_scope)
                    async for message in sub:
                        tally.count += 1
                        tally.last = perf_counter()
                        if tally.count == 1:
                            tally.first = tally.last
                        if record:
                            tally.record(message.payload)
                        if slow:
                            await trio.sleep(slow)
                        if tally.count >= count:
                            break
                    nursery.cancel_scope.cancel()
            s = bridge.statistics()
            stats.update(received=s.received, dropped=s.dropped, acked=s.acked)

    # CPU time of each thread: paho's worker thread (every connection's run) and trio's
    from trio_locksync.mqtt import _paho

    paho_cpu = [0.0]
    original_run = _paho.PahoSession.run

    def timed_run(self: Any, generation: int) -> Any:
        started = time.thread_time()
        try:
            return original_run(self, generation)
        finally:
            paho_cpu[0] += time.thread_time() - started

    _paho.PahoSession.run = timed_run  # type: ignore[method-assign]
    trio_started = time.thread_time()
    if spec.get("profile"):
        stats.update(_profiled(trio.run, consume))
    else:
        trio.run(consume)
    stats["trio_thread_cpu_seconds"] = time.thread_time() - trio_started
    stats["paho_thread_cpu_seconds"] = paho_cpu[0]
    return tally.result(base_rss_kib=base, bridge=stats)


def worker_aiomqtt(spec: dict[str, Any]) -> dict[str, Any]:
    import asyncio

    import aiomqtt

    base = rss_kib()
    tally = _Tally(spec["count"], spec["record"])
    slow = spec["slow"]
    count = spec["count"]

    async def consume() -> None:
        perf_counter = time.perf_counter
        record = tally.seen is not None
        async with aiomqtt.Client(
            "127.0.0.1",
            spec["port"],
            identifier=spec["client_id"],
            protocol=aiomqtt.ProtocolVersion.V5,
        ) as client:
            await client.subscribe(spec["topic"], qos=spec["qos"])
            tally.ready()

            async def take() -> None:
                async for message in client.messages:
                    tally.count += 1
                    tally.last = perf_counter()
                    if tally.count == 1:
                        tally.first = tally.last
                    if record:
                        tally.record(message.payload)  # type: ignore[arg-type]
                    if slow:
                        await asyncio.sleep(slow)
                    if tally.count >= count:
                        return

            taker = asyncio.ensure_future(take())
            deadline = time.monotonic() + spec["limit"]
            while not taker.done() and time.monotonic() < deadline:
                await asyncio.sleep(0.25)
                if tally.count and perf_counter() - tally.last > IDLE_LIMIT:
                    break
            taker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await taker

    asyncio.run(consume())
    return tally.result(base_rss_kib=base)


WORKERS: dict[str, Callable[[dict[str, Any]], dict[str, Any]]] = {
    "publisher": worker_publisher,
    "paho-publisher": worker_paho_publisher,
    "socket": worker_socket,
    "paho": worker_paho,
    "bridge": worker_bridge,
    "aiomqtt": worker_aiomqtt,
}


def worker_main(kind: str, spec_json: str) -> int:
    result = WORKERS[kind](json.loads(spec_json))
    print("RESULT " + json.dumps(result), flush=True)
    return 0


# == one run: a broker, a consumer, a publisher ================================================


class Child:
    """A worker process whose output goes to files (read back as it runs)."""

    def __init__(self, python: str, kind: str, spec: dict[str, Any], directory: Path) -> None:
        self.kind = kind
        self.out = directory / f"{kind}.out"
        self.err = directory / f"{kind}.err"
        with self.out.open("wb") as out, self.err.open("wb") as err:
            self.process = subprocess.Popen(
                [python, str(SCRIPT), "--worker", kind, json.dumps(spec)],
                stdout=out,
                stderr=err,
                cwd=BENCH_DIR,
            )

    def said(self, word: str) -> bool:
        return any(line.startswith(word) for line in self.out.read_text().splitlines())

    def result(self) -> dict[str, Any]:
        for line in self.out.read_text().splitlines():
            if line.startswith("RESULT "):
                return dict(json.loads(line[len("RESULT ") :]))
        raise RuntimeError(
            f"the {self.kind} worker ended ({self.process.returncode}) without a result:\n"
            + self.err.read_text()[-3000:]
        )

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait()


@dataclass
class RunResult:
    consumer: dict[str, Any]
    publisher: dict[str, Any]
    #: ``(seconds since the publisher started, consumer RSS in KiB)``
    rss: list[tuple[float, int]] = field(default_factory=list)


def run_once(
    directory: Path,
    kind: str,
    python: str,
    *,
    qos: int,
    count: int,
    slow: float = 0.0,
    record: bool = False,
    sample_rss: bool = False,
    profile: bool = False,
    publisher_kind: str = "publisher",
) -> RunResult:
    """A fresh broker, the consumer ``kind`` subscribed, then the publisher; both to the end."""
    directory.mkdir(parents=True, exist_ok=True)
    limit = count * slow * 2 + RUN_SLACK
    spec = {
        "topic": f"bench/{directory.name}",
        "qos": qos,
        "count": count,
        "slow": slow,
        "record": record,
        "limit": limit,
        "profile": profile,
    }
    # imported here, not at the top: the aiomqtt worker's interpreter has no trio_locksync
    from trio_locksync.testing import MosquittoBroker

    with MosquittoBroker(directory) as broker:
        spec["port"] = broker.port
        consumer = Child(python, kind, {**spec, "client_id": f"c-{directory.name}"}, directory)
        publisher: Child | None = None
        try:
            deadline = time.monotonic() + 30
            while not consumer.said("READY"):
                if consumer.process.poll() is not None or time.monotonic() > deadline:
                    consumer.result()  # raises, with the worker's stderr
                time.sleep(0.02)
            publisher = Child(
                sys.executable,
                publisher_kind,
                {**spec, "client_id": f"p-{directory.name}"},
                directory,
            )
            started = time.monotonic()
            samples: list[tuple[float, int]] = []
            next_sample = started
            while consumer.process.poll() is None or publisher.process.poll() is None:
                now = time.monotonic()
                if now - started > limit + 30:
                    raise RuntimeError(f"{kind} run took over {limit + 30:.0f} s")
                if sample_rss and now >= next_sample:
                    rss = rss_kib(consumer.process.pid)
                    if rss is not None:
                        samples.append((now - started, rss))
                    next_sample += RSS_EVERY
                time.sleep(0.02)
            return RunResult(consumer.result(), publisher.result(), samples)
        finally:
            consumer.stop()
            if publisher is not None:
                publisher.stop()


# == the measurements ===========================================================================


@dataclass
class Throughput:
    consumer: str
    qos: int
    messages: int
    runs: int
    #: None when the consumer could not be run (``note`` says why)
    rate: float | None = None
    rates: list[float] = field(default_factory=list)
    publisher_rate: float | None = None
    #: the consumer process's CPU time (all threads) per message received, median
    cpu_us_per_message: float | None = None
    #: the bridge only: CPU per message of paho's worker thread and of trio's thread, median
    paho_thread_us: float | None = None
    trio_thread_us: float | None = None
    #: context switches (voluntary and not, all threads) per message, median
    switches_per_message: float | None = None
    #: published minus received, summed over the runs (QoS 0 may drop; QoS 1 must not)
    lost: int = 0
    peak_rss_kib: int | None = None
    base_rss_kib: int | None = None
    note: str = ""


@dataclass
class Overload:
    consumer: str
    messages: int
    delay_per_message_s: float
    measured: bool = False
    published_acked: int = 0
    received: int = 0
    unique: int = 0
    lost: int = 0
    duplicates: int = 0
    seconds: float = 0.0
    publisher_seconds: float = 0.0
    peak_rss_kib: int = 0
    base_rss_kib: int = 0
    rss: list[tuple[float, int]] = field(default_factory=list)
    note: str = ""


@dataclass
class Targets:
    bridge_of_paho: dict[str, float]
    bridge_of_socket: dict[str, float | None]
    bridge_vs_aiomqtt: dict[str, float | None]
    bridge_overload_peak_mib: float
    bridge_overload_lost: int
    met_of_paho: bool
    met_vs_aiomqtt: bool | None
    met_rss: bool
    met_lost: bool


@dataclass
class Report:
    mode: str
    machine: Machine
    mosquitto: str
    aiomqtt: str
    publisher: str
    messages: int
    overload_messages: int
    repeat: int
    throughput: list[Throughput]
    overload: list[Overload]
    targets: Targets
    profiles: dict[str, str] = field(default_factory=dict)
    #: CPU µs of one trio checkpoint (a scheduler round trip) on this machine
    checkpoint_us: float = math.nan


@dataclass(frozen=True)
class Setup:
    """Where and with what the runs go: the scratch directory, the publisher worker, the
    interpreter of each consumer (None: not available, ``notes`` says why)."""

    tmp_dir: Path
    publisher: str
    pythons: dict[str, str | None]
    notes: dict[str, str]

    def run(self, name: str, kind: str, **options: Any) -> RunResult:
        python = self.pythons[kind]
        assert python is not None
        return run_once(self.tmp_dir / name, kind, python, publisher_kind=self.publisher, **options)


def bench_throughput(setup: Setup, qos: int, count: int, repeat: int) -> list[Throughput]:
    """Every consumer ``repeat`` times at ``qos``, taking turns (raw paho, bridge, aiomqtt,
    raw paho, ...) so that a change in the machine's load falls on all of them alike."""
    entries = {
        kind: Throughput(kind, qos, count, repeat, note=setup.notes.get(kind, ""))
        for kind in CONSUMERS
    }
    runs: dict[str, list[RunResult]] = {kind: [] for kind in CONSUMERS}
    for i in range(repeat):
        for kind in CONSUMERS:
            if setup.pythons[kind] is None:
                continue
            run = setup.run(f"{kind}-q{qos}-{i}", kind, qos=qos, count=count)
            runs[kind].append(run)
            print(
                f"  QoS {qos} run {i + 1}, {LABELS[kind]}: {run.consumer['rate']:,.0f} msg/s "
                f"(publisher {run.publisher['rate']:,.0f}/s; received "
                f"{run.consumer['received']:,}; peak RSS "
                f"{run.consumer['peak_rss_kib'] / 1024:.0f} MiB)",
                file=sys.stderr,
            )
    for kind, done in runs.items():
        if not done:
            continue
        entry = entries[kind]
        entry.rates = [run.consumer["rate"] for run in done]
        entry.rate = statistics.median(entry.rates)
        entry.publisher_rate = statistics.median(run.publisher["rate"] for run in done)
        entry.cpu_us_per_message = statistics.median(
            run.consumer["cpu_seconds"] / max(1, run.consumer["received"]) * 1e6 for run in done
        )
        entry.switches_per_message = statistics.median(
            run.consumer["context_switches"] / max(1, run.consumer["received"]) for run in done
        )
        if kind == "bridge":
            for name in ("paho", "trio"):
                setattr(
                    entry,
                    f"{name}_thread_us",
                    statistics.median(
                        run.consumer["bridge"][f"{name}_thread_cpu_seconds"]
                        / max(1, run.consumer["received"])
                        * 1e6
                        for run in done
                    ),
                )
        entry.lost = sum(max(0, run.publisher["acked"] - run.consumer["received"]) for run in done)
        entry.peak_rss_kib = max(run.consumer["peak_rss_kib"] for run in done)
        entry.base_rss_kib = int(statistics.median(run.consumer["base_rss_kib"] for run in done))
    return list(entries.values())


def bench_overload(setup: Setup, kind: str, count: int) -> Overload:
    entry = Overload(kind, count, SLOW_DELAY, note=setup.notes.get(kind, ""))
    if setup.pythons[kind] is None:
        return entry
    run = setup.run(
        f"{kind}-overload", kind, qos=1, count=count, slow=SLOW_DELAY, record=True, sample_rss=True
    )
    consumer, publisher = run.consumer, run.publisher
    entry.measured = True
    entry.published_acked = publisher["acked"]
    entry.received = consumer["received"]
    entry.unique = consumer["unique"]
    # acknowledged to the publisher (so the broker took charge of it) and never received
    entry.lost = len(set(consumer["missing"]) - set(publisher["unacked"]))
    entry.duplicates = consumer["received"] - consumer["unique"]
    entry.seconds = consumer["seconds"]
    entry.publisher_seconds = publisher["seconds"]
    entry.peak_rss_kib = consumer["peak_rss_kib"]
    entry.base_rss_kib = consumer["base_rss_kib"]
    entry.rss = run.rss
    print(
        f"  {LABELS[kind]} overload: {entry.unique:,} of {entry.published_acked:,} in "
        f"{entry.seconds:.0f} s, {entry.lost:,} lost, peak RSS {entry.peak_rss_kib / 1024:.0f} MiB",
        file=sys.stderr,
    )
    return entry


def profile_bridge(setup: Setup, count: int) -> dict[str, str]:
    """The bridge consumer once per QoS under cProfile (its trio thread only: cProfile does
    not follow paho's worker thread)."""
    profiles = {}
    for qos in (0, 1):
        run = setup.run(f"profile-q{qos}", "bridge", qos=qos, count=count, profile=True)
        bridge = run.consumer["bridge"]
        print(f"  profiled at QoS {qos}: {run.consumer['rate']:,.0f} msg/s", file=sys.stderr)
        for thread in ("trio thread", "paho thread"):
            profiles[f"QoS {qos}, {thread}"] = bridge[thread]
    return profiles


def checkpoint_cost(count: int = 100_000) -> float:
    """CPU µs of one ``trio.lowlevel.cancel_shielded_checkpoint()`` with nothing else to run:
    the least a trio consumer pays per message it takes."""
    import trio

    async def loop() -> float:
        started = time.process_time()
        for _ in range(count):
            await trio.lowlevel.cancel_shielded_checkpoint()
        return (time.process_time() - started) / count * 1e6

    return float(trio.run(loop))


def aiomqtt_python(requested: str | None) -> tuple[str | None, str]:
    """The interpreter to run aiomqtt with and its aiomqtt version, or None and why not."""
    candidates = [requested] if requested else [sys.executable, str(DEFAULT_AIOMQTT_PYTHON)]
    why = "no interpreter given"
    for python in candidates:
        if not python or not os.path.exists(python):
            why = f"{python} does not exist"
            continue
        probe = subprocess.run(
            [
                python,
                "-c",
                "import aiomqtt, trio; from importlib.metadata import version; "
                "print(version('aiomqtt'))",
            ],
            capture_output=True,
            text=True,
            check=False,
        )
        if probe.returncode == 0:
            return python, probe.stdout.strip()
        why = f"{python} cannot import aiomqtt and trio"
    return None, why


def paired_ratio(a: Throughput, b: Throughput) -> float | None:
    """``a``'s rate over ``b``'s: the median of the ratios of the runs of one round (the
    consumers take turns, so a round's runs saw about the same machine), else of the
    medians."""
    if a.rate is None or b.rate is None:
        return None
    if len(a.rates) == len(b.rates):
        return statistics.median(x / y for x, y in zip(a.rates, b.rates, strict=True))
    return a.rate / b.rate


def evaluate(throughput: list[Throughput], overload: list[Overload]) -> Targets:
    entries = {(t.consumer, t.qos): t for t in throughput}
    of_paho: dict[str, float] = {}
    of_socket: dict[str, float | None] = {}
    vs_aiomqtt: dict[str, float | None] = {}
    for qos in (0, 1):
        bridge, paho = entries[("bridge", qos)], entries[("paho", qos)]
        ratio = paired_ratio(bridge, paho)
        assert ratio is not None
        of_paho[f"qos{qos}"] = ratio
        of_socket[f"qos{qos}"] = paired_ratio(bridge, entries[("socket", qos)])
        vs_aiomqtt[f"qos{qos}"] = paired_ratio(bridge, entries[("aiomqtt", qos)])
    bridge_overload = next(o for o in overload if o.consumer == "bridge")
    measured = [v for v in vs_aiomqtt.values() if v is not None]
    return Targets(
        bridge_of_paho=of_paho,
        bridge_of_socket=of_socket,
        bridge_vs_aiomqtt=vs_aiomqtt,
        bridge_overload_peak_mib=bridge_overload.peak_rss_kib / 1024,
        bridge_overload_lost=bridge_overload.lost,
        met_of_paho=all(of_paho[f"qos{q}"] >= TARGET_OF_PAHO[q] for q in (0, 1)),
        met_vs_aiomqtt=all(v >= TARGET_VS_AIOMQTT for v in measured) if measured else None,
        met_rss=bridge_overload.peak_rss_kib * 1024 < TARGET_RSS,
        met_lost=bridge_overload.lost == 0,
    )


# == the report =================================================================================


def _mib(kib: float | None) -> str:
    return "—" if kib is None else f"{kib / 1024:.1f} MiB"


def _throughput_section(report: Report) -> list[str]:
    entries = {(t.consumer, t.qos): t for t in report.throughput}
    rows = []
    for t in report.throughput:
        if t.rate is None:
            rows.append((LABELS[t.consumer], str(t.qos), f"not measured: {t.note}", *("—",) * 8))
            continue
        of_limit = paired_ratio(t, entries[("socket", t.qos)])
        of_paho = paired_ratio(t, entries[("paho", t.qos)])
        vs_aio = paired_ratio(t, entries[("aiomqtt", t.qos)])
        rows.append(
            (
                LABELS[t.consumer],
                str(t.qos),
                f"{t.rate:,.0f}",
                " / ".join(f"{r:,.0f}" for r in t.rates),
                "—" if of_limit is None else f"{of_limit:.0%}",
                "—" if of_paho is None else f"{of_paho:.0%}",
                "—" if vs_aio is None else f"{vs_aio:.2f}x",
                f"{t.publisher_rate:,.0f}",
                f"{t.cpu_us_per_message:.0f}",
                f"{t.lost:,}",
                f"{_mib(t.peak_rss_kib)} ({_mib(t.base_rss_kib)})",
            )
        )
    header = (
        "consumer",
        "QoS",
        "msg/s (median)",
        "runs",
        "% of the limit",
        "% of raw paho",
        "vs aiomqtt",
        "publisher msg/s",
        "CPU µs/msg",
        "lost",
        "peak RSS (base)",
    )
    intro = (
        f"{report.messages:,} messages of {PAYLOAD_SIZE} bytes per run, median of "
        f"{report.repeat} runs; each consumer in a fresh process, a fresh mosquitto "
        f"({report.mosquitto}) per run, the publisher in another process. *The limit*: a bare "
        "socket reader that only finds each PUBLISH by its fixed header and counts it (QoS 1: "
        "the PUBACKs of one read in one send), what no Python consumer of this broker can beat "
        "here. The consumers take turns (bare socket, raw paho, bridge, aiomqtt, bare socket, "
        "...); *% of the limit*, *% of raw paho* and *vs aiomqtt* are the medians of the ratios "
        "within a round, so a machine that slows down for a while moves them all alike. "
        "*lost*: published minus received over all runs (QoS 0 overflow "
        "is dropped by design; QoS 1 never)."
    )
    return blocks(intro, table(header, rows))


def _cpu_section(report: Report) -> list[str]:
    entries = {(t.consumer, t.qos): t for t in report.throughput}
    rows = []
    for t in report.throughput:
        if t.rate is None or t.cpu_us_per_message is None:
            continue
        split = (
            f"{t.paho_thread_us:.0f} + {t.trio_thread_us:.0f}"
            if t.paho_thread_us is not None and t.trio_thread_us is not None
            else "—"
        )
        rows.append(
            (
                LABELS[t.consumer],
                str(t.qos),
                f"{t.cpu_us_per_message:.0f}",
                split,
                f"{t.switches_per_message:.2f}" if t.switches_per_message is not None else "—",
            )
        )
    header = (
        "consumer",
        "QoS",
        "CPU µs/msg (all threads)",
        "bridge: paho thread + trio thread",
        "context switches/msg",
    )
    lines = []
    for qos in (0, 1):
        bridge, limit = entries[("bridge", qos)], entries[("socket", qos)]
        if None in (bridge.paho_thread_us, bridge.trio_thread_us, limit.cpu_us_per_message):
            continue
        lines.append(
            f"QoS {qos}: the bridge spends {bridge.paho_thread_us:.0f} µs a message on paho's "
            f"thread (paho's packet reading, the bridge's own PUBLISH decoder, the hand-over) "
            f"and {bridge.trio_thread_us:.0f} µs on trio's (routing, the subscription's buffer, "
            f"acknowledging; one trio checkpoint, which every message taken by `async for` "
            f"costs, is {report.checkpoint_us:.1f} µs here); the limit spends "
            f"{limit.cpu_us_per_message:.0f} µs."
        )
    intro = (
        "Where the time goes: CPU time of the consumer process from READY to its end, per "
        "message received (every thread, user and system), and for the bridge the same per "
        "thread. Raw paho (and aiomqtt) decode each PUBLISH with paho's own parser, which makes "
        "a `Properties` object per message over MQTT 5; the bridge reads paho's packets but "
        "decodes a PUBLISH itself (`trio_locksync/mqtt/_wire.py`). Both threads of the bridge "
        "share one GIL."
    )
    return blocks(intro, table(header, rows), *lines)


def _overload_section(report: Report) -> list[str]:
    rows = []
    for o in report.overload:
        if not o.measured:
            rows.append((LABELS[o.consumer], f"not measured: {o.note}", *("—",) * 6))
            continue
        end = o.rss[-1][1] if o.rss else 0
        rows.append(
            (
                LABELS[o.consumer],
                f"{o.published_acked:,}",
                f"{o.unique:,}",
                f"{o.lost:,}",
                f"{o.duplicates:,}",
                f"{o.publisher_seconds:.1f} s / {o.seconds:.0f} s",
                f"{_mib(o.peak_rss_kib)} ({_mib(o.base_rss_kib)})",
                _mib(end),
            )
        )
    header = (
        "consumer (QoS 1, 1 ms/msg)",
        "published & acked",
        "received (unique)",
        "lost",
        "duplicates",
        "publishing / consuming",
        "peak RSS (base)",
        "RSS at the end",
    )
    measured = [o for o in report.overload if o.measured and o.rss]
    series: list[str] = []
    if measured:
        longest = max(len(o.rss) for o in measured)
        step = max(1, math.ceil(longest / 12))
        picks = sorted({*range(0, longest, step), longest - 1})
        times = []
        for i in picks:
            at = next((o.rss[i][0] for o in measured if i < len(o.rss)), 0.0)
            times.append(f"{at:.1f} s")
        rss_rows = []
        for i, at in zip(picks, times, strict=True):
            rss_rows.append(
                (at, *(_mib(o.rss[i][1]) if i < len(o.rss) else "ended" for o in measured))
            )
        series = blocks(
            f"Consumer RSS over time (sampled every {RSS_EVERY} s; every sample in the JSON):",
            table(("since publishing began", *(LABELS[o.consumer] for o in measured)), rss_rows),
        )
    intro = (
        f"{report.overload_messages:,} messages at QoS 1; the consumer takes one per "
        f"`sleep({SLOW_DELAY})`; the publisher sends as fast as it can. *lost*: acknowledged "
        "by the broker to the publisher, never received."
    )
    return blocks(intro, table(header, rows), series)


def _targets_section(report: Report) -> list[str]:
    t = report.targets
    of_paho = ", ".join(f"QoS {k[-1]} {v:.0%}" for k, v in t.bridge_of_paho.items())
    of_socket = ", ".join(
        f"QoS {k[-1]} {v:.0%}" if v is not None else f"QoS {k[-1]} not measured"
        for k, v in t.bridge_of_socket.items()
    )
    vs_aio = ", ".join(
        f"QoS {k[-1]} {v:.2f}x" if v is not None else f"QoS {k[-1]} not measured"
        for k, v in t.bridge_vs_aiomqtt.items()
    )
    goal = " / ".join(f"{TARGET_OF_PAHO[q]:.0%}" for q in (0, 1))
    rows = [
        (f"bridge ≥ {goal} of raw paho's rate, QoS 0 / 1 (issue 24)", of_paho, yes(t.met_of_paho)),
        ("bridge's share of the limit (the bare socket reader)", of_socket, "—"),
        (
            f"bridge ≥ {TARGET_VS_AIOMQTT:g}x aiomqtt",
            vs_aio,
            "not measured" if t.met_vs_aiomqtt is None else yes(t.met_vs_aiomqtt),
        ),
        (
            f"bridge RSS under overload < {TARGET_RSS // 1024 // 1024} MB",
            f"peak {t.bridge_overload_peak_mib:.1f} MiB",
            yes(t.met_rss),
        ),
        (
            "no QoS 1 message lost under overload",
            f"{t.bridge_overload_lost:,} lost",
            yes(t.met_lost),
        ),
    ]
    return table(("target (issues 11, 24)", "measured", "met"), rows)


def render_markdown(report: Report) -> str:
    parts: list[str | Sequence[str]] = [
        f"## MQTT benchmark ({report.mode})",
        machine_section(report.machine, filesystem=False),
        "### Throughput into one consumer",
        _throughput_section(report),
        _cpu_section(report),
        "### Overload: a slow consumer",
        _overload_section(report),
        "### Targets",
        _targets_section(report),
    ]
    for name, text in report.profiles.items():
        parts += [f"### Profile of the bridge consumer, {name} (cProfile, by own time)"]
        parts += [["```", *text.strip().splitlines(), "```"]]
    return markdown(*parts)


# == command line ===============================================================================


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = bench_parser(__doc__, quick="20,000 messages per run (about 3 minutes)")
    parser.add_argument("--messages", type=int, help="per throughput run (200000; 20000 quick)")
    parser.add_argument("--overload-messages", type=int, help="overload run (200000; 20000 quick)")
    parser.add_argument("--repeat", type=int, default=3, help="throughput runs per figure (3)")
    parser.add_argument(
        "--publisher",
        choices=("raw", "paho"),
        default="raw",
        help="raw: MQTT over a bare socket (default); paho: a paho client (slower)",
    )
    parser.add_argument("--aiomqtt-python", help="an interpreter with aiomqtt 2.5.1 and trio")
    parser.add_argument("--profile", action="store_true", help="profile the bridge consumer too")
    args = parse_bench_args(parser, "mqtt_bench", argv)
    args.messages = args.messages or (20_000 if args.quick else 200_000)
    args.overload_messages = args.overload_messages or (20_000 if args.quick else 200_000)
    if min(args.messages, args.overload_messages, args.repeat) < 1:
        parser.error("--messages, --overload-messages and --repeat must be positive")
    return args


def run(args: argparse.Namespace, tmp_dir: Path) -> Report:
    aio_python, aio_found = aiomqtt_python(args.aiomqtt_python)
    notes = {}
    if aio_python is None:
        notes["aiomqtt"] = aio_found
    elif aio_found != AIOMQTT_VERSION:
        notes["aiomqtt"] = f"aiomqtt {aio_found} found, not {AIOMQTT_VERSION}"
        aio_python = None
    setup = Setup(
        tmp_dir=tmp_dir,
        publisher="publisher" if args.publisher == "raw" else "paho-publisher",
        pythons={
            "socket": sys.executable,
            "paho": sys.executable,
            "bridge": sys.executable,
            "aiomqtt": aio_python,
        },
        notes=notes,
    )
    throughput = []
    for qos in (0, 1):
        print(f"throughput at QoS {qos}", file=sys.stderr)
        throughput += bench_throughput(setup, qos, args.messages, args.repeat)
    overload = []
    for kind in ("bridge", "aiomqtt"):
        print(f"overload: {LABELS[kind]}", file=sys.stderr)
        overload.append(bench_overload(setup, kind, args.overload_messages))
    profiles = profile_bridge(setup, args.messages) if args.profile else {}
    return Report(
        mode=mode(args),
        machine=describe_machine(tmp_dir),
        mosquitto=mosquitto_version(),
        aiomqtt=f"{aio_found} ({aio_python})"
        if aio_python
        else f"not measured: {notes['aiomqtt']}",
        publisher=args.publisher,
        messages=args.messages,
        overload_messages=args.overload_messages,
        repeat=args.repeat,
        throughput=throughput,
        overload=overload,
        targets=evaluate(throughput, overload),
        profiles=profiles,
        checkpoint_us=checkpoint_cost(),
    )


def main(argv: Sequence[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv[:1] == ["--worker"]:
        return worker_main(argv[1], argv[2])
    return run_in_scratch("mqtt_bench", parse_args(argv), run, render_markdown)


if __name__ == "__main__":
    sys.exit(main())
