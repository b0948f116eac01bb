"""An MQTT broker owned by an ``async with`` block (the demo's, and trio tests'): mosquitto if
it is installed, else the pure-Python amqtt broker (the ``demo`` extra; MQTT 3.1.1 only), each
started by the one launcher of :mod:`._broker` on a free loopback port — or one someone else
runs (``external=HOST:PORT``), used as it is and never restarted."""

from __future__ import annotations

import enum
import errno
import importlib.util
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import final

import trio

from ..core import NoPublicConstructor, require_trio
from ..mqtt import MqttProtocol
from ._broker import (
    START_TIMEOUT,
    BrokerError,
    Launcher,
    MosquittoBroker,
    amqtt_launcher,
    find_mosquitto,
)

__all__ = ["BrokerKind", "MqttBroker", "open_mqtt_broker", "parse_address"]

_AMQTT_HINT = "pip install 'trio-locksync[demo]'"


class BrokerKind(enum.Enum):
    """Which broker :func:`open_mqtt_broker` starts (or found: ``MqttBroker.kind``)."""

    #: mosquitto if it is installed, else amqtt
    AUTO = "auto"
    MOSQUITTO = "mosquitto"
    #: pure Python, MQTT 3.1.1 only (the ``demo`` extra)
    AMQTT = "amqtt"
    #: one someone else runs (``external=``): used as it is, never restarted
    EXTERNAL = "external"


def _amqtt_installed() -> bool:
    return importlib.util.find_spec("amqtt") is not None


def parse_address(text: str) -> tuple[str, int]:
    """``HOST:PORT`` (or ``HOST``: port 1883; ``[v6]:PORT``); ValueError if the port is not
    one (its message names no caller's parameter or flag: a caller says which it was)."""
    host, sep, port = text.rpartition(":")
    if not sep or "]" in port:
        return text.strip("[]"), 1883
    if not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f"not an MQTT broker address HOST:PORT (port 1-65535): {text!r}")
    return host.strip("[]"), int(port)


@final
class MqttBroker(metaclass=NoPublicConstructor):
    """The broker of an :func:`open_mqtt_broker` block: where it listens, what it is and
    speaks, and — if the block started it — :meth:`restart` on the same port (a broker
    outage, on purpose)."""

    _OPENED_BY = "open_mqtt_broker()"

    def __init__(self, kind: BrokerKind, host: str, port: int, launcher: Launcher | None) -> None:
        self.kind = kind
        self.host = host
        self.port = port
        self._launcher = launcher
        #: restarts so far
        self.restarts: int = 0

    def __repr__(self) -> str:
        state = "running" if self.running else "stopped"
        return f"<MqttBroker {self.kind.value} on {self.host}:{self.port} {state}>"

    @property
    def protocol(self) -> MqttProtocol:
        """The MQTT version its clients should speak (amqtt: 3.1.1 only)."""
        return MqttProtocol.V311 if self.kind is BrokerKind.AMQTT else MqttProtocol.V5

    @property
    def restartable(self) -> bool:
        """The block started it (an external broker is not ours to restart)."""
        return self._launcher is not None

    @property
    def running(self) -> bool:
        """Ours and running (an external broker: always False)."""
        return self._launcher is not None and self._launcher.running

    @property
    def log(self) -> Path | None:
        """Where the broker's own output goes (None: an external one)."""
        return None if self._launcher is None else self._launcher.log

    async def restart(self, down_for: float = 0.0) -> None:
        """Stop it, stay down ``down_for`` seconds, start it again on the same port;
        RuntimeError for an external broker."""
        launcher = self._launcher
        if launcher is None:
            raise RuntimeError(f"{self!r} is not ours to restart")
        await _stop(launcher)
        await trio.sleep(down_for)
        try:
            await trio.to_thread.run_sync(launcher.start)
        except OSError as exc:
            raise _start_failed(launcher.log.parent, exc) from exc
        self.restarts += 1


def _start_failed(directory: str | os.PathLike[str], exc: OSError) -> BrokerError:
    name = errno.errorcode.get(exc.errno, type(exc).__name__) if exc.errno else type(exc).__name__
    at = f" ({os.fsdecode(exc.filename)})" if isinstance(exc.filename, (str, bytes)) else ""
    return BrokerError(
        f"cannot start an MQTT broker with its files in {os.fspath(directory)}: "
        f"{exc.strerror or type(exc).__name__} [{name}]{at}; nothing is running"
    )


async def _stop(launcher: Launcher) -> None:
    with trio.CancelScope(shield=True):  # always ends: SIGKILL after 10 s
        await trio.to_thread.run_sync(launcher.stop)


async def _reach(host: str, port: int) -> None:
    try:
        stream = await trio.open_tcp_stream(host, port)
    except OSError as exc:
        raise BrokerError(f"cannot reach the MQTT broker at {host}:{port}: {exc!r}") from None
    await stream.aclose()


def _launcher(directory: Path, kind: BrokerKind, persistence: bool, timeout: float) -> Launcher:
    if kind is BrokerKind.MOSQUITTO or (kind is BrokerKind.AUTO and find_mosquitto()):
        return MosquittoBroker(  # BrokerError if it is not installed
            directory, persistence=persistence, start_timeout=timeout, own_session=True
        )
    if _amqtt_installed():
        return amqtt_launcher(directory, timeout)
    if kind is BrokerKind.AMQTT:
        raise BrokerError(f"amqtt is not installed ({_AMQTT_HINT})")
    raise BrokerError(
        "no MQTT broker to start: install mosquitto (apt-get install mosquitto) or amqtt "
        f"({_AMQTT_HINT})"
    )


@asynccontextmanager
async def open_mqtt_broker(
    directory: str | os.PathLike[str],
    kind: BrokerKind = BrokerKind.AUTO,
    *,
    persistence: bool = True,
    start_timeout: float = START_TIMEOUT,
    external: str | None = None,
) -> AsyncIterator[MqttBroker]:
    """Start a broker on a free loopback port, its files in ``directory``, for the block;
    leaving the block stops it (shielded: no process is left behind).

    ``kind`` AUTO is mosquitto if :func:`find_mosquitto` finds it, else amqtt. A mosquitto is
    configured as :class:`MosquittoBroker` does (``persistence``: keep its database across
    :meth:`MqttBroker.restart`); amqtt, imported only in its own process, speaks MQTT 3.1.1
    (see :attr:`MqttBroker.protocol`) and keeps nothing. Each runs in its own process group
    (a Ctrl-C at the terminal is the block's owner's to handle). ``external`` (``HOST:PORT``,
    see :func:`parse_address`): start nothing, check that it answers within ``start_timeout``
    and use it as it is (kind EXTERNAL, MQTT 5, never restarted; ValueError at once if it is
    not such an address). Raises :class:`BrokerError`
    if the broker asked for is not installed, its files cannot be written in ``directory`` (the
    OS error chained), it does not start or cannot be reached. Starting
    runs in a worker thread: a cancel waits for it (at most ``start_timeout``). ::

        async with open_mqtt_broker(tmp_path) as broker:
            async with open_mqtt_bridge(broker.host, broker.port, protocol=broker.protocol):
                ...
    """
    require_trio("open_mqtt_broker()")
    if external is not None:
        try:
            host, port = parse_address(external)
        except ValueError:
            raise ValueError(f'external= wants "HOST:PORT", got {external!r}') from None
        with trio.move_on_after(start_timeout) as waiting:
            await _reach(host, port)
        if waiting.cancelled_caught:
            raise BrokerError(
                f"the MQTT broker at {external} did not answer within {start_timeout:g} s"
            )
        yield MqttBroker._create(BrokerKind.EXTERNAL, host, port, None)
        return
    try:
        launcher = _launcher(Path(directory), kind, persistence, start_timeout)
        resolved = BrokerKind.AMQTT if launcher.name == "amqtt" else BrokerKind.MOSQUITTO
        await trio.to_thread.run_sync(launcher.start)
    except OSError as exc:  # its files could not be written, or the program not run
        raise _start_failed(directory, exc) from exc
    try:
        yield MqttBroker._create(resolved, launcher.host, launcher.port, launcher)
    finally:
        await _stop(launcher)
