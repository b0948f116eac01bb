"""The link to one Zigbee2MQTT device: its subscriptions, whether the lock can be reached, and
publishing to it — the transport under :class:`~._reader.DeviceReader`.

:class:`DeviceLink` runs one task per subscription (the device topic, its ``availability``,
Zigbee2MQTT's ``bridge/state`` and ``bridge/devices`` and, if asked, ``bridge/logging``) and one
following the MQTT bridge's status, in a nursery the lock's block owns. It handles the
reachability flags and ``bridge/devices`` itself; the device topic and ``bridge/logging`` go to
the handlers the reader gives :meth:`DeviceLink.start`. When the lock becomes reachable again it
sets (and replaces) :attr:`DeviceLink.recovered`. :meth:`DeviceLink.operation`
runs an operation only while the lock is reachable: LockDisconnected at once otherwise, and
an operation in flight is cancelled (and raises LockDisconnected) as soon as the device's
availability or ``bridge/state`` says offline or our MQTT bridge leaves CONNECTED.
"""

from __future__ import annotations

import collections
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Literal, final

import trio
import trio.lowlevel

from ...credentials import LockDisconnected
from ...mqtt import MqttBridge, MqttError, MqttMessage, MqttStatus
from ._devices import DeviceInfo, device_info
from ._models import BadInput
from ._payload import PayloadError, parse_availability
from ._record import DeviceRecord

__all__ = ["DeviceLink"]

logger = logging.getLogger("trio_locksync.providers.zigbee2mqtt")


@final
class DeviceLink:
    """The topics of ``<base>/<name>``; made and run by a Zigbee2MqttLock."""

    def __init__(
        self,
        bridge: MqttBridge,
        name: str,
        base: str,
        *,
        record: DeviceRecord,
        publish_timeout: float,
        read_timeout: float,
        watch_errors: bool,
    ) -> None:
        self.bridge = bridge
        self.name = name
        self.base = base
        self.topic = f"{base}/{name}"
        self.record = record
        self.publish_timeout = publish_timeout
        self.read_timeout = read_timeout
        self.watch_errors = watch_errors
        #: one operation at a time on the device (reads, writes and probes take it)
        self.serial = trio.Lock()
        #: set (and replaced) whenever the lock becomes reachable again
        self.recovered = trio.Event()
        #: why the link is not running (None while it is)
        self.stopped: str | None = "not running (use `async with lock:`)"
        self._ready = trio.Event()
        self._waiting = 0
        self._guards: set[trio.CancelScope] = set()
        #: operations waiting for the MQTT bridge's first connection (ended by ``stop``)
        self._first_waits: set[trio.CancelScope] = set()
        self._offline: str | None = None
        self._logged: set[str] = set()
        #: bad input by kind, and handler errors by exception type (see ``statistics()``)
        self.bad_inputs: collections.Counter[BadInput] = collections.Counter()
        self.handler_errors: collections.Counter[str] = collections.Counter()
        #: set once ``bridge/devices`` was read (listing this device or not)
        self.devices_seen = trio.Event()
        #: this device's entry in ``bridge/devices`` (None: not listed, or not seen yet)
        self.device: DeviceInfo | None = None

    # -- running ----------------------------------------------------------------------------

    def start(
        self,
        nursery: trio.Nursery,
        *,
        device: Callable[[MqttMessage], None],
        log: Callable[[MqttMessage], None],
    ) -> None:
        """Start the link's tasks in ``nursery``: messages on the device topic go to
        ``device``, those on ``bridge/logging`` (if watched) to ``log``."""
        self.stopped = None
        topics: list[tuple[str, Literal[0, 1], Callable[[MqttMessage], None]]] = [
            (self.topic, 1, device),
            (f"{self.topic}/availability", 1, self._on_availability),
            (f"{self.base}/bridge/state", 1, self._on_bridge_state),
            (f"{self.base}/bridge/devices", 1, self._on_devices),
        ]
        if self.watch_errors:
            topics.append((f"{self.base}/bridge/logging", 0, log))
        self._waiting = len(topics)
        for topic, qos, handler in topics:
            nursery.start_soon(self._follow, topic, qos, handler)
        nursery.start_soon(self._follow_status)

    async def wait_subscribed(self) -> None:
        """Wait until the broker acknowledged every subscription, at most ``publish_timeout``;
        not at all while the MQTT bridge is not CONNECTED (they are made once it is)."""
        if self.bridge.status is MqttStatus.CONNECTED:
            with trio.move_on_after(self.publish_timeout):
                await self._ready.wait()
        await trio.lowlevel.checkpoint()

    def stop(self) -> None:
        """The block ends: operations in flight raise LockDisconnected."""
        self.stopped = "closed (its `async with` block has ended)"
        self._cancel_operations()

    # -- reachability and operations ----------------------------------------------------------

    def unreachable(self) -> str | None:
        """Why the lock cannot be reached now, else None."""
        if self.stopped is not None:
            return self.stopped
        status = self.bridge.status
        if status is not MqttStatus.CONNECTED:
            return f"the MQTT bridge is {status.value}"
        return self.record.offline_reason()

    def disconnected(self, why: str, slot: int | None) -> LockDisconnected:
        """A LockDisconnected to raise (counted)."""
        self.record.counts.disconnects += 1
        return LockDisconnected(f"{self.name}: {why}", slot=slot)

    @asynccontextmanager
    async def operation(self, slot: int | None, patience: float) -> AsyncIterator[None]:
        """Run an operation while the lock is reachable (see the module docs). While the MQTT
        bridge is still making its first connection, wait for it up to ``patience`` (the
        operation's own timeout) rather than fail at once: a program that opens the bridge and the
        lock together should not see its first read refused. Waits up to ``publish_timeout``
        for the subscriptions the first time."""
        await self._first_connection(patience)
        why = self.unreachable()
        if why is not None:
            raise self.disconnected(why, slot)
        scope = trio.CancelScope()
        self._guards.add(scope)
        try:
            with scope:
                if not self._ready.is_set():
                    with trio.move_on_after(self.publish_timeout):
                        await self._ready.wait()
                    if not self._ready.is_set():
                        raise self.disconnected("not subscribed to the device yet", slot)
                yield
        finally:
            self._guards.discard(scope)
        if scope.cancelled_caught:
            raise self.disconnected(self.unreachable() or "the lock became unreachable", slot)

    async def _first_connection(self, patience: float) -> None:
        """Wait (at most ``patience`` seconds) while our MQTT bridge has never been connected.
        A bridge that was connected before and lost it fails operations at once: the lock is
        unreachable then, and the engine's lock breaker paces the retries."""
        bridge = self.bridge
        if (
            self.stopped is not None
            or bridge.status is MqttStatus.CONNECTED
            or bridge.statistics().connections > 0
        ):
            return
        final = (MqttStatus.CONNECTED, MqttStatus.REFUSED, MqttStatus.DISCONNECTED)
        with trio.move_on_after(patience) as scope:
            self._first_waits.add(scope)
            try:
                await bridge.wait_status(*final)
            finally:
                self._first_waits.discard(scope)

    async def publish(self, suffix: str, payload: bytes, slot: int | None) -> None:
        """Publish to ``<base>/<name>/<suffix>`` with QoS 1; LockDisconnected if the broker
        does not take it within ``publish_timeout``."""
        try:
            with trio.fail_after(self.publish_timeout):
                await self.bridge.publish(f"{self.topic}/{suffix}", payload, qos=1)
        except trio.TooSlowError:
            why = f"the broker did not acknowledge a {suffix} within {self.publish_timeout:g} s"
            raise self.disconnected(why, slot) from None
        except MqttError as error:
            raise self.disconnected(f"{suffix} not published: {error}", slot) from None

    def _cancel_operations(self) -> None:
        for scope in self._guards:
            scope.cancel()
        if self.stopped is not None:
            for scope in self._first_waits:
                scope.cancel()

    def _reachability_changed(self) -> None:
        why = self.unreachable()
        if why == self._offline:
            return
        if why is None:
            logger.info("%s: reachable again", self.name)
            self.recovered.set()
            self.recovered = trio.Event()
        else:
            logger.info("%s: unreachable (%s)", self.name, why)
            self._cancel_operations()
        self._offline = why

    # -- the tasks --------------------------------------------------------------------------

    async def _follow(
        self, topic: str, qos: Literal[0, 1], handler: Callable[[MqttMessage], None]
    ) -> None:
        try:
            async with self.bridge.subscribe(topic, qos) as subscription:
                self._waiting -= 1
                if self._waiting == 0:
                    self._ready.set()
                async for message in subscription:
                    try:
                        handler(message)
                    except Exception as error:  # one message must not end the lock's block
                        self._handler_failed(topic, error)
        except MqttError as error:  # the bridge gave up or closed: operations say so
            logger.info("%s: subscription to %s ended (%s)", self.name, topic, type(error).__name__)

    async def _follow_status(self) -> None:
        self._reachability_changed()
        async for _ in self.bridge.status_changes():
            self._reachability_changed()

    # -- the handlers (sync: one message at a time, on the trio thread) ---------------------

    def bad(self, where: str, kind: BadInput, count: int = 1) -> None:
        """Bad input, counted by kind and logged by kind, never by content: the first of each
        kind at WARNING, then DEBUG."""
        self.bad_inputs[kind] += count
        self._log_once(logging.WARNING, f"ignored bad input on the {where}: {kind.value}")

    def _handler_failed(self, topic: str, error: Exception) -> None:
        """Handling one message raised (a bug of ours, or input no parser foresaw): counted,
        logged by exception type only — its message and traceback may quote the payload —
        and the next message is handled as usual."""
        name = type(error).__name__
        self.bad_inputs[BadInput.HANDLER_ERROR] += 1
        self.handler_errors[name] += 1
        self._log_once(logging.ERROR, f"handling a message on {topic} raised {name} (ignored)")

    def _log_once(self, level: int, what: str) -> None:
        if what in self._logged:
            level = logging.DEBUG
        self._logged.add(what)
        logger.log(level, "%s: %s", self.name, what)

    def _on_flag(self, message: MqttMessage, *, bridge: bool) -> None:
        try:
            flag = parse_availability(message.payload)
        except PayloadError as error:
            self.record.counts.bad_payloads += 1
            self.bad("bridge" if bridge else "availability", error.kind)
            return
        self.record.flagged(flag, bridge=bridge)
        self._reachability_changed()

    def _on_availability(self, message: MqttMessage) -> None:
        self._on_flag(message, bridge=False)

    def _on_bridge_state(self, message: MqttMessage) -> None:
        self._on_flag(message, bridge=True)

    def _on_devices(self, message: MqttMessage) -> None:
        """``bridge/devices``: learn the lock's model, hence the users it has."""
        try:
            device = device_info(message.payload, self.name)
        except PayloadError as error:
            self.record.counts.bad_payloads += 1
            self.bad("bridge/devices", error.kind)
            return
        self.device = device
        self.devices_seen.set()
        if device is None or device.vendor is None or device.model is None:
            return
        users = self.record.users
        if users.from_model(device.vendor, device.model, device.pin_code_count):
            logger.info("%s: the lock has %s", self.name, users.describe())

    def devices_unknown(self) -> str:
        """Why ``bridge/devices`` does not tell the lock's users (for error messages)."""
        device = self.device
        if not self.devices_seen.is_set():
            return "Zigbee2MQTT has not published bridge/devices"
        if device is None:
            return f"bridge/devices does not list {self.name!r}"
        if device.model is None or device.vendor is None:
            return "bridge/devices has no definition for it (not interviewed yet?)"
        return f"we do not know how many users a {device.vendor} {device.model} has"

    def warn_once(self, text: str) -> None:
        """Log ``text`` at WARNING the first time, at DEBUG after."""
        self._log_once(logging.WARNING, text)

    def beyond(self, slot: int) -> str:
        """The message for a user the lock cannot have."""
        return (
            f"{self.name}: user {slot} is beyond the lock's range: it has "
            f"{self.record.users.describe()} (Zigbee2MQTT numbers users from 0)"
        )
