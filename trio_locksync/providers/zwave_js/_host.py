"""What a lock needs of the client that carries its commands: a small protocol, so that the
lock's modules never import the client (which makes the locks: no import circle)."""

from __future__ import annotations

from typing import Any, Protocol

from ...core import Subscription
from ._events import NodeNews
from ._model import ZWaveNode
from ._protocol import Command
from ._status import ZWaveJsStatus

__all__ = ["NodeHost"]


class NodeHost(Protocol):
    """The :class:`~._client.ZWaveJsClient` as its locks see it."""

    @property
    def status(self) -> ZWaveJsStatus: ...

    @property
    def _dumps(self) -> int: ...

    def node(self, node_id: int) -> ZWaveNode | None:
        """The node ``node_id`` as last read (None: not in the network)."""
        ...

    async def wait_status(self, *statuses: ZWaveJsStatus) -> ZWaveJsStatus:
        """Wait until the client's status is one of ``statuses``; returns it."""
        ...

    async def _request(self, command: Command) -> dict[str, Any]: ...

    def _subscribe(self) -> Subscription[NodeNews]: ...
