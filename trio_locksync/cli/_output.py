"""The demo's plain outputs: a log line per event (for a pipe, CI, or ``--no-tui``) or a JSON
object per line (``--json``), and the summary at the end in the same form."""

from __future__ import annotations

import json
import logging
import logging.handlers
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TextIO, final

from ._board import DemoLine
from ._summary import Summary

__all__ = ["JsonLines", "LibraryLog", "PlainLog", "refuse"]


@final
class PlainLog:
    """``  12.3s slot    front_door slot 2: IN_SYNC (…)``, one line per line of the board."""

    def __init__(self, out: TextIO) -> None:
        self._out = out

    def __call__(self, event: DemoLine) -> None:
        self._out.write(f"{event.t:7.1f}s {event.kind:<7} {event.text}\n")
        self._out.flush()

    def summary(self, summary: Summary) -> None:
        for line in summary.lines():
            self._out.write(line + "\n")
        self._out.flush()


@final
class JsonLines:
    """``{"t": 12.3, "kind": "slot", "text": …, "lock": …}``, one object per line; the
    summary is ``{"kind": "summary", …}`` with every figure."""

    def __init__(self, out: TextIO) -> None:
        self._out = out

    def __call__(self, event: DemoLine) -> None:
        self._out.write(json.dumps(event.to_json()) + "\n")
        self._out.flush()

    def summary(self, summary: Summary) -> None:
        lines = summary.lines()
        record = {
            "t": round(summary.seconds, 3),
            "kind": "summary",
            "text": lines[-1],
            "lines": lines,
            **summary.to_json(),
        }
        self._out.write(json.dumps(record) + "\n")
        self._out.flush()


def refuse(
    prog: str, lines: Sequence[str], *, json_lines: bool = False, t: float = 0.0, status: int = 2
) -> int:
    """A command that cannot go on says why: each line on stderr as ``<prog>: <line>`` (no
    traceback) and, for ``--json``, also one JSON line on stdout, ``{"t", "kind": "error",
    "text", "problems", "exit"}``. Returns ``status`` (2: it could not start)."""
    for line in lines:
        sys.stderr.write(f"{prog}: {line}\n")
    sys.stderr.flush()
    if json_lines:
        record = {
            "t": round(t, 3),
            "kind": "error",
            "text": "; ".join(lines),
            "problems": list(lines),
            "exit": status,
        }
        sys.stdout.write(json.dumps(record) + "\n")
        sys.stdout.flush()
    return status


#: the loggers whose lines the demo keeps (the library's, and paho's under the MQTT bridge)
_LOGGERS = ("trio_locksync", "paho")


@final
class LibraryLog:
    """The library's own log lines, off the screen (it belongs to the demo): held in memory
    until :meth:`to_file` names the file (``demo.log``, once the state dir exists: a start
    that fails before has made no file), then written there. :meth:`close` at the end."""

    def __init__(self) -> None:
        # never flushed by itself: the lines wait for their file (or are dropped with it)
        self._held = logging.handlers.MemoryHandler(10_000, flushLevel=logging.CRITICAL + 1)
        self._handler: logging.Handler = self._held
        for name in _LOGGERS:
            logger = logging.getLogger(name)
            logger.addHandler(self._held)
            logger.setLevel(logging.INFO)
            logger.propagate = False

    def to_file(self, path: Path) -> None:
        """From now on (and the lines held so far) in ``path``."""
        handler = logging.FileHandler(path, encoding="utf-8")
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        for name in _LOGGERS:
            logger = logging.getLogger(name)
            logger.removeHandler(self._held)
            logger.addHandler(handler)
        for record in self._held.buffer:
            handler.handle(record)
        self._held.buffer.clear()
        self._handler = handler

    def close(self) -> None:
        for name in _LOGGERS:
            logging.getLogger(name).removeHandler(self._handler)
        self._handler.close()
        self._held.close()
