"""The JSON a simulated Zigbee2MQTT 2.x publishes for a lock: its cache merge, its ``users``
entries, its operation events and its ``bridge/devices`` entry — pure functions of the device's
state, each read from the upstream file and line it cites.

Read from Zigbee2MQTT 2.12.1 (6835cbf5) and zigbee-herdsman-converters 26.99.0 (df720053, the
same lock code as the 26.76.0 that 2.12.1 ships); pinned in
``tests/test_zigbee2mqtt_simulator_shapes.py``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from ...providers.zigbee2mqtt import PIN_CODE_COUNTS

__all__ = [
    "DEFAULT_MODEL",
    "NO_USER",
    "READS_ON_PROGRAMMING",
    "SOURCE_NAMES",
    "declined_entry",
    "definition_entry",
    "event_fields",
    "merge",
    "user_count",
    "user_entry",
]

#: ``action_user`` of an event no user caused
NO_USER = 65535
#: ``lockSourceName`` (zigbee-herdsman-converters ``src/lib/constants.ts:290-296``)
SOURCE_NAMES = {0: "keypad", 1: "rf", 2: "manual", 3: "rfid", 4: "fingerprint"}
#: the model a simulated lock is unless told (zigbee-herdsman-converters kwikset.ts:42-47)
DEFAULT_MODEL = ("Kwikset", "99140-002")
#: models that read a user after a programming event (``readPinCodeOnProgrammingEvent``:
#: Weiser, modernExtend.ts:1567-1569; Datek ID Lock, datek.ts:347)
READS_ON_PROGRAMMING = frozenset(
    {("Weiser", "9GED18000-009"), ("Weiser", "9GED21500-005"), ("Datek", "0402946")}
)


def user_count(
    model: tuple[str, str] | None, slots: int | None
) -> tuple[int, tuple[str, str], bool]:
    """The lock's user count, its (vendor, model), and whether its definition is generated
    (``slots`` without a ``model``: Zigbee2MQTT has no definition for it)."""
    if model is None and slots is not None:
        return slots, ("trio_locksync", f"simulated lock, {slots} users"), True
    model = DEFAULT_MODEL if model is None else model
    count = PIN_CODE_COUNTS.get(model)
    if count is None:
        raise ValueError(f"{model!r} is not in PIN_CODE_COUNTS; give slots= instead")
    if slots is not None and slots != count:
        raise ValueError(f"a {model[0]} {model[1]} has {count} users, not {slots}")
    return count, model, False


def merge(into: dict[str, Any], update: Mapping[str, Any]) -> None:
    """Zigbee2MQTT's ``objectAssignDeep``: nested objects merged key by key."""
    for key, value in update.items():
        if isinstance(value, Mapping) and isinstance(into.get(key), dict):
            merge(into[key], value)
        else:
            into[key] = json.loads(json.dumps(value))  # a copy: the cache owns its values


def user_entry(
    code: str | None, *, disabled: bool, expose_pin: bool, masked: bool = False
) -> dict[str, Any]:
    """The ``users`` entry a ``getPinCodeRsp`` produces for a user holding ``code`` (None:
    none) (``fromZigbee.ts:380-400``: status 0 ``available``, 1 ``enabled``, 3 ``disabled``);
    with ``expose_pin``, ``pin_code`` (``""`` for none, ``****`` when ``masked``)."""
    if code is None:
        entry: dict[str, Any] = {"status": "available"}
    else:
        entry = {"status": "disabled" if disabled else "enabled"}
    if expose_pin:
        entry["pin_code"] = "" if code is None else ("****" if masked else code)
    return entry


def declined_entry(*, expose_pin: bool) -> dict[str, Any]:
    """The entry of a ``getPinCodeRsp`` with a user status the converter does not know
    (``not_supported_255``): with ``expose_pin``, ``pin_code`` is ``""`` (an empty Buffer
    is truthy, ``fromZigbee.ts:395-396``)."""
    entry: dict[str, Any] = {"status": "not_supported_255"}
    if expose_pin:
        entry["pin_code"] = ""
    return entry


def event_fields(name: str, source: int, user: int | None, *, vocabulary: str) -> dict[str, Any]:
    """An operation or programming event's (uncached) fields (``fromZigbee.ts:263-313``):
    ``action``, ``action_user``, ``action_source`` and its name for sources 0-4
    (``constants.ts:290-296``; stable-stringify drops an undefined one). A vendor vocabulary
    publishes the action alone (Onesti ``easycodetouch_action``, ``onesti.ts:118-128``)."""
    fields: dict[str, Any] = {"action": name}
    if vocabulary == "generic" or not name.startswith("keypad_"):
        fields["action_user"] = NO_USER if user is None else user
        fields["action_source"] = source
        if source in SOURCE_NAMES:
            fields["action_source_name"] = SOURCE_NAMES[source]
    return fields


def definition_entry(
    name: str,
    ieee: str,
    model: tuple[str, str],
    *,
    generated: bool,
    power_source: str,
    passive: bool,
) -> dict[str, Any]:
    """A lock in ``bridge/devices`` (``lib/extension/bridge.ts:780-841``,
    ``getDefinitionPayload`` 895-905): no ``meta``, so no ``pinCodeCount``; the ``pin_code``
    expose's ``user`` has no range (``exposes.ts:1387-1396``)."""
    vendor, model_name = model
    user = {"access": 2, "name": "user", "property": "user", "type": "numeric"}
    user["description"] = "User ID to set or clear the pincode for"
    pin_code = {
        "access": 7,
        "features": [user],
        "label": "Pin code",
        "name": "pin_code",
        "property": "pin_code",
        "type": "composite",
    }
    lock = {"features": [{"name": "state", "property": "state"}], "type": "lock"}
    return {
        "definition": {
            "description": "Simulated lock" if generated else f"{vendor} {model_name}",
            "exposes": [lock, pin_code],
            "model": model_name,
            "options": [{"name": "expose_pin", "type": "binary"}],
            "source": "generated" if generated else "native",
            "supports_ota": False,
            "vendor": vendor,
        },
        "disabled": False,
        "friendly_name": name,
        "ieee_address": ieee,
        "interview_completed": True,
        "interview_state": "SUCCESSFUL",
        "interviewing": False,
        "power_source": power_source,
        "supported": True,
        "type": "EndDevice" if passive else "Router",
    }
