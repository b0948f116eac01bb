"""What the simulated Zigbee2MQTT does with a device's ``set`` and ``get`` commands: one at a
time per device (as its send queue does), each taking the lock's latency, with the failures,
losses and silences of the real thing.

Read from zigbee-herdsman-converters ``src/converters/toZigbee.ts:430-478`` (``pincode_lock``:
users ``0 .. pinCodeCount - 1``, "user must be in range for device" on a set, "userId must be
in range for device" on a get, ``pin_code: null`` clears), Zigbee2MQTT
``lib/extension/publish.ts:278-280`` (``Publish '<type>' '<key>' to '<name>' failed: '<error>'``
at error level, the error printed with its ``Error: `` prefix) and zigbee-herdsman
``src/controller/model/endpoint.ts:1168-1185`` (``ZCL command <ieee>/<ep> <cluster>.<command>(
<payload>, <options>) failed (<cause>)``), the causes from its z-stack adapter
(``zStackAdapter.ts:34-35``: ``Data request failed with error: 'MAC_NO_ACK' (0xe9)``) and
``adapter.ts:120`` (``Timeout after 10000ms [address=... tsn=...]``). ``get {"pin_code": ""}``
reads every user in turn and stops at the first failure. Pinned in
``tests/test_zigbee2mqtt_simulator_shapes.py``."""

from __future__ import annotations

import hashlib
import json
from typing import Any

import trio

from ...core import InvalidPinError, Pin
from ...credentials import CodeRejected, LockDisconnected, LockOperationFailed
from ._device import SimulatedZigbeeLock

__all__ = ["OPTIONS", "run_commands"]

#: the ZCL options herdsman prints in a failed command (``getOptionsWithDefaults``,
#: ``endpoint.ts:1019-1031``; keys whose value is undefined drop out of JSON; commands with a
#: response disable the default response, ``endpoint.ts:1152``)
OPTIONS = (
    '{"timeout":10000,"disableResponse":false,"disableRecovery":false,'
    '"disableDefaultResponse":true,"direction":0,"reservedBits":0,"writeUndiv":false}'
)
#: closuresDoorLock command ids (ZCL 7.3.2.17)
COMMAND_IDS = {"setPinCode": 5, "getPinCode": 6, "clearPinCode": 7}


async def run_commands(device: SimulatedZigbeeLock, nursery: trio.Nursery) -> None:
    """[a task of the simulator] Carry out ``device``'s commands in order; late writes land
    in tasks of ``nursery``."""
    runner = _Runner(device, nursery)
    async for kind, payload in device.inbox:
        await runner.handle(kind, payload)


class _Runner:
    def __init__(self, device: SimulatedZigbeeLock, nursery: trio.Nursery) -> None:
        self.device = device
        self.nursery = nursery
        self.ieee = device.ieee
        self.nwk = int(hashlib.sha256(device.name.encode()).hexdigest()[16:20], 16)
        self.tsn = 0

    async def handle(self, kind: str, payload: bytes) -> None:
        device = self.device
        obj = _parse(payload, kind)
        if obj is None:
            device.log("error", "Invalid message 'undefined', skipping...")  # publish.ts:129
            return
        for key, value in obj.items():
            if key == "pin_code":
                if kind == "set":
                    await self.set_pin_code(value)
                else:
                    await self.get_pin_code(value)
            elif key == "state":
                await (self.set_state(value) if kind == "set" else self.get_state())
            else:
                shown = json.dumps(value, separators=(",", ":"))  # publish.ts:209
                device.log(
                    "error", f"No converter available for '{key}' on '{device.name}': ({shown})"
                )

    # -- failures, as Zigbee2MQTT logs them --------------------------------------------------

    def fail(self, kind: str, command: str, params: dict[str, Any], reason: str) -> None:
        body = json.dumps(params, separators=(",", ":"))  # a set's PIN included, in clear
        self.device.log(
            "error",
            f"Publish '{kind}' 'pin_code' to '{self.device.name}' failed: 'Error: ZCL command "
            f"{self.ieee}/1 closuresDoorLock.{command}({body}, {OPTIONS}) failed ({reason})'",
        )

    async def failed(
        self, kind: str, command: str, params: dict[str, Any], error: Exception
    ) -> None:
        """The command did not get through: Zigbee2MQTT says so after its ZCL timeout."""
        await trio.sleep(self.device.zcl_timeout)
        if isinstance(error, LockDisconnected):
            reason = "Data request failed with error: 'MAC_NO_ACK' (0xe9)"
        else:
            self.tsn = (self.tsn + 1) % 256
            command_id = COMMAND_IDS[command]
            reason = (
                f"Timeout after 10000ms [address={self.nwk} endpoint=1 clusterId=257 "
                f"cmdId={command_id} tsn={self.tsn}]"
            )
        self.fail(kind, command, params, reason)

    def fail_state(self, command: str, reason: str) -> None:
        # the pincodevalue Buffer prints as JSON.stringify does a Buffer
        body = '{"pincodevalue":{"type":"Buffer","data":[]}}'
        self.device.log(
            "error",
            f"Publish 'set' 'state' to '{self.device.name}' failed: 'Error: ZCL command "
            f"{self.ieee}/1 closuresDoorLock.{command}({body}, {OPTIONS}) failed ({reason})'",
        )

    def out_of_range(self, kind: str) -> None:
        device = self.device
        what = "user" if kind == "set" else "userId"
        device.log(
            "error",
            f"Publish '{kind}' 'pin_code' to '{device.name}' failed: "
            f"'Error: {what} must be in range for device'",
        )

    def user(self, value: object, kind: str) -> int | None:
        """The user id of a command, or None after Zigbee2MQTT's refusal of it."""
        users = self.device.users
        if isinstance(value, int) and not isinstance(value, bool) and value in users:
            return value
        self.out_of_range(kind)
        return None

    # -- set --------------------------------------------------------------------------------

    async def set_pin_code(self, value: object) -> None:
        device = self.device
        if not isinstance(value, dict):  # utils.assertObject (zhc src/lib/utils.ts:577-580)
            shown = json.dumps(value, separators=(",", ":"))
            device.log(
                "error",
                f"Publish 'set' 'pin_code' to '{device.name}' failed: 'Error: pin_code is not a "
                f"object, got {_typeof(value)} ({shown})'",
            )
            return
        user = self.user(value.get("user"), "set")
        if user is None:
            return
        code = value.get("pin_code")
        await trio.sleep(device.draw_latency())
        if code is None:  # clearPinCode: user_enabled and user_type are ignored
            device.counts.clears += 1
            try:
                await device.virtual.clear_code(user)
            except (LockDisconnected, LockOperationFailed) as error:
                await self.failed("set", "clearPinCode", {"userid": user}, error)
                return
            device.disabled.discard(user)
            device.frame(None)  # clearPinCodeRsp: nothing but last_seen
            return
        enabled = value.get("user_enabled", True) is not False
        device.counts.sets += 1
        device.set_counts[user] += 1
        params: dict[str, Any] = {"userid": user, "userstatus": 1 if enabled else 3}
        params |= {"usertype": 0, "pincodevalue": str(code)}
        pin = _pin(str(code))
        if pin is None or user in device.never_lands:
            if pin is not None:
                device.counts.lost_writes += 1
        elif device.write_delay > 0:
            device.counts.late_writes += 1
            self.nursery.start_soon(self.land_late, user, pin, enabled)
        else:
            try:
                await self.land(user, pin, enabled)
            except (LockDisconnected, LockOperationFailed) as error:
                await self.failed("set", "setPinCode", params, error)
                return
        device.frame(None)  # setPinCodeRsp (its status is not checked): nothing but last_seen

    async def land(self, user: int, pin: Pin, enabled: bool) -> None:
        device = self.device
        try:
            await device.virtual.set_code(user, pin)
        except CodeRejected:
            return  # the lock answers status 3; Zigbee2MQTT does not look
        if enabled:
            device.disabled.discard(user)
        elif user in device.codes:
            device.disabled.add(user)

    async def land_late(self, user: int, pin: Pin, enabled: bool) -> None:
        await trio.sleep(self.device.write_delay)
        try:
            await self.land(user, pin, enabled)
        except (LockDisconnected, LockOperationFailed):
            self.device.counts.lost_writes += 1

    async def set_state(self, value: object) -> None:
        """``tz.lock`` (``toZigbee.ts:381-403``): LOCK, UNLOCK or TOGGLE, else
        ``validateValue``'s error (``utils.ts:497-500``)."""
        device = self.device
        word = value.get("state") if isinstance(value, dict) else value
        state = word.upper() if isinstance(word, str) else None
        if state not in ("LOCK", "UNLOCK", "TOGGLE"):
            shown = "null" if state is None else state
            device.log(
                "error",
                f"Publish 'set' 'state' to '{device.name}' failed: 'Error: '{shown}' not "
                "allowed, choose between: LOCK,UNLOCK,TOGGLE'",
            )
            return
        device.counts.commands += 1
        await trio.sleep(device.draw_latency())
        if not device.online:
            await trio.sleep(device.zcl_timeout)
            command = f"{str(state).lower()}Door"
            self.fail_state(command, "Data request failed with error: 'MAC_NO_ACK' (0xe9)")
            return
        word = str(state)
        if word == "TOGGLE":
            word = "UNLOCK" if device.lock_state == "locked" else "LOCK"
        verb = word.lower()
        if device.remote_events:
            event = {"action": verb, "action_source": 1, "action_source_name": "rf"}
            device.frame(None, event | {"action_user": 65535})
        device.frame({"state": word, "lock_state": f"{verb}ed"})

    # -- get --------------------------------------------------------------------------------

    async def get_pin_code(self, value: object) -> None:
        device = self.device
        if isinstance(value, dict) and "user" in value:
            user = self.user(value["user"], "get")
            if user is None:
                return
            await self.read(user)
            return
        for user in device.users:  # the bulk read: one failure ends it
            if not await self.read(user):
                return

    async def read(self, user: int) -> bool:
        device = self.device
        device.counts.gets += 1
        await trio.sleep(device.draw_latency())
        params = {"userid": user}
        if device.read_lost():
            device.counts.lost_reads += 1
            await self.failed("get", "getPinCode", params, LockOperationFailed())
            return False
        try:
            reading = (await device.virtual.read_slots([user]))[user]
        except (LockDisconnected, LockOperationFailed) as error:
            await self.failed("get", "getPinCode", params, error)
            return False
        if user in device.not_supported:
            device.counts.declined_reads += 1
            device.answer_declined(user)
            return True
        device.answer(user, reading.kind, device.codes.get(user))
        return True

    async def get_state(self) -> None:
        device = self.device
        await trio.sleep(device.draw_latency())
        if device.online:
            device.frame({"state": device.cache["state"], "lock_state": device.lock_state})


def _parse(payload: bytes, kind: str) -> dict[str, Any] | None:
    try:
        obj = json.loads(payload)
    except (ValueError, UnicodeDecodeError):
        text = payload.strip().upper()
        if kind == "set" and text in (b"LOCK", b"UNLOCK", b"TOGGLE"):
            return {"state": text.decode()}
        return None
    return obj if isinstance(obj, dict) else None


def _pin(code: str) -> Pin | None:
    try:
        return Pin(code)
    except InvalidPinError:
        return None


def _typeof(value: object) -> str:
    """JavaScript's ``typeof`` of a parsed JSON value."""
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    return "string" if isinstance(value, str) else "object"
