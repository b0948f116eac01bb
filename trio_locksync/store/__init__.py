"""Per-file atomic, durable JSON store with debounced saves (seed 002)."""

from ._codec import json_decoder as json_decoder
from ._codec import json_encoder as json_encoder
from ._errors import StoreClosedError as StoreClosedError
from ._errors import StoreCorruptError as StoreCorruptError
from ._errors import StoreError as StoreError
from ._errors import StoreLockedError as StoreLockedError
from ._errors import StoreReadError as StoreReadError
from ._errors import StoreVersionError as StoreVersionError
from ._errors import StoreWriteError as StoreWriteError
from ._store import Store as Store
from ._store import StoreState as StoreState
from ._store import StoreStatistics as StoreStatistics
from ._store import open_store as open_store

__all__ = [
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
    "json_decoder",
    "json_encoder",
    "open_store",
]
