"""Every message shape the simulated Zigbee2MQTT publishes, pinned to the upstream file and line
that produces it — the simulator is a claim about the real system, and this file is where the
claim is checked.

Read from Koenkk/zigbee2mqtt 2.12.1 (6835cbf5), Koenkk/zigbee-herdsman-converters 26.99.0
(df720053; its lock code is the same as in 26.76.0, which 2.12.1 ships) and
Koenkk/zigbee-herdsman 10.9.0 (a70284ac). Paths below are in those repositories. Real mosquitto,
real clock: a probe bridge subscribes to ``zigbee2mqtt/#`` and records what is published.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import attrs
import pytest
import trio

from trio_locksync.mqtt import MqttBridge, MqttMessage
from trio_locksync.providers.zigbee2mqtt import PIN_CODE_COUNTS
from trio_locksync.testing.zigbee2mqtt import (
    SimulatedZigbeeLock,
    Zigbee2MqttSimulator,
    Zigbee2MqttVersion,
    open_zigbee2mqtt_simulator,
)

from .brokerhelpers import FAST, Broker, connected, needs_mosquitto

pytestmark = needs_mosquitto

NAME = "front_door"
BASE = "zigbee2mqtt"


@attrs.define
class Probe:
    """Everything published under ``zigbee2mqtt/#`` since the probe subscribed."""

    messages: list[MqttMessage] = attrs.Factory(list)

    def on(self, topic: str) -> list[MqttMessage]:
        return [m for m in self.messages if m.topic == f"{BASE}/{topic}"]

    def payloads(self, topic: str) -> list[bytes]:
        return [m.payload for m in self.on(topic)]

    def json(self, topic: str) -> list[Any]:
        return [json.loads(p) for p in self.payloads(topic) if p]

    async def wait(self, predicate: Callable[[], object], limit: float = 5.0) -> None:
        with trio.fail_after(limit):
            while not predicate():  # noqa: ASYNC110 - a real broker's delay
                await trio.sleep(0.01)


@attrs.define
class Scene:
    z2m: Zigbee2MqttSimulator
    device: SimulatedZigbeeLock
    probe: Probe
    bridge: MqttBridge


@asynccontextmanager
async def scene(
    port: int, *, simulator: dict[str, Any] | None = None, **knobs: Any
) -> AsyncIterator[Scene]:
    knobs.setdefault("latency", (0.0, 0.0))
    knobs.setdefault("zcl_timeout", 0.05)
    async with (
        connected(port) as bridge,
        bridge.subscribe(f"{BASE}/#", 1) as subscription,
        trio.open_nursery() as nursery,
    ):
        probe = Probe()

        async def record() -> None:
            async for message in subscription:
                probe.messages.append(message)

        nursery.start_soon(record)
        options = {"backoff": FAST} | (simulator or {})
        async with open_zigbee2mqtt_simulator("127.0.0.1", port, **options) as z2m:
            device = await z2m.add_lock(NAME, **knobs)
            await probe.wait(lambda: probe.on(NAME))  # the start-up republish
            yield Scene(z2m, device, probe, bridge)
        nursery.cancel_scope.cancel()


async def retained(s: Scene, topic: str) -> MqttMessage:
    """What the broker keeps on ``topic`` (a live copy never has the retain flag: subscribe
    anew to see the stored one)."""
    with trio.fail_after(5):
        async with s.bridge.subscribe(f"{BASE}/{topic}", 1) as subscription:
            async for message in subscription:
                assert message.retain
                return message
    raise AssertionError("unreachable")  # pragma: no cover


async def command(s: Scene, kind: str, payload: dict[str, Any]) -> None:
    data = json.dumps(payload).encode()
    await s.bridge.publish(f"{BASE}/{NAME}/{kind}", data, qos=1)


def sorted_json(payload: bytes) -> bool:
    """json-stable-stringify: keys sorted at every level, no spaces (z2m lib/extension/
    bridge.ts:4, lib/controller.ts:2 import it for device state, logging and devices)."""
    return (
        payload == json.dumps(json.loads(payload), sort_keys=True, separators=(",", ":")).encode()
    )


# -- bridge/state ----------------------------------------------------------------------------


async def test_bridge_state_is_a_retained_json_flag(broker: Broker) -> None:
    # z2m lib/mqtt.ts:181-183: publish("bridge/state", JSON.stringify({state: "online"}),
    # {retain: true, qos: 1}); the will (61-65) and a clean stop (158-162) say "offline".
    async with scene(broker.port) as s:
        await s.probe.wait(lambda: s.probe.on("bridge/state"))
        assert s.probe.on("bridge/state")[0].payload == b'{"state":"online"}'
        assert (await retained(s, "bridge/state")).payload == b'{"state":"online"}'


# -- bridge/logging --------------------------------------------------------------------------

GET_30 = (
    "Publish 'get' 'pin_code' to 'front_door' failed: 'Error: userId must be in range for device'"
)
SET_30 = (
    "Publish 'set' 'pin_code' to 'front_door' failed: 'Error: user must be in range for device'"
)


async def test_a_get_beyond_the_range_is_refused_on_bridge_logging_2x(broker: Broker) -> None:
    # zhc src/converters/toZigbee.ts:471-472 throws "userId must be in range for device" (a
    # set: 440, "user must be in range for device"); z2m lib/extension/publish.ts:279-280 logs
    # `Publish '${type}' '${key}' to '${re.name}' failed: '${error}'` at error in namespace
    # z2m; lib/util/logger.ts:198 puts "z2m: " in front; lib/extension/bridge.ts:63-68
    # publishes stringify({message, level, namespace}) with namespace undefined (dropped).
    async with scene(broker.port, model=("Schlage", "BE468")) as s:
        await command(s, "get", {"pin_code": {"user": 30}})
        await command(s, "set", {"pin_code": {"user": 30, "pin_code": "1234"}})
        await s.probe.wait(lambda: len(s.probe.on("bridge/logging")) >= 2)
        assert s.probe.payloads("bridge/logging") == [
            json.dumps(
                {"level": "error", "message": f"z2m: {GET_30}"}, separators=(",", ":")
            ).encode(),
            json.dumps(
                {"level": "error", "message": f"z2m: {SET_30}"}, separators=(",", ":")
            ).encode(),
        ]
        assert not any(m.retain for m in s.probe.on("bridge/logging"))  # bridge.ts:68
        assert all(sorted_json(p) for p in s.probe.payloads("bridge/logging"))


async def test_an_identical_log_line_right_after_the_same_is_not_published(
    broker: Broker,
) -> None:
    # z2m lib/extension/bridge.ts:66-67: `if (payload !== this.lastBridgeLoggingPayload)`.
    async with scene(broker.port, model=("ShinaSystem", "DLM-300Z")) as s:
        # All on the get topic (one subscription: carried out in order).
        for user in (4, 5, 4):  # the message names no user: all three lines are identical
            await command(s, "get", {"pin_code": {"user": user}})
        await command(s, "get", {"colour": 1})  # a different line (publish.ts:209)
        await s.probe.wait(lambda: len(s.probe.on("bridge/logging")) >= 2)
        await command(s, "get", {"pin_code": {"user": 4}})  # the same again, not in a row
        await s.probe.wait(lambda: len(s.probe.on("bridge/logging")) >= 3)
        messages = [m["message"] for m in s.probe.json("bridge/logging")]
    assert messages == [
        f"z2m: {GET_30}",
        "z2m: No converter available for 'colour' on 'front_door': (1)",
        f"z2m: {GET_30}",
    ]


@pytest.mark.parametrize(
    ("version", "expected"),
    [
        # tag 1.38.0: logger.ts:164 log(level, message, {namespace}); bridge.ts:71
        # stringify({message, level, namespace}) -> a separate key, no prefix
        (Zigbee2MqttVersion.V1_38, {"level": "error", "message": GET_30, "namespace": "z2m"}),
        # tag 1.35.0: bridge.ts:64 stringify({message: info.message, level: info.level})
        (Zigbee2MqttVersion.V1_36, {"level": "error", "message": GET_30}),
    ],
)
async def test_older_log_formats_are_selectable(
    broker: Broker, version: Zigbee2MqttVersion, expected: dict[str, str]
) -> None:
    async with scene(broker.port, simulator={"version": version}) as s:
        await command(s, "get", {"pin_code": {"user": 30}})
        await s.probe.wait(lambda: s.probe.on("bridge/logging"))
        assert s.probe.json("bridge/logging") == [expected]


async def test_a_command_that_never_reaches_the_lock_is_logged_with_herdsmans_wrapper(
    broker: Broker,
) -> None:
    # zh src/controller/model/endpoint.ts:1168-1185: `ZCL command ${ieee}/${ep}
    # ${cluster.name}.${command.name}(${JSON.stringify(payload)}, ${JSON.stringify(options)})
    # failed (${err.message})`; options from getOptionsWithDefaults (1019-1031);
    # src/adapter/z-stack/adapter/zStackAdapter.ts:34-35: `Data request failed with error:
    # 'MAC_NO_ACK' (0xe9)`; a timeout waiting for the answer: src/adapter/adapter.ts:120
    # `Timeout after ${timeout}ms [address=.. endpoint=.. clusterId=.. cmdId=.. tsn=..]`.
    async with scene(broker.port) as s:
        s.device.go_offline()
        await command(s, "get", {"pin_code": {"user": 3}})
        await s.probe.wait(lambda: s.probe.on("bridge/logging"))
        s.device.go_online()
        s.device.read_loss = 1.0
        await command(s, "get", {"pin_code": {"user": 4}})
        await s.probe.wait(lambda: len(s.probe.on("bridge/logging")) >= 2)
        unreachable, silent = (m["message"] for m in s.probe.json("bridge/logging"))
    prefix = "z2m: Publish 'get' 'pin_code' to 'front_door' failed: 'Error: ZCL command 0x"
    assert unreachable.startswith(prefix) and silent.startswith(prefix)
    assert '/1 closuresDoorLock.getPinCode({"userid":3}, {"timeout":10000,' in unreachable
    assert unreachable.endswith(" failed (Data request failed with error: 'MAC_NO_ACK' (0xe9))'")
    assert '/1 closuresDoorLock.getPinCode({"userid":4}, ' in silent
    assert " failed (Timeout after 10000ms [address=" in silent
    assert "endpoint=1 clusterId=257 cmdId=6 tsn=" in silent


# -- bridge/devices --------------------------------------------------------------------------


async def test_bridge_devices_names_the_model_but_not_the_user_count(broker: Broker) -> None:
    # z2m lib/extension/bridge.ts:780-841 (publishDevices, retained: 840) and 895-905
    # (getDefinitionPayload: source, model, vendor, description, exposes, supports_ota,
    # options, version, icon — no meta, so no pinCodeCount); zhc src/lib/exposes.ts:1387-1396
    # (the pin_code composite's "user" has no value_min/value_max).
    async with scene(broker.port, model=("Yale", "YRD226HA2619"), power_source="Battery") as s:
        await s.probe.wait(lambda: s.probe.on("bridge/devices"))
        message = await retained(s, "bridge/devices")
    assert sorted_json(message.payload)
    (entry,) = json.loads(message.payload)
    assert entry["friendly_name"] == NAME and entry["power_source"] == "Battery"
    assert entry["type"] == "EndDevice" and entry["interview_completed"] is True
    definition = entry["definition"]
    assert (definition["vendor"], definition["model"]) == ("Yale", "YRD226HA2619")
    assert definition["source"] == "native" and "meta" not in definition
    assert "pinCodeCount" not in message.payload.decode()
    (pin_code,) = [e for e in definition["exposes"] if e.get("name") == "pin_code"]
    (user,) = [f for f in pin_code["features"] if f["name"] == "user"]
    assert "value_min" not in user and "value_max" not in user
    assert PIN_CODE_COUNTS[("Yale", "YRD226HA2619")] == 250  # zhc src/devices/yale.ts:169


async def test_a_lock_without_a_definition_of_its_own_is_generated(broker: Broker) -> None:
    # zhc src/lib/generateDefinition.ts:284 (a generated lock: numOfPinUsersSupported,
    # default 50 — not in bridge/devices either)
    async with scene(broker.port, slots=7) as s:
        await s.probe.wait(lambda: s.probe.on("bridge/devices"))
        (entry,) = s.probe.json("bridge/devices")[-1]
    assert entry["definition"]["source"] == "generated"
    assert (entry["definition"]["vendor"], entry["definition"]["model"]) not in PIN_CODE_COUNTS
    assert s.device.virtual.slot_numbers == range(7)


# -- the device topic ------------------------------------------------------------------------


async def test_answers_to_get_pin_code(broker: Broker) -> None:
    # zhc src/converters/fromZigbee.ts:380-400 lock_pin_code_response: users[userid] =
    # {status: lockUserStatus[userstatus] ?? `not_supported_${userstatus}`}, plus pin_code =
    # pincodevalue.toString() when options.expose_pin && pincodevalue (an empty Buffer is
    # truthy: "" for a slot without a code); constants.ts:340-344 (0 available, 1 enabled,
    # 3 disabled). Users are 0 .. pinCodeCount - 1 (toZigbee.ts:471): user 0 is a user.
    async with scene(
        broker.port, expose_pin=True, codes={0: "2468", 3: "1234"}, not_supported={5}
    ) as s:
        for user in (0, 3, 4, 5):
            await command(s, "get", {"pin_code": {"user": user}})
        await s.probe.wait(lambda: len(s.probe.on(NAME)) >= 5)
        last = s.probe.on(NAME)[-1]
    assert sorted_json(last.payload) and not last.retain
    assert json.loads(last.payload)["users"] == {
        "0": {"pin_code": "2468", "status": "enabled"},
        "3": {"pin_code": "1234", "status": "enabled"},
        "4": {"pin_code": "", "status": "available"},
        "5": {"pin_code": "", "status": "not_supported_255"},
    }


async def test_without_expose_pin_there_is_no_pin_code(broker: Broker) -> None:
    # fromZigbee.ts:395 (the option's default is off: exposes.ts:864-867)
    async with scene(broker.port, codes={3: "1234"}) as s:
        await command(s, "get", {"pin_code": {"user": 3}})
        await s.probe.wait(lambda: len(s.probe.on(NAME)) >= 2)
        assert s.probe.json(NAME)[-1]["users"] == {"3": {"status": "enabled"}}


async def test_a_set_publishes_no_state(broker: Broker) -> None:
    # zhc toZigbee.ts:430-455: convertSet returns nothing, so z2m publish.ts:249-263 publishes
    # no state; the cache keeps the old users entry (only getPinCodeRsp writes users)
    async with scene(broker.port, expose_pin=True) as s:
        before = len(s.probe.on(NAME))
        await command(s, "set", {"pin_code": {"user": 3, "pin_code": "1234"}})
        await command(s, "set", {"pin_code": {"user": 4, "pin_code": None}})
        await s.probe.wait(lambda: s.device.statistics().clears == 1)
        await command(s, "get", {"pin_code": {"user": 5}})  # its answer comes after the sets'
        await s.probe.wait(lambda: len(s.probe.on(NAME)) > before)
        assert len(s.probe.on(NAME)) == before + 1  # only the get's answer
        assert set(s.probe.json(NAME)[-1]["users"]) == {"5"} and s.device.codes == {3: "1234"}


async def test_every_message_republishes_the_cache_a_battery_report_too(broker: Broker) -> None:
    # z2m lib/controller.ts:386-451 publishEntityState: with cache_state (default on,
    # settings.ts:108-115) the message is the whole cached state, deep-merged
    # (lib/state.ts:117-127) — so a battery report restates every users entry
    async with scene(broker.port, expose_pin=True, codes={3: "1234"}, reports=0.05) as s:
        await command(s, "get", {"pin_code": {"user": 3}})
        await s.probe.wait(lambda: any("users" in m for m in s.probe.json(NAME)))
        answered = len(s.probe.on(NAME))
        await s.probe.wait(lambda: len(s.probe.on(NAME)) >= answered + 2)
        reports = s.probe.json(NAME)[answered : answered + 2]
    assert len(reports) == 2
    for report in reports:  # the lock said only its battery: users restated from the cache
        assert report["users"] == {"3": {"pin_code": "1234", "status": "enabled"}}
        assert {"battery", "linkquality", "lock_state", "state"} <= set(report)


async def test_one_address_per_device_and_a_link_quality_per_frame(broker: Broker) -> None:
    # bridge.ts:818-840 ieee_address; endpoint.ts:1169 `ZCL command ${this.deviceIeeeAddress}`;
    # controller.ts:437-438 adds the frame's linkquality to every message
    async with scene(broker.port) as s:
        s.device.go_offline()
        await command(s, "get", {"pin_code": {"user": 3}})
        for _ in range(5):
            s.device.frame({"battery": 90})
        await s.probe.wait(lambda: s.probe.on("bridge/logging") and s.probe.on("bridge/devices"))
        await s.probe.wait(lambda: len(s.probe.on(NAME)) >= 6)
        (entry,) = s.probe.json("bridge/devices")[-1]
        line = s.probe.json("bridge/logging")[0]["message"]
        qualities = {m["linkquality"] for m in s.probe.json(NAME)[1:]}
    assert f"ZCL command {entry['ieee_address']}/1 " in line
    assert len(qualities) > 1


async def test_a_set_of_a_non_object_is_refused_by_assert_object(broker: Broker) -> None:
    # zhc toZigbee.ts:433 utils.assertObject(value, key); utils.ts:577-580: `${property} is
    # not a object, got ${typeof value} (${JSON.stringify(value)})`
    async with scene(broker.port) as s:
        await command(s, "set", {"pin_code": "1234"})
        await s.probe.wait(lambda: s.probe.on("bridge/logging"))
        assert s.probe.json("bridge/logging")[0]["message"] == (
            "z2m: Publish 'set' 'pin_code' to 'front_door' failed: 'Error: pin_code is not a "
            'object, got string ("1234")\''
        )


async def test_lock_events_carry_their_source_and_are_not_cached(broker: Broker) -> None:
    # zhc fromZigbee.ts:263-292 lock_operation_event: {action, action_user, action_source,
    # action_source_name: lockSourceName[source]} (constants.ts:290-296: 0 keypad .. 4
    # fingerprint; an unknown source's name is undefined and dropped); 294-313
    # lock_programming_event (pin_code_added ...); z2m lib/state.ts:11-31 never caches
    # action and action_* (the next message has none).
    async with scene(broker.port) as s:
        s.device.keypad_unlock(user=3)
        s.device.auto_lock()
        s.device.keypad_set(7, "5555")
        await s.probe.wait(lambda: len(s.probe.on(NAME)) >= 6)
        states = s.probe.json(NAME)[1:]
    events = [{k: v for k, v in m.items() if k.startswith("action")} for m in states]
    assert events == [
        {"action": "unlock", "action_source": 0, "action_source_name": "keypad", "action_user": 3},
        {},  # the bolt's report: fromZigbee.ts:329-338, no action
        {"action": "auto_lock", "action_source": 255, "action_user": 65535},
        {},
        {
            "action": "pin_code_added",
            "action_source": 0,
            "action_source_name": "keypad",
            "action_user": 7,
        },
    ]
    assert (states[1]["lock_state"], states[1]["state"]) == ("unlocked", "UNLOCK")


async def test_a_vendor_vocabulary_publishes_the_action_alone(broker: Broker) -> None:
    # zhc src/devices/onesti.ts:118-128 easycodetouch_action: {action} only
    # (constants.ts:361-380 easyCodeTouchActions: keypad_unlock, ...)
    async with scene(broker.port, vocabulary="device") as s:
        s.device.keypad_unlock(user=3)
        await s.probe.wait(lambda: len(s.probe.on(NAME)) >= 2)
        event = s.probe.json(NAME)[1]
    assert {k: v for k, v in event.items() if k.startswith("action")} == {"action": "keypad_unlock"}


async def test_weiser_reads_a_user_after_a_programming_event(broker: Broker) -> None:
    # zhc fromZigbee.ts:315-327 lock_programming_event_read_pincode (getPinCode when the
    # source is not rf), wired by readPinCodeOnProgrammingEvent: weiser.ts:10,
    # modernExtend.ts:1567-1569
    async with scene(broker.port, model=("Weiser", "9GED18000-009"), expose_pin=True) as s:
        s.device.keypad_set(7, "5555")
        await s.probe.wait(lambda: any("users" in m for m in s.probe.json(NAME)))
        assert s.probe.json(NAME)[-1]["users"] == {"7": {"pin_code": "5555", "status": "enabled"}}


# -- availability ----------------------------------------------------------------------------


async def test_availability_is_off_by_default(broker: Broker) -> None:
    # z2m lib/util/settings.ts:36-39: availability: {enabled: false, ...}
    async with scene(broker.port) as s:
        s.device.go_offline()
        s.device.frame({"battery": 50})  # published after anything go_offline() published
        await s.probe.wait(lambda: len(s.probe.on(NAME)) >= 2)
        assert s.probe.on(f"{NAME}/availability") == []


async def test_a_battery_lock_is_passive_for_availability(broker: Broker) -> None:
    # z2m lib/extension/availability.ts:65-69: active = (Router and not Battery) or a power
    # source other than Battery/Unknown; passive devices time out after
    # availability.passive.timeout (1500 min, settings.ts:36-39), active ones after
    # active.timeout (10 min); the flag: 262-265 JSON.stringify({state}), retain, qos 1.
    options = {"availability": True, "active_timeout": 0.2, "passive_timeout": 90_000.0}
    async with scene(broker.port, simulator=options, power_source="Battery") as s:
        mains = await s.z2m.add_lock("back_door", power_source="Mains (single phase)")
        await s.probe.wait(lambda: s.probe.on(f"{NAME}/availability"))
        assert (await retained(s, f"{NAME}/availability")).payload == b'{"state":"online"}'
        s.device.go_offline()
        mains.go_offline()
        # the mains lock is flagged offline after the active timeout; the battery lock went
        # silent at the same moment and is still online then (its timeout: 1500 min)
        await s.probe.wait(lambda: len(s.probe.on("back_door/availability")) >= 2)
        battery_flags = [f.payload for f in s.probe.on(f"{NAME}/availability")]
        mains_flags = [f.payload for f in s.probe.on("back_door/availability")]
    assert battery_flags == [b'{"state":"online"}']
    assert mains_flags == [b'{"state":"online"}', b'{"state":"offline"}']


async def test_legacy_availability_payloads_only_with_1x(broker: Broker) -> None:
    # 1.x: legacy_availability_payload (tag 1.42.0 settings.ts:87, utils.ts:345-346); removed
    # in 2.x (lib/util/settingsMigration.ts:309-310)
    with pytest.raises(ValueError, match=r"2\.x"):
        async with open_zigbee2mqtt_simulator("127.0.0.1", broker.port, legacy_availability=True):
            pass  # pragma: no cover
    options = {"version": Zigbee2MqttVersion.V1_38, "legacy_availability": True}
    async with scene(broker.port, simulator=options | {"availability": True}) as s:
        await s.probe.wait(lambda: s.probe.on(f"{NAME}/availability"))
        assert s.probe.payloads(f"{NAME}/availability")[0] == b"online"
