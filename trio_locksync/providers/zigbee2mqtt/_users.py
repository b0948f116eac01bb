"""Which user ids a Zigbee lock has, sans-I/O: what Zigbee2MQTT says of the device's model, and
what its refusals teach.

Zigbee2MQTT numbers a lock's users ``0 .. pinCodeCount - 1`` and refuses any other id before
anything goes on the air (zigbee-herdsman-converters ``tz.pincode_lock``: "userId must be in
range for device"); ``pinCodeCount`` is per model (``meta.pinCodeCount`` of its definition).
Two ways to learn it:

* **The model** (``bridge/devices`` names it): :data:`~._devices.PIN_CODE_COUNTS`, read from
  the converters, gives the exact count.
* **A refusal**: a refused user ``k`` proves the lock has at most ``k`` users, so every id
  ``>= k`` is refused too without asking again. That matters because Zigbee2MQTT publishes an
  identical log line only once in a row: the refusal of user 5 after that of user 4 reads the
  same (the message names no user), so it would never arrive.

An id the lock cannot have is a permanent per-slot refusal, never a sign the lock is
unreachable.
"""

from __future__ import annotations

import enum
from typing import final

__all__ = ["RangeSource", "UserRange"]

#: no Zigbee user id reaches this (65535 means "no user")
NO_USER = 65535


class RangeSource(enum.Enum):
    """Where the lock's user range comes from."""

    #: nothing known: every id 0..65534 may exist
    UNKNOWN = "unknown"
    #: the device's model in ``bridge/devices`` (exact)
    MODEL = "model"
    #: a refusal of Zigbee2MQTT's: an upper bound
    REFUSAL = "refusal"


@final
class UserRange:
    """What we know of a lock's user ids. ``limit``: no id ``>= limit`` exists."""

    def __init__(self) -> None:
        self.limit = NO_USER
        self.source = RangeSource.UNKNOWN
        #: the model named in ``bridge/devices`` (vendor, model), once seen
        self.model: tuple[str, str] | None = None

    @property
    def known(self) -> range | None:
        """The user ids the lock may have — told by its model, or bounded by a refusal (ids
        at or above a refused one are ruled out) — else None (nothing known)."""
        return None if self.source is RangeSource.UNKNOWN else range(self.limit)

    def beyond(self, user: int) -> bool:
        """The lock cannot have ``user``."""
        return user >= self.limit

    def from_model(self, vendor: str, model: str, count: int | None) -> bool:
        """``bridge/devices`` named the model (``count``: its ``pinCodeCount`` when we know
        it). True if the range changed. A refusal already seen stays the bound if lower."""
        self.model = (vendor, model)
        if count is None or (self.source is RangeSource.MODEL and count == self.limit):
            return False
        if self.source is RangeSource.REFUSAL and self.limit < count:
            return False
        changed = count != self.limit
        self.limit, self.source = count, RangeSource.MODEL
        return changed

    def refused(self, user: int) -> bool:
        """Zigbee2MQTT said ``user`` is out of the lock's range. True if that taught us
        something (a lower bound than we had)."""
        if user >= self.limit or user < 0:
            return False
        self.limit, self.source = user, RangeSource.REFUSAL
        return True

    def describe(self) -> str:
        """The range in words, for error messages and logs."""
        if self.source is RangeSource.MODEL:
            assert self.model is not None
            vendor, model = self.model
            return f"users 0..{self.limit - 1} ({vendor} {model} has {self.limit})"
        if self.source is RangeSource.REFUSAL:
            return f"at most {self.limit} users (Zigbee2MQTT refused user {self.limit})"
        return "an unknown number of users"
