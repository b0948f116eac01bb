"""The demo's MQTT broker: one the user names with ``--mqtt HOST:PORT`` (used as it is, never
restarted), else one started by :func:`~trio_locksync.testing.open_mqtt_broker` — mosquitto if
it is installed, else amqtt (the ``demo`` extra) — in the run's scratch directory, stopped
when the block ends."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import final

import attrs
import trio

from ..mqtt import MqttProtocol
from ..testing import BrokerError, BrokerKind, MqttBroker, open_mqtt_broker

__all__ = ["DemoBroker", "open_demo_broker", "parse_address"]

_REACH_TIMEOUT = 15.0


@final
@attrs.frozen
class DemoBroker:
    """Where the broker is, what it is, and (if we started it) the process to restart."""

    host: str
    port: int
    #: "mosquitto", "amqtt" or "external"
    kind: str
    protocol: MqttProtocol
    started: MqttBroker | None = None

    @property
    def restartable(self) -> bool:
        return self.started is not None

    async def restart(self, down_for: float) -> None:
        """Stop the broker we started, stay down ``down_for`` seconds, start it again."""
        assert self.started is not None, "an external broker is not ours to restart"
        await self.started.restart(down_for)


def parse_address(text: str) -> tuple[str, int]:
    """``HOST:PORT`` (or ``HOST``: port 1883; ``[v6]:PORT``)."""
    host, sep, port = text.rpartition(":")
    if not sep or "]" in port:
        return text.strip("[]"), 1883
    if not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f"--mqtt wants HOST:PORT, got {text!r}")
    return host.strip("[]"), int(port)


@asynccontextmanager
async def open_demo_broker(
    kind: BrokerKind, scratch: Path, *, external: str | None = None
) -> AsyncIterator[DemoBroker]:
    """A broker for the block: ``external`` (HOST:PORT) as it is, else one we start."""
    if external is None:
        async with open_mqtt_broker(scratch, kind) as started:
            yield DemoBroker(
                started.host, started.port, started.kind.value, started.protocol, started
            )
        return
    host, port = parse_address(external)
    try:
        with trio.fail_after(_REACH_TIMEOUT):
            stream = await trio.open_tcp_stream(host, port)
    except (OSError, trio.TooSlowError) as exc:
        raise BrokerError(f"cannot reach the MQTT broker at {external}: {exc!r}") from None
    await stream.aclose()
    yield DemoBroker(host, port, "external", MqttProtocol.V5)
