"""Simulators that speak the real protocols, for tests, benchmarks and the demo (trio.testing's
role): :class:`VirtualLock` (a lock with every quirk upstream users hit; also importable from the
top level, it is in the contract)."""

from ..credentials import VirtualLock as VirtualLock
from ..credentials import VirtualLockStatistics as VirtualLockStatistics

__all__ = [
    "VirtualLock",
    "VirtualLockStatistics",
]
