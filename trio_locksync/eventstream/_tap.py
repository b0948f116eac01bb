"""Frames taken in trio-websocket's own reader task: one task hop a frame fewer.

trio-websocket's reader task parses the socket and hands each message to a memory channel;
``get_message()`` takes it out in another task. The stream used to run a task of its own that
only called ``get_message()`` and put the decoded event into the stream's buffer, so a frame
crossed two tasks before the consumer's (three schedule points where bare trio-websocket has
two): ~10 µs of the ~35 µs a frame the ISY stream cost over bare trio-websocket in the replay
benchmark.

:func:`install_tap` puts a :class:`FrameTap` in the place of the connection's send channel
(``WebSocketConnection._send_channel``, a private attribute of trio-websocket 0.12+; when it is
not what we expect, nothing is changed and the stream's reader takes every frame through
``get_message()`` as before). The tap's ``send()`` hands the message to the stream's frame
handler right there, in the reader task, with the same schedule points as the channel's
``send()``; everything else (``aclose()``, the context manager) goes to the real channel, so
closing still ends ``get_message()``, which the stream's reader keeps awaiting to learn that
the socket closed. Messages the channel already held when the tap went in are drained first
(:func:`install_tap` returns them), so the order is the order of arrival.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, final

import trio
import trio_websocket

from ._options import Message

__all__ = ["FrameTap", "install_tap"]


@final
class FrameTap:
    """Stands in for trio-websocket's send channel: ``send(message)`` calls ``take(message)``."""

    __slots__ = ("_inner", "_take")

    def __init__(self, inner: trio.MemorySendChannel[Message], take: Callable[[Message], None]):
        self._inner = inner
        self._take = take

    async def send(self, message: Message) -> None:
        """What ``MemorySendChannel.send`` does when there is room: a cancellation point before
        the message is taken, a schedule point (never cancelled) after."""
        await trio.lowlevel.checkpoint_if_cancelled()
        self._take(message)
        await trio.lowlevel.cancel_shielded_checkpoint()

    async def aclose(self) -> None:
        """Close the real channel (which ends ``get_message()``)."""
        await self._inner.aclose()

    async def __aenter__(self) -> FrameTap:
        """As the channel's context manager."""
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        """As the channel's: closes it."""
        await self._inner.aclose()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


def install_tap(
    ws: trio_websocket.WebSocketConnection, take: Callable[[Message], None]
) -> list[Message] | None:
    """Route ``ws``'s messages to ``take`` from trio-websocket's reader task. Returns the
    messages the channel held already (to be taken first, in order), or None if ``ws`` is not
    built as expected (nothing changed: read with ``get_message()``)."""
    send = getattr(ws, "_send_channel", None)
    receive = getattr(ws, "_recv_channel", None)
    if not isinstance(send, trio.MemorySendChannel) or not isinstance(
        receive, trio.MemoryReceiveChannel
    ):
        return None
    ws._send_channel = FrameTap(send, take)  # type: ignore[assignment]
    held: list[Message] = []
    while True:
        try:
            held.append(receive.receive_nowait())
        except (trio.WouldBlock, trio.EndOfChannel, trio.ClosedResourceError):
            return held
