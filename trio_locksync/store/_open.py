"""``open_store``: check the options, take ownership of the file, assemble the store's parts and
run its background writer in a nursery that the block owns; leaving the block closes the store
with the final flush."""

from __future__ import annotations

import functools
import os
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import trio

from ..core import (
    Backoff,
    RunBlocking,
    open_service_nursery,
    require_trio,
    worker_thread_runner,
)
from . import _files
from ._codec import Decoder, Encoder, encode_payload, json_decoder, json_encoder
from ._errors import StoreOpenError, StoreWriteError
from ._reading import OnCorrupt, Reader
from ._saving import Saver, Snapshot
from ._store import Store
from ._versions import Migrate, Versioning

__all__ = ["open_store"]


def _absolute(path: os.PathLike[str] | str) -> Path:
    # A getcwd() call, not disk I/O; done once at open.
    return Path(os.path.abspath(os.fspath(path)))


def _check_path(path: os.PathLike[str] | str) -> None:
    """A path that names no file (``""``, ``"/"``, ``"."``, ``"dir/"``) is a programming
    error: without this, ``""`` and ``"."`` would make the working directory the store file."""
    text = os.fsdecode(os.fspath(path))
    if os.path.basename(text) in ("", ".", ".."):
        what = "an empty path" if not text else f"{text!r}, which names no file"
        raise ValueError(f"open_store() needs the path of a file, got {what}")


def _check_mode(mode: int) -> int:
    if not isinstance(mode, int) or not 0 <= mode <= 0o777:
        raise ValueError(f"mode must be permission bits within 0o000..0o777, got {mode!r}")
    return mode


@asynccontextmanager
async def open_store(
    path: os.PathLike[str] | str,
    *,
    encoder: Encoder = json_encoder,
    decoder: Decoder = json_decoder,
    mode: int = 0o600,
    durable: bool = True,
    max_delay: float = 60.0,
    version: int | None = None,
    minor_version: int = 1,
    migrate: Migrate | None = None,
    on_corrupt: OnCorrupt = "raise",
    close_timeout: float = 30.0,
    backoff: Backoff | None = None,
    snapshot: Snapshot | None = None,
    run_blocking: RunBlocking | None = None,
) -> AsyncIterator[Store[Any]]:
    """Open the store file at ``path`` for the duration of the block.

    Takes ownership of the file (a second ``open_store`` on the same path, here or in another
    process, raises :class:`StoreLockedError` at once), creates parent directories, removes temp
    files a crashed owner left, and runs the debounce task in its own nursery; a directory that
    cannot be created or a lock file that cannot be taken raises :class:`StoreOpenError` (the
    OS error chained); a path that names no file (``""``, ``"/"``, ``"dir/"``) raises
    ValueError. Leaving the block — normally, by an exception or by cancellation — writes
    pending data, shielded from cancellation and bounded by ``close_timeout`` seconds; if that
    final write fails, :class:`StoreWriteError` propagates (chained to whatever ended the block).

    ``mode`` is the file's permission bits (default owner-only: lock PINs live in these files).
    ``durable=False`` skips the fsyncs (faster; a power cut may then lose the last writes, or
    leave an empty file). ``version``/``minor_version`` wrap the data in an envelope and enable
    ``migrate(old_major, old_minor, data)``. ``backoff`` (default ``Backoff()``) paces background
    retries of failed writes.

    Data is encoded in a worker thread, while other trio tasks run: what you hand over (the
    value given to ``save``, or what ``data_func`` returns) must not be mutated until it is
    written. Build a fresh structure in ``data_func`` (deep enough that it shares nothing other
    tasks change), or pass ``snapshot=copy.deepcopy``: it runs on the trio thread when the write
    takes its data, and the copy is what gets encoded.

    The store holds ``Any`` for type checkers; say what it holds by declaring the variable first
    (``store: Store[dict[str, int]]``, then ``async with open_store(path) as store:``), and
    ``load()`` returns ``dict[str, int] | None`` (see :class:`Store`).

    ``run_blocking`` runs blocking work (default: one worker thread of this store's own); tests
    pass an inline runner to use virtual time.
    """
    require_trio("open_store()")
    _check_path(path)
    try:
        target = _absolute(path)
    except OSError as exc:  # a relative path, and the working directory was removed
        raise StoreOpenError(path, exc) from exc
    _check_mode(mode)
    if not max_delay > 0:
        raise ValueError(f"max_delay must be > 0 (math.inf for no cap), got {max_delay!r}")
    if not (close_timeout > 0):
        raise ValueError(f"close_timeout must be > 0, got {close_timeout!r}")
    if on_corrupt not in ("raise", "quarantine"):
        raise ValueError(f"on_corrupt must be 'raise' or 'quarantine', got {on_corrupt!r}")
    if version is not None and (version < 1 or minor_version < 1):
        raise ValueError("version and minor_version must be >= 1")

    runner = worker_thread_runner() if run_blocking is None else run_blocking
    # Shielded: cancelling an abandoned acquire would leak the lock it takes (mkdir and a
    # non-blocking flock are quick). The try below starts with no checkpoint in between.
    with trio.CancelScope(shield=True):
        try:
            lock_fd = await runner(functools.partial(_files.acquire_owner, target))
        except OSError as exc:
            raise StoreOpenError(target, exc) from exc
    writer = _files.FileWriter(target, mode=mode, durable=durable, lock_fd=lock_fd)
    try:
        versioning = None if version is None else Versioning(version, minor_version, migrate)
        saver = Saver(
            target,
            writer=writer,
            encode=_encoding(encoder, versioning),
            snapshot=snapshot,
            max_delay=max_delay,
            backoff=Backoff() if backoff is None else backoff,
            close_timeout=close_timeout,
            run_blocking=runner,
        )
        store = Store._create(
            saver=saver, reader=Reader(target, decoder, on_corrupt), versioning=versioning
        )
        async with _running(saver):
            yield store
    finally:
        writer.release()  # idempotent; also covers a failure before the block ran


@asynccontextmanager
async def _running(saver: Saver) -> AsyncIterator[None]:
    body_error: BaseException | None = None
    async with open_service_nursery() as nursery:
        nursery.start_soon(saver.background_writer)
        try:
            yield
        except BaseException as exc:
            body_error = exc
            raise
        finally:
            try:
                await saver.close()
            except StoreWriteError:
                # Logged by the flush. Ctrl-C or SystemExit must stay what the caller sees.
                if not isinstance(body_error, (KeyboardInterrupt, SystemExit)):
                    raise
            finally:
                nursery.cancel_scope.cancel()


def _encoding(encoder: Encoder, versioning: Versioning | None) -> Callable[[Any], bytes]:
    """What the worker thread runs on the data, inside the file writer's lock."""
    if versioning is None:
        return functools.partial(encode_payload, encoder)
    wrap = versioning.wrap
    return lambda data: encode_payload(encoder, wrap(data))
