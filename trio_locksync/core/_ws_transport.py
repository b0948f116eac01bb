"""Opening one socket: TCP/TLS, the websocket handshake, and what sits between trio-websocket
and the transport (end-of-stream signalling, error triage)."""

from __future__ import annotations

import contextlib
import ssl
import traceback
from collections.abc import Callable, Iterator, Sequence
from typing import cast, final

import trio
import trio_websocket

from ._errors import LockSyncError
from ._ws_url import Target

__all__ = [
    "AttemptTimedOut",
    "EndSignallingStream",
    "HandshakeUnanswered",
    "closed_reason",
    "fail_after_as",
    "leaf_exceptions",
    "open_socket",
    "raised_at",
    "websocket_handshake",
]


@final
class HandshakeUnanswered(LockSyncError):
    """The socket ended before the server answered the websocket handshake (a client's own
    retryable failure: it classifies it, a caller never sees it)."""


@final
class AttemptTimedOut(LockSyncError):
    """A step of an attempt took longer than its timeout (a client's own retryable failure: it
    classifies it, a caller never sees it). The message says which: "no connection within
    10 s", "no handshake within 30 s"."""


@contextlib.contextmanager
def fail_after_as(seconds: float, what: str) -> Iterator[None]:
    """``trio.fail_after(seconds)`` that raises :class:`AttemptTimedOut` ("no ``what`` within
    ``seconds`` s") instead of ``trio.TooSlowError``: the connect and the handshake each
    have their own timeout, and the failure says which one ran out."""
    with trio.CancelScope(deadline=trio.current_time() + seconds) as scope:
        yield
    # Only this scope's own deadline: a timeout inside the body (say a caller's
    # ``open_transport``) stays what it is.
    if scope.cancelled_caught:
        raise AttemptTimedOut(f"no {what} within {seconds:g} s")


def leaf_exceptions(group: BaseExceptionGroup[Exception]) -> Iterator[Exception]:
    """The exceptions in ``group`` and its nested groups, depth first, without the groups."""
    for exc in group.exceptions:
        if isinstance(exc, BaseExceptionGroup):
            yield from leaf_exceptions(exc)
        else:
            yield exc


class EndSignallingStream(trio.abc.Stream):
    """The transport as trio-websocket sees it, calling ``on_end`` when it ends or breaks.

    trio-websocket waits for the handshake's answer forever if the socket closes first; the
    stream cancels that wait from ``on_end`` instead.
    """

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


def raised_at(exc: BaseException) -> str:
    """``file:line`` where ``exc`` was raised: enough to find a bug, without its message."""
    frames = traceback.extract_tb(exc.__traceback__)
    if not frames:
        return "unknown location"
    last = frames[-1]
    return f"{last.filename.rsplit('/', 1)[-1]}:{last.lineno}"


async def open_socket(target: Target, ssl_context: ssl.SSLContext | None) -> trio.abc.Stream:
    """A TCP connection to ``target``, with TLS (``ssl_context``, required) for ``wss``."""
    if not target.tls:
        return await trio.open_tcp_stream(target.host, target.port)
    assert ssl_context is not None
    return await trio.open_ssl_over_tcp_stream(
        target.host, target.port, ssl_context=ssl_context, https_compatible=True
    )


async def websocket_handshake(
    nursery: trio.Nursery,
    transport: trio.abc.Stream,
    target: Target,
    *,
    subprotocols: Sequence[str],
    headers: Sequence[tuple[str, str]],
    max_message_size: int,
) -> trio_websocket.WebSocketConnection:
    """The client handshake over ``transport``; trio-websocket's reader goes in ``nursery``.

    Raises :class:`HandshakeUnanswered` if the transport ends before the server answers, and
    a TLS error as itself (the TLS handshake is done first).
    """
    if isinstance(transport, trio.SSLStream):
        # Up front, so a certificate error is seen as one (inside trio-websocket's reader it
        # would only end the stream).
        await transport.do_handshake()
    signalling = EndSignallingStream(transport)
    with trio.CancelScope() as scope:
        # trio-websocket waits for the 101 until the end of time if the socket closes first;
        # the end signal cancels that wait instead.
        signalling.on_end = scope.cancel
        return await trio_websocket.wrap_client_stream(
            nursery,
            cast(trio.SocketStream, signalling),
            target.host_header,
            target.resource,
            subprotocols=list(subprotocols),
            extra_headers=[(k.encode("latin-1"), v.encode("latin-1")) for k, v in headers],
            max_message_size=max_message_size,
        )
    raise HandshakeUnanswered


def closed_reason(exc: trio_websocket.ConnectionClosed) -> str:
    """Why a websocket ended, in words for a status change: "closed by server (1006
    ABNORMAL_CLOSURE)", or "connection closed" when no close frame said why."""
    reason = exc.reason
    if reason is None:
        return "connection closed"
    return f"closed by server ({reason.code} {reason.name})"
