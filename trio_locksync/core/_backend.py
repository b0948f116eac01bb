"""The one async library trio_locksync runs on: trio (directly, or as anyio's trio backend).

Every public entry point calls :func:`require_trio` before anything else, so a program started
with ``asyncio.run()`` (or ``anyio.run(..., backend="asyncio")``) gets one sentence naming the
problem at its first call, instead of an error from deep inside trio (``must be called from
async context``, or an ``AttributeError`` on trio's run context).
"""

from __future__ import annotations

import sys
from typing import final

import trio

from ._errors import LockSyncError

__all__ = ["TrioRequiredError", "require_trio"]


@final
class TrioRequiredError(LockSyncError, RuntimeError):
    """A trio_locksync call was made outside a trio run: under asyncio, or from a thread or
    synchronous code. Nothing was started. ``api`` is the call, ``running`` the async library
    found instead (``"asyncio"``), or None for none.

    Run the program with ``trio.run(main)`` or ``anyio.run(main, backend="trio")``.
    """

    #: the refused call, as the message names it (``"open_store()"``)
    api: str
    #: the async library found running instead (``"asyncio"``), or None
    running: str | None

    def __init__(self, api: str, running: str | None) -> None:
        where = f"under {running}" if running else "outside any trio run"
        super().__init__(
            f"{api} runs on trio only (trio.run(main), or anyio.run(main, backend='trio')), "
            f"but was called {where}"
        )
        self.api = api
        self.running = running


def require_trio(api: str) -> None:
    """Raise :class:`TrioRequiredError` unless the caller runs inside a trio run (trio's own
    task, so anyio's trio backend qualifies). ``api`` names the call in the message, e.g.
    ``"open_store()"``. Never blocks; costs a thread-local lookup."""
    try:
        trio.lowlevel.current_task()
    except RuntimeError:
        raise TrioRequiredError(api, _running_library()) from None


def _running_library() -> str | None:
    """The async library running in this thread instead of trio, as far as we can tell."""
    asyncio = sys.modules.get("asyncio")  # not imported: no asyncio loop can be running
    if asyncio is not None:
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            pass
        else:
            return "asyncio"
    return None
