"""The command line's grammar: ``trio-locksync [--version] {run,demo} ...``, its plain-text
help (no markup: it is read in a terminal), and its refusals — a bad option or value is a
:class:`UsageError` naming the command it belongs to (``trio-locksync demo: error: ...``, see
``trio-locksync demo --help``), not the top-level usage."""

from __future__ import annotations

import argparse
import math
import os
from collections.abc import Sequence
from pathlib import Path
from typing import NoReturn, final

from .. import __version__
from ..testing import BrokerKind, parse_address

__all__ = ["UsageError", "default_state_dir", "parse"]

PROG = "trio-locksync"

#: the longest run the demo takes (a day)
_LONGEST = 86400.0


def default_state_dir() -> Path:
    """``$XDG_STATE_HOME/trio-locksync-demo`` (``~/.local/state/trio-locksync-demo``)."""
    base = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(base) / "trio-locksync-demo"


@final
class UsageError(Exception):
    """A bad option or value: ``prog`` is the command it belongs to."""

    def __init__(self, prog: str, message: str) -> None:
        super().__init__(f"{prog}: error: {message} (see {prog} --help)")
        self.prog = prog
        self.message = message


class _Parser(argparse.ArgumentParser):
    """Raises :class:`UsageError` instead of printing the usage and exiting."""

    def error(self, message: str) -> NoReturn:
        raise UsageError(self.prog, message)


def _seconds(text: str) -> float:
    """A number of seconds: finite, positive, at most a day."""
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not (math.isfinite(value) and 0 < value <= _LONGEST):
        raise argparse.ArgumentTypeError(
            f"must be a finite positive number of seconds, at most {_LONGEST:g}; got {text!r}"
        )
    return value


def _address(text: str) -> str:
    try:
        parse_address(text)
    except ValueError:
        # said after "argument --mqtt:" already
        raise argparse.ArgumentTypeError(f"wants HOST:PORT, got {text!r}") from None
    return text


_RUN = """\
Run a real site (locks, grants, autolock rules) from its config until SIGINT or SIGTERM; log
lines go to stderr."""

_DEMO = """\
Run a whole simulated site on embedded defaults: an ISY-style controller streaming door events,
Zigbee locks behind a simulated Zigbee2MQTT on an MQTT broker, Z-Wave locks on the real Z-Wave
JS Server (when node >= 20 is installed), simulated locks with their quirks, grants from a
shipped config kept on the locks by an access plan, autolock timers. It runs them through the
same site runner as 'trio-locksync run', injects faults on a schedule it shows, and prints a
summary. Run it again with the same --state-dir and it resumes what the last run left."""

_RUN_EXIT = """\
exit status: 0 after a clean stop (or a --check that found all well); 1 if a failure came once
the site was up; 2 if it could not start (one line per problem on stderr, nothing on disk
changed)."""

_DEMO_EXIT = """\
exit status: 0 when the run ended (at --duration or Ctrl-C) and nothing was lost; 1 if a
"nothing lost" check failed (the summary names it); 2 if it could not start (one line on
stderr, and with --json one JSON line on stdout; nothing on disk changed)."""


def _commands() -> tuple[argparse.ArgumentParser, dict[str, argparse.ArgumentParser]]:
    parser = _Parser(prog=PROG, description="Keep smart locks in sync: run a site, or the demo.")
    parser.add_argument(
        "--version", action="version", version=f"{PROG} {__version__}",
        help="print the version and exit",
    )  # fmt: skip
    sub = parser.add_subparsers(dest="command", required=True, metavar="{run,demo}")
    run = sub.add_parser(
        "run", help="run a real site from its config until SIGINT or SIGTERM",
        description=_RUN, epilog=_RUN_EXIT,
    )  # fmt: skip
    run.add_argument("site", type=Path, metavar="SITE.toml", help="the site's config")
    run.add_argument(
        "--state-dir", type=Path, default=None, metavar="DIR",
        help="where the site keeps its files (default: the config's state_dir)",
    )  # fmt: skip
    run.add_argument(
        "--check", action="store_true", help="check the config and the state dir, then exit"
    )
    demo = sub.add_parser(
        "demo", help="run a whole simulated site with a live dashboard, then print a summary",
        description=_DEMO, epilog=_DEMO_EXIT,
    )  # fmt: skip
    demo.add_argument(
        "--duration", type=_seconds, default=60.0, metavar="S",
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
        "--mqtt", type=_address, metavar="HOST:PORT", default=None,
        help="use this broker instead of starting one (it is then not restarted as a fault)",
    )  # fmt: skip
    demo.add_argument(
        "--broker", default="auto",
        choices=[c.value for c in BrokerKind if c is not BrokerKind.EXTERNAL],
        help="which broker to start: mosquitto if installed, else amqtt (default auto)",
    )  # fmt: skip
    demo.add_argument(
        "--autolock", type=_seconds, default=None, metavar="S",
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
    return parser, {"run": run, "demo": demo}


def parse(argv: Sequence[str]) -> argparse.Namespace:
    """The command line ``argv`` parsed; :class:`UsageError` from the command an option was
    given to (``--help`` and ``--version`` print and exit, as usual)."""
    parser, commands = _commands()
    args, extra = parser.parse_known_args(argv)
    if extra:
        # an unknown option after the command's name is that command's to refuse
        words = list(argv)
        after = words[words.index(args.command) + 1 :]
        owner = commands[args.command] if all(x in after for x in extra) else parser
        owner.error(f"unrecognized arguments: {' '.join(extra)}")
    return args
