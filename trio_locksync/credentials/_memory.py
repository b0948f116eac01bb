"""The remembered last-written PINs: a salted digest per slot, persisted across restarts.

A masked slot (the lock shows a code is there, not which) is in sync iff the desired PIN is the
last one we wrote there. Without remembering it, every restart costs one write per masked slot;
with it, none. Only a salted HMAC of each PIN is kept (see :func:`pin_digest`): the digits are
never stored. The memory lives in a :class:`~trio_locksync.Store` the engine opened itself
(``store_path``) or one the caller keeps open (``store``), or only in memory.
"""

from __future__ import annotations

import logging
import os
import secrets
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from typing import Any, final

from ..store import Store, open_store

__all__ = ["WrittenMemory", "open_memory"]

logger = logging.getLogger("trio_locksync.credentials")

#: how long a change to the memory may wait before it is saved (debounced)
SAVE_DELAY = 1.0


@final
class WrittenMemory:
    """Slot → digest of the last PIN written there, and the salt the digests are keyed with."""

    __slots__ = ("_store", "_written", "salt")

    def __init__(self, salt: bytes, written: Mapping[int, str], store: Store[Any] | None) -> None:
        self.salt: bytes = salt
        self._written = dict(written)
        self._store = store

    def get(self, slot: int) -> str | None:
        """The digest remembered for ``slot``, or None."""
        return self._written.get(slot)

    def remember(self, slot: int, digest: str) -> None:
        """Remember ``digest`` for ``slot`` (saved within ``SAVE_DELAY``)."""
        if self._written.get(slot) != digest:
            self._written[slot] = digest
            self._save()

    def forget(self, slot: int) -> None:
        """Forget what was written to ``slot``."""
        if self._written.pop(slot, None) is not None:
            self._save()

    def snapshot(self) -> dict[str, Any]:
        """The persisted form: ``{"salt": hex, "last_written": {slot: digest}}``."""
        return {
            "salt": self.salt.hex(),
            "last_written": {str(slot): digest for slot, digest in sorted(self._written.items())},
        }

    def _save(self) -> None:
        if self._store is not None:
            self._store.delay_save(self.snapshot, SAVE_DELAY)

    def __repr__(self) -> str:
        return f"<WrittenMemory slots={len(self._written)} persisted={self._store is not None}>"


async def _load(store: Store[Any]) -> WrittenMemory:
    raw = await store.load()
    if isinstance(raw, dict) and isinstance(raw.get("salt"), str):
        try:
            salt = bytes.fromhex(raw["salt"])
            written = {int(k): str(v) for k, v in dict(raw.get("last_written", {})).items()}
            return WrittenMemory(salt, written, store)
        except (ValueError, TypeError):
            logger.warning("ignoring malformed credential memory in %s", store.path)
    elif raw is not None:
        logger.warning("ignoring malformed credential memory in %s", store.path)
    return WrittenMemory(secrets.token_bytes(16), {}, store)


@asynccontextmanager
async def open_memory(
    store_path: os.PathLike[str] | str | None, store: Store[Any] | None
) -> AsyncIterator[WrittenMemory]:
    """The memory for one engine: in ``store`` (kept open by the caller), in a store opened at
    ``store_path`` for the duration of the block, or in memory only."""
    if store_path is not None and store is not None:
        raise ValueError("give store_path or store, not both")
    if store is not None:
        yield await _load(store)
    elif store_path is None:
        yield WrittenMemory(secrets.token_bytes(16), {}, None)
    else:
        async with open_store(store_path) as opened:
            yield await _load(opened)
