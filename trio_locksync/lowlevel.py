"""Building blocks for people extending trio_locksync (trio.lowlevel's role).

The sans-I/O state machines with their effects and the interpreters that carry the effects out
(an autolock timer; a credential slot, and :class:`SyncDriver` for one lock's slots; an access
plan, :class:`PlanMachine`, with a grant's :class:`Validity` over time), the truth
tables they decide by, and the shared core pieces they are made of: the transition table, the
quiet window, the deadline scheduler, the breakers, change feeds and latest-value holders, the
worker-thread runner, and what a reconnecting client is made of (the event stream, the MQTT
bridge): the one reconnect policy, the status holder and the bounded buffer. Callers of the
library need none of this; the top level has what they do.
"""

from .access._interpreter import Interpreter as PlanInterpreter
from .access._machine import PlanMachine as PlanMachine
from .access._windows import Phase as Phase
from .access._windows import Validity as Validity
from .autolock import ActionOutcome as ActionOutcome
from .autolock import TimerEntry as TimerEntry
from .autolock import TimerMachine as TimerMachine
from .autolock import TimerStore as TimerStore
from .autolock._driver import TimerDriver as TimerDriver
from .autolock._driver import TimerIO as TimerIO
from .autolock._machine import Arm as Arm
from .autolock._machine import Disarm as Disarm
from .autolock._machine import Persist as Persist
from .autolock._machine import Remove as Remove
from .core import AttemptOutcome as AttemptOutcome
from .core import BoundedBuffer as BoundedBuffer
from .core import BreakerState as BreakerState
from .core import ChangeFeed as ChangeFeed
from .core import CircuitBreaker as CircuitBreaker
from .core import DeadlineScheduler as DeadlineScheduler
from .core import Decision as Decision
from .core import InvalidTransition as InvalidTransition
from .core import ProbeBreaker as ProbeBreaker
from .core import QuietDeadline as QuietDeadline
from .core import QuietReason as QuietReason
from .core import QuietWindow as QuietWindow
from .core import ReconnectAction as ReconnectAction
from .core import ReconnectOptions as ReconnectOptions
from .core import ReconnectPolicy as ReconnectPolicy
from .core import RefusalRetry as RefusalRetry
from .core import RunBlocking as RunBlocking
from .core import ScheduledCall as ScheduledCall
from .core import ScheduledCallState as ScheduledCallState
from .core import StateTable as StateTable
from .core import StatusHolder as StatusHolder
from .core import Subscription as Subscription
from .core import Watched as Watched
from .core import mask_pin as mask_pin
from .core import open_service_nursery as open_service_nursery
from .core import worker_thread_runner as worker_thread_runner
from .credentials._driver import FullRead as FullRead
from .credentials._driver import Operate as Operate
from .credentials._driver import ReadSlot as ReadSlot
from .credentials._driver import SyncDriver as SyncDriver
from .credentials._effects import Changed as Changed
from .credentials._effects import Charged as Charged
from .credentials._effects import Confirmed as Confirmed
from .credentials._effects import Failure as Failure
from .credentials._effects import Forget as Forget
from .credentials._effects import Need as Need
from .credentials._effects import NeedKind as NeedKind
from .credentials._effects import Operation as Operation
from .credentials._effects import OpKind as OpKind
from .credentials._effects import Remember as Remember
from .credentials._effects import WakeAt as WakeAt
from .credentials._memory import WrittenMemory as WrittenMemory
from .credentials._rules import Desired as Desired
from .credentials._rules import ReadBack as ReadBack
from .credentials._rules import in_sync as in_sync
from .credentials._rules import judge_read_back as judge_read_back
from .credentials._rules import pin_digest as pin_digest
from .credentials._slot import SlotMachine as SlotMachine
from .credentials._slot_states import SlotPolicy as SlotPolicy
from .credentials._slot_states import SuspendCause as SuspendCause

__all__ = [
    "ActionOutcome",
    "Arm",
    "AttemptOutcome",
    "BoundedBuffer",
    "BreakerState",
    "ChangeFeed",
    "Changed",
    "Charged",
    "CircuitBreaker",
    "Confirmed",
    "DeadlineScheduler",
    "Decision",
    "Desired",
    "Disarm",
    "Failure",
    "Forget",
    "FullRead",
    "InvalidTransition",
    "Need",
    "NeedKind",
    "OpKind",
    "Operate",
    "Operation",
    "Persist",
    "Phase",
    "PlanInterpreter",
    "PlanMachine",
    "ProbeBreaker",
    "QuietDeadline",
    "QuietReason",
    "QuietWindow",
    "ReadBack",
    "ReadSlot",
    "ReconnectAction",
    "ReconnectOptions",
    "ReconnectPolicy",
    "RefusalRetry",
    "Remember",
    "Remove",
    "RunBlocking",
    "ScheduledCall",
    "ScheduledCallState",
    "SlotMachine",
    "SlotPolicy",
    "StateTable",
    "StatusHolder",
    "Subscription",
    "SuspendCause",
    "SyncDriver",
    "TimerDriver",
    "TimerEntry",
    "TimerIO",
    "TimerMachine",
    "TimerStore",
    "Validity",
    "WakeAt",
    "Watched",
    "WrittenMemory",
    "in_sync",
    "judge_read_back",
    "mask_pin",
    "open_service_nursery",
    "pin_digest",
    "worker_thread_runner",
]
