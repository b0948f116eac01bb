"""The state dir, checked before anything opens it: usable (a writable directory, or one that
can be made), not held by another run, and each state file the site will open readable and
decodable. Read-only: a start that fails here has changed nothing on disk (opening a store
creates its directory and its ``.lock`` file; nothing is opened until this passed)."""

from __future__ import annotations

import errno
import fcntl
import os
from collections.abc import Sequence
from pathlib import Path

from ..store import json_decoder

__all__ = ["check_state_dir", "state_files"]


def state_files(locks: Sequence[str]) -> list[str]:
    """The files a site of ``locks`` keeps in its state dir."""
    return ["site.json", "autolock.json", "access.json", *(f"credentials-{n}.json" for n in locks)]


def _why(exc: OSError) -> str:
    return exc.strerror or errno.errorcode.get(exc.errno or 0, type(exc).__name__)


def _held_by(lock: Path) -> str | None:
    """Who holds the store lock ``lock`` (None: nobody); opened read-only, nothing written."""
    try:
        fd = os.open(lock, os.O_RDONLY | os.O_CLOEXEC)
    except OSError:
        return None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 64, 0).decode("ascii", "replace").strip()
            return f"pid {holder}" if holder.isdigit() else "another process"
        except OSError:
            return None
        fcntl.flock(fd, fcntl.LOCK_UN)
        return None
    finally:
        os.close(fd)


def _not_a_plan(data: dict[str, object]) -> str | None:
    """What the access plan would refuse in its file's content (its store's version envelope
    around ``{"grants": {...}, ...}``), said before anything opens it."""
    version, inner = data.get("version"), data.get("data")
    if isinstance(version, bool) or not isinstance(version, int) or "data" not in data:
        return "is corrupt (not a versioned envelope); left as is"
    if version > _PLAN_VERSION:
        return f"was written by a newer version (file version {version}); left as is"
    if not isinstance(inner, dict) or not isinstance(inner.get("grants", {}), dict):
        return "is corrupt (not an access plan: no mapping of grants); left as is"
    return None


#: the access plan's file version this code reads
_PLAN_VERSION = 1


def _check_file(path: Path) -> str | None:
    """What is wrong with state file ``path`` (None: fine, or not there yet)."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return None
    except OSError as exc:
        return f"cannot be read ({_why(exc)})"
    try:
        data = json_decoder(raw)
    except Exception as exc:  # the store's own decoder: any error is a corrupt file
        return f"is corrupt ({type(exc).__name__}); left as is"
    if not isinstance(data, dict):
        return "is corrupt (not a JSON object); left as is"
    return _not_a_plan(data) if path.name == "access.json" else None


def check_state_dir(state: Path, locks: Sequence[str]) -> list[str]:
    """Every problem with ``state`` for a site of ``locks``, one line each."""
    where = f"state dir {state}"
    if state.exists() or state.is_symlink():
        if not state.is_dir():
            return [f"{where}: not a directory"]
        if not os.access(state, os.R_OK | os.W_OK | os.X_OK):
            return [f"{where}: not readable and writable by this user"]
    else:
        parent = state.parent
        while not parent.exists() and parent != parent.parent:
            parent = parent.parent
        if not parent.is_dir() or not os.access(parent, os.W_OK | os.X_OK):
            return [f"{where}: does not exist and cannot be created under {parent}"]
        return []
    problems = []
    for name in state_files(locks):
        path = state / name
        problem = _check_file(path)
        if problem is not None:
            problems.append(f"{where}: {name} {problem}")
        holder = _held_by(path.with_name(name + ".lock"))
        if holder is not None:
            problems.append(f"{where}: {name} is in use by {holder} (is the site running?)")
    return problems
