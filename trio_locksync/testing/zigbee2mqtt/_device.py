"""One simulated Zigbee lock as Zigbee2MQTT 2.x shows it: the lock's ground truth (a
:class:`VirtualLock`), Zigbee2MQTT's cached state of it, and the frames it publishes (their
shapes, each read from the upstream source, are in ``_shapes``; what a ``set`` or ``get``
command does is in ``_commands``).

What Zigbee2MQTT 2.12.1 does with a lock's state, pinned in
``tests/test_zigbee2mqtt_simulator_shapes.py``:

* The state is a cache, deep-merged with every update and published whole on every message,
  keys sorted (``lib/state.ts:117-127``, ``lib/controller.ts:386-451``); ``action`` and
  ``action_*`` are never cached (``lib/state.ts:11-31``). Only an answer to ``getPinCode``
  writes ``users`` (``fromZigbee.ts:380-400``): a set or clear publishes nothing
  (``toZigbee.ts:430-455``), so every later message — a battery or link-quality report too —
  restates the old entry until the slot is read again.
* Users are numbered ``0 .. pinCodeCount - 1`` (``toZigbee.ts:440,471``); the count comes with
  the model (``PIN_CODE_COUNTS``). A lock with a count of its own gets a generated definition.
* Failures (the lock unreachable, no answer) appear only on ``bridge/logging`` (see the
  simulator), after ``zcl_timeout``, with the PIN of a failed set in clear; a lock's refusal of
  a code is not even that (``checkStatus`` is off for lock commands).
"""

from __future__ import annotations

import datetime
import hashlib
import json
import math
import random
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from typing import Any, ClassVar, final

import trio

from ...core import NoPublicConstructor, Pin
from ...credentials import CredentialKind
from .._virtual_lock import VirtualLock
from ._counts import SimulatedCounts, SimulatedLockStatistics
from ._shapes import (
    READS_ON_PROGRAMMING,
    declined_entry,
    definition_entry,
    event_fields,
    merge,
    user_count,
    user_entry,
)

__all__ = ["SimulatedZigbeeLock"]

Publish = Callable[[str, bytes, int, bool], None]


@final
class SimulatedZigbeeLock(metaclass=NoPublicConstructor):
    """A Zigbee lock in a simulated Zigbee2MQTT; made by ``Zigbee2MqttSimulator.add_lock()``.

    Ground truth is :attr:`codes` (user id -> PIN; that of ``virtual``, whose knobs —
    ``write_lands``, ``fail_rate``, ``masked``, ``rejected``, ``online`` — apply) plus
    ``disabled``. The knobs below are attributes, settable while it runs:

    * ``model``: (vendor, model) of a definition in :data:`PIN_CODE_COUNTS`, which gives the
      lock its users ``0 .. count - 1`` (default Kwikset 99140-002: 30); or ``slots``: a user
      count of its own, and ``bridge/devices`` then shows a generated definition, as Zigbee2MQTT
      does for a lock it has no definition for (a client cannot learn the count from it).
    * ``power_source``: ``"Battery"`` (default: a passive device for availability — offline
      only after the passive timeout) or ``"Mains (single phase)"`` (active).
    * ``reports``: seconds between the lock's own battery reports (each republishes the whole
      cache, ``users`` included); None: none.
    * ``expose_pin``: answers carry ``pin_code`` (``""`` for a slot without a code; ``****``
      when ``virtual.masked``, a quirk not seen in Zigbee2MQTT itself but in Z-Wave locks).
    * ``latency``: (low, high) seconds each command takes, uniformly drawn.
    * ``never_lands``: user ids whose sets are always lost; ``write_delay``: seconds after
      which a set lands (0: at once) — the command itself returns at once.
    * ``read_loss``: probability that a read times out; ``not_supported``: user ids the lock
      answers ``not_supported_255`` for; ``zcl_timeout``: how long a failed command takes
      before Zigbee2MQTT logs its error.
    * ``retain``: device-state messages retained (device option ``retain``); ``last_seen``:
      every frame republishes the cache with a fresh ``last_seen`` (ISO 8601);
      ``ha_nulls``: Home Assistant's null fill-ins; ``vocabulary``: ``"generic"`` events
      (``action: "unlock"`` + ``action_source_name``, every standard converter) or
      ``"device"`` ones (``keypad_unlock`` alone, Onesti's ``easycodetouch_action``);
      ``remote_events``: lock/unlock commands also report an operation
      event from source ``rf``; ``log_publishes``: mirror every publish on
      ``bridge/logging`` at info level, as Zigbee2MQTT does (PINs included).
    """

    _OPENED_BY = "Zigbee2MqttSimulator.add_lock()"
    #: the cache a fresh device starts with
    INITIAL: ClassVar[dict[str, Any]] = {
        "battery": 92,
        "linkquality": 116,
        "lock_state": "locked",
        "state": "LOCK",
    }

    def __init__(
        self,
        name: str,
        *,
        base_topic: str,
        publish: Publish,
        flag: Callable[[str, bool], None],
        log: Callable[[str, str], None],
        model: tuple[str, str] | None = None,
        slots: int | None = None,
        power_source: str = "Battery",
        reports: float | None = None,
        codes: Mapping[int, str] | None = None,
        expose_pin: bool = False,
        masked: bool = False,
        latency: tuple[float, float] = (0.0, 0.0),
        write_lands: float = 1.0,
        never_lands: Iterable[int] = (),
        write_delay: float = 0.0,
        read_loss: float = 0.0,
        fail_rate: float = 0.0,
        not_supported: Iterable[int] = (),
        rejected: Iterable[str] = (),
        retain: bool = False,
        last_seen: bool = False,
        ha_nulls: bool = False,
        vocabulary: str = "generic",
        remote_events: bool = True,
        log_publishes: bool = False,
        zcl_timeout: float = 10.0,
        seed: int | None = None,
    ) -> None:
        low, high = latency
        if not (0 <= low <= high and math.isfinite(high)):
            raise ValueError(f"latency must be (low, high) seconds, got {latency!r}")
        if vocabulary not in ("generic", "device"):
            raise ValueError("vocabulary must be 'generic' or 'device'")
        if reports is not None and not (reports > 0 and math.isfinite(reports)):
            raise ValueError(f"reports must be a positive number of seconds, got {reports!r}")
        self.model: tuple[str, str]
        self.generated: bool
        users, self.model, self.generated = user_count(model, slots)
        self.name = name
        self.topic: str = f"{base_topic}/{name}"
        #: its IEEE address, in ``bridge/devices`` and in herdsman's error lines alike
        self.ieee: str = f"0x{hashlib.sha256(name.encode()).hexdigest()[:16]}"
        self._publish = publish
        self._flag = flag
        self._log = log
        self.power_source = power_source
        self.reports = reports
        self.virtual: VirtualLock = VirtualLock(
            slots=users,
            first_slot=0,
            masked=masked,
            write_lands=write_lands,
            fail_rate=fail_rate,
            seed=seed,
            rejected=frozenset(rejected),
        )
        for user, pin in (codes or {}).items():
            Pin(pin)
            self.virtual.codes[user] = pin
        self.disabled: set[int] = set()
        self.expose_pin = expose_pin
        self.latency: tuple[float, float] = (low, high)
        self.never_lands: set[int] = set(never_lands)
        self.write_delay = write_delay
        self.read_loss = read_loss
        self.not_supported: set[int] = set(not_supported)
        self.retain = retain
        self.last_seen = last_seen
        self.ha_nulls = ha_nulls
        self.vocabulary = vocabulary
        self.remote_events = remote_events
        self.log_publishes = log_publishes
        self.zcl_timeout = zcl_timeout
        self.cache: dict[str, Any] = json.loads(json.dumps(self.INITIAL))
        #: sets received per user id
        self.set_counts: Counter[int] = Counter()
        #: what it was asked and did so far (see :meth:`statistics`)
        self.counts: SimulatedCounts = SimulatedCounts()
        self._rng = random.Random(seed)
        self._radio = random.Random(self.ieee)  # link qualities, apart from the knobs' draws
        self._last_stamp = 0
        #: commands (``"set"``/``"get"``, payload) waiting for the device's turn
        self.inbox_send: trio.MemorySendChannel[tuple[str, bytes]]
        self.inbox: trio.MemoryReceiveChannel[tuple[str, bytes]]
        self.inbox_send, self.inbox = trio.open_memory_channel[tuple[str, bytes]](math.inf)

    # -- ground truth -----------------------------------------------------------------------

    @property
    def slots(self) -> int:
        """How many users the lock has."""
        return self.virtual.slots

    @property
    def users(self) -> range:
        """The lock's user ids, ``0 .. slots - 1``."""
        return self.virtual.slot_numbers

    @property
    def codes(self) -> dict[int, str]:
        """Ground truth: user id -> the PIN the lock holds."""
        return self.virtual.codes

    @property
    def online(self) -> bool:
        """The lock answers the radio (see :meth:`go_offline`)."""
        return self.virtual.online

    @property
    def lock_state(self) -> str:
        """The bolt: ``"locked"``, ``"unlocked"`` or ``"not_fully_locked"``."""
        return str(self.cache["lock_state"])

    def statistics(self) -> SimulatedLockStatistics:
        """What the lock was asked and did (see :class:`SimulatedLockStatistics`)."""
        virtual = self.virtual.statistics()
        return self.counts.snapshot(lost_writes=virtual.lost_writes, rejected=virtual.rejections)

    def __repr__(self) -> str:
        return f"<SimulatedZigbeeLock {self.name!r} codes=<{len(self.codes)} set>>"

    # -- Zigbee2MQTT's side -----------------------------------------------------------------

    def remember_users(self) -> None:
        """Put every user's current answer in the cache, as after ``get {"pin_code": ""}``
        (published with the next message)."""
        for user in self.users:
            merge(self.cache, {"users": {str(user): self._entry(user, self.codes.get(user))}})

    def republish(self) -> None:
        """Publish the cache as it is, old ``last_seen`` and all (Zigbee2MQTT's
        ``publishCached``: at start-up, 30 s after Home Assistant comes online)."""
        self._publish_state(None)

    def set_available(self, online: bool) -> None:
        """Publish the ``availability`` flag (retained, QoS 1) without touching the lock."""
        self._flag(self.name, online)

    @property
    def passive(self) -> bool:
        """A battery device: Zigbee2MQTT's availability does not ping it, and flags it
        offline only after the passive timeout (``lib/extension/availability.ts:65-69``)."""
        return self.power_source == "Battery"

    def go_offline(self) -> None:
        """The lock drops off the network: commands fail (after ``zcl_timeout``); the
        availability flag (when Zigbee2MQTT's availability is on) says offline only once the
        simulator's active or passive timeout has passed."""
        self.virtual.online = False
        self._flag(self.name, False)

    def go_online(self) -> None:
        """Back on the network: the availability flag (if on) says online at once."""
        self.virtual.online = True
        self._flag(self.name, True)

    # -- the door ---------------------------------------------------------------------------

    def keypad_unlock(self, user: int | None = None) -> None:
        """Someone unlocks with the code of ``user`` at the keypad: an operation event
        crediting the user, then the bolt's report."""
        self._door("unlock", 0, user)

    def keypad_lock(self, user: int | None = None) -> None:
        """Someone locks at the keypad (with the code of ``user``, if given)."""
        self._door("lock", 0, user)

    def manual_unlock(self) -> None:
        """The thumb turn (``manual_unlock``, source manual, user 65535)."""
        self._door("unlock", 2, None, name="manual_unlock")

    def manual_lock(self) -> None:
        """The thumb turn (``manual_lock``, source manual, user 65535)."""
        self._door("lock", 2, None, name="manual_lock")

    def auto_lock(self) -> None:
        """The lock's own auto-relock (operation event source 255, "indeterminate" in the
        ZCL: it has no ``action_source_name``, ``constants.ts:290-296``)."""
        self._door("lock", 255, None, name="auto_lock")

    def jam(self) -> None:
        """The bolt fails to throw: ``lock_state: not_fully_locked`` (``state: UNLOCK``)."""
        self.frame({"state": "UNLOCK", "lock_state": "not_fully_locked"})

    def keypad_set(self, user: int, pin: str) -> None:
        """A code programmed at the door: ground truth and a ``pin_code_added`` event (a
        Weiser or an ID Lock then reads the user, and its answer follows)."""
        self.virtual.keypad_set(user, pin)
        self.disabled.discard(user)
        self._event("pin_code_added", 0, user)
        self._read_after_programming(user)

    def keypad_clear(self, user: int) -> None:
        """A code deleted at the door: ground truth and a ``pin_code_deleted`` event."""
        self.virtual.keypad_clear(user)
        self.disabled.discard(user)
        self._event("pin_code_deleted", 0, user)
        self._read_after_programming(user)

    def _read_after_programming(self, user: int) -> None:
        # fromZigbee.ts:315-327 lock_programming_event_read_pincode: getPinCode when the
        # source is not rf; only for models with readPinCodeOnProgrammingEvent
        if self.model in READS_ON_PROGRAMMING:
            code = self.codes.get(user)
            kind = CredentialKind.UNREADABLE if self.virtual.masked else CredentialKind.KNOWN
            self.answer(user, CredentialKind.EMPTY if code is None else kind, code)

    def _door(self, verb: str, source: int, user: int | None, *, name: str = "") -> None:
        if not name:
            named = self.vocabulary == "device" and source == 0
            name = f"keypad_{verb}" if named else verb
        self._event(name, source, user)
        locked = verb == "lock"
        update = {"state": "LOCK" if locked else "UNLOCK"}
        self.frame(update | {"lock_state": "locked" if locked else "unlocked"})

    def _event(self, name: str, source: int, user: int | None) -> None:
        """An operation or programming event: its fields, uncached, with the cache."""
        self.frame(None, event_fields(name, source, user, vocabulary=self.vocabulary))

    # -- frames -----------------------------------------------------------------------------

    def _stamp(self) -> str:
        now = datetime.datetime.now(datetime.UTC)
        ms = max(int(now.timestamp() * 1000), self._last_stamp + 1)  # strictly increasing
        self._last_stamp = ms
        moment = datetime.datetime.fromtimestamp(ms / 1000, datetime.UTC)
        return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")

    def frame(
        self, update: Mapping[str, Any] | None, transient: dict[str, Any] | None = None
    ) -> None:
        """A frame from the lock: ``update`` merged into the cache, which is then published
        whole, with ``transient`` (uncached) fields. A frame no converter turns into state
        (both None) publishes only with ``last_seen`` on. Tests may inject frames."""
        if update:
            merge(self.cache, update)
        # every frame carries its own link quality (z2m lib/controller.ts:437-438 adds the
        # frame's to each message); a republish of the cache keeps the last one
        self.cache["linkquality"] = self._radio.randint(40, 200)
        if self.last_seen:
            self.cache["last_seen"] = self._stamp()
        if update or transient or self.last_seen:
            self._publish_state(transient)

    def _publish_state(self, transient: dict[str, Any] | None) -> None:
        payload = dict(self.cache) | (transient or {})
        if self.ha_nulls:
            for key in ("action", "action_source_name", "action_user", "pin_code"):
                payload.setdefault(key, None)
        data = json.dumps(payload, sort_keys=True, separators=(",", ":")).encode()
        self.counts.published += 1
        self._publish(self.topic, data, 0, self.retain)
        if self.log_publishes:
            text = f"MQTT publish: topic '{self.topic}', payload '{data.decode()}'"
            self.log("info", text)

    def log(self, level: str, message: str) -> None:
        """A line of Zigbee2MQTT's log (namespace ``z2m``) on ``bridge/logging``, in the
        simulator's version's format (an identical line right after the same one is not
        published again)."""
        if level == "error":
            self.counts.errors += 1
        self._log(level, message)

    # -- answers ---------------------------------------------------------------------------

    def _entry(self, user: int, code: str | None, *, masked: bool = False) -> dict[str, Any]:
        disabled = user in self.disabled
        return user_entry(code, disabled=disabled, expose_pin=self.expose_pin, masked=masked)

    def answer(self, user: int, credential_kind: CredentialKind, code: str | None) -> None:
        """Frame a ``getPinCodeRsp`` for ``user``: a reading of ``credential_kind``, with the
        ``code`` the lock holds (the cache's ``users`` entry changes; the frame is published)."""
        masked = credential_kind is CredentialKind.UNREADABLE
        entry = self._entry(
            user, None if credential_kind is CredentialKind.EMPTY else code, masked=masked
        )
        self.frame({"users": {str(user): entry}})

    def answer_declined(self, user: int) -> None:
        """Frame a ``getPinCodeRsp`` with a status the converter does not know."""
        self.frame({"users": {str(user): declined_entry(expose_pin=self.expose_pin)}})

    def device_entry(self) -> dict[str, Any]:
        """This lock in ``bridge/devices`` (see ``_shapes.definition_entry``)."""
        return definition_entry(
            self.name,
            self.ieee,
            self.model,
            generated=self.generated,
            power_source=self.power_source,
            passive=self.passive,
        )

    # -- the radio's draws ------------------------------------------------------------------

    def read_lost(self) -> bool:
        """Draw whether a read times out (``read_loss``)."""
        return self._rng.random() < self.read_loss

    def draw_latency(self) -> float:
        """Draw how long a command takes (uniform in ``latency``)."""
        low, high = self.latency
        return low if high <= low else self._rng.uniform(low, high)
