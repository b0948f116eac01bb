"""One child process owned by a task in the launcher's nursery: its output to a log file, ended
(terminate, then kill after a grace period) when its task is cancelled — by the block ending,
by a cancel from outside, or on purpose (:meth:`Child.end`) — and awaited, always."""

from __future__ import annotations

import enum
import os
import signal
import subprocess
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import final

import trio

from ._install import ZWaveJsUnavailable

__all__ = ["Child", "ChildState", "log_tail", "run_child"]

#: seconds a process may take to end after SIGTERM before it gets SIGKILL (the Z-Wave JS Server
#: shuts its driver down cleanly on SIGTERM; that can hang when the mock is gone)
GRACE = 3.0


def log_tail(log: Path, limit: int = 1500) -> str:
    """The end of a log file (``(no output)`` when empty or missing)."""
    try:
        text = log.read_text(errors="replace")
    except OSError:
        return "(no output)"
    return text[-limit:].strip() or "(no output)"


class ChildState(enum.Enum):
    """Where a :class:`Child` is: running, being ended by us, or gone."""

    RUNNING = "running"
    #: we asked it to end (terminate or kill); its exit is expected
    ENDING = "ending"
    EXITED = "exited"


@final
class Child:
    """A process of the launcher (``name``: "mock" or "server"): its pid, state and log."""

    def __init__(self, name: str, process: trio.Process, log: Path) -> None:
        self.name = name
        self.process = process
        self.log = log
        self.state = ChildState.RUNNING
        self._first_signal = signal.SIGTERM
        self._scope = trio.CancelScope()
        self._exited = trio.Event()

    def __repr__(self) -> str:
        return f"<Child {self.name} pid {self.process.pid} {self.state.value}>"

    @property
    def pid(self) -> int:
        """The process id."""
        return self.process.pid

    async def end(self, *, kill: bool = False) -> None:
        """Terminate it (``kill``: SIGKILL at once, as a crash would), and wait until it is
        gone."""
        if self.state is ChildState.RUNNING:
            self.state = ChildState.ENDING
            self._first_signal = signal.SIGKILL if kill else signal.SIGTERM
            self._scope.cancel()
        await self._exited.wait()

    async def wait_exited(self) -> None:
        """Return when the process has exited (for whatever reason)."""
        await self._exited.wait()


def _signal(process: trio.Process, sig: signal.Signals) -> None:
    try:
        os.killpg(process.pid, sig)  # its own session: the group is the process and its children
    except ProcessLookupError:
        pass


async def _finish(child: Child) -> None:
    process = child.process
    if process.returncode is None:
        _signal(process, child._first_signal)
        with trio.move_on_after(GRACE):
            await process.wait()
        if process.returncode is None:
            _signal(process, signal.SIGKILL)
            await process.wait()
    elif child.state is ChildState.RUNNING:
        _signal(process, signal.SIGKILL)  # leftover children of a process that exited


async def run_child(
    name: str,
    argv: Sequence[str],
    *,
    cwd: Path,
    env: Mapping[str, str],
    log: Path,
    task_status: trio.TaskStatus[Child] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Run ``argv`` until it exits or this task is cancelled (then end it: SIGTERM, SIGKILL
    after :data:`GRACE` seconds; shielded, so it is always awaited). Started with
    ``nursery.start``, it hands over the :class:`Child`. An exit nobody asked for raises
    :class:`ZWaveJsUnavailable` with the end of the log, which ends the launcher's block."""
    with log.open("ab") as out:
        process = await trio.lowlevel.open_process(
            list(argv),
            cwd=cwd,
            env=dict(env),
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    child = Child(name, process, log)
    try:
        with child._scope:
            task_status.started(child)
            await process.wait()
    finally:
        with trio.CancelScope(shield=True):
            await _finish(child)
        unexpected = child.state is ChildState.RUNNING
        child.state = ChildState.EXITED
        child._exited.set()
    if unexpected:
        raise ZWaveJsUnavailable(
            f"the zwave-js {name} (pid {process.pid}) exited with {process.returncode} on its "
            f"own; its log {log} ends:\n{log_tail(log)}"
        )
