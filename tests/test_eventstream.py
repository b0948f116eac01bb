"""The event stream in virtual time, over trio-websocket on in-memory streams.

The server side is trio-websocket's own server (``wrap_server_stream``) on
``trio.testing.memory_stream_pair``, so every time below is exact. Upstream tests (pyisyox
``tests/test_runtime/test_ws.py``, PyISY's lifecycle tests) are named in the docstrings of the
tests that re-express them.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import math

import pytest
import trio
import trio.testing
import trio_websocket

from trio_locksync.core import Backoff, ClosedError, InvalidTransition, Jitter
from trio_locksync.eventstream import (
    EventStream,
    EventStreamRejected,
    EventStreamStatus,
    IsyEvent,
    Overflow,
    StreamEvent,
    decode_isy_event,
    isy_heartbeat,
    open_event_stream,
    open_isy_event_stream,
    redact_url,
)
from trio_locksync.eventstream._options import StreamSettings
from trio_locksync.eventstream._status import TRANSITIONS

from . import wshelpers
from .wshelpers import (
    Peer,
    isy_frame,
    isy_heartbeat_frame,
    isy_replay,
    open_memory_server,
    record_statuses,
)

S = EventStreamStatus
URL = "ws://isy.test/rest/subscribe"
STEADY = Backoff(initial=1.0, maximum=60.0, jitter=Jitter.NONE)


async def silent(peer: Peer) -> None:
    await peer.accept()
    await trio.sleep_forever()


def statuses(log: list[tuple[float, EventStreamStatus]]) -> list[EventStreamStatus]:
    return [status for _, status in log]


def drain(stream: EventStream[object]) -> list[StreamEvent[object]]:
    return stream._buffer.clear()


# --------------------------------------------------------------------- quiet window


async def test_silent_controller_promotes_at_exactly_quiet(autojump_clock: object) -> None:
    """pyisyox ``test_promote_when_quiet_promotes_after_idle``."""
    async with (
        open_memory_server(silent) as server,
        open_event_stream(URL, open_transport=server.open_transport) as stream,
    ):
        assert stream.status is S.NOT_STARTED
        await stream.wait_status(S.SYNCING)
        assert trio.current_time() == 0.0
        await stream.wait_status(S.CONNECTED)
        assert trio.current_time() == 1.0


async def test_replay_with_gaps_below_quiet_holds_syncing_until_quiet_after_last_frame(
    autojump_clock: object,
) -> None:
    """pyisyox ``test_promote_when_quiet_holds_until_replay_drains`` and
    ``test_ws_reader_holds_syncing_through_replay_then_connects``: records arrive during
    SYNCING (flagged replayed), CONNECTED comes ``quiet`` after the last replayed frame."""

    async def replay_then_live(peer: Peer) -> None:
        await peer.accept()
        await peer.send(*isy_replay(5), gap=0.75)  # frames at 0.0 … 3.0
        await trio.sleep(2.0)
        await peer.send(isy_frame(99))  # at 5.0, live
        await trio.sleep_forever()

    log: list[tuple[float, EventStreamStatus]] = []
    async with (
        open_memory_server(replay_then_live) as server,
        open_event_stream(
            URL, decode=decode_isy_event, open_transport=server.open_transport
        ) as stream,
        trio.open_nursery() as nursery,
    ):
        nursery.start_soon(record_statuses, stream.status_changes(), log)
        events = [await stream.receive() for _ in range(6)]
        nursery.cancel_scope.cancel()
    assert log == [
        (0.0, S.CONNECTING),
        (0.0, S.SYNCING),
        (4.0, S.CONNECTED),
    ]
    assert [(e.received_at, e.replayed) for e in events] == [
        (0.0, True),
        (0.75, True),
        (1.5, True),
        (2.25, True),
        (3.0, True),
        (5.0, False),
    ]
    assert [e.data.node for e in events[:2]] == ["NODE 0", "NODE 1"]
    assert [e.sequence for e in events] == [1, 2, 3, 4, 5, 6]
    assert {e.connection for e in events} == {1}


async def test_constant_traffic_promotes_at_exactly_cap(autojump_clock: object) -> None:
    """pyisyox ``test_ws_reader_max_cap_promotes_under_constant_traffic`` /
    ``test_promote_when_quiet_hard_cap_under_constant_traffic``."""

    async def chatty(peer: Peer) -> None:
        await peer.accept()
        await peer.send(*isy_replay(40), gap=0.5)  # every 0.5 s, 0.0 … 19.5
        await trio.sleep_forever()

    async with (
        open_memory_server(chatty) as server,
        open_event_stream(URL, quiet=1.0, cap=10.0, open_transport=server.open_transport) as stream,
    ):
        await stream.wait_status(S.CONNECTED)
        assert trio.current_time() == 10.0
        await trio.sleep(10.0)
        events = drain(stream)  # type: ignore[arg-type]
    flags = [(e.received_at, e.replayed) for e in events]
    # The frame at exactly 10.0 arrives when the cap is over: it is live, never replayed.
    assert flags == [(0.5 * i, 0.5 * i < 10.0) for i in range(40)]


@pytest.mark.parametrize("drop_at", [0.0, 0.3, 0.99, 9.9])
async def test_socket_drop_before_quiet_never_connects(
    autojump_clock: object, drop_at: float
) -> None:
    """pyisyox/PyISY ``test_websocket_socket_drop_before_quiet_never_connects``: the promoter
    dies with the socket; the next connection starts SYNCING again from its own socket-open."""

    async def first_drops_then_silent(peer: Peer) -> None:
        await peer.accept()
        if peer.number == 1:
            # constant frames keep it syncing (0.5 s gaps), then the socket drops at drop_at
            with trio.move_on_after(drop_at):
                await peer.send(*isy_replay(100), gap=0.5)
            await peer.drop()
            return
        await trio.sleep_forever()

    log: list[tuple[float, EventStreamStatus]] = []
    async with (
        open_memory_server(first_drops_then_silent) as server,
        open_event_stream(URL, backoff=STEADY, open_transport=server.open_transport) as stream,
    ):
        async for change in stream.status_changes():
            log.append((change.at, change.status))
            if change.status is S.CONNECTED:
                break
        events = drain(stream)  # type: ignore[arg-type]
    assert log == [
        (0.0, S.CONNECTING),
        (0.0, S.SYNCING),
        (drop_at, S.LOST_CONNECTION),
        (drop_at, S.RECONNECTING),
        (drop_at + 1.0, S.CONNECTING),
        (drop_at + 1.0, S.SYNCING),
        (drop_at + 2.0, S.CONNECTED),
    ]
    assert all(e.replayed and e.connection == 1 for e in events)


async def test_replay_flags_are_rearmed_on_every_reconnect(autojump_clock: object) -> None:
    """PyISY: SYNCING is re-armed on every reconnect, so a reconnect's replay is not live."""

    async def replay_live_drop(peer: Peer) -> None:
        await peer.accept()
        await peer.send(*isy_replay(3), gap=0.1)
        await trio.sleep(2.0)
        await peer.send(isy_frame(50))
        if peer.number == 1:
            await peer.drop()
            return
        await trio.sleep_forever()

    async with (
        open_memory_server(replay_live_drop) as server,
        open_event_stream(URL, backoff=STEADY, open_transport=server.open_transport) as stream,
    ):
        events = [await stream.receive() for _ in range(8)]
    assert [(e.connection, e.replayed) for e in events] == [
        (1, True),
        (1, True),
        (1, True),
        (1, False),
        (2, True),
        (2, True),
        (2, True),
        (2, False),
    ]


# --------------------------------------------------------------------- lifecycle


async def test_status_lifecycle_and_logs(
    autojump_clock: object, caplog: pytest.LogCaptureFixture
) -> None:
    """pyisyox ``test_ws_reader_emits_status_lifecycle`` and ``…_logs_status_transitions``:
    only real changes, each logged once, with the reason a connection was lost."""

    async def connect_then_drop(peer: Peer) -> None:
        await peer.accept()
        await trio.sleep(5.0)
        if peer.number == 1:
            await peer.drop()
            return
        await trio.sleep_forever()

    caplog.set_level(logging.DEBUG, logger="trio_locksync.eventstream")
    changes = []
    async with open_memory_server(connect_then_drop) as server:
        async with open_event_stream(
            URL, backoff=STEADY, open_transport=server.open_transport
        ) as stream:
            watcher = stream.status_changes()
            async for change in watcher:
                changes.append(change)
                if change.status is S.CONNECTED and change.connection == 2:
                    break
        changes.extend([change async for change in watcher])
    assert [(c.at, c.previous, c.status, c.connection) for c in changes] == [
        (0.0, S.NOT_STARTED, S.CONNECTING, 0),
        (0.0, S.CONNECTING, S.SYNCING, 1),
        (1.0, S.SYNCING, S.CONNECTED, 1),
        (5.0, S.CONNECTED, S.LOST_CONNECTION, 1),
        (5.0, S.LOST_CONNECTION, S.RECONNECTING, 1),
        (6.0, S.RECONNECTING, S.CONNECTING, 1),
        (6.0, S.CONNECTING, S.SYNCING, 2),
        (7.0, S.SYNCING, S.CONNECTED, 2),
        (7.0, S.CONNECTED, S.DISCONNECTED, 2),
    ]
    assert changes[3].detail == "closed by server (1006 ABNORMAL_CLOSURE)"
    assert changes[4].detail.endswith("retry in 1.00 s")
    messages = [r.getMessage() for r in caplog.records]
    assert sum("-> CONNECTED" in m for m in messages) == 2
    lost = [r for r in caplog.records if "-> LOST_CONNECTION" in r.getMessage()]
    assert [r.levelno for r in lost] == [logging.INFO]
    # The iterator ended after DISCONNECTED; a new one made afterwards ends at once.
    assert [c async for c in stream.status_changes()] == []


async def test_each_status_iterator_keeps_the_newest_1000_changes(autojump_clock: object) -> None:
    """A watcher that never reads keeps the newest 1,000 changes, counts the older ones as
    dropped, and still ends after DISCONNECTED; a watcher that reads sees every change."""

    async def refuse(peer: Peer) -> None:
        await peer.request.reject(503)

    quick = Backoff(initial=0.01, maximum=0.01, jitter=Jitter.NONE)
    everything: list[tuple[float, EventStreamStatus]] = []
    async with (
        open_memory_server(refuse) as server,
        trio.open_nursery() as nursery,
        open_event_stream(URL, backoff=quick, open_transport=server.open_transport) as stream,
    ):
        idle = stream.status_changes()
        nursery.start_soon(record_statuses, stream.status_changes(), everything)
        async for _ in stream.status_changes():
            if stream.statistics().attempts == 520:
                break
    kept = [(c.at, c.status) async for c in idle]
    assert len(kept) == 1000 and idle.dropped == len(everything) - 1000 > 0
    assert kept == everything[-1000:]
    assert kept[-1][1] is S.DISCONNECTED


async def test_transition_table_rejects_skipping_syncing() -> None:
    stream: EventStream[str] = EventStream._create(
        URL,
        decode=str,
        heartbeat=None,
        subprotocols=(),
        settings=StreamSettings(ping_interval=None, buffer_size=10),
    )
    stream._status.move(S.CONNECTING)
    with pytest.raises(InvalidTransition):
        stream._status.move(S.CONNECTED)
    assert stream.status is S.CONNECTING
    assert S.CONNECTED not in TRANSITIONS[S.CONNECTING]
    assert S.DISCONNECTED not in TRANSITIONS


async def test_reconnect_never_spins_against_accept_then_drop(autojump_clock: object) -> None:
    """A server that accepts and drops at once never lets the stream reach CONNECTED, so the
    backoff is never reset: 30 s of virtual time cost 5 attempts (at 0, 1, 3, 7, 15 s)."""

    async def accept_then_drop(peer: Peer) -> None:
        await peer.accept()
        await peer.drop()

    async with open_memory_server(accept_then_drop) as server:
        with trio.move_on_after(30.0):
            async with open_event_stream(
                URL, backoff=STEADY, open_transport=server.open_transport
            ) as stream:
                opened = []
                async for change in stream.status_changes():
                    if change.status is S.SYNCING:
                        opened.append(change.at)
    assert opened == [0.0, 1.0, 3.0, 7.0, 15.0]
    assert server.attempts == 5
    stats = stream.statistics()
    assert (stats.attempts, stats.connections, stats.synced) == (5, 5, 0)


async def test_reconnect_never_spins_with_default_full_jitter(autojump_clock: object) -> None:
    """Same server, default backoff (full jitter): the delays still grow because they are never
    reset. Over 120 s the expected number of attempts is about 9; a spinning loop would make
    thousands. (Bound: a sum of uniform[0, d] delays, d = 1, 2, 4, …, 60.)"""

    async def accept_then_drop(peer: Peer) -> None:
        await peer.accept()
        await peer.drop()

    async with open_memory_server(accept_then_drop) as server:
        with trio.move_on_after(120.0):
            async with open_event_stream(URL, open_transport=server.open_transport):
                await trio.sleep_forever()
    assert 3 <= server.attempts <= 40


async def test_backoff_resets_only_after_connected(autojump_clock: object) -> None:
    """With ``stable_after=0`` a connection that reached CONNECTED resets the delays; one that
    only opened does not."""

    async def pattern(peer: Peer) -> None:
        await peer.accept()
        if peer.number in (1, 2, 3):
            await peer.drop()  # opened, never synced: 1 s, 2 s, 4 s
        elif peer.number == 4:
            await trio.sleep(1.5)  # synced at +1.0, dropped at +1.5: back to 1 s
            await peer.drop()
        else:
            await trio.sleep_forever()

    async with (
        open_memory_server(pattern) as server,
        open_event_stream(
            URL, backoff=STEADY, stable_after=0.0, open_transport=server.open_transport
        ) as stream,
    ):
        opened = []
        async for change in stream.status_changes():
            if change.status is S.SYNCING:
                opened.append(change.at)
                if len(opened) == 5:
                    break
    assert opened == [0.0, 1.0, 3.0, 7.0, 9.5]


async def opened_at(count: int, handler: object, **options: object) -> list[float]:
    """When the first ``count`` sockets opened (SYNCING), against ``handler``, in seconds
    from the call; ``STEADY`` delays unless ``backoff`` is given."""
    options.setdefault("backoff", STEADY)
    return await wshelpers.opened_at(URL, count, handler, **options)


async def replay_quiet_drop(peer: Peer) -> None:
    """Accept, replay, go quiet (the stream is CONNECTED at +1.0), drop at +1.5."""
    await peer.accept()
    with contextlib.suppress(trio_websocket.ConnectionClosed):  # the test left first
        await peer.send(*isy_replay(5))
    await trio.sleep(1.5)
    await peer.drop()


async def test_replay_quiet_drop_server_gets_growing_delays_not_a_reconnect_every_quiet_plus_1s(
    autojump_clock: object,
) -> None:
    """SPEC "Backoff and storms": a server that replays, goes quiet and drops lets every
    connection reach CONNECTED. Resetting there (``stable_after=0``, the old rule) reconnects
    every quiet + 0.5 s + the first delay, forever; by default (10 s) a connection live for
    0.5 s proves nothing and the delays keep growing: 1, 2, 4, 8, 16 s."""
    assert StreamSettings().stable_after == 10.0
    growing = await opened_at(6, replay_quiet_drop)
    assert growing == [0.0, 2.5, 6.0, 11.5, 21.0, 38.5]
    every_2_5_s = await opened_at(6, replay_quiet_drop, stable_after=0.0)
    assert every_2_5_s == [0.0, 2.5, 5.0, 7.5, 10.0, 12.5]


async def test_backoff_resets_once_connected_for_stable_after_seconds(
    autojump_clock: object,
) -> None:
    """The MQTT bridge's rule: the delays start over when a connection was lost after being
    CONNECTED for at least ``stable_after`` seconds (exactly 5.0 counts), not sooner (4.5)."""

    async def pattern(peer: Peer) -> None:
        await peer.accept()
        if peer.number in (1, 2, 3):
            await peer.drop()  # opened, never synced: 1 s, 2 s, 4 s
        elif peer.number == 4:
            await trio.sleep(6.0)  # CONNECTED at 8.0, lost at 13.0 after 5.0 s live: reset
            await peer.drop()
        elif peer.number == 5:
            await trio.sleep(5.5)  # CONNECTED at 15.0, lost at 19.5 after 4.5 s: no reset
            await peer.drop()
        else:
            await trio.sleep_forever()

    opened = await opened_at(6, pattern, stable_after=5.0)
    # 1 s after the reset, then the next delay (2 s) after the short-lived connection
    assert opened == [0.0, 1.0, 3.0, 7.0, 14.0, 21.5]


# --------------------------------------------------------------------- handshakes


def rejecting(*codes: int) -> object:
    async def handler(peer: Peer) -> None:
        if peer.number <= len(codes):
            await peer.request.reject(codes[peer.number - 1])
            return
        await silent(peer)

    return handler


async def test_401_twice_is_final(autojump_clock: object) -> None:
    """pyisyox ``test_ws_reader_401_with_unrecoverable_auth_raises_authoritatively``: one
    immediate retry, then RECONNECT_FAILED; events() says so after the buffered events."""
    async with open_memory_server(rejecting(401, 401)) as server:  # type: ignore[arg-type]
        async with open_event_stream(
            URL + "?access_token=hunter2",
            headers=[("Authorization", "Bearer hunter2")],
            open_transport=server.open_transport,
        ) as stream:
            with pytest.raises(EventStreamRejected) as caught:
                async for _ in stream:
                    pass  # pragma: no cover
            assert stream.status is S.RECONNECT_FAILED
            assert trio.current_time() == 0.0
            with pytest.raises(EventStreamRejected):
                await stream.wait_status(S.CONNECTED)  # would otherwise wait forever
        assert stream.status is S.DISCONNECTED
    assert server.attempts == 2
    err = caught.value
    assert err.status_code == 401
    assert stream.failure is not None and err is not stream.failure  # a fresh copy per raise
    assert (err.url, err.status_code) == (stream.failure.url, stream.failure.status_code)
    assert "hunter2" not in str(err) and "hunter2" not in repr(stream)
    assert err.url == URL + "?access_token=***"


async def test_401_recoverable_retries_handshake_with_fresh_headers(
    autojump_clock: object,
) -> None:
    """pyisyox ``test_ws_reader_401_recoverable_retries_handshake``."""
    calls = []

    async def reauthenticate() -> list[tuple[str, str]]:
        calls.append(trio.current_time())
        return [("Authorization", "Bearer fresh")]

    async with (
        open_memory_server(rejecting(401)) as server,  # type: ignore[arg-type]
        open_event_stream(
            URL,
            headers=[("Authorization", "Bearer stale")],
            reauthenticate=reauthenticate,
            open_transport=server.open_transport,
        ) as stream,
    ):
        await stream.wait_status(S.CONNECTED)
    assert calls == [0.0]
    assert [p.headers["authorization"] for p in server.peers] == ["Bearer stale", "Bearer fresh"]


async def test_auth_retry_is_per_streak_of_refusals(autojump_clock: object) -> None:
    """401, retry opens and later drops, 401 again: that is a new streak, so one more retry."""

    async def handler(peer: Peer) -> None:
        if peer.number in (1, 3):
            await peer.request.reject(401)
            return
        await peer.accept()
        if peer.number == 2:
            await trio.sleep(2.0)
            await peer.drop()
            return
        await trio.sleep_forever()

    async with (
        open_memory_server(handler) as server,
        open_event_stream(URL, backoff=STEADY, open_transport=server.open_transport) as stream,
    ):
        await trio.sleep(10)
        assert stream.status is S.CONNECTED
    assert server.attempts == 4


@pytest.mark.parametrize("code", [400, 404, 410])
async def test_other_4xx_is_final_at_once(autojump_clock: object, code: int) -> None:
    async with (
        open_memory_server(rejecting(code)) as server,  # type: ignore[arg-type]
        open_event_stream(URL, open_transport=server.open_transport) as stream,
    ):
        await stream.wait_status(S.RECONNECT_FAILED)
        await trio.sleep(100)
    assert server.attempts == 1
    assert stream.failure is not None and stream.failure.status_code == code


@pytest.mark.parametrize("code", [500, 502, 503, 429])
async def test_non_401_handshake_error_triggers_reconnect(
    autojump_clock: object, code: int
) -> None:
    """pyisyox ``test_ws_reader_non_401_handshake_error_triggers_reconnect``; PyISY
    ``test_websocket_handshake_error_logs_and_reconnects``."""
    async with (
        open_memory_server(rejecting(code, code)) as server,  # type: ignore[arg-type]
        open_event_stream(URL, backoff=STEADY, open_transport=server.open_transport) as stream,
    ):
        await stream.wait_status(S.CONNECTED)
        assert trio.current_time() == 1.0 + 2.0 + 1.0
    assert server.attempts == 3


async def test_refused_and_failing_transports_retry(
    autojump_clock: object, caplog: pytest.LogCaptureFixture
) -> None:
    """pyisyox ``test_ws_reader_generic_exception_triggers_reconnect``; PyISY
    ``test_websocket_falls_through_to_reconnect_on_transient_errors`` and
    ``test_websocket_unexpected_exception_logged_and_reconnects``."""
    failures: list[BaseException] = [
        ConnectionRefusedError(errno.ECONNREFUSED, "Connection refused"),
        OSError(errno.ECONNRESET, "Connection reset by peer"),
        RuntimeError("driver bug near token SECRET-TOKEN"),
    ]
    async with open_memory_server(silent) as server:

        async def flaky() -> trio.abc.Stream:
            if failures:
                raise failures.pop(0)
            return await server.open_transport()

        async with open_event_stream(URL, backoff=STEADY, open_transport=flaky) as stream:
            details = []
            async for change in stream.status_changes():
                details.append(change.detail)
                if change.status is S.CONNECTED:
                    break
    assert trio.current_time() == 1.0 + 2.0 + 4.0 + 1.0
    reconnecting = [d for d in details if "retry in" in d]
    assert reconnecting == [
        "cannot connect: Connection refused; retry in 1.00 s",
        "cannot connect: Connection reset by peer; retry in 2.00 s",
        "unexpected error: RuntimeError; retry in 4.00 s",
    ]
    errors = [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR]
    assert len(errors) == 1 and "unexpected RuntimeError at test_eventstream.py:" in errors[0]
    assert "SECRET" not in caplog.text  # where it was raised, never what it said


async def test_handshake_that_never_answers_times_out_and_retries(
    autojump_clock: object,
) -> None:
    """An open socket whose server never answers is cut at ``handshake_timeout`` (30 s by
    default, not ``connect_timeout``), retried after the delay, and the status says which."""

    async def mute_then_silent(peer: Peer) -> None:
        if peer.number == 1:
            await trio.sleep_forever()  # never answers the handshake
        await silent(peer)

    for options, cut in (({}, 30.0), ({"handshake_timeout": 5.0}, 5.0)):
        start = trio.current_time()
        async with (
            open_memory_server(mute_then_silent) as server,
            open_event_stream(
                URL,
                backoff=STEADY,
                connect_timeout=2.0,
                open_transport=server.open_transport,
                **options,  # type: ignore[arg-type]
            ) as stream,
        ):
            details = []
            async for change in stream.status_changes():
                details.append(change.detail)
                if change.status is S.CONNECTED:
                    break
        assert f"no handshake within {cut:g} s; retry in 1.00 s" in details
        assert trio.current_time() - start == pytest.approx(cut + 1.0 + 1.0)


async def test_a_socket_that_does_not_open_is_cut_at_connect_timeout(
    autojump_clock: object,
) -> None:
    """Opening the socket gets ``connect_timeout`` (10 s by default), whatever the handshake
    may take once it is open."""
    tried: list[float] = []

    async with open_memory_server(silent) as server:

        async def slow_first_open() -> trio.abc.Stream:
            tried.append(trio.current_time())
            if len(tried) == 1:
                await trio.sleep_forever()  # a SYN nobody answers
            return await server.open_transport()

        for options, cut in (({}, 10.0), ({"connect_timeout": 3.0}, 3.0)):
            tried.clear()
            start = trio.current_time()
            async with open_event_stream(
                URL,
                backoff=STEADY,
                open_transport=slow_first_open,
                **options,  # type: ignore[arg-type]
            ) as stream:
                details = []
                async for change in stream.status_changes():
                    details.append(change.detail)
                    if change.status is S.CONNECTED:
                        break
            assert f"no connection within {cut:g} s; retry in 1.00 s" in details
            assert trio.current_time() - start == pytest.approx(cut + 1.0 + 1.0)


# --------------------------------------------------------------------- liveness


async def test_heartbeat_stall_reconnects_at_interval_plus_grace(autojump_clock: object) -> None:
    """PyISY ``test_guardian_triggers_reconnect_when_heartbeat_missed``: the watchdog is a cancel
    scope whose deadline each heartbeat moves to ``now + interval + grace``."""

    async def beats_then_stalls(peer: Peer) -> None:
        await peer.accept()
        await peer.send(isy_heartbeat_frame(1, 30))
        if peer.number == 1:
            await trio.sleep(30)
            await peer.send(isy_heartbeat_frame(2, 30))  # at 30: next due by 62
        await trio.sleep_forever()

    log: list[tuple[float, EventStreamStatus]] = []
    async with (
        open_memory_server(beats_then_stalls) as server,
        open_event_stream(
            URL,
            decode=decode_isy_event,
            heartbeat=isy_heartbeat,
            backoff=STEADY,
            ping_interval=None,
            open_transport=server.open_transport,
        ) as stream,
    ):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(record_statuses, stream.status_changes(), log)
            await trio.sleep(70)
            nursery.cancel_scope.cancel()
        stats = stream.statistics()
    assert (62.0, S.LOST_CONNECTION) in log
    assert (63.0, S.SYNCING) in log
    assert (stats.heartbeats, stats.heartbeat_timeouts) == (3, 1)


async def test_no_heartbeat_announced_means_no_watchdog(autojump_clock: object) -> None:
    async with (
        open_memory_server(silent) as server,
        open_event_stream(
            URL, heartbeat=lambda data: None, open_transport=server.open_transport
        ) as stream,
    ):
        await trio.sleep(3600)
        assert stream.status is S.CONNECTED
        assert stream.statistics().attempts == 1


async def test_keepalive_drops_a_peer_that_stops_answering_pings(autojump_clock: object) -> None:
    async def freezes(peer: Peer) -> None:
        await peer.accept()
        if peer.number == 1:
            await trio.sleep(5.0)
            peer.freeze()
        await trio.sleep_forever()

    async with (
        open_memory_server(freezes) as server,
        open_event_stream(
            URL,
            backoff=STEADY,
            ping_interval=20.0,
            ping_timeout=10.0,
            open_transport=server.open_transport,
        ) as stream,
    ):
        changes = []
        async for change in stream.status_changes():
            changes.append(change)
            if change.status is S.CONNECTED and change.connection == 2:
                break
        # the second peer answers: pings at 51, 71, 91, 111, 131 -> 5 pongs, no drop
        await trio.sleep(100)
        assert stream.status is S.CONNECTED
        stats = stream.statistics()
    assert stats.pongs == 5
    lost = next(c for c in changes if c.status is S.LOST_CONNECTION)
    # the ping at 20 goes to the peer frozen at 5: no pong by 30
    assert (lost.at, lost.detail) == (30.0, "no pong within 10 s")
    assert stats.ping_timeouts == 1


async def test_slow_consumer_does_not_stop_pongs(autojump_clock: object) -> None:
    """trio-websocket stops answering pings while its one-message queue is full. The stream
    reads every frame into its own buffer at once, so a consumer that takes 1 s per event
    through a 500-frame replay still answers every ping the server sends meanwhile.

    The control case does what a naive consumer of trio-websocket does (read the connection
    slowly) and shows the server's pings then go unanswered."""
    pongs: list[bool] = []

    async def replay_and_ping(peer: Peer) -> None:
        ws = await peer.accept()
        async with trio.open_nursery() as nursery:
            nursery.start_soon(peer.send, *isy_replay(500))
            for _ in range(10):
                await trio.sleep(5.0)
                with trio.move_on_after(2.0) as scope:
                    await ws.ping()
                pongs.append(not scope.cancelled_caught)
        await trio.sleep_forever()

    async with (
        open_memory_server(replay_and_ping) as server,
        open_event_stream(URL, open_transport=server.open_transport) as stream,
    ):
        received = []
        async for event in stream:
            received.append(event.sequence)
            await trio.sleep(1.0)
            if len(received) == 60:
                break
        stats = stream.statistics()
    assert pongs == [True] * 10
    assert received == list(range(1, 61))
    assert (stats.connections, stats.frames, stats.dropped) == (1, 500, 0)

    # Control: the same server, a client reading trio-websocket directly and slowly.
    pongs.clear()
    async with open_memory_server(replay_and_ping) as server, trio.open_nursery() as nursery:
        transport = await server.open_transport()
        ws = await trio_websocket.wrap_client_stream(nursery, transport, "isy.test", "/")  # type: ignore[arg-type]
        for _ in range(60):
            await ws.get_message()
            await trio.sleep(1.0)
        nursery.cancel_scope.cancel()
    assert pongs and not any(pongs)


# --------------------------------------------------------------------- frames and buffer


async def test_bad_frames_are_counted_logged_without_content_and_survived(
    autojump_clock: object, caplog: pytest.LogCaptureFixture
) -> None:
    """PyISY ``test_websocket_routes_text_messages_and_warns_on_binary`` and bad input in
    general: undecodable, malformed XML, binary; none ends the stream or leaks its content."""

    async def garbage(peer: Peer) -> None:
        await peer.accept()
        await peer.send(
            isy_frame(1),
            "<Event><control>SECRET-1234</contr",
            b"\x00SECRET-1234",
            '{"type":"event","data":5, "pin": "SECRET-1234"}',
            "<NotAnEvent>SECRET-1234</NotAnEvent>",
            isy_frame(2),
        )
        await trio.sleep_forever()

    def picky(message: str | bytes) -> IsyEvent:
        event = decode_isy_event(message)
        if event.seqnum == 2:
            raise RuntimeError("consumer decoder bug")  # any exception is a bad frame
        return event

    async with (
        open_memory_server(garbage) as server,
        open_event_stream(URL, decode=picky, open_transport=server.open_transport) as s,
    ):
        await s.wait_status(S.CONNECTED)
        stats = s.statistics()
        events = drain(s)  # type: ignore[arg-type]
    assert (stats.frames, stats.bad_frames, stats.replayed, stats.connections) == (6, 5, 1, 1)
    assert [e.data.seqnum for e in events] == [1]  # type: ignore[attr-defined]
    text = caplog.text
    assert text.count("bad frame") == 5
    assert "SECRET" not in text


async def test_protocol_error_frame_ends_the_connection_and_reconnects(
    autojump_clock: object,
) -> None:
    """pyisyox ``test_ws_reader_breaks_on_error_frame``: a frame the websocket layer cannot
    parse (reserved opcode) closes that connection; the stream reconnects."""

    async def bad_opcode(peer: Peer) -> None:
        await peer.accept()
        if peer.number == 1:
            await trio.sleep(2.0)
            await peer.send_raw(b"\x83\x00")  # FIN + reserved opcode 0x3
        await trio.sleep_forever()

    async with (
        open_memory_server(bad_opcode) as server,
        open_event_stream(URL, backoff=STEADY, open_transport=server.open_transport) as stream,
    ):
        changes = []
        async for change in stream.status_changes():
            changes.append((change.at, change.status))
            if change.status is S.CONNECTED and change.connection == 2:
                break
    assert (2.0, S.LOST_CONNECTION) in changes
    assert changes[-1] == (4.0, S.CONNECTED)


@pytest.mark.parametrize(
    ("overflow", "kept"),
    [(Overflow.DROP_OLDEST, list(range(16, 26))), (Overflow.DROP_NEWEST, list(range(1, 11)))],
)
async def test_full_buffer_drops_by_policy_counts_and_shows_gaps(
    autojump_clock: object, overflow: Overflow, kept: list[int]
) -> None:
    async def burst(peer: Peer) -> None:
        await peer.accept()
        await peer.send(*isy_replay(25))
        await trio.sleep_forever()

    async with (
        open_memory_server(burst) as server,
        open_event_stream(
            URL, buffer_size=10, overflow=overflow, open_transport=server.open_transport
        ) as stream,
    ):
        await stream.wait_status(S.CONNECTED)
        stats = stream.statistics()
        events = [await stream.receive() for _ in range(10)]
    assert [e.sequence for e in events] == kept
    assert (stats.dropped, stats.buffered, stats.frames) == (15, 10, 25)


async def test_events_wait_from_the_start_and_iteration_resumes(autojump_clock: object) -> None:
    """pyisyox ``test_ws_reader_unsubscribe_listener`` /
    ``test_ws_reader_unsubscribe_twice_is_safe`` become: events are buffered from socket-open
    even if nobody iterates yet; breaking out of an iterator and starting another continues
    where it left off; abandoned iterators need no cleanup."""

    async def four(peer: Peer) -> None:
        await peer.accept()
        await peer.send(*isy_replay(4))
        await trio.sleep_forever()

    async with (
        open_memory_server(four) as server,
        open_event_stream(URL, open_transport=server.open_transport) as stream,
    ):
        await trio.sleep(5.0)  # nobody listening during the replay
        async for event in stream:
            assert event.sequence == 1
            break
        async for event in stream:
            assert event.sequence == 2
            break
        rest = [await stream.receive() for _ in range(2)]
        assert [e.sequence for e in rest] == [3, 4]
        stream.status_changes()  # abandoned: weakly held, forgotten


async def test_leaving_the_block_closes_the_socket_politely_and_ends_iteration(
    autojump_clock: object,
) -> None:
    """pyisyox ``test_ws_reader_stop_closes_active_socket`` and
    ``test_ws_reader_does_not_dispatch_after_stop``; PyISY
    ``test_stop_cancels_all_tasks_and_timer``."""
    close_codes: list[int | None] = []

    async def records_close(peer: Peer) -> None:
        ws = await peer.accept()
        await peer.send(isy_frame(1))
        try:
            await ws.get_message()
        except trio_websocket.ConnectionClosed as exc:
            close_codes.append(exc.reason.code if exc.reason else None)
        with pytest.raises(trio_websocket.ConnectionClosed):
            await peer.send(isy_frame(2))

    async with open_memory_server(records_close) as server:
        async with open_event_stream(URL, open_transport=server.open_transport) as stream:
            await stream.wait_status(S.CONNECTED)
            exited_at = trio.current_time()
        assert trio.current_time() == exited_at  # the polite close took no waiting
        await trio.testing.wait_all_tasks_blocked()
        assert close_codes == [1000]
        assert [e.sequence async for e in stream] == [1]
        assert [e async for e in stream] == []
        with pytest.raises(trio.EndOfChannel):
            await stream.receive()
        with pytest.raises(ClosedError) as closed:
            await stream.wait_status(S.CONNECTED)
        assert str(closed.value).startswith(f"event stream {URL} is disconnected")
    assert stream.status is S.DISCONNECTED


@pytest.mark.parametrize("phase", ["connecting", "backoff", "syncing"])
async def test_leaving_at_any_phase_is_immediate(autojump_clock: object, phase: str) -> None:
    """PyISY ``test_websocket_skips_reconnect_when_stopped_during_loop``,
    ``test_guardian_exits_cleanly_on_stop``, ``test_websocket_handles_cancelled_error``."""

    async def handler(peer: Peer) -> None:
        if phase == "connecting":
            await trio.sleep_forever()
        if phase == "backoff":
            await peer.request.reject(503)
            return
        await silent(peer)

    async with open_memory_server(handler) as server:
        async with open_event_stream(
            URL,
            backoff=Backoff(initial=30.0, jitter=Jitter.NONE),
            open_transport=server.open_transport,
        ) as stream:
            await trio.sleep(0.5)
            expected = {
                "connecting": S.CONNECTING,
                "backoff": S.RECONNECTING,
                "syncing": S.SYNCING,
            }
            assert stream.status is expected[phase]
        assert trio.current_time() == 0.5
    assert server.attempts == 1


async def test_cancelled_from_outside_closes_everything(autojump_clock: object) -> None:
    async with open_memory_server(silent) as server:
        with trio.move_on_after(3.0) as scope:
            async with open_event_stream(URL, open_transport=server.open_transport) as stream:
                await trio.sleep_forever()
        assert scope.cancelled_caught
        assert trio.current_time() == 3.0
    assert stream.status is S.DISCONNECTED


# --------------------------------------------------------------------- arguments


@pytest.mark.parametrize(
    ("url", "options"),
    [
        ("http://isy.test/rest/subscribe", {}),
        ("ws:///nohost", {}),
        (URL, {"quiet": -1.0}),
        (URL, {"quiet": 0.0}),
        (URL, {"connect_timeout": math.inf}),
        (URL, {"handshake_timeout": math.inf}),
        (URL, {"handshake_timeout": 0.0}),
        (URL, {"close_timeout": math.inf}),
        (URL, {"headers": [("Authorization", "Bearer t0ken\n")]}),
        (URL, {"headers": [("Bad Name", "x")]}),
        (URL, {"headers": [("X-Key", "caf\u00e9\u2603")]}),
        (URL, {"headers": ["not-a-pair"]}),
        (URL, {"quiet": 2.0, "cap": 1.0}),
        (URL, {"ping_interval": 0.0}),
        (URL, {"buffer_size": 0}),
        (URL, {"heartbeat_grace": -1.0}),
        (URL, {"stable_after": -1.0}),
        (URL, {"stable_after": math.inf}),
        (URL, {"stable_after": math.nan}),
    ],
)
def test_bad_arguments_raise_before_anything_starts(url: str, options: dict[str, float]) -> None:
    with pytest.raises(ValueError):
        open_event_stream(url, **options)  # type: ignore[call-overload]


def test_ssl_context_needs_wss() -> None:
    import ssl

    with pytest.raises(ValueError, match="wss"):
        open_event_stream(URL, ssl_context=ssl.create_default_context())


def test_redact_url() -> None:
    assert redact_url("wss://u:p4ss@h:8443/x?y=1") == "wss://u:***@h:8443/x?y=***"
    assert redact_url("ws://h/x?access_token=T0K&v=2") == "ws://h/x?access_token=***&v=***"
    assert redact_url("ws://h/x") == "ws://h/x"
    assert redact_url("ws://u:pw@[::1]:80/") == "ws://u:***@[::1]:80/"
    assert redact_url("ws://[bad") == "<unparseable url>"


def test_unbounded_cap_is_allowed() -> None:
    open_event_stream(URL, cap=math.inf)


async def test_reconnect_delays_clamp_at_the_backoff_maximum(autojump_clock: object) -> None:
    """PyISY ``test_reconnect_execute_increments_retries_and_starts`` /
    ``test_reconnect_execute_clamps_retries_at_max``: each failed attempt takes the next delay,
    and the delays stop growing at ``maximum``."""
    async with (
        open_memory_server(rejecting(*[503] * 7)) as server,  # type: ignore[arg-type]
        open_event_stream(
            URL,
            backoff=Backoff(initial=1.0, maximum=4.0, jitter=Jitter.NONE),
            open_transport=server.open_transport,
        ) as stream,
    ):
        starts = []
        async for change in stream.status_changes():
            if change.status is S.CONNECTING:
                starts.append(change.at)
            if change.status is S.CONNECTED:
                break
    # first attempt at 0 (no delay before it), then 1, 2, 4, 4, 4, 4, 4 s apart
    assert starts == [0.0, 1.0, 3.0, 7.0, 11.0, 15.0, 19.0, 23.0]
    assert server.attempts == 8


async def test_server_close_with_a_code_is_a_lost_connection(autojump_clock: object) -> None:
    """PyISY ``test_websocket_else_branch_*``: a server that closes cleanly (1001 going away)
    is a lost connection like any other, reported with its code, and reconnected."""

    async def going_away(peer: Peer) -> None:
        ws = await peer.accept()
        if peer.number == 1:
            await trio.sleep(3.0)
            await ws.aclose(code=1001, reason="restarting")
            return
        await trio.sleep_forever()

    async with (
        open_memory_server(going_away) as server,
        open_event_stream(URL, backoff=STEADY, open_transport=server.open_transport) as stream,
    ):
        lost = None
        async for change in stream.status_changes():
            if change.status is S.LOST_CONNECTION:
                lost = change
            if change.status is S.CONNECTED and change.connection == 2:
                break
    assert lost is not None
    assert (lost.at, lost.detail) == (3.0, "closed by server (1001 GOING_AWAY)")
    assert trio.current_time() == 5.0


async def test_entering_the_block_connects_at_once(autojump_clock: object) -> None:
    """PyISY ``test_start_when_not_connected_creates_tasks`` and
    ``test_reconnect_runs_immediately_when_delay_falsy``: the first attempt has no delay; a
    backoff whose delays are 0 reconnects at once (still one attempt per loss, no spinning
    without a loss)."""

    async def drop_twice(peer: Peer) -> None:
        await peer.accept()
        if peer.number <= 2:
            await trio.sleep(2.0)
            await peer.drop()
            return
        await trio.sleep_forever()

    zero = Backoff(initial=1e-9, maximum=1e-9, jitter=Jitter.FULL)
    async with (
        open_memory_server(drop_twice) as server,
        open_event_stream(URL, backoff=zero, open_transport=server.open_transport) as stream,
    ):
        opened = []
        async for change in stream.status_changes():
            if change.status is S.SYNCING:
                opened.append(change.at)
                if len(opened) == 3:
                    break
    assert server.attempts == 3
    assert opened[0] == 0.0
    assert [round(t, 6) for t in opened] == [0.0, 2.0, 4.0]


def test_credentials_in_the_url_are_refused_without_being_echoed() -> None:
    with pytest.raises(ValueError, match="headers=") as caught:
        open_event_stream("ws://admin:s3cr3t@isy.test/rest/subscribe")
    assert "s3cr3t" not in str(caught.value)
    with pytest.raises(ValueError) as bad_port:
        open_event_stream("ws://admin:s3cr3t#x@isy.test/")  # urllib would quote 's3cr3t'
    assert "s3cr3t" not in str(bad_port.value)
    with pytest.raises(ValueError) as bad_header:
        open_event_stream(URL, headers=[("Authorization", "Bearer s3cr3t\n")])
    assert "s3cr3t" not in str(bad_header.value)


async def test_socket_closed_during_handshake_retries_at_once(autojump_clock: object) -> None:
    """trio-websocket waits for the handshake answer forever if the socket ends first; the
    stream notices the end and retries after the backoff delay, not after handshake_timeout."""

    async def hang_up_first(peer: Peer) -> None:
        if peer.number == 1:
            await peer.drop()
            return
        await silent(peer)

    async with (
        open_memory_server(hang_up_first) as server,
        open_event_stream(
            URL, backoff=STEADY, handshake_timeout=30.0, open_transport=server.open_transport
        ) as stream,
    ):
        details = []
        async for change in stream.status_changes():
            details.append((change.at, change.detail))
            if change.status is S.CONNECTED:
                break
    assert (0.0, "connection closed during the handshake; retry in 1.00 s") in details
    assert trio.current_time() == 2.0


@pytest.mark.parametrize("code", [200, 302])
async def test_non_websocket_answers_are_retried(autojump_clock: object, code: int) -> None:
    """A proxy's redirect or a restarting controller's web page is not a final refusal."""
    async with (
        open_memory_server(rejecting(code)) as server,  # type: ignore[arg-type]
        open_event_stream(URL, backoff=STEADY, open_transport=server.open_transport) as stream,
    ):
        await stream.wait_status(S.CONNECTED)
    assert server.attempts == 2


async def test_reauthenticate_keeps_other_headers_and_survives_failures(
    autojump_clock: object, caplog: pytest.LogCaptureFixture
) -> None:
    """Fresh headers replace same-named ones only (the ISY Origin stays); a reauthenticate that
    raises or returns junk is logged by type, waited out with backoff and asked again — it
    neither ends the stream nor the block."""
    answers: list[object] = [
        RuntimeError("token endpoint down, token=SECRET"),
        {"not": "pairs"},
        [("Authorization", "Bearer fresh")],
    ]

    async def reauthenticate() -> list[tuple[str, str]]:
        answer = answers.pop(0)
        if isinstance(answer, BaseException):
            raise answer
        return answer  # type: ignore[return-value]

    async def refuse_until_fresh(peer: Peer) -> None:
        if peer.headers.get("authorization") != "Bearer fresh":
            await peer.request.reject(401)
            return
        await silent(peer)

    async with (
        open_memory_server(refuse_until_fresh) as server,
        open_isy_event_stream(
            "http://isy.test",
            token="stale",
            reauthenticate=reauthenticate,
            backoff=STEADY,
            open_transport=server.open_transport,
        ) as stream,
    ):
        await stream.wait_status(S.CONNECTED)
    assert answers == []
    assert [p.headers["authorization"] for p in server.peers] == [
        "Bearer stale",
        "Bearer stale",
        "Bearer stale",
        "Bearer fresh",
    ]
    assert {p.headers["origin"] for p in server.peers} == {"com.universal-devices.websockets.isy"}
    assert trio.current_time() == 1.0 + 2.0 + 1.0  # two backoff delays, then quiet
    assert "SECRET" not in caplog.text
    assert caplog.text.count("reauthenticate failed") == 2


async def test_failure_is_a_fresh_exception_each_time(autojump_clock: object) -> None:
    async with (
        open_memory_server(rejecting(404)) as server,  # type: ignore[arg-type]
        open_event_stream(URL, open_transport=server.open_transport) as stream,
    ):
        raised = []
        for _ in range(50):
            try:
                await stream.wait_status(S.CONNECTED)
            except EventStreamRejected as exc:
                raised.append(exc)
    assert len({id(e) for e in raised}) == 50
    depth = 0
    tb = raised[-1].__traceback__
    while tb is not None:
        depth, tb = depth + 1, tb.tb_next
    assert depth < 5
