"""trio_locksync: keep smart locks in sync, with structured concurrency on trio.

Every public name is importable from here; the subpackages (``core``, ``store``, and later
``autolock``, ``credentials``, ``mqtt``, ``eventstream``) hold the implementation.
"""

from .autolock import ActionOutcome as ActionOutcome
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
from .autolock import ServiceState as ServiceState
from .autolock import TimerEntry as TimerEntry
from .autolock import TimerMachine as TimerMachine
from .autolock import TimerState as TimerState
from .autolock import TimerStore as TimerStore
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
from .credentials import CodeRejected as CodeRejected
from .credentials import CredentialError as CredentialError
from .credentials import CredentialKind as CredentialKind
from .credentials import Desired as Desired
from .credentials import LockDisconnected as LockDisconnected
from .credentials import LockOperationFailed as LockOperationFailed
from .credentials import LockProvider as LockProvider
from .credentials import LockSync as LockSync
from .credentials import LockSyncStatistics as LockSyncStatistics
from .credentials import SlotChange as SlotChange
from .credentials import SlotCredential as SlotCredential
from .credentials import SlotUpdate as SlotUpdate
from .credentials import SyncState as SyncState
from .credentials import VirtualLock as VirtualLock
from .credentials import VirtualLockStatistics as VirtualLockStatistics
from .credentials import WriteResult as WriteResult
from .credentials import in_sync as in_sync
from .credentials import open_lock_sync as open_lock_sync
from .eventstream import ISY_ORIGIN as ISY_ORIGIN
from .eventstream import ISY_SUBPROTOCOL as ISY_SUBPROTOCOL
from .eventstream import EventStream as EventStream
from .eventstream import EventStreamError as EventStreamError
from .eventstream import EventStreamRejected as EventStreamRejected
from .eventstream import EventStreamStatistics as EventStreamStatistics
from .eventstream import EventStreamStatus as EventStreamStatus
from .eventstream import FrameDecodeError as FrameDecodeError
from .eventstream import IsyEvent as IsyEvent
from .eventstream import Overflow as Overflow
from .eventstream import StatusChange as StatusChange
from .eventstream import StreamEvent as StreamEvent
from .eventstream import decode_isy_event as decode_isy_event
from .eventstream import decode_text as decode_text
from .eventstream import isy_headers as isy_headers
from .eventstream import isy_heartbeat as isy_heartbeat
from .eventstream import isy_subscribe_url as isy_subscribe_url
from .eventstream import open_event_stream as open_event_stream
from .eventstream import open_isy_event_stream as open_isy_event_stream
from .eventstream import redact_url as redact_url
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
    "ISY_ORIGIN",
    "ISY_SUBPROTOCOL",
    "ActionOutcome",
    "AutolockClosedError",
    "AutolockError",
    "AutolockNotRecoveredError",
    "AutolockPersistError",
    "AutolockService",
    "AutolockStatistics",
    "AutolockTargetGone",
    "AutolockTimer",
    "Backoff",
    "CodeRejected",
    "CredentialError",
    "CredentialKind",
    "DeadlineScheduler",
    "Desired",
    "EventStream",
    "EventStreamError",
    "EventStreamRejected",
    "EventStreamStatistics",
    "EventStreamStatus",
    "FrameDecodeError",
    "InvalidDurationError",
    "InvalidPinError",
    "InvalidTransition",
    "IsyEvent",
    "Jitter",
    "LockDisconnected",
    "LockOperationFailed",
    "LockProvider",
    "LockSync",
    "LockSyncError",
    "LockSyncStatistics",
    "Overflow",
    "Pin",
    "QuietDeadline",
    "QuietReason",
    "QuietWindow",
    "RecoveryReport",
    "ScheduledCall",
    "ScheduledCallState",
    "ServiceState",
    "SlotChange",
    "SlotCredential",
    "SlotUpdate",
    "StateTable",
    "StatusChange",
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
    "StreamEvent",
    "SyncState",
    "TimerEntry",
    "TimerMachine",
    "TimerState",
    "TimerStore",
    "VirtualLock",
    "VirtualLockStatistics",
    "Watched",
    "WriteResult",
    "decode_isy_event",
    "decode_text",
    "in_sync",
    "isy_headers",
    "isy_heartbeat",
    "isy_subscribe_url",
    "mask_pin",
    "open_autolock",
    "open_event_stream",
    "open_isy_event_stream",
    "open_lock_sync",
    "open_store",
    "redact_url",
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
