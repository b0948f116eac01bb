"""trio_locksync: keep smart locks in sync, with structured concurrency on trio.

Every public name is importable from here; the subpackages (``core``, ``store``, and later
``autolock``, ``credentials``, ``mqtt``, ``eventstream``) hold the implementation.
"""

from .core import Backoff as Backoff
from .core import InvalidPinError as InvalidPinError
from .core import InvalidTransition as InvalidTransition
from .core import Jitter as Jitter
from .core import LockSyncError as LockSyncError
from .core import Pin as Pin
from .core import QuietDeadline as QuietDeadline
from .core import QuietReason as QuietReason
from .core import QuietWindow as QuietWindow
from .core import StateTable as StateTable
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
    "mask_pin",
    "open_store",
]
