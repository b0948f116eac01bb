"""Verified credential sync (seed 001): the engine, slot readings, the provider interface, lock
events (the same from every provider). (The simulated lock, ``VirtualLock``, lives in
:mod:`trio_locksync.testing` with the other simulators.)"""

from ._engine import LockSync as LockSync
from ._engine import LockSyncStatistics as LockSyncStatistics
from ._engine import SlotChange as SlotChange
from ._engine import open_lock_sync as open_lock_sync
from ._errors import CodeRejected as CodeRejected
from ._errors import CredentialError as CredentialError
from ._errors import LockDisconnected as LockDisconnected
from ._errors import LockOperationFailed as LockOperationFailed
from ._errors import LockSyncClosedError as LockSyncClosedError
from ._events import EventSource as EventSource
from ._events import LockAction as LockAction
from ._events import LockEvent as LockEvent
from ._events import LockEventProvider as LockEventProvider
from ._events import LockState as LockState
from ._models import CredentialKind as CredentialKind
from ._models import SlotCredential as SlotCredential
from ._models import SlotUpdate as SlotUpdate
from ._models import SyncState as SyncState
from ._models import WriteResult as WriteResult
from ._provider import LockProvider as LockProvider
from ._rules import Desired as Desired
from ._rules import in_sync as in_sync

__all__ = [
    "CodeRejected",
    "CredentialError",
    "CredentialKind",
    "Desired",
    "EventSource",
    "LockAction",
    "LockDisconnected",
    "LockEvent",
    "LockEventProvider",
    "LockOperationFailed",
    "LockProvider",
    "LockState",
    "LockSync",
    "LockSyncClosedError",
    "LockSyncStatistics",
    "SlotChange",
    "SlotCredential",
    "SlotUpdate",
    "SyncState",
    "WriteResult",
    "in_sync",
    "open_lock_sync",
]
