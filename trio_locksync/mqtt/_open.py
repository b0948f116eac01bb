"""``open_mqtt_bridge()``: the options, checked at the call, and the nursery that owns the
bridge's manager task (and through it paho's worker thread)."""

from __future__ import annotations

import secrets
import ssl
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from ..core import (
    RECONNECT_BACKOFF,
    Backoff,
    Overflow,
    ReconnectOptions,
    open_service_nursery,
    require_trio,
)
from ._bridge import MqttBridge
from ._models import MqttProtocol, MqttWill
from ._settings import BridgeSettings, SessionSettings, check_buffer_size

__all__ = ["DEFAULT_BACKOFF", "open_mqtt_bridge"]

#: The reconnect delays when ``backoff`` is not given, the event stream's: the core's
#: ``RECONNECT_BACKOFF`` (the storm benchmark's choice, ``benchmarks/storm_bench.py``).
DEFAULT_BACKOFF = RECONNECT_BACKOFF


@asynccontextmanager
async def open_mqtt_bridge(
    host: str,
    port: int = 1883,
    *,
    client_id: str | None = None,
    username: str | None = None,
    password: str | None = None,
    tls: ssl.SSLContext | bool | None = None,
    keepalive: int = 60,
    backoff: Backoff | None = None,
    stable_after: float = 10.0,
    protocol: MqttProtocol = MqttProtocol.V5,
    session_expiry: int = 3600,
    buffer_size: int = 1000,
    receive_maximum: int | None = None,
    overflow: Overflow = Overflow.DROP_OLDEST,
    will: MqttWill | None = None,
    connect_timeout: float = 10.0,
    handshake_timeout: float = 30.0,
) -> AsyncIterator[MqttBridge]:
    """Keep a connection to the MQTT broker at ``host:port`` for the duration of the block.

    paho-mqtt's network loop runs in a worker thread started by a task of the block's nursery
    (``trio.to_thread``; never ``loop_start()``); its callbacks reach trio only through trio's
    thread bridge. Leaving the block — normally, by an error or cancelled — disconnects and
    waits for that thread: none outlives the block.

    * ``client_id``: fixed for the bridge's lifetime (generated if None); with a fixed id the
      broker's session — subscriptions and unacknowledged QoS 1 messages — also survives a
      restart of the process. Sessions are kept with ``clean_start=False`` and
      ``session_expiry`` seconds of expiry (MQTT 5).
    * ``username``/``password``; ``tls``: None or False for plain TCP, True for TLS with the
      system's CAs, or an ``ssl.SSLContext`` (certificates are verified unless the context
      says otherwise). TLS setup and the blocking ``connect()`` run in the worker thread.
    * Reconnects wait ``backoff`` delays (default ``RECONNECT_BACKOFF``: the first 1 to 3 s,
      each next one 1.35 to 1.65 times the last, at most 60 s); the delays start over
      only after a connection stayed up ``stable_after`` seconds (default 10), never at CONNACK.
      Both defaults come from the storm benchmark (``benchmarks/storm_bench.py``). The socket
      (TCP, and TLS: paho's ``connect()`` does both) must be open within ``connect_timeout``
      (10), the CONNACK come within ``handshake_timeout`` (30) after that: a broker busy with
      a reconnect storm answers in turn. paho's keepalive does not cut that wait short.
    * Refusals retrying cannot fix (bad credentials, not authorised, an untrusted
      certificate) are retried once, then the status is REFUSED and waiting calls raise
      :class:`MqttRefused`; the block itself goes on (``bridge.failure`` says why).
    * ``buffer_size`` bounds each subscription's buffer (the default of ``subscribe()``'s own);
      QoS 0 overflow follows ``overflow`` (dropped messages are counted).
    * ``receive_maximum`` (1..65535; default: ``buffer_size``): the QoS 1 messages received and
      not yet acknowledged the broker may send. With MQTT 5 it is sent as the ReceiveMaximum, so
      the broker holds back QoS 1 messages the consumers have not taken; with either version,
      paho's thread stops reading once that many QoS 1 messages wait to be taken (briefly, then
      for good past 4 times as many: the memory bound).
    * ``will``: the last will the broker publishes if the bridge vanishes without a DISCONNECT.

    Credentials and payloads are never logged.
    """
    require_trio("open_mqtt_bridge()")
    check_buffer_size(buffer_size)  # first: it is receive_maximum's default
    if client_id is None:
        client_id = f"trio-locksync-{secrets.token_hex(6)}"
    settings = BridgeSettings(
        session=SessionSettings(
            host=host,
            port=port,
            client_id=client_id,
            protocol=protocol,
            keepalive=keepalive,
            username=username,
            password=password,
            tls=tls,
            will=will,
            session_expiry=session_expiry,
            receive_maximum=buffer_size if receive_maximum is None else receive_maximum,
        ),
        reconnect=ReconnectOptions(
            backoff=backoff,
            stable_after=stable_after,
            connect_timeout=connect_timeout,
            handshake_timeout=handshake_timeout,
        ),
        buffer_size=buffer_size,
        overflow=overflow,
    )
    bridge = MqttBridge._create(settings)
    try:
        async with open_service_nursery() as nursery:
            nursery.start_soon(bridge._run)
            nursery.start_soon(bridge._leave)
            try:
                yield bridge
            finally:
                nursery.cancel_scope.cancel()
    finally:
        bridge._close()
