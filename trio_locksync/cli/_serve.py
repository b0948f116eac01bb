"""``trio-locksync run SITE.toml``: a real site, from its config, until SIGINT or SIGTERM.

The start is checked before anything opens: the config whole (every problem, one line each),
then the state dir (usable, not held by another run, every state file decodable). A start that
fails says so in one line per problem on stderr and exits 2, and has changed nothing on disk.
``--check`` stops there: 0 when all is well. Running, the site's changes and the library's own
log lines go to stderr (``<time> <level> <logger>: <text>``; never a PIN) — under systemd, the
journal. SIGINT or SIGTERM stops it cleanly: every part closes in order, every store flushes,
exit 0. A failure once the site is up (a store that cannot write at the final flush) is one line
and exit 1."""

from __future__ import annotations

import logging
import math
import signal
import sys
import threading
from collections.abc import AsyncIterator
from pathlib import Path
from typing import TextIO

import trio

from ..core import ChangeFeed, LockSyncError
from ._board import Board, DemoLine
from ._events import DemoEvent, Info
from ._output import refuse
from ._runner import open_site
from ._schema import ConfigProblems, SiteConfig, load_site
from ._statedir import check_state_dir, make_state_dir
from ._statefiles import read_previous_run

__all__ = ["run_command", "serve"]

logger = logging.getLogger("trio_locksync.site")

_PROG = "trio-locksync run"


def run_command(site: Path, state_dir: Path | None, *, check: bool) -> int:
    """The command: exit status 0 (checked, or ran and stopped cleanly) or 2 (cannot start)."""
    try:
        config: SiteConfig | None = load_site(site)
        problems: list[str] = []
    except ConfigProblems as exc:
        config, problems = None, list(exc.problems)
    state = state_dir
    if state is None and config is not None:
        state = config.state_dir
    if state is None and config is not None:
        problems.append(f"{site}: no state dir: set state_dir in the file or give --state-dir")
    if state is not None:
        locks = [] if config is None else [spec.name for spec in config.locks]
        problems += check_state_dir(state.expanduser(), locks)
    if problems or config is None or state is None:
        return refuse(_PROG, problems)
    state = state.expanduser().absolute()
    if check:
        print(
            f"{site}: valid: {len(config.locks)} locks, {len(config.grants)} grants, "
            f"{len(config.autolock)} autolock rules; state dir {state}"
        )
        return 0
    problem = make_state_dir(state)
    if problem is not None:
        return refuse(_PROG, [problem])
    handler = _log_to(sys.stderr)
    up = threading.Event()
    try:
        trio.run(serve, config, state, up)
    except KeyboardInterrupt:  # only outside the run (it stops cleanly on SIGINT itself)
        return 0
    except Exception as exc:
        known = _known(exc)
        if known is None:
            raise
        line = str(known).splitlines()[0] if str(known) else type(known).__name__
        return refuse(_PROG, [line], status=1 if up.is_set() else 2)  # once up: not a start's
    finally:
        logging.getLogger("trio_locksync").removeHandler(handler)
    return 0


def _known(exc: BaseException) -> BaseException | None:
    """``exc``, or the one error inside the nurseries' groups, if it means "cannot run"."""
    while isinstance(exc, BaseExceptionGroup) and len(exc.exceptions) == 1:
        exc = exc.exceptions[0]
    return exc if isinstance(exc, LockSyncError | OSError | ConfigProblems) else None


def _log_to(out: TextIO) -> logging.Handler:
    handler = logging.StreamHandler(out)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    for name in ("trio_locksync", "paho"):
        log = logging.getLogger(name)
        log.addHandler(handler)
        log.setLevel(logging.INFO)
        log.propagate = False
    return handler


def _log_line(line: DemoLine) -> None:
    logger.info("%s: %s", line.kind, line.text)


async def _watch(
    signals: AsyncIterator[int], startup: trio.CancelScope, stop: trio.CancelScope, up: trio.Event
) -> None:
    async for number in signals:
        logger.info(
            "%s: stopping (every part closes, every store flushes)", signal.Signals(number).name
        )
        (stop if up.is_set() else startup).cancel()
        return


async def serve(config: SiteConfig, state: Path, started: threading.Event | None = None) -> None:
    """Run the site on ``state`` until SIGINT or SIGTERM; then close it cleanly. ``started``
    is set once the site is up."""
    events = ChangeFeed[DemoEvent]()
    board = Board(duration=math.inf)
    startup, stop, up = trio.CancelScope(), trio.CancelScope(), trio.Event()
    with trio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(board.follow, events.subscribe(), _log_line)
            try:
                async with trio.open_nursery() as guard:
                    guard.start_soon(_watch, signals, startup, stop, up)
                    with startup:
                        previous = await trio.to_thread.run_sync(read_previous_run, state)
                        run = previous.run + 1
                        async with open_site(config, state, events, run=run) as site:
                            up.set()
                            if started is not None:
                                started.set()
                            site.publish(Info(f"site up: run {run}, state in {state}"))
                            with stop:
                                await trio.sleep_forever()
                            site.publish(Info("stopping: closing every part, flushing stores"))
                    guard.cancel_scope.cancel()
            finally:
                events.end()  # the board's follower logs what is left, then returns
