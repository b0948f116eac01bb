"""Z-Wave JS values that may hold a user code, sans-I/O: the wrapper that keeps them out of every
repr, and how a slot's two values (``userIdStatus[k]``, ``userCode[k]``) read as a
:class:`~trio_locksync.SlotCredential`.

Codes travel both ways on the wire (``node.set_value`` sends one, ``value updated`` and the
``get`` answer carry one back), so every value of the ``userCode`` property is held as a
:class:`SecretValue` from the moment it is parsed (zwave_js.md §1.3, §2).
"""

from __future__ import annotations

from typing import Any, final

from ...core import InvalidPinError
from ...credentials import SlotCredential

__all__ = [
    "ABSENT",
    "USER_CODE_CC",
    "Absent",
    "SecretValue",
    "decode_code",
    "is_secret_property",
    "slot_credential",
    "wrap_value",
]

#: User Code CC (zwave_js.md §0.3)
USER_CODE_CC = 99
#: value properties that carry a code (in either direction)
_SECRET_PROPERTIES = frozenset({"userCode", "adminCode"})


@final
class Absent:
    """No value at all: the driver never read it (the dump entry has no ``value`` key,
    ``get_value`` answers ``{}``; zwave_js.md §1.3, §2). Unknown, never empty."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "ABSENT"


ABSENT = Absent()


@final
class SecretValue:
    """A value that may be a user code: a str, or a ``{"type":"Buffer","data":[…]}`` object as
    the server serialises a ``Uint8Array`` (``[srv]../util/stringify.ts:3-13``). ``repr`` and
    ``str`` never show it; :meth:`reveal` does, for decoding only."""

    __slots__ = ("_raw",)

    _raw: object

    def __init__(self, raw: object) -> None:
        object.__setattr__(self, "_raw", raw)

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError("SecretValue is immutable")

    def reveal(self) -> object:
        """The value as received."""
        return self._raw

    def __repr__(self) -> str:
        return "SecretValue(<redacted>)"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, SecretValue):
            return NotImplemented
        return bool(self._raw == other._raw)

    def __hash__(self) -> int:
        return hash((SecretValue, repr(type(self._raw))))


def is_secret_property(prop: object) -> bool:
    """``prop`` names a value that carries a code."""
    return prop in _SECRET_PROPERTIES


def wrap_value(prop: object, value: Any) -> Any:
    """``value`` as held in a record: wrapped when ``prop`` carries a code."""
    if is_secret_property(prop) and not isinstance(value, SecretValue | Absent):
        return SecretValue(value)
    return value


def decode_code(raw: object) -> str | None:
    """A code value as text: a str as is; a Buffer object's bytes as ASCII after stripping
    trailing NULs (the driver keeps a code as a Buffer when it is not printable ASCII and strips
    NULs first, ``[UC]:1579-1597``); None for anything else."""
    if isinstance(raw, SecretValue):
        raw = raw.reveal()
    if isinstance(raw, str):
        return raw
    if isinstance(raw, dict) and raw.get("type") == "Buffer" and isinstance(raw.get("data"), list):
        data = raw["data"]
        if not all(isinstance(b, int) and 0 <= b <= 255 for b in data):
            return None
        return bytes(data).rstrip(b"\0").decode("ascii", errors="replace")
    return None


#: ``userIdStatus`` Enabled (driver ``UserIDStatus``, zwave_js.md §2)
ENABLED = 1


def slot_credential(status: object, code: object) -> SlotCredential | None:
    """One slot read from its ``userIdStatus`` and ``userCode`` values (zwave_js.md §2
    "Interpreting a slot", §8): status 0 → empty; status 1 (Enabled) with a code that is
    missing, ``""``, all ``*`` or not a valid PIN → unreadable, otherwise known; any other
    status (Disabled, Messaging, …) → unreadable. None: the status is unknown
    (never read: :data:`ABSENT`), so nothing can be said — not empty."""
    if isinstance(status, Absent) or status is None:
        return None
    if not isinstance(status, int) or isinstance(status, bool):
        return None
    if status == 0:
        return SlotCredential.empty()
    if status != ENABLED:
        # Disabled (2), Messaging (3), PassageMode (4), …: a code is there but does not open
        # the door as an enabled one does — never report it as the code (the engine would
        # call a disabled slot in sync).
        return SlotCredential.unreadable()
    text = None if isinstance(code, Absent) else decode_code(code)
    if text is None:
        return SlotCredential.unreadable()
    text = text.strip()
    if not text or set(text) == {"*"}:
        return SlotCredential.unreadable()
    try:
        return SlotCredential.known(text)
    except InvalidPinError:
        return SlotCredential.unreadable()
