"""PINs as a secret type: no ``repr``, ``str``, format or log line ever shows the digits."""

from __future__ import annotations

import hashlib
import hmac
from typing import final

from ._errors import InvalidPinError

__all__ = ["Pin", "mask_pin"]

_MIN_DIGITS = 4
_MAX_DIGITS = 10


@final
class Pin:
    """A lock user code (4 to 10 ASCII digits, the Z-Wave/Zigbee user-code range).

    ``repr(pin)`` is ``Pin(<redacted>)`` and ``str(pin)``/``f"{pin}"`` is ``<redacted>``; the
    digits come out only through :meth:`reveal`, which is what a provider calls to program the
    lock. Equality is constant-time; hashing is by value so a Pin can key a dict. For logs use
    :meth:`token` (or :func:`mask_pin`): a salted hash that is stable for one (salt, PIN) pair
    and says nothing about the digits or their count.
    """

    __slots__ = ("_digits",)

    _digits: str

    def __init__(self, digits: str) -> None:
        if not isinstance(digits, str):
            raise InvalidPinError(
                f"a PIN must be given as a str of digits, not {type(digits).__name__}"
            )
        if not (digits.isascii() and digits.isdigit()):
            raise InvalidPinError("a PIN must contain only the digits 0-9")
        if not _MIN_DIGITS <= len(digits) <= _MAX_DIGITS:
            raise InvalidPinError(f"a PIN must have {_MIN_DIGITS} to {_MAX_DIGITS} digits")
        object.__setattr__(self, "_digits", digits)

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError("Pin is immutable")

    def reveal(self) -> str:
        """The digits. Call it only where the code is handed to the lock itself."""
        return self._digits

    def token(self, salt: str) -> str:
        """A log-safe token: ``pin:`` plus 8 hex chars of HMAC-SHA256(salt, digits)."""
        return mask_pin(self, salt)

    def __repr__(self) -> str:
        return "Pin(<redacted>)"

    def __str__(self) -> str:
        return "<redacted>"

    def __format__(self, format_spec: str) -> str:
        return format(str(self), format_spec)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Pin):
            return NotImplemented
        return hmac.compare_digest(self._digits, other._digits)

    def __hash__(self) -> int:
        return hash((Pin, self._digits))

    def __reduce__(self) -> tuple[type[Pin], tuple[str]]:
        return (Pin, (self._digits,))


def mask_pin(pin: Pin | None, salt: str) -> str:
    """The log token for ``pin`` (``<empty>`` for no PIN); salt it per slot so equal PINs in
    different slots do not correlate."""
    if pin is None:
        return "<empty>"
    digest = hmac.new(salt.encode(), pin.reveal().encode(), hashlib.sha256).hexdigest()
    return f"pin:{digest[:8]}"
