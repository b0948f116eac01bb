"""Weekly opening hours: some days of the week and a local opening and closing time.

The text form (case-insensitive; whitespace separates the days from the times)::

    weekly := days " " opens "-" closes        "mon-fri 09:00-12:00", "daily 22:00-06:00"
    days   := item ("," item)*                  "sat,sun", "mon,wed-fri"
    item   := "daily" | day | day "-" day       a range runs forward and may wrap: "fri-mon"
    day    := "mon" | "tue" | ... | "sun"       or the full English name: "monday"
    time   := H:MM | HH:MM                      00:00 to 23:59; a closing time may be "24:00"

A closing time at or before the opening time closes on the next day ("22:00-06:00"); equal times
are a window of 24 hours ("00:00-00:00", also written "00:00-24:00"), and "24:00" is read as
"00:00". ``str()`` gives the canonical text (three-letter days, runs of three or more days as a
range, zero-padded times, "daily" for all seven days), and ``Weekly.parse(str(w)) == w``.
"""

from __future__ import annotations

import datetime
import re
from collections.abc import Iterable
from typing import final

import attrs

from trio_locksync.core import LockSyncError

__all__ = ["DAY_NAMES", "InvalidSchedule", "Weekly"]

DAY_NAMES = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
"""The canonical day names, indexed like ``date.weekday()`` (0 = Monday)."""

_FULL_NAMES = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
_DAYS = {name: day for names in (DAY_NAMES, _FULL_NAMES) for day, name in enumerate(names)}
_TIME = re.compile(r"([0-9]{1,2}):([0-9]{2})")
_FORM = re.compile(r"\s*(\S.*?)\s+([^\s-]+)\s*-\s*([^\s-]+)\s*")


@final
class InvalidSchedule(LockSyncError, ValueError):
    """A weekly schedule or a validity window is malformed: the message says which part and why;
    nothing was created."""


def _days(value: Iterable[int]) -> frozenset[int]:
    days = frozenset(value)
    if not days:
        raise InvalidSchedule("weekly days: at least one day is needed")
    for day in days:
        if isinstance(day, bool) or not isinstance(day, int):
            raise TypeError(f"weekly days: expected weekday numbers, got {type(day).__name__}")
        if not 0 <= day <= 6:
            raise InvalidSchedule(f"weekly days: {day!r} is not a weekday 0 (Mon) to 6 (Sun)")
    return days


def _wall_time(value: datetime.time) -> datetime.time:
    if not isinstance(value, datetime.time):
        raise TypeError(f"weekly time: expected a datetime.time, got {type(value).__name__}")
    if value.tzinfo is not None:
        raise InvalidSchedule(f"weekly time {value}: must be a naive wall time (no tzinfo)")
    if value.second or value.microsecond:
        raise InvalidSchedule(f"weekly time {value}: must be whole minutes")
    return value.replace(fold=0)


@final
@attrs.frozen
class Weekly:
    """Open on each of ``days`` from ``opens`` to ``closes``, wall times in the plan's zone.

    ``days`` are ``date.weekday()`` numbers (0 = Monday) of the *opening* day; any iterable of
    them is accepted. ``closes <= opens`` closes on the day after (``closes == opens``: 24 hours).
    Times are naive and whole minutes; ``fold`` is ignored (normalised to 0). Invalid values raise
    :class:`InvalidSchedule` (a ``ValueError``), values of the wrong type ``TypeError``.
    """

    days: frozenset[int] = attrs.field(converter=_days)
    opens: datetime.time = attrs.field(converter=_wall_time)
    closes: datetime.time = attrs.field(converter=_wall_time)

    @property
    def overnight(self) -> bool:
        """True when the window closes on the day after it opens (``closes <= opens``)."""
        return self.closes <= self.opens

    @classmethod
    def parse(cls, text: str) -> Weekly:
        """Read the text form (module docstring), e.g. ``"mon,wed-fri 8:30-17:00"``.

        Raises :class:`InvalidSchedule` naming the part that is wrong ("unknown day 'mnday'").
        """
        form = _FORM.fullmatch(text)
        if form is None:
            raise InvalidSchedule(
                f"weekly hours {text!r}: expected '<days> <HH:MM>-<HH:MM>' ('mon-fri 09:00-17:00')"
            )
        days_text, opens_text, closes_text = form.groups()
        try:
            days = _parse_days(days_text)
            opens = _parse_time(opens_text, closing=False)
            closes = _parse_time(closes_text, closing=True)
        except InvalidSchedule as exc:
            raise InvalidSchedule(f"weekly hours {text!r}: {exc}") from None
        return cls(days, opens, closes)

    def __str__(self) -> str:
        return f"{_format_days(self.days)} {self.opens:%H:%M}-{self.closes:%H:%M}"


def _parse_days(text: str) -> frozenset[int]:
    days: set[int] = set()
    for item in text.lower().split(","):
        first, dash, last = (part.strip() for part in item.partition("-"))
        if not first:
            raise InvalidSchedule(f"a day is missing in {text!r}")
        if dash and not last:
            raise InvalidSchedule(f"day range {item.strip()!r} has no end")
        if first == "daily" and not dash:
            days.update(range(7))
            continue
        start = _day(first)
        end = _day(last) if dash else start
        days.update((start + step) % 7 for step in range((end - start) % 7 + 1))
    return frozenset(days)


def _day(name: str) -> int:
    try:
        return _DAYS[name]
    except KeyError:
        raise InvalidSchedule(
            f"unknown day {name!r} (days are mon, tue, wed, thu, fri, sat, sun)"
        ) from None


def _parse_time(text: str, *, closing: bool) -> datetime.time:
    match = _TIME.fullmatch(text)
    if match is None:
        raise InvalidSchedule(f"bad time {text!r} (expected HH:MM)")
    hour, minute = int(match[1]), int(match[2])
    if closing and (hour, minute) == (24, 0):
        return datetime.time(0, 0)
    if hour > 23 or minute > 59:
        raise InvalidSchedule(f"bad time {text!r} (00:00 to 23:59; '24:00' only as a closing time)")
    return datetime.time(hour, minute)


def _format_days(days: frozenset[int]) -> str:
    if len(days) == 7:
        return "daily"
    parts: list[str] = []
    ordered = sorted(days)
    start = 0
    while start < len(ordered):
        end = start
        while end + 1 < len(ordered) and ordered[end + 1] == ordered[end] + 1:
            end += 1
        first, last = DAY_NAMES[ordered[start]], DAY_NAMES[ordered[end]]
        if end - start >= 2:
            parts.append(f"{first}-{last}")
        else:
            parts.extend(DAY_NAMES[day] for day in ordered[start : end + 1])
        start = end + 1
    return ",".join(parts)
