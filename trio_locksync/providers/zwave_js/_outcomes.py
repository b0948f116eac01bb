"""How a failed command reads for a lock provider, sans-I/O (zwave_js.md §1.4, §8)."""

from __future__ import annotations

from ...credentials import CodeRejected, LockDisconnected, LockOperationFailed
from ._errors import ZWaveJsCommandError
from ._protocol import ZWaveErrorCode

__all__ = ["DOOR_LOCK_CC", "DUPLICATE_WINDOW", "classify", "slot_number"]

DOOR_LOCK_CC = 98
#: seconds after a refused set in which a Notification 6/15 marks it a duplicate (§3.1, §6)
DUPLICATE_WINDOW = 2.0

#: errors that mean the node (or the radio path to it) is unreachable (§1.4 table)
_UNREACHABLE = frozenset(
    {
        ZWaveErrorCode.CONTROLLER_TIMEOUT,
        ZWaveErrorCode.CONTROLLER_NODE_TIMEOUT,
        ZWaveErrorCode.CONTROLLER_MESSAGE_DROPPED,
        ZWaveErrorCode.CONTROLLER_CALLBACK_NOK,
        ZWaveErrorCode.CONTROLLER_MESSAGE_EXPIRED,
        ZWaveErrorCode.DRIVER_FAILED,
        ZWaveErrorCode.DRIVER_NOT_READY,
    }
)


def slot_number(slot: object) -> int:
    """``slot`` checked: an int >= 1 (ValueError otherwise)."""
    if isinstance(slot, bool) or not isinstance(slot, int) or slot < 1:
        raise ValueError(f"a Z-Wave user code slot is an int >= 1, got {slot!r}")
    return slot


def classify(exc: ZWaveJsCommandError, node_id: int, slot: int | None) -> Exception:
    """The provider error for a failed command (§1.4 table, §8): unreachable (node_not_found,
    200/201/202/204/215, driver gone) → LockDisconnected; 322 on a slot → CodeRejected (a
    permanent per-slot refusal, never fed to the lock breaker); else LockOperationFailed."""
    what = f"node {node_id}: {exc.command} failed ({exc.error_code} {exc.zwave_code})"
    if exc.error_code == "node_not_found" or exc.zwave_code in _UNREACHABLE:
        return LockDisconnected(what, slot=slot)
    if exc.zwave_code == ZWaveErrorCode.ARGUMENT_INVALID and slot is not None:
        return CodeRejected(f"{what}: {exc.message}", slot=slot)
    return LockOperationFailed(f"{what}: {exc.message}", slot=slot)
