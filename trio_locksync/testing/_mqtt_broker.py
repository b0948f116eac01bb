"""An MQTT broker owned by an ``async with`` block (the demo's, and trio tests'): mosquitto if it
is installed (as :class:`MosquittoBroker` configures it), else the pure-Python amqtt broker
(the ``demo`` extra; MQTT 3.1.1 only), each a child process on a free loopback port."""

from __future__ import annotations

import enum
import importlib.util
import os
import signal
import subprocess
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import final

import trio

from ..core import NoPublicConstructor
from ..mqtt import MqttProtocol
from ._broker import (
    START_TIMEOUT,
    BrokerError,
    MosquittoBroker,
    find_mosquitto,
    free_port,
    log_tail,
)

__all__ = ["BrokerKind", "MqttBroker", "open_mqtt_broker"]

_AMQTT_HINT = "pip install 'trio-locksync[demo]'"


class BrokerKind(enum.Enum):
    """Which broker :func:`open_mqtt_broker` starts."""

    #: mosquitto if it is installed, else amqtt
    AUTO = "auto"
    MOSQUITTO = "mosquitto"
    #: pure Python, MQTT 3.1.1 only (the ``demo`` extra)
    AMQTT = "amqtt"


def _amqtt_installed() -> bool:
    return importlib.util.find_spec("amqtt") is not None


def _amqtt_command(directory: Path, host: str, port: int) -> list[str]:
    config = directory / "amqtt.yaml"
    config.write_text(
        "---\nlisteners:\n  default:\n    type: tcp\n"
        f"    bind: {host}:{port}\n"
        "plugins:\n  amqtt.plugins.authentication.AnonymousAuthPlugin:\n"
        "    allow_anonymous: true\n"
    )
    return [sys.executable, "-m", "amqtt.scripts.broker_script", "-c", str(config)]


@final
class MqttBroker(metaclass=NoPublicConstructor):
    """A broker process made by :func:`open_mqtt_broker`: where it listens, what it speaks,
    and :meth:`restart` on the same port (a broker outage, on purpose)."""

    _OPENED_BY = "open_mqtt_broker()"

    def __init__(
        self,
        kind: BrokerKind,
        command: list[str],
        *,
        host: str,
        port: int,
        log: Path,
        start_timeout: float,
    ) -> None:
        self.kind = kind
        self.host = host
        self.port = port
        #: where the broker's own output goes
        self.log = log
        self._command = command
        self._start_timeout = start_timeout
        self._process: trio.Process | None = None
        #: restarts so far
        self.restarts = 0

    def __repr__(self) -> str:
        state = "running" if self.running else "stopped"
        return f"<MqttBroker {self.kind.value} on {self.host}:{self.port} {state}>"

    @property
    def protocol(self) -> MqttProtocol:
        """The MQTT version its clients should speak (amqtt: 3.1.1 only)."""
        return MqttProtocol.V311 if self.kind is BrokerKind.AMQTT else MqttProtocol.V5

    @property
    def running(self) -> bool:
        return self._process is not None

    async def start(self) -> None:
        """Start it and return once it accepts connections; :class:`BrokerError` if it exits
        or does not listen within the start timeout (it is then stopped)."""
        if self._process is not None:
            raise RuntimeError(f"{self!r} is running already")
        name = self.kind.value
        with self.log.open("ab") as log:
            self._process = await trio.lowlevel.open_process(
                self._command,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=log,
                # its own process group: a Ctrl-C at the terminal is the owner's to handle
                start_new_session=True,
            )
        with trio.move_on_after(self._start_timeout):
            while True:
                if self._process.poll() is not None:
                    self._process = None
                    raise BrokerError(f"{name} exited at start: {log_tail(self.log)}")
                try:
                    stream = await trio.open_tcp_stream(self.host, self.port)
                except OSError:
                    await trio.sleep(0.05)
                    continue
                await stream.aclose()
                return
        await self.stop()
        raise BrokerError(
            f"{name} did not listen on {self.host}:{self.port} within "
            f"{self._start_timeout:g} s; see {self.log}"
        )

    async def stop(self) -> None:
        """Stop it (SIGTERM, SIGKILL after 5 s) and wait; shielded, so it always ends."""
        process, self._process = self._process, None
        if process is None:
            return
        with trio.CancelScope(shield=True):
            if process.returncode is None:
                process.send_signal(signal.SIGTERM)
            with trio.move_on_after(5):
                await process.wait()
                return
            process.kill()
            await process.wait()

    async def restart(self, down_for: float = 0.0) -> None:
        """Stop it, stay down ``down_for`` seconds, start it again on the same port."""
        await self.stop()
        await trio.sleep(down_for)
        await self.start()
        self.restarts += 1


@asynccontextmanager
async def open_mqtt_broker(
    directory: str | os.PathLike[str],
    kind: BrokerKind = BrokerKind.AUTO,
    *,
    persistence: bool = True,
    start_timeout: float = START_TIMEOUT,
) -> AsyncIterator[MqttBroker]:
    """Start a broker on a free loopback port, its files in ``directory``, for the block;
    leaving the block stops it (shielded: no process is left behind).

    ``kind`` AUTO is mosquitto if :func:`find_mosquitto` finds it, else amqtt. A mosquitto is
    configured as :class:`MosquittoBroker` does (``persistence``: keep its database across
    :meth:`MqttBroker.restart`); amqtt, imported only in its own process, speaks MQTT 3.1.1
    (see :attr:`MqttBroker.protocol`) and keeps nothing. Raises :class:`BrokerError` if the
    broker asked for is not installed or does not start. ::

        async with open_mqtt_broker(tmp_path) as broker:
            async with open_mqtt_bridge(broker.host, broker.port, protocol=broker.protocol):
                ...
    """
    directory = Path(directory)
    host = "127.0.0.1"
    if kind is BrokerKind.MOSQUITTO or (kind is BrokerKind.AUTO and find_mosquitto()):
        mosquitto = MosquittoBroker(directory, persistence=persistence)  # BrokerError if absent
        broker = MqttBroker._create(
            BrokerKind.MOSQUITTO,
            mosquitto.command,
            host=host,
            port=mosquitto.port,
            log=mosquitto.log,
            start_timeout=start_timeout,
        )
    elif _amqtt_installed():
        port = free_port(host)
        broker = MqttBroker._create(
            BrokerKind.AMQTT,
            _amqtt_command(directory, host, port),
            host=host,
            port=port,
            log=directory / "amqtt.log",
            start_timeout=start_timeout,
        )
    elif kind is BrokerKind.AMQTT:
        raise BrokerError(f"amqtt is not installed ({_AMQTT_HINT})")
    else:
        raise BrokerError(
            "no MQTT broker to start: install mosquitto (apt-get install mosquitto) or amqtt "
            f"({_AMQTT_HINT})"
        )
    await broker.start()
    try:
        yield broker
    finally:
        await broker.stop()
