"""Weekly hours and validity windows: parsing, phases and edges across real DST changes."""

from __future__ import annotations

import datetime
import zoneinfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from trio_locksync.access._weekly import InvalidSchedule, Weekly
from trio_locksync.access._windows import Phase, Validity
from trio_locksync.core import LockSyncError

UTC = datetime.UTC
NEW_YORK = zoneinfo.ZoneInfo("America/New_York")
BERLIN = zoneinfo.ZoneInfo("Europe/Berlin")
LORD_HOWE = zoneinfo.ZoneInfo("Australia/Lord_Howe")
ZONES = (UTC, NEW_YORK, BERLIN, LORD_HOWE)
# 2026 offset changes of those zones (local dates)
DST_DATES = (
    datetime.date(2026, 3, 8),  # New York spring forward, 02:00 EST -> 03:00 EDT
    datetime.date(2026, 11, 1),  # New York fall back, 02:00 EDT -> 01:00 EST
    datetime.date(2026, 3, 29),  # Berlin spring forward, 02:00 CET -> 03:00 CEST
    datetime.date(2026, 10, 25),  # Berlin fall back, 03:00 CEST -> 02:00 CET
    datetime.date(2026, 4, 5),  # Lord Howe back 30 minutes, 02:00 -> 01:30
    datetime.date(2026, 10, 4),  # Lord Howe forward 30 minutes, 02:00 -> 02:30
)
US = datetime.timedelta(microseconds=1)


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime.datetime:
    return datetime.datetime(year, month, day, hour, minute, tzinfo=UTC)


def walk(
    validity: Validity, at: datetime.datetime, count: int
) -> list[tuple[datetime.datetime, Phase]]:
    """The next ``count`` edges from ``at`` (fewer if None comes first) and the phase at each."""
    edges = []
    for _ in range(count):
        edge = validity.next_edge(at)
        if edge is None:
            break
        edges.append((edge, validity.phase(edge)))
        at = edge
    return edges


# --- parsing ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "canonical"),
    [
        ("mon-fri 09:00-12:00", "mon-fri 09:00-12:00"),
        ("sat,sun 10:00-14:00", "sat,sun 10:00-14:00"),
        ("daily 22:00-06:00", "daily 22:00-06:00"),
        ("mon,wed-fri 8:30-17:00", "mon,wed-fri 08:30-17:00"),
        ("MON-Fri 9:05-9:10", "mon-fri 09:05-09:10"),
        ("  Monday , Wednesday-FRIDAY   08:30 - 17:00 ", "mon,wed-fri 08:30-17:00"),
        ("mon-sun 00:00-24:00", "daily 00:00-00:00"),
        ("fri-mon 18:00-02:00", "mon,fri-sun 18:00-02:00"),
        ("sun-sat 07:00-08:00", "daily 07:00-08:00"),
        ("tue-tue 07:00-08:00", "tue 07:00-08:00"),
        ("mon,mon,tue 07:00-08:00", "mon,tue 07:00-08:00"),
        ("mon,tue,wed 07:00-08:00", "mon-wed 07:00-08:00"),
        ("sun,mon 07:00-08:00", "mon,sun 07:00-08:00"),
        ("daily,mon 07:00-08:00", "daily 07:00-08:00"),
        ("wed 12:00-12:00", "wed 12:00-12:00"),
    ],
)
def test_parse_good_forms(text: str, canonical: str) -> None:
    weekly = Weekly.parse(text)
    assert str(weekly) == canonical
    assert Weekly.parse(canonical) == weekly


def test_parse_fields() -> None:
    weekly = Weekly.parse("mon,wed-fri 8:30-17:00")
    assert weekly == Weekly({0, 2, 3, 4}, datetime.time(8, 30), datetime.time(17))
    assert weekly.days == frozenset({0, 2, 3, 4})
    assert not weekly.overnight
    assert Weekly.parse("daily 22:00-06:00").overnight
    assert Weekly.parse("daily 06:00-06:00").overnight  # equal: 24 hours, closes the next day


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "expected '<days> <HH:MM>-<HH:MM>'"),
        ("mon", "expected '<days> <HH:MM>-<HH:MM>'"),
        ("09:00-12:00", "expected '<days> <HH:MM>-<HH:MM>'"),
        ("mon-fri 09:00", "expected '<days> <HH:MM>-<HH:MM>'"),
        ("mon-fri 09:00-12:00 extra", "expected '<days> <HH:MM>-<HH:MM>'"),
        ("mnday 09:00-12:00", "unknown day 'mnday'"),
        ("mon-frii 09:00-12:00", "unknown day 'frii'"),
        ("mon-tue-wed 09:00-12:00", "unknown day 'tue-wed'"),
        ("mon,,tue 09:00-12:00", "a day is missing in 'mon,,tue'"),
        ("-fri 09:00-12:00", "a day is missing"),
        ("mon- 09:00-12:00", "day range 'mon-' has no end"),
        ("mon-fri 9-12", "bad time '9' (expected HH:MM)"),
        ("mon-fri 09:00-12", "bad time '12' (expected HH:MM)"),
        ("mon-fri 9.00-12:00", "bad time '9.00'"),
        ("mon-fri 009:00-12:00", "bad time '009:00'"),
        ("mon-fri 24:00-12:00", "bad time '24:00' (00:00 to 23:59; '24:00' only as a closing"),
        ("mon-fri 09:00-24:01", "bad time '24:01'"),
        ("mon-fri 25:00-26:00", "bad time '25:00'"),
        ("mon-fri 09:60-10:00", "bad time '09:60'"),
        ("mon ٠٩:00-12:00", "bad time '٠٩:00'"),  # Arabic-Indic digits are not HH:MM
    ],
)
def test_parse_bad_forms(text: str, message: str) -> None:
    with pytest.raises(InvalidSchedule) as caught:
        Weekly.parse(text)
    assert str(caught.value).startswith(f"weekly hours {text!r}: ")
    assert message in str(caught.value)
    assert isinstance(caught.value, ValueError)
    assert isinstance(caught.value, LockSyncError)


def test_weekly_constructor_checks() -> None:
    nine, ten = datetime.time(9), datetime.time(10)
    assert Weekly([5, 6, 5], nine, ten).days == frozenset({5, 6})
    with pytest.raises(InvalidSchedule, match="at least one day"):
        Weekly(set(), nine, ten)
    with pytest.raises(InvalidSchedule, match="7 is not a weekday 0"):
        Weekly({7}, nine, ten)
    with pytest.raises(InvalidSchedule, match="-1 is not a weekday"):
        Weekly({-1}, nine, ten)
    with pytest.raises(TypeError, match="expected weekday numbers, got bool"):
        Weekly({True}, nine, ten)
    with pytest.raises(TypeError, match="expected weekday numbers, got str"):
        Weekly("mon", nine, ten)  # type: ignore[arg-type]
    with pytest.raises(InvalidSchedule, match="whole minutes"):
        Weekly({0}, datetime.time(9, 0, 30), ten)
    with pytest.raises(InvalidSchedule, match="whole minutes"):
        Weekly({0}, nine, datetime.time(10, 0, 0, 1))
    with pytest.raises(InvalidSchedule, match="naive wall time"):
        Weekly({0}, datetime.time(9, tzinfo=UTC), ten)
    with pytest.raises(TypeError, match=r"datetime\.time"):
        Weekly({0}, "09:00", ten)  # type: ignore[arg-type]
    folded = Weekly({0}, datetime.time(1, 30, fold=1), ten)
    assert folded.opens.fold == 0
    assert folded == Weekly({0}, datetime.time(1, 30), ten)


minutes = st.builds(datetime.time, st.integers(0, 23), st.integers(0, 59))
weeklies = st.builds(Weekly, st.frozensets(st.integers(0, 6), min_size=1), minutes, minutes)


@given(weeklies)
def test_canonical_round_trip(weekly: Weekly) -> None:
    text = str(weekly)
    assert Weekly.parse(text) == weekly
    assert str(Weekly.parse(text)) == text
    assert Weekly.parse(text.upper()) == weekly


@given(weeklies, st.randoms(use_true_random=False), st.booleans())
def test_other_spellings_parse_to_the_same(weekly: Weekly, rng: object, full: bool) -> None:
    import random

    assert isinstance(rng, random.Random)
    names = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
    days = [names[day] if full else names[day][:3] for day in weekly.days]
    rng.shuffle(days)
    closes = "24:00" if weekly.closes == datetime.time(0) else f"{weekly.closes:%H:%M}"
    text = f"{','.join(days).title()}  {weekly.opens.hour}:{weekly.opens:%M} - {closes}"
    assert Weekly.parse(text) == weekly


# --- validity: construction and plain windows -------------------------------------------------


def test_validity_checks() -> None:
    start = utc(2026, 1, 1)
    with pytest.raises(InvalidSchedule, match=r"ends .* is not after starts"):
        Validity(start, start)
    with pytest.raises(InvalidSchedule, match=r"ends .* is not after starts"):
        Validity(start, start - US)
    with pytest.raises(InvalidSchedule, match=r"starts .* must be an aware datetime"):
        Validity(datetime.datetime(2026, 1, 1))
    with pytest.raises(InvalidSchedule, match=r"ends .* must be an aware datetime"):
        Validity(None, datetime.datetime(2026, 1, 1))
    with pytest.raises(TypeError, match="starts: expected a datetime, got date"):
        Validity(datetime.date(2026, 1, 1))  # type: ignore[arg-type]
    with pytest.raises(InvalidSchedule, match="unknown time zone 'Mars/Olympus'"):
        Validity(tz="Mars/Olympus")
    with pytest.raises(TypeError, match="expected Weekly entries, got str"):
        Validity(weekly=["mon 09:00-10:00"])  # type: ignore[list-item]
    validity = Validity(weekly=Weekly.parse("mon 09:00-10:00"), tz="Europe/Berlin")
    assert validity.weekly == (Weekly.parse("mon 09:00-10:00"),)
    assert validity.tz == BERLIN
    # equal instants in different zones are one window
    assert Validity(start.astimezone(BERLIN)) == Validity(start)


def test_at_must_be_an_aware_datetime() -> None:
    validity = Validity()
    with pytest.raises(ValueError, match="naive datetime"):
        validity.phase(datetime.datetime(2026, 1, 1))
    with pytest.raises(ValueError, match="naive datetime"):
        validity.next_edge(datetime.datetime(2026, 1, 1))
    with pytest.raises(TypeError, match="got date"):
        validity.phase(datetime.date(2026, 1, 1))  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="got str"):
        validity.next_edge("2026-01-01")  # type: ignore[arg-type]


def test_no_weekly_is_open_between_the_dates() -> None:
    starts, ends = utc(2026, 5, 1, 12), utc(2026, 5, 3, 12, 30)
    validity = Validity(starts, ends)
    assert validity.phase(starts - US) is Phase.BEFORE
    assert validity.next_edge(starts - US) == starts
    assert validity.phase(starts) is Phase.OPEN
    assert validity.next_edge(starts) == ends
    assert validity.phase(ends - US) is Phase.OPEN
    assert validity.phase(ends) is Phase.AFTER
    assert validity.next_edge(ends) is None
    assert validity.next_edge(utc(2099, 1, 1)) is None
    assert Validity().phase(utc(2026, 1, 1)) is Phase.OPEN
    assert Validity().next_edge(utc(2026, 1, 1)) is None
    assert Validity(starts).next_edge(starts) is None
    assert Validity(None, ends).next_edge(utc(1999, 1, 1)) == ends


def test_edges_are_utc_whatever_zone_the_input_has() -> None:
    starts = datetime.datetime(2026, 5, 1, 9, tzinfo=BERLIN)
    validity = Validity(starts, tz=BERLIN)
    edge = validity.next_edge(datetime.datetime(2026, 4, 1, tzinfo=NEW_YORK))
    assert edge == utc(2026, 5, 1, 7)
    assert edge is not None
    assert edge.tzinfo is UTC


def test_starts_and_ends_cut_weekly_windows() -> None:
    # Wednesday 2026-01-07 10:30 to Friday 2026-01-09 11:00, New York (EST, UTC-5)
    starts = datetime.datetime(2026, 1, 7, 10, 30, tzinfo=NEW_YORK)
    ends = datetime.datetime(2026, 1, 9, 11, tzinfo=NEW_YORK)
    validity = Validity(starts, ends, Weekly.parse("mon-fri 09:00-12:00"), NEW_YORK)
    at = utc(2026, 1, 5)
    assert validity.phase(at) is Phase.BEFORE
    assert walk(validity, at, 10) == [
        (utc(2026, 1, 7, 15, 30), Phase.OPEN),  # starts, inside the hours
        (utc(2026, 1, 7, 17), Phase.BETWEEN),
        (utc(2026, 1, 8, 14), Phase.OPEN),
        (utc(2026, 1, 8, 17), Phase.BETWEEN),
        (utc(2026, 1, 9, 14), Phase.OPEN),
        (utc(2026, 1, 9, 16), Phase.AFTER),  # ends, inside the hours
    ]
    assert validity.next_edge(utc(2026, 1, 9, 16)) is None
    assert validity.next_edge(utc(2030, 1, 1)) is None


def test_starts_between_hours_and_ends_far_after() -> None:
    starts = datetime.datetime(2026, 1, 7, 13, tzinfo=NEW_YORK)
    ends = datetime.datetime(2026, 1, 10, 20, tzinfo=NEW_YORK)  # a Saturday
    validity = Validity(starts, ends, Weekly.parse("mon-fri 09:00-12:00"), NEW_YORK)
    assert walk(validity, utc(2026, 1, 1), 10) == [
        (utc(2026, 1, 7, 18), Phase.BETWEEN),
        (utc(2026, 1, 8, 14), Phase.OPEN),
        (utc(2026, 1, 8, 17), Phase.BETWEEN),
        (utc(2026, 1, 9, 14), Phase.OPEN),
        (utc(2026, 1, 9, 17), Phase.BETWEEN),
        (utc(2026, 1, 11, 1), Phase.AFTER),
    ]


def test_adjacent_windows_merge() -> None:
    validity = Validity(
        weekly=[Weekly.parse("mon-fri 09:00-12:00"), Weekly.parse("mon-fri 12:00-15:00")]
    )
    # Monday 2026-01-05
    assert walk(validity, utc(2026, 1, 5, 10), 2) == [
        (utc(2026, 1, 5, 15), Phase.BETWEEN),
        (utc(2026, 1, 6, 9), Phase.OPEN),
    ]
    assert validity.phase(utc(2026, 1, 5, 12)) is Phase.OPEN


def test_overlapping_and_overnight_windows_merge() -> None:
    validity = Validity(
        weekly=[
            Weekly.parse("mon 09:00-13:00"),
            Weekly.parse("mon 12:00-15:00"),
            Weekly.parse("sun 20:00-09:30"),  # runs into Monday's hours
        ]
    )
    assert walk(validity, utc(2026, 1, 4, 12), 3) == [
        (utc(2026, 1, 4, 20), Phase.OPEN),
        (utc(2026, 1, 5, 15), Phase.BETWEEN),
        (utc(2026, 1, 11, 20), Phase.OPEN),
    ]


def test_hours_covering_the_week_never_change() -> None:
    always = Validity(weekly=Weekly.parse("daily 00:00-00:00"), tz=NEW_YORK)
    at = utc(2026, 1, 1)
    assert always.phase(at) is Phase.OPEN
    assert always.next_edge(at) is None
    split = Validity(
        weekly=[Weekly.parse("daily 22:00-06:00"), Weekly.parse("daily 06:00-22:00")], tz=BERLIN
    )
    assert split.next_edge(at) is None
    ends = utc(2027, 6, 1)
    assert Validity(None, ends, Weekly.parse("daily 05:00-05:00"), NEW_YORK).next_edge(at) == ends
    # 24 hours on one day only: open Monday 00:00 to Tuesday 00:00
    monday = Validity(weekly=Weekly.parse("mon 00:00-24:00"), tz=BERLIN)
    assert walk(monday, utc(2026, 1, 6), 2) == [
        (utc(2026, 1, 11, 23), Phase.OPEN),
        (utc(2026, 1, 12, 23), Phase.BETWEEN),
    ]


# --- DST: New York ----------------------------------------------------------------------------


def test_new_york_opening_in_the_spring_gap_is_shifted() -> None:
    validity = Validity(weekly=Weekly.parse("sun 02:30-05:00"), tz=NEW_YORK)
    assert walk(validity, utc(2026, 3, 7, 12), 4) == [
        (utc(2026, 3, 8, 7, 30), Phase.OPEN),  # 03:30 EDT, once
        (utc(2026, 3, 8, 9), Phase.BETWEEN),  # 05:00 EDT
        (utc(2026, 3, 15, 6, 30), Phase.OPEN),  # 02:30 EDT
        (utc(2026, 3, 15, 9), Phase.BETWEEN),
    ]
    assert validity.phase(utc(2026, 3, 8, 7, 29)) is Phase.BETWEEN


def test_new_york_closing_in_the_spring_gap_is_shifted() -> None:
    validity = Validity(weekly=Weekly.parse("sun 01:00-02:30"), tz=NEW_YORK)
    assert walk(validity, utc(2026, 3, 7, 12), 2) == [
        (utc(2026, 3, 8, 6), Phase.OPEN),  # 01:00 EST
        (utc(2026, 3, 8, 7, 30), Phase.BETWEEN),  # 02:30 "EST" = 03:30 EDT
    ]
    assert validity.phase(utc(2026, 3, 8, 7, 15)) is Phase.OPEN  # 03:15 EDT


def test_new_york_window_emptied_by_the_spring_gap_is_skipped() -> None:
    # opens 02:45 -> 03:45 EDT (07:45Z), closes 03:15 EDT (07:15Z): empty in UTC
    validity = Validity(weekly=Weekly.parse("sun 02:45-03:15"), tz=NEW_YORK)
    assert validity.phase(utc(2026, 3, 8, 7, 30)) is Phase.BETWEEN
    assert walk(validity, utc(2026, 3, 1, 12), 2) == [
        (utc(2026, 3, 15, 6, 45), Phase.OPEN),
        (utc(2026, 3, 15, 7, 15), Phase.BETWEEN),
    ]


def test_new_york_overnight_windows_across_both_changes() -> None:
    validity = Validity(weekly=Weekly.parse("sat 22:00-06:00"), tz=NEW_YORK)
    assert walk(validity, utc(2026, 3, 7, 12), 2) == [
        (utc(2026, 3, 8, 3), Phase.OPEN),  # Saturday 22:00 EST
        (utc(2026, 3, 8, 10), Phase.BETWEEN),  # Sunday 06:00 EDT: 7 hours
    ]
    assert walk(validity, utc(2026, 10, 31, 12), 2) == [
        (utc(2026, 11, 1, 2), Phase.OPEN),  # Saturday 22:00 EDT
        (utc(2026, 11, 1, 11), Phase.BETWEEN),  # Sunday 06:00 EST: 9 hours
    ]


def test_new_york_opening_in_the_repeated_hour_happens_once() -> None:
    validity = Validity(weekly=Weekly.parse("sun 01:30-03:00"), tz=NEW_YORK)
    assert walk(validity, utc(2026, 10, 31, 12), 2) == [
        (utc(2026, 11, 1, 5, 30), Phase.OPEN),  # the first 01:30 (EDT)
        (utc(2026, 11, 1, 8), Phase.BETWEEN),  # 03:00 EST: 2.5 hours
    ]
    assert validity.phase(utc(2026, 11, 1, 6, 30)) is Phase.OPEN  # the second 01:30 (EST)


def test_new_york_window_inside_the_repeated_hour_happens_once() -> None:
    validity = Validity(weekly=Weekly.parse("sun 01:00-01:45"), tz=NEW_YORK)
    assert walk(validity, utc(2026, 10, 31, 12), 3) == [
        (utc(2026, 11, 1, 5), Phase.OPEN),
        (utc(2026, 11, 1, 5, 45), Phase.BETWEEN),
        (utc(2026, 11, 8, 6), Phase.OPEN),  # the next Sunday, EST
    ]
    assert validity.phase(utc(2026, 11, 1, 6, 15)) is Phase.BETWEEN  # the second 01:15


def test_new_york_closed_gap_vanishes_on_the_spring_change() -> None:
    # Closed 02:30-03:00 every night; on 2026-03-08 Saturday's window closes at 02:30 "EST"
    # (07:30Z), after Sunday's opens at 03:00 EDT (07:00Z): no closed instant that night.
    validity = Validity(weekly=Weekly.parse("daily 03:00-02:30"), tz=NEW_YORK)
    assert walk(validity, utc(2026, 3, 6, 12), 3) == [
        (utc(2026, 3, 7, 7, 30), Phase.BETWEEN),
        (utc(2026, 3, 7, 8), Phase.OPEN),
        (utc(2026, 3, 9, 6, 30), Phase.BETWEEN),  # Monday 02:30 EDT, 46.5 hours later
    ]


def test_new_york_hours_covering_the_week_have_a_spring_hole() -> None:
    # 00:00-03:00 and 02:30-24:00 cover every wall minute, but on 2026-03-08 the first closes at
    # 03:00 EDT and the second opens at 03:30 EDT (02:30 shifted): half an hour closed.
    validity = Validity(
        weekly=[Weekly.parse("daily 00:00-03:00"), Weekly.parse("daily 02:30-24:00")],
        tz=NEW_YORK,
    )
    assert walk(validity, utc(2026, 2, 1), 4) == [
        (utc(2026, 3, 8, 7), Phase.BETWEEN),
        (utc(2026, 3, 8, 7, 30), Phase.OPEN),
        (utc(2027, 3, 14, 7), Phase.BETWEEN),  # a year later, the next spring change
        (utc(2027, 3, 14, 7, 30), Phase.OPEN),
    ]
    ends = utc(2026, 3, 1)
    cut = Validity(None, ends, validity.weekly, NEW_YORK)
    assert cut.next_edge(utc(2026, 2, 1)) == ends


# --- DST: Berlin and Lord Howe ----------------------------------------------------------------


def test_berlin_spring_change() -> None:
    opening = Validity(weekly=Weekly.parse("sun 02:30-04:00"), tz=BERLIN)
    assert walk(opening, utc(2026, 3, 28, 12), 2) == [
        (utc(2026, 3, 29, 1, 30), Phase.OPEN),  # 03:30 CEST
        (utc(2026, 3, 29, 2), Phase.BETWEEN),  # 04:00 CEST
    ]
    closing = Validity(weekly=Weekly.parse("sun 01:00-02:15"), tz=BERLIN)
    assert walk(closing, utc(2026, 3, 28, 12), 2) == [
        (utc(2026, 3, 29, 0), Phase.OPEN),  # 01:00 CET
        (utc(2026, 3, 29, 1, 15), Phase.BETWEEN),  # 03:15 CEST
    ]


def test_berlin_fall_change() -> None:
    repeated = Validity(weekly=Weekly.parse("sun 02:15-02:45"), tz=BERLIN)
    assert walk(repeated, utc(2026, 10, 24, 12), 3) == [
        (utc(2026, 10, 25, 0, 15), Phase.OPEN),  # the first 02:15 (CEST)
        (utc(2026, 10, 25, 0, 45), Phase.BETWEEN),
        (utc(2026, 11, 1, 1, 15), Phase.OPEN),  # the next Sunday, CET
    ]
    assert repeated.phase(utc(2026, 10, 25, 1, 15)) is Phase.BETWEEN  # the second 02:15 (CET)
    overnight = Validity(weekly=Weekly.parse("sat 23:00-03:00"), tz=BERLIN)
    assert walk(overnight, utc(2026, 10, 24, 12), 2) == [
        (utc(2026, 10, 24, 21), Phase.OPEN),  # 23:00 CEST
        (utc(2026, 10, 25, 2), Phase.BETWEEN),  # 03:00 CET: 5 hours
    ]


def test_lord_howe_half_hour_changes() -> None:
    spring = Validity(weekly=Weekly.parse("sun 02:10-03:00"), tz=LORD_HOWE)
    assert walk(spring, utc(2026, 10, 2), 2) == [
        (utc(2026, 10, 3, 15, 40), Phase.OPEN),  # 02:10 +10:30 = 02:40 +11
        (utc(2026, 10, 3, 16), Phase.BETWEEN),  # 03:00 +11
    ]
    emptied = Validity(weekly=Weekly.parse("sun 02:15-02:45"), tz=LORD_HOWE)
    assert emptied.next_edge(utc(2026, 10, 2)) == utc(2026, 10, 10, 15, 15)  # a week later
    fall = Validity(weekly=Weekly.parse("sun 01:40-01:50"), tz=LORD_HOWE)
    assert walk(fall, utc(2026, 4, 3), 2) == [
        (utc(2026, 4, 4, 14, 40), Phase.OPEN),  # the first 01:40 (+11)
        (utc(2026, 4, 4, 14, 50), Phase.BETWEEN),
    ]
    assert fall.phase(utc(2026, 4, 4, 15, 10)) is Phase.BETWEEN  # the second 01:40 (+10:30)


# --- properties -------------------------------------------------------------------------------


def brute_inside(validity: Validity, at: datetime.datetime) -> bool:
    """The weekly rule read literally, by POSIX timestamps over the local dates around ``at``."""
    moment = at.timestamp()
    local = at.astimezone(validity.tz).date()
    for offset in range(-3, 2):
        day = local + datetime.timedelta(days=offset)
        for entry in validity.weekly:
            if day.weekday() not in entry.days:
                continue
            closing_day = day + datetime.timedelta(days=1) if entry.closes <= entry.opens else day
            opens = datetime.datetime.combine(day, entry.opens, tzinfo=validity.tz)
            closes = datetime.datetime.combine(closing_day, entry.closes, tzinfo=validity.tz)
            if opens.timestamp() <= moment < closes.timestamp():
                return True
    return False


def brute_phase(validity: Validity, at: datetime.datetime) -> Phase:
    if validity.ends is not None and at.timestamp() >= validity.ends.timestamp():
        return Phase.AFTER
    if validity.starts is not None and at.timestamp() < validity.starts.timestamp():
        return Phase.BEFORE
    if not validity.weekly or brute_inside(validity, at):
        return Phase.OPEN
    return Phase.BETWEEN


def brute_candidates(
    validity: Validity, low: datetime.datetime, high: datetime.datetime
) -> list[datetime.datetime]:
    """Every instant in (low, high) where the phase could change: each opening and closing of
    the local dates around, and starts and ends."""
    found = [when for when in (validity.starts, validity.ends) if when is not None]
    day = low.astimezone(validity.tz).date() - datetime.timedelta(days=2)
    last = high.astimezone(validity.tz).date() + datetime.timedelta(days=2)
    while day <= last:
        for entry in validity.weekly:
            for moment in (entry.opens, entry.closes):
                found.append(datetime.datetime.combine(day, moment, tzinfo=validity.tz))
        day += datetime.timedelta(days=1)
    return [when.astimezone(UTC) for when in found if low < when < high]


# A quarter-hour around the night hours DST touches, or any minute of the day.
dst_minutes = st.one_of(
    st.builds(datetime.time, st.integers(0, 4), st.sampled_from([0, 10, 15, 30, 40, 45])),
    minutes,
)
entries = st.builds(
    Weekly, st.frozensets(st.integers(0, 6), min_size=1, max_size=7), dst_minutes, dst_minutes
)
instants = st.one_of(
    st.builds(
        lambda day, minute: (
            datetime.datetime.combine(day, datetime.time(), UTC)
            + datetime.timedelta(minutes=minute)
        ),
        st.sampled_from(DST_DATES),
        st.integers(-3 * 1440, 3 * 1440),
    ),
    st.datetimes(
        min_value=datetime.datetime(2025, 12, 1), max_value=datetime.datetime(2027, 1, 31)
    ).map(lambda naive: naive.replace(tzinfo=UTC)),
)


@st.composite
def validities(draw: st.DrawFn, at: datetime.datetime) -> Validity:
    tz = draw(st.sampled_from(ZONES))
    weekly = draw(st.lists(entries, max_size=3))
    ten_days = datetime.timedelta(days=10)
    span = st.timedeltas(min_value=-ten_days, max_value=ten_days)
    starts = draw(st.none() | span.map(lambda delta: at + delta))
    ends = draw(st.none() | span.map(lambda delta: at + delta))
    if starts is not None and ends is not None and ends <= starts:
        starts, ends = (ends, starts) if ends < starts else (starts, None)
    return Validity(starts, ends, weekly, tz)


@settings(max_examples=300, deadline=None)
@given(st.data(), instants)
def test_phase_agrees_with_the_literal_rule(data: st.DataObject, at: datetime.datetime) -> None:
    validity = data.draw(validities(at))
    assert validity.phase(at) is brute_phase(validity, at)
    local = at.astimezone(validity.tz)
    assert validity.phase(local) is validity.phase(at)  # the zone of the input does not matter


@settings(max_examples=200, deadline=None)
@given(st.data(), instants)
def test_walking_edges(data: st.DataObject, at: datetime.datetime) -> None:
    validity = data.draw(validities(at))
    previous, phase = at, validity.phase(at)
    for _ in range(12):
        edge = validity.next_edge(previous)
        if edge is None:
            # the phase never changes again: sample ahead
            for days in (1, 3, 8, 30, 90):
                later = previous + datetime.timedelta(days=days)
                assert validity.phase(later) is phase
                assert brute_phase(validity, later) is phase
            return
        assert edge > previous
        assert edge.tzinfo is UTC
        middle = previous + (edge - previous) / 2
        for inside in (previous, middle, edge - US):
            assert validity.phase(inside) is phase
        for candidate in brute_candidates(validity, previous, edge):
            assert brute_phase(validity, candidate) is phase
        new = validity.phase(edge)
        assert new is not phase
        assert new is brute_phase(validity, edge)
        assert brute_phase(validity, edge - US) is phase
        previous, phase = edge, new
