"""The values a :class:`~.Zigbee2MqttLock` hands out: the lock's bolt state, reachability, and
the provider's counters; its lock and unlock events are the provider-neutral
:class:`~trio_locksync.LockEvent` (re-exported here). None of them carries a PIN."""

from __future__ import annotations

import enum
import types
from collections.abc import Mapping
from typing import final

import attrs

from ...credentials import EventSource, LockAction, LockEvent, LockState

__all__ = [
    "Availability",
    "BadInput",
    "EventSource",
    "LockAction",
    "LockEvent",
    "LockState",
    "Zigbee2MqttStatistics",
]


class Availability(enum.Enum):
    """A retained online/offline flag (the device's ``availability``, Zigbee2MQTT's
    ``bridge/state``). UNKNOWN (nothing received, or the flag was cleared) counts as online:
    device availability is off by default in Zigbee2MQTT."""

    ONLINE = "online"
    OFFLINE = "offline"
    UNKNOWN = "unknown"


class BadInput(enum.Enum):
    """Why a message (or a part of one) from Zigbee2MQTT was ignored: the outcome every parser
    gives bad input, counted per kind in :attr:`Zigbee2MqttStatistics.bad_inputs` and logged by
    kind, never by content. Whole messages: ``TOO_LARGE`` .. ``NOT_AVAILABILITY``; parts of a
    device message: ``USERS`` .. ``ACTION_USER``; ``bridge/logging`` lines: ``LOG_LINE``,
    ``LOG_USER``; ``HANDLER_ERROR``: handling a message raised (a bug of ours, isolated)."""

    #: over 1 MiB (``bridge/devices``: 32 MiB), refused before parsing
    TOO_LARGE = "too large"
    NOT_UTF8 = "not UTF-8"
    NOT_JSON = "not JSON"
    #: nested deeper than the JSON parser's recursion limit
    TOO_DEEP = "nested too deep"
    #: ``NaN``, ``Infinity`` (Python's parser accepts them) or a float that overflows (``1e400``)
    NON_FINITE = "non-finite number"
    #: an integer literal of more digits than any real field has
    NUMBER_TOO_LARGE = "number too large"
    NOT_OBJECT = "not a JSON object"
    #: ``bridge/devices`` is not a JSON array
    NOT_ARRAY = "not a JSON array"
    #: not ``online``/``offline`` in any known form
    NOT_AVAILABILITY = "not an availability payload"
    #: ``users`` is not an object
    USERS = "users"
    #: a ``users`` key that is not a user id (0..65534)
    USER_KEY = "users key"
    #: a ``users`` entry that is not an object with a ``status`` string
    USER_ENTRY = "users entry"
    #: a ``pin_code`` of a shape we cannot decode (list, bool, object not a byte buffer, ...);
    #: the entry is kept as unreadable
    PIN_CODE = "pin_code"
    LOCK_STATE = "lock_state"
    STATE = "state"
    ACTION = "action"
    ACTION_USER = "action_user"
    #: neither ISO 8601 nor epoch ms between 1970 and 9999, or more than a day ahead of our
    #: clock (believed, it would make every later message look stale)
    LAST_SEEN = "last_seen"
    #: a ``bridge/logging`` message whose ``level``/``message`` are not strings
    LOG_LINE = "log line"
    #: a failure line for this device naming a user id out of range
    LOG_USER = "log user id"
    HANDLER_ERROR = "handler error"


def _frozen_counts(counts: Mapping[BadInput, int]) -> Mapping[BadInput, int]:
    return types.MappingProxyType({kind: n for kind, n in counts.items() if n})


def _frozen_names(counts: Mapping[str, int]) -> Mapping[str, int]:
    return types.MappingProxyType(dict(counts))


@final
@attrs.frozen
class Zigbee2MqttStatistics:
    """Counters of one :class:`~.Zigbee2MqttLock` (see its ``statistics()``).

    Device messages (``<base>/<name>``):

    * ``messages``: every message received; ``replays``: of them retained replays (they seed
      the record and confirm nothing); ``stale``: live ones whose ``last_seen`` was not newer
      than one already seen (a cached republish: ignored).
    * ``news``: ``users`` entries that differed from the record; ``restated``: entries that
      repeated it (Zigbee2MQTT republishes its whole cached state with every message).
    * ``bad_payloads``: messages ignored whole (not JSON, not an object) on any topic;
      ``bad_entries``: ``users`` entries (or fields) of a shape we do not know; ``bad_keys``:
      non-numeric user keys skipped. Logged by kind, never by content.
    * ``bad_inputs``: every bad input of the above by :class:`BadInput` kind (kinds never seen
      are absent: ``bad_inputs.get(kind, 0)``), including ``HANDLER_ERROR``: messages whose
      handling raised (isolated: the next message is handled), by exception type name in
      ``handler_errors``.

    Operations: ``reads`` slots asked for (``get``), ``answered`` of them answered,
    ``declined`` answered ``not_supported_*`` (no information), ``read_timeouts`` with no
    answer within ``read_timeout``, ``fallbacks`` answered only by an entry contradicting a
    recent write of ours (taken at the deadline, see the module docs); ``writes`` sets and
    clears published; ``commands`` lock/unlock published; ``publish_errors`` failures
    Zigbee2MQTT reported for this device on ``bridge/logging``; ``disconnects``
    LockDisconnected raised.

    Out: ``pushes`` slot updates handed to :meth:`~.Zigbee2MqttLock.updates` iterators,
    ``events`` lock events. State now: ``availability``, ``bridge`` (Zigbee2MQTT's own
    ``bridge/state``), ``lock_state``, ``reachable`` (all of those and our MQTT bridge say the
    lock can be reached), ``known_slots`` (user ids the record holds an entry for).
    """

    messages: int
    replays: int
    stale: int
    news: int
    restated: int
    bad_payloads: int
    bad_entries: int
    bad_keys: int
    reads: int
    answered: int
    declined: int
    read_timeouts: int
    fallbacks: int
    writes: int
    commands: int
    publish_errors: int
    disconnects: int
    pushes: int
    events: int
    availability: Availability
    bridge: Availability
    lock_state: LockState
    reachable: bool
    known_slots: int
    bad_inputs: Mapping[BadInput, int] = attrs.field(
        factory=dict, converter=_frozen_counts, hash=False
    )
    handler_errors: Mapping[str, int] = attrs.field(
        factory=dict, converter=_frozen_names, hash=False
    )
