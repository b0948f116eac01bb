"""``open_isy_event_stream``: :func:`open_event_stream` preset for an ISY / IoX controller."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Unpack

from ...core import require_trio
from .._open import open_event_stream
from .._options import EventStreamOptions
from .._stream import EventStream
from ._events import IsyEvent, decode_isy_event
from ._handshake import ISY_SUBPROTOCOL, isy_headers, isy_subscribe_url

__all__ = ["isy_heartbeat", "open_isy_event_stream"]


def isy_heartbeat(event: IsyEvent) -> float | None:
    """Seconds until the next heartbeat if ``event`` announces one (``<control>_0</control>``)."""
    return event.heartbeat_interval


def open_isy_event_stream(
    base_url: str,
    *,
    username: str | None = None,
    password: str | None = None,
    token: str | None = None,
    **options: Unpack[EventStreamOptions],
) -> AbstractAsyncContextManager[EventStream[IsyEvent]]:
    """Subscribe to an ISY / IoX controller's events at ``base_url`` (``http://isy.local``).

    The URL becomes ``ws[s]://…/rest/subscribe``, the handshake asks for the ``ISYSUB``
    subprotocol with the ISY ``Origin`` and Basic (``username``/``password``) or Bearer
    (``token``) authorization, frames are decoded with :func:`decode_isy_event`, and the heartbeat
    watchdog follows the controller's ``_0`` announcements. ``options`` are those of
    :func:`open_event_stream` (:class:`EventStreamOptions`: ``quiet``, ``cap``, ``backoff``,
    ``headers`` added to the ISY ones, …), type-checked. The credentials live only in the
    handshake headers: never in logs or reprs.
    """
    extra = options.get("headers") or ()
    headers = isy_headers(username=username, password=password, token=token) + list(extra)
    preset: EventStreamOptions = {**options, "headers": headers}
    return _on_trio(
        open_event_stream(
            isy_subscribe_url(base_url),
            decode=decode_isy_event,
            heartbeat=isy_heartbeat,
            subprotocols=[ISY_SUBPROTOCOL],
            **preset,
        )
    )


@asynccontextmanager
async def _on_trio(
    opened: AbstractAsyncContextManager[EventStream[IsyEvent]],
) -> AsyncIterator[EventStream[IsyEvent]]:
    # The options were checked by the call; the block is where trio is needed, and the
    # refusal names the function the caller called.
    require_trio("open_isy_event_stream()")
    async with opened as stream:
        yield stream
