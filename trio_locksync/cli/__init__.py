"""The ``trio-locksync`` command (also ``python -m trio_locksync``): ``demo`` runs a whole
simulated site on embedded defaults and prints a summary."""

from __future__ import annotations

import argparse
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

import trio

from ._scenario import run_demo

__all__ = ["main"]


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status (0: every check of the demo held)."""
    parser = argparse.ArgumentParser(prog="trio-locksync", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    demo = sub.add_parser("demo", help="run a whole simulated site and print a summary")
    demo.add_argument("--state-dir", type=Path, default=None, help="where the site keeps its files")
    demo.add_argument("--locks", type=int, default=5)
    demo.add_argument("--slots", type=int, default=30)
    demo.add_argument("--duration", type=float, default=3.0, help="seconds of site activity")
    demo.add_argument("--rate", type=float, default=200.0, help="events per second")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="trio-locksync-demo-") as scratch:
        directory = args.state_dir if args.state_dir is not None else Path(scratch)
        report = trio.run(
            lambda: run_demo(
                directory,
                locks=args.locks,
                slots=args.slots,
                seconds=args.duration,
                rate=args.rate,
            )
        )
    for line in report.lines():
        print(line)
    sys.stdout.flush()
    return 0 if report.ok else 1
