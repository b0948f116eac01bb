"""The error a simulator raises when it cannot start serving."""

from __future__ import annotations

from typing import final

from ..core import LockSyncError

__all__ = ["SimulatorError"]


@final
class SimulatorError(LockSyncError, RuntimeError):
    """A simulator could not start serving: its listener could not be opened (the port is in
    use, the host is unknown or not this machine's). Says which simulator and which address;
    the ``OSError`` is chained. Nothing is left listening."""
