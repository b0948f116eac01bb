"""Versions of a store file: the envelope this code writes, and how it reads older or newer ones.

Home Assistant's rules: the data is wrapped as ``{version, minor_version, data}``; a file at the
current version is used as is; a newer minor version is compatible and read without a rewrite;
a newer major version raises; an older one is migrated (``migrate(old_major, old_minor, data)``)
and the caller saves the result at once. With no migration (or one that declines by raising
``NotImplementedError``), a minor-only difference is accepted as is and a major one raises.
Nothing here does I/O: a file that cannot be used is always left as it is.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

import attrs

from ._codec import Envelope
from ._errors import StoreVersionError, describe_cause

__all__ = ["Current", "Malformed", "Migrate", "Migrated", "Versioning"]

logger = logging.getLogger("trio_locksync.store")

#: ``migrate(old_major, old_minor, data) -> new_data``; raise ``NotImplementedError`` to decline
Migrate = Callable[[int, int, Any], Any]


@attrs.frozen
class Current:
    """The file's data is usable as is (current version, or a newer minor one)."""

    data: Any


@attrs.frozen
class Migrated:
    """The file was older; ``data`` is brought up to the current version and must be saved."""

    data: Any


@attrs.frozen
class Malformed:
    """The decoded content is not a versioned envelope (``reason`` says why): corrupt."""

    reason: str


@attrs.frozen
class Versioning:
    """The version this code writes, and the migration that brings older data up to it."""

    version: int
    minor_version: int
    migrate: Migrate | None

    def wrap(self, data: Any) -> dict[str, Any]:
        """``data`` in the envelope of the current version, ready for the encoder."""
        return Envelope(self.version, self.minor_version, data).to_json()

    def read(self, path: Path, decoded: Any) -> Current | Migrated | Malformed:
        """Make sense of the decoded content of ``path``; raises :class:`StoreVersionError`
        when it cannot be used (newer major version, no or a failed migration)."""
        try:
            envelope = Envelope.from_decoded(decoded)
        except ValueError as exc:
            return Malformed(str(exc))
        found = (envelope.version, envelope.minor_version)
        if found == (self.version, self.minor_version):
            return Current(envelope.data)
        if found > (self.version, self.minor_version):
            return Current(self._accept_newer(path, envelope))
        data = self._run_migration(path, envelope)
        logger.info(
            "migrated %s from %d.%d to %d.%d",
            path,
            envelope.version,
            envelope.minor_version,
            self.version,
            self.minor_version,
        )
        return Migrated(data)

    def _accept_newer(self, path: Path, envelope: Envelope) -> Any:
        if envelope.version > self.version:
            raise StoreVersionError(
                path,
                f"store file {path} has version {envelope.version}.{envelope.minor_version}, "
                f"newer than this code's {self.version}.{self.minor_version}; file left as is",
            )
        # A newer minor version is compatible by definition; read it, do not rewrite it.
        return envelope.data

    def _run_migration(self, path: Path, envelope: Envelope) -> Any:
        where = (
            f"store file {path} from {envelope.version}.{envelope.minor_version} "
            f"to {self.version}.{self.minor_version}"
        )
        if self.migrate is None:
            if envelope.version != self.version:
                raise StoreVersionError(
                    path, f"no migration for {where} (major version differs); file left as is"
                )
            return envelope.data
        try:
            return self.migrate(envelope.version, envelope.minor_version, envelope.data)
        except NotImplementedError:
            if envelope.version != self.version:
                raise StoreVersionError(
                    path, f"migration declined for {where} (major version differs); file left as is"
                ) from None
            return envelope.data
        except Exception as exc:
            raise StoreVersionError(
                path, f"migration failed for {where}: {describe_cause(exc)}; file left as is"
            ) from exc
