"""What Zigbee2MQTT's ``bridge/devices`` says about one device, sans-I/O, and the user count of
the lock models we know.

``<base>/bridge/devices`` (retained) is a JSON array with one object per device; each has its
``friendly_name`` and a ``definition`` (``null`` until the device is interviewed) naming its
``model`` and ``vendor``. The definition does not carry the lock's ``pinCodeCount`` (that is
``meta``, which Zigbee2MQTT does not publish), so the count comes from :data:`PIN_CODE_COUNTS`,
read from zigbee-herdsman-converters (citations there).

Nothing here logs a payload.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import final

import attrs

from ._json import PayloadError, load_json
from ._models import BadInput

__all__ = ["PIN_CODE_COUNTS", "DeviceInfo", "device_info"]

#: ``bridge/devices`` can be large (every device's exposes): refuse more than this
MAX_DEVICES_PAYLOAD = 32 * 1024 * 1024

#: (vendor, model) -> ``meta.pinCodeCount`` of zigbee-herdsman-converters' definition: every
#: definition that sets one (``git grep pinCodeCount -- src/devices`` at df720053, v26.99.0; the
#: lock code is the same in v26.76.0, which Zigbee2MQTT 2.12.1 ships). Yale's ``lockExtend()``
#: defaults to 250 (``src/devices/yale.ts:169``). Kwikset 66492-001, 99140-139 and 99100-006 have
#: no ``tz.pincode_lock`` (no PIN codes at all). Onesti locks take codes but never publish
#: ``users`` (no ``fz.lock_pin_code_response``): they cannot be read back. Locks without a
#: definition of their own get a generated one with the lock's ``numOfPinUsersSupported``
#: (``src/lib/generateDefinition.ts:284``, default 50) — not knowable here: pass ``slots``.
PIN_CODE_COUNTS: Mapping[tuple[str, str], int] = MappingProxyType(
    {
        ("Danalock", "V3-BTZB/V3-BTZBE"): 20,  # src/devices/danalock.ts:17
        ("Datek", "0402946"): 109,  # src/devices/datek.ts:359
        ("Heimgard Technologies", "HC-SLM-1"): 39,  # src/devices/heimgard_technologies.ts:26
        ("Heimgard Technologies", "HT-SLM-2"): 39,  # src/devices/heimgard_technologies.ts:52
        ("Heimgard Technologies", "HT-SLM-3"): 39,  # src/devices/heimgard_technologies.ts:71
        ("Kwikset", "99140-002"): 30,  # src/devices/kwikset.ts:47
        ("Kwikset", "99140-031"): 30,  # src/devices/kwikset.ts:63
        ("Kwikset", "99100-045"): 30,  # src/devices/kwikset.ts:79
        ("Kwikset", "99120-021"): 30,  # src/devices/kwikset.ts:110
        ("Onesti Products AS", "easyCodeTouch_v1"): 1000,  # src/devices/onesti.ts:147
        ("Onesti Products AS", "Nimly"): 1000,  # src/devices/onesti.ts:204
        ("Schlage", "BE468"): 30,  # src/devices/schlage.ts:17
        ("ShinaSystem", "DLM-300Z"): 4,  # src/devices/shinasystem.ts:871
        ("Weiser", "9GED18000-009"): 30,  # src/devices/weiser.ts:10
        ("Weiser", "9GED21500-005"): 30,  # src/devices/weiser.ts:20
        ("Yale", "YRD426NRSC"): 250,  # src/devices/yale.ts:642
        ("Yale", "YRL256 TS"): 250,  # src/devices/yale.ts:649
        ("Yale", "YRD226HA2619"): 250,  # src/devices/yale.ts:656
        ("Yale", "YRD256HA20BP"): 250,  # src/devices/yale.ts:663
        ("Yale", "YAYRD256HA2619"): 250,  # src/devices/yale.ts:671
        ("Yale", "YRD652HA20BP"): 250,  # src/devices/yale.ts:678
        ("Yale", "YMF30"): 250,  # src/devices/yale.ts:685
        ("Yale", "YMF40/YDM4109+/YDF40"): 250,  # src/devices/yale.ts:692
        ("Yale", "YRD210-HA-605"): 250,  # src/devices/yale.ts:699
        ("Yale", "YRL-220L"): 250,  # src/devices/yale.ts:707
        ("Yale", "YRD226/246 TSDB"): 250,  # src/devices/yale.ts:714
        ("Yale", "YRD220/YRD221"): 250,  # src/devices/yale.ts:721
        ("Yale", "YRD246HA20BP"): 250,  # src/devices/yale.ts:728
        ("Yale", "YRM476"): 250,  # src/devices/yale.ts:735
        ("Yale", "YRD216-HA2-619"): 250,  # src/devices/yale.ts:742
        ("Yale", "YRL226L TS"): 250,  # src/devices/yale.ts:749
        ("Yale", "YRL226 TS"): 250,  # src/devices/yale.ts:756
        ("Yale", "YRD410-BLE"): 250,  # src/devices/yale.ts:763
        ("Yale", "YRD420-BLE"): 250,  # src/devices/yale.ts:770
        ("Yale", "YMC420-W"): 250,  # src/devices/yale.ts:778
        ("Yale", "YDM60"): 250,  # src/devices/yale.ts:805
        ("Yale", "SOLIS01"): 250,  # src/devices/yale.ts:835
        ("Yale", "YRD430-BLE"): 250,  # src/devices/yale.ts:842
        ("Yale", "YRD450-BLE"): 250,  # src/devices/yale.ts:849
        ("Yale", "LIA"): 250,  # src/devices/yale.ts:856
        ("Yale", "YDD-D4F0-TSDB"): 250,  # src/devices/yale.ts:866
        ("Yale", "YDF40"): 250,  # src/devices/yale.ts:873
        ("Yale", "YMF40A RL"): 250,  # src/devices/yale.ts:880
        ("Yale", "YMI70A"): 100,  # src/devices/yale.ts:887
    }
)


@final
@attrs.frozen
class DeviceInfo:
    """One device as ``bridge/devices`` lists it: its model (None until Zigbee2MQTT
    interviewed it) and its power source."""

    vendor: str | None
    model: str | None
    power_source: str | None

    @property
    def pin_code_count(self) -> int | None:
        """The lock's user count when we know its model, else None."""
        if self.vendor is None or self.model is None:
            return None
        return PIN_CODE_COUNTS.get((self.vendor, self.model))


def device_info(payload: bytes, friendly_name: str) -> DeviceInfo | None:
    """The entry of ``friendly_name`` in a ``bridge/devices`` payload; None if it is not
    listed. PayloadError if the payload is not a JSON array we can read."""
    devices = load_json(payload, limit=MAX_DEVICES_PAYLOAD)
    if not isinstance(devices, list):
        raise PayloadError(BadInput.NOT_ARRAY)
    for device in devices:
        if isinstance(device, dict) and device.get("friendly_name") == friendly_name:
            definition = device.get("definition")
            if not isinstance(definition, dict):
                definition = {}
            return DeviceInfo(
                vendor=_text(definition.get("vendor")),
                model=_text(definition.get("model")),
                power_source=_text(device.get("power_source")),
            )
    return None


def _text(value: object) -> str | None:
    return value if isinstance(value, str) and 0 < len(value) <= 200 else None
