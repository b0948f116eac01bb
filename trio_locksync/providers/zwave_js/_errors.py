"""Errors of the Z-Wave JS client; none of them ever quotes a frame (frames carry codes)."""

from __future__ import annotations

from typing import final

from ...core import ClosedError, LockSyncError

__all__ = [
    "ZWaveJsClosed",
    "ZWaveJsCommandError",
    "ZWaveJsConnectionLost",
    "ZWaveJsError",
    "ZWaveJsRefused",
]


class ZWaveJsError(LockSyncError):
    """Base class of the Z-Wave JS client's errors."""


@final
class ZWaveJsCommandError(ZWaveJsError):
    """The server answered a command with ``success: false`` (zwave_js.md §1.4): ``error_code``
    (``node_not_found``, ``zwave_error``, …) and, for ``zwave_error``, the driver's
    ``zwave_code`` (202 "the node is dead", 322 "argument invalid", …)."""

    def __init__(
        self, command: str, error_code: str, zwave_code: int | None = None, message: str = ""
    ) -> None:
        code = "" if zwave_code is None else f" {zwave_code}"
        text = f": {message}" if message else ""
        super().__init__(f"{command} failed with {error_code}{code}{text}")
        self.command = command
        self.error_code = error_code
        self.zwave_code = zwave_code
        self.message = message


@final
class ZWaveJsConnectionLost(ZWaveJsError):
    """The connection was lost (or was not up) before the command's result came: it may or may
    not have been carried out."""


@final
class ZWaveJsRefused(ZWaveJsError):
    """The server refused the client for good (its schema range does not overlap ours:
    ``schema_incompatible``); the client stopped reconnecting."""


@final
class ZWaveJsClosed(ZWaveJsError, ClosedError):
    """The client's block has ended."""
