"""The event stream's sans-I/O pieces: the outcome classifier, the reconnect policy, the
per-connection state machine and the options. No sockets, no clock."""

from __future__ import annotations

import errno
import math
import ssl
import typing

import attrs
import pytest
import trio
import trio_websocket
from hypothesis import given
from hypothesis import strategies as st

from trio_locksync.core import Backoff, InvalidTransition, Jitter, QuietReason, StateTable
from trio_locksync.eventstream import (
    EventStreamOptions,
    EventStreamRejected,
    EventStreamStatistics,
    open_event_stream,
    open_isy_event_stream,
)
from trio_locksync.eventstream._buffer import EventBuffer
from trio_locksync.eventstream._connection import (
    CONNECTION_TRANSITIONS,
    Connection,
    ConnectionState,
    Counters,
    Reading,
)
from trio_locksync.eventstream._models import Overflow
from trio_locksync.eventstream._options import StreamSettings
from trio_locksync.eventstream._policy import (
    AttemptEnded,
    AttemptOutcome,
    ReconnectAction,
    ReconnectDecision,
    ReconnectPolicy,
    classify_failure,
)
from trio_locksync.eventstream._transport import ClosedDuringHandshake

OUT = AttemptOutcome
ACT = ReconnectAction
URL = "ws://isy.test/rest/subscribe"
STEADY = Backoff(initial=1.0, maximum=8.0, jitter=Jitter.NONE)


def rejected(code: int) -> trio_websocket.ConnectionRejected:
    return trio_websocket.ConnectionRejected(code, (), None)


def classify(exc: BaseException) -> AttemptEnded:
    return classify_failure(exc, connect_timeout=10.0)


# --------------------------------------------------------------------- the classifier


@pytest.mark.parametrize(
    ("exc", "outcome", "detail"),
    [
        (trio.TooSlowError(), OUT.TRANSIENT, "no handshake within 10 s"),
        (ClosedDuringHandshake(), OUT.TRANSIENT, "connection closed during the handshake"),
        (
            ConnectionRefusedError(errno.ECONNREFUSED, "Connection refused"),
            OUT.TRANSIENT,
            "cannot connect: Connection refused",
        ),
        (OSError(), OUT.TRANSIENT, "cannot connect: OSError"),
        (trio.BrokenResourceError(), OUT.TRANSIENT, "handshake failed: BrokenResourceError"),
        (trio_websocket.HandshakeError(), OUT.TRANSIENT, "handshake failed: HandshakeError"),
        (rejected(401), OUT.AUTH_REFUSED, "handshake refused with HTTP 401"),
        (rejected(403), OUT.AUTH_REFUSED, "handshake refused with HTTP 403"),
        (rejected(404), OUT.REFUSED_FOR_GOOD, "handshake refused with HTTP 404"),
        (rejected(400), OUT.REFUSED_FOR_GOOD, "handshake refused with HTTP 400"),
        (rejected(429), OUT.TRANSIENT, "handshake refused with HTTP 429"),
        (rejected(503), OUT.TRANSIENT, "handshake refused with HTTP 503"),
        (rejected(200), OUT.TRANSIENT, "handshake refused with HTTP 200"),
        (rejected(302), OUT.TRANSIENT, "handshake refused with HTTP 302"),
        (
            ssl.SSLCertVerificationError("certificate verify failed"),
            OUT.REFUSED_FOR_GOOD,
            "TLS certificate not accepted",
        ),
    ],
)
def test_classify_failure(exc: BaseException, outcome: AttemptOutcome, detail: str) -> None:
    ended = classify(exc)
    assert (ended.outcome, ended.detail, ended.opened, ended.went_live) == (
        outcome,
        detail,
        False,
        False,
    )
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
    assert (ended.outcome, ended.cause) == (OUT.REFUSED_FOR_GOOD, certificate)


def test_unexpected_errors_retry_and_say_where_not_what() -> None:
    try:
        raise RuntimeError("driver bug near token SECRET")
    except RuntimeError as exc:
        ended = classify(exc)
    assert (ended.outcome, ended.detail) == (OUT.TRANSIENT, "unexpected error: RuntimeError")
    assert ended.unexpected is not None
    assert ended.unexpected.startswith("RuntimeError at test_eventstream_policy.py:")
    assert "SECRET" not in ended.unexpected + ended.detail


def test_a_group_is_judged_by_its_refusal_first() -> None:
    group = ExceptionGroup(
        "two tasks", [trio.BrokenResourceError(), ExceptionGroup("inner", [rejected(401)])]
    )
    assert classify(group).outcome is OUT.AUTH_REFUSED
    plain = ExceptionGroup("two", [ClosedDuringHandshake(), trio.BrokenResourceError()])
    assert classify(plain).detail == "connection closed during the handshake"


# --------------------------------------------------------------------- the policy


def ended(outcome: AttemptOutcome, **fields: typing.Any) -> AttemptEnded:
    return AttemptEnded(outcome=outcome, detail=outcome.value, **fields)


def policy(*, can_reauthenticate: bool = False) -> ReconnectPolicy:
    return ReconnectPolicy(STEADY, url=URL, can_reauthenticate=can_reauthenticate)


def test_transient_attempts_wait_the_backoff_delays_in_turn() -> None:
    p = policy()
    decisions = [p.after_attempt(ended(OUT.TRANSIENT)) for _ in range(6)]
    assert {d.action for d in decisions} == {ACT.RETRY_AFTER_DELAY}
    assert [d.delay for d in decisions] == [1.0, 2.0, 4.0, 8.0, 8.0, 8.0]


def test_backoff_resets_only_after_a_connection_went_live() -> None:
    p = policy()
    assert p.after_attempt(ended(OUT.TRANSIENT)).delay == 1.0
    opened = p.after_attempt(ended(OUT.TRANSIENT, opened=True))  # dropped while SYNCING
    assert (opened.delay, opened.backoff_reset) == (2.0, False)
    live = p.after_attempt(ended(OUT.TRANSIENT, opened=True, went_live=True))
    assert (live.delay, live.backoff_reset) == (1.0, True)
    assert p.after_attempt(ended(OUT.TRANSIENT)).delay == 2.0


def test_backoff_resets_only_after_stable_after_seconds_live() -> None:
    """The MQTT bridge's rule: live for ``stable_after`` seconds (or more) resets the delays;
    a connection that went live but was lost sooner does not."""
    p = ReconnectPolicy(STEADY, url=URL, can_reauthenticate=False, stable_after=10.0)
    assert p.after_attempt(ended(OUT.TRANSIENT)).delay == 1.0
    short = p.after_attempt(ended(OUT.TRANSIENT, opened=True, went_live=True, live_for=9.5))
    assert (short.delay, short.backoff_reset) == (2.0, False)
    stable = p.after_attempt(ended(OUT.TRANSIENT, opened=True, went_live=True, live_for=10.0))
    assert (stable.delay, stable.backoff_reset) == (1.0, True)
    assert p.after_attempt(ended(OUT.TRANSIENT, opened=True)).delay == 2.0


@pytest.mark.parametrize("bad", [-1.0, math.inf, math.nan])
def test_stable_after_must_be_a_finite_number_of_seconds(bad: float) -> None:
    with pytest.raises(ValueError, match="stable_after"):
        ReconnectPolicy(STEADY, url=URL, can_reauthenticate=False, stable_after=bad)
    with pytest.raises(ValueError, match="stable_after"):
        StreamSettings(stable_after=bad)


def test_stable_after_defaults_to_10_s_and_reaches_the_isy_preset() -> None:
    assert StreamSettings().stable_after == 10.0
    assert "stable_after" in EventStreamOptions.__optional_keys__
    open_isy_event_stream("http://isy.test", stable_after=0.0)  # type-checks and validates


def test_one_immediate_retry_after_401_then_it_is_final() -> None:
    p = policy()
    first = p.after_attempt(ended(OUT.AUTH_REFUSED, status_code=401))
    assert (first.action, first.delay, first.error) == (ACT.RETRY_AT_ONCE, 0.0, None)
    cause = rejected(401)
    second = p.after_attempt(ended(OUT.AUTH_REFUSED, status_code=401, cause=cause))
    assert second.action is ACT.FAIL
    assert isinstance(second.error, EventStreamRejected)
    assert (second.error.url, second.error.status_code) == (URL, 401)
    assert second.error.__cause__ is cause


def test_retry_after_401_asks_for_fresh_credentials_when_it_can() -> None:
    p = policy(can_reauthenticate=True)
    assert p.after_attempt(ended(OUT.AUTH_REFUSED)).action is ACT.REAUTHENTICATE
    # the credential source failed: wait a delay; the next refusal gets a fresh retry again
    waiting = p.after_failed_reauthentication()
    assert (waiting.action, waiting.delay, waiting.detail) == (
        ACT.RETRY_AFTER_DELAY,
        1.0,
        "reauthentication failed",
    )
    assert p.after_attempt(ended(OUT.AUTH_REFUSED)).action is ACT.REAUTHENTICATE
    assert p.after_attempt(ended(OUT.AUTH_REFUSED)).action is ACT.FAIL


def test_an_opened_connection_starts_a_new_streak_of_refusals() -> None:
    p = policy()
    assert p.after_attempt(ended(OUT.AUTH_REFUSED)).action is ACT.RETRY_AT_ONCE
    assert p.after_attempt(ended(OUT.TRANSIENT, opened=True)).action is ACT.RETRY_AFTER_DELAY
    assert p.after_attempt(ended(OUT.AUTH_REFUSED)).action is ACT.RETRY_AT_ONCE
    # a refused (not opened) transient attempt in between does not
    assert p.after_attempt(ended(OUT.TRANSIENT)).action is ACT.RETRY_AFTER_DELAY
    assert p.after_attempt(ended(OUT.AUTH_REFUSED)).action is ACT.FAIL


def test_refused_for_good_is_final_at_once_and_stopped_leaves() -> None:
    failed = policy().after_attempt(ended(OUT.REFUSED_FOR_GOOD, status_code=404))
    assert failed.action is ACT.FAIL and failed.error is not None
    assert failed.error.status_code == 404 and failed.detail == "refused for good"
    assert policy().after_attempt(ended(OUT.STOPPED, opened=True)).action is ACT.LEAVE


_ATTEMPTS = st.one_of(
    st.builds(
        ended,
        st.just(OUT.TRANSIENT),
        opened=st.booleans(),
        went_live=st.booleans(),
        live_for=st.sampled_from([0.0, 4.5, 5.0, 30.0]),
    ).filter(lambda e: e.opened or not e.went_live),
    st.builds(ended, st.just(OUT.AUTH_REFUSED), status_code=st.sampled_from([401, 403])),
    st.builds(ended, st.just(OUT.REFUSED_FOR_GOOD), status_code=st.just(404)),
)


@given(
    attempts=st.lists(_ATTEMPTS, max_size=40),
    can_reauthenticate=st.booleans(),
    reauthentication_fails=st.lists(st.booleans(), min_size=40, max_size=40),
    stable_after=st.sampled_from([0.0, 5.0, 10.0]),
)
def test_policy_invariants(
    attempts: list[AttemptEnded],
    can_reauthenticate: bool,
    reauthentication_fails: list[bool],
    stable_after: float,
) -> None:
    """Over any run of attempts: never two immediate retries in a row, FAIL only for a refusal,
    every delay is the next of the backoff's sequence (which restarts exactly when an attempt
    stayed live ``stable_after`` seconds), and a stream that failed gets no further decision."""
    p = ReconnectPolicy(
        STEADY, url=URL, can_reauthenticate=can_reauthenticate, stable_after=stable_after
    )
    nominal = [1.0, 2.0, 4.0, *[8.0] * 80]
    taken = 0
    previous: ReconnectDecision | None = None
    for attempt, reauth_fails in zip(attempts, reauthentication_fails, strict=False):
        decision = p.after_attempt(attempt)
        stable = attempt.went_live and attempt.live_for >= stable_after
        assert decision.backoff_reset == stable
        if stable:
            taken = 0
        immediate = {ACT.RETRY_AT_ONCE, ACT.REAUTHENTICATE}
        if decision.action in immediate:
            assert attempt.outcome is OUT.AUTH_REFUSED
            assert previous is None or previous.action not in immediate
            assert (decision.action is ACT.REAUTHENTICATE) == can_reauthenticate
        if decision.action is ACT.FAIL:
            assert attempt.outcome in (OUT.AUTH_REFUSED, OUT.REFUSED_FOR_GOOD)
            assert decision.error is not None
            assert decision.error.status_code == attempt.status_code
            return
        if decision.action is ACT.RETRY_AFTER_DELAY:
            assert decision.delay == nominal[taken]
            taken += 1
        if decision.action is ACT.REAUTHENTICATE and reauth_fails:
            waiting = p.after_failed_reauthentication()
            assert waiting.delay == nominal[taken]
            taken += 1
            decision = waiting
        previous = decision


# --------------------------------------------------------------------- one connection


def make_connection(went_live: list[str]) -> Connection[str]:
    settings = StreamSettings(quiet=1.0, cap=10.0)
    reading = Reading(
        url=URL,
        settings=settings,
        decode=str,
        heartbeat=None,
        counters=Counters(),
        buffer=EventBuffer[typing.Any](10, Overflow.DROP_OLDEST),
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
