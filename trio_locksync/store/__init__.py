"""Per-file atomic, durable JSON store with debounced saves (seed 002).

Home Assistant's ``Store`` on trio. What is ours beyond it:

* the debounce is the core quiet-window rule: a delayed save is written ``delay`` after the last
  request, never later than ``max_delay`` after the first unsaved one;
* writes are durable by default (fsync the temp file, rename, fsync the directory);
* a failed write raises :class:`StoreWriteError` to whoever awaited it, keeps the data pending and
  retries it with :class:`~trio_locksync.core.Backoff` -- nothing is dropped;
* the final flush is structural: leaving ``async with open_store(...)`` writes what is pending,
  shielded from cancellation and bounded by ``close_timeout``;
* one owner per file, across processes (an advisory ``flock`` on ``<path>.lock``).

Where things live: ``_open`` (``open_store``: ownership, assembly, the nursery), ``_store`` (the
``Store`` facade), ``_schedule`` (sans-I/O: generations, debounce windows, retry delays),
``_saving`` (its trio layer: single-flight writes, the background writer, removal, closing),
``_reading`` (read, decode, quarantine), ``_versions`` (envelope versions and migration),
``_files`` (the worker-thread side: owner lock, atomic durable writes), ``_codec`` (encoding)
and ``_errors``.
"""

from ._codec import json_decoder as json_decoder
from ._codec import json_encoder as json_encoder
from ._errors import StoreClosedError as StoreClosedError
from ._errors import StoreCorruptError as StoreCorruptError
from ._errors import StoreError as StoreError
from ._errors import StoreLockedError as StoreLockedError
from ._errors import StoreOpenError as StoreOpenError
from ._errors import StoreReadError as StoreReadError
from ._errors import StoreVersionError as StoreVersionError
from ._errors import StoreWriteError as StoreWriteError
from ._open import open_store as open_store
from ._saving import StoreState as StoreState
from ._store import Store as Store
from ._store import StoreStatistics as StoreStatistics

__all__ = [
    "Store",
    "StoreClosedError",
    "StoreCorruptError",
    "StoreError",
    "StoreLockedError",
    "StoreOpenError",
    "StoreReadError",
    "StoreState",
    "StoreStatistics",
    "StoreVersionError",
    "StoreWriteError",
    "json_decoder",
    "json_encoder",
    "open_store",
]
