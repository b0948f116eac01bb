"""``trio-locksync demo``: the start checked before anything is made, then one run.

The start checks are ``run``'s (:mod:`._statedir`): the config read whole, then the state dir
usable, not held by another demo, every state file of the content its reader takes. A start
that fails says so in one line on stderr (with ``--json``, also one JSON line on stdout) and
exits 2, and has changed nothing on disk: nothing is made (the state dir, ``demo.log``, a
store's lock file) until the checks passed and the broker is up, so "no broker reachable" is
such a start too. ``--fresh`` forgets the files (so their content is not checked), never
those of a demo still running."""

from __future__ import annotations

import argparse
import shutil
import sys
import threading
import time
from collections.abc import Awaitable, Callable

import trio

from ..core import LockSyncError
from ..store import StoreLockedError
from ..testing import BrokerKind
from ._config import ConfigError, DemoOptions, demo_options
from ._output import JsonLines, LibraryLog, PlainLog, refuse
from ._parser import default_state_dir
from ._run import Show, run_demo
from ._statedir import StateDirError, check_state_dir, make_state_dir
from ._statefiles import PreviousRun, read_previous_run
from ._summary import Summary

__all__ = ["demo_command"]

PROG = "trio-locksync demo"


def demo_command(args: argparse.Namespace) -> int:
    """Run the demo the parsed command line ``args`` asks for; the exit status."""
    began = time.monotonic()

    def fail(lines: list[str], status: int = 2) -> int:
        t = time.monotonic() - began
        return refuse(PROG, lines, json_lines=args.json, t=t, status=status)

    state = args.state_dir if args.state_dir is not None else default_state_dir()
    try:
        options = demo_options(
            duration=args.duration,
            state_dir=state,
            config=args.config,
            autolock=args.autolock,
            broker=BrokerKind(args.broker),
            mqtt=args.mqtt,
            seed=args.seed,
            zwave=not args.no_zwave,
        )
    except ConfigError as exc:
        return fail([str(exc)])
    locks = [spec.name for spec in options.site.locks]
    problems = check_state_dir(state, locks, demo=True, contents=not args.fresh)
    if problems:
        return fail(problems)
    try:
        previous = PreviousRun() if args.fresh else read_previous_run(state)
    except LockSyncError as exc:  # changed since the check a moment ago
        return fail([str(exc)])
    log = LibraryLog()

    def prepare() -> None:
        """Once the broker is up: the state dir (forgotten first with --fresh) and its log."""
        if args.fresh and state.exists():
            try:
                shutil.rmtree(state)
            except OSError as exc:
                why = exc.strerror or type(exc).__name__
                raise StateDirError(
                    f"state dir {state}: --fresh could not empty it ({why})"
                ) from exc
        problem = make_state_dir(state)
        if problem is not None:
            raise StateDirError(problem)
        log.to_file(state / "demo.log")

    mode = "json" if args.json else "plain" if args.no_tui or not sys.stdout.isatty() else "tui"
    up = threading.Event()
    try:
        summary = trio.run(_main, options, mode, previous, prepare, up)
    except KeyboardInterrupt:  # only outside the run (the run itself stops cleanly on Ctrl-C)
        return fail(["interrupted"], 130)
    except Exception as exc:
        known = _known_error(exc)
        if known is None:
            raise
        hint = " (is another demo running with this --state-dir?)"
        line = str(known).splitlines()[0] if str(known) else type(known).__name__
        # a failure once the site was up is a loss (a store that could not write), not a start's
        return fail([line + hint * isinstance(known, StoreLockedError)], 1 if up.is_set() else 2)
    finally:
        log.close()
    return 0 if summary.nothing_lost else 1


def _known_error(exc: BaseException) -> BaseException | None:
    """``exc`` itself, or the one error inside the nurseries' groups, if it means "cannot
    run here" (said in one line, no traceback)."""
    while isinstance(exc, BaseExceptionGroup) and len(exc.exceptions) == 1:
        exc = exc.exceptions[0]
    return exc if isinstance(exc, LockSyncError | OSError | ConfigError) else None


async def _main(
    options: DemoOptions,
    mode: str,
    previous: PreviousRun,
    prepare: Callable[[], None],
    up: threading.Event,
) -> Summary:
    def run(show: Show) -> Awaitable[Summary]:
        return run_demo(options, show, previous=previous, prepare=prepare, started=up)

    if mode == "tui":
        try:
            from rich.console import Console

            from ._dashboard import run_dashboard
        except ImportError:
            print("(rich is not installed: plain output; pip install 'trio-locksync[demo]')")
            mode = "plain"
    if mode != "tui":
        output = JsonLines(sys.stdout) if mode == "json" else PlainLog(sys.stdout)
        summary = await run(lambda board, events: board.follow(events, output))
        output.summary(summary)
        return summary
    console = Console()
    summary = await run(lambda board, events: run_dashboard(board, events, console))
    PlainLog(sys.stdout).summary(summary)
    return summary
