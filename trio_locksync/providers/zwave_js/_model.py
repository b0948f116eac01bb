"""The nodes as the server last told us, sans-I/O: built from a state dump, moved by events.

A dump (``start_listening``'s ``result.state``, §1.3, ``[srv]state.ts:1037-1049``) is a replay:
every reconnect rebuilds the model from a fresh one (:meth:`Nodes.load`). A node that is not
``ready`` is dumped with ``values: []`` (``state.ts:448-461``): its values are unknown, not
empty, until its ``ready`` event brings them (``[srv]forward.ts:388-398``). A value entry
without a ``value`` key was never read by the driver (§1.3): ``ABSENT``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, final

import attrs

from ._events import Event, NodeReady, NodeStatus, NodeStatusChanged, ValueChanged, ValueEventKind
from ._protocol import FrameError
from ._values import ABSENT, wrap_value

__all__ = ["Nodes", "ValueKey", "ZWaveNode", "node_from_dump"]

#: (commandClass, endpoint, property, propertyKey)
ValueKey = tuple[int, int, "str | int", "str | int | None"]


def _status(value: object) -> NodeStatus:
    try:
        return NodeStatus(value) if isinstance(value, int) else NodeStatus.UNKNOWN
    except ValueError:
        return NodeStatus.UNKNOWN


@final
@attrs.frozen
class ZWaveNode:
    """One node as the server last told us (a snapshot; the client keeps the current one).

    ``values`` maps ``(commandClass, endpoint, property, propertyKey)`` to the value (a code is
    a ``SecretValue``, a never-read value ``ABSENT``); it is empty
    until the node is ``ready``. ``listening``: mains powered or FLiRS (reachable at once);
    False for a sleeping battery node.
    """

    node_id: int
    status: NodeStatus
    ready: bool
    listening: bool
    values: Mapping[ValueKey, object] = attrs.field(
        factory=dict, repr=lambda v: f"<{len(v)} values>"
    )

    def value(self, cc: int, prop: str, key: str | int | None = None, endpoint: int = 0) -> object:
        """One value, ``ABSENT`` if unknown."""
        return self.values.get((cc, endpoint, prop, key), ABSENT)


def node_from_dump(entry: Mapping[str, Any]) -> ZWaveNode:
    """A node of a dump (or of a ``ready`` event's ``nodeState``)."""
    node_id = entry.get("nodeId")
    if not isinstance(node_id, int) or isinstance(node_id, bool):
        raise FrameError("a dumped node without a nodeId")
    ready = entry.get("ready") is True
    values: dict[ValueKey, object] = {}
    if ready:
        for item in entry.get("values") or ():
            if not isinstance(item, dict):
                continue
            cc, prop = item.get("commandClass"), item.get("property")
            if not isinstance(cc, int) or not isinstance(prop, str | int):
                continue
            key = item.get("propertyKey")
            raw_endpoint = item.get("endpoint")
            endpoint = raw_endpoint if isinstance(raw_endpoint, int) else 0
            values[(cc, endpoint, prop, key if isinstance(key, str | int) else None)] = wrap_value(
                prop, item.get("value", ABSENT)
            )
    listening = entry.get("isListening") is True or entry.get("isFrequentListening") not in (
        False,
        None,
    )
    return ZWaveNode(
        node_id=node_id,
        status=_status(entry.get("status")),
        ready=ready,
        listening=listening,
        values=values,
    )


@final
class Nodes:
    """The current nodes of one connection's dump, moved by that connection's events."""

    __slots__ = ("_nodes", "all_ready")

    def __init__(self) -> None:
        self._nodes: dict[int, ZWaveNode] = {}
        #: the dump said so, or ``all nodes ready`` came
        self.all_ready = False

    def load(self, state: Mapping[str, Any]) -> None:
        """Replace everything with the dump ``state`` (``{driver, controller, nodes}``)."""
        nodes = state.get("nodes")
        if not isinstance(nodes, list):
            raise FrameError("a state dump without its nodes list")
        fresh = [node_from_dump(n) for n in nodes if isinstance(n, dict)]
        self._nodes = {n.node_id: n for n in fresh}
        driver = state.get("driver")
        self.all_ready = isinstance(driver, dict) and driver.get("allNodesReady") is True

    def get(self, node_id: int) -> ZWaveNode | None:
        """The node, or None if the dump has no such node."""
        return self._nodes.get(node_id)

    def all(self) -> list[ZWaveNode]:
        """Every node, as now."""
        return list(self._nodes.values())

    def __len__(self) -> int:
        return len(self._nodes)

    def apply(self, event: Event) -> ZWaveNode | None:
        """Apply ``event``; the node it changed (its new snapshot), else None."""
        if isinstance(event, NodeReady):
            state = dict(event.node_state)
            state.setdefault("nodeId", event.node_id)
            state["ready"] = True
            node = node_from_dump(state)
            self._nodes[node.node_id] = node
            return node
        node_id = getattr(event, "node_id", None)
        if node_id is None:
            self.all_ready = True
            return None
        current = self._nodes.get(node_id)
        if current is None:
            return None
        node = current
        if isinstance(event, NodeStatusChanged):
            node = attrs.evolve(node, status=event.status)
        elif isinstance(event, ValueChanged):
            values = dict(node.values)
            key: ValueKey = (event.cc, event.endpoint, event.prop, event.key)
            if event.kind is ValueEventKind.REMOVED:
                values.pop(key, None)
            else:
                values[key] = event.new_value
            node = attrs.evolve(node, values=values)
        else:
            return None
        self._nodes[node_id] = node
        return node
