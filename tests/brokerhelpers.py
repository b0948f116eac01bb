"""The tests' side of the broker launcher (``trio_locksync.testing.MosquittoBroker``): the skip
marker for tests that need mosquitto, and the names tests import from here.

CI installs mosquitto with apt; where it cannot be found the tests that need it skip, saying so.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import pytest
import trio

from trio_locksync import Backoff, Jitter, MqttBridge, MqttStatus, open_mqtt_bridge
from trio_locksync.testing import MosquittoBroker, find_mosquitto, find_mosquitto_passwd
from trio_locksync.testing._broker import free_port

__all__ = [
    "FAST",
    "MOSQUITTO",
    "MOSQUITTO_PASSWD",
    "Broker",
    "connected",
    "free_port",
    "needs_mosquitto",
]

MOSQUITTO = find_mosquitto()
MOSQUITTO_PASSWD = find_mosquitto_passwd()

needs_mosquitto = pytest.mark.skipif(
    MOSQUITTO is None, reason="mosquitto is not installed (CI installs it with apt-get)"
)

#: one mosquitto process: ``Broker(tmp_path, persistence=..., passwords=..., tls=...)``, then
#: ``start``/``stop``/``kill``/``restart`` on the same port, or ``with Broker(...) as broker``
Broker = MosquittoBroker

#: reconnect delays for tests: 50 ms doubling to 0.5 s
FAST = Backoff(initial=0.05, maximum=0.5, jitter=Jitter.NONE)


@asynccontextmanager
async def connected(port: int, **options: Any) -> AsyncIterator[MqttBridge]:
    """A bridge to the broker on 127.0.0.1:``port`` (``FAST`` reconnects unless ``backoff``
    is given), CONNECTED within 10 s."""
    options.setdefault("backoff", FAST)
    async with open_mqtt_bridge("127.0.0.1", port, **options) as bridge:
        with trio.fail_after(10):
            await bridge.wait_status(MqttStatus.CONNECTED)
        yield bridge
