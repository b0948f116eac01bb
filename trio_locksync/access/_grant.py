"""A grant: who (a name and a PIN), on which locks, when (dates and weekly hours), how often.

:class:`Grant` is a value: it validates itself when made (a PIN that is not one, naive or
reversed dates, a zero use count), never shows its PIN in a repr, and round-trips through the
plan's file (:func:`grant_to_json`, :func:`grant_from_json`)."""

from __future__ import annotations

import datetime
from collections.abc import Iterable, Mapping
from typing import Any, final

import attrs

from ..core import Pin
from ._weekly import Weekly

__all__ = ["Grant", "grant_from_json", "grant_to_json"]

#: the longest grant name (a name shows in logs, the dashboard and error messages)
NAME_MAX = 64


def _name(instance: object, attribute: attrs.Attribute[Any], value: object) -> None:
    if not isinstance(value, str) or not value.strip():
        raise ValueError("a grant's name must be a non-empty string")
    if len(value) > NAME_MAX or not value.isprintable():
        raise ValueError(f"a grant's name must be printable and at most {NAME_MAX} characters")


def _as_pin(value: str | Pin) -> Pin:
    return value if isinstance(value, Pin) else Pin(value)


def _as_locks(value: Iterable[str] | None) -> frozenset[str] | None:
    if value is None:
        return None
    if isinstance(value, str):
        return frozenset({value})
    locks = frozenset(value)
    if not locks or not all(isinstance(lock, str) and lock for lock in locks):
        raise ValueError("locks= names at least one lock (None: every lock of the plan)")
    return locks


def _as_weekly(value: Weekly | Iterable[Weekly] | None) -> tuple[Weekly, ...]:
    if value is None:
        return ()
    if isinstance(value, Weekly):
        return (value,)
    weekly = tuple(value)
    if not all(isinstance(w, Weekly) for w in weekly):
        raise TypeError(
            "weekly= takes a Weekly or a sequence of them (Weekly.parse('mon-fri 09:00-12:00'))"
        )
    return weekly


def _aware(instance: object, attribute: attrs.Attribute[Any], value: object) -> None:
    if value is None:
        return
    if not isinstance(value, datetime.datetime) or value.utcoffset() is None:
        raise ValueError(f"{attribute.name}= must be an aware datetime (with a time zone)")


def _uses(instance: object, attribute: attrs.Attribute[Any], value: object) -> None:
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError("uses= must be a positive int (None: unlimited)")


@final
@attrs.frozen
class Grant:
    """``name`` may enter with ``pin`` on ``locks`` (None: every lock of the plan) from
    ``starts`` until ``ends`` (aware datetimes; None: no bound), within the ``weekly`` hours
    (one :class:`Weekly` or several; none: at any hour), at most ``uses`` times per lock
    (keypad unlocks that name the grant's slot; None: unlimited).

    The PIN is a :class:`~trio_locksync.Pin` (a str is checked as one); a repr never shows it.
    """

    name: str = attrs.field(validator=_name)
    pin: Pin = attrs.field(converter=_as_pin, repr=False)
    locks: frozenset[str] | None = attrs.field(default=None, converter=_as_locks, kw_only=True)
    starts: datetime.datetime | None = attrs.field(default=None, validator=_aware, kw_only=True)
    ends: datetime.datetime | None = attrs.field(default=None, validator=_aware, kw_only=True)
    weekly: tuple[Weekly, ...] = attrs.field(default=None, converter=_as_weekly, kw_only=True)
    uses: int | None = attrs.field(default=None, validator=_uses, kw_only=True)

    def __attrs_post_init__(self) -> None:
        if self.starts is not None and self.ends is not None and self.ends <= self.starts:
            raise ValueError(f"grant {self.name!r}: ends= must be after starts=")

    def for_lock(self, lock: str) -> bool:
        """Whether the grant is for ``lock``."""
        return self.locks is None or lock in self.locks


def _when(value: datetime.datetime | None) -> str | None:
    return None if value is None else value.isoformat()


def _parse_when(value: object) -> datetime.datetime | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise ValueError("a date must be an ISO-8601 string")
    return datetime.datetime.fromisoformat(value)


def grant_to_json(grant: Grant) -> dict[str, Any]:
    """The grant as the plan's file keeps it (the PIN in clear: the file is owner-only)."""
    return {
        "pin": grant.pin.reveal(),
        "locks": None if grant.locks is None else sorted(grant.locks),
        "starts": _when(grant.starts),
        "ends": _when(grant.ends),
        "weekly": [str(w) for w in grant.weekly],
        "uses": grant.uses,
    }


def grant_from_json(name: str, raw: Mapping[str, Any]) -> Grant:
    """The grant ``name`` from its stored form; ValueError/TypeError (never echoing a value)
    when it is not one."""
    if not isinstance(raw, Mapping):
        raise ValueError("not a mapping")
    weekly = raw.get("weekly") or []
    if not isinstance(weekly, list) or not all(isinstance(w, str) for w in weekly):
        raise ValueError("weekly is not a list of strings")
    locks = raw.get("locks")
    if locks is not None and not (
        isinstance(locks, list) and all(isinstance(x, str) for x in locks)
    ):
        raise ValueError("locks is not a list of names")
    pin = raw.get("pin")
    if not isinstance(pin, str):
        raise ValueError("pin is not a string")
    return Grant(
        name,
        pin,
        locks=locks,
        starts=_parse_when(raw.get("starts")),
        ends=_parse_when(raw.get("ends")),
        weekly=[Weekly.parse(w) for w in weekly],
        uses=raw.get("uses"),
    )
