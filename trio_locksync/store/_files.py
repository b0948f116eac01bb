"""The thread side of the store: the owner lock, atomic durable writes, reads.

Everything here blocks and runs in a worker thread (or inline, when a test substitutes the
runner); nothing here touches trio. :class:`FileWriter` is shared between the trio thread and
worker threads, so its bookkeeping is guarded by ``threading`` locks.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import glob
import os
import secrets
import stat
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

from ._errors import StoreLockedError

__all__ = [
    "OS",
    "DirectorySyncFailed",
    "EncodeFailed",
    "FileWriter",
    "NotRegularFile",
    "OsCalls",
    "WriterReleased",
    "acquire_owner",
    "quarantine",
    "read_bytes",
]


class OsCalls:
    """The OS calls the write path makes, looked up through one object.

    Tests replace an attribute of :data:`OS` (``monkeypatch.setattr(OS, "fsync", failing)``) to
    inject ENOSPC or EIO at the exact call, without patching the ``os`` module for everyone.
    """

    open = staticmethod(os.open)
    fchmod = staticmethod(os.fchmod)
    write = staticmethod(os.write)
    fsync = staticmethod(os.fsync)
    close = staticmethod(os.close)
    replace = staticmethod(os.replace)
    unlink = staticmethod(os.unlink)


OS = OsCalls()


class EncodeFailed(Exception):
    """The encoder (or the value it returned) failed; wraps the original error as ``__cause__``."""


class DirectorySyncFailed(Exception):
    """The new file is in place, but fsync of its directory failed (``__cause__``): the rename
    may not survive a power cut."""


class WriterReleased(Exception):
    """The owner lock was given up (the store closed); the write was refused, nothing written."""


def temp_prefix(target: Path) -> str:
    return f".{target.name}."


def lock_path_for(target: Path) -> Path:
    return target.with_name(target.name + ".lock")


def acquire_owner(target: Path) -> int:
    """Create the parent directories, take the advisory lock ``<target>.lock``, and remove temp
    files a crashed earlier owner left behind. Returns the lock file descriptor.

    The lock is ``flock`` on a file we open ourselves, so it conflicts with a second owner in this
    process as well as in another one, and the kernel drops it if the process dies. The lock file
    is never deleted: unlinking a lock file lets two owners lock two different inodes.
    """
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
    except FileExistsError as exc:  # what exists there is not a directory: say so
        raise NotADirectoryError(errno.ENOTDIR, os.strerror(errno.ENOTDIR), exc.filename) from exc
    lock_path = lock_path_for(target)
    fd = os.open(lock_path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        try:
            holder = os.pread(fd, 64, 0).decode("ascii", "replace").strip()
        finally:
            os.close(fd)
        raise StoreLockedError(
            target, str(lock_path), f"pid {holder}" if holder else "unknown holder"
        ) from None
    except BaseException:
        os.close(fd)
        raise
    try:
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode("ascii"), 0)
        # Escaped: a store named "a[b].json" must not match (and delete) another store's temp
        # file.
        for leftover in target.parent.glob(f"{glob.escape(temp_prefix(target))}*.tmp"):
            with contextlib.suppress(FileNotFoundError):
                leftover.unlink()
    except BaseException:
        os.close(fd)  # gives the lock up: a failed open leaves no owner behind
        raise
    return fd


class NotRegularFile(Exception):
    """What is at the store's path is not a regular file (a FIFO, a device, a socket): nothing
    was read from it (a device such as ``/dev/zero`` would be read forever)."""

    def __init__(self, kind: str) -> None:
        super().__init__(kind)
        self.kind = kind


_KINDS = (
    (stat.S_ISFIFO, "a FIFO"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISSOCK, "a socket"),
)


def read_bytes(target: Path) -> bytes | None:
    """The file's bytes, or None if it does not exist. Other OS errors propagate (a directory:
    IsADirectoryError); :class:`NotRegularFile` if it is not a regular file, checked on the
    opened descriptor before anything is read (opened non-blocking: a FIFO does not wait)."""
    try:
        fd = os.open(target, os.O_RDONLY | os.O_CLOEXEC | os.O_NONBLOCK)
    except FileNotFoundError:
        return None
    with open(fd, "rb") as handle:  # closes fd
        mode = os.fstat(fd).st_mode
        if stat.S_ISDIR(mode):
            raise IsADirectoryError(errno.EISDIR, os.strerror(errno.EISDIR), str(target))
        if not stat.S_ISREG(mode):
            raise NotRegularFile(next((k for test, k in _KINDS if test(mode)), "not a file"))
        os.set_blocking(fd, True)
        return handle.read()


def quarantine(target: Path, stamp: str) -> Path:
    """Move a corrupt file aside to ``<target>.corrupt.<stamp>`` and return the new path."""
    moved = target.with_name(f"{target.name}.corrupt.{stamp}")
    os.replace(target, moved)
    return moved


def _write_all(fd: int, payload: bytes) -> None:
    view = memoryview(payload)
    while view:
        written = OS.write(fd, view)
        view = view[written:]


def _fsync_directory(directory: Path) -> None:
    fd = OS.open(directory, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        OS.fsync(fd)
    finally:
        OS.close(fd)


def write_atomic(target: Path, payload: bytes, *, mode: int, durable: bool) -> None:
    """Replace ``target`` with ``payload`` so that a crash leaves the old or the new file.

    A sibling temp file is created with ``mode`` (fchmod'ed, so the umask cannot widen or narrow
    it) before any data is written, then written, fsynced (if durable), renamed over the target,
    and the directory fsynced (if durable) so the rename itself survives power loss. Any failure
    before the rename removes the temp file and leaves the target untouched.
    """
    directory = target.parent
    temp = directory / f"{temp_prefix(target)}{secrets.token_hex(6)}.tmp"
    fd = OS.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, mode)
    try:
        try:
            OS.fchmod(fd, mode)
            _write_all(fd, payload)
            if durable:
                OS.fsync(fd)
        finally:
            OS.close(fd)
        OS.replace(temp, target)
    except BaseException:
        with contextlib.suppress(OSError):
            OS.unlink(temp)
        raise
    if durable:
        try:
            _fsync_directory(directory)
        except OSError as exc:
            raise DirectorySyncFailed() from exc


class FileWriter:
    """Serialises the writes of one store file across worker threads and holds its owner lock.

    Each write carries a generation number; a write whose generation is not newer than the last
    one written is skipped, so a write abandoned by a cancelled caller can never land on top of a
    newer one, whichever thread the OS runs first; removals are ordered the same way.
    :meth:`release` drops the owner lock at once if no write is running, or else when the running
    write finishes — never under it.
    """

    def __init__(self, target: Path, *, mode: int, durable: bool, lock_fd: int) -> None:
        self.target = target
        self.mode = mode
        self.durable = durable
        self._write_lock = threading.Lock()
        self._state_lock = threading.Lock()
        self._lock_fd = lock_fd
        self._written = 0
        self._running = 0
        self._released = threading.Event()

    def write(self, generation: int, produce: Callable[[], bytes]) -> bool:
        """Encode (``produce``) and write generation ``generation``; False if it was skipped
        because a newer one is on disk. Raises :class:`WriterReleased` after :meth:`release`."""
        with self._owned(), self._write_lock:
            if generation <= self._written:
                return False
            try:
                payload = produce()
            except Exception as exc:
                raise EncodeFailed() from exc
            write_atomic(self.target, payload, mode=self.mode, durable=self.durable)
            self._written = generation
            return True

    def remove(self, generation: int) -> bool:
        """Delete the file as of generation ``generation``: writes of it or older are skipped
        from now on. False (nothing removed) if a newer generation is on disk.

        Unlink, then (if durable) fsync the directory so the removal survives a power cut; the
        directory is synced even when the file was already missing, so a retry after a failed
        sync makes the removal durable. Raises ``OSError`` if the unlink fails (nothing
        changed), :class:`DirectorySyncFailed` if the sync fails (the file is gone),
        :class:`WriterReleased` after :meth:`release`.
        """
        with self._owned(), self._write_lock:
            if generation < self._written:
                return False
            with contextlib.suppress(FileNotFoundError):
                OS.unlink(self.target)
            self._written = generation
            if self.durable:
                try:
                    _fsync_directory(self.target.parent)
                except OSError as exc:
                    raise DirectorySyncFailed() from exc
            return True

    @contextlib.contextmanager
    def _owned(self) -> Iterator[None]:
        """Hold off :meth:`release` closing the owner lock while a write or removal runs."""
        with self._state_lock:
            if self._released.is_set():
                raise WriterReleased()
            self._running += 1
        try:
            yield
        finally:
            with self._state_lock:
                self._running -= 1
                if self._released.is_set() and self._running == 0:
                    self._close_lock_fd()

    def release(self) -> None:
        """Give up ownership; later writes are refused. Never blocks on a running write."""
        with self._state_lock:
            if self._released.is_set():
                return
            self._released.set()
            if self._running == 0:
                self._close_lock_fd()

    def _close_lock_fd(self) -> None:
        fd, self._lock_fd = self._lock_fd, -1
        if fd >= 0:
            os.close(fd)
