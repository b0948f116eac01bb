"""The link to one Zigbee2MQTT device: its subscriptions, what arrives on them, whether the
lock can be reached, and publishing to it — the trio layer around :class:`DeviceRecord`.

:class:`DeviceLink` runs one task per subscription (the device topic, its ``availability``,
Zigbee2MQTT's ``bridge/state`` and, if asked, ``bridge/logging``) and one following the MQTT
bridge's status, in a nursery the lock's block owns. Each message is parsed (``_payload``) and
applied to the record, which says what to push, which reads it answered and what the bolt did;
the link wakes the waiters and publishes the pushes and events. :meth:`DeviceLink.operation`
runs an operation only while the lock is reachable: LockDisconnected at once otherwise, and
an operation in flight is cancelled (and raises LockDisconnected) as soon as the device's
availability or ``bridge/state`` says offline or our MQTT bridge leaves CONNECTED.
"""

from __future__ import annotations

import collections
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import final

import attrs
import trio
import trio.lowlevel

from ...core import ChangeFeed
from ...credentials import LockDisconnected, SlotUpdate
from ...mqtt import MqttBridge, MqttError, MqttMessage, MqttStatus
from ._devices import DeviceInfo, device_info
from ._models import BadInput, EventSource, LockEvent
from ._payload import PayloadError, parse_availability, parse_bridge_log, parse_device_message
from ._record import DeviceRecord, PendingRead, ReadOutcome
from ._requests import get_payload

__all__ = ["DeviceLink"]

logger = logging.getLogger("trio_locksync.providers.zigbee2mqtt")

#: a read holding a fallback waits at most this many times the slowest of the recent answers
#: (``ANSWERS`` of them), and at least ``DOUBT_FLOOR`` seconds, for a changed entry
DOUBT_FACTOR = 2.0
DOUBT_FLOOR = 1.0
#: a ``last_seen`` more than this many seconds ahead of our wall clock is bad input (a day:
#: far beyond any clock skew between Zigbee2MQTT's machine and ours)
FUTURE_SLACK = 86400.0
ANSWERS = 8


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
        manages: Callable[[int], bool],
        probe: Callable[[int | None], Awaitable[None]],
    ) -> None:
        self.bridge = bridge
        self.name = name
        self.base = base
        self.topic = f"{base}/{name}"
        self.record = record
        self.publish_timeout = publish_timeout
        self.read_timeout = read_timeout
        self.watch_errors = watch_errors
        #: whether a code changed at the door in this user id should be read (one of ours)
        self._manages = manages
        #: a read of one slot (None: the lowest) whose answer is pushed, run in the link's
        #: nursery by the lock's own serialised path: when the lock is reachable again, and
        #: when a code was changed at the door
        self._probe = probe
        self.updates = ChangeFeed[SlotUpdate](backlog=1000)
        self.events = ChangeFeed[LockEvent](backlog=1000)
        #: set (and replaced) whenever a live message reports the bolt
        self.reported = trio.Event()
        #: why the link is not running (None while it is)
        self.stopped: str | None = "not running (use `async with lock:`)"
        self._nursery: trio.Nursery | None = None
        self._ready = trio.Event()
        self._waiting = 0
        self._guards: set[trio.CancelScope] = set()
        #: operations waiting for the MQTT bridge's first connection (ended by ``stop``)
        self._first_waits: set[trio.CancelScope] = set()
        self._wakes: dict[int, trio.Event] = {}
        self._deadlines: dict[int, trio.CancelScope] = {}
        #: how long the recent reads took to be answered (get published -> answer)
        self._answer_times: collections.deque[float] = collections.deque(maxlen=ANSWERS)
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

    def start(self, nursery: trio.Nursery) -> None:
        """Start the link's tasks in ``nursery``."""
        self._nursery = nursery
        self.stopped = None
        topics: list[tuple[str, int, Callable[[MqttMessage], None]]] = [
            (self.topic, 1, self._on_device),
            (f"{self.topic}/availability", 1, self._on_availability),
            (f"{self.base}/bridge/state", 1, self._on_bridge_state),
            (f"{self.base}/bridge/devices", 1, self._on_devices),
        ]
        if self.watch_errors:
            topics.append((f"{self.base}/bridge/logging", 0, self._on_log))
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
        """The block ends: operations in flight raise LockDisconnected; the feeds end."""
        self.stopped = "closed (its `async with` block has ended)"
        self._cancel_operations()
        self.updates.end()
        self.events.end()

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

    async def read(self, slot: int) -> PendingRead:
        """``get`` one user and wait up to ``read_timeout`` for its answer; the finished read."""
        read = self.record.expect(slot)
        wake = self._wakes[slot] = trio.Event()
        deadline = trio.CancelScope()
        try:
            await self.publish("get", get_payload(slot), slot)
            sent = trio.current_time()
            deadline.deadline = sent + self.read_timeout
            self._deadlines[slot] = deadline
            with deadline:
                await wake.wait()
            if wake.is_set() and read.outcome is ReadOutcome.ANSWERED:
                self._answer_times.append(trio.current_time() - sent)
        except BaseException:
            self.record.abandon(read)
            raise
        finally:
            if self._wakes.get(slot) is wake:
                del self._wakes[slot]
            if self._deadlines.get(slot) is deadline:
                del self._deadlines[slot]
        return self.record.finish(read)

    def _doubt(self, slot: int) -> None:
        """A pending read now holds a fallback: wait for a changed entry only as long as the
        lock takes to answer (see ``_record``), not the whole read timeout."""
        deadline = self._deadlines.get(slot)
        if deadline is None or not self._answer_times:
            return
        grace = max(DOUBT_FLOOR, DOUBT_FACTOR * max(self._answer_times))
        deadline.deadline = min(deadline.deadline, trio.current_time() + grace)

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
            if self._nursery is not None:
                self._nursery.start_soon(self._probe, None)
        else:
            logger.info("%s: unreachable (%s)", self.name, why)
            self._cancel_operations()
        self._offline = why

    # -- the tasks --------------------------------------------------------------------------

    async def _follow(self, topic: str, qos: int, handler: Callable[[MqttMessage], None]) -> None:
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

    def _bad(self, where: str, kind: BadInput, count: int = 1) -> None:
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

    def _wake(self, slot: int) -> None:
        wake = self._wakes.get(slot)
        if wake is not None:
            wake.set()

    def _on_device(self, message: MqttMessage) -> None:
        record = self.record
        try:
            parsed = parse_device_message(message.payload)
        except PayloadError as error:
            record.counts.messages += 1
            record.counts.bad_payloads += 1
            self._bad("device topic", error.kind)
            return
        seen = parsed.last_seen
        if seen is not None and seen > time.time() + FUTURE_SLACK:
            # A date our clock has not reached: believed, it would make every later message
            # look stale (older than it) and the lock deaf. Bad input, ignored.
            bad = (*parsed.bad_entries, BadInput.LAST_SEEN)
            parsed = attrs.evolve(parsed, last_seen=None, bad_entries=bad)
        for kind in parsed.bad_entries:
            self._bad("device topic", kind)
        if parsed.bad_keys:
            self._bad("device topic", BadInput.USER_KEY, parsed.bad_keys)
        taken = record.take(parsed, retained=message.retain)
        if taken.spoke and record.out_of_contact and self._nursery is not None:
            # The lock speaks again after Zigbee2MQTT reported it unreachable (a battery lock
            # is never flagged offline quickly): probe it, as on a flag coming back online.
            record.out_of_contact = False
            logger.info("%s: heard again", self.name)
            self._nursery.start_soon(self._probe, None)
        for slot in taken.resolved:
            self._wake(slot)
        for slot in taken.doubted:
            self._doubt(slot)
        for update in taken.pushes:
            record.counts.pushes += 1
            self.updates.publish(update)
        if taken.lock_state is not None:
            self.reported.set()
            self.reported = trio.Event()
        action = taken.action
        if action is None:
            return
        if action.kind is not None:
            record.counts.events += 1
            at = message.received_at
            self.events.publish(LockEvent(action.kind, action.source, action.slot, action.name, at))
        elif (
            action.slot is not None
            and action.source is not EventSource.RF  # our own writes come over the radio
            and self._manages(action.slot)
            and self._nursery is not None
        ):
            # A code was changed at the door: read it (as Weiser's and ID Lock's converters
            # do by themselves), one operation at a time with the lock's others, so that a
            # refusal names the right read; the answer is pushed.
            self._nursery.start_soon(self._probe, action.slot)

    def _on_flag(self, message: MqttMessage, field: str) -> None:
        try:
            value = parse_availability(message.payload)
        except PayloadError as error:
            self.record.counts.bad_payloads += 1
            self._bad(field, error.kind)
            return
        setattr(self.record, field, value)
        self._reachability_changed()

    def _on_availability(self, message: MqttMessage) -> None:
        self._on_flag(message, "availability")

    def _on_bridge_state(self, message: MqttMessage) -> None:
        self._on_flag(message, "bridge")

    def _on_devices(self, message: MqttMessage) -> None:
        """``bridge/devices``: learn the lock's model, hence the users it has."""
        try:
            device = device_info(message.payload, self.name)
        except PayloadError as error:
            self.record.counts.bad_payloads += 1
            self._bad("bridge/devices", error.kind)
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

    def _on_log(self, message: MqttMessage) -> None:
        if message.retain:
            return
        try:
            failure = parse_bridge_log(message.payload, self.name)
        except PayloadError as error:
            self.record.counts.bad_payloads += 1
            self._bad("bridge log", error.kind)
            return
        if failure is None:
            return
        logger.info(
            "%s: Zigbee2MQTT reports a failed %s of %s%s",
            self.name,
            failure.operation,
            failure.attribute,
            " (the lock was not reached)" if failure.unreachable else "",
        )
        for slot in self.record.failed(failure):
            self._wake(slot)
