"""The Zigbee2MQTT provider's sans-I/O parts: payloads we publish, payloads we parse, what a
``users`` entry means, the action vocabulary, and the record that tells news from cached
republishes and replays and correlates reads (no broker, no trio)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from trio_locksync import Pin, SlotCredential, SlotUpdate
from trio_locksync.providers.zigbee2mqtt import Availability, EventSource, LockAction, LockState
from trio_locksync.providers.zigbee2mqtt._actions import parse_action
from trio_locksync.providers.zigbee2mqtt._models import BadInput
from trio_locksync.providers.zigbee2mqtt._payload import (
    PayloadError,
    PublishFailure,
    UserEntry,
    parse_availability,
    parse_bridge_log,
    parse_device_message,
    project,
)
from trio_locksync.providers.zigbee2mqtt._reads import (
    Answered,
    Declined,
    Doubting,
    Refused,
    TimedOut,
    Undelivered,
    Waiting,
)
from trio_locksync.providers.zigbee2mqtt._record import DeviceRecord
from trio_locksync.providers.zigbee2mqtt._requests import (
    clear_payload,
    command_payload,
    get_payload,
    set_payload,
)

EMPTY = SlotCredential.empty()
MASKED = SlotCredential.unreadable()


def known(pin: str) -> SlotCredential:
    return SlotCredential.known(pin)


def msg(**fields: Any) -> bytes:
    return json.dumps(fields).encode()


def users(**entries: dict[str, Any]) -> bytes:
    return msg(users={k.lstrip("u"): v for k, v in entries.items()})


# -- what we publish --------------------------------------------------------------------------


def test_requests_are_the_converters_payloads() -> None:
    assert json.loads(set_payload(3, Pin("0123"))) == {
        "pin_code": {
            "user": 3,
            "user_type": "unrestricted",
            "user_enabled": True,
            "pin_code": "0123",
        }
    }
    assert json.loads(clear_payload(3)) == {
        "pin_code": {"user": 3, "user_enabled": False, "pin_code": None}
    }
    assert json.loads(get_payload(7)) == {"pin_code": {"user": 7}}
    assert json.loads(command_payload("LOCK")) == {"state": "LOCK"}
    assert json.loads(command_payload("UNLOCK", Pin("4321"))) == {
        "state": {"state": "UNLOCK", "code": "4321"}
    }


# -- what a users entry means ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("entry", "expected"),
    [
        ({"status": "available"}, EMPTY),
        ({"status": "available", "pin_code": ""}, EMPTY),
        ({"status": "enabled", "pin_code": "1234"}, known("1234")),
        ({"status": "enabled", "pin_code": "0042"}, known("0042")),
        ({"status": "enabled"}, MASKED),  # expose_pin off
        ({"status": "enabled", "pin_code": ""}, MASKED),
        ({"status": "enabled", "pin_code": "****"}, MASKED),
        ({"status": "enabled", "pin_code": None}, MASKED),  # SPEC says empty; notes: never produced
        ({"status": "enabled", "pin_code": "12"}, MASKED),  # not a PIN we can hold
        ({"status": "enabled", "pin_code": {"0": 49, "1": 50, "2": 51, "3": 52}}, known("1234")),
        ({"status": "enabled", "pin_code": {}}, MASKED),
        ({"status": "enabled", "pin_code": {"0": "x"}}, MASKED),
        ({"status": "enabled", "pin_code": 5678}, known("5678")),
        ({"status": "enabled", "pin_code": [1, 2]}, MASKED),
        ({"status": "disabled", "pin_code": "1234"}, MASKED),
        ({"status": "frozen"}, MASKED),  # unknown: present, never empty
        ({"status": "not_supported_255"}, None),
        ({"status": "not_supported_2"}, None),
    ],
)
def test_projection_of_a_users_entry(
    entry: dict[str, Any], expected: SlotCredential | None
) -> None:
    (parsed,) = parse_device_message(users(u1=entry)).users.values()
    assert project(parsed) == expected


def test_expose_pin_false_ignores_a_merged_in_code() -> None:
    entry = UserEntry("enabled", "1234")  # kept by the deep-merged cache after the option went off
    assert project(entry, expose_pin=False) == MASKED
    assert project(UserEntry("available", "1234"), expose_pin=False) == EMPTY


def test_user_entry_repr_hides_the_code() -> None:
    assert "1234" not in repr(UserEntry("enabled", "1234"))
    parsed = parse_device_message(users(u1={"status": "enabled", "pin_code": "918273"}))
    assert "918273" not in repr(parsed)


# -- parsing device messages -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("payload", "kind"),
    [
        (b"not json {", BadInput.NOT_JSON),
        (b"\xff\xfe", BadInput.NOT_UTF8),
        (b"[1, 2]", BadInput.NOT_OBJECT),
    ],
)
def test_unusable_payloads(payload: bytes, kind: BadInput) -> None:
    with pytest.raises(PayloadError) as caught:
        parse_device_message(payload)
    assert caught.value.kind == kind


def test_bad_shapes_are_counted_and_skipped() -> None:
    parsed = parse_device_message(
        msg(
            users={
                "1": {"status": "enabled"},
                "front": {"status": "enabled"},
                "-2": {"status": "available"},
                "99999": {"status": "available"},
                "3": "enabled",
                "4": {"pin_code": "1234"},
            },
            state=7,
            last_seen=[1],
        )
    )
    assert list(parsed.users) == [1]
    assert parsed.bad_keys == 3
    assert sorted(k.value for k in parsed.bad_entries) == [
        "last_seen",
        "state",
        "users entry",
        "users entry",
    ]
    assert parse_device_message(msg(users=[1, 2])).bad_entries == (BadInput.USERS,)


def test_lock_state_prefers_lock_state_over_state() -> None:
    assert parse_device_message(msg(state="LOCK")).lock_state is LockState.LOCKED
    assert parse_device_message(msg(state="UNLOCK")).lock_state is LockState.UNLOCKED
    jammed = msg(state="UNLOCK", lock_state="not_fully_locked")
    assert parse_device_message(jammed).lock_state is LockState.NOT_FULLY_LOCKED
    assert parse_device_message(msg(battery=80)).lock_state is None


def test_last_seen_forms() -> None:
    iso = parse_device_message(msg(last_seen="2019-03-01T15:32:45.941Z")).last_seen
    local = parse_device_message(msg(last_seen="2019-03-01T16:32:45.941+01:00")).last_seen
    epoch = parse_device_message(msg(last_seen=1551454365941)).last_seen
    assert iso == local == pytest.approx(1551454365.941)
    assert epoch == pytest.approx(1551454365.941)
    assert parse_device_message(msg(battery=1)).last_seen is None


# -- actions ---------------------------------------------------------------------------------


#: (action, action_source_name, action_user) -> (kind, source, slot)
EVENTS = [
    (("unlock", "keypad", 3), ("UNLOCK", "KEYPAD", 3)),
    (("lock", "rf", 65535), ("LOCK", "RF", None)),
    (("keypad_unlock", None, 5), ("UNLOCK", "KEYPAD", 5)),
    (("keypad_unlock", "rf", 5), ("UNLOCK", "KEYPAD", 5)),  # the action's own prefix wins
    (("rf_unlock", None, None), ("UNLOCK", "RF", None)),
    (("zigbee_unlock", None, None), ("UNLOCK", "RF", None)),
    (("manual_unlock", "manual", 65535), ("UNLOCK", "MANUAL", None)),
    (("auto_lock", None, None), ("LOCK", "AUTO", None)),
    (("key_unlock", None, None), ("UNLOCK", "KEY", None)),
    (("one_touch_lock", None, None), ("LOCK", "ONE_TOUCH", None)),
    (("schedule_unlock", None, None), ("UNLOCK", "SCHEDULE", None)),
    (("unlock_failure_invalid_pin_or_id", "keypad", 2), ("UNLOCK_FAILURE", "KEYPAD", 2)),
    (("lock_failure_invalid_schedule", None, None), ("LOCK_FAILURE", "UNKNOWN", None)),
]


@pytest.mark.parametrize(("given", "expected"), EVENTS)
def test_lock_events(
    given: tuple[str, str | None, int | None], expected: tuple[str, str, int | None]
) -> None:
    name, source_name, user = given
    action = parse_action(
        {"action": name, "action_source_name": source_name, "action_user": user}, []
    )
    assert action is not None
    assert (action.kind, action.source, action.slot, action.name) == (
        LockAction[expected[0]],
        EventSource[expected[1]],
        expected[2],
        name,
    )


def test_numeric_action_source() -> None:
    action = parse_action({"action": "unlock", "action_source": 0, "action_user": 3}, [])
    assert action is not None and action.source is EventSource.KEYPAD


@pytest.mark.parametrize("name", [None, "", "unknown", "non_access_user_operational_event"])
def test_no_event(name: str | None) -> None:
    assert parse_action({"action": name, "action_user": None}, []) is None


def test_programming_events() -> None:
    action = parse_action(
        {"action": "pin_code_added", "action_source_name": "keypad", "action_user": 4}, []
    )
    assert action is not None and action.kind is None
    assert (action.programming, action.source, action.slot) == (
        "pin_code_added",
        EventSource.KEYPAD,
        4,
    )
    bad: list[BadInput] = []
    assert parse_action({"action": 7}, bad) is None and bad == [BadInput.ACTION]


# -- availability and bridge/logging ----------------------------------------------------------


@pytest.mark.parametrize(
    ("payload", "expected"),
    [
        (b'{"state":"online"}', Availability.ONLINE),
        (b'{"state": "offline"}', Availability.OFFLINE),
        (b"online", Availability.ONLINE),  # Zigbee2MQTT 1.x legacy payload
        (b"offline", Availability.OFFLINE),
        (b'"offline"', Availability.OFFLINE),
        (b"", Availability.UNKNOWN),  # a retained flag cleared
    ],
)
def test_availability_payloads(payload: bytes, expected: Availability) -> None:
    assert parse_availability(payload) is expected


@pytest.mark.parametrize("payload", [b"maybe", b'{"state": "up"}', b"{", b"[]"])
def test_bad_availability_payloads(payload: bytes) -> None:
    with pytest.raises(PayloadError):
        parse_availability(payload)


def _log(message: str, level: str = "error") -> bytes:
    return json.dumps({"level": level, "message": message, "namespace": "z2m"}).encode()


def test_bridge_log_failures() -> None:
    timeout = _log(
        "Publish 'set' 'pin_code' to 'front_door' failed: 'Error: ZCL command 0xabc/11 "
        'closuresDoorLock.setPinCode({"userid":4,"userstatus":1,"usertype":0,"pincodevalue":'
        '"918273"}, {"timeout":10000}) failed (Timeout - abc - 11 - 1 - 257 after 10000ms)\''
    )
    assert parse_bridge_log(timeout, "front_door") == PublishFailure("set", "pin_code", 4, False)
    assert parse_bridge_log(timeout, "back_door") is None
    delivery = _log(
        "Publish 'get' 'pin_code' to 'front_door' failed: 'Error: ZCL command 0xabc/11 "
        "closuresDoorLock.getPinCode({\"userid\":2}, {}) failed (Delivery failed for '12136')'"
    )
    assert parse_bridge_log(delivery, "front_door") == PublishFailure("get", "pin_code", 2, True)
    ranged = _log(
        "Publish 'get' 'pin_code' to 'front_door' failed: 'Error: userId must be in range'"
    )
    refused = PublishFailure("get", "pin_code", None, False, refused=True, out_of_range=True)
    assert parse_bridge_log(ranged, "front_door") == refused
    status = _log(
        "Publish 'set' 'pin_code' to 'front_door' failed: 'Error: ZCL command 0xabc/11 "
        'closuresDoorLock.setPinCode({"userid":7,"pincodevalue":"918273"}, {}) failed '
        "(Status 'INVALID_FIELD')'"
    )
    assert parse_bridge_log(status, "front_door") == PublishFailure(
        "set", "pin_code", 7, False, refused=True
    )
    for other in (_log("MQTT publish: topic 'x'", "info"), _log("Other")):
        assert parse_bridge_log(other, "front_door") is None
    for garbage, kind in ((b"garbage", BadInput.NOT_JSON), (b"[]", BadInput.NOT_OBJECT)):
        with pytest.raises(PayloadError) as caught:
            parse_bridge_log(garbage, "front_door")
        assert caught.value.kind is kind


# Zigbee2MQTT 2.x: lib/util/logger.ts prefixes the namespace to the message
# (``info.message = `${info.namespace}: ${info.message}```); lib/extension/bridge.ts publishes
# ``{"level", "message"}`` with no ``namespace`` key. 1.38 and older: no prefix.
def _log2(message: str, level: str = "error") -> bytes:
    return json.dumps({"level": level, "message": message}).encode()


_ZCL_GET = (
    "Publish 'get' 'pin_code' to '{name}' failed: 'Error: ZCL command 0x0017880104e45517/11 "
    'closuresDoorLock.getPinCode({{"userid":{user}}}, {{"timeout":10000,"disableResponse":false}})'
    " failed (Delivery failed for '12136')'"
)


@pytest.mark.parametrize("namespace", ["z2m: ", "z2m:mqtt: ", "zh:ember:uart:ash: ", ""])
def test_bridge_log_2x_lines_with_a_namespace_prefix_are_recognised(namespace: str) -> None:
    # the bug: parse_bridge_log was anchored at "Publish" and matched no 1.39+/2.x line
    line = _log2(namespace + _ZCL_GET.format(name="front_door", user=3))
    assert parse_bridge_log(line, "front_door") == PublishFailure("get", "pin_code", 3, True)


def test_bridge_log_2x_out_of_range_refusal() -> None:
    # zigbee-herdsman-converters src/converters/toZigbee.ts, pincode_lock:
    # throw new Error("user must be in range for device")
    line = _log2(
        "z2m: Publish 'set' 'pin_code' to 'front_door' failed: "
        "'Error: user must be in range for device'"
    )
    assert parse_bridge_log(line, "front_door") == PublishFailure(
        "set", "pin_code", None, False, refused=True, out_of_range=True
    )


def test_bridge_log_1x_lines_with_or_without_a_namespace_key() -> None:
    bare = _ZCL_GET.format(name="front_door", user=2)
    expected = PublishFailure("get", "pin_code", 2, True)
    assert parse_bridge_log(_log2(bare), "front_door") == expected
    assert parse_bridge_log(_log(bare), "front_door") == expected  # 1.x "namespace" key
    with pytest.raises(PayloadError) as caught:
        parse_bridge_log(
            json.dumps({"level": "error", "message": bare, "namespace": 1}).encode(), "x"
        )
    assert caught.value.kind is BadInput.LOG_LINE


def test_bridge_log_lines_for_other_devices_or_levels_are_not_ours() -> None:
    for name in ("back_door", "front_door2", "front", "FRONT_DOOR"):
        assert (
            parse_bridge_log(_log2("z2m: " + _ZCL_GET.format(name=name, user=1)), "front_door")
            is None
        )
    line = "z2m: " + _ZCL_GET.format(name="front_door", user=1)
    for level in ("info", "warning", "debug", "warn"):
        assert parse_bridge_log(_log2(line, level), "front_door") is None


@pytest.mark.parametrize(
    "text",
    [
        "some text: Publish 'get' 'pin_code' to 'front_door' failed: 'x'",  # not a namespace
        "z2m:  Publish 'get' 'pin_code' to 'front_door' failed: 'x'",
        "z2m Publish 'get' 'pin_code' to 'front_door' failed: 'x'",
        "MQTT publish: topic 'zigbee2mqtt/front_door', payload '{}'",
        ":z2m: Publish 'get' 'pin_code' to 'front_door' failed: 'x'",
    ],
)
def test_bridge_log_prefix_is_strict(text: str) -> None:
    assert parse_bridge_log(_log2(text), "front_door") is None


@pytest.mark.parametrize("name", ["it's 'door'", "door: front", "a' failed: 'b", "dö:ör"])
def test_bridge_log_names_with_quotes_and_colons(name: str) -> None:
    line = _log2("z2m: " + _ZCL_GET.format(name=name, user=5))
    assert parse_bridge_log(line, name) == PublishFailure("get", "pin_code", 5, True)
    assert parse_bridge_log(line, "door") is None
    assert parse_bridge_log(line, name[:-1]) is None


def test_bridge_log_user_id_of_5000_digits_is_bad_input_not_a_crash() -> None:
    # int() of over 4,300 digits raises ValueError (Python >= 3.11)
    for digits in ("9" * 5000, "65535", "123456"):
        line = _log2("z2m: " + _ZCL_GET.format(name="front_door", user=digits))
        with pytest.raises(PayloadError) as caught:
            parse_bridge_log(line, "front_door")
        assert caught.value.kind is BadInput.LOG_USER
    line = _log2("z2m: " + _ZCL_GET.format(name="front_door", user="65534"))
    failure = parse_bridge_log(line, "front_door")
    assert failure is not None and failure.user == 65534


def test_bridge_log_user_forms() -> None:
    text = "z2m: Publish 'get' 'pin_code' to 'front_door' failed: 'Error: {\"user\": 12} Timeout'"
    failure = parse_bridge_log(_log2(text), "front_door")
    assert failure is not None and failure.user == 12 and not failure.refused


# -- hostile payloads: a typed outcome, never another exception ------------------------------

_DEEP = b"[" * 100_000
_HUGE_INT = b"9" * 5000


@pytest.mark.parametrize(
    ("payload", "kind"),
    [
        (_DEEP, BadInput.TOO_DEEP),
        (b'{"users": ' + b'{"1": ' * 100_000, BadInput.TOO_DEEP),
        (b'{"last_seen": Infinity}', BadInput.NON_FINITE),
        (b'{"last_seen": NaN}', BadInput.NON_FINITE),
        (b'{"last_seen": -Infinity}', BadInput.NON_FINITE),
        (b'{"last_seen": 1e400}', BadInput.NON_FINITE),  # json parses 1e400 as inf
        (b'{"battery": ' + _HUGE_INT + b"}", BadInput.NUMBER_TOO_LARGE),
        (b'{"a": "' + b"x" * (1 << 20) + b'"}', BadInput.TOO_LARGE),
        (b'{"a": "\xc3\x28"}', BadInput.NOT_UTF8),
        (b"\xef\xbb\xbf{}", BadInput.NOT_JSON),  # a BOM
        (b"", BadInput.NOT_JSON),
        (b"null", BadInput.NOT_OBJECT),
    ],
)
def test_hostile_device_payloads_raise_only_payload_error(payload: bytes, kind: BadInput) -> None:
    with pytest.raises(PayloadError) as caught:
        parse_device_message(payload)
    assert caught.value.kind is kind
    assert str(caught.value) == kind.value  # the kind, never the content


@pytest.mark.parametrize("parse", [parse_availability, lambda p: parse_bridge_log(p, "x")])
@pytest.mark.parametrize(
    ("payload", "kind"),
    [
        (_DEEP, BadInput.TOO_DEEP),
        (b'{"state": Infinity}', BadInput.NON_FINITE),
        (b'{"state": 1e400}', BadInput.NON_FINITE),
        (b'{"state": ' + _HUGE_INT + b"}", BadInput.NUMBER_TOO_LARGE),
        (b" " * (1 << 20) + b"{}", BadInput.TOO_LARGE),
        (b"\xff", BadInput.NOT_UTF8),
    ],
)
def test_hostile_flag_and_log_payloads_raise_only_payload_error(
    parse: Any, payload: bytes, kind: BadInput
) -> None:
    with pytest.raises(PayloadError) as caught:
        parse(payload)
    assert caught.value.kind is kind


def test_users_key_of_5000_digits_is_a_bad_key_not_a_crash() -> None:
    # int() of over 4,300 digits raised ValueError out of the parser
    parsed = parse_device_message(
        msg(users={"9" * 5000: {"status": "available"}, "03": {"status": "available"}})
    )
    assert parsed.users == {} and parsed.bad_keys == 2


def test_last_seen_out_of_range_is_bad_not_a_crash() -> None:
    for value in (-1, 253_402_300_800_000, 10**19, "9" * 100, "0001-01-01T00:00:00+23:59"):
        parsed = parse_device_message(msg(last_seen=value))
        if parsed.last_seen is None:
            assert parsed.bad_entries == (BadInput.LAST_SEEN,)
        else:
            assert parsed.last_seen == parsed.last_seen  # finite, never NaN


@pytest.mark.parametrize(
    "code", [[1, 2], {"a": 1}, {"0": 49, "2": 50}, {"0": 300}, {"0": True}, True, False, 1.5]
)
def test_pin_code_of_an_unknown_shape_is_counted_unreadable(code: object) -> None:
    # it used to become an unreadable entry silently
    parsed = parse_device_message(users(u3={"status": "enabled", "pin_code": code}))
    assert parsed.bad_entries == (BadInput.PIN_CODE,)
    assert project(parsed.users[3]) == MASKED


def test_action_user_of_a_wrong_type_is_counted() -> None:
    for user in ("3", -1, 65536, 2.5, True):
        parsed = parse_device_message(msg(action="keypad_unlock", action_user=user))
        assert parsed.action is not None and parsed.action.slot is None
        assert parsed.bad_entries == (BadInput.ACTION_USER,)
    parsed = parse_device_message(msg(action="keypad_unlock", action_user=65535))
    assert parsed.action is not None and parsed.action.slot is None and not parsed.bad_entries


# -- the record ------------------------------------------------------------------------------


def take(record: DeviceRecord, payload: bytes, *, retained: bool = False) -> Any:
    return record.take(parse_device_message(payload), retained=retained)


def entry(status: str, pin: str | None = None) -> dict[str, Any]:
    return {"status": status} | ({} if pin is None else {"pin_code": pin})


def test_only_changed_entries_are_news() -> None:
    record = DeviceRecord()
    first = take(record, users(u1=entry("enabled", "1111"), u2=entry("available", "")))
    assert first.pushes == ()  # first sight seeds: we cannot tell how old it is
    again = take(record, users(u1=entry("enabled", "1111"), u2=entry("available", "")))
    assert again.pushes == ()  # the cache restated
    changed = take(record, users(u1=entry("enabled", "1111"), u2=entry("enabled", "2222")))
    assert changed.pushes == (SlotUpdate(2, known("2222")),)
    assert record.counts.news == 1 and record.counts.restated == 5
    declined = take(record, users(u2=entry("not_supported_255")))
    assert declined.pushes == ()  # changed, but it says nothing


def test_replays_seed_and_confirm_nothing() -> None:
    record = DeviceRecord()
    read = record.reads.expect(1)
    replay = take(
        record,
        msg(users={"1": entry("enabled", "1234")}, action="unlock", state="UNLOCK"),
        retained=True,
    )
    assert replay.pushes == () and replay.resolved == () and replay.action is None
    assert read.state == Waiting(heard=False)
    assert record.entries[1] == UserEntry("enabled", "1234")
    assert record.lock_state is LockState.UNLOCKED  # a record is seeded
    assert record.counts.replays == 1


def test_stale_last_seen_is_a_cached_republish() -> None:
    record = DeviceRecord()
    take(record, msg(users={"1": entry("available")}, last_seen=2000))
    read = record.reads.expect(1)
    stale = take(record, msg(users={"1": entry("enabled")}, last_seen=2000, action="unlock"))
    assert stale == take(record, msg(last_seen=1000))
    assert stale.resolved == () and stale.action is None and read.state == Waiting(heard=False)
    assert record.counts.stale == 2
    fresh = take(record, msg(users={"1": entry("enabled")}, last_seen=2001))
    assert fresh.resolved == (1,)


def test_a_read_takes_the_first_answer() -> None:
    record = DeviceRecord()
    take(record, users(u1=entry("enabled", "1111")))
    read = record.reads.expect(1)
    other = take(record, users(u2=entry("available")))
    assert read.state == Waiting(heard=True) and other.resolved == ()
    answer = take(record, users(u1=entry("enabled", "1111"), u2=entry("available")))
    assert answer.resolved == (1,) and answer.pushes == ()
    record.reads.finish(read)
    assert read.state == Answered(known("1111"))


def test_a_restated_entry_contradicting_our_write_waits_for_the_answer() -> None:
    """lock_code_manager #1335: between our set and the lock's answer, the cache republished
    (a battery report, last_seen) restates the slot's old entry."""
    record = DeviceRecord()
    take(record, users(u3=entry("enabled", "1111")))
    record.wrote(3, Pin("2222"))
    read = record.reads.expect(3)
    stale = take(record, users(u3=entry("enabled", "1111")))
    assert stale.resolved == () and stale.pushes == ()
    assert read.state == Doubting(known("1111"))
    answer = take(record, users(u3=entry("enabled", "2222")))
    assert answer.resolved == (3,) and answer.pushes == ()
    record.reads.finish(read)
    assert read.state == Answered(known("2222")) and 3 not in record.reads.writes


def test_a_lost_write_is_answered_by_the_fallback_at_the_deadline() -> None:
    record = DeviceRecord()
    take(record, users(u3=entry("available", "")))
    record.wrote(3, Pin("2222"))
    read = record.reads.expect(3)
    take(record, users(u3=entry("available", "")))  # the real answer: it did not land
    record.reads.finish(read)
    assert read.state == Answered(EMPTY)
    assert record.counts.fallbacks == 1


def test_an_entry_agreeing_with_our_write_is_taken_at_once() -> None:
    record = DeviceRecord()
    take(record, users(u3=entry("enabled")))
    record.wrote(3, None)
    read = record.reads.expect(3)
    assert take(record, users(u3=entry("enabled"))).resolved == ()  # contradicts the clear
    assert take(record, users(u3=entry("available"))).resolved == (3,)
    record.reads.finish(read)
    record.wrote(4, Pin("1234"))
    read = record.reads.expect(4)
    assert take(record, users(u4=entry("enabled"))).resolved == (4,)  # masked: agrees
    assert record.reads.finish(read).state == Answered(MASKED)


def test_declined_failed_and_timed_out_reads() -> None:
    record = DeviceRecord()
    read = record.reads.expect(5)
    take(record, users(u5=entry("not_supported_255")))
    assert record.reads.finish(read).state == Declined()
    read = record.reads.expect(5)
    assert record.failed(PublishFailure("get", "pin_code", 5, True)) == (5,)
    assert record.reads.finish(read).state == Undelivered()
    read = record.reads.expect(6)
    assert record.reads.finish(read).state == TimedOut(heard=False)
    assert record.counts.read_timeouts == 1 and record.counts.declined == 1


def test_a_failed_set_ends_the_write_window() -> None:
    record = DeviceRecord()
    take(record, users(u3=entry("available")))
    record.wrote(3, Pin("2222"))
    record.failed(PublishFailure("set", "pin_code", 3, False))
    read = record.reads.expect(3)
    assert take(record, users(u3=entry("available"))).resolved == (3,)
    assert record.reads.finish(read).state == Answered(EMPTY)


def test_a_refused_write_is_remembered_for_that_code_only() -> None:
    record = DeviceRecord()
    record.wrote(3, Pin("2222"))
    record.wrote(9, Pin("9999"))  # the latest write: a refusal naming no user is its
    record.failed(PublishFailure("set", "pin_code", None, False, refused=True))
    record.failed(PublishFailure("set", "pin_code", 3, False))  # a timeout: no refusal
    assert not record.refused(3, Pin("2222"))
    assert not record.refused(9, Pin("1111"))  # another code: tried (and the refusal spent)
    record.wrote(9, Pin("9999"))
    record.failed(PublishFailure("set", "pin_code", 9, False, refused=True))
    assert record.refused(9, Pin("9999")) and not record.refused(9, Pin("9999"))
    read = record.reads.expect(9)
    assert record.failed(PublishFailure("get", "pin_code", None, False, refused=True)) == (9,)
    assert record.reads.finish(read).state == Refused()


def test_offline_reasons() -> None:
    record = DeviceRecord()
    assert record.offline_reason() is None
    record.flagged(Availability.OFFLINE, bridge=False)
    assert "availability" in str(record.offline_reason())
    record.flagged(Availability.OFFLINE, bridge=True)
    assert "bridge/state" in str(record.offline_reason())


def test_a_failed_read_still_hears_the_lock_until_it_is_settled() -> None:
    """News from the lock between a failure report and the reader settling the read counts as
    the lock having spoken (as before the read algorithm moved into ReadBook): three silent
    users in a row must not make a lock that is talking look unreachable."""
    from trio_locksync.providers.zigbee2mqtt._bridgelog import PublishFailure
    from trio_locksync.providers.zigbee2mqtt._reads import Failed

    record = DeviceRecord()
    take(record, users(u1=entry("enabled", "1111")))
    read = record.reads.expect(2)
    assert record.reads.get_failed(PublishFailure("get", "pin_code", 2, unreachable=False)) == (2,)
    assert read.state == Failed(heard=False)
    take(record, users(u1=entry("enabled", "9999")))  # the lock spoke: news
    assert read.state == Failed(heard=True)
    record.reads.finish(read)
    assert read.state == Failed(heard=True)
