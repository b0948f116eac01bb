"""The people part of the site configuration: ``[[grants]]`` (who may enter with which PIN, on
which locks, when, how often) and ``[[autolock]]`` rules, checked against the locks — and the
problem collector and slot ranges the whole schema (:mod:`._schema`) shares.

Dates: a TOML datetime with an offset is that instant; one without an offset, or a date, is
wall time in the site's ``time_zone`` — a date ``starts`` at the start of that day and ``ends``
at the end of it (``ends = 2026-12-27`` lets the guest in all of the 27th)."""

from __future__ import annotations

import datetime
import zoneinfo
from collections.abc import Mapping, Sequence
from typing import Protocol, final

import attrs

from ..access import Grant, Weekly
from ..core import Pin
from ._problems import Problems


class LockLike(Protocol):
    """What the grant checks need of a lock's config (``_schema.LockConfig``)."""

    @property
    def name(self) -> str: ...

    @property
    def fixed(self) -> Mapping[int, Pin | None]: ...


__all__ = ["GrantSpec", "LockLike", "check_autolock", "parse_grants", "parse_slots"]

_GRANT = {"name", "pin", "locks", "starts", "ends", "weekly", "uses"}


def parse_slots(value: object, lowest: int, where: str, problems: Problems) -> tuple[int, ...]:
    """``"1-20"``, ``"1-5,8,10-12"`` or a list of slot numbers, each at least ``lowest``."""
    slots: set[int] = set()
    if isinstance(value, list) and all(
        isinstance(n, int) and not isinstance(n, bool) for n in value
    ):
        slots = set(value)
    elif isinstance(value, str):
        for part in value.replace(" ", "").split(","):
            first, sep, last = part.partition("-")
            if not first.isdigit() or (sep and not last.isdigit()):
                problems.add(where, f'slots {value!r}: write ranges as "1-20" or "1-5,8"')
                return ()
            low, high = int(first), int(last) if sep else int(first)
            if high < low:
                problems.add(where, f"slots {value!r}: the range {part} runs backwards")
                return ()
            slots.update(range(low, high + 1))
    else:
        problems.add(where, 'slots must be a range ("1-20") or a list of slot numbers')
        return ()
    if not slots or min(slots) < lowest or max(slots) > 999:
        problems.add(where, f"slots must name slots from {lowest} to 999")
        return ()
    return tuple(sorted(slots))


@final
@attrs.frozen
class GrantSpec:
    """One ``[[grants]]`` entry, checked: the access plan's :class:`~trio_locksync.access.Grant`
    once :meth:`grant` makes it. ``weekly`` holds the canonical texts."""

    name: str
    pin: Pin = attrs.field(repr=False)
    locks: tuple[str, ...] | None = None
    starts: datetime.datetime | None = None
    ends: datetime.datetime | None = None
    weekly: tuple[str, ...] = ()
    uses: int | None = None

    def grant(self) -> Grant:
        """The plan's grant."""
        return Grant(
            self.name,
            self.pin,
            locks=None if self.locks is None else list(self.locks),
            starts=self.starts,
            ends=self.ends,
            weekly=[Weekly.parse(text) for text in self.weekly],
            uses=self.uses,
        )

    def for_lock(self, lock: str) -> bool:
        return self.locks is None or lock in self.locks

    def without(self, gone: set[str]) -> GrantSpec | None:
        """The grant without the locks ``gone`` (None: it had no other lock)."""
        if self.locks is None:
            return self
        locks = tuple(lock for lock in self.locks if lock not in gone)
        return attrs.evolve(self, locks=locks) if locks else None


def _when(
    value: object, zone: zoneinfo.ZoneInfo, *, end: bool, where: str, problems: Problems
) -> datetime.datetime | None:
    key = "ends" if end else "starts"
    if isinstance(value, datetime.datetime):
        return value if value.utcoffset() is not None else value.replace(tzinfo=zone)
    if isinstance(value, datetime.date):
        day = value + datetime.timedelta(days=1) if end else value
        return datetime.datetime.combine(day, datetime.time(0), tzinfo=zone)
    problems.add(where, f"{key} must be a TOML date or datetime (2026-12-20T15:00:00+01:00)")
    return None


def _weekly(value: object, where: str, problems: Problems) -> tuple[str, ...]:
    texts = [value] if isinstance(value, str) else value
    if not isinstance(texts, list) or not texts or not all(isinstance(t, str) for t in texts):
        problems.add(where, 'weekly must be a string ("mon-fri 09:00-12:00") or a list of them')
        return ()
    canonical = []
    for text in texts:
        try:
            canonical.append(str(Weekly.parse(text)))
        except ValueError as exc:
            problems.add(where, f"weekly: {exc}")
    return tuple(canonical)


def _grant(
    entry: object,
    index: int,
    names: set[str],
    known: set[str],
    zone: zoneinfo.ZoneInfo,
    problems: Problems,
) -> GrantSpec | None:
    if not isinstance(entry, dict):
        problems.add(f"grant #{index}", "must be a table")
        return None
    name = entry.get("name")
    if name is None:
        problems.missing(f"grant #{index}", "name", "who the grant is for")
        return None
    if not isinstance(name, str) or not name.strip() or not name.isprintable() or len(name) > 64:
        problems.add(f"grant #{index}", "name must be a printable string of 1 to 64 characters")
        return None
    where = f"grant {name!r}"
    problems.unknown_keys(where, entry, _GRANT)
    ok = True
    if name in names:
        problems.add(where, "a second grant of that name")
        ok = False
    names.add(name)
    pin = None
    raw_pin = entry.get("pin")
    if raw_pin is None:
        problems.missing(where, "pin", "a quoted string of 4 to 10 digits")
    elif not isinstance(raw_pin, str):
        problems.add(where, "pin must be a string of 4 to 10 digits (quoted)")
    else:
        try:
            pin = Pin(raw_pin)
        except ValueError:
            problems.add(where, "pin is not a valid PIN (4 to 10 digits)")
    locks = entry.get("locks")
    if locks is not None and (
        not isinstance(locks, list) or not locks or not all(isinstance(x, str) for x in locks)
    ):
        problems.add(where, "locks must be a list of lock names (leave it out: every lock)")
        ok, locks = False, None
    for lock in locks or ():
        if lock not in known:
            problems.add(where, f"no lock {lock!r} in the site")
            ok = False
    starts = ends = None
    if "starts" in entry:
        starts = _when(entry["starts"], zone, end=False, where=where, problems=problems)
    if "ends" in entry:
        ends = _when(entry["ends"], zone, end=True, where=where, problems=problems)
    if starts is not None and ends is not None and ends <= starts:
        problems.add(where, "ends must be after starts")
        ok = False
    weekly = () if "weekly" not in entry else _weekly(entry["weekly"], where, problems)
    uses = entry.get("uses")
    if uses is not None and (isinstance(uses, bool) or not isinstance(uses, int) or uses < 1):
        problems.add(where, f"uses must be a positive whole number, got {uses!r}")
        ok = False
    if pin is None or not ok:
        return None
    return GrantSpec(
        name=name,
        pin=pin,
        locks=None if locks is None else tuple(dict.fromkeys(locks)),
        starts=starts,
        ends=ends,
        weekly=weekly,
        uses=uses,
    )


def parse_grants(
    value: object, locks: Sequence[LockLike], zone: zoneinfo.ZoneInfo, problems: Problems
) -> list[GrantSpec]:
    """The ``[[grants]]``, each checked, then together: locks they name exist, and no lock
    gets one PIN twice (from two grants, or a grant and a fixed slot)."""
    if not isinstance(value, list):
        problems.add("grants", "must be [[grants]] entries")
        return []
    names: set[str] = set()
    known = {spec.name for spec in locks}
    grants = [
        _grant(entry, n, names, known, zone, problems) for n, entry in enumerate(value, start=1)
    ]
    checked = [grant for grant in grants if grant is not None]
    for spec in locks:
        holders: dict[Pin, str] = {
            pin: f"fixed slot {slot}" for slot, pin in spec.fixed.items() if pin is not None
        }
        for grant in checked:
            if not grant.for_lock(spec.name):
                continue
            holder = holders.setdefault(grant.pin, f"grant {grant.name!r}")
            if holder != f"grant {grant.name!r}":
                problems.add(
                    f"grant {grant.name!r}",
                    f"lock {spec.name!r} would get the same PIN as {holder}",
                )
    return checked


def check_autolock(
    value: object, locks: Sequence[LockLike], problems: Problems
) -> list[tuple[str, float]]:
    """The ``[[autolock]]`` rules: ``(lock, seconds)``, one per lock."""
    if not isinstance(value, list):
        problems.add("autolock", "must be [[autolock]] entries")
        return []
    known = {spec.name for spec in locks}
    rules: dict[str, float] = {}
    for index, entry in enumerate(value, start=1):
        if not isinstance(entry, dict):
            problems.add(f"autolock #{index}", "must be a table")
            continue
        problems.unknown_keys(f"autolock #{index}", entry, {"lock", "seconds"})
        lock, seconds = entry.get("lock"), entry.get("seconds")
        if lock is None:
            problems.missing(f"autolock #{index}", "lock", "the name of a lock in the site")
            continue
        if not isinstance(lock, str) or lock not in known:
            problems.add(f"autolock #{index}", f"no lock {lock!r} in the site")
            continue
        if seconds is None:
            problems.missing(f"autolock {lock!r}", "seconds", "how long after an unlock it locks")
            continue
        if isinstance(seconds, bool) or not isinstance(seconds, int | float) or not seconds > 0:
            problems.add(f"autolock {lock!r}", f"seconds must be positive, got {seconds!r}")
            continue
        if lock in rules:
            problems.add(f"autolock {lock!r}", "a second rule for that lock")
            continue
        rules[lock] = float(seconds)
    return list(rules.items())
