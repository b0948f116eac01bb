"""What we publish to a Zigbee2MQTT lock (zigbee-herdsman-converters ``tz.pincode_lock``,
``tz.lock``): payloads for ``<base>/<name>/set`` and ``<base>/<name>/get``.

* Set: ``{"pin_code": {"user": N, "user_type": "unrestricted", "user_enabled": true,
  "pin_code": "1234"}}`` — the PIN as a JSON string (leading zeros; the converter does
  ``toString()`` anyway).
* Clear: ``pin_code: null``. The converter then sends ``clearPinCode`` and ignores
  ``user_enabled``; we send ``"user_enabled": false`` too, as lock_code_manager and SPEC do
  (harmless). Beware: a ``set`` of ``{"pin_code": {"user": N}}`` meant as anything else
  clears slot N.
* Read one user: ``get {"pin_code": {"user": N}}`` (the answer comes as ``users[N]`` on the
  device topic; there is no correlation id).
* Bolt: ``set {"state": "LOCK"|"UNLOCK"}``, with a code ``{"state": {"state": "UNLOCK",
  "code": "1234"}}``.

These bytes hold PINs: never log them.
"""

from __future__ import annotations

import json

from ...core import Pin

__all__ = ["clear_payload", "command_payload", "get_payload", "set_payload"]


def _dump(value: object) -> bytes:
    return json.dumps(value, separators=(",", ":")).encode()


def set_payload(user: int, pin: Pin) -> bytes:
    """``set`` a PIN into ``user`` (enabled, unrestricted)."""
    code = {"user": user, "user_type": "unrestricted", "user_enabled": True}
    code["pin_code"] = pin.reveal()
    return _dump({"pin_code": code})


def clear_payload(user: int) -> bytes:
    """``set`` that clears ``user`` (``pin_code: null``; ``user_enabled: false`` is ignored by
    the converter on this path and kept for locks whose converters once needed it)."""
    return _dump({"pin_code": {"user": user, "user_enabled": False, "pin_code": None}})


def get_payload(user: int) -> bytes:
    """``get`` one user's code: the answer arrives as ``users[user]`` on the device topic."""
    return _dump({"pin_code": {"user": user}})


def command_payload(state: str, code: Pin | None = None) -> bytes:
    """``set`` the bolt: ``state`` is ``"LOCK"`` or ``"UNLOCK"``, with a PIN for locks that
    want one for remote operation."""
    if code is None:
        return _dump({"state": state})
    return _dump({"state": {"state": state, "code": code.reveal()}})
