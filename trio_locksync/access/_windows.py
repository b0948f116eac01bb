"""When a grant is valid: a date window and weekly hours, as phases and the edges between them.

The rule, one instant ``at`` at a time: AFTER if ``at >= ends``; BEFORE if ``at < starts``; else
OPEN if there are no weekly hours or ``at`` is inside one of their intervals; else BETWEEN.

Weekly intervals live in UTC. For each local date D whose weekday is one of an entry's days, the
interval opens at ``datetime.combine(D, opens, tzinfo=tz)`` (fold=0) and closes at the same on D,
or on D + 1 when ``closes <= opens``; both are converted to UTC. fold=0 is the DST rule: an
opening in a spring-forward gap happens once, shifted forward by the gap (02:30 in New York on
2026-03-08 is 03:30 EDT); one in a fall-back hour happens once, at its first occurrence. An
interval that is empty in UTC (its opening shifted past its closing) is skipped, and the intervals
of all entries merge where they overlap or touch, so every edge is a real change of phase.

``next_edge`` looks at local dates in spans of a few days from ``at`` and returns at the first
span that holds a change. Weekly hours that do not cover the whole week on the wall clock change
within 8 days (15 when DST makes a short closed gap vanish). Hours that cover the whole week
change only where a spring-forward gap cuts a hole between one window's closing and another's
shifted opening; for those ``next_edge`` looks :data:`LOOKAHEAD` ahead (stopping at ``ends``)
and returns None, "never", if it finds none.
"""

from __future__ import annotations

import datetime
import enum
import zoneinfo
from collections.abc import Iterable
from typing import final

import attrs

from ._weekly import InvalidSchedule, Weekly

__all__ = ["LOOKAHEAD", "Phase", "Validity"]

UTC = datetime.UTC
LOOKAHEAD = datetime.timedelta(days=400)
"""How far ``next_edge`` looks for a DST hole in weekly hours that cover the whole week."""

_DAY = datetime.timedelta(days=1)
_MIDNIGHT = datetime.time(0, 0)
_FIRST_SPAN = 3  # days of UTC instants the first look covers; most schedules change within it
_NEXT_SPAN = 9
_WEEK_MINUTES = 7 * 24 * 60

_Interval = tuple[datetime.datetime, datetime.datetime]


class Phase(enum.Enum):
    """Where an instant falls in a :class:`Validity`."""

    BEFORE = "before"  # before starts
    OPEN = "open"  # within the dates and inside the weekly hours (or there are none)
    BETWEEN = "between"  # within the dates, outside the weekly hours
    AFTER = "after"  # at or after ends


def _utc_or_none(name: str, value: object) -> datetime.datetime | None:
    if value is None:
        return None
    if not isinstance(value, datetime.datetime):
        raise TypeError(f"validity {name}: expected a datetime, got {type(value).__name__}")
    if value.utcoffset() is None:
        raise InvalidSchedule(f"validity {name} {value}: must be an aware datetime")
    return value.astimezone(UTC)


def _weekly_entries(value: Weekly | Iterable[Weekly] | None) -> tuple[Weekly, ...]:
    if value is None:
        return ()
    entries = (value,) if isinstance(value, Weekly) else tuple(value)
    for entry in entries:
        if not isinstance(entry, Weekly):
            raise TypeError(f"validity weekly: expected Weekly entries, got {type(entry).__name__}")
    return entries


def _zone(value: datetime.tzinfo | str) -> datetime.tzinfo:
    if isinstance(value, datetime.tzinfo):
        return value
    if not isinstance(value, str):
        raise TypeError(f"validity tz: expected a tzinfo or zone name, got {type(value).__name__}")
    try:
        return zoneinfo.ZoneInfo(value)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise InvalidSchedule(f"validity tz: unknown time zone {value!r}") from None


def _instant(at: object) -> datetime.datetime:
    if not isinstance(at, datetime.datetime):
        raise TypeError(f"at: expected an aware datetime, got {type(at).__name__}")
    if at.utcoffset() is None:
        raise ValueError(f"at {at}: naive datetime; pass an aware one")
    return at.astimezone(UTC)


@final
@attrs.frozen
class Validity:
    """A grant's window: from ``starts`` (inclusive) to ``ends`` (exclusive), either open-ended
    when None, and within it only the ``weekly`` hours (none: all the time), in zone ``tz``.

    ``starts``/``ends`` must be aware and ``ends > starts``; ``weekly`` takes one :class:`Weekly`
    or several; ``tz`` takes a tzinfo or a zone name. Malformed values raise
    :class:`InvalidSchedule`, values of the wrong type ``TypeError``. Every instant this class
    returns is an aware UTC datetime.
    """

    starts: datetime.datetime | None = None
    ends: datetime.datetime | None = None
    weekly: tuple[Weekly, ...] = attrs.field(default=(), converter=_weekly_entries)
    tz: datetime.tzinfo = attrs.field(default=UTC, converter=_zone)
    # UTC copies: aware datetimes sharing one tzinfo compare by wall time, so all math is in UTC.
    _starts: datetime.datetime | None = attrs.field(init=False, eq=False, repr=False)
    _ends: datetime.datetime | None = attrs.field(init=False, eq=False, repr=False)
    _all_week: bool = attrs.field(init=False, eq=False, repr=False)

    def __attrs_post_init__(self) -> None:
        starts = _utc_or_none("starts", self.starts)
        ends = _utc_or_none("ends", self.ends)
        if starts is not None and ends is not None and ends <= starts:
            raise InvalidSchedule(f"validity: ends {self.ends} is not after starts {self.starts}")
        object.__setattr__(self, "_starts", starts)
        object.__setattr__(self, "_ends", ends)
        object.__setattr__(self, "_all_week", _covers_week(self.weekly))

    def phase(self, at: datetime.datetime) -> Phase:
        """The phase at instant ``at`` (aware; TypeError if not a datetime, ValueError if naive)."""
        return self._phase(_instant(at))

    def next_edge(self, at: datetime.datetime) -> datetime.datetime | None:
        """The first instant after ``at`` whose phase differs from ``phase(at)``, in UTC; None
        when the phase never changes again (AFTER, or no end and no weekly change ahead)."""
        at = _instant(at)
        phase = self._phase(at)
        if phase is Phase.AFTER:
            return None
        if phase is Phase.BEFORE:
            return self._starts
        edge = self._weekly_edge(at, phase is Phase.OPEN) if self.weekly else None
        if self._ends is not None and (edge is None or self._ends < edge):
            return self._ends
        return edge

    def _phase(self, at: datetime.datetime) -> Phase:
        if self._ends is not None and at >= self._ends:
            return Phase.AFTER
        if self._starts is not None and at < self._starts:
            return Phase.BEFORE
        if not self.weekly or self._inside(at):
            return Phase.OPEN
        return Phase.BETWEEN

    def _inside(self, at: datetime.datetime) -> bool:
        # An interval from local date E lies within UTC dates E - 1 .. E + 2 (offsets are under
        # a day), so only the local dates UTC(at) - 2 .. UTC(at) + 1 can hold one containing at.
        day = at.date() - 2 * _DAY
        for _ in range(4):
            weekday = day.weekday()
            for entry in self.weekly:
                if weekday in entry.days:
                    opens, closes = self._interval(entry, day)
                    if opens <= at < closes:
                        return True
            day += _DAY
        return False

    def _interval(self, entry: Weekly, day: datetime.date) -> _Interval:
        closing_day = day + _DAY if entry.overnight else day
        opens = datetime.datetime.combine(day, entry.opens, self.tz).astimezone(UTC)
        closes = datetime.datetime.combine(closing_day, entry.closes, self.tz).astimezone(UTC)
        return opens, closes

    def _weekly_edge(self, at: datetime.datetime, inside: bool) -> datetime.datetime | None:
        """The first instant after ``at`` where weekly membership stops being ``inside``.

        Local dates F .. L hold every interval meeting the UTC instants of dates F + 2 .. L - 1
        (see ``_inside``), so each span of UTC dates is decided by the local dates around it.
        """
        start, region_day, span = at, at.date(), _FIRST_SPAN
        limit = at + LOOKAHEAD if self._ends is None else min(at + LOOKAHEAD, self._ends)
        while True:
            end_day = region_day + span * _DAY
            region_end = datetime.datetime.combine(end_day, _MIDNIGHT, UTC)
            first_day = region_day - 2 * _DAY
            if not (self._all_week and self._steady(first_day, span + 3)):
                edge = _first_change(self._merged(first_day, span + 3), start, inside, region_end)
                if edge is not None:
                    return edge
            if region_end >= limit:
                return None
            start, region_day, span = region_end, end_day, _NEXT_SPAN

    def _merged(self, day: datetime.date, count: int) -> list[_Interval]:
        """The merged, sorted intervals that open on local dates ``day`` .. ``day + count - 1``."""
        found: list[_Interval] = []
        for _ in range(count):
            weekday = day.weekday()
            for entry in self.weekly:
                if weekday in entry.days:
                    opens, closes = self._interval(entry, day)
                    if opens < closes:
                        found.append((opens, closes))
            day += _DAY
        found.sort()
        merged: list[_Interval] = []
        for opens, closes in found:
            if merged and opens <= merged[-1][1]:
                if closes > merged[-1][1]:
                    merged[-1] = (merged[-1][0], closes)
            else:
                merged.append((opens, closes))
        return merged

    def _steady(self, day: datetime.date, count: int) -> bool:
        """Whether the UTC offset is the same at every local midnight from ``day`` through two
        days past the last date: then the wall-clock hours map to UTC by one shift (no real zone
        changes its offset twice in one day)."""
        offset = datetime.datetime.combine(day, _MIDNIGHT, self.tz).utcoffset()
        for _ in range(count + 1):
            day += _DAY
            if datetime.datetime.combine(day, _MIDNIGHT, self.tz).utcoffset() != offset:
                return False
        return True


def _first_change(
    merged: list[_Interval], start: datetime.datetime, inside: bool, region_end: datetime.datetime
) -> datetime.datetime | None:
    """The first instant in [start, region_end) where membership of ``merged`` is not
    ``inside``; None if there is none (membership before ``start`` was ``inside``)."""
    for opens, closes in merged:
        if closes <= start:
            continue
        if inside:
            if opens > start:
                return start
            return closes if closes < region_end else None
        if opens <= start:
            return start
        return opens if opens < region_end else None
    return start if inside else None


def _covers_week(weekly: tuple[Weekly, ...]) -> bool:
    """Whether the entries' wall-clock hours, laid on the week, leave no minute uncovered."""
    spans: list[tuple[int, int]] = []
    for entry in weekly:
        opens = entry.opens.hour * 60 + entry.opens.minute
        length = (entry.closes.hour * 60 + entry.closes.minute - opens) % 1440 or 1440
        for day in entry.days:
            begin = day * 1440 + opens
            spans.append((begin, begin + length))
            if begin + length > _WEEK_MINUTES:  # wraps past Sunday midnight
                spans.append((0, begin + length - _WEEK_MINUTES))
    covered = 0
    for begin, end in sorted(spans):
        if begin > covered:
            return False
        covered = max(covered, end)
    return covered >= _WEEK_MINUTES
