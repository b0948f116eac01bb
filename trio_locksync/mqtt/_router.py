"""Which local subscription a message goes to, and when it is acknowledged.

:class:`Router` holds the bridge's subscriptions and everything that ties them to the broker's
view: the filters subscribed on the current connection, the SUBSCRIBEs awaiting their SUBACK,
each filter's MQTT 5 subscription identifier (mosquitto sends a copy per matching filter, and
the identifiers say which copy is for which filter), QoS 1 messages no subscription claims yet
(a resumed session's broker sends them right after CONNACK, before the application subscribes
again), and the :class:`AckTracker`. Everything here runs on the trio thread.
"""

from __future__ import annotations

from typing import final

import attrs
import trio
from paho.mqtt.enums import MQTTErrorCode

from ._acks import AckTracker, Delivery
from ._models import MqttMessage
from ._paho import Inbox, PahoSession
from ._subscription import MqttSubscription
from ._topics import topic_matches

__all__ = ["Router", "Suback"]


@final
@attrs.define(eq=False)
class Suback:
    """A SUBSCRIBE sent on connection ``generation``, until its SUBACK (or that link's end)."""

    topic_filter: str
    generation: int
    done: trio.Event = attrs.field(factory=trio.Event)
    codes: list[int] = attrs.field(factory=list)

    @property
    def refused(self) -> bool:
        """The broker refused the subscription (a reason code of 0x80 or more)."""
        return any(code >= 0x80 for code in self.codes)


@final
class Router:
    """The bridge's subscriptions, their routing and their acknowledgements."""

    def __init__(self, session: PahoSession, inbox: Inbox) -> None:
        self._session = session
        self._inbox = inbox
        self.acks = AckTracker()
        self.subscriptions: list[MqttSubscription] = []
        #: QoS 1 messages no subscription of this bridge matches yet (held, unacknowledged)
        self._orphans: list[tuple[MqttMessage, Delivery]] = []
        #: filters this bridge unsubscribed: late messages for them are acknowledged, dropped
        self._left: set[str] = set()
        #: filter -> the connection generation it is subscribed on
        self._active: dict[str, int] = {}
        #: filter -> its MQTT 5 subscription identifier
        self._filter_ids: dict[str, int] = {}
        self._subacks: dict[int, Suback] = {}  # by packet id
        self._in_flight: dict[str, Suback] = {}  # by filter
        self._pressed = 0  # subscriptions whose buffer is above its high-water mark
        self.received = 0
        self.delivered = 0
        self.duplicates = 0
        self.dropped = 0

    @property
    def buffered(self) -> int:
        """Messages waiting in the subscriptions' buffers."""
        return sum(len(s) for s in self.subscriptions)

    # -- subscriptions ----------------------------------------------------------------------

    def add(self, subscription: MqttSubscription) -> None:
        """A subscription's block starts: route to it, hand it the held messages it matches."""
        self.subscriptions.append(subscription)
        self._left.discard(subscription.topic_filter)
        generation = self.acks.generation
        kept: list[tuple[MqttMessage, Delivery]] = []
        for message, delivery in self._orphans:
            if delivery.generation != generation:
                self.release(delivery, taken=False)  # an earlier link's: it is redelivered
            elif topic_matches(subscription.topic_filter, message.topic):
                subscription._push(message, delivery)
            else:
                kept.append((message, delivery))
        self._orphans = kept

    def remove(self, subscription: MqttSubscription) -> list[Delivery]:
        """A subscription's block ended: stop routing to it; returns its untaken QoS 1
        deliveries (for :meth:`leave`, unless the bridge closes)."""
        self.subscriptions.remove(subscription)
        return subscription._discard()

    def leave(self, topic_filter: str, untaken: list[Delivery], *, connected: bool) -> None:
        """Release what a finished subscription did not take (so later messages can be
        acknowledged in order) and unsubscribe the filter if no other block uses it."""
        for delivery in untaken:
            self.release(delivery, taken=False)
        if not any(s.topic_filter == topic_filter for s in self.subscriptions):
            self._left.add(topic_filter)
            self._active.pop(topic_filter, None)
            if connected:
                self._session.client.unsubscribe(topic_filter)

    def subscribed(self, topic_filter: str) -> bool:
        """Whether ``topic_filter`` is subscribed on the current connection."""
        return self._active.get(topic_filter) == self.acks.generation

    def request(self, topic_filter: str) -> Suback:
        """SUBSCRIBE ``topic_filter`` on the current connection (at most once per connection)."""
        in_flight = self._in_flight.get(topic_filter)
        if in_flight is not None:
            return in_flight
        suback = Suback(topic_filter, self.acks.generation)
        qos = max(s.qos for s in self.subscriptions if s.topic_filter == topic_filter)
        identifier = self._filter_ids.setdefault(topic_filter, len(self._filter_ids) + 1)
        rc, mid = self._session.subscribe(topic_filter, qos, identifier)
        if rc is not MQTTErrorCode.MQTT_ERR_SUCCESS or mid is None:
            suback.done.set()  # the link is down: the next CONNACK subscribes again
            return suback
        self._subacks[mid] = suback
        self._in_flight[topic_filter] = suback
        return suback

    def on_suback(self, mid: int, codes: list[int]) -> None:
        """The broker answered a SUBSCRIBE."""
        suback = self._subacks.pop(mid, None)
        if suback is None:
            return
        self._in_flight.pop(suback.topic_filter, None)
        suback.codes.extend(codes)
        if codes and not suback.refused:
            self._active[suback.topic_filter] = suback.generation
        suback.done.set()

    def new_connection(self) -> int:
        """A new connection starts: the old one's SUBACKs never come (their waiters try again)
        and its deliveries are stale. Returns the new generation."""
        for suback in self._subacks.values():
            suback.done.set()
        self._subacks.clear()
        self._in_flight.clear()
        return self.acks.new_connection()

    def connected(self, session_present: bool) -> None:
        """CONNACK: the broker kept our subscriptions (session present) or nothing; subscribe
        what it does not have."""
        if session_present:
            self._active = dict.fromkeys(self._active, self.acks.generation)
        else:
            self._active.clear()
        for topic_filter in {s.topic_filter for s in self.subscriptions}:
            if topic_filter not in self._active:
                self.request(topic_filter)

    # -- messages ---------------------------------------------------------------------------

    def route(self, message: MqttMessage, mid: int, identifiers: tuple[int, ...]) -> None:
        """A PUBLISH arrived on the current connection: buffer it where it belongs."""
        self.received += 1
        if message.duplicate:
            self.duplicates += 1
        # MQTT 5: exactly the filters this copy was sent for. Without identifiers (3.1.1), or
        # with those of an earlier run of this client id (a resumed session): every match.
        holders = [
            s for s in self.subscriptions if self._filter_ids.get(s.topic_filter) in identifiers
        ]
        if not holders:
            holders = [
                s for s in self.subscriptions if topic_matches(s.topic_filter, message.topic)
            ]
        if not holders and not any(topic_matches(f, message.topic) for f in self._left):
            if message.qos >= 1:  # held for the subscription to come (see the docstring)
                delivery, _ = self.acks.received(mid, 1)
                self._orphans.append((message, delivery))
            else:
                self.dropped += 1
            return
        if message.qos >= 1:
            delivery, mids = self.acks.received(mid, len(holders))
            self._send_acks(mids)
            if not holders:
                self._inbox.unhold()  # a filter this bridge left: finished at once
            for subscription in holders:
                subscription._push(message, delivery)
            return
        for subscription in holders:
            if not subscription._push(message, None):
                self.dropped += 1

    def release(self, delivery: Delivery, *, taken: bool = True) -> None:
        """A holder took ``delivery`` (or dropped it): acknowledge what is due, and once every
        holder is done, make room for the paho thread."""
        if taken:
            self.delivered += 1
        before = delivery.holders
        self._send_acks(self.acks.release(delivery))
        if before == 1 and delivery.holders == 0:
            self._inbox.unhold()

    def pressure(self, on: bool) -> None:
        """A subscription's buffer reached its high-water mark (True) or went back to its low
        one (False): the paho thread pauses while any is above (see ``Inbox.pause``)."""
        self._pressed += 1 if on else -1
        if self._pressed == (1 if on else 0):
            self._inbox.press(on)

    def _send_acks(self, mids: list[int]) -> None:
        if mids:
            client = self._session.client
            for mid in mids:
                client.ack(mid, 1)

    def fail(self, error: BaseException) -> None:
        """The bridge gave up or closed: wake SUBSCRIBE waiters, end the subscriptions."""
        for suback in self._subacks.values():
            suback.done.set()
        self._subacks.clear()
        self._in_flight.clear()
        for subscription in self.subscriptions:
            subscription._close(lambda: error)
