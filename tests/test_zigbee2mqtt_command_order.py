"""The simulated Zigbee2MQTT carries out a device's commands in the order they arrived, ``set``
and ``get`` alike — as Zigbee2MQTT 2.12.1 (6835cbf5) does: one subscription to
``zigbee2mqtt/#`` (``lib/mqtt.ts:184``), each message handed on as it comes
(``lib/mqtt.ts:187-192``, ``eventBus.emitMQTTMessage``), and ``publish.ts:93`` awaiting nothing
before the converter sends the command (``publish.ts:246`` set, ``:273`` get).

The bug this pins ("slot written twice", issue 23): the simulator followed ``<device>/set`` and
``<device>/get`` with two subscriptions, each drained by a task of its own. A set and the
engine's read-back ``get`` right after it that reached the simulator's MQTT bridge in one drain
woke both tasks in one scheduler batch, whose order trio draws at random — so half the time the
``get`` was carried out first and answered with the slot still empty. The engine, its write not
confirmed, waited for ``pending_ttl`` and wrote the slot again
(``test_stale_cached_users_cause_no_rewrite`` failed so, 2 of 16 runs on Python 3.13).
"""

from __future__ import annotations

import json
import time

import paho.mqtt.publish

from .brokerhelpers import Broker, needs_mosquitto
from .test_zigbee2mqtt_simulator_shapes import BASE, NAME, scene

pytestmark = needs_mosquitto

PAIRS = 20


def pin_of(user: int) -> str:
    return f"90{user:02d}31"


async def test_a_get_arriving_with_the_set_before_it_is_carried_out_after_it(
    broker: Broker,
) -> None:
    """Twenty ``set``/``get`` pairs for users 1-20, published in one go while this (the trio)
    thread is held, so that the simulator's bridge takes them all in one drain. Every ``get``
    must answer with the code its ``set`` wrote. With two subscriptions each pair was in order
    only if a scheduler coin fell the right way: all twenty about once in a million runs."""
    async with scene(broker.port, expose_pin=True) as s:
        messages: list[tuple[str, str, int, bool]] = []
        for user in range(1, PAIRS + 1):
            pin_code = {"user": user, "pin_code": pin_of(user)}
            messages.append((f"{BASE}/{NAME}/set", json.dumps({"pin_code": pin_code}), 1, False))
            get = {"pin_code": {"user": user}}
            messages.append((f"{BASE}/{NAME}/get", json.dumps(get), 1, False))
        # Held on purpose: nothing runs on the trio thread until every message is with the
        # broker (QoS 1, acknowledged) and has had time to reach the simulator's network
        # thread. Were it not held, the order would still have to hold; held, the old race
        # could not hide.
        paho.mqtt.publish.multiple(messages, "127.0.0.1", broker.port)
        time.sleep(0.3)  # noqa: ASYNC251
        await s.probe.wait(lambda: s.device.statistics().gets == PAIRS, 10)
        await s.probe.wait(lambda: len(s.probe.json(NAME)[-1].get("users", {})) == PAIRS)
        users = s.probe.json(NAME)[-1]["users"]
    assert s.device.set_counts == dict.fromkeys(range(1, PAIRS + 1), 1)
    expected = {str(u): {"pin_code": pin_of(u), "status": "enabled"} for u in range(1, PAIRS + 1)}
    wrong = sorted(int(u) for u, entry in users.items() if entry != expected[u])
    assert not wrong, f"users whose get was answered before their set: {wrong}"
