"""The Z-Wave JS protocol, sans-I/O: frames, results, events, the node model and slot readings,
each pinned to a frame of /work/shared/zwave_js.md (section, then its upstream file:line)."""

from __future__ import annotations

import json

import pytest

from trio_locksync.credentials import EventSource, LockAction, SlotCredential
from trio_locksync.providers.zwave_js._access import lock_event
from trio_locksync.providers.zwave_js._events import (
    AllNodesReady,
    NodeReady,
    NodeStatus,
    NodeStatusChanged,
    Notification,
    ValueChanged,
    ValueEventKind,
    parse_event,
)
from trio_locksync.providers.zwave_js._model import Nodes
from trio_locksync.providers.zwave_js._protocol import (
    Command,
    CommandFailed,
    CommandOk,
    FrameError,
    choose_schema,
    decode_frame,
    parse_result,
    parse_version,
    set_value_status,
)
from trio_locksync.providers.zwave_js._values import ABSENT, SecretValue, slot_credential

PIN = "8642"

# §1.2 handshake, [srv]server.ts:56-70 (wire)
VERSION = {
    "type": "version",
    "homeId": 2119630849,
    "driverVersion": "15.29.0",
    "serverVersion": "3.10.2",
    "minSchemaVersion": 0,
    "maxSchemaVersion": 50,
}


def test_version_and_schema_choice() -> None:
    # §1.2: min(server max, ours); [srv]const.ts:9 maxSchemaVersion = 50
    version = parse_version(VERSION)
    assert (version.min_schema, version.max_schema) == (0, 50)
    assert choose_schema(version) == 50
    # §1.2 the Python client refuses a server whose range does not overlap ([py]client.py:151-201)
    assert choose_schema(parse_version({**VERSION, "maxSchemaVersion": 31})) is None
    assert choose_schema(parse_version({**VERSION, "maxSchemaVersion": 49})) == 49


def test_initialize_and_start_listening_frames() -> None:
    # §1.2: {"messageId","command":"initialize","schemaVersion":50,"additionalUserAgentComponents"}
    frame = json.loads(Command.initialize(50, "0.1.0").frame("m1"))
    assert frame == {
        "messageId": "m1",
        "command": "initialize",
        "schemaVersion": 50,
        "additionalUserAgentComponents": {"trio-locksync": "0.1.0"},
    }
    assert json.loads(Command.start_listening().frame("listen")) == {
        "messageId": "listen",
        "command": "start_listening",
    }


def test_set_value_frame_carries_the_code_and_its_repr_never_does() -> None:
    # §3.1: valueId {99, 0, "userCode", k}, value "1234"
    command = Command.set_value(2, 99, "userCode", 4, PIN)
    frame = json.loads(command.frame("m7"))
    assert frame == {
        "messageId": "m7",
        "command": "node.set_value",
        "nodeId": 2,
        "valueId": {"commandClass": 99, "endpoint": 0, "property": "userCode", "propertyKey": 4},
        "value": PIN,
    }
    assert PIN not in repr(command)
    # §3.2: invoke_cc_api set(k, status, code) carries a code in args
    invoke = Command.invoke_cc_api(2, 99, "set", [4, 1, PIN])
    assert json.loads(invoke.frame("m8"))["args"] == [4, 1, PIN]
    assert PIN not in repr(invoke)


def test_invoke_cc_api_get_frame() -> None:
    # §2: {nodeId, endpoint:0, commandClass:99, methodName:"get", args:[k]}
    # ([srv]endpoint/message_handler.ts:68-74)
    frame = json.loads(Command.invoke_cc_api(2, 99, "get", [3]).frame("m4"))
    assert frame == {
        "messageId": "m4",
        "command": "endpoint.invoke_cc_api",
        "nodeId": 2,
        "endpoint": 0,
        "commandClass": 99,
        "methodName": "get",
        "args": [3],
    }


def test_results_success_and_errors() -> None:
    # §1.4 ([srv]server.ts:244-309), wire frames verbatim
    ok = parse_result(
        {
            "type": "result",
            "success": True,
            "messageId": "m4",
            "result": {"response": {"userIdStatus": 1, "userCode": PIN}},
        }
    )
    assert isinstance(ok, CommandOk)
    assert ok.result["response"]["userIdStatus"] == 1
    assert PIN not in repr(ok)
    missing = parse_result(
        {
            "type": "result",
            "success": False,
            "messageId": "m19",
            "errorCode": "node_not_found",
            "message": "",
            "args": {"nodeId": 99},
        }
    )
    assert missing == CommandFailed("m19", "node_not_found")
    zwave = parse_result(
        {
            "type": "result",
            "success": False,
            "messageId": "m22",
            "errorCode": "zwave_error",
            "zwaveErrorCode": 322,
            "zwaveErrorCodeName": "Argument_Invalid",
            "zwaveErrorMessage": "The user ID must be between 0 and the number of supported "
            "users 10. (ZW0322)",
        }
    )
    assert isinstance(zwave, CommandFailed)
    assert (zwave.error_code, zwave.zwave_code, zwave.zwave_name) == (
        "zwave_error",
        322,
        "Argument_Invalid",
    )
    assert "ZW0322" in zwave.message


def test_set_value_result_status() -> None:
    # §3.1: schema >= 29 gets {"result": SetValueResult} ([srv]common.ts:76-90); 5 with message
    assert set_value_status({"result": {"status": 254}}) == (254, "")
    assert set_value_status({"result": {"status": 5, "message": "(ZW0322)"}}) == (5, "(ZW0322)")
    with pytest.raises(FrameError):
        set_value_status({"success": True})  # the schema < 29 shape


def test_bad_frames_never_quote_the_text() -> None:
    # §1.4: an unparsable frame; our error must not echo it (it may hold a code)
    with pytest.raises(FrameError) as info:
        decode_frame('{"userCode": "' + PIN)
    assert PIN not in str(info.value)


def test_value_updated_event() -> None:
    # §4 wire frame ([srv]forward.ts:452-466)
    event = parse_event(
        {
            "type": "event",
            "event": {
                "source": "node",
                "event": "value updated",
                "nodeId": 2,
                "args": {
                    "commandClassName": "User Code",
                    "commandClass": 99,
                    "endpoint": 0,
                    "property": "userIdStatus",
                    "propertyKey": 2,
                    "newValue": 0,
                    "prevValue": 1,
                    "propertyName": "userIdStatus",
                    "propertyKeyName": "2",
                },
            },
        }
    )
    assert event == ValueChanged(ValueEventKind.UPDATED, 2, 99, 0, "userIdStatus", 2, 0)


def test_user_code_value_is_wrapped_in_every_record() -> None:
    # §4 "value added" has no prevValue; the code travels in newValue
    frame = {
        "type": "event",
        "event": {
            "source": "node",
            "event": "value added",
            "nodeId": 2,
            "args": {
                "commandClass": 99,
                "endpoint": 0,
                "property": "userCode",
                "propertyKey": 1,
                "newValue": PIN,
            },
        },
    }
    event = parse_event(frame)
    assert isinstance(event, ValueChanged)
    assert isinstance(event.new_value, SecretValue)
    assert event.new_value.reveal() == PIN
    assert PIN not in repr(event) and PIN not in str(event)
    removed = parse_event({**frame, "event": {**frame["event"], "event": "value removed"}})
    assert isinstance(removed, ValueChanged) and removed.new_value is ABSENT


def test_notification_keypad_unlock_and_lock_event() -> None:
    # §4 wire frame, schema >= 32 (forward.ts:496-568); event numbers [py]notification.py:58-118
    event = parse_event(
        {
            "type": "event",
            "event": {
                "source": "node",
                "event": "notification",
                "nodeId": 2,
                "endpointIndex": 0,
                "ccId": 113,
                "args": {
                    "type": 6,
                    "event": 6,
                    "label": "Access Control",
                    "eventLabel": "Keypad unlock operation",
                    "parameters": {"userId": 1},
                },
            },
        }
    )
    assert event == Notification(2, 113, 6, 6, "Keypad unlock operation", 1)
    made = lock_event(event, at=5.0)
    assert made is not None
    assert (made.action, made.source, made.slot, made.name) == (
        LockAction.UNLOCK,
        EventSource.KEYPAD,
        1,
        "keypad_unlock",
    )
    # §4 quirk: BE469 sent parameters undefined (zwave-js-ui #2126): no slot
    bare = Notification(2, 113, 6, 6, "", None)
    assert lock_event(bare, 0.0) is not None and lock_event(bare, 0.0).slot is None  # type: ignore[union-attr]
    # 1/2 manual, 3/4 RF, 9 auto: no slot credited; 15 duplicate: no lock event
    assert lock_event(Notification(2, 113, 6, 9, "", 3), 0.0).source is EventSource.AUTO  # type: ignore[union-attr]
    assert lock_event(Notification(2, 113, 6, 2, "", 3), 0.0).slot is None  # type: ignore[union-attr]
    assert lock_event(Notification(2, 113, 6, 15, "", 3), 0.0) is None


def test_node_status_events() -> None:
    # §4 (forward.ts:401-407): {"source":"node","event":"wake up","nodeId":4,"oldStatus":1}
    def node_event(name: str) -> object:
        frame = {"source": "node", "event": name, "nodeId": 4, "oldStatus": 1}
        return parse_event({"type": "event", "event": frame})

    assert node_event("wake up") == NodeStatusChanged(4, NodeStatus.AWAKE)
    assert node_event("sleep") == NodeStatusChanged(4, NodeStatus.ASLEEP)
    assert node_event("dead") == NodeStatusChanged(4, NodeStatus.DEAD)
    assert node_event("alive") == NodeStatusChanged(4, NodeStatus.ALIVE)
    assert node_event("statistics updated") is None  # §4: noisy, filtered early
    driver = {"source": "driver", "event": "all nodes ready"}
    assert parse_event({"type": "event", "event": driver}) == AllNodesReady()


def _value(prop: str, key: int, **value: object) -> dict[str, object]:
    # §1.3 value entry (state.ts:462-505): no "value" key when never read
    return {"endpoint": 0, "commandClass": 99, "property": prop, "propertyKey": key, **value}


def test_dump_model_ready_and_not_ready_nodes() -> None:
    # §1.3: a node not ready is dumped with values: [] (state.ts:448-461); its values come in
    # the ready event's nodeState (forward.ts:388-398); status 0-4 ([py]const:204-212)
    nodes = Nodes()
    nodes.load(
        {
            "driver": {"ready": True, "allNodesReady": False},
            "controller": {},
            "nodes": [
                {
                    "nodeId": 2,
                    "status": 4,
                    "ready": True,
                    "isListening": True,
                    "values": [
                        _value("userIdStatus", 1, value=1),
                        _value("userCode", 1, value="**********"),
                        _value("userIdStatus", 2),
                        _value("userCode", 2),
                    ],
                },
                {"nodeId": 4, "status": 1, "ready": False, "isListening": False, "values": []},
            ],
        }
    )
    two, four = nodes.get(2), nodes.get(4)
    assert two is not None and four is not None
    assert (two.status, two.ready, two.listening) == (NodeStatus.ALIVE, True, True)
    assert slot_credential(two.value(99, "userIdStatus", 1), two.value(99, "userCode", 1)) == (
        SlotCredential.unreadable()
    )
    assert two.value(99, "userIdStatus", 2) is ABSENT  # never read: unknown, not empty
    assert slot_credential(two.value(99, "userIdStatus", 2), ABSENT) is None
    assert (four.status, four.ready, four.listening, dict(four.values)) == (
        NodeStatus.ASLEEP,
        False,
        False,
        {},
    )
    assert not nodes.all_ready
    nodes.apply(NodeStatusChanged(4, NodeStatus.AWAKE))
    ready = NodeReady(
        4,
        {
            "nodeId": 4,
            "status": 2,
            "ready": True,
            "isListening": False,
            "values": [_value("userIdStatus", 1, value=0)],
        },
    )
    nodes.apply(ready)
    four = nodes.get(4)
    assert four is not None and four.ready and four.value(99, "userIdStatus", 1) == 0
    nodes.apply(AllNodesReady())
    assert nodes.all_ready
    # a dump holding a code keeps it wrapped
    assert "**********" not in repr(two)


def test_slot_readings() -> None:
    # §2 "Interpreting a slot" and §8: userIdStatus 0 -> empty; != 0 with all-*, missing or ""
    # -> unreadable; Buffer codes decoded after stripping NULs ([UC]:1579-1597,
    # [srv]../util/stringify.ts:3-13)
    assert slot_credential(0, "") == SlotCredential.empty()
    assert slot_credential(0, "0000") == SlotCredential.empty()
    assert slot_credential(1, "**********") == SlotCredential.unreadable()
    assert slot_credential(1, "") == SlotCredential.unreadable()
    assert slot_credential(1, ABSENT) == SlotCredential.unreadable()
    assert slot_credential(1, "1234") == SlotCredential.known("1234")
    buffer = {"type": "Buffer", "data": [55, 48, 51, 48, 0, 0]}
    assert slot_credential(1, SecretValue(buffer)) == SlotCredential.known("7030")
    # the BE469 fixture's CR/LF-padded code ([55,48,51,48,10,13], §1.3): padding stripped
    crlf = {"type": "Buffer", "data": [55, 48, 51, 48, 10, 13]}
    assert slot_credential(1, crlf) == SlotCredential.known("7030")
    assert slot_credential(ABSENT, "1234") is None  # status never read: unknown


def test_a_slot_that_is_not_enabled_is_never_read_as_its_code() -> None:
    """zwave_js.md §2: ``userIdStatus`` 2 Disabled, 3 Messaging, 4 PassageMode — the code is
    there but does not open the door as an enabled one: never ``known`` (the engine would call
    a disabled slot in sync); 0 is empty, 1 with a real code known."""
    assert slot_credential(1, "1234") == SlotCredential.known("1234")
    assert slot_credential(0, "1234") == SlotCredential.empty()
    for status in (2, 3, 4, 0xFE):
        assert slot_credential(status, "1234") == SlotCredential.unreadable()


@pytest.mark.parametrize(
    "text",
    [
        "[" * 100_000 + "]" * 100_000,  # nesting past the recursion limit
        '{"type": "event", "n": NaN}',
        '{"type": "event", "n": Infinity}',
        '{"type": "event", "n": ' + "9" * 5000 + "}",
        "[1, 2]",
        b"\xff\xfe not utf-8",
    ],
)
def test_hostile_frames_are_frame_errors_never_anything_else(text: str | bytes) -> None:
    """Whatever the socket carries, decode_frame says FrameError (the reader skips and counts
    it) — never a RecursionError or a float('nan') that escapes and ends the client."""
    with pytest.raises(FrameError):
        decode_frame(text)


@pytest.mark.parametrize(
    "event",
    [
        {"source": "node", "event": "value updated", "nodeId": "2", "args": []},
        {"source": "node", "event": "notification", "nodeId": 2, "args": {"parameters": 7}},
        {"source": "node", "event": "ready", "nodeId": 2, "nodeState": "x"},
        {"source": "node", "event": "dead", "nodeId": None},
        {"source": ["node"], "event": {}},
    ],
)
def test_events_of_the_wrong_types_are_frame_errors_or_ignored(event: dict[str, object]) -> None:
    from trio_locksync.providers.zwave_js._events import parse_event

    try:
        parse_event({"type": "event", "event": event})
    except FrameError:
        pass


async def test_entering_and_leaving_the_client_at_any_moment_leaves_nothing_running() -> None:
    """The client's block entered and left 200 times, at every point of its first attempt
    (against a loopback port where nobody listens): each exit returns, nothing outlives it."""
    import socket

    import trio

    from trio_locksync.providers.zwave_js import ZWaveJsStatus, open_zwave_js

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]  # closed again: connections are refused
    with trio.fail_after(60):
        for i in range(200):
            async with open_zwave_js(f"ws://127.0.0.1:{port}") as client:
                for _ in range(i % 4):
                    await trio.lowlevel.checkpoint()
            assert client.status is ZWaveJsStatus.DISCONNECTED
