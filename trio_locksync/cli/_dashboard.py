"""The live terminal dashboard (``rich``, from the ``demo`` extra): the access plan (people by
locks: each grant's state on each lock, and its next edge), per lock and slot the sync state
and its reason, the doors with their autolock countdowns, the event stream and MQTT
links, store writes, the faults coming up, and the latest events. The dashboard owns the board:
it applies the run's events as they come, and redraws four times a second (the countdowns
move) from a trio task (rich's own refresh thread is not used). It is laid out for the
terminal it is drawn on (:mod:`._layout`): a panel that does not fit is hidden or shortened,
and a line says so."""

from __future__ import annotations

from collections.abc import AsyncIterator

import trio
from rich.console import Console, Group, RenderableType
from rich.live import Live
from rich.panel import Panel
from rich.progress_bar import ProgressBar
from rich.table import Table
from rich.text import Text

from ._board import Board
from ._events import DemoEvent, FaultState
from ._layout import Fitted, Part, Screen
from ._words import count, span

__all__ = ["run_dashboard"]

_STATE_STYLE = {
    "IN_SYNC": "green",
    "LOADING": "dim",
    "SYNCING": "yellow",
    "PENDING_CONFIRMATION": "yellow",
    "OUT_OF_SYNC": "red",
    "SUSPENDED": "bold red",
}
_LINK_STYLE = {"CONNECTED": "green", "SYNCING": "yellow", "CONNECTING": "yellow"}
#: each AccessState as a cell of the plan: a short word and its style
_ACCESS_CELL = {
    "ACTIVE": ("on", "green"),
    "SCHEDULED": ("sched", "cyan"),
    "OFF_HOURS": ("off", "blue"),
    "WAITING": ("wait", "yellow"),
    "NO_SLOT": ("NO SLOT", "bold red"),
    "EXPIRED": ("expired", "dim"),
    "USED_UP": ("used up", "magenta"),
    "REVOKED": ("revoked", "dim"),
}
_FAULT_STYLE = {
    FaultState.UPCOMING: "cyan",
    FaultState.NOW: "bold yellow",
    FaultState.DONE: "green",
    FaultState.SKIPPED: "dim",
}


def _header(board: Board) -> RenderableType:
    elapsed = min(board.elapsed(), board.duration)
    grid = Table.grid(expand=True, padding=(0, 1))
    grid.add_column(no_wrap=True)
    grid.add_column(ratio=1)
    grid.add_column(no_wrap=True)
    title = Text.assemble(("trio-locksync demo", "bold"), f"  run {board.run_number}")
    if board.stopping:
        title.append(f"  stopping ({board.stopping})", style="yellow")
    grid.add_row(
        title,
        ProgressBar(total=board.duration, completed=elapsed),
        f"{elapsed:5.1f} / {board.duration:g} s",
    )
    grid.add_row(Text(f"broker: {board.broker}", style="dim"), "", Text(board.state_dir, "dim"))
    return grid


def _rows(board: Board) -> list[tuple[str, str, str, str]]:
    """``(lock, slots, state, reason)``: the slots of a lock alike (same state and reason) on
    one row (so that 8 locks with 30-odd slots fit the screen); in sync first."""
    rows: list[tuple[str, str, str, str]] = []
    by_lock: dict[str, dict[tuple[str, str], list[int]]] = {}
    for (lock, slot), (state, reason) in sorted(board.slots.items()):
        if state == "IN_SYNC":
            reason = ""  # the state says it
        by_lock.setdefault(lock, {}).setdefault((state, reason), []).append(slot)
    for lock, alike in by_lock.items():
        order = sorted(alike.items(), key=lambda item: (item[0][0] != "IN_SYNC", item[1]))
        rows += [(lock, span(slots), state, why) for (state, why), slots in order]
    return rows


def _slots(board: Board, lines: int | None = None) -> RenderableType:
    """Per lock, its slots by state and reason (over two lines where the room is narrow;
    one, when the panel is given only ``lines`` lines, then "and N more rows")."""
    table = Table(expand=True, box=None, padding=(0, 1), show_edge=False)
    table.add_column("lock", no_wrap=True)
    table.add_column("slots", justify="right", no_wrap=True, overflow="ellipsis", max_width=12)
    table.add_column("state and reason (never a PIN)", ratio=1)
    rows = _rows(board)
    if lines is not None:  # short of room: the slots not in sync first, they need reading
        rows.sort(key=lambda row: row[2] == "IN_SYNC")
    shown = rows if lines is None else rows[: max(1, lines - 4)]
    if lines is not None and len(shown) == len(rows) - 1:
        shown = rows  # the line "and 1 more" would take, the row itself takes
    last = ""
    for lock, slots, state, reason in shown:
        prefix = Text.assemble((state, _STATE_STYLE.get(state, "")), " " if reason else "")
        cell = Fitted(prefix, reason, "dim", lines=2 if lines is None else 1)
        table.add_row(lock if lock != last else "", slots, cell)
        last = lock
    if len(shown) < len(rows):
        more = len(rows) - len(shown)
        table.add_row("", "", Text(f"and {count(more, 'more row')} (terminal too small)", "yellow"))
    return Panel(table, title="credentials: per lock and slot", border_style="blue")


def _plan(board: Board) -> RenderableType:
    """Locks down, people across (each with the next edge of their window under the name):
    each grant's state on each lock, in a word."""
    table = Table(expand=True, box=None, padding=(0, 1), show_edge=False)
    order = list(board.doors)
    locks = sorted(
        {lock for _, lock in board.access},
        key=lambda n: (n not in order, n in order and order.index(n)),
    )
    grants = list(dict.fromkeys(grant for grant, _ in board.access))
    table.add_column("lock", no_wrap=True)
    for grant in grants:
        edges = [v.next_edge for (g, _), v in board.access.items() if g == grant and v.next_edge]
        edge = min(edges)[5:16].replace("T", " ") if edges else ""
        table.add_column(
            Text.assemble(grant, ("\n" + edge) if edge else "", style=""), no_wrap=True
        )
    for lock in locks:
        cells: list[RenderableType] = [lock]
        for grant in grants:
            view = board.access.get((grant, lock))
            if view is None:
                cells.append("")
                continue
            word, style = _ACCESS_CELL.get(view.state, (view.state.lower(), ""))
            if view.state == "ACTIVE" and view.sync not in ("", "IN_SYNC"):
                word, style = "on…", "yellow"  # the plan wants it there; not verified yet
            if view.uses_left is not None and view.state == "ACTIVE":
                word += f" {view.uses_left}x"
            cells.append(Text(word, style))
        table.add_row(*cells)
    return Panel(table, title="access plan: people by locks (next edge)", border_style="blue")


def _doors(board: Board) -> RenderableType:
    table = Table(expand=True, box=None, padding=(0, 1), show_edge=False)
    for column in ("door", "via", "bolt", "autolock"):
        table.add_column(column, no_wrap=True)
    now = trio.current_time()
    for name, door in sorted(board.doors.items()):
        if door.locked is None:
            bolt = Text("?", "dim")
        else:
            bolt = Text("locked", "green") if door.locked else Text("UNLOCKED", "yellow")
        if not door.reachable:
            bolt = Text("offline", "bold red")
        timer = (
            Text("-", "dim")
            if door.timer_at is None
            else Text(f"locks in {max(0.0, door.timer_at - now):4.1f} s", "cyan")
        )
        via = {"zigbee2mqtt": "Z2M", "zwave": "Z-Wave"}.get(door.kind, "ISY")
        table.add_row(name, Text(via, "dim"), bolt, timer)
    return Panel(table, title="doors and autolock timers", border_style="blue")


def _links(board: Board) -> RenderableType:
    t = board.tally
    table = Table.grid(padding=(0, 1))
    table.add_column(no_wrap=True)
    table.add_column()
    table.add_row(
        "ISY event stream",
        Text(board.stream_status, _LINK_STYLE.get(board.stream_status, "red")),
    )
    table.add_row(
        "",
        f"{count(t.stream_connections, 'connection')}; {t.replayed} replayed (held in SYNCING), "
        f"{t.live} live; {count(t.replayed_unlocks_ignored, 'replayed unlock')} ignored",
    )
    table.add_row("MQTT bridge", Text(board.mqtt_status, _LINK_STYLE.get(board.mqtt_status, "red")))
    table.add_row(
        "", f"{count(t.mqtt_connections, 'connection')}, {count(t.mqtt_reconnects, 'reconnect')}"
    )
    if board.zwave_state:
        state = board.zwave_state.upper()
        style = {"UP": "green", "STARTING": "yellow"}.get(state, "dim")
        table.add_row("Z-Wave JS Server", Text(state, style))
        table.add_row("", Text(board.zwave, "dim", overflow="ellipsis", no_wrap=True))
    table.add_row("store", f"{t.store_writes} durable writes, {t.store_failures} failures")
    table.add_row(
        "autolock",
        f"{t.armed} armed, {t.cancelled} cancelled, {t.fired} fired"
        + (
            f"; {t.recovered_resumed} resumed, {t.recovered_expired} fired at start"
            if board.run_number > 1
            else ""
        ),
    )
    return Panel(table, title="links and records", border_style="blue")


def _faults(board: Board) -> RenderableType:
    table = Table.grid(padding=(0, 1), expand=True)
    table.add_column(justify="right", no_wrap=True, min_width=9)
    table.add_column(no_wrap=True, min_width=25)
    table.add_column(overflow="ellipsis", no_wrap=True, ratio=1)
    elapsed = board.elapsed()
    for fault in board.faults:
        if fault.state is FaultState.UPCOMING:
            when = f"in {fault.at - elapsed:4.1f} s"
        else:
            when = f"at {fault.at:4.1f} s"
        table.add_row(when, Text(fault.label, _FAULT_STYLE[fault.state]), Text(fault.note, "dim"))
    return Panel(table, title="faults (scheduled)", border_style="magenta")


def _recent(board: Board, shown: int) -> RenderableType:
    """The latest ``shown`` lines, each fitted to the width (a next try's time stays whole)."""
    lines = [
        Fitted(Text.assemble((f"{e.t:6.1f}s ", "dim"), (f"{e.kind:<7} ", "bold")), e.text)
        for e in list(board.recent)[-shown:]
    ]
    return Panel(Group(*lines), title="latest events", border_style="dim")


def render(board: Board) -> RenderableType:
    """The dashboard, laid out for the console it is drawn on: the doors, links and faults on
    the right keep their room and the reasons take the rest; when the panels do not all fit,
    the faults, the access plan, the links and the doors are hidden in that order, then the
    credentials shortened — each said in a line at the bottom."""
    left = [Part("credentials", lambda lines: _slots(board, lines), shrinks=True)]
    if board.access:
        left.insert(0, Part("access plan", lambda _: _plan(board)))
    right = [
        Part("doors", lambda _: _doors(board)),
        Part("links", lambda _: _links(board)),
        Part("faults", lambda _: _faults(board)),
    ]
    return Screen(
        _header(board),
        left,
        right,
        lambda shown: _recent(board, shown),
        events_wanted=max(1, min(len(board.recent), 8)),
        drop=["faults", "access plan", "links", "doors"],
    )


async def run_dashboard(board: Board, events: AsyncIterator[DemoEvent], console: Console) -> None:
    """Apply ``events`` to ``board`` and draw it until they end (the last frame stays on
    screen)."""
    with Live(
        render(board),
        console=console,
        auto_refresh=False,
        redirect_stdout=False,
        redirect_stderr=False,
        vertical_overflow="crop",
    ) as live:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(_redraw, live, board)
            await board.follow(events, _drawn_not_printed)
            nursery.cancel_scope.cancel()
        live.update(render(board), refresh=True)


def _drawn_not_printed(_: object) -> None:
    """The lines are on the board (its latest events panel), not printed."""


async def _redraw(live: Live, board: Board) -> None:
    while True:  # a frame clock, not a wait for a condition: the countdowns move with time
        live.update(render(board), refresh=True)
        await trio.sleep(0.25)
