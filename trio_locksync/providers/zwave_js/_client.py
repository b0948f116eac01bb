"""``open_zwave_js()``: one websocket to a Z-Wave JS Server, kept up by the core's reconnect
policy, with the nodes as its dumps and events say.

A nursery task runs one :class:`~._connection.Connection` at a time: connect, handshake
(``version`` → ``initialize`` → ``start_listening``, zwave_js.md §1.2), SYNCING while the dump
is applied, CONNECTED once it is, then events until the socket is lost. How the attempt ended
goes to :class:`~trio_locksync.core.ReconnectPolicy` (the same defaults as the event stream and
the MQTT bridge), whose decision the loop carries out. Every reconnect rebuilds the nodes from a
fresh dump: there is no resume (§1.2). Commands in flight when a socket is lost fail with
:class:`ZWaveJsConnectionLost`.
"""

from __future__ import annotations

import importlib.metadata
import logging
import ssl
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from typing import Any, final

import trio

from ...core import (
    AttemptOutcome,
    Backoff,
    ChangeFeed,
    NoPublicConstructor,
    ReconnectAction,
    ReconnectOptions,
    ReconnectPolicy,
    StatusHolder,
    Subscription,
    fail_after_as,
    open_service_nursery,
    open_socket,
    parse_target,
    redact_url,
    require_trio,
    websocket_handshake,
)
from ._connection import Connection
from ._counts import ClientCounts, ZWaveJsStatistics
from ._ending import attempt_ending
from ._errors import (
    ZWaveJsClosed,
    ZWaveJsCommandError,
    ZWaveJsRefused,
)
from ._events import DumpApplied, Event, NodeNews
from ._lock import ZWaveJsLock
from ._model import Nodes, ZWaveNode
from ._protocol import Command, CommandFailed
from ._status import TRANSITIONS, ZWaveJsStatus, ZWaveJsStatusChange

__all__ = ["ZWaveJsClient", "open_zwave_js"]

logger = logging.getLogger("trio_locksync.zwave_js")
_S = ZWaveJsStatus
#: node news each lock may fall behind before the oldest is dropped (they are hints)
NEWS_BACKLOG = 10_000


@final
class ZWaveJsClient(metaclass=NoPublicConstructor):
    """A connection to one Z-Wave JS Server for the duration of an :func:`open_zwave_js`
    block; use it from the trio thread that opened it."""

    _OPENED_BY = "open_zwave_js()"

    def __init__(
        self,
        url: str,
        options: ReconnectOptions,
        *,
        command_timeout: float,
        ping_interval: float,
        ping_timeout: float,
        max_message_size: int,
        ssl_context: ssl.SSLContext | None,
    ) -> None:
        self._target = parse_target(url)
        if ssl_context is not None and not self._target.tls:
            raise ValueError("ssl_context given for a ws:// URL; use wss:// for TLS")
        self._ssl_context = ssl_context
        self.url: str = redact_url(url)
        self._options = options
        self._command_timeout = command_timeout
        self._ping_interval = ping_interval
        self._ping_timeout = ping_timeout
        self._max_message_size = max_message_size
        self._policy = ReconnectPolicy(options)
        self._status = StatusHolder(
            "ZWaveJsClient",
            _S.DISCONNECTED,
            TRANSITIONS,
            change=ZWaveJsStatusChange,
            live=_S.CONNECTED,
            closed_error=self._closed_error,
        )
        self._nodes = Nodes()
        self._connection: Connection | None = None
        self._news = ChangeFeed[NodeNews](backlog=NEWS_BACKLOG)
        self._failure: ZWaveJsRefused | None = None
        self._nursery: trio.Nursery | None = None
        self._counts = ClientCounts()

    # -- public ------------------------------------------------------------------------------

    @property
    def status(self) -> ZWaveJsStatus:
        """Where the connection is."""
        return self._status.current

    @property
    def stale_since(self) -> float | None:
        """None while CONNECTED; else the trio time since which the nodes are not current."""
        return self._status.stale_since

    @property
    def failure(self) -> ZWaveJsRefused | None:
        """Why the client gave up (status REFUSED), else None."""
        return self._failure

    @property
    def schema_version(self) -> int:
        """The schema of the current connection (0 before the first)."""
        return 0 if self._connection is None else self._connection.schema

    def status_changes(self) -> Subscription[ZWaveJsStatusChange]:
        """Every status change from now on (each iterator keeps 1,000 unread)."""
        return self._status.changes()

    async def wait_status(self, *statuses: ZWaveJsStatus) -> ZWaveJsStatus:
        """Wait until the status is one of ``statuses``; raises :class:`ZWaveJsClosed` once the
        block ended and :class:`ZWaveJsRefused` once the client gave up."""
        return await self._status.wait(*statuses)

    def node(self, node_id: int) -> ZWaveNode | None:
        """The node ``node_id`` as the server last told us: a frozen snapshot (a later event
        makes a new one; this one never changes), or None when the last dump has no such node
        (or no dump came yet). Built from the last state dump and moved by live events; while
        the client is not CONNECTED it is what the last connection said (see
        :attr:`stale_since`), and every reconnect replaces it from a fresh dump. A node that is
        not ``ready`` has no values yet (unknown, not empty). Never blocks, never sends."""
        return self._nodes.get(node_id)

    def nodes(self) -> list[ZWaveNode]:
        """Every node of the last dump, as :meth:`node` gives each."""
        return self._nodes.all()

    @property
    def all_nodes_ready(self) -> bool:
        """The driver said every node finished its interview."""
        return self._nodes.all_ready

    def statistics(self) -> ZWaveJsStatistics:
        """The client's counters since the block was entered (see
        :class:`ZWaveJsStatistics`). Never blocks."""
        return self._counts.snapshot(status=self._status.current)

    async def command(self, name: str, /, **args: object) -> dict[str, object]:
        """Send the command ``name`` with ``args`` (the server's JSON fields, e.g.
        ``nodeId=2``) once CONNECTED (waiting for it) and return its ``result`` object, all
        within ``command_timeout`` (``trio.TooSlowError``). Raises
        :class:`ZWaveJsCommandError` (``success: false``), :class:`ZWaveJsConnectionLost`
        (lost before the result: it may or may not have been carried out),
        :class:`ZWaveJsClosed` after the block."""
        with trio.fail_after(self._command_timeout):
            return await self._request(Command(name, dict(args)))

    async def _request(self, command: Command) -> dict[str, Any]:
        """:meth:`command` without its timeout (the caller bounds it)."""
        if self._status.closed:
            raise ZWaveJsClosed(f"zwave-js client {self.url} is closed; {command.name} not sent")
        if self._status.current is not _S.CONNECTED:
            await self._status.wait(_S.CONNECTED)
        connection = self._connection
        assert connection is not None
        self._counts.commands += 1
        result = await connection.send(command)
        if isinstance(result, CommandFailed):
            self._counts.command_errors += 1
            raise ZWaveJsCommandError(
                command.name, result.error_code, result.zwave_code, result.message
            )
        return result.result

    def lock(
        self,
        node_id: int,
        *,
        slots: Iterable[int] | None = None,
        operation_timeout: float = 30.0,
    ) -> ZWaveJsLock:
        """The lock at ``node_id`` as a :class:`~trio_locksync.LockProvider` and
        :class:`~trio_locksync.credentials.LockEventProvider` for the rest of the block (see
        :class:`ZWaveJsLock` for ``slots`` and ``operation_timeout``). It follows the node's
        events from this call on; its task runs in the client's nursery. Raises ValueError for
        a bad argument, :class:`ZWaveJsClosed` outside the block."""
        if self._nursery is None or self._status.closed:
            raise ZWaveJsClosed(f"zwave-js client {self.url} is not running")
        lock = ZWaveJsLock._create(self, node_id, slots=slots, operation_timeout=operation_timeout)
        self._nursery.start_soon(lock._run)
        return lock

    def __repr__(self) -> str:
        return f"<ZWaveJsClient {self.url} {self._status.current}>"

    # -- what locks hook into ----------------------------------------------------------------

    @property
    def _connections(self) -> int:
        """Connections made so far (0: still the first attempt)."""
        return self._counts.connections

    @property
    def _dumps(self) -> int:
        """State dumps applied so far (0: the nodes are not known yet)."""
        return self._counts.dumps

    def _subscribe(self) -> Subscription[NodeNews]:
        """Every live event from now on, and a :class:`DumpApplied` after every dump, in the
        order the reader saw them (the node model is already moved when one is read)."""
        return self._news.subscribe()

    def _closed_error(self, statuses: tuple[ZWaveJsStatus, ...]) -> ZWaveJsClosed:
        waiting = " or ".join(s.name for s in statuses)
        return ZWaveJsClosed(f"zwave-js client {self.url} is closed; it will never be {waiting}")

    # -- the loop ----------------------------------------------------------------------------

    def _move(self, status: ZWaveJsStatus, detail: str) -> None:
        change = self._status.move(status, detail, connection=self._counts.connections)
        if change is not None:
            level = logging.WARNING if status is _S.REFUSED else logging.DEBUG
            logger.log(
                level, "zwave-js %s: %s -> %s (%s)", self.url, change.previous, status, detail
            )

    async def _run(self, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        task_status.started()
        while True:
            self._move(_S.CONNECTING, f"connecting to {self.url}")
            outcome, detail = await self._attempt()
            decision = self._policy.ended(trio.current_time(), outcome, detail)
            if decision.action is ReconnectAction.GIVE_UP:
                self._failure = ZWaveJsRefused(f"zwave-js server {self.url}: {decision.detail}")
                self._move(_S.REFUSED, decision.detail)
                self._status.fail(lambda: ZWaveJsRefused(str(self._failure)))
                return
            self._move(_S.RECONNECTING, f"{decision.detail}; retry in {decision.delay:.2f} s")
            await trio.sleep(decision.delay)

    async def _attempt(self) -> tuple[AttemptOutcome, str]:
        """One socket, from connect to its loss; never raises ``Exception``."""
        self._counts.attempts += 1
        transport: trio.abc.Stream | None = None
        try:
            async with open_service_nursery() as ws_nursery:
                try:
                    if self._target.tls and self._ssl_context is None:
                        self._ssl_context = ssl.create_default_context()  # once: it is slow
                    with fail_after_as(self._options.connect_timeout, "connection"):
                        transport = await open_socket(self._target, self._ssl_context)
                    with fail_after_as(self._options.handshake_timeout, "handshake"):
                        ws = await websocket_handshake(
                            ws_nursery,
                            transport,
                            self._target,
                            subprotocols=(),
                            headers=(),
                            max_message_size=self._max_message_size,
                        )
                        self._policy.answered()
                        connection = Connection(
                            self._counts.connections + 1,
                            ws,
                            on_dump=self._on_dump,
                            on_event=self._on_event,
                            ping_interval=self._ping_interval,
                            ping_timeout=self._ping_timeout,
                            counts=self._counts,
                        )
                        await connection.handshake(_agent())
                    self._counts.connections += 1
                    self._connection = connection
                    self._move(_S.SYNCING, f"connection {connection.number}: reading the dump")
                    lost = await connection.serve()
                    return AttemptOutcome.LOST, lost
                finally:
                    ws_nursery.cancel_scope.cancel()
        except Exception as exc:
            ending = attempt_ending(exc)
            if ending is None:
                raise
            return ending
        finally:
            if transport is not None:
                await trio.aclose_forcefully(transport)

    def _on_dump(self, state: dict[str, Any]) -> None:
        self._nodes.load(state)
        self._counts.dumps += 1
        self._policy.live(trio.current_time())
        self._move(_S.CONNECTED, f"dump applied: {len(self._nodes)} nodes")
        self._news.publish(DumpApplied(self._counts.connections))

    def _on_event(self, event: Event) -> None:
        self._nodes.apply(event)
        self._news.publish(event)

    def _close(self) -> None:
        if self._connection is not None:
            self._connection.lose("client closed")
        self._news.end()
        self._status.close(_S.DISCONNECTED, "block exited", connection=self._counts.connections)


def _agent() -> str:
    """Our version for the server's user agent (from the installed distribution: importing the
    package's top level from here would be an import running back up)."""
    try:
        return importlib.metadata.version("trio-locksync")
    except importlib.metadata.PackageNotFoundError:  # run from a checkout, not installed
        return "unknown"


@asynccontextmanager
async def open_zwave_js(
    url: str,
    *,
    backoff: Backoff | None = None,
    stable_after: float = 10.0,
    connect_timeout: float = 10.0,
    handshake_timeout: float = 30.0,
    command_timeout: float = 60.0,
    ping_interval: float = 20.0,
    ping_timeout: float = 20.0,
    max_message_size: int = 64 * 2**20,
    ssl_context: ssl.SSLContext | None = None,
) -> AsyncIterator[ZWaveJsClient]:
    """Keep a connection to the Z-Wave JS Server at ``url`` (``ws://host:3000``) for the
    duration of the block.

    * Handshake: ``version`` → ``initialize`` at ``min(server max, 50)`` → ``start_listening``
      (a server whose schema range does not reach 48..50 is REFUSED: no more attempts).
    * SYNCING while the state dump is applied, CONNECTED once it is; every reconnect rebuilds
      the nodes from a fresh dump (a replay: nothing in it is an event).
    * Reconnects wait ``backoff`` delays (default ``RECONNECT_BACKOFF``), which start over only
      after a connection stayed CONNECTED ``stable_after`` seconds — the core policy, as the
      event stream and the MQTT bridge.
    * An attempt gets ``connect_timeout`` seconds to open the socket, then
      ``handshake_timeout`` for the websocket handshake and the server's ``version`` and
      ``initialize`` answers (30: a server busy with other clients answers in turn); the
      ``start_listening`` dump is not under it.
    * A ``wss://`` URL connects over TLS with ``ssl_context`` (default: the system's CAs); a
      certificate it does not trust is final (REFUSED: retrying cannot fix it).
    * The server never pings: we ping every ``ping_interval`` seconds and drop the socket when
      no pong comes within ``ping_timeout``. ``max_message_size`` fits real dumps (64 MiB).
    * Commands wait for CONNECTED and their result within ``command_timeout``; those in flight
      when a socket is lost raise :class:`ZWaveJsConnectionLost`.
    """
    require_trio("open_zwave_js()")
    for name, value in (
        ("command_timeout", command_timeout),
        ("ping_interval", ping_interval),
        ("ping_timeout", ping_timeout),
    ):
        if not value > 0:
            raise ValueError(f"{name} must be a positive number of seconds, got {value!r}")
    if max_message_size < 1:
        raise ValueError(f"max_message_size must be >= 1, got {max_message_size!r}")
    options = ReconnectOptions(
        backoff=backoff,
        stable_after=stable_after,
        connect_timeout=connect_timeout,
        handshake_timeout=handshake_timeout,
    )
    client = ZWaveJsClient._create(
        url,
        options,
        command_timeout=command_timeout,
        ping_interval=ping_interval,
        ping_timeout=ping_timeout,
        max_message_size=max_message_size,
        ssl_context=ssl_context,
    )
    try:
        async with open_service_nursery() as nursery:
            client._nursery = nursery
            nursery.start_soon(client._run)
            try:
                yield client
            finally:
                nursery.cancel_scope.cancel()
    finally:
        client._close()
