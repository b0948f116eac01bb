"""Which local subscription a message goes to, and when it is acknowledged.

:class:`Router` holds the bridge's subscriptions and everything that ties them to the broker's
view: the filters subscribed on the current connection, the SUBSCRIBEs awaiting their SUBACK,
each filter's MQTT 5 subscription identifier (mosquitto sends a copy per matching filter, and
the identifiers say which copy is for which filter), QoS 1 messages no subscription claims yet
(a resumed session's broker sends them right after CONNACK, before the application subscribes
again), and the :class:`AckTracker`. Everything here runs on the trio thread.

Routing. A message goes only to subscriptions whose block has started — a SUBSCRIBE covering
them was acknowledged — never to one still waiting for its SUBACK: a QoS 1 message routed there
would be held by a block that cannot take it until paho's thread has read that SUBACK, and
held messages are what that thread waits on (``Inbox.hold``). A copy that carries MQTT 5
subscription identifiers goes exactly to the filters they name, never by topic: a copy for a
filter whose blocks have left (the broker still sends them until its UNSUBACK) is acknowledged
in its turn and dropped, so an overlapping filter does not get the message twice. Only
identifiers this process never gave (an earlier run's, in a resumed session) fall back to
topic matching — and so does one whose filter does not match the topic: an earlier run of this
client id numbered its filters from 1 too, and its subscriptions live on in the session. QoS 1
messages that only a block waiting for its SUBACK would take are held for it (handed over at
its SUBACK), and released when that block leaves first.

Retained messages. The broker sends a message with the retain flag set only because of a
SUBSCRIBE: without retain-as-published (never set here) a message forwarded live has retain=0,
in MQTT 5 and 3.1.1 alike (checked with mosquitto 2.0.11). So a subscription that joins a filter
this bridge has already subscribed (or is subscribing) on the connection gets a SUBSCRIBE of its
own: the broker replaces the subscription in place (MQTT 5 §3.8.4, 3.1.1 §3.8.4: no message is
lost) and, with retain handling 0, resends the filter's retained messages. A copy with retain=1
goes only to the matching subscriptions that have not had a retained copy of that topic on this
connection (kept across a resumed session, cleared when the session is new: then every filter
is subscribed again and its retained messages replayed to every block); a copy nobody takes is
acknowledged in its turn like any other. Known repeat: a block that got a message live and never
had a retained copy of its topic takes the copy resent for a later block (a replay of what it
has; in 3.1.1, without identifiers, also for a later block of an overlapping filter). Marking
live topics too would cost a set insertion per message and hold every topic ever seen.
"""

from __future__ import annotations

from typing import final

import attrs
import trio
from paho.mqtt.enums import MQTTErrorCode

from ._acks import AckTracker, Delivery
from ._inbox import Inbox
from ._models import MqttMessage
from ._paho import PahoSession
from ._subscription import Leftovers, MqttSubscription, Pushed
from ._topics import topic_matches

__all__ = ["Router", "Subscribing"]


@final
@attrs.define(eq=False)
class Subscribing:
    """A SUBSCRIBE sent on connection ``generation``, until its SUBACK (or that link's end)."""

    topic_filter: str
    generation: int
    #: the subscriptions of the filter when it was sent: the broker's answer covers them
    covers: list[MqttSubscription] = attrs.field(factory=list)
    done: trio.Event = attrs.field(factory=trio.Event)
    codes: tuple[int, ...] = ()

    @property
    def refused(self) -> bool:
        """The broker refused the subscription (a reason code of 0x80 or more)."""
        return any(code >= 0x80 for code in self.codes)


@final
class Router:
    """The bridge's subscriptions, their routing and their acknowledgements; the
    :class:`~._subscription.Upstream` of every subscription."""

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
        #: filter -> its MQTT 5 subscription identifier (never reused within the process)
        self._filter_ids: dict[str, int] = {}
        self._id_filters: dict[int, str] = {}
        self._subacks: dict[int, Subscribing] = {}  # by packet id
        self._in_flight: dict[str, Subscribing] = {}  # by filter: the latest sent
        self._pressed = 0  # subscriptions whose buffer is above its high-water mark
        self.received = 0
        #: messages taken by subscriptions whose block has ended (see :attr:`delivered`)
        self._delivered_before = 0
        self.duplicates = 0
        self.dropped = 0
        #: retained copies not routed to a subscription because it already had one of that
        #: topic on this connection (counted once per copy)
        self.repeats = 0

    @property
    def delivered(self) -> int:
        """Messages handed to a consumer (QoS 0 and 1; once per subscription that took it)."""
        return self._delivered_before + sum(s.taken for s in self.subscriptions)

    @property
    def buffered(self) -> int:
        """Messages waiting in the subscriptions' buffers."""
        return sum(len(s) for s in self.subscriptions)

    # -- subscriptions ----------------------------------------------------------------------

    def add(self, subscription: MqttSubscription) -> None:
        """A subscription's block is starting: it gets messages once the broker acknowledged a
        SUBSCRIBE that covers it (:meth:`on_suback`), not before (see the module docstring)."""
        self.subscriptions.append(subscription)
        self._left.discard(subscription.topic_filter)

    def _adopt(self, subscription: MqttSubscription) -> None:
        """Hand ``subscription`` (covered now) the held messages it matches."""
        generation = self.acks.generation
        kept: list[tuple[MqttMessage, Delivery]] = []
        for message, delivery in self._orphans:
            if delivery.generation != generation:
                self.release(delivery)  # an earlier link's: it is redelivered
            elif topic_matches(subscription.topic_filter, message.topic):
                if message.retain:
                    subscription.first_retained(message.topic)
                self._pushed(subscription.push(message, delivery))
            else:
                kept.append((message, delivery))
        self._orphans = kept

    def remove(self, subscription: MqttSubscription) -> list[Delivery]:
        """A subscription's block ended: stop routing to it; returns its untaken QoS 1
        deliveries (for :meth:`leave`, unless the bridge closes)."""
        self.subscriptions.remove(subscription)
        self._delivered_before += subscription.taken
        return self._left_over(subscription.discard())

    def leave(self, topic_filter: str, untaken: list[Delivery], *, connected: bool) -> None:
        """Release what a finished subscription did not take (so later messages can be
        acknowledged in order) and unsubscribe the filter if no other block uses it."""
        for delivery in untaken:
            self.release(delivery)
        if not any(s.topic_filter == topic_filter for s in self.subscriptions):
            self._left.add(topic_filter)
            self._active.pop(topic_filter, None)
            if connected:
                self._session.unsubscribe(topic_filter)
            # Held for a block of this filter that left before its SUBACK: nobody comes now.
            kept = []
            for message, delivery in self._orphans:
                if topic_matches(topic_filter, message.topic) and not any(
                    topic_matches(s.topic_filter, message.topic) for s in self.subscriptions
                ):
                    self.release(delivery)
                else:
                    kept.append((message, delivery))
            self._orphans = kept

    def subscribed(self, topic_filter: str) -> bool:
        """Whether ``topic_filter`` is subscribed on the current connection."""
        return self._active.get(topic_filter) == self.acks.generation

    def cover(self, subscription: MqttSubscription) -> Subscribing | None:
        """What ``subscription`` waits for before its block starts, on the current connection:
        None once a SUBSCRIBE of its filter sent after it joined was acknowledged and the filter
        is subscribed; else the SUBSCRIBE in flight that covers it, or one sent now (also when
        the filter is already subscribed: the broker's retained messages come only with a
        SUBSCRIBE, see the module docstring)."""
        topic_filter = subscription.topic_filter
        if subscription.covered and self.subscribed(topic_filter):
            return None
        in_flight = self._in_flight.get(topic_filter)
        if in_flight is not None and subscription in in_flight.covers:
            return in_flight
        return self.request(topic_filter)

    def request(self, topic_filter: str) -> Subscribing:
        """Send a SUBSCRIBE of ``topic_filter`` on the current connection, for every
        subscription of it (its subscription identifier, their highest QoS)."""
        covers = [s for s in self.subscriptions if s.topic_filter == topic_filter]
        suback = Subscribing(topic_filter, self.acks.generation, covers)
        qos = max((s.qos for s in covers), default=0)
        identifier = self._filter_ids.get(topic_filter)
        if identifier is None:
            identifier = self._filter_ids[topic_filter] = len(self._filter_ids) + 1
            self._id_filters[identifier] = topic_filter
        rc, mid = self._session.subscribe(topic_filter, qos, identifier)
        if rc is not MQTTErrorCode.MQTT_ERR_SUCCESS or mid is None:
            suback.done.set()  # the link is down: the next CONNACK subscribes again
            return suback
        self._subacks[mid] = suback
        self._in_flight[topic_filter] = suback
        return suback

    def on_suback(self, mid: int, codes: tuple[int, ...]) -> None:
        """The broker answered a SUBSCRIBE."""
        suback = self._subacks.pop(mid, None)
        if suback is None:
            return
        if self._in_flight.get(suback.topic_filter) is suback:
            del self._in_flight[suback.topic_filter]
        suback.codes = codes
        if codes and not suback.refused:
            self._active[suback.topic_filter] = suback.generation
            for subscription in suback.covers:
                if subscription in self.subscriptions and subscription.cover():
                    self._adopt(subscription)
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
        what it does not have (once per filter: it covers every subscription of the filter).
        A subscription that joined while the link was down gets its own SUBSCRIBE from
        :meth:`cover` even if the session kept the filter."""
        if session_present:
            # The broker resends no retained message (except unacknowledged QoS 1 copies, which
            # go only to blocks that had none): the blocks keep what they had.
            self._active = dict.fromkeys(self._active, self.acks.generation)
        else:
            # Every filter is subscribed anew and its retained messages come again: a replay
            # for every block.
            self._active.clear()
            for subscription in self.subscriptions:
                subscription.forget_retained()
        for topic_filter in {s.topic_filter for s in self.subscriptions}:
            if topic_filter not in self._active:
                self.request(topic_filter)

    # -- messages ---------------------------------------------------------------------------

    def route(self, message: MqttMessage, mid: int, identifiers: tuple[int, ...]) -> None:
        """A PUBLISH arrived on the current connection: buffer it where it belongs."""
        self.received += 1
        if message.duplicate:
            self.duplicates += 1
        holders: list[MqttSubscription] | None
        if identifiers:
            # MQTT 5: exactly the filters this copy was sent for, never a topic match (a copy
            # for a filter whose blocks are gone would reach an overlapping one twice).
            topic = message.topic
            holders = [
                s
                for s in self.subscriptions
                if s.covered
                and self._filter_ids.get(s.topic_filter) in identifiers
                and topic_matches(s.topic_filter, topic)
            ]
            if not holders:
                holders = self._unclaimed(message, identifiers)
        else:
            holders = self._by_topic(message)  # 3.1.1: every match
        if holders is None:
            if message.qos >= 1:  # held for the subscription to come (see the docstring)
                delivery, _ = self.acks.received(mid, 1)
                self._orphans.append((message, delivery))
            else:
                self.dropped += 1
            return
        if message.retain and holders:
            holders = self._first_retained(holders, message.topic)
        if message.qos >= 1:
            delivery, mids = self.acks.received(mid, len(holders))
            self._send_acks(mids)
            if not holders:
                # A filter no block holds now, or a repeat: acknowledged in its turn, dropped.
                self._inbox.unhold()
            for subscription in holders:
                pushed = subscription.push(message, delivery)
                if pushed is not Pushed.KEPT:
                    self._pushed(pushed)
            return
        for subscription in holders:
            pushed = subscription.push(message, None)
            if pushed is not Pushed.KEPT:
                self._pushed(pushed)

    def _unclaimed(
        self, message: MqttMessage, identifiers: tuple[int, ...]
    ) -> list[MqttSubscription] | None:
        """Where an MQTT 5 copy that no started subscription claims goes: held (None) for a
        block of its filter waiting for its SUBACK; nowhere (acknowledged in its turn and
        dropped) if its filters are this bridge's but have no block now; by topic if its
        identifiers are an earlier run's of this client id (a resumed session)."""
        ids, topic = self._filter_ids, message.topic
        # An identifier is ours only where its filter matches the topic: an earlier run of
        # this client id numbered its filters from 1 too (a resumed session keeps them).
        if any(
            ids.get(s.topic_filter) in identifiers and topic_matches(s.topic_filter, topic)
            for s in self.subscriptions
        ):
            return None
        filters = self._id_filters
        if any(i in filters and topic_matches(filters[i], topic) for i in identifiers):
            return []
        return self._by_topic(message)

    def _by_topic(self, message: MqttMessage) -> list[MqttSubscription] | None:
        """The started subscriptions whose filter matches the topic. If there are none: held
        (None) for a block that matches and waits for its SUBACK, or for one to come (a
        resumed session's broker sends before the application subscribes again); nowhere if
        the topic matches a filter this bridge left."""
        topic = message.topic
        holders = [
            s for s in self.subscriptions if s.covered and topic_matches(s.topic_filter, topic)
        ]
        if holders:
            return holders
        if any(topic_matches(s.topic_filter, topic) for s in self.subscriptions):
            return None
        return [] if any(topic_matches(f, topic) for f in self._left) else None

    def _first_retained(
        self, holders: list[MqttSubscription], topic: str
    ) -> list[MqttSubscription]:
        """The holders of a retained copy of ``topic`` that have not had one on this
        connection (and, from now on, have)."""
        fresh = [s for s in holders if s.first_retained(topic)]
        if len(fresh) < len(holders):
            self.repeats += 1
        return fresh

    def release(self, delivery: Delivery) -> None:
        """A holder took ``delivery`` (or dropped it): acknowledge what is due, and once every
        holder is done, make room for the paho thread."""
        before = delivery.holders
        self._send_acks(self.acks.release(delivery))
        if before == 1 and delivery.holders == 0:
            self._inbox.unhold()

    def _pushed(self, pushed: Pushed) -> None:
        """What a subscription's :meth:`~MqttSubscription.push` said, but KEPT: a dropped QoS 0
        message is counted; a buffer that reached its high-water mark presses: the paho thread
        pauses while any is above it (see ``Inbox.pause``)."""
        if pushed is Pushed.DROPPED:
            self.dropped += 1
        elif pushed is Pushed.PRESSED:
            self._pressed += 1
            if self._pressed == 1:
                self._inbox.press(True)

    def caught_up(self) -> None:
        """A subscription emptied a buffer that had reached its high-water mark."""
        self._pressed -= 1
        if self._pressed == 0:
            self._inbox.press(False)

    def _left_over(self, leftovers: Leftovers) -> list[Delivery]:
        """A subscription stopped: no longer pressing; returns its untaken deliveries."""
        if leftovers.relieved:
            self.caught_up()
        return leftovers.deliveries

    def _send_acks(self, mids: list[int]) -> None:
        if mids:
            self._session.ack(mids)

    def fail(self, error: BaseException) -> None:
        """The bridge gave up or closed: wake SUBSCRIBE waiters, end the subscriptions."""
        for suback in self._subacks.values():
            suback.done.set()
        self._subacks.clear()
        self._in_flight.clear()
        for subscription in self.subscriptions:
            self._left_over(subscription.close(lambda: error))
