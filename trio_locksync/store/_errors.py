"""Errors raised by the store; each names the file and says what was kept."""

from __future__ import annotations

import errno
import os
from typing import final

from ..core import ClosedError, LockSyncError

__all__ = [
    "KEPT_CLOSING",
    "KEPT_NOT_DURABLE",
    "KEPT_NOT_REMOVED",
    "KEPT_PENDING",
    "KEPT_REMOVED_NOT_DURABLE",
    "KEPT_TIMED_OUT",
    "StoreClosedError",
    "StoreCorruptError",
    "StoreError",
    "StoreLockedError",
    "StoreOpenError",
    "StoreReadError",
    "StoreVersionError",
    "StoreWriteError",
]


def describe_cause(cause: BaseException) -> str:
    """A log-safe description of ``cause``: the type and, for OS errors, the errno name only.

    Encoder and decoder errors can quote the data they choked on (a PIN, for instance), so their
    text is never copied into our messages; it stays reachable as ``__cause__`` for debugging.
    """
    if isinstance(cause, OSError) and cause.errno is not None:
        name = errno.errorcode.get(cause.errno, str(cause.errno))
        return f"{type(cause).__name__} [{name}] {os.strerror(cause.errno)}"
    return type(cause).__name__


class StoreError(LockSyncError):
    """Base class of the store's errors; ``path`` is the store file concerned."""

    def __init__(self, path: os.PathLike[str] | str, message: str) -> None:
        super().__init__(message)
        self.path: str = os.fspath(path)


@final
class StoreCorruptError(StoreError):
    """The file exists but does not decode (or is not a valid versioned envelope).

    The file is left untouched on disk; nothing was loaded.
    """

    #: what is wrong with the content (the decoder's error type, or a description; never the
    #: content itself)
    reason: str

    def __init__(self, path: os.PathLike[str] | str, cause: BaseException | str) -> None:
        reason = cause if isinstance(cause, str) else describe_cause(cause)
        super().__init__(
            path, f"store file {os.fspath(path)} is corrupt ({reason}); file left as is"
        )
        self.reason = reason


@final
class StoreOpenError(StoreError):
    """The store could not be opened: its directory could not be created or its lock file not
    taken (no permission, a path under a regular file, a read-only or virtual file system).
    The store file, if any, was not read or written. ``cause`` is the OS error (also chained as
    ``__cause__``); the message names the path it concerned when that is not the store file
    itself (a parent directory, the lock file)."""

    #: the OS error
    cause: OSError

    def __init__(self, path: os.PathLike[str] | str, cause: OSError) -> None:
        concerned = cause.filename
        at = (
            f" at {os.fsdecode(concerned)}"
            if isinstance(concerned, (str, bytes, os.PathLike))
            and os.fsdecode(concerned) != os.fspath(path)
            else ""
        )
        super().__init__(
            path,
            f"could not open store file {os.fspath(path)}: {describe_cause(cause)}{at}; "
            "the store file was not read or written",
        )
        self.cause = cause


@final
class StoreReadError(StoreError):
    """The file could not be read for a reason other than not existing (permissions, I/O, or
    what is at the path is not a regular file: a directory, a FIFO, a device)."""

    def __init__(self, path: os.PathLike[str] | str, cause: BaseException | str) -> None:
        reason = cause if isinstance(cause, str) else describe_cause(cause)
        super().__init__(path, f"could not read store file {os.fspath(path)}: {reason}")


#: what a failed write leaves, in the usual case
KEPT_PENDING = "previous file content kept, data kept pending (retrying in the background)"
#: ... when the rename landed but the directory fsync failed
KEPT_NOT_DURABLE = (
    "the new content is in place but may not survive a power cut (directory fsync failed); "
    "data kept pending (retrying in the background)"
)
#: ... during the final flush
KEPT_CLOSING = "previous file content kept; the store is closing, so this data was not saved"
#: ... when the final flush ran out of time
KEPT_TIMED_OUT = (
    "previous file content kept unless the abandoned write still completes in its worker "
    "thread; the store is closed, this data was not confirmed"
)

#: ... when ``remove()`` could not unlink the file
KEPT_NOT_REMOVED = (
    "file not removed, its content unchanged; pending data, if any, kept and still written "
    "as scheduled"
)
#: ... when ``remove()`` unlinked the file but the directory fsync failed
KEPT_REMOVED_NOT_DURABLE = (
    "the file is removed but the removal may not survive a power cut (directory fsync failed); "
    "pending data dropped; call remove() again to retry the fsync"
)


@final
class StoreWriteError(StoreError):
    """A write did not reach the disk (or not durably). ``kept`` says what was kept: usually the
    previous file is intact and the data is still pending, retried in the background, and
    ``flush()`` or leaving the store's block writes it once the fault has cleared.

    ``cause`` is the underlying error (also chained as ``__cause__``).
    """

    def __init__(
        self,
        path: os.PathLike[str] | str,
        cause: BaseException,
        *,
        detail: str = "",
        kept: str = KEPT_PENDING,
    ) -> None:
        what = detail or describe_cause(cause)
        super().__init__(path, f"could not write store file {os.fspath(path)}: {what}; {kept}")
        self.cause = cause
        self.kept = kept


@final
class StoreLockedError(StoreError):
    """Another owner (this process or another) has the store file open; nothing was changed."""

    def __init__(self, path: os.PathLike[str] | str, lock_path: str, holder: str) -> None:
        super().__init__(
            path,
            f"store file {os.fspath(path)} is already open by another owner "
            f"({holder}; lock file {lock_path}); close that store first",
        )
        self.lock_path = lock_path


@final
class StoreVersionError(StoreError):
    """The file's version cannot be used as is and no migration handled it; file untouched."""


@final
class StoreClosedError(StoreError, ClosedError):
    """The store's ``async with`` block has ended; the call did nothing."""

    def __init__(self, path: os.PathLike[str] | str, operation: str) -> None:
        super().__init__(path, f"store {os.fspath(path)} is closed; {operation} was not performed")
