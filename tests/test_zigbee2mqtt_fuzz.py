"""Hostile input to the Zigbee2MQTT provider (project issue 19): every parser gives each
payload a typed outcome — a parsed record, or :class:`PayloadError` with a :class:`BadInput`
kind — and nothing else escapes; the record takes every parsed message without raising; and
against a real mosquitto, no payload on any subscribed topic ends the lock's block.

Payloads are built as bytes, not with ``json.dumps``: what breaks parsers (``NaN``, ``1e400``,
5,000-digit integers, nesting deeper than the recursion limit, invalid UTF-8) is exactly what
``json.dumps`` cannot or will not write."""

from __future__ import annotations

import collections
import json
import logging
import math
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from trio_locksync import Pin, SlotCredential
from trio_locksync.providers.zigbee2mqtt._models import Availability, BadInput
from trio_locksync.providers.zigbee2mqtt._payload import (
    DeviceMessage,
    PayloadError,
    PublishFailure,
    UserEntry,
    parse_availability,
    parse_bridge_log,
    parse_device_message,
    project,
)
from trio_locksync.providers.zigbee2mqtt._record import DeviceRecord

from .brokerhelpers import Broker, needs_mosquitto
from .test_zigbee2mqtt import NAME, site, wait_until

FUZZ = settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

# -- JSON-ish text, as bytes -------------------------------------------------------------------


def _dumps(value: object) -> bytes:
    return json.dumps(value).encode()


def _array(items: list[bytes]) -> bytes:
    return b"[" + b",".join(items) + b"]"


def _object(pairs: list[tuple[bytes, bytes]]) -> bytes:
    return b"{" + b",".join(key + b":" + value for key, value in pairs) + b"}"


NON_FINITE = [b"NaN", b"Infinity", b"-Infinity", b"1e400", b"-1e400", b"1E999"]
huge_ints = st.integers(min_value=21, max_value=6000).map(lambda n: b"9" * n)
numbers = st.one_of(
    st.integers().map(lambda i: str(i).encode()),
    st.integers(min_value=-(2**70), max_value=2**70).map(lambda i: str(i).encode()),
    st.floats(allow_nan=False, allow_infinity=False).map(lambda f: repr(f).encode()),
    st.sampled_from(NON_FINITE),
    huge_ints,
)
strings = st.one_of(
    st.text(max_size=20).map(_dumps),  # lone surrogates come out as \ud800 escapes
    st.binary(max_size=12).map(lambda b: b'"' + b + b'"'),  # invalid UTF-8 or JSON, often
    st.integers(min_value=1, max_value=1 << 16).map(lambda n: b'"' + b"x" * n + b'"'),
)
leaves = st.one_of(st.sampled_from([b"null", b"true", b"false"]), numbers, strings)
FIELDS = [
    "users",
    "status",
    "pin_code",
    "last_seen",
    "state",
    "lock_state",
    "action",
    "action_user",
    "action_source",
    "action_source_name",
    "level",
    "message",
    "namespace",
]
keys = st.one_of(st.sampled_from(FIELDS), st.text(max_size=6)).map(_dumps)
values = st.recursive(
    leaves,
    lambda children: st.one_of(
        st.lists(children, max_size=4).map(_array),
        st.lists(st.tuples(keys, children), max_size=4).map(_object),
    ),
    max_leaves=25,
)

# device messages: the fields we read, with values of every type


def _iso(moment: Any) -> bytes:
    return _dumps(moment.isoformat())


last_seens = st.one_of(
    values,
    st.integers(min_value=-(10**20), max_value=10**20).map(lambda i: str(i).encode()),
    st.datetimes().map(_iso),
    st.datetimes(timezones=st.timezones()).map(_iso),
    st.sampled_from(NON_FINITE),
    st.just(b'"9999-12-31T23:59:59-23:59"'),
)
user_keys = st.one_of(
    st.integers(min_value=-3, max_value=70_000).map(str),
    st.sampled_from(["9" * 5000, "03", "", "front", "\u0663", "1.0", "65534", "65535"]),
    st.text(max_size=6),
).map(_dumps)
byte_buffers = st.lists(st.integers(min_value=-2, max_value=300), max_size=12).map(
    lambda codes: _object([(_dumps(str(i)), str(c).encode()) for i, c in enumerate(codes)])
)
pin_codes = st.one_of(
    st.text(alphabet="0123456789*", max_size=12).map(_dumps),
    byte_buffers,
    st.sampled_from([b"null", b"true", b"false", b"[1, 2]", b'{"a": 1}', b'{"0": true}']),
    values,
)
statuses = st.one_of(
    st.sampled_from(["enabled", "available", "disabled", "not_supported_255", "x"]).map(_dumps),
    values,
)
entries = st.one_of(
    st.lists(
        st.one_of(
            st.tuples(st.just(b'"status"'), statuses),
            st.tuples(st.just(b'"pin_code"'), pin_codes),
        ),
        max_size=3,
    ).map(_object),
    values,
)
users = st.one_of(st.lists(st.tuples(user_keys, entries), max_size=6).map(_object), values)
actions = st.one_of(
    st.sampled_from(
        ["keypad_unlock", "lock", "unlock", "pin_code_added", "", "unlock_failure_x", "_lock"]
    ).map(_dumps),
    values,
)
action_users = st.one_of(
    st.integers(min_value=-2, max_value=70_000).map(lambda i: str(i).encode()), values
)
device_fields = st.one_of(
    st.tuples(st.just(b'"users"'), users),
    st.tuples(st.just(b'"last_seen"'), last_seens),
    st.tuples(st.just(b'"action"'), actions),
    st.tuples(st.just(b'"action_user"'), action_users),
    st.tuples(st.sampled_from([b'"state"', b'"lock_state"', b'"action_source"']), values),
    st.tuples(keys, values),
)
device_messages = st.lists(device_fields, max_size=6).map(_object)

# nesting deeper than any recursion limit, built directly
deep = st.tuples(
    st.integers(min_value=1, max_value=150_000),
    st.sampled_from([b"[", b'{"a":', b'{"users":', b'[{"b":']),
    st.booleans(),
).map(lambda t: t[1] * t[0] + (b"1" + (b"]" if t[1] == b"[" else b"}") * t[0] if t[2] else b""))

anything = st.one_of(
    st.binary(max_size=64),
    values,
    device_messages,
    deep,
    st.sampled_from([b"", b" ", b"\xef\xbb\xbf{}", b"\xff\xfe{\x00}\x00", b"x" * ((1 << 20) + 1)]),
)

# bridge/logging lines: 2.x and 1.x shapes, names with quotes and colons, user ids of any size
log_names = st.one_of(st.just(NAME), st.text(max_size=12))
log_messages = st.builds(
    lambda ns, op, attr, name, user, tail: (
        f"{ns}Publish '{op}' '{attr}' to '{name}' failed: 'Error: {{\"userid\":{user}}} {tail}'"
    ),
    st.sampled_from(["", "z2m: ", "z2m:mqtt: ", "zh:ember: ", "junk text: ", ":"]),
    st.sampled_from(["set", "get", "put"]),
    st.sampled_from(["pin_code", "state", "x'y"]),
    log_names,
    st.one_of(st.integers(min_value=0, max_value=70_000).map(str), st.just("9" * 5000)),
    st.sampled_from(["Delivery failed", "Status 'INVALID_FIELD'", "must be in range", "Timeout"]),
)
log_lines = st.one_of(
    st.builds(
        lambda level, message, namespace: _object(
            [(b'"level"', level), (b'"message"', message)]
            + ([(b'"namespace"', namespace)] if namespace is not None else [])
        ),
        st.one_of(st.sampled_from(["error", "info", "warning"]).map(_dumps), values),
        st.one_of(log_messages.map(_dumps), values),
        st.one_of(st.none(), st.just(b'"z2m"'), values),
    ),
    anything,
)


# -- each parser: a typed outcome, nothing else --------------------------------------------------


def _check_device(parsed: DeviceMessage) -> None:
    assert all(isinstance(kind, BadInput) for kind in parsed.bad_entries)
    assert parsed.last_seen is None or math.isfinite(parsed.last_seen)
    for user, entry in parsed.users.items():
        assert 0 <= user <= 65534 and isinstance(entry, UserEntry)
        assert isinstance(entry.status, str)
        assert entry.pin_code is None or isinstance(entry.pin_code, str)
        assert project(entry) is None or isinstance(project(entry), SlotCredential)
    action = parsed.action
    assert action is None or action.slot is None or 0 <= action.slot <= 65534


def _outcome(parse: Callable[[bytes], object], payload: bytes) -> object:
    try:
        return parse(payload)
    except PayloadError as error:
        outcome = error
    assert isinstance(outcome.kind, BadInput)
    assert str(outcome) == outcome.kind.value  # the kind, never the payload
    return outcome


def _record() -> DeviceRecord:
    """A record with reads pending and writes in their window: every branch of ``take``."""
    record = DeviceRecord(expose_pin=True)
    for slot in (0, 1, 2, 3):
        record.reads.expect(slot)
    record.wrote(1, Pin("1234"))
    record.wrote(2, None)
    return record


@FUZZ
@given(st.lists(st.one_of(device_messages, anything), min_size=1, max_size=4), st.booleans())
def test_device_parser_and_record_never_raise_on_hostile_messages(
    payloads: list[bytes], retained: bool
) -> None:
    record = _record()
    for payload in payloads:
        parsed = _outcome(parse_device_message, payload)
        if isinstance(parsed, DeviceMessage):
            _check_device(parsed)
            record.take(parsed, retained=retained)
            record.take(parsed, retained=not retained)
    assert record.last_seen == -math.inf or math.isfinite(record.last_seen)
    for slot in (0, 1, 2, 3):
        record.reading(slot)


@FUZZ
@given(anything)
def test_availability_parser_never_raises_on_hostile_payloads(payload: bytes) -> None:
    outcome = _outcome(parse_availability, payload)
    assert isinstance(outcome, Availability | PayloadError)


@FUZZ
@given(log_lines, log_names)
def test_bridge_log_parser_never_raises_on_hostile_lines(payload: bytes, name: str) -> None:
    outcome = _outcome(lambda p: parse_bridge_log(p, name), payload)
    assert outcome is None or isinstance(outcome, PublishFailure | PayloadError)
    if isinstance(outcome, PublishFailure):
        assert outcome.user is None or 0 <= outcome.user <= 65534
        record = _record()
        record.failed(outcome)


@FUZZ
@given(deep)
def test_deep_nesting_is_too_deep_or_not_json_on_every_parser(payload: bytes) -> None:
    for parse in (parse_device_message, parse_availability, lambda p: parse_bridge_log(p, NAME)):
        outcome = _outcome(parse, payload)
        if isinstance(outcome, PayloadError):
            assert outcome.kind in (
                BadInput.TOO_DEEP,
                BadInput.TOO_LARGE,
                BadInput.NOT_JSON,
                BadInput.NOT_OBJECT,
                BadInput.NOT_AVAILABILITY,
                BadInput.LOG_LINE,
            )


@FUZZ
@given(st.lists(st.tuples(actions, action_users, values), max_size=4))
def test_action_parser_never_raises_via_device_messages(
    fields: list[tuple[bytes, bytes, bytes]],
) -> None:
    for action, user, source in fields:
        payload = _object(
            [(b'"action"', action), (b'"action_user"', user), (b'"action_source_name"', source)]
        )
        parsed = _outcome(parse_device_message, payload)
        if isinstance(parsed, DeviceMessage):
            _check_device(parsed)


# -- against a real mosquitto: no payload ends the block ------------------------------------------

DEEP = b"[" * 100_000
HUGE = b"9" * 5000
TOO_LARGE = b'{"a": "' + b"x" * (1 << 20) + b'"}'
BASE = "zigbee2mqtt"

#: (topic suffix, payload, the kind it must be counted as)
HOSTILE: list[tuple[str, bytes, BadInput]] = [
    (NAME, DEEP, BadInput.TOO_DEEP),
    (NAME, b'{"users": ' + b'{"1": ' * 50_000, BadInput.TOO_DEEP),
    (NAME, b'{"users": {"' + HUGE + b'": {"status": "available"}}}', BadInput.USER_KEY),
    (NAME, b'{"last_seen": 1e400}', BadInput.NON_FINITE),
    (NAME, b'{"last_seen": Infinity}', BadInput.NON_FINITE),
    (NAME, b'{"last_seen": NaN}', BadInput.NON_FINITE),
    (NAME, b'{"battery": ' + HUGE + b"}", BadInput.NUMBER_TOO_LARGE),
    (NAME, b'{"last_seen": "' + b"9" * 100 + b'"}', BadInput.LAST_SEEN),
    (NAME, b'{"users": {"2": {"status": "enabled", "pin_code": [1, 2]}}}', BadInput.PIN_CODE),
    (NAME, b'{"users": {"2": {"status": "enabled", "pin_code": {"a": 1}}}}', BadInput.PIN_CODE),
    (NAME, b'{"users": {"2": {"status": "enabled", "pin_code": true}}}', BadInput.PIN_CODE),
    (NAME, b'{"action": "keypad_unlock", "action_user": "1"}', BadInput.ACTION_USER),
    (NAME, TOO_LARGE, BadInput.TOO_LARGE),
    (NAME, b'{"a": "\xc3\x28"}', BadInput.NOT_UTF8),
    (NAME, b"null", BadInput.NOT_OBJECT),
]
for _topic in (f"{NAME}/availability", "bridge/state"):
    HOSTILE += [
        (_topic, DEEP, BadInput.TOO_DEEP),
        (_topic, b'{"state": 1e400}', BadInput.NON_FINITE),
        (_topic, b'{"state": Infinity}', BadInput.NON_FINITE),
        (_topic, b'{"state": ' + HUGE + b"}", BadInput.NUMBER_TOO_LARGE),
        (_topic, TOO_LARGE, BadInput.TOO_LARGE),
        (_topic, b"\xff", BadInput.NOT_UTF8),
        (_topic, b'{"state": "sideways"}', BadInput.NOT_AVAILABILITY),
    ]
_FAILED_5000 = (
    "z2m: Publish 'get' 'pin_code' to 'front_door' failed: 'Error: ZCL command "
    'closuresDoorLock.getPinCode({"userid":' + "9" * 5000 + "}) failed (Delivery failed)'"
)
HOSTILE += [
    ("bridge/logging", DEEP, BadInput.TOO_DEEP),
    ("bridge/logging", b'{"level": "error", "message": "x", "n": 1e400}', BadInput.NON_FINITE),
    ("bridge/logging", b'{"level": "error", "message": NaN}', BadInput.NON_FINITE),
    ("bridge/logging", b'{"level": "info", "n": ' + HUGE + b"}", BadInput.NUMBER_TOO_LARGE),
    ("bridge/logging", TOO_LARGE, BadInput.TOO_LARGE),
    ("bridge/logging", b"\xff\xfe", BadInput.NOT_UTF8),
    ("bridge/logging", b"[]", BadInput.NOT_OBJECT),
    ("bridge/logging", b'{"level": 1, "message": []}', BadInput.LOG_LINE),
    ("bridge/logging", _dumps({"level": "error", "message": _FAILED_5000}), BadInput.LOG_USER),
]


@needs_mosquitto
async def test_hostile_payloads_on_every_topic_do_not_end_the_block(broker: Broker) -> None:
    # the bug: a RecursionError, a ValueError from int() or an OverflowError raised out of a
    # subscription task and ended the whole `async with Zigbee2MqttLock(...)` block
    async with site(broker.port, slots=3, expose_pin=True, last_seen=True, codes={1: "1234"}) as s:
        assert await s.lock.read_slots([1]) == {1: SlotCredential.known("1234")}
        assert s.lock.statistics().bad_inputs == {}
        for suffix, payload, _ in HOSTILE:
            await s.bridge.publish(f"{BASE}/{suffix}", payload, qos=1)
        expected = collections.Counter(kind for _, _, kind in HOSTILE)
        await wait_until(lambda: sum(s.lock.statistics().bad_inputs.values()) >= expected.total())
        # still working: a read answers (and the lock was not made deaf by last_seen: inf)
        assert await s.lock.read_slots([1]) == {1: SlotCredential.known("1234")}
        stats = s.lock.statistics()
        assert stats.reachable and stats.stale == 0
    assert dict(stats.bad_inputs) == dict(expected)
    assert stats.handler_errors == {}


@needs_mosquitto
@pytest.mark.parametrize("value", [b"Infinity", b"1e400", b"NaN"])
async def test_last_seen_infinity_does_not_make_later_answers_stale(
    broker: Broker, value: bytes
) -> None:
    # the bug: Python's json accepts Infinity (and reads 1e400 as inf); last_seen = inf made
    # every later message "not newer", so every answer was ignored as stale
    async with site(broker.port, slots=3, expose_pin=True, last_seen=True, codes={2: "4321"}) as s:
        await s.bridge.publish(f"{BASE}/{NAME}", b'{"last_seen": ' + value + b"}", qos=1)
        await wait_until(lambda: s.lock.statistics().bad_inputs.get(BadInput.NON_FINITE) == 1)
        assert await s.lock.read_slots([2]) == {2: SlotCredential.known("4321")}
        assert await s.lock.read_slots([3]) == {3: SlotCredential.empty()}
        assert s.lock.statistics().stale == 0


@needs_mosquitto
async def test_an_exception_handling_one_message_is_counted_and_the_next_is_handled(
    broker: Broker, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    # a handler bug must not end the block, and its log must not quote the payload (the
    # exception's message may: only the type is logged)
    from trio_locksync.providers.zigbee2mqtt import _reader

    real = parse_device_message

    def parse(payload: bytes) -> DeviceMessage:
        if b"boom" in payload:
            raise RuntimeError(f"cannot handle {payload!r}")
        return real(payload)

    monkeypatch.setattr(_reader, "parse_device_message", parse)
    caplog.set_level(logging.DEBUG, logger="trio_locksync")
    async with site(broker.port, slots=2, expose_pin=True, codes={1: "1234"}) as s:
        for _ in range(2):
            await s.bridge.publish(f"{BASE}/{NAME}", b'{"boom": "918273"}', qos=1)
        await wait_until(lambda: s.lock.statistics().handler_errors.get("RuntimeError") == 2)
        assert await s.lock.read_slots([1]) == {1: SlotCredential.known("1234")}
        stats = s.lock.statistics()
    assert stats.bad_inputs[BadInput.HANDLER_ERROR] == 2
    assert "918273" not in caplog.text and "boom" not in caplog.text
    raised = [r for r in caplog.records if "raised RuntimeError" in r.getMessage()]
    assert [r.levelno for r in raised] == [logging.ERROR, logging.DEBUG]
    assert all(r.exc_info is None for r in caplog.records)


@needs_mosquitto
async def test_bad_input_is_logged_by_kind_never_by_content(
    broker: Broker, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="trio_locksync")
    secret = b'{"users": {"2": {"status": "enabled", "pin_code": ["918273"]}}, "x": NaN}'
    async with site(broker.port, slots=2) as s:
        for payload in (secret, secret, b'{"users": {"2": {"pin_code": ["918273"]}}}'):
            await s.bridge.publish(f"{BASE}/{NAME}", payload, qos=1)
        await wait_until(lambda: sum(s.lock.statistics().bad_inputs.values()) == 3)
    assert "918273" not in caplog.text
    bad = [r for r in caplog.records if "non-finite number" in r.getMessage()]
    assert [r.levelno for r in bad] == [logging.WARNING, logging.DEBUG]
