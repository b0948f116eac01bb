"""The demo's Z-Wave locks: zwave-js's own mock controller behind the REAL Z-Wave JS Server
(``trio_locksync.testing.zwave_js``; node >= 20, the pinned npm packages installed once into a
cache outside the repository), driven by the site runner's ``open_zwave_js`` and ``ZWaveJsLock``
as a real site's are.

They are optional: without node (or with ``--no-zwave``, or a run too short for the server's
start) the run says "Z-Wave locks skipped: <reason>" once and runs the rest as it would without
them. The server starts in the background (about 10 s to interview the mock locks; the first
run installs it first), so the rest of the site never waits for it. The site is given one
address from the start — a loopback port of the demo's own that forwards each connection to the
server once it is up (and closes it at once before that) — and connects as a real site to a
server that starts late: its client reconnects, and the Z-Wave locks join once interviewed.
A start that fails late is said the same way as one known to fail before."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import final

import attrs
import trio

from ..core import StateTable, Watched
from ..credentials import LockDisconnected
from ..testing.zwave_js import (
    SERVER_VERSION,
    ZWAVE_JS_VERSION,
    MockNode,
    ZWaveJsServer,
    ZWaveJsUnavailable,
    find_node,
    open_zwave_js_server,
)
from ._config import DemoOptions
from ._events import DemoEvent, ZWaveChanged, ZWaveState
from ._schema import LockConfig

__all__ = ["ZWAVE_MIN_DURATION", "ZWaveHardware", "zwave_unavailable"]

logger = logging.getLogger("trio_locksync.demo")

#: runs shorter than this skip the Z-Wave locks: the server needs about 10 s to interview them
ZWAVE_MIN_DURATION = 20.0
#: seconds the installed server and mock get to listen (the install itself is not bounded here)
_START_TIMEOUT = 60.0

_S = ZWaveState
_TRANSITIONS = {_S.STARTING: frozenset({_S.UP, _S.SKIPPED}), _S.UP: frozenset({_S.SKIPPED})}


def _first_line(exc: BaseException) -> str:
    while isinstance(exc, BaseExceptionGroup) and len(exc.exceptions) == 1:
        exc = exc.exceptions[0]
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


async def zwave_unavailable(options: DemoOptions) -> str | None:
    """Why this run has no Z-Wave locks, known before anything starts; None: it tries."""
    if not options.zwave:
        return "--no-zwave"
    try:
        await trio.to_thread.run_sync(find_node)
    except ZWaveJsUnavailable as exc:
        return _first_line(exc)
    if options.duration < ZWAVE_MIN_DURATION:
        return (
            f"a {options.duration:g} s run is too short for the Z-Wave JS Server to start "
            f"(about 10 s); give --duration {ZWAVE_MIN_DURATION:g} or more"
        )
    return None


@final
@attrs.frozen
class _Up:
    server: ZWaveJsServer


@final
@attrs.frozen
class _Waiting:
    """Starting, or skipped (then nothing will come)."""

    state: ZWaveState


@final
class ZWaveHardware:
    """The world's side: the real server on the mock controller, started in the background
    by :meth:`run` (a task of the world's nursery, as the ISY controller), and what people
    do at the Z-Wave doors."""

    def __init__(self, specs: list[LockConfig], publish: Callable[[DemoEvent], None]) -> None:
        #: the mock node of each Z-Wave lock
        self.nodes = {spec.name: MockNode(spec.node_id or 0) for spec in specs}
        self._publish = publish
        self._phase = StateTable("Z-Wave locks", _S.STARTING, _TRANSITIONS)
        self.server: Watched[_Up | _Waiting] = Watched(_Waiting(_S.STARTING))
        self._port = 0

    def _move(self, state: ZWaveState, detail: str, server: ZWaveJsServer | None = None) -> None:
        if not self._phase.can_advance(state):
            return
        self._phase.advance(state)
        self.server.set(_Waiting(state) if server is None else _Up(server))
        self._publish(ZWaveChanged(state, detail))

    @property
    def url(self) -> str:
        """Where the site connects: the forwarding port (see :meth:`serve_forwarder`)."""
        return f"ws://127.0.0.1:{self._port}"

    async def serve_forwarder(self, *, task_status: trio.TaskStatus[None]) -> None:
        """Listen on a loopback port of our own (:attr:`url`) and forward each connection to
        the server once it is up; before that (or once skipped), close it at once."""
        listeners = await trio.open_tcp_listeners(0, host="127.0.0.1")
        self._port = listeners[0].socket.getsockname()[1]
        task_status.started()
        await trio.serve_listeners(self._forward, listeners)

    async def _forward(self, stream: trio.SocketStream) -> None:
        async with stream:
            value = self.server.value
            if not isinstance(value, _Up):
                return  # the client sees the connection closed, and retries on its backoff
            try:
                upstream = await trio.open_tcp_stream("127.0.0.1", value.server.port)
            except OSError:
                return
            async with upstream, trio.open_nursery() as nursery:
                nursery.start_soon(_pump, stream, upstream, nursery.cancel_scope)
                nursery.start_soon(_pump, upstream, stream, nursery.cancel_scope)

    async def run(self) -> None:
        """Install (first run) and start the server, interview the mock locks, serve them
        until cancelled. A failure is said ("skipped") and ends only this task."""
        self._publish(
            ZWaveChanged(
                _S.STARTING,
                f"starting the Z-Wave JS Server {SERVER_VERSION} (zwave-js {ZWAVE_JS_VERSION}'s "
                "mock controller); the first run installs it with npm",
            )
        )
        began = trio.current_time()
        try:
            async with open_zwave_js_server(start_timeout=_START_TIMEOUT) as server:
                await server.wait_nodes_ready()
                took = trio.current_time() - began
                detail = (
                    f"Z-Wave JS Server {SERVER_VERSION} up, mock locks interviewed in {took:.1f} s"
                )
                self._move(_S.UP, detail, server)
                await trio.sleep_forever()
        except Exception as exc:  # any failure to start: the rest of the site runs on
            logger.warning("the Z-Wave JS Server did not run", exc_info=True)
            self._move(_S.SKIPPED, _first_line(exc))

    async def up(self) -> ZWaveJsServer | None:
        """The server once the mock locks are interviewed; None if it was skipped."""
        changes = self.server.values()
        value = self.server.value
        while True:
            if isinstance(value, _Up):
                return value.server
            if value.state is _S.SKIPPED:
                return None
            value = await changes.__anext__()

    def _ready(self) -> ZWaveJsServer:
        value = self.server.value
        if not isinstance(value, _Up):
            raise LockDisconnected("the Z-Wave JS Server is not up")
        return value.server

    async def keypad_unlock(self, name: str, user: int) -> None:
        """Someone opens Z-Wave door ``name`` with user code ``user`` at its keypad."""
        await self._ready().keypad_unlock(self.nodes[name], user)

    async def keypad_lock(self, name: str, user: int) -> None:
        """Someone locks Z-Wave door ``name`` at its keypad (a lock by hand)."""
        await self._ready().keypad_lock(self.nodes[name], user)

    def is_up(self) -> bool:
        return isinstance(self.server.value, _Up)

    async def codes(self, name: str, slots: list[int]) -> dict[int, str]:
        """The codes Z-Wave lock ``name`` holds in ``slots``, by the mock lock's own record
        (ground truth; a slot without a code is left out)."""
        server = self._ready()
        held = {}
        for slot in slots:
            status, code = await server.slot(self.nodes[name], slot)
            if status != 0 and code:
                held[slot] = code
        return held


async def _pump(source: trio.SocketStream, sink: trio.SocketStream, done: trio.CancelScope) -> None:
    try:
        async for chunk in source:
            await sink.send_all(chunk)
    except (trio.BrokenResourceError, trio.ClosedResourceError):
        pass
    finally:
        done.cancel()
