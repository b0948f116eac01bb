"""The persisted form of one armed timer: ``{"end_time": <ISO-8601 UTC>, "duration": <s>}``."""

from __future__ import annotations

import datetime
import math
from typing import Any, final

import attrs

__all__ = ["EntryParts", "InvalidEntry", "TimerEntry", "timer_id_problem", "utc_now"]

UTC = datetime.UTC

#: a :class:`TimerEntry` as a plain tuple: (end_time, duration, json_text)
EntryParts = tuple[datetime.datetime, float, str]


def utc_now() -> datetime.datetime:
    """The default wall clock: an aware UTC datetime."""
    return datetime.datetime.now(UTC)


class InvalidEntry(ValueError):
    """A stored entry that cannot be used; the message says why (never the raw content)."""


def timer_id_problem(timer_id: object) -> str | None:
    """Why ``timer_id`` cannot name a timer, or None if it can.

    One rule for ``AutolockService.timer()`` and for ids read back from the store file: any
    non-empty ``str`` that can be written as UTF-8. A JSON key is always a string but may be
    ``""``, or hold a lone surrogate (spelled ``"\\ud800"`` in the file) that would make every
    later save of the file fail to encode. Whitespace is not special: ``" "`` is a valid id,
    distinct from ``""`` (ids are opaque, never stripped), so a timer armed under it still fires
    after a restart.
    """
    if not isinstance(timer_id, str):
        return f"timer id is not a string ({type(timer_id).__name__})"
    if not timer_id:
        return "timer id is empty"
    try:
        timer_id.encode("utf-8")
    except UnicodeEncodeError:
        return "timer id is not valid Unicode (it has a lone surrogate)"
    return None


def _aware_utc(instance: object, attribute: attrs.Attribute[Any], value: object) -> None:
    if not isinstance(value, datetime.datetime) or value.utcoffset() is None:
        raise InvalidEntry(f"{attribute.name} must be an aware datetime")


@final
@attrs.frozen
class TimerEntry:
    """When a timer fires (``end_time``, aware UTC) and the duration it was armed with."""

    end_time: datetime.datetime = attrs.field(validator=_aware_utc)
    duration: float = attrs.field()
    #: the stored form, encoded once (see :attr:`json_text`); not part of equality
    _text: str = attrs.field(init=False, eq=False, repr=False, hash=False)

    @duration.validator
    def _check_duration(self, attribute: attrs.Attribute[float], value: float) -> None:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise InvalidEntry("duration is not a number")
        if not math.isfinite(value) or value < 0:
            raise InvalidEntry("duration is negative or not finite")

    def __attrs_post_init__(self) -> None:
        end = self.end_time
        if end.tzinfo is not UTC:
            end = end.astimezone(UTC)
        duration = self.duration
        number = int.__repr__(duration) if isinstance(duration, int) else float.__repr__(duration)
        # Byte for byte what json_encoder makes of to_json(): the ISO string needs no escaping.
        text = f'{{"end_time":"{end.isoformat()}","duration":{number}}}'
        object.__setattr__(self, "_text", text)

    @classmethod
    def starting(cls, now: datetime.datetime, duration: float) -> TimerEntry:
        """A timer of ``duration`` seconds started at ``now``."""
        return cls(end_time=now + datetime.timedelta(seconds=duration), duration=float(duration))

    def remaining(self, now: datetime.datetime) -> float:
        """Seconds until ``end_time``, clamped to [0, duration].

        The clamp is what makes a wall clock that jumped *back* (a dead RTC battery, a bad NTP
        step) harmless: a timer never waits longer than its own full duration after recovery.
        A clock that jumped forward makes timers fire early, on the safe side.
        """
        seconds = (self.end_time - now).total_seconds()
        return min(max(seconds, 0.0), float(self.duration))

    def parts(self) -> EntryParts:
        """``(end_time, duration, json_text)``: the entry as a plain tuple. The cyclic GC stops
        tracking a tuple of atoms, so 100,000 kept as tuples cost no time in its full
        collections, where 100,000 entries would be walked at every one (~30 ms each)."""
        return (self.end_time, self.duration, self._text)

    @classmethod
    def from_parts(cls, parts: EntryParts) -> TimerEntry:
        """The entry :meth:`parts` gave (trusted: nothing is checked again)."""
        entry = object.__new__(cls)
        object.__setattr__(entry, "end_time", parts[0])
        object.__setattr__(entry, "duration", parts[1])
        object.__setattr__(entry, "_text", parts[2])
        return entry

    @property
    def json_text(self) -> str:
        """The stored form encoded as compact JSON, made once per entry: one ~115-byte string
        per armed timer instead of a dict and its strings (~265 bytes)."""
        return self._text

    def to_json(self) -> dict[str, Any]:
        """The stored form: ``{"end_time": ISO-8601 UTC, "duration": seconds}``."""
        return {"end_time": self.end_time.astimezone(UTC).isoformat(), "duration": self.duration}

    @classmethod
    def from_json(cls, raw: object) -> TimerEntry:
        """Parse a stored entry; raises ``InvalidEntry`` (a ValueError). A naive end_time is read
        as UTC."""
        if not isinstance(raw, dict):
            raise InvalidEntry("entry is not a mapping")
        end_raw = raw.get("end_time")
        if not isinstance(end_raw, str):
            raise InvalidEntry("end_time is missing or not a string")
        try:
            end_time = datetime.datetime.fromisoformat(end_raw)
        except ValueError:
            raise InvalidEntry("end_time is not an ISO-8601 datetime") from None
        if end_time.tzinfo is not UTC:  # "+00:00" parses to UTC itself: nothing to convert
            if end_time.utcoffset() is None:
                end_time = end_time.replace(tzinfo=UTC)
            try:
                end_time = end_time.astimezone(UTC)
            except OverflowError:  # e.g. 0001-01-01T00:00+01:00: before datetime.min in UTC
                raise InvalidEntry("end_time is outside the representable range") from None
        duration = raw.get("duration")
        if type(duration) is not float or not 0.0 <= duration < math.inf:
            return cls(end_time=end_time, duration=duration)  # type: ignore[arg-type]
        # The common case, checked above as the validators would (a finite float >= 0 and an
        # aware UTC end_time): skip attrs' __init__, a third of the cost of reading a large file.
        entry = object.__new__(cls)
        object.__setattr__(entry, "end_time", end_time)
        object.__setattr__(entry, "duration", duration)
        if _is_canonical(end_raw, end_time):  # the file's own string is what isoformat() gives
            text = f'{{"end_time":"{end_raw}","duration":{float.__repr__(duration)}}}'
            object.__setattr__(entry, "_text", text)
        else:
            entry.__attrs_post_init__()
        return entry


def _is_canonical(text: str, parsed: datetime.datetime) -> bool:
    """Whether ``text``, which ``fromisoformat`` parsed to the UTC datetime ``parsed``, is
    exactly ``parsed.isoformat()``: ``YYYY-MM-DDTHH:MM:SS[.ffffff]+00:00`` in ASCII, with the
    fraction present exactly when the microseconds are not 0. The shape pins every character
    that is not a digit, and ASCII digits at those places can only be the ones parsed.
    Spares an isoformat() per entry when a large file is read (~15 % of reading it)."""
    size = len(text)
    if size == 32:
        if text[19] != "." or parsed.microsecond == 0:
            return False
    elif size != 25 or parsed.microsecond != 0:
        return False
    return (
        text.isascii()
        and text.endswith("+00:00")
        and text[4] == "-"
        and text[7] == "-"
        and text[10] == "T"
        and text[13] == ":"
        and text[16] == ":"
        and parsed.tzinfo is UTC
    )
