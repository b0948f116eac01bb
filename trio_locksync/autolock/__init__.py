"""Autolock timers that survive restarts (seed 000)."""

from ._context import ServiceState as ServiceState
from ._entry import TimerEntry as TimerEntry
from ._errors import AutolockClosedError as AutolockClosedError
from ._errors import AutolockError as AutolockError
from ._errors import AutolockNotRecoveredError as AutolockNotRecoveredError
from ._errors import AutolockPersistError as AutolockPersistError
from ._errors import AutolockTargetGone as AutolockTargetGone
from ._errors import InvalidDurationError as InvalidDurationError
from ._machine import ActionOutcome as ActionOutcome
from ._machine import TimerMachine as TimerMachine
from ._machine import TimerState as TimerState
from ._service import AutolockService as AutolockService
from ._service import AutolockStatistics as AutolockStatistics
from ._service import RecoveryReport as RecoveryReport
from ._service import open_autolock as open_autolock
from ._timer import AutolockTimer as AutolockTimer
from ._timer_store import TimerStore as TimerStore

__all__ = [
    "ActionOutcome",
    "AutolockClosedError",
    "AutolockError",
    "AutolockNotRecoveredError",
    "AutolockPersistError",
    "AutolockService",
    "AutolockStatistics",
    "AutolockTargetGone",
    "AutolockTimer",
    "InvalidDurationError",
    "RecoveryReport",
    "ServiceState",
    "TimerEntry",
    "TimerMachine",
    "TimerState",
    "TimerStore",
    "open_autolock",
]
