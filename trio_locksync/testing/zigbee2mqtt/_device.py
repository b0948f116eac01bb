"""One simulated Zigbee lock as Zigbee2MQTT shows it: the lock's ground truth (a
:class:`VirtualLock`), Zigbee2MQTT's cached state of it, and what each command does to both.

Zigbee2MQTT's behaviour reproduced (research notes §2-§5):

* The state is a cache, deep-merged with every update and published whole on every message
  (sorted keys); ``action*`` fields are not cached (published once). Only an answer to
  ``getPinCode`` writes ``users``: a set or clear changes nothing in the cache, so every later
  message restates the old entry until the slot is read again. With the device option
  ``expose_pin`` off, ``pin_code`` is absent — and an entry keeps the code merged in while it
  was on.
* Success is silent: a set, clear or lock command publishes nothing unless the lock reports
  (``lockState``) — or ``last_seen`` is on, when every frame from the lock republishes the
  whole cache with a fresh ``last_seen`` (the stale-entry trap of lock_code_manager #1335).
* Failures (the lock unreachable, a ZCL timeout) appear only on ``bridge/logging`` after
  ``zcl_timeout``, as Zigbee2MQTT's error line — with the PIN in clear. A lock's refusal
  (``rejected`` PINs, an invalid code) is not even that: the status is not checked.
* ``get {"pin_code": ""}`` reads every user in turn and stops at the first failure.
* User ids are 1..``slots`` (the lock's user 0 is taken); others give the range error.
"""

from __future__ import annotations

import datetime
import json
import math
import random
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from typing import Any, ClassVar, final

import attrs
import trio

from ...core import InvalidPinError, NoPublicConstructor, Pin
from ...credentials import CredentialKind, VirtualLock

__all__ = ["SimulatedLockStatistics", "SimulatedZigbeeLock"]

NO_USER = 65535

Publish = Callable[[str, bytes, int, bool], None]


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

    * ``expose_pin``: answers carry ``pin_code`` (``""`` for an empty slot; ``****`` when
      ``virtual.masked``, a quirk not seen in Zigbee2MQTT itself but in Z-Wave locks).
    * ``latency``: (low, high) seconds each command takes, uniformly drawn.
    * ``never_lands``: user ids whose sets are always lost; ``write_delay``: seconds after
      which a set lands (0: at once) — the command itself returns at once.
    * ``read_loss``: probability that a read times out; ``not_supported``: user ids the lock
      answers ``not_supported_255`` for; ``zcl_timeout``: how long a failed command takes
      before Zigbee2MQTT logs its error.
    * ``retain``: device-state messages retained (device option ``retain``); ``last_seen``:
      every frame republishes the cache with a fresh ``last_seen`` (ISO 8601);
      ``ha_nulls``: Home Assistant's null fill-ins; ``vocabulary``: ``"generic"`` events
      (``action: "unlock"`` + ``action_source_name``) or ``"device"`` ones
      (``keypad_unlock``); ``remote_events``: lock/unlock commands also report an operation
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
        slots: int = 30,
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
        self.name = name
        self.topic = f"{base_topic}/{name}"
        self._log_topic = f"{base_topic}/bridge/logging"
        self._publish = publish
        self._flag = flag
        self.virtual = VirtualLock(
            slots=slots,
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
        self._counts: Counter[str] = Counter()
        self._rng = random.Random(seed)
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
        counts = dict(self._counts)
        counts["lost_writes"] = counts.get("lost_writes", 0) + self.virtual.statistics().lost_writes
        counts["rejected"] = self.virtual.statistics().rejections
        names = attrs.fields_dict(SimulatedLockStatistics)
        return SimulatedLockStatistics(**{name: counts.get(name, 0) for name in names})

    def __repr__(self) -> str:
        return f"<SimulatedZigbeeLock {self.name!r} codes=<{len(self.codes)} set>>"

    # -- Zigbee2MQTT's side -----------------------------------------------------------------

    def remember_users(self) -> None:
        """Put every user's current answer in the cache, as after ``get {"pin_code": ""}``
        (published with the next message)."""
        for user in range(1, self.slots + 1):
            _merge(self.cache, {"users": {str(user): self._entry(user, self._truth(user))}})

    def republish(self) -> None:
        """Publish the cache as it is, old ``last_seen`` and all (Zigbee2MQTT's
        ``publishCached``: at start-up, 30 s after Home Assistant comes online)."""
        self._publish_state(None)

    def set_available(self, online: bool) -> None:
        """Publish the ``availability`` flag (retained, QoS 1) without touching the lock."""
        self._flag(self.name, online)

    def go_offline(self) -> None:
        """The lock drops off the network: commands fail (after ``zcl_timeout``) and the
        availability flag says offline."""
        self.virtual.online = False
        self.set_available(False)

    def go_online(self) -> None:
        self.virtual.online = True
        self.set_available(True)

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
        """The lock's own auto-relock."""
        self._door("lock", None, None, name="auto_lock")

    def jam(self) -> None:
        """The bolt fails to throw: ``lock_state: not_fully_locked`` (``state: UNLOCK``)."""
        self.frame({"state": "UNLOCK", "lock_state": "not_fully_locked"})

    def keypad_set(self, user: int, pin: str) -> None:
        """A code programmed at the door: ground truth and a ``pin_code_added`` event."""
        self.virtual.keypad_set(user, pin)
        self.disabled.discard(user)
        self._event("pin_code_added", 0, user)

    def keypad_clear(self, user: int) -> None:
        self.virtual.keypad_clear(user)
        self.disabled.discard(user)
        self._event("pin_code_deleted", 0, user)

    def _door(self, verb: str, source: int | None, user: int | None, *, name: str = "") -> None:
        if not name:
            named = self.vocabulary == "device" and source == 0
            name = f"keypad_{verb}" if named else verb
        self._event(name, source, user)
        locked = verb == "lock"
        update = {"state": "LOCK" if locked else "UNLOCK"}
        self.frame(update | {"lock_state": "locked" if locked else "unlocked"})

    def _event(self, name: str, source: int | None, user: int | None) -> None:
        transient: dict[str, Any] = {
            "action": name,
            "action_user": NO_USER if user is None else user,
        }
        if source is not None:
            transient["action_source"] = source
            transient["action_source_name"] = ["keypad", "rf", "manual", "rfid"][source]
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
        self._counts["published"] += 1
        self._publish(self.topic, data, 0, self.retain)
        if self.log_publishes:
            text = f"MQTT publish: topic '{self.topic}', payload '{data.decode()}'"
            self.log("info", text)

    def log(self, level: str, message: str) -> None:
        """A line of Zigbee2MQTT's log on ``bridge/logging``."""
        if level == "error":
            self._counts["errors"] += 1
        data = json.dumps({"level": level, "message": message, "namespace": "z2m"})
        self._publish(self._log_topic, data.encode(), 0, False)

    # -- answers ----------------------------------------------------------------------------

    def _truth(self, user: int) -> str | None:
        return self.virtual.codes.get(user)

    def _entry(self, user: int, code: str | None, *, masked: bool = False) -> dict[str, Any]:
        """The ``users`` entry a ``getPinCodeRsp`` for ``user`` produces."""
        if code is None:
            entry: dict[str, Any] = {"status": "available"}
        else:
            entry = {"status": "disabled" if user in self.disabled else "enabled"}
        if self.expose_pin:
            entry["pin_code"] = "" if code is None else ("****" if masked else code)
        return entry

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
