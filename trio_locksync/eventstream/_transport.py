"""What sits between trio-websocket and the socket: end-of-stream watching, error triage."""

from __future__ import annotations

import traceback
from collections.abc import Callable, Iterator

import trio

__all__ = ["ClosedDuringHandshake", "EndWatch", "leaves", "where"]


class ClosedDuringHandshake(Exception):
    """The socket ended before the server answered the websocket handshake."""


def leaves(group: BaseExceptionGroup[Exception]) -> Iterator[Exception]:
    for exc in group.exceptions:
        if isinstance(exc, BaseExceptionGroup):
            yield from leaves(exc)
        else:
            yield exc


class EndWatch(trio.abc.Stream):
    """The transport as trio-websocket sees it, calling ``on_end`` when it ends or breaks."""

    def __init__(self, inner: trio.abc.Stream) -> None:
        self.inner = inner
        self.on_end: Callable[[], object] = lambda: None

    async def receive_some(self, max_bytes: int | None = None) -> bytes | bytearray:
        try:
            data = await self.inner.receive_some(max_bytes)
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            self.on_end()
            raise
        if not data:
            self.on_end()
        return data

    async def send_all(self, data: bytes | bytearray | memoryview) -> None:
        await self.inner.send_all(data)

    async def wait_send_all_might_not_block(self) -> None:
        await self.inner.wait_send_all_might_not_block()

    async def aclose(self) -> None:
        await self.inner.aclose()


def where(exc: BaseException) -> str:
    """``file:line`` where ``exc`` was raised: enough to find a bug, without its message."""
    frames = traceback.extract_tb(exc.__traceback__)
    if not frames:
        return "unknown location"
    last = frames[-1]
    return f"{last.filename.rsplit('/', 1)[-1]}:{last.lineno}"
