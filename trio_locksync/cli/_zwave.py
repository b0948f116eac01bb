"""The demo's Z-Wave locks: zwave-js's own mock controller behind the REAL Z-Wave JS Server
(``trio_locksync.testing.zwave_js``; node >= 20, the pinned npm packages installed once into a
cache outside the repository), driven by the library's ``open_zwave_js`` and ``ZWaveJsLock``.

They are optional: without node (or with ``--no-zwave``, or a run too short for the server's
start) the run says "Z-Wave locks skipped: <reason>" once and runs the rest as it would without
them. The server starts in the background (about 10 s to interview the mock locks; the first
run installs it first), so the rest of the site never waits for it: the Z-Wave locks join the
site once they are interviewed, and a start that fails late is said the same way."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from typing import final

import attrs
import trio

from ..core import LockSyncError, StateTable, Watched
from ..credentials import (
    CredentialKind,
    LockDisconnected,
    LockEvent,
    LockState,
    LockSync,
    SlotChange,
    SyncState,
)
from ..providers.zwave_js import ZWaveJsLock, ZWaveJsStatus, open_zwave_js
from ..store import Store
from ..testing.zwave_js import (
    SERVER_VERSION,
    ZWAVE_JS_VERSION,
    MockNode,
    ZWaveJsServer,
    ZWaveJsUnavailable,
    find_node,
    open_zwave_js_server,
)
from ._config import FAST, Behaviour, DemoOptions, Kind, LockSpec
from ._engines import engine_for
from ._events import DemoEvent, DoorChanged, ZWaveChanged, ZWaveState

__all__ = ["ZWAVE_MIN_DURATION", "ZWaveHardware", "ZWaveLocks", "zwave_unavailable"]

logger = logging.getLogger("trio_locksync.demo")

#: runs shorter than this skip the Z-Wave locks: the server needs about 10 s to interview them
ZWAVE_MIN_DURATION = 20.0
#: the mock lock standing behind each behaviour
NODE_OF = {Behaviour.READABLE: MockNode.PLAIN, Behaviour.MASKED: MockNode.MASKING}
#: seconds the installed server and mock get to listen (the install itself is not bounded here)
_START_TIMEOUT = 60.0
#: seconds an autolock firing before the Z-Wave locks are up waits for them (then retries)
_LOCK_WAIT = 20.0
#: seconds the summary's fresh read of the Z-Wave slots may take
_VERIFY_TIMEOUT = 15.0

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

    def __init__(self, specs: list[LockSpec], publish: Callable[[DemoEvent], None]) -> None:
        #: the mock node of each Z-Wave lock
        self.nodes = {spec.name: NODE_OF[spec.behaviour] for spec in specs}
        self._publish = publish
        self._phase = StateTable("Z-Wave locks", _S.STARTING, _TRANSITIONS)
        self.server: Watched[_Up | _Waiting] = Watched(_Waiting(_S.STARTING))

    def _move(self, state: ZWaveState, detail: str, server: ZWaveJsServer | None = None) -> None:
        if not self._phase.can_advance(state):
            return
        self._phase.advance(state)
        self.server.set(_Waiting(state) if server is None else _Up(server))
        self._publish(ZWaveChanged(state, detail))

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


#: what the site runs for each Z-Wave lock: its events and its engine's changes
FollowEvents = Callable[[str, AsyncIterator[LockEvent]], Awaitable[None]]
FollowEngine = Callable[[str, LockSync, AsyncIterator[SlotChange]], Awaitable[None]]


@final
class ZWaveLocks:
    """The site's side: one ``open_zwave_js`` client once the server is up, a ``ZWaveJsLock``
    and a credential engine per Z-Wave lock, and their followers. :meth:`run` is a task of the
    site's nursery; :meth:`close` ends it in order (followers, engines, then the client)."""

    def __init__(
        self,
        hardware: ZWaveHardware,
        options: DemoOptions,
        stores: Mapping[str, Store],
        publish: Callable[[DemoEvent], None],
    ) -> None:
        self.hardware = hardware
        self._specs = options.site.with_kind(Kind.ZWAVE)
        self._options = options
        self._stores = stores
        self._publish = publish
        #: the locks the site drives, once their engines and followers run
        self.locks: dict[str, ZWaveJsLock] = {}
        self._closing = trio.Event()
        self._closed = trio.Event()
        self._waiting = trio.CancelScope()
        #: set once the locks are driven, or will never be (skipped, closed)
        self._settled = trio.Event()

    def is_up(self, name: str) -> bool:
        """The site drives Z-Wave lock ``name`` (its events are followed)."""
        return name in self.locks

    async def run(
        self, engines: dict[str, LockSync], follow: FollowEvents, follow_engine: FollowEngine
    ) -> None:
        try:
            if self._specs:
                with self._waiting:
                    server = await self.hardware.up()
                if server is not None and not self._closing.is_set():
                    await self._drive(server, engines, follow, follow_engine)
        except Exception as exc:  # the site runs on without them, saying why
            logger.warning("the site's Z-Wave locks stopped", exc_info=True)
            self._publish(ZWaveChanged(_S.SKIPPED, f"the site's Z-Wave client: {_first_line(exc)}"))
        finally:
            self.locks.clear()
            self._settled.set()
            self._closed.set()

    async def _drive(
        self,
        server: ZWaveJsServer,
        engines: dict[str, LockSync],
        follow: FollowEvents,
        follow_engine: FollowEngine,
    ) -> None:
        async with (
            open_zwave_js(
                server.url, backoff=FAST, stable_after=2.0, command_timeout=10.0
            ) as client,
            contextlib.AsyncExitStack() as stack,
        ):
            with trio.fail_after(10):
                await client.wait_status(ZWaveJsStatus.CONNECTED)
            # each lock's events and engine's changes subscribed the moment it is open; the
            # followers' nursery inside the engines (it closes first)
            followers: list[tuple[Callable[..., Awaitable[None]], tuple[object, ...]]] = []
            opened: dict[str, ZWaveJsLock] = {}
            for spec in self._specs:
                node = self.hardware.nodes[spec.name]
                lock = opened[spec.name] = client.lock(
                    node, slots=spec.slots.keys(), operation_timeout=5.0
                )
                events = lock.events()
                engine = await stack.enter_async_context(
                    engine_for(spec, lock, self._stores[spec.name], self._options)
                )
                engines[spec.name] = engine
                followers.append((follow_engine, (spec.name, engine, engine.changes())))
                followers.append((follow, (spec.name, events)))
            async with trio.open_nursery() as nursery:
                for task, args in followers:
                    nursery.start_soon(task, *args)
                for name, lock in opened.items():
                    self.locks[name] = lock
                    locked = lock.lock_state is LockState.LOCKED
                    self._publish(DoorChanged(name, locked, "as the lock reports"))
                self._settled.set()
                self._publish(
                    ZWaveChanged(_S.UP, f"{len(self.locks)} Z-Wave locks driven over {client.url}")
                )
                await self._closing.wait()
                self.locks.clear()
                nursery.cancel_scope.cancel()

    async def close(self) -> None:
        """End :meth:`run`: the followers, then the engines (each flushes), then the client."""
        self._closing.set()
        self._waiting.cancel()
        await self._closed.wait()

    async def lock_door(self, name: str) -> None:
        """The site's lock command for a Z-Wave door (Door Lock CC)."""
        if name not in self.locks:  # a timer the last run left: wait for the locks to come up
            with trio.move_on_after(_LOCK_WAIT):
                await self._settled.wait()
        lock = self.locks.get(name)
        if lock is None:
            raise LockDisconnected(f"the Z-Wave lock {name} is not driven by the site (yet)")
        await lock.lock()
        # the mock's Door Lock set makes no Access Control notification: say it here
        self._publish(DoorChanged(name, True, "Door Lock set by the autolock"))

    async def verify(self, engines: Mapping[str, LockSync]) -> tuple[int, bool]:
        """Every IN_SYNC slot of the Z-Wave locks against a fresh read through the provider
        (one User Code Get each) and the mock lock's own memory: ``(slots checked, all
        held)``; a read that fails or takes too long holds nothing. PIN-free: compares,
        never says."""
        value = self.hardware.server.value
        if not isinstance(value, _Up):
            return 0, True
        verdicts: list[bool] = []
        with trio.move_on_after(_VERIFY_TIMEOUT) as timed:
            try:
                for name, lock in list(self.locks.items()):
                    await self._verify_lock(value.server, name, lock, engines[name], verdicts)
            except LockSyncError:
                logger.warning("the fresh read of the Z-Wave slots failed", exc_info=True)
                verdicts.append(False)
        return len(verdicts), all(verdicts) and not timed.cancelled_caught

    async def _verify_lock(
        self,
        server: ZWaveJsServer,
        name: str,
        lock: ZWaveJsLock,
        engine: LockSync,
        verdicts: list[bool],
    ) -> None:
        spec = self._options.site.lock(name)
        slots = [s for s in engine.slots if engine.state(s) is SyncState.IN_SYNC]
        fresh = await lock.read_slots(slots) if slots else {}
        for slot in slots:
            pin, reading = spec.slots[slot], fresh[slot]
            status, code = await server.slot(self.hardware.nodes[name], slot)
            if pin is None:
                verdicts.append(reading.kind is CredentialKind.EMPTY and status == 0)
                continue
            holds = status == 1 and code == pin.reveal()
            if spec.behaviour is Behaviour.MASKED:
                verdicts.append(holds and reading.kind is CredentialKind.UNREADABLE)
            else:
                shown = reading.pin is not None and reading.pin.reveal() == pin.reveal()
                verdicts.append(holds and shown)
