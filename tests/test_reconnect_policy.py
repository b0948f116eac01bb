"""The core's one reconnecting-client policy, as the event stream and the MQTT bridge use it.

Sans-I/O: no sockets, no clock. Each client's rules (the stream's immediate retry after a
401/403, the bridge's retry-once-after-a-delay of a refusal, flaps, unanswered CONNECTs) are
the same policy with the client's options, so they are pinned here side by side.
"""

from __future__ import annotations

import math
import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from trio_locksync.core import (
    AttemptOutcome,
    Backoff,
    Decision,
    Jitter,
    ReconnectAction,
    ReconnectOptions,
    ReconnectPolicy,
    RefusalRetry,
)

OUT = AttemptOutcome
ACT = ReconnectAction
STEADY = Backoff(initial=1.0, maximum=8.0, jitter=Jitter.NONE)


def options(stable_after: float = 0.0) -> ReconnectOptions:
    return ReconnectOptions(backoff=STEADY, stable_after=stable_after)


class Client:
    """Drives a policy as a client does: answered at socket-open (or CONNACK), live at
    CONNECTED, ended when the attempt is over; time moves as the test says."""

    def __init__(self, policy: ReconnectPolicy) -> None:
        self.policy = policy
        self.now = 0.0

    def attempt(
        self,
        outcome: AttemptOutcome,
        *,
        opened: bool = False,
        went_live: bool = False,
        live_for: float = 0.0,
    ) -> Decision:
        if opened:
            self.policy.answered()
        if went_live:
            self.policy.live(self.now)
            self.now += live_for
        decision = self.policy.ended(self.now, outcome, outcome.value)
        self.now += decision.delay + 1.0
        return decision


def stream(*, can_reauthenticate: bool = False, stable_after: float = 0.0) -> Client:
    retry = RefusalRetry.REAUTHENTICATE if can_reauthenticate else RefusalRetry.AT_ONCE
    return Client(ReconnectPolicy(options(stable_after), refusal_retry=retry))


# ------------------------------------------------------------------ the event stream's rules


def test_failed_attempts_wait_the_backoff_delays_in_turn() -> None:
    c = stream()
    decisions = [c.attempt(OUT.FAILED) for _ in range(6)]
    assert {d.action for d in decisions} == {ACT.RETRY_AFTER_DELAY}
    assert [d.delay for d in decisions] == [1.0, 2.0, 4.0, 8.0, 8.0, 8.0]


def test_backoff_resets_only_after_a_connection_went_live() -> None:
    c = stream()
    assert c.attempt(OUT.FAILED).delay == 1.0
    opened = c.attempt(OUT.LOST, opened=True)  # dropped while SYNCING
    assert (opened.delay, opened.backoff_reset) == (2.0, False)
    live = c.attempt(OUT.LOST, opened=True, went_live=True)
    assert (live.delay, live.backoff_reset) == (1.0, True)
    assert c.attempt(OUT.FAILED).delay == 2.0


def test_backoff_resets_only_after_stable_after_seconds_live() -> None:
    """Live for ``stable_after`` seconds (or more) resets the delays; a connection that went
    live but was lost sooner does not."""
    c = stream(stable_after=10.0)
    assert c.attempt(OUT.FAILED).delay == 1.0
    short = c.attempt(OUT.LOST, opened=True, went_live=True, live_for=9.5)
    assert (short.delay, short.backoff_reset) == (2.0, False)
    stable = c.attempt(OUT.LOST, opened=True, went_live=True, live_for=10.0)
    assert (stable.delay, stable.backoff_reset) == (1.0, True)
    assert c.attempt(OUT.LOST, opened=True).delay == 2.0


@pytest.mark.parametrize("bad", [-1.0, math.inf, math.nan])
def test_stable_after_must_be_a_finite_number_of_seconds(bad: float) -> None:
    with pytest.raises(ValueError, match="stable_after"):
        ReconnectOptions(stable_after=bad)


@pytest.mark.parametrize("bad", [0.0, -1.0, math.inf, math.nan])
@pytest.mark.parametrize("name", ["connect_timeout", "handshake_timeout"])
def test_the_timeouts_must_be_positive_numbers_of_seconds(name: str, bad: float) -> None:
    with pytest.raises(ValueError, match=name):
        ReconnectOptions(**{name: bad})


def test_a_server_that_opened_the_socket_gets_longer_to_answer() -> None:
    """The defaults: 10 s to open the socket, 30 s for the answer (the storm benchmark: cut
    at 10 s, a busy server's clients only went to the back of its queue)."""
    options = ReconnectOptions()
    assert (options.connect_timeout, options.handshake_timeout) == (10.0, 30.0)


def test_one_immediate_retry_after_a_denial_then_it_is_final() -> None:
    c = stream()
    first = c.attempt(OUT.DENIED)
    assert (first.action, first.delay) == (ACT.RETRY_AT_ONCE, 0.0)
    assert c.attempt(OUT.DENIED).action is ACT.GIVE_UP


def test_retry_after_a_denial_asks_for_fresh_credentials_when_it_can() -> None:
    c = stream(can_reauthenticate=True)
    assert c.attempt(OUT.DENIED).action is ACT.REAUTHENTICATE
    # the credential source failed: wait a delay; the next refusal gets a fresh retry again
    waiting = c.policy.reauthentication_failed()
    assert (waiting.action, waiting.delay, waiting.detail) == (
        ACT.RETRY_AFTER_DELAY,
        1.0,
        "reauthentication failed",
    )
    assert c.attempt(OUT.DENIED).action is ACT.REAUTHENTICATE
    assert c.attempt(OUT.DENIED).action is ACT.GIVE_UP


def test_an_answered_attempt_starts_a_new_streak_of_denials() -> None:
    c = stream()
    assert c.attempt(OUT.DENIED).action is ACT.RETRY_AT_ONCE
    assert c.attempt(OUT.LOST, opened=True).action is ACT.RETRY_AFTER_DELAY
    assert c.attempt(OUT.DENIED).action is ACT.RETRY_AT_ONCE
    # a failed (not answered) attempt in between does not
    assert c.attempt(OUT.FAILED).action is ACT.RETRY_AFTER_DELAY
    assert c.attempt(OUT.DENIED).action is ACT.GIVE_UP


def test_refused_is_final_at_once_and_stopped_leaves() -> None:
    failed = stream().attempt(OUT.REFUSED)
    assert (failed.action, failed.detail) == (ACT.GIVE_UP, "refused")
    assert stream().attempt(OUT.STOPPED, opened=True).action is ACT.LEAVE


_ATTEMPTS = st.one_of(
    # a failed attempt never opened; a lost one did, and may have gone live (the stream's)
    st.tuples(st.just(OUT.FAILED), st.just(False), st.just(False), st.just(0.0)),
    st.tuples(
        st.just(OUT.LOST), st.just(True), st.booleans(), st.sampled_from([0.0, 4.5, 5.0, 30.0])
    ),
    st.tuples(st.just(OUT.DENIED), st.just(False), st.just(False), st.just(0.0)),
    st.tuples(st.just(OUT.REFUSED), st.just(False), st.just(False), st.just(0.0)),
)


@given(
    attempts=st.lists(_ATTEMPTS, max_size=40),
    can_reauthenticate=st.booleans(),
    reauthentication_fails=st.lists(st.booleans(), min_size=40, max_size=40),
    stable_after=st.sampled_from([0.0, 5.0, 10.0]),
)
def test_policy_invariants(
    attempts: list[tuple[AttemptOutcome, bool, bool, float]],
    can_reauthenticate: bool,
    reauthentication_fails: list[bool],
    stable_after: float,
) -> None:
    """Over any run of attempts: never two immediate retries in a row, GIVE_UP only for a
    refusal, every delay is the next of the backoff's sequence (which restarts exactly when an
    attempt stayed live ``stable_after`` seconds), and a client that gave up gets no further
    decision."""
    c = stream(can_reauthenticate=can_reauthenticate, stable_after=stable_after)
    nominal = [1.0, 2.0, 4.0, *[8.0] * 80]
    taken = 0
    previous: Decision | None = None
    for (outcome, opened, went_live, live_for), reauth_fails in zip(
        attempts, reauthentication_fails, strict=False
    ):
        decision = c.attempt(outcome, opened=opened, went_live=went_live, live_for=live_for)
        stable = went_live and live_for >= stable_after
        assert decision.backoff_reset == stable or decision.action is ACT.GIVE_UP
        if stable:
            taken = 0
        immediate = {ACT.RETRY_AT_ONCE, ACT.REAUTHENTICATE}
        if decision.action in immediate:
            assert outcome is OUT.DENIED
            assert previous is None or previous.action not in immediate
            assert (decision.action is ACT.REAUTHENTICATE) == can_reauthenticate
        if decision.action is ACT.GIVE_UP:
            assert outcome in (OUT.DENIED, OUT.REFUSED)
            return
        if decision.action is ACT.RETRY_AFTER_DELAY:
            assert decision.delay == nominal[taken]
            taken += 1
        if decision.action is ACT.REAUTHENTICATE and reauth_fails:
            waiting = c.policy.reauthentication_failed()
            assert waiting.delay == nominal[taken]
            taken += 1
            decision = waiting
        previous = decision


# ------------------------------------------------------------------ the MQTT bridge's rules

FLAP_HINT = "another client with this client id? a broker refusing this client after CONNACK?"


def bridge(**kwargs: object) -> ReconnectPolicy:
    return ReconnectPolicy(
        options(stable_after=10.0),
        flap_hint=FLAP_HINT,
        **kwargs,  # type: ignore[arg-type]
    )


def test_backoff_resets_only_after_a_stable_connection() -> None:
    policy = bridge(rng=random.Random(1))
    delays = [policy.ended(0.0, OUT.FAILED, "refused").delay for _ in range(3)]
    assert delays == [1.0, 2.0, 4.0]
    policy.answered()
    policy.live(100.0)
    retry = policy.ended(105.0, OUT.LOST, "lost")  # up 5 s < 10 s: a flap, no reset
    assert (retry.action, retry.delay) == (ACT.RETRY_AFTER_DELAY, 8.0)
    policy.answered()
    policy.live(200.0)
    retry = policy.ended(215.0, OUT.LOST, "lost")  # up 15 s: stable, start over
    assert (retry.action, retry.delay, retry.backoff_reset) == (ACT.RETRY_AFTER_DELAY, 1.0, True)


def test_accept_then_drop_keeps_backing_off_and_says_so() -> None:
    policy = bridge(flap_limit=3)
    now = 0.0
    delays = []
    for _ in range(6):
        policy.answered()
        policy.live(now)
        retry = policy.ended(now + 0.1, OUT.LOST, "connection lost")
        assert retry.action is ACT.RETRY_AFTER_DELAY
        delays.append(retry.delay)
        now += retry.delay + 0.1
    assert delays == [1.0, 2.0, 4.0, 8.0, 8.0, 8.0]
    assert "another client with this client id" in retry.detail
    assert retry.detail.startswith("connection lost; dropped 6 times in a row within 10 s")
    assert policy.flaps_total == 6


def test_a_client_without_a_flap_hint_counts_flaps_but_keeps_its_words() -> None:
    policy = ReconnectPolicy(options(stable_after=10.0))
    for now in (0.0, 20.0, 40.0, 60.0):
        policy.live(now)
        assert policy.ended(now + 1.0, OUT.LOST, "lost").detail == "lost"
    assert policy.flaps_total == 4


def test_denials_are_retried_once_after_a_delay_then_final() -> None:
    policy = bridge()
    first = policy.ended(0.0, OUT.DENIED, "no")
    assert (first.action, first.delay, first.detail) == (
        ACT.RETRY_AFTER_DELAY,
        1.0,
        "no; retrying once",
    )
    assert policy.ended(1.0, OUT.DENIED, "no") == Decision(action=ACT.GIVE_UP, detail="no")


def test_a_session_taken_over_after_each_reconnect_is_retried_each_time() -> None:
    """A connection answered in between ends the streak: a broker that lets us in and then
    says another client took over is retried once more each time, never given up."""
    policy = bridge()
    for now in (0.0, 100.0, 200.0):
        policy.answered()
        policy.live(now)
        assert policy.ended(now + 50.0, OUT.DENIED, "taken over").action is (ACT.RETRY_AFTER_DELAY)


def test_unanswered_attempts_add_the_hint_from_the_limit_on() -> None:
    policy = ReconnectPolicy(options(), unanswered_hint="speak 3.1.1?", unanswered_limit=3)
    details = [policy.ended(0.0, OUT.UNANSWERED, "closed before CONNACK").detail for _ in "abc"]
    assert details[:2] == ["closed before CONNACK"] * 2
    assert details[2] == "closed before CONNACK (3 times in a row): speak 3.1.1?"
    policy.answered()
    assert policy.unanswered == 0


def test_the_bridge_retries_a_denial_again_after_another_ending_in_between() -> None:
    """Refused, down for a while, refused again: the bridge retries once more, as it always did
    (a broker that was down may come back with other credentials loaded); only two denials in a
    row are final. The stream's rule is stricter (test_an_answered_attempt_starts_...)."""
    policy = bridge()
    assert policy.ended(0.0, OUT.DENIED, "bad password").action is ACT.RETRY_AFTER_DELAY
    assert policy.ended(1.0, OUT.FAILED, "connection refused").action is ACT.RETRY_AFTER_DELAY
    assert policy.ended(2.0, OUT.DENIED, "bad password").action is ACT.RETRY_AFTER_DELAY
    assert policy.ended(3.0, OUT.DENIED, "bad password").action is ACT.GIVE_UP


def test_a_session_taken_over_neither_resets_the_delays_nor_counts_as_a_flap() -> None:
    """Two clients with one client id: each takeover is a denial, not a lost connection, so
    the delays keep growing however long each connection lived."""
    policy = bridge()
    delays = []
    now = 0.0
    for _ in range(4):
        policy.answered()
        policy.live(now)
        now += 100.0  # far past stable_after
        decision = policy.ended(now, OUT.DENIED, "taken over")
        delays.append(decision.delay)
        assert not decision.backoff_reset
    assert delays == [1.0, 2.0, 4.0, 8.0] and policy.flaps_total == 0
