"""One simulated Zigbee lock as Zigbee2MQTT 2.x shows it: the lock's ground truth (a
:class:`VirtualLock`), Zigbee2MQTT's cached state of it, and what each command does to both.

Every shape it publishes is read from Zigbee2MQTT 2.12.1 (6835cbf5) and
zigbee-herdsman-converters 26.99.0 (df720053, the same lock code as the 26.76.0 that 2.12.1
ships) and pinned in ``tests/test_zigbee2mqtt_simulator_shapes.py``, file and line:

* The state is a cache, deep-merged with every update and published whole on every message,
  keys sorted (``lib/state.ts:117-127``, ``lib/controller.ts:386-451``); ``action`` and
  ``action_*`` are never cached (``lib/state.ts:11-31``). Only an answer to ``getPinCode``
  writes ``users`` (``fromZigbee.ts:380-400``): a set or clear publishes nothing
  (``toZigbee.ts:430-455``), so every later message — a battery or link-quality report too —
  restates the old entry until the slot is read again.
* Users are numbered ``0 .. pinCodeCount - 1`` (``toZigbee.ts:440,471``); the count comes with
  the model (``PIN_CODE_COUNTS``). A lock with a count of its own gets a generated definition.
* ``pin_code`` is in an entry only with the device option ``expose_pin``, and then ``""`` for
  a slot without a code (``available``, ``not_supported_<n>``: an empty Buffer is truthy,
  ``fromZigbee.ts:395-396``).
* Lock events carry ``action``, ``action_user``, ``action_source`` and, for sources 0-4,
  ``action_source_name`` (``fromZigbee.ts:263-313``, ``constants.ts:290-296``); vendor
  vocabularies (``keypad_unlock``: Onesti, easyaccess) publish only ``action``.
* Failures (the lock unreachable, no answer) appear only on ``bridge/logging`` (see the
  simulator), after ``zcl_timeout``, with the PIN of a failed set in clear; a lock's refusal of
  a code is not even that (``checkStatus`` is off for lock commands).
* ``get {"pin_code": ""}`` reads every user in turn and stops at the first failure.
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

import attrs
import trio

from ...core import InvalidPinError, NoPublicConstructor, Pin
from ...credentials import CredentialKind
from ...providers.zigbee2mqtt import PIN_CODE_COUNTS
from .._virtual_lock import VirtualLock

__all__ = ["SimulatedCounts", "SimulatedLockStatistics", "SimulatedZigbeeLock"]

NO_USER = 65535
#: ``lockSourceName`` (zigbee-herdsman-converters ``src/lib/constants.ts:290-296``)
SOURCE_NAMES = {0: "keypad", 1: "rf", 2: "manual", 3: "rfid", 4: "fingerprint"}

Publish = Callable[[str, bytes, int, bool], None]

#: the model a simulated lock is unless told (zigbee-herdsman-converters kwikset.ts:42-47)
DEFAULT_MODEL = ("Kwikset", "99140-002")
#: models that read a user after a programming event (``readPinCodeOnProgrammingEvent``:
#: Weiser, modernExtend.ts:1567-1569; Datek ID Lock, datek.ts:347)
READS_ON_PROGRAMMING = frozenset(
    {("Weiser", "9GED18000-009"), ("Weiser", "9GED21500-005"), ("Datek", "0402946")}
)


def _users(model: tuple[str, str] | None, slots: int | None) -> tuple[int, tuple[str, str], bool]:
    """The lock's user count, its (vendor, model), and whether its definition is generated."""
    if model is None and slots is not None:
        return slots, ("trio_locksync", f"simulated lock, {slots} users"), True
    model = DEFAULT_MODEL if model is None else model
    count = PIN_CODE_COUNTS.get(model)
    if count is None:
        raise ValueError(f"{model!r} is not in PIN_CODE_COUNTS; give slots= instead")
    if slots is not None and slots != count:
        raise ValueError(f"a {model[0]} {model[1]} has {count} users, not {slots}")
    return count, model, False


@final
@attrs.frozen
class SimulatedLockStatistics:
    """What a :class:`SimulatedZigbeeLock` was asked and did.

    ``sets``/``clears``/``gets`` commands received (per user id: :attr:`~SimulatedZigbeeLock.
    set_counts`); ``commands`` lock/unlock commands; ``lost_writes`` sets that stored nothing
    (``never_lands`` and ``write_lands``); ``late_writes`` sets stored only after
    ``write_delay``; ``lost_reads`` reads that timed out; ``declined_reads`` answered
    ``not_supported_255``; ``rejected`` sets the lock refused (silently, as Zigbee2MQTT does);
    ``errors`` error lines on ``bridge/logging``; ``published`` device-state messages.
    """

    sets: int
    clears: int
    gets: int
    commands: int
    lost_writes: int
    late_writes: int
    lost_reads: int
    declined_reads: int
    rejected: int
    errors: int
    published: int


@final
@attrs.define
class SimulatedCounts:
    """What a :class:`SimulatedZigbeeLock` counts as it goes (typed: a typo is an
    AttributeError); :meth:`SimulatedZigbeeLock.statistics` adds the virtual lock's."""

    sets: int = 0
    clears: int = 0
    gets: int = 0
    commands: int = 0
    lost_writes: int = 0
    late_writes: int = 0
    lost_reads: int = 0
    declined_reads: int = 0
    errors: int = 0
    published: int = 0


def _merge(into: dict[str, Any], update: Mapping[str, Any]) -> None:
    """Zigbee2MQTT's ``objectAssignDeep``: nested objects merged key by key."""
    for key, value in update.items():
        if isinstance(value, Mapping) and isinstance(into.get(key), dict):
            _merge(into[key], value)
        else:
            into[key] = json.loads(json.dumps(value))  # a copy: the cache owns its values


@final
class SimulatedZigbeeLock(metaclass=NoPublicConstructor):
    """A Zigbee lock in a simulated Zigbee2MQTT; made by ``Zigbee2MqttSimulator.add_lock()``.

    Ground truth is :attr:`codes` (user id -> PIN; that of :attr:`virtual`, whose knobs —
    ``write_lands``, ``fail_rate``, ``masked``, ``rejected``, ``online`` — apply) plus
    :attr:`disabled`. The knobs below are attributes, settable while it runs:

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
        users, self.model, self.generated = _users(model, slots)
        self.name = name
        self.topic = f"{base_topic}/{name}"
        #: its IEEE address, in ``bridge/devices`` and in herdsman's error lines alike
        self.ieee = f"0x{hashlib.sha256(name.encode()).hexdigest()[:16]}"
        self._publish = publish
        self._flag = flag
        self._log = log
        self.power_source = power_source
        self.reports = reports
        self.virtual = VirtualLock(
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
        self.latency = (low, high)
        self.never_lands = set(never_lands)
        self.write_delay = write_delay
        self.read_loss = read_loss
        self.not_supported = set(not_supported)
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
        self.counts = SimulatedCounts()
        self._rng = random.Random(seed)
        self._radio = random.Random(self.ieee)  # link qualities, apart from the knobs' draws
        self._last_stamp = 0
        #: commands (``"set"``/``"get"``, payload) waiting for the device's turn
        self.inbox_send, self.inbox = trio.open_memory_channel[tuple[str, bytes]](math.inf)

    # -- ground truth -----------------------------------------------------------------------

    @property
    def slots(self) -> int:
        return self.virtual.slots

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
        virtual = self.virtual.statistics()
        counts = attrs.asdict(self.counts) | {"rejected": virtual.rejections}
        counts["lost_writes"] += virtual.lost_writes
        return SimulatedLockStatistics(**counts)

    def __repr__(self) -> str:
        return f"<SimulatedZigbeeLock {self.name!r} codes=<{len(self.codes)} set>>"

    # -- Zigbee2MQTT's side -----------------------------------------------------------------

    def remember_users(self) -> None:
        """Put every user's current answer in the cache, as after ``get {"pin_code": ""}``
        (published with the next message)."""
        for user in self.virtual.slot_numbers:
            _merge(self.cache, {"users": {str(user): self._entry(user, self._truth(user))}})

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
        self._door("lock", 0, user)

    def manual_unlock(self) -> None:
        """The thumb turn (``manual_unlock``, source manual, user 65535)."""
        self._door("unlock", 2, None, name="manual_unlock")

    def manual_lock(self) -> None:
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
            self._answer(user, CredentialKind.EMPTY if code is None else kind, code)

    def _door(self, verb: str, source: int, user: int | None, *, name: str = "") -> None:
        if not name:
            named = self.vocabulary == "device" and source == 0
            name = f"keypad_{verb}" if named else verb
        self._event(name, source, user)
        locked = verb == "lock"
        update = {"state": "LOCK" if locked else "UNLOCK"}
        self.frame(update | {"lock_state": "locked" if locked else "unlocked"})

    def _event(self, name: str, source: int, user: int | None) -> None:
        """An operation or programming event (``fromZigbee.ts:263-313``): ``action``,
        ``action_user``, ``action_source`` and its name for sources 0-4 (``constants.ts:
        290-296``; stable-stringify drops an undefined one). A vendor vocabulary publishes the
        action alone (Onesti ``easycodetouch_action``, ``onesti.ts:118-128``)."""
        transient: dict[str, Any] = {"action": name}
        if self.vocabulary == "generic" or not name.startswith("keypad_"):
            transient["action_user"] = NO_USER if user is None else user
            transient["action_source"] = source
            if source in SOURCE_NAMES:
                transient["action_source_name"] = SOURCE_NAMES[source]
        self.frame(None, transient)

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
            _merge(self.cache, update)
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

    # -- answers ----------------------------------------------------------------------------

    def _truth(self, user: int) -> str | None:
        return self.virtual.codes.get(user)

    def _entry(self, user: int, code: str | None, *, masked: bool = False) -> dict[str, Any]:
        """The ``users`` entry a ``getPinCodeRsp`` for ``user`` produces
        (``fromZigbee.ts:380-400``: status 0 ``available``, 1 ``enabled``, 3 ``disabled``)."""
        if code is None:
            entry: dict[str, Any] = {"status": "available"}
        else:
            entry = {"status": "disabled" if user in self.disabled else "enabled"}
        if self.expose_pin:
            entry["pin_code"] = "" if code is None else ("****" if masked else code)
        return entry

    def declined(self, user: int) -> dict[str, Any]:
        """The entry of a ``getPinCodeRsp`` with a user status the converter does not know
        (``not_supported_255``): with ``expose_pin``, ``pin_code`` is ``""`` (an empty Buffer
        is truthy, ``fromZigbee.ts:395-396``)."""
        entry: dict[str, Any] = {"status": "not_supported_255"}
        if self.expose_pin:
            entry["pin_code"] = ""
        return entry

    def device_entry(self) -> dict[str, Any]:
        """This lock in ``bridge/devices`` (``lib/extension/bridge.ts:780-841``,
        ``getDefinitionPayload`` 895-905): no ``meta``, so no ``pinCodeCount``; the
        ``pin_code`` expose's ``user`` has no range (``exposes.ts:1387-1396``)."""
        vendor, model = self.model
        user = {"access": 2, "name": "user", "property": "user", "type": "numeric"}
        user["description"] = "User ID to set or clear the pincode for"
        pin_code = {
            "access": 7,
            "features": [user],
            "label": "Pin code",
            "name": "pin_code",
            "property": "pin_code",
            "type": "composite",
        }
        lock = {"features": [{"name": "state", "property": "state"}], "type": "lock"}
        return {
            "definition": {
                "description": "Simulated lock" if self.generated else f"{vendor} {model}",
                "exposes": [lock, pin_code],
                "model": model,
                "options": [{"name": "expose_pin", "type": "binary"}],
                "source": "generated" if self.generated else "native",
                "supports_ota": False,
                "vendor": vendor,
            },
            "disabled": False,
            "friendly_name": self.name,
            "ieee_address": self.ieee,
            "interview_completed": True,
            "interview_state": "SUCCESSFUL",
            "interviewing": False,
            "power_source": self.power_source,
            "supported": True,
            "type": "EndDevice" if self.passive else "Router",
        }

    def _answer(self, user: int, credential_kind: CredentialKind, code: str | None) -> None:
        masked = credential_kind is CredentialKind.UNREADABLE
        entry = self._entry(
            user, None if credential_kind is CredentialKind.EMPTY else code, masked=masked
        )
        self.frame({"users": {str(user): entry}})

    def _pin(self, code: str) -> Pin | None:
        try:
            return Pin(code)
        except InvalidPinError:
            return None

    def _draw_latency(self) -> float:
        low, high = self.latency
        return low if high <= low else self._rng.uniform(low, high)
