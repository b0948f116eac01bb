"""Fitting the dashboard to the terminal it is drawn on: which panels get room, and reasons cut
so that what the reader acts on stays.

:class:`Screen` lays the panels out for the size rich gives it (two columns from
:data:`WIDE` columns, one below that), measures them, and when they do not all fit drops the
least needed first — the faults, the access plan, the links, the doors — then shortens the
credentials panel, keeping the latest events at least :data:`FEWEST_EVENTS` lines. Nothing
vanishes without a word: a line at the bottom names the panels hidden, with the terminal's
size, and a shortened panel says how many rows it left out. :class:`Fitted` is a line that
takes the width its column gives it and fits its text there with :func:`._words.fit` (the
next try's time stays whole)."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import final

import attrs
from rich.console import Console, ConsoleOptions, RenderableType
from rich.measure import Measurement
from rich.segment import Segment
from rich.text import Text

from ._words import fit

__all__ = ["FEWEST_EVENTS", "WIDE", "Fitted", "Part", "Screen"]

#: from this many columns the panels stand in two columns
WIDE = 110
#: the width of the right-hand column (doors, links, faults) in the two-column layout
RIGHT = 52
#: the latest events panel keeps at least this many lines (or it is hidden, and says so)
FEWEST_EVENTS = 3
#: the fewest lines a shortened panel is given: its frame, its heading, a row, "and N more"
SHORTEST = 5


@final
class Fitted:
    """``prefix`` then ``text`` (in ``style``), in at most ``lines`` lines of the width given:
    shortened by :func:`._words.fit`, then wrapped at words."""

    def __init__(self, prefix: Text, text: str, style: str = "", *, lines: int = 1) -> None:
        self.prefix = prefix
        self.text = text
        self.style = style
        self.lines = lines

    def _made(self, room: int) -> Text:
        made = self.prefix.copy()
        made.append(fit(self.text, max(1, room)), self.style)
        return made

    def __rich_measure__(self, console: Console, options: ConsoleOptions) -> Measurement:
        whole = len(self.prefix) + len(self.text)
        return Measurement(min(whole, len(self.prefix) + 12), whole)

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> Iterator[Text]:
        width = options.max_width
        room = width * self.lines - len(self.prefix)
        while True:
            made = self._made(room)
            wrapped = made.wrap(console, width, overflow="fold", no_wrap=self.lines == 1)
            if len(wrapped) <= self.lines or room <= 1:
                break
            room -= max(1, width // 8)  # words wrapped early: leave the lines more slack
        yield from wrapped[: self.lines]


@final
@attrs.frozen
class Part:
    """A panel of the screen: its name (said when it is hidden or shortened) and how to draw
    it; a part that ``shrinks`` is drawn in at most the number of lines it is given (None:
    all it wants), saying how many rows it left out."""

    name: str
    draw: Callable[[int | None], RenderableType]
    shrinks: bool = False


@final
class Screen:
    """The dashboard for the console's size: ``header`` (always), then the ``left`` and
    ``right`` parts (one column below :data:`WIDE` columns, left first), then the latest
    events (``events(n)``: the last ``n``, as a panel of ``n + 2`` lines); ``drop`` names the
    parts to hide first when they do not all fit, in that order."""

    def __init__(
        self,
        header: RenderableType,
        left: Sequence[Part],
        right: Sequence[Part],
        events: Callable[[int], RenderableType],
        *,
        events_wanted: int,
        drop: Sequence[str],
    ) -> None:
        self.header = header
        self.left = list(left)
        self.right = list(right)
        self.events = events
        self.events_wanted = events_wanted
        self.drop = list(drop)

    def __rich_console__(
        self, console: Console, options: ConsoleOptions
    ) -> Iterator[RenderableType | Segment]:
        width, height = options.max_width, options.max_height
        free = options.reset_height()
        wide = width >= WIDE
        columns = [self.left, self.right] if wide else [self.left + self.right]
        widths = [width - RIGHT - 1, RIGHT] if wide else [width]
        limits: dict[str, int | None] = {}
        hidden: list[str] = []
        drawn: dict[tuple[str, int | None], list[list[Segment]]] = {}

        def tall(renderable: RenderableType, w: int) -> int:
            return len(console.render_lines(renderable, free.update_width(w), pad=False))

        def lines_of(part: Part, w: int) -> list[list[Segment]]:
            key = (part.name, limits.get(part.name))
            if key not in drawn:  # each drawn once per size it is given, then reused
                drawn[key] = console.render_lines(part.draw(key[1]), free.update_width(w))
            return drawn[key]

        def column(parts: Sequence[Part], w: int) -> list[list[Segment]]:
            return [line for p in parts if p.name not in hidden for line in lines_of(p, w)]

        def body() -> int:
            return max(len(column(c, w)) for c, w in zip(columns, widths, strict=True))

        header = tall(self.header, width)
        fewest = min(self.events_wanted, FEWEST_EVENTS)

        def said() -> int:
            return tall(self._said(hidden, width, height), width) if hidden else 0

        def excess() -> int:
            return header + body() + fewest + 2 + said() - height

        for name in self.drop:
            if excess() <= 0:
                break
            hidden.append(name)
        for part in (p for c in columns for p in c if p.shrinks and p.name not in hidden):
            over = excess()
            if over <= 0:
                break
            w = widths[1] if wide and part in self.right else widths[0]
            limits[part.name] = max(SHORTEST, len(lines_of(part, w)) - over)
        shown = min(self.events_wanted, height - header - body() - 2 - said())
        if shown < 1:
            hidden.append("latest events")
        yield self.header
        rows = body()
        shaped = [
            Segment.set_shape(column(c, w), w, rows) for c, w in zip(columns, widths, strict=True)
        ]
        for parts in zip(*shaped, strict=True):
            for n, line in enumerate(parts):
                yield from ([Segment(" ")] if n else []) + line
            yield Segment.line()
        if shown >= 1:
            yield self.events(shown)
        if hidden:
            yield self._said(hidden, width, height)

    @staticmethod
    def _said(hidden: Sequence[str], width: int, height: int) -> Text:
        """The line that says which panels are hidden; a shortened panel says so itself ("and
        N more rows")."""
        names = ", ".join(hidden)
        return Text(f"{names} hidden: terminal too small ({width}x{height})", style="yellow")
