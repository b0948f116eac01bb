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
from ._scheduler import DeadlineScheduler as DeadlineScheduler
from ._scheduler import ScheduledCall as ScheduledCall
from ._scheduler import ScheduledCallState as ScheduledCallState
from ._secrets import Pin as Pin
from ._secrets import mask_pin as mask_pin
from ._state import StateTable as StateTable
from ._watch import Watched as Watched

__all__ = [
    "Backoff",
    "DeadlineScheduler",
    "InvalidPinError",
    "InvalidTransition",
    "Jitter",
    "LockSyncError",
    "Pin",
    "QuietDeadline",
    "QuietReason",
    "QuietWindow",
    "ScheduledCall",
    "ScheduledCallState",
    "StateTable",
    "Watched",
    "mask_pin",
    "open_service_nursery",
]
