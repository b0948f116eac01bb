"""Reading a store file: read and decode in one worker-thread hop, and what to do when the
content is corrupt (raise, or quarantine it to ``<path>.corrupt.<utc-iso>`` and start empty)."""

from __future__ import annotations

import datetime
import functools
import logging
from pathlib import Path
from typing import Any, Literal

import attrs

from ..core import RunBlocking
from . import _files
from ._codec import Decoder
from ._errors import StoreCorruptError, StoreReadError, describe_cause

__all__ = ["Decoded", "Missing", "OnCorrupt", "Reader", "Undecodable"]

logger = logging.getLogger("trio_locksync.store")

#: what ``load()`` does with a file that does not decode
OnCorrupt = Literal["raise", "quarantine"]


@attrs.frozen
class Decoded:
    """The file decoded to ``value``."""

    value: Any


@attrs.frozen
class Missing:
    """There is no file."""


@attrs.frozen
class Undecodable:
    """The file exists but the decoder raised ``cause``."""

    cause: Exception


def _utc_stamp() -> str:
    return datetime.datetime.now(datetime.UTC).isoformat()


@attrs.frozen
class Reader:
    """Reads one store file with ``decoder``; ``on_corrupt`` says what corrupt content does."""

    path: Path
    decoder: Decoder
    on_corrupt: OnCorrupt

    def read(self) -> Decoded | Missing | Undecodable:
        """Runs in the worker thread: read and decode in one hop. An OS error other than a
        missing file raises :class:`StoreReadError`, and so does a path that is not a regular
        file (nothing is read from it)."""
        try:
            raw = _files.read_bytes(self.path)
        except OSError as exc:
            raise StoreReadError(self.path, exc) from exc
        except _files.NotRegularFile as exc:
            why = f"not a regular file ({exc.kind}); nothing read"
            raise StoreReadError(self.path, why) from None
        if raw is None:
            return Missing()
        try:
            return Decoded(self.decoder(raw))
        except Exception as exc:
            return Undecodable(exc)

    async def corrupt(self, cause: BaseException | str, run_blocking: RunBlocking) -> None:
        """The content is corrupt (``cause``: the decoder's error, or what is wrong with it).

        Raises :class:`StoreCorruptError` (file left as is) or, with ``on_corrupt="quarantine"``,
        moves the file aside in the worker thread, logs at ERROR and returns: start empty. If the
        move fails, :class:`StoreCorruptError` says so (file left as is; the OS error chained).
        """
        error = StoreCorruptError(self.path, cause)
        if self.on_corrupt == "raise":
            if isinstance(cause, BaseException):
                raise error from cause
            raise error
        try:
            moved = await run_blocking(
                functools.partial(_files.quarantine, self.path, _utc_stamp())
            )
        except OSError as exc:
            raise StoreCorruptError(
                self.path, f"{error.reason}; moving it aside failed: {describe_cause(exc)}"
            ) from exc
        logger.error(
            "store file %s is corrupt; moved it to %s and starting empty", self.path, moved
        )
