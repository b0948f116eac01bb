"""The shared core under every subsystem: errors, backoff, quiet windows, secrets, state tables."""

from ._backoff import Backoff as Backoff
from ._backoff import Jitter as Jitter
from ._errors import InvalidPinError as InvalidPinError
from ._errors import InvalidTransition as InvalidTransition
from ._errors import LockSyncError as LockSyncError
from ._nursery import open_service_nursery as open_service_nursery
from ._quiet import QuietDeadline as QuietDeadline
from ._quiet import QuietReason as QuietReason
from ._quiet import QuietWindow as QuietWindow
from ._secrets import Pin as Pin
from ._secrets import mask_pin as mask_pin
from ._state import StateTable as StateTable

__all__ = [
    "Backoff",
    "InvalidPinError",
    "InvalidTransition",
    "Jitter",
    "LockSyncError",
    "Pin",
    "QuietDeadline",
    "QuietReason",
    "QuietWindow",
    "StateTable",
    "mask_pin",
    "open_service_nursery",
]
