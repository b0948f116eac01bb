"""The real Z-Wave JS Server (``@zwave-js/server``) on zwave-js's own mock controller with the
mock locks of ``locks.cjs``, owned by an ``async with`` block: two node processes on free
loopback ports, started and ended by the block, and the controls a test uses to act "at the
door" and to read the mock locks' ground truth."""

from __future__ import annotations

import enum
import os
import shutil
import tempfile
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from functools import partial
from pathlib import Path
from typing import Any, final

import trio

from ...core import NoPublicConstructor, require_trio
from .._broker import free_ports
from ._control import control_request, wait_interviewed
from ._install import ZWaveJsUnavailable, find_node, install_zwave_js, shipped_file
from ._process import Child, ChildState, log_tail, run_child

__all__ = ["MockNode", "ZWaveJsServer", "open_zwave_js_server"]

_HOST = "127.0.0.1"
#: seconds :meth:`ZWaveJsServer.wait_nodes_ready` waits at most
READY_TIMEOUT = 60.0
#: seconds between polls while a process starts
_POLL = 0.05
#: the node id of the first extra lock of ``open_zwave_js_server(locks=N)`` (``locks.cjs``)
FIRST_EXTRA_NODE = 5


class MockNode(enum.IntEnum):
    """The mock locks of ``locks.cjs`` (node ids). Each has User Code CC v1 with 10 slots
    (slot 1 holds 1234 at start), Access Control notifications and Door Lock CC (locked at
    start)."""

    #: mains powered, readable codes, unsupervised (set_value answers 254)
    PLAIN = 2
    #: PLAIN + Supervision (set_value answers 255 / 2), codes read back as ``**********``, refuses a
    #: code another slot holds (Supervision Fail + notification 6/15)
    MASKING = 3
    #: a sleeping battery lock (Wake Up CC): interviewed only once woken
    #: (:meth:`ZWaveJsServer.wake_up`)
    BATTERY = 4


@final
class ZWaveJsServer(metaclass=NoPublicConstructor):
    """The server and mock of an :func:`open_zwave_js_server` block: where it listens
    (:attr:`url`), its logs and processes, and the test's controls."""

    _OPENED_BY = "open_zwave_js_server()"

    def __init__(
        self,
        nursery: trio.Nursery,
        install: Path,
        directory: Path,
        keep_cache: bool,
        locks: int = 0,
        lock_users: int = 30,
    ) -> None:
        self._nursery = nursery
        self._install = install
        self._node = find_node()
        #: the block's private directory: logs and the server's storage cache
        self.directory = directory
        self._keep_cache = keep_cache
        self._locks = locks
        self._lock_users = lock_users
        # three distinct ports (three free_port() calls once gave the mock and the server one port)
        ports = free_ports(3, _HOST)
        self.port: int = ports[0]
        #: the mock controller's serial port (TCP), which the server connects to
        self.serial_port: int = ports[1]
        #: the mock's HTTP control port (``locks.cjs``)
        self.control_port: int = ports[2]
        self.server_log: Path = directory / "server.log"
        self.mock_log: Path = directory / "mock.log"
        self.cache_dir: Path = directory / "cache"
        self._mock: Child | None = None
        self._server: Child | None = None
        #: server processes started so far
        self.server_starts: int = 0
        self._token = trio.lowlevel.current_trio_token()

    def __repr__(self) -> str:
        return f"<ZWaveJsServer {self.url} {'running' if self.running else 'stopped'}>"

    @property
    def url(self) -> str:
        """``ws://127.0.0.1:<port>``: the Z-Wave JS Server's websocket."""
        return f"ws://{_HOST}:{self.port}"

    @property
    def extra_locks(self) -> tuple[tuple[int, MockNode], ...]:
        """The extra mock locks of ``open_zwave_js_server(locks=N)``: ``(node id, kind)``,
        ids from 5 up, alternately a :attr:`MockNode.PLAIN` and a :attr:`MockNode.MASKING`
        lock (as those, but with ``lock_users`` user codes; slot 1 holds 1234 at start)."""
        kinds = (MockNode.PLAIN, MockNode.MASKING)
        return tuple((FIRST_EXTRA_NODE + i, kinds[i % 2]) for i in range(self._locks))

    @property
    def running(self) -> bool:
        """The server process runs (:meth:`kill_server` stops it; the mock lives on)."""
        return self._server is not None and self._server.state is ChildState.RUNNING

    @property
    def pids(self) -> tuple[int, ...]:
        """Process ids of the mock and of the server (if it runs), for tests."""
        return tuple(c.pid for c in (self._mock, self._server) if c is not None)

    def _check_run(self, what: str) -> None:
        # the controls talk to ports and work from any trio run; the processes belong to the
        # nursery of the block's own run
        if trio.lowlevel.current_trio_token() is not self._token:
            raise RuntimeError(
                f"{what}() belongs to the trio run of the open_zwave_js_server() block"
            )

    def _env(self) -> dict[str, str]:
        return {
            **os.environ,
            "ZWJS_DIR": str(self._install),
            "ZWJS_CONTROL_PORT": str(self.control_port),
            "ZWJS_CACHE_DIR": str(self.cache_dir),
            "ZWJS_BENCH_LOCKS": str(self._locks),
            "ZWJS_BENCH_USERS": str(self._lock_users),
        }

    async def _start(self, name: str, argv: list[str], log: Path) -> Child:
        run = partial(run_child, name, argv, cwd=self._install, env=self._env(), log=log)
        child: Child = await self._nursery.start(run)
        return child

    async def _end(self) -> None:
        # the server first: its clean shutdown talks to the mock
        for child in (self._server, self._mock):
            if child is not None:
                await child.end()

    async def _wait_for(self, child: Child, line: str, offset: int = 0) -> None:
        while line not in _read(child.log, offset):
            if child.state is not ChildState.RUNNING:
                raise ZWaveJsUnavailable(
                    f"the zwave-js {child.name} exited before it listened; its log "
                    f"{child.log} ends:\n{log_tail(child.log)}"
                )
            await trio.sleep(_POLL)

    async def _start_mock(self) -> None:
        modules = self._install / "node_modules"
        argv = [
            self._node,
            "-r",
            str(shipped_file("no-mdns.cjs")),  # the stock mock advertises itself over mDNS
            str(modules / "zwave-js" / "bin" / "mock-server.cjs"),
            "-i",
            _HOST,
            "-p",
            str(self.serial_port),
            "-c",
            str(shipped_file("locks.cjs")),
        ]
        self._mock = await self._start("mock", argv, self.mock_log)
        await self._wait_for(self._mock, "Control port listening")
        await self._wait_for(self._mock, "Server listening on tcp://")

    async def start_server(self) -> None:
        """Start the Z-Wave JS Server process on :attr:`port` and return once it listens
        (the driver is ready; nodes may still be interviewing: :meth:`wait_nodes_ready`).
        Without ``keep_cache`` its storage cache is wiped first: a fresh interview."""
        self._check_run("start_server")
        if self.running:
            raise RuntimeError(f"{self!r}: the server runs already")
        if not self._keep_cache:
            shutil.rmtree(self.cache_dir, ignore_errors=True)
        self.cache_dir.mkdir(exist_ok=True)
        argv = [
            self._node,
            str(self._install / "node_modules/@zwave-js/server/dist-esm/bin/server.js"),
            f"tcp://{_HOST}:{self.serial_port}",
            "--config",
            str(shipped_file("server-config.js")),
            "--host",
            _HOST,
            "--port",
            str(self.port),
            "--disable-dns-sd",  # no mDNS announcement: nothing leaves loopback
        ]
        with self.server_log.open("a") as log:
            log.write(f"==== trio_locksync: server start {self.server_starts + 1}\n")
            offset = log.tell()
        self._server = await self._start("server", argv, self.server_log)
        self.server_starts += 1
        await self._wait_for(self._server, "server listening", offset)

    async def kill_server(self, *, graceful: bool = False) -> None:
        """End the Z-Wave JS Server process (SIGKILL, as a crash; ``graceful``: SIGTERM, its
        clean shutdown) and wait until it is gone. The mock (and its locks' state) lives on;
        :meth:`start_server` starts a new server on the same port."""
        self._check_run("kill_server")
        if self._server is not None:
            await self._server.end(kill=not graceful)

    async def wait_nodes_ready(self, *, battery: bool = False) -> None:
        """Return once the driver has interviewed the mock locks: :attr:`MockNode.PLAIN`,
        :attr:`MockNode.MASKING` and the :attr:`extra_locks` ``ready``, and the sleeping
        :attr:`MockNode.BATTERY` known asleep — a battery lock is interviewed only when it
        wakes (as a real one), so by default it stays not ready. ``battery``: wake it (if
        needed) and wait until it is ``ready`` too (about 4 s more). :class:`ZWaveJsUnavailable`
        saying which nodes are missing after ``READY_TIMEOUT`` (60) s (wrap it in
        ``trio.fail_after`` to wait less)."""
        status = ["connecting"]
        extra = {node for node, _ in self.extra_locks}
        plain = frozenset({MockNode.PLAIN.value, MockNode.MASKING.value, *extra})
        with trio.move_on_after(READY_TIMEOUT) as waiting:
            if battery:
                async with trio.open_nursery() as nursery:
                    nursery.start_soon(self._wake_until_ready)
                    await wait_interviewed(
                        self.url, plain | {MockNode.BATTERY.value}, frozenset(), status
                    )
                    nursery.cancel_scope.cancel()
            else:
                await wait_interviewed(self.url, plain, frozenset({MockNode.BATTERY.value}), status)
        if waiting.cancelled_caught:
            raise ZWaveJsUnavailable(
                f"{self!r}: {status[0]} after {READY_TIMEOUT:g} s; the server log "
                f"{self.server_log} ends:\n{log_tail(self.server_log)}"
            )

    async def _wake_until_ready(self) -> None:
        # a wake-up the driver has not yet seen the node asleep for may be ignored: repeat
        while True:
            await self.wake_up(MockNode.BATTERY)
            await trio.sleep(10)

    async def _control(
        self, method: str, path: str, node: int, body: str = "", **query: object
    ) -> dict[str, Any]:
        return await control_request(
            self.control_port, method, path, {"node": int(node), **query}, body
        )

    async def keypad_unlock(self, node: int, user: int) -> None:
        """Someone unlocks at the keypad with user code ``user``: the mock door unlocks, the
        lock sends Access Control notification 6 (``parameters.userId``) and a Door Lock
        Operation Report."""
        await self._control("POST", "/keypad", node, action="unlock", user=user)

    async def keypad_lock(self, node: int, user: int) -> None:
        """Someone locks at the keypad (notification 5, userId ``user``; door locked)."""
        await self._control("POST", "/keypad", node, action="lock", user=user)

    async def program_code(self, node: int, slot: int, code: str) -> None:
        """A code entered at the keypad into ``slot``: the mock lock holds it, and sends an
        unsolicited User Code Report and notification 14 ("new user code added")."""
        await self._control("POST", "/program", node, body=code, slot=slot)

    async def wake_up(self, node: int) -> None:
        """The (battery) lock sends a Wake Up Notification."""
        await self._control("POST", "/wakeup", node)

    async def set_dead(self, node: int, dead: bool) -> None:
        """``dead``: the node stops answering the radio (no ACK, no reports), so the driver's
        commands to it fail and it marks the node dead. ``False``: it answers again and sends a
        Door Lock Operation Report (a real lock reports when it is back); the driver marks a
        dead node alive on any frame from it."""
        await self._control("POST", "/dead", node, dead=int(dead))

    async def lose_reads(self, node: int, count: int) -> None:
        """The next ``count`` User Code Gets to ``node`` are ACKed and never answered."""
        await self._control("POST", "/lose-reads", node, count=count)

    async def delete_code_later(self, node: int, slot: int, seconds: float) -> None:
        """zwave-js #9188: the next successful Set of ``slot`` (after the lock's success) is
        deleted ``seconds`` later — the mock slot becomes available and the lock sends
        notification 13 ("single user code deleted"), nothing else. One shot."""
        await self._control("POST", "/delete-later", node, slot=slot, seconds=seconds)

    async def slot(self, node: int, slot: int) -> tuple[int, str]:
        """``(userIdStatus, code)`` as the mock lock holds ``slot`` (ground truth; ``""`` when
        it holds no code)."""
        answer = await self._control("GET", "/slot", node, slot=slot)
        return int(answer["status"]), str(answer["code"])

    async def door(self, node: int) -> str:
        """``"locked"`` or ``"unlocked"``, as the mock lock's Door Lock state is."""
        return str((await self._control("GET", "/door", node))["door"])


def _read(log: Path, offset: int) -> str:
    with log.open("rb") as file:
        file.seek(offset)
        return file.read().decode(errors="replace")


@asynccontextmanager
async def open_zwave_js_server(
    *,
    cache_dir: Path | None = None,
    start_timeout: float = 90.0,
    keep_cache: bool = False,
    locks: int = 0,
    lock_users: int = 30,
) -> AsyncIterator[ZWaveJsServer]:
    """The real Z-Wave JS Server on zwave-js's mock controller with the mock locks of
    :class:`MockNode`, for the block; yields once the server listens (then
    :meth:`~ZWaveJsServer.wait_nodes_ready`). ``locks``: that many more mock locks (for
    benchmarks; :attr:`~ZWaveJsServer.extra_locks`), each with ``lock_users`` user codes.

    Installs the pinned versions first if needed (:func:`install_zwave_js`, ``cache_dir``; in
    a worker thread: a cancel waits for it). Everything is on free loopback ports (websocket,
    mock serial port, control port), mDNS is off in both processes, and the server's storage
    cache is a private temporary directory: wiped at every :meth:`~ZWaveJsServer.start_server`
    (a fresh interview), or kept across them with ``keep_cache`` (a restart from the cache: after
    ``kill_server(graceful=True)`` every interviewed node is ready at once; after a SIGKILL,
    only what the server had flushed). The processes belong to
    the block's nursery and are ended when it ends — normally, on an error or on a cancel:
    SIGTERM, SIGKILL after 3 s, always awaited. A process that exits on its own raises
    :class:`ZWaveJsUnavailable` with its log's end, as do node missing or older than 20, a
    failed install, or processes not listening within ``start_timeout`` seconds. ::

        async with open_zwave_js_server() as server:
            await server.wait_nodes_ready()
            async with open_zwave_js(server.url) as client: ...
    """
    require_trio("open_zwave_js_server()")
    if not (0 <= locks <= 200 and 1 <= lock_users <= 255):
        raise ValueError(f"locks must be 0..200 and lock_users 1..255, got {locks}, {lock_users}")
    install = await trio.to_thread.run_sync(install_zwave_js, cache_dir)
    with tempfile.TemporaryDirectory(prefix="trio-locksync-zwave-js-") as directory:
        async with trio.open_nursery() as nursery:
            server = ZWaveJsServer._create(
                nursery, install, Path(directory), keep_cache, locks, lock_users
            )
            try:
                with trio.move_on_after(start_timeout) as starting:
                    await server._start_mock()
                    await server.start_server()
                if starting.cancelled_caught:
                    raise ZWaveJsUnavailable(
                        f"the zwave-js mock and server did not listen within {start_timeout:g}"
                        f" s; logs: {log_tail(server.mock_log)}\n{log_tail(server.server_log)}"
                    )
                yield server
            finally:
                with trio.CancelScope(shield=True):
                    await server._end()  # SIGTERM, SIGKILL after 3 s; bounded
                nursery.cancel_scope.cancel()
