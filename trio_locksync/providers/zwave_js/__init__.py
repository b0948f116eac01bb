"""Z-Wave locks behind a Z-Wave JS Server (``@zwave-js/server``), over one trio-websocket
connection: :func:`open_zwave_js` keeps the connection (the core's reconnect policy, SYNCING
while a state dump is applied), and :meth:`ZWaveJsClient.lock` makes a node a
:class:`~trio_locksync.LockProvider` (and :class:`~trio_locksync.LockEventProvider`) for
:func:`~trio_locksync.open_lock_sync`. ::

    async with open_zwave_js("ws://127.0.0.1:3000") as client:
        lock = client.lock(2, slots=range(1, 11))
        async with open_lock_sync(lock, {1: "1234", 2: None}) as sync:
            ...

Protocol facts and their upstream sources: /work/shared/zwave_js.md (cited by section).
"""

from ._client import ZWaveJsClient as ZWaveJsClient
from ._client import open_zwave_js as open_zwave_js
from ._counts import ZWaveJsLockStatistics as ZWaveJsLockStatistics
from ._counts import ZWaveJsStatistics as ZWaveJsStatistics
from ._errors import ZWaveJsClosed as ZWaveJsClosed
from ._errors import ZWaveJsCommandError as ZWaveJsCommandError
from ._errors import ZWaveJsConnectionLost as ZWaveJsConnectionLost
from ._errors import ZWaveJsError as ZWaveJsError
from ._errors import ZWaveJsRefused as ZWaveJsRefused
from ._events import NodeStatus as NodeStatus
from ._lock import ZWaveJsLock as ZWaveJsLock
from ._model import ZWaveNode as ZWaveNode
from ._status import ZWaveJsStatus as ZWaveJsStatus
from ._status import ZWaveJsStatusChange as ZWaveJsStatusChange

__all__ = [
    "NodeStatus",
    "ZWaveJsClient",
    "ZWaveJsClosed",
    "ZWaveJsCommandError",
    "ZWaveJsConnectionLost",
    "ZWaveJsError",
    "ZWaveJsLock",
    "ZWaveJsLockStatistics",
    "ZWaveJsRefused",
    "ZWaveJsStatistics",
    "ZWaveJsStatus",
    "ZWaveJsStatusChange",
    "ZWaveNode",
    "open_zwave_js",
]
