"""Z-Wave JS events as typed frozen records, sans-I/O (zwave_js.md §4).

:func:`parse_event` turns ``{"type":"event","event":{"source","event",…}}`` into one of:

* :class:`ValueChanged`: ``value added`` / ``value updated`` / ``value removed``
  (``[srv]forward.ts:452-466``; sent only for ready nodes), a code value wrapped;
* :class:`Notification`: ``notification`` at schema ≥ 32 (``forward.ts:496-568``) with
  ``ccId``, ``args.type``, ``args.event`` and ``args.parameters.userId``;
* :class:`NodeStatusChanged`: ``wake up`` / ``sleep`` / ``dead`` / ``alive``
  (``forward.ts:401-407``);
* :class:`NodeReady`: ``ready`` with ``nodeState`` (``forward.ts:388-398``);
* :class:`AllNodesReady`: the driver's ``all nodes ready``;
* None: anything else (``statistics updated`` is about one per command; dropped here).
"""

from __future__ import annotations

import enum
from typing import Any, final

import attrs

from ._protocol import FrameError
from ._values import ABSENT, wrap_value

__all__ = [
    "AllNodesReady",
    "DumpApplied",
    "Event",
    "NodeNews",
    "NodeReady",
    "NodeStatus",
    "NodeStatusChanged",
    "Notification",
    "ValueChanged",
    "ValueEventKind",
    "parse_event",
]


class NodeStatus(enum.IntEnum):
    """A node's ``status`` (§1.3, ``[py]const/__init__.py:204-212``)."""

    UNKNOWN = 0
    ASLEEP = 1
    AWAKE = 2
    DEAD = 3
    ALIVE = 4


#: the node status events and the status each one means
_STATUS_EVENTS = {
    "wake up": NodeStatus.AWAKE,
    "sleep": NodeStatus.ASLEEP,
    "dead": NodeStatus.DEAD,
    "alive": NodeStatus.ALIVE,
}


class ValueEventKind(enum.Enum):
    """Which value event."""

    ADDED = "value added"
    UPDATED = "value updated"
    REMOVED = "value removed"


@final
@attrs.frozen
class ValueChanged:
    """A value of a node changed. ``new_value`` is :data:`~._values.ABSENT` for a removal;
    a code (``userCode``) is a :class:`~._values.SecretValue`."""

    kind: ValueEventKind
    node_id: int
    cc: int
    endpoint: int
    prop: str | int
    key: str | int | None
    new_value: Any


@final
@attrs.frozen
class Notification:
    """A Notification CC report (``ccId`` 113): ``type`` 6 is Access Control, whose ``event``
    numbers are in :mod:`~._access`; ``user_id`` is ``parameters.userId`` when the lock sent
    one (§4 "Known userId quirks": often it does not)."""

    node_id: int
    cc_id: int
    type: int
    event: int
    label: str
    user_id: int | None


@final
@attrs.frozen
class NodeStatusChanged:
    """``wake up`` / ``sleep`` / ``dead`` / ``alive``: the node's ``status`` is now ``status``."""

    node_id: int
    status: NodeStatus


@final
@attrs.frozen
class NodeReady:
    """The node finished its interview; ``node_state`` is its full dump (values included)."""

    node_id: int
    node_state: dict[str, Any] = attrs.field(repr=False)


@final
@attrs.frozen
class AllNodesReady:
    """The driver's ``all nodes ready``: every node's interview is done (§1.3)."""


Event = ValueChanged | Notification | NodeStatusChanged | NodeReady | AllNodesReady


@final
@attrs.frozen
class DumpApplied:
    """Not a server event: the client applied connection ``connection``'s state dump (every
    node may have changed; a replay, so nothing in it is an event)."""

    connection: int


#: what the client's node feed carries to its locks: live events, and a mark after each dump
NodeNews = Event | DumpApplied


def _int(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def parse_event(frame: dict[str, Any]) -> Event | None:
    """The record for one event frame; None for events no one here uses. FrameError for an
    event of ours that lacks what it must carry (the frame is never quoted)."""
    event = frame.get("event")
    if not isinstance(event, dict):
        raise FrameError("an event frame without its event object")
    source, name = event.get("source"), event.get("event")
    if source == "driver":
        return AllNodesReady() if name == "all nodes ready" else None
    if source != "node":
        return None
    node_id = _int(event.get("nodeId"))
    if node_id is None:
        raise FrameError(f"a node event {name!r} without a nodeId")
    if name in ("value added", "value updated", "value removed"):
        return _value_event(ValueEventKind(name), node_id, event.get("args"))
    if name == "notification":
        return _notification(node_id, event)
    if name in _STATUS_EVENTS:
        return NodeStatusChanged(node_id, _STATUS_EVENTS[name])
    if name == "ready":
        state = event.get("nodeState")
        return NodeReady(node_id, state if isinstance(state, dict) else {})
    return None


def _value_event(kind: ValueEventKind, node_id: int, args: object) -> ValueChanged:
    if not isinstance(args, dict):
        raise FrameError(f"a {kind.value!r} event without args")
    cc = _int(args.get("commandClass"))
    prop = args.get("property")
    if cc is None or not isinstance(prop, str | int):
        raise FrameError(f"a {kind.value!r} event without commandClass or property")
    key = args.get("propertyKey")
    if kind is ValueEventKind.REMOVED:
        value: Any = ABSENT
    elif "newValue" in args:
        value = args["newValue"]
    else:
        value = args.get("value", ABSENT)  # some values carry "value" instead (§4)
    return ValueChanged(
        kind=kind,
        node_id=node_id,
        cc=cc,
        endpoint=_int(args.get("endpoint")) or 0,
        prop=prop,
        key=key if isinstance(key, str | int) and not isinstance(key, bool) else None,
        new_value=wrap_value(prop, value),
    )


def _notification(node_id: int, event: dict[str, Any]) -> Notification | None:
    args = event.get("args")
    cc_id = _int(event.get("ccId"))
    if not isinstance(args, dict) or cc_id is None:
        return None  # an older schema's shape (forward.ts:509-554) or another CC
    ntype, nevent = _int(args.get("type")), _int(args.get("event"))
    if ntype is None or nevent is None:
        return None
    parameters = args.get("parameters")
    user = _int(parameters.get("userId")) if isinstance(parameters, dict) else None
    label = args.get("eventLabel")
    return Notification(
        node_id=node_id,
        cc_id=cc_id,
        type=ntype,
        event=nevent,
        label=label if isinstance(label, str) else "",
        user_id=user,
    )
