"""The event stream's sans-I/O pieces: the outcome classifier, the per-connection state machine
and the options. No sockets, no clock. (The reconnect policy is the core's:
tests/test_reconnect_policy.py.)"""

from __future__ import annotations

import errno
import math
import ssl
import typing

import attrs
import pytest
import trio
import trio_websocket

from trio_locksync.core import (
    AttemptOutcome,
    AttemptTimedOut,
    BoundedBuffer,
    HandshakeUnanswered,
    InvalidTransition,
    Overflow,
    QuietReason,
    StateTable,
)
from trio_locksync.eventstream import (
    EventStreamOptions,
    EventStreamStatistics,
    open_event_stream,
    open_isy_event_stream,
)
from trio_locksync.eventstream._classify import AttemptEnded, classify_failure
from trio_locksync.eventstream._connection import (
    CONNECTION_TRANSITIONS,
    Connection,
    ConnectionState,
    Counters,
    Reading,
)
from trio_locksync.eventstream._options import StreamSettings

OUT = AttemptOutcome
URL = "ws://isy.test/rest/subscribe"


def rejected(code: int) -> trio_websocket.ConnectionRejected:
    return trio_websocket.ConnectionRejected(code, (), None)


def classify(exc: BaseException) -> AttemptEnded:
    return classify_failure(exc)


# --------------------------------------------------------------------- the classifier


@pytest.mark.parametrize(
    ("exc", "outcome", "detail"),
    [
        (AttemptTimedOut("no handshake within 30 s"), OUT.FAILED, "no handshake within 30 s"),
        (AttemptTimedOut("no connection within 10 s"), OUT.FAILED, "no connection within 10 s"),
        (HandshakeUnanswered(), OUT.FAILED, "connection closed during the handshake"),
        (
            ConnectionRefusedError(errno.ECONNREFUSED, "Connection refused"),
            OUT.FAILED,
            "cannot connect: Connection refused",
        ),
        (OSError(), OUT.FAILED, "cannot connect: OSError"),
        (trio.BrokenResourceError(), OUT.FAILED, "handshake failed: BrokenResourceError"),
        (trio_websocket.HandshakeError(), OUT.FAILED, "handshake failed: HandshakeError"),
        (rejected(401), OUT.DENIED, "handshake refused with HTTP 401"),
        (rejected(403), OUT.DENIED, "handshake refused with HTTP 403"),
        (rejected(404), OUT.REFUSED, "handshake refused with HTTP 404"),
        (rejected(400), OUT.REFUSED, "handshake refused with HTTP 400"),
        (rejected(429), OUT.FAILED, "handshake refused with HTTP 429"),
        (rejected(503), OUT.FAILED, "handshake refused with HTTP 503"),
        (rejected(200), OUT.FAILED, "handshake refused with HTTP 200"),
        (rejected(302), OUT.FAILED, "handshake refused with HTTP 302"),
        (
            ssl.SSLCertVerificationError("certificate verify failed"),
            OUT.REFUSED,
            "TLS certificate not accepted",
        ),
    ],
)
def test_classify_failure(exc: BaseException, outcome: AttemptOutcome, detail: str) -> None:
    ended = classify(exc)
    assert (ended.outcome, ended.detail) == (outcome, detail)
    assert ended.unexpected is None


def test_refusals_keep_their_status_code_and_final_ones_their_cause() -> None:
    auth = rejected(401)
    assert (classify(auth).status_code, classify(auth).cause) == (401, auth)
    assert (classify(rejected(503)).status_code, classify(rejected(503)).cause) == (503, None)


def test_certificate_error_behind_a_broken_stream_is_final() -> None:
    """trio raises BrokenResourceError from the TLS handshake, the SSL error as its cause."""
    certificate = ssl.SSLCertVerificationError("certificate verify failed")
    broken = trio.BrokenResourceError()
    broken.__cause__ = certificate
    ended = classify(broken)
    assert (ended.outcome, ended.cause) == (OUT.REFUSED, certificate)


def test_unexpected_errors_retry_and_say_where_not_what() -> None:
    try:
        raise RuntimeError("driver bug near token SECRET")
    except RuntimeError as exc:
        ended = classify(exc)
    assert (ended.outcome, ended.detail) == (OUT.FAILED, "unexpected error: RuntimeError")
    assert ended.unexpected is not None
    assert ended.unexpected.startswith("RuntimeError at test_eventstream_policy.py:")
    assert "SECRET" not in ended.unexpected + ended.detail


def test_a_group_is_judged_by_its_refusal_first() -> None:
    group = ExceptionGroup(
        "two tasks", [trio.BrokenResourceError(), ExceptionGroup("inner", [rejected(401)])]
    )
    assert classify(group).outcome is OUT.DENIED
    plain = ExceptionGroup("two", [HandshakeUnanswered(), trio.BrokenResourceError()])
    assert classify(plain).detail == "connection closed during the handshake"


# --------------------------------------------------------------------- the policy
# The reconnect decisions are the core's one policy: tests/test_reconnect_policy.py.


def test_stable_after_is_checked_and_defaults_to_10_s_and_reaches_the_isy_preset() -> None:
    for bad in (-1.0, math.inf, math.nan):
        with pytest.raises(ValueError, match="stable_after"):
            StreamSettings(stable_after=bad)
    assert StreamSettings().stable_after == 10.0
    assert StreamSettings().reconnect.stable_after == 10.0
    assert "stable_after" in EventStreamOptions.__optional_keys__
    open_isy_event_stream("http://isy.test", stable_after=0.0)  # type-checks and validates


# --------------------------------------------------------------------- one connection


def make_connection(went_live: list[str]) -> Connection[str]:
    settings = StreamSettings(quiet=1.0, cap=10.0)
    reading = Reading(
        url=URL,
        settings=settings,
        decode=str,
        heartbeat=None,
        counters=Counters(),
        buffer=BoundedBuffer[typing.Any](10, Overflow.DROP_OLDEST),
        went_live=went_live.append,
    )
    return Connection(1, typing.cast(trio_websocket.WebSocketConnection, None), reading)


def test_connection_table_never_leaves_lost() -> None:
    assert ConnectionState.LOST not in CONNECTION_TRANSITIONS
    table = StateTable("c", ConnectionState.LIVE, CONNECTION_TRANSITIONS)
    with pytest.raises(InvalidTransition):
        table.advance(ConnectionState.SYNCING)


async def test_connection_goes_live_once_and_keeps_the_first_loss() -> None:
    went_live: list[str] = []
    connection = make_connection(went_live)
    assert connection.state is ConnectionState.SYNCING
    connection._promote(QuietReason.QUIET)
    connection._promote(QuietReason.CAPPED)
    assert went_live == ["quiet for 1 s"]
    assert connection.state is ConnectionState.LIVE and connection.live_since is not None
    connection.lose("heartbeat missed")
    connection.lose("connection closed")
    assert (connection.state, connection.lost_reason) == (ConnectionState.LOST, "heartbeat missed")


async def test_a_lost_connection_is_never_promoted() -> None:
    went_live: list[str] = []
    connection = make_connection(went_live)
    connection.lose("closed by server (1006 ABNORMAL_CLOSURE)")
    connection._promote(QuietReason.QUIET)
    assert went_live == [] and connection.live_since is None
    assert connection.state is ConnectionState.LOST


# --------------------------------------------------------------------- options


def test_options_typeddict_and_settings_name_the_same_options() -> None:
    assert EventStreamOptions.__optional_keys__ == {f.name for f in attrs.fields(StreamSettings)}
    assert not EventStreamOptions.__required_keys__


def test_every_opener_takes_the_options_typeddict() -> None:
    """What keeps ``open_isy_event_stream(url, quiet="fast")`` a mypy --strict error: every
    ``**options`` is ``Unpack[EventStreamOptions]``, never ``Any``."""
    expected = typing.Unpack[EventStreamOptions]
    openers = [*typing.get_overloads(open_event_stream), open_event_stream, open_isy_event_stream]
    for opener in openers:
        assert typing.get_type_hints(opener)["options"] == expected, opener


def test_unknown_options_are_refused() -> None:
    with pytest.raises(TypeError, match="unexpected event stream options: quite"):
        open_event_stream(URL, quite=1.0)  # type: ignore[call-overload]
    with pytest.raises(TypeError, match="quite"):
        open_isy_event_stream("http://isy.test", quite=1.0)  # type: ignore[call-arg]


def test_statistics_is_a_frozen_record() -> None:
    fields = {f.name for f in attrs.fields(EventStreamStatistics)}
    assert fields == {f.name for f in attrs.fields(Counters)} - {"sequence"} | {
        "dropped",
        "buffered",
    }
    stats = EventStreamStatistics(**dict.fromkeys(fields, 0))
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        stats.frames = 1  # type: ignore[misc]
