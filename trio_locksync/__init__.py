"""trio_locksync: keep smart locks in sync, with structured concurrency on trio.

The top level is what a caller of the library uses: the ``open_x()`` entry points, the objects
they yield and the values and errors a caller annotates with or catches — every error a public
call raises on purpose is importable from here, and all of them derive from
:class:`LockSyncError`. The library runs on trio (``trio.run``, or anyio's trio backend); under
asyncio the first call raises :class:`TrioRequiredError`. Layers below it, as in
trio: :mod:`trio_locksync.lowlevel` holds the building blocks for extending the library (the
sans-I/O state machines and their effects, the scheduler, quiet window, breakers, change feeds),
:mod:`trio_locksync.testing` the simulators that speak the real protocols, and each subsystem's
package (:mod:`~trio_locksync.store`, :mod:`~trio_locksync.autolock`,
:mod:`~trio_locksync.credentials`, :mod:`~trio_locksync.eventstream`,
:mod:`~trio_locksync.mqtt`) everything of its own; :mod:`trio_locksync.providers` holds real lock
integrations (:class:`Zigbee2MqttLock`, with its states in
:mod:`trio_locksync.providers.zigbee2mqtt`; Z-Wave locks through :func:`open_zwave_js`, in
:mod:`trio_locksync.providers.zwave_js`; their events are the provider-neutral
:class:`LockEvent`).
"""

from .access import AccessError as AccessError
from .access import AccessPlan as AccessPlan
from .access import AccessPlanClosed as AccessPlanClosed
from .access import AccessState as AccessState
from .access import DuplicatePin as DuplicatePin
from .access import Grant as Grant
from .access import InvalidSchedule as InvalidSchedule
from .access import NoFreeSlot as NoFreeSlot
from .access import UnknownGrant as UnknownGrant
from .access import UnknownLock as UnknownLock
from .access import UsesNotCounted as UsesNotCounted
from .access import Weekly as Weekly
from .access import open_access_plan as open_access_plan
from .autolock import AutolockClosedError as AutolockClosedError
from .autolock import AutolockError as AutolockError
from .autolock import AutolockNotRecoveredError as AutolockNotRecoveredError
from .autolock import AutolockPersistError as AutolockPersistError
from .autolock import AutolockService as AutolockService
from .autolock import AutolockTargetGone as AutolockTargetGone
from .autolock import AutolockTimer as AutolockTimer
from .autolock import InvalidDurationError as InvalidDurationError
from .autolock import TimerState as TimerState
from .autolock import open_autolock as open_autolock
from .core import RECONNECT_BACKOFF as RECONNECT_BACKOFF
from .core import Backoff as Backoff
from .core import ClosedError as ClosedError
from .core import InvalidPinError as InvalidPinError
from .core import InvalidTransition as InvalidTransition
from .core import Jitter as Jitter
from .core import LockSyncError as LockSyncError
from .core import Overflow as Overflow
from .core import Pin as Pin
from .core import Subscription as Subscription
from .core import TrioRequiredError as TrioRequiredError
from .credentials import CodeRejected as CodeRejected
from .credentials import CredentialError as CredentialError
from .credentials import EventSource as EventSource
from .credentials import LockAction as LockAction
from .credentials import LockDisconnected as LockDisconnected
from .credentials import LockEvent as LockEvent
from .credentials import LockOperationFailed as LockOperationFailed
from .credentials import LockProvider as LockProvider
from .credentials import LockSync as LockSync
from .credentials import LockSyncClosedError as LockSyncClosedError
from .credentials import SlotChange as SlotChange
from .credentials import SlotCredential as SlotCredential
from .credentials import SlotUpdate as SlotUpdate
from .credentials import SyncState as SyncState
from .credentials import WriteResult as WriteResult
from .credentials import open_lock_sync as open_lock_sync
from .eventstream import EventStream as EventStream
from .eventstream import EventStreamError as EventStreamError
from .eventstream import EventStreamRejected as EventStreamRejected
from .eventstream import EventStreamStatus as EventStreamStatus
from .eventstream import FrameDecodeError as FrameDecodeError
from .eventstream import IsyEvent as IsyEvent
from .eventstream import StatusChange as StatusChange
from .eventstream import StreamEvent as StreamEvent
from .eventstream import open_event_stream as open_event_stream
from .eventstream import open_isy_event_stream as open_isy_event_stream
from .mqtt import MqttBridge as MqttBridge
from .mqtt import MqttClosedError as MqttClosedError
from .mqtt import MqttError as MqttError
from .mqtt import MqttMessage as MqttMessage
from .mqtt import MqttNotDelivered as MqttNotDelivered
from .mqtt import MqttRefused as MqttRefused
from .mqtt import MqttStatus as MqttStatus
from .mqtt import TopicError as TopicError
from .mqtt import open_mqtt_bridge as open_mqtt_bridge
from .providers.zigbee2mqtt import Zigbee2MqttLock as Zigbee2MqttLock
from .providers.zwave_js import ZWaveJsClient as ZWaveJsClient
from .providers.zwave_js import ZWaveJsClosed as ZWaveJsClosed
from .providers.zwave_js import ZWaveJsCommandError as ZWaveJsCommandError
from .providers.zwave_js import ZWaveJsConnectionLost as ZWaveJsConnectionLost
from .providers.zwave_js import ZWaveJsError as ZWaveJsError
from .providers.zwave_js import ZWaveJsLock as ZWaveJsLock
from .providers.zwave_js import ZWaveJsRefused as ZWaveJsRefused
from .providers.zwave_js import ZWaveJsStatus as ZWaveJsStatus
from .providers.zwave_js import open_zwave_js as open_zwave_js
from .store import Store as Store
from .store import StoreClosedError as StoreClosedError
from .store import StoreCorruptError as StoreCorruptError
from .store import StoreError as StoreError
from .store import StoreLockedError as StoreLockedError
from .store import StoreOpenError as StoreOpenError
from .store import StoreReadError as StoreReadError
from .store import StoreVersionError as StoreVersionError
from .store import StoreWriteError as StoreWriteError
from .store import open_store as open_store
from .testing import VirtualLock as VirtualLock

__version__ = "0.1.0"

__all__ = [
    "RECONNECT_BACKOFF",
    "AccessError",
    "AccessPlan",
    "AccessPlanClosed",
    "AccessState",
    "AutolockClosedError",
    "AutolockError",
    "AutolockNotRecoveredError",
    "AutolockPersistError",
    "AutolockService",
    "AutolockTargetGone",
    "AutolockTimer",
    "Backoff",
    "ClosedError",
    "CodeRejected",
    "CredentialError",
    "DuplicatePin",
    "EventSource",
    "EventStream",
    "EventStreamError",
    "EventStreamRejected",
    "EventStreamStatus",
    "FrameDecodeError",
    "Grant",
    "InvalidDurationError",
    "InvalidPinError",
    "InvalidSchedule",
    "InvalidTransition",
    "IsyEvent",
    "Jitter",
    "LockAction",
    "LockDisconnected",
    "LockEvent",
    "LockOperationFailed",
    "LockProvider",
    "LockSync",
    "LockSyncClosedError",
    "LockSyncError",
    "MqttBridge",
    "MqttClosedError",
    "MqttError",
    "MqttMessage",
    "MqttNotDelivered",
    "MqttRefused",
    "MqttStatus",
    "NoFreeSlot",
    "Overflow",
    "Pin",
    "SlotChange",
    "SlotCredential",
    "SlotUpdate",
    "StatusChange",
    "Store",
    "StoreClosedError",
    "StoreCorruptError",
    "StoreError",
    "StoreLockedError",
    "StoreOpenError",
    "StoreReadError",
    "StoreVersionError",
    "StoreWriteError",
    "StreamEvent",
    "Subscription",
    "SyncState",
    "TimerState",
    "TopicError",
    "TrioRequiredError",
    "UnknownGrant",
    "UnknownLock",
    "UsesNotCounted",
    "VirtualLock",
    "Weekly",
    "WriteResult",
    "ZWaveJsClient",
    "ZWaveJsClosed",
    "ZWaveJsCommandError",
    "ZWaveJsConnectionLost",
    "ZWaveJsError",
    "ZWaveJsLock",
    "ZWaveJsRefused",
    "ZWaveJsStatus",
    "Zigbee2MqttLock",
    "open_access_plan",
    "open_autolock",
    "open_event_stream",
    "open_isy_event_stream",
    "open_lock_sync",
    "open_mqtt_bridge",
    "open_store",
    "open_zwave_js",
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
