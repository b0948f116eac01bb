"""The state dir, checked before anything opens it — the same checks for ``run``, ``run
--check`` and the demo: usable (a directory this process can write in, or one it can make),
not held by another run, and each state file the site will open readable and of the content
its reader takes (:mod:`._statefiles`).

Nothing a check does stays on disk: the files are only read (a store lock is tried read-only),
and whether the dir can be written is found by making a probe in it (or, for a dir still to be
made, in the nearest existing parent) and removing it at once — the permission bits alone do
not say (root passes them, and a directory under ``/sys`` refuses root too). A start that fails
here has changed nothing on disk: opening a store creates its ``.lock`` file, and nothing is
opened until this passed. :func:`make_state_dir` then makes the dir, and undoes what it made if
it cannot finish."""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import final

from ..core import LockSyncError
from ..store import json_decoder
from ._statefiles import content_problem

__all__ = ["StateDirError", "check_state_dir", "make_state_dir", "state_files"]

#: what a probe of the state dir is called while it exists (a moment)
_PROBE = ".trio-locksync-probe-"


@final
class StateDirError(LockSyncError):
    """The state dir could not be made ready (says which, and why, in one line)."""


def state_files(locks: Sequence[str], *, demo: bool = False) -> list[str]:
    """The files a site of ``locks`` keeps in its state dir (the demo's: also its simulated
    locks' memory)."""
    names = ["site.json", "autolock.json", "access.json"]
    names += [f"credentials-{n}.json" for n in locks]
    return [*names, "hardware.json"] if demo else names


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
    problem = content_problem(path.name, data)
    return None if problem is None else f"{problem}; left as is"


def _nearest(path: Path) -> Path:
    """``path``'s nearest ancestor that exists (as anything: a file stops the climb too)."""
    parent = path.parent
    while not (parent.exists() or parent.is_symlink()) and parent != parent.parent:
        parent = parent.parent
    return parent


def _writable(directory: Path, *, make: bool) -> str | None:
    """Whether this process can write in ``directory`` (``make``: make a directory in it),
    found by doing it once and undoing it at once; None, or why not."""
    try:
        if make:
            os.rmdir(tempfile.mkdtemp(prefix=_PROBE, dir=directory))
        else:
            fd, probe = tempfile.mkstemp(prefix=_PROBE, dir=directory)
            os.close(fd)
            os.unlink(probe)
    except OSError as exc:
        return _why(exc)
    return None


def _usable(state: Path) -> str | None:
    """What makes ``state`` unusable as a state dir (None: it is a directory this process can
    write in, or can make)."""
    if state.exists() or state.is_symlink():
        if not state.is_dir():
            return "not a directory"
        if not os.access(state, os.R_OK | os.W_OK | os.X_OK):
            return "not readable and writable by this user"
        why = _writable(state, make=False)
        return None if why is None else f"cannot write in it ({why})"
    parent = _nearest(state)
    if not parent.is_dir():
        return f"cannot be made: {parent} is not a directory"
    why = _writable(parent, make=True)
    return None if why is None else f"cannot be made under {parent} ({why})"


def check_state_dir(
    state: Path, locks: Sequence[str], *, demo: bool = False, contents: bool = True
) -> list[str]:
    """Every problem with ``state`` for a site of ``locks``, one line each (``demo``: the
    demo's files too; ``contents=False``: the files are about to be forgotten, so only whether
    another run holds them matters)."""
    where = f"state dir {state}"
    problem = _usable(state)
    if problem is not None:
        return [f"{where}: {problem}"]
    if not state.is_dir():
        return []  # not there yet: nothing in it to check
    problems = []
    for name in state_files(locks, demo=demo):
        path = state / name
        file_problem = _check_file(path) if contents else None
        if file_problem is not None:
            problems.append(f"{where}: {name} {file_problem}")
        holder = _held_by(path.with_name(name + ".lock"))
        if holder is not None:
            problems.append(f"{where}: {name} is in use by {holder} (is the site running?)")
    return problems


def make_state_dir(state: Path) -> str | None:
    """Make ``state`` (owner-only: its files hold PINs) and the parents it needs; None, or
    the one line that says why not — and then nothing it made is left."""
    made: list[Path] = []
    missing = [state, *state.parents]
    missing = [p for p in missing[: missing.index(_nearest(state))] if not p.exists()]
    try:
        for directory in reversed(missing):
            directory.mkdir(mode=0o700)
            made.append(directory)
    except OSError as exc:
        for directory in reversed(made):
            with contextlib.suppress(OSError):
                os.rmdir(directory)
        return f"state dir {state}: cannot make it ({_why(exc)})"
    return None
