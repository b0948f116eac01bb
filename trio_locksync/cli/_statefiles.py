"""What each state file must hold: one rule per file, said in words, checked before anything
opens the state dir (:mod:`._statedir`) and again by the code that reads the file, so the two
cannot drift.

A file is refused when the site would throw it away whole or fail on it: content that is not a
JSON object, a ``site.json`` whose run number is not a whole number, credential memory without
its salt, an access plan outside its versioned envelope, a ``hardware.json`` (the demo's
simulated locks) that is not codes and bolts by lock. Entries a subsystem prunes one by one
(an autolock timer it cannot read, a malformed grant in the plan) are its own business: it
logs each and keeps the rest."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, final

import attrs

from ..store import StoreCorruptError, StoreReadError, json_decoder

__all__ = [
    "FileProblem",
    "PreviousRun",
    "content_problem",
    "previous_run",
    "read_previous_run",
    "sound",
]

#: the access plan's file version this code reads
PLAN_VERSION = 1


@final
@attrs.frozen
class FileProblem:
    """Why a state file is refused: ``<file> is corrupt (<detail>)``, or written by a newer
    version."""

    detail: str
    newer: bool = False

    def __str__(self) -> str:
        return f"{'was written by a newer version' if self.newer else 'is corrupt'} ({self.detail})"


@final
@attrs.frozen
class PreviousRun:
    """What ``site.json`` says of the last run."""

    #: its number (0: there was none)
    run: int = 0
    #: it closed cleanly (so its count of running timers can be trusted)
    clean_exit: bool = False
    #: the autolock timers it left running
    timers_running: int = 0


def _count(data: Mapping[str, Any], key: str) -> str | None:
    value = data.get(key, 0)
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        return f"{key} must be a whole number >= 0, got {_shown(value)}"
    return None


def _shown(value: object) -> str:
    """A value as a problem line shows it: its type for anything long (never its content)."""
    text = repr(value)
    return text if len(text) <= 20 else f"a {type(value).__name__}"


def _site(data: Mapping[str, Any]) -> str | None:
    for key in ("run", "timers_running"):
        problem = _count(data, key)
        if problem is not None:
            return problem
    if not isinstance(data.get("clean_exit", False), bool):
        return "clean_exit must be true or false"
    return None


def _credentials(data: Mapping[str, Any]) -> str | None:
    salt, written = data.get("salt"), data.get("last_written", {})
    try:
        bytes.fromhex(salt) if isinstance(salt, str) else None
    except ValueError:
        salt = None
    if not isinstance(salt, str):
        return "not a credential memory: no hex salt"
    if not isinstance(written, dict) or not all(
        isinstance(k, str) and k.isdigit() and isinstance(v, str) for k, v in written.items()
    ):
        return "not a credential memory: last_written is not slot numbers and digests"
    return None


def _plan(data: Mapping[str, Any]) -> str | FileProblem | None:
    version, inner = data.get("version"), data.get("data")
    if isinstance(version, bool) or not isinstance(version, int) or "data" not in data:
        return "not a versioned envelope"
    if version > PLAN_VERSION:
        return FileProblem(f"file version {version}", newer=True)
    if not isinstance(inner, dict) or not isinstance(inner.get("grants", {}), dict):
        return "not an access plan: no mapping of grants"
    return None


def _by_lock(value: object, keys: Callable[[str], bool], values: type | tuple[type, ...]) -> bool:
    return isinstance(value, dict) and all(
        isinstance(lock, str)
        and isinstance(entries, dict)
        and all(keys(k) and isinstance(v, values) for k, v in entries.items())
        for lock, entries in value.items()
    )


def _hardware(data: Mapping[str, Any]) -> str | None:
    if not _by_lock(data.get("codes", {}), str.isdigit, str):
        return "codes must map each lock to its slots' codes"
    locked = data.get("locked", {})
    if not isinstance(locked, dict) or not all(isinstance(v, bool) for v in locked.values()):
        return "locked must map each lock to true or false"
    return None


_RULES: dict[str, Callable[[Mapping[str, Any]], str | FileProblem | None]] = {
    "site.json": _site,
    "access.json": _plan,
    "hardware.json": _hardware,
}


def content_problem(name: str, data: object) -> FileProblem | None:
    """What is wrong with the decoded content of state file ``name`` (None: the site can read
    it). Never quotes the content (a file may hold PINs)."""
    if not isinstance(data, dict):
        return FileProblem("not a JSON object")
    rule = _credentials if name.startswith("credentials-") else _RULES.get(name)
    problem = None if rule is None else rule(data)
    return FileProblem(problem) if isinstance(problem, str) else problem


def sound(path: Path, data: Any) -> dict[str, Any]:
    """``data`` as loaded from state file ``path`` (None: no file yet, an empty mapping);
    :class:`~trio_locksync.StoreCorruptError` if the site cannot read it (a file changed since
    the start-up check)."""
    if data is None:
        return {}
    problem = content_problem(path.name, data)
    if problem is not None:
        newer = "written by a newer version: " if problem.newer else ""
        raise StoreCorruptError(path, newer + problem.detail)
    return dict(data)


def previous_run(path: Path, data: Any) -> PreviousRun:
    """The last run as ``site.json`` at ``path`` (loaded as ``data``) records it."""
    checked = sound(path, data)
    return PreviousRun(
        run=checked.get("run", 0),
        clean_exit=checked.get("clean_exit", False),
        timers_running=checked.get("timers_running", 0),
    )


def read_previous_run(state: Path) -> PreviousRun:
    """The last run as ``site.json`` in ``state`` records it (none yet: run 0), read without
    opening its store — nothing is written, so a start that fails after has changed nothing.
    :class:`~trio_locksync.StoreReadError` or :class:`~trio_locksync.StoreCorruptError` if
    it cannot be read."""
    path = state / "site.json"
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return PreviousRun()
    except OSError as exc:
        raise StoreReadError(path, exc) from exc
    try:
        data = json_decoder(raw)
    except Exception as exc:  # the store's own decoder: any error is a corrupt file
        raise StoreCorruptError(path, exc) from exc
    return previous_run(path, data)
