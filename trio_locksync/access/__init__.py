"""Access plans: who may enter when, on which locks.

A plan turns grants — a person's PIN, the locks it is for, the dates and weekly hours it is
valid, how many times it may be used — into each lock's desired slots, over the locks' own
credential engines (:func:`~trio_locksync.open_lock_sync`), which write and verify them.
Window edges are persisted deadlines (DST-correct in the plan's time zone); uses are counted
from keypad unlocks; slots are found by scoped reads and a code the plan does not manage is
never overwritten; each lock keeps its own engine and breaker, so one unreachable lock delays
only its own slots.

Where things live: ``_grant`` (:class:`Grant`), ``_weekly`` (:class:`Weekly`), ``_windows``
(a grant's validity over time, DST rules), ``_state`` (:class:`AccessState` and its moves),
``_machine`` (the sans-I/O plan), ``_interpreter`` (its effects carried out), ``_slots`` (slot
surveys), ``_plan`` (the trio layer, :func:`open_access_plan`), ``_errors``.
"""

from ._errors import AccessError as AccessError
from ._errors import AccessPlanClosed as AccessPlanClosed
from ._errors import DuplicatePin as DuplicatePin
from ._errors import NoFreeSlot as NoFreeSlot
from ._errors import UnknownGrant as UnknownGrant
from ._errors import UnknownLock as UnknownLock
from ._errors import UsesNotCounted as UsesNotCounted
from ._grant import Grant as Grant
from ._open import open_access_plan as open_access_plan
from ._plan import AccessPlan as AccessPlan
from ._state import AccessChange as AccessChange
from ._state import AccessPlanStatistics as AccessPlanStatistics
from ._state import AccessState as AccessState
from ._state import GrantOnLock as GrantOnLock
from ._weekly import InvalidSchedule as InvalidSchedule
from ._weekly import Weekly as Weekly

__all__ = [
    "AccessChange",
    "AccessError",
    "AccessPlan",
    "AccessPlanClosed",
    "AccessPlanStatistics",
    "AccessState",
    "DuplicatePin",
    "Grant",
    "GrantOnLock",
    "InvalidSchedule",
    "NoFreeSlot",
    "UnknownGrant",
    "UnknownLock",
    "UsesNotCounted",
    "Weekly",
    "open_access_plan",
]
