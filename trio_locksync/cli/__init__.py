"""The ``trio-locksync`` command (also ``python -m trio_locksync``).

``trio-locksync run SITE.toml`` runs a real site from its config (:mod:`._serve`);
``--check`` validates it and exits.

``trio-locksync demo`` runs a whole simulated site on embedded defaults — an ISY-style
controller streaming door events, Zigbee locks behind a simulated Zigbee2MQTT on an MQTT broker,
Z-Wave locks on the real Z-Wave JS Server (when node >= 20 is installed), ``VirtualLock``s with
their quirks, grants from a shipped config kept on the locks by an access plan, autolock
timers — through the same site runner as ``run``, injects faults on a schedule it shows, and
prints a summary (:mod:`._demo`). Run it again with the same ``--state-dir`` and it resumes
what the last run left.

Exit status: 0 all well; 1 a "nothing lost" check failed (the demo) or a failure came once the
site was up (``run``); 2 it could not start — a bad option, a bad or unreadable config, an
unusable state dir, a corrupt state file — said in one line per problem on stderr, no
traceback, nothing on disk changed."""

from __future__ import annotations

import sys
from collections.abc import Sequence

from ._output import refuse
from ._parser import UsageError, default_state_dir, parse

__all__ = ["default_state_dir", "main"]


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line ``argv`` (default ``sys.argv[1:]``); returns the exit status."""
    words = list(sys.argv[1:] if argv is None else argv)
    try:
        args = parse(words)
    except UsageError as exc:
        # the demo's --json asks for the refusal as a JSON line too, even of its own options
        json_lines = exc.prog.endswith(" demo") and "--json" in words
        return refuse(exc.prog, [f"error: {exc.message} (see {exc.prog} --help)"],
                      json_lines=json_lines)  # fmt: skip
    if args.command == "run":
        from ._serve import run_command  # the access plan and the real providers: only here

        return run_command(args.site, args.state_dir, check=args.check)
    from ._demo import demo_command

    return demo_command(args)
