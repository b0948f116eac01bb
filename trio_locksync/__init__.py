"""trio_locksync: keep smart locks in sync, with structured concurrency on trio.

Every public name is importable from here; the subpackages (``core``, ``store``, and later
``autolock``, ``credentials``, ``mqtt``, ``eventstream``) hold the implementation.
"""

from .autolock import AutolockClosedError as AutolockClosedError
from .autolock import AutolockError as AutolockError
from .autolock import AutolockNotRecoveredError as AutolockNotRecoveredError
from .autolock import AutolockPersistError as AutolockPersistError
from .autolock import AutolockService as AutolockService
from .autolock import AutolockStatistics as AutolockStatistics
from .autolock import AutolockTargetGone as AutolockTargetGone
from .autolock import AutolockTimer as AutolockTimer
from .autolock import InvalidDurationError as InvalidDurationError
from .autolock import RecoveryReport as RecoveryReport
from .autolock import TimerEntry as TimerEntry
from .autolock import TimerState as TimerState
from .autolock import open_autolock as open_autolock
from .core import Backoff as Backoff
from .core import DeadlineScheduler as DeadlineScheduler
from .core import InvalidPinError as InvalidPinError
from .core import InvalidTransition as InvalidTransition
from .core import Jitter as Jitter
from .core import LockSyncError as LockSyncError
from .core import Pin as Pin
from .core import QuietDeadline as QuietDeadline
from .core import QuietReason as QuietReason
from .core import QuietWindow as QuietWindow
from .core import ScheduledCall as ScheduledCall
from .core import ScheduledCallState as ScheduledCallState
from .core import StateTable as StateTable
from .core import Watched as Watched
from .core import mask_pin as mask_pin
from .store import Store as Store
from .store import StoreClosedError as StoreClosedError
from .store import StoreCorruptError as StoreCorruptError
from .store import StoreError as StoreError
from .store import StoreLockedError as StoreLockedError
from .store import StoreReadError as StoreReadError
from .store import StoreState as StoreState
from .store import StoreStatistics as StoreStatistics
from .store import StoreVersionError as StoreVersionError
from .store import StoreWriteError as StoreWriteError
from .store import open_store as open_store

__version__ = "0.1.0"

__all__ = [
    "AutolockClosedError",
    "AutolockError",
    "AutolockNotRecoveredError",
    "AutolockPersistError",
    "AutolockService",
    "AutolockStatistics",
    "AutolockTargetGone",
    "AutolockTimer",
    "Backoff",
    "DeadlineScheduler",
    "InvalidDurationError",
    "InvalidPinError",
    "InvalidTransition",
    "Jitter",
    "LockSyncError",
    "Pin",
    "QuietDeadline",
    "QuietReason",
    "QuietWindow",
    "RecoveryReport",
    "ScheduledCall",
    "ScheduledCallState",
    "StateTable",
    "Store",
    "StoreClosedError",
    "StoreCorruptError",
    "StoreError",
    "StoreLockedError",
    "StoreReadError",
    "StoreState",
    "StoreStatistics",
    "StoreVersionError",
    "StoreWriteError",
    "TimerEntry",
    "TimerState",
    "Watched",
    "mask_pin",
    "open_autolock",
    "open_store",
]


def _fix_module_names() -> None:
    # Users (tracebacks, reprs, docs) see trio_locksync.Store, not trio_locksync.store._store.
    for name in __all__:
        obj = globals()[name]
        if getattr(obj, "__module__", "").startswith("trio_locksync."):
            try:
                obj.__module__ = __name__
            except (AttributeError, TypeError):  # pragma: no cover - not settable
                pass


_fix_module_names()
del _fix_module_names
