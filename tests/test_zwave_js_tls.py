"""``open_zwave_js("wss://...")``: TLS before the websocket handshake, with the caller's
``ssl_context`` or the system's CAs; a certificate the client does not trust is final
(REFUSED), as the event stream's. Until this was added a ``wss`` URL died on an
``AssertionError`` (no SSL context was passed down).

The Z-Wave JS Server speaks plain ``ws`` (TLS comes from a proxy in front of it), so the server
here is a loopback TLS listener (a trustme CA) that reads the client's websocket upgrade and
never answers it: enough to prove the request arrived inside TLS.
"""

from __future__ import annotations

import functools
import ssl

import pytest
import trio
import trustme

from trio_locksync import Backoff, Jitter
from trio_locksync.providers.zwave_js import ZWaveJsStatus, open_zwave_js

SLOW = Backoff(initial=60.0, maximum=60.0, jitter=Jitter.NONE)
S = ZWaveJsStatus


class TlsListener:
    """Accepts TLS, keeps the first bytes the client sends inside it, never answers."""

    def __init__(self) -> None:
        self.received: list[bytes] = []
        self.got = trio.Event()

    async def handle(self, stream: trio.SSLStream[trio.SocketStream]) -> None:
        try:
            data = await stream.receive_some(65536)
        except trio.BrokenResourceError:  # the client refused our certificate
            return
        if data:  # b"": the client closed (TLS done, nothing sent)
            self.received.append(bytes(data))
            self.got.set()
        await trio.sleep_forever()


async def serve_tls(nursery: trio.Nursery, ca: trustme.CA, listener: TlsListener) -> int:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(context)
    serve = functools.partial(trio.serve_ssl_over_tcp, host="127.0.0.1", https_compatible=True)
    listeners = await nursery.start(serve, listener.handle, 0, context)
    return int(listeners[0].transport_listener.socket.getsockname()[1])


async def test_wss_with_a_trusted_certificate_sends_the_upgrade_inside_tls() -> None:
    ca = trustme.CA()
    trusting = ssl.create_default_context()
    ca.configure_trust(trusting)
    listener = TlsListener()
    async with trio.open_nursery() as nursery:
        port = await serve_tls(nursery, ca, listener)
        with trio.fail_after(30):
            async with open_zwave_js(
                f"wss://127.0.0.1:{port}", ssl_context=trusting, backoff=SLOW
            ) as client:
                await listener.got.wait()
                assert client.status is S.CONNECTING  # TLS done, the upgrade sent, unanswered
        nursery.cancel_scope.cancel()
    assert listener.received[0].startswith(b"GET "), listener.received


async def test_wss_with_an_untrusted_certificate_is_final() -> None:
    listener = TlsListener()
    async with trio.open_nursery() as nursery:
        port = await serve_tls(nursery, trustme.CA(), listener)
        with trio.fail_after(20):
            # the system's CAs only: they do not know the test CA
            async with open_zwave_js(f"wss://127.0.0.1:{port}", backoff=SLOW) as client:
                async for change in client.status_changes():
                    if change.status is S.REFUSED:
                        break
                assert client.statistics().attempts == 1
        nursery.cancel_scope.cancel()
    assert "TLS certificate not accepted (" in change.detail, change.detail


async def test_wss_to_a_server_without_tls_is_retried_not_final() -> None:
    """A ``wss`` URL on a plain ``ws`` port: a TLS failure that is not about the
    certificate, so retried (RECONNECTING), never REFUSED."""

    async def plain(stream: trio.SocketStream) -> None:
        async with stream:
            await stream.receive_some(65536)
            await stream.send_all(b"HTTP/1.1 400 Bad Request\r\n\r\n")

    async with trio.open_nursery() as nursery:
        serve = functools.partial(trio.serve_tcp, host="127.0.0.1")
        listeners = await nursery.start(serve, plain, 0)
        port = listeners[0].socket.getsockname()[1]
        with trio.fail_after(20):
            async with open_zwave_js(f"wss://127.0.0.1:{port}", backoff=SLOW) as client:
                async for change in client.status_changes():
                    if change.status is S.RECONNECTING:
                        break
        nursery.cancel_scope.cancel()
    assert change.detail.startswith("TLS failed: "), change.detail


async def test_an_ssl_context_for_a_ws_url_is_refused() -> None:
    """Not silently ignored (the traffic would go in plain text): as the event stream."""
    with pytest.raises(ValueError, match="ssl_context given for a ws:// URL"):
        async with open_zwave_js("ws://127.0.0.1:1", ssl_context=ssl.create_default_context()):
            pass
