"""The ``trio-locksync`` command (also ``python -m trio_locksync``).

``trio-locksync run SITE.toml`` runs a real site from its config (:mod:`._serve`);
``--check`` validates it and exits.

``trio-locksync demo`` runs a whole simulated site on embedded defaults — an ISY-style
controller streaming door events, Zigbee locks behind a simulated Zigbee2MQTT on an MQTT broker,
Z-Wave locks on the real Z-Wave JS Server (when node >= 20 is installed), ``VirtualLock``s with
their quirks, grants from a shipped config kept on the locks by an access plan, autolock
timers — through the same site runner as ``run``, injects faults on a schedule it shows, and
prints a summary. Run it again with the same ``--state-dir`` and it resumes what the last run
left."""

from __future__ import annotations

import argparse
import os
import shutil
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import NoReturn

import trio

from .. import __version__
from ..store import StoreLockedError
from ..testing import BrokerError, BrokerKind, parse_address
from ._config import ConfigError, DemoOptions, demo_options
from ._output import JsonLines, PlainLog, send_library_logs_to
from ._run import run_demo
from ._summary import Summary

__all__ = ["default_state_dir", "main"]


def default_state_dir() -> Path:
    """``$XDG_STATE_HOME/trio-locksync-demo`` (``~/.local/state/trio-locksync-demo``)."""
    base = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(base) / "trio-locksync-demo"


class _Parser(argparse.ArgumentParser):
    """A bad option is one line on stderr (not the usage), exit 2."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: {message} (see {self.prog} --help)\n")


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="trio-locksync", description="Keep smart locks in sync: run a site, or the demo."
    )
    parser.add_argument("--version", action="version", version=f"trio-locksync {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser(
        "run",
        help="run a real site from its config until SIGINT/SIGTERM",
        description="Run a real site (locks, grants, autolock rules) from its config until "
        "SIGINT or SIGTERM; log lines go to stderr. Exit 0 after a clean stop (or a config "
        "--check found valid), 2 when it cannot start (one line per problem, nothing changed).",
    )
    run.add_argument("site", type=Path, metavar="SITE.toml", help="the site's config")
    run.add_argument(
        "--state-dir", type=Path, default=None, metavar="DIR",
        help="where the site keeps its files (default: the config's state_dir)",
    )  # fmt: skip
    run.add_argument(
        "--check", action="store_true", help="check the config and the state dir, then exit"
    )
    demo = sub.add_parser(
        "demo",
        help="run a whole simulated site with a live dashboard, then print a summary",
        description=__doc__.split("\n\n", 2)[2].replace("``", ""),
    )
    demo.add_argument(
        "--duration", type=float, default=60.0, metavar="S",
        help="seconds to run (default 60); the fault schedule is compressed to fit",
    )  # fmt: skip
    demo.add_argument("--no-tui", action="store_true", help="plain log lines, no dashboard")
    demo.add_argument("--json", action="store_true", help="JSON lines instead of the dashboard")
    demo.add_argument(
        "--state-dir", type=Path, default=None, metavar="DIR",
        help=f"where the site keeps its files (default {default_state_dir()}); "
        "a second run with the same dir resumes the first",
    )  # fmt: skip
    demo.add_argument(
        "--fresh", action="store_true", help="forget what earlier runs left in the state dir"
    )
    demo.add_argument(
        "--mqtt", metavar="HOST:PORT", default=None,
        help="use this broker instead of starting one (it is then not restarted as a fault)",
    )  # fmt: skip
    demo.add_argument(
        "--broker", default="auto",
        choices=[c.value for c in BrokerKind if c is not BrokerKind.EXTERNAL],
        help="which broker to start: mosquitto if installed, else amqtt (default auto)",
    )  # fmt: skip
    demo.add_argument(
        "--autolock", type=float, default=None, metavar="S",
        help="seconds an autolock timer runs (default: the config's 12 s, scaled to --duration)",
    )  # fmt: skip
    demo.add_argument(
        "--config", type=Path, default=None, metavar="FILE",
        help="a site config (TOML, the shape of the shipped demo_site.toml)",
    )  # fmt: skip
    demo.add_argument(
        "--no-zwave", action="store_true",
        help="run without the Z-Wave locks (by default they run on the real Z-Wave JS Server "
        "when node >= 20 is installed, and are skipped, saying why, when it is not)",
    )  # fmt: skip
    demo.add_argument("--seed", type=int, default=2026, help=argparse.SUPPRESS)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status (``demo``: 0 when it ran and nothing was
    lost; ``run``: see :mod:`._serve`; 2 for a bad option, said in one line)."""
    args = _parser().parse_args(argv)
    if args.command == "run":
        from ._serve import run_command  # the access plan and the real providers: only here

        return run_command(args.site, args.state_dir, check=args.check)
    for name in ("duration", "autolock"):
        value = getattr(args, name)
        if value is not None and not 0 < value < 86400:
            print(f"trio-locksync demo: --{name} must be positive seconds", file=sys.stderr)
            return 2
    if args.mqtt is not None:
        try:
            parse_address(args.mqtt)
        except ValueError as exc:
            print(f"trio-locksync demo: {exc}", file=sys.stderr)
            return 2
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
        print(f"trio-locksync demo: {exc}", file=sys.stderr)
        return 2
    if args.fresh and state.exists():
        shutil.rmtree(state)
    state.mkdir(parents=True, exist_ok=True, mode=0o700)
    mode = "json" if args.json else "plain" if args.no_tui or not sys.stdout.isatty() else "tui"
    handler = send_library_logs_to(state / "demo.log")
    try:
        summary = trio.run(_main, options, mode)
    except KeyboardInterrupt:  # only outside the run (the run itself stops cleanly on Ctrl-C)
        print("trio-locksync demo: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:
        known = _known_error(exc)
        if known is None:
            raise
        hint = " (is another demo running with this --state-dir?)"
        print(f"trio-locksync demo: {known}{hint * isinstance(known, StoreLockedError)}",
              file=sys.stderr)  # fmt: skip
        return 2
    finally:
        handler.close()
    return 0 if summary.nothing_lost else 1


#: errors that mean "cannot run here": said in one line, no traceback
_KNOWN = (BrokerError, ConfigError, StoreLockedError)


def _known_error(exc: BaseException) -> BaseException | None:
    """``exc`` itself, or the one error inside the nurseries' groups, if it is a known one."""
    while isinstance(exc, BaseExceptionGroup) and len(exc.exceptions) == 1:
        exc = exc.exceptions[0]
    return exc if isinstance(exc, _KNOWN) else None


async def _main(options: DemoOptions, mode: str) -> Summary:
    if mode == "tui":
        try:
            from rich.console import Console

            from ._dashboard import run_dashboard
        except ImportError:
            print("(rich is not installed: plain output; pip install 'trio-locksync[demo]')")
            mode = "plain"
    if mode != "tui":
        output = JsonLines(sys.stdout) if mode == "json" else PlainLog(sys.stdout)
        summary = await run_demo(options, lambda board, events: board.follow(events, output))
        output.summary(summary)
        return summary
    console = Console()
    summary = await run_demo(options, lambda board, events: run_dashboard(board, events, console))
    PlainLog(sys.stdout).summary(summary)
    return summary
