"""What happens when: the faults the viewer sees coming (controller restart, lock offline,
broker restart, keypad change at the door) and the people using the doors, on a schedule
compressed to ``--duration`` — a 15 s run shows every fault once, as a 60 s run does."""

from __future__ import annotations

import itertools
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import final

import attrs
import trio

from ._board import Board, FaultState, FaultView

__all__ = ["Fault", "Visit", "fault_plan", "run_faults", "run_visits", "visit_plan"]


@final
@attrs.frozen
class Fault:
    """A fault at ``at`` seconds; ``act`` does it and returns a note (or raises
    :class:`Skipped`)."""

    at: float
    label: str
    act: Callable[[], Awaitable[str]]


class Skipped(Exception):
    """The fault cannot be done in this setup (e.g. a broker we did not start)."""


#: where each fault falls, as a fraction of the run; the rest of the run shows recovery
FAULT_AT = {
    "controller restart": 0.18,
    "lock offline": 0.32,
    "broker restart": 0.50,
    "keypad change at the door": 0.66,
}


def fault_plan(duration: float, acts: Mapping[str, Callable[[], Awaitable[str]]]) -> list[Fault]:
    return [Fault(duration * FAULT_AT[label], label, acts[label]) for label in FAULT_AT]


def down_time(duration: float, fraction: float, least: float) -> float:
    """How long a fault lasts: ``fraction`` of the run, at least ``least`` seconds."""
    return max(least, duration * fraction)


async def run_faults(board: Board, faults: Sequence[Fault]) -> None:
    """Do each fault at its time; the board shows them coming, happening and done."""
    board.faults = [FaultView(fault.at, fault.label) for fault in faults]
    async with trio.open_nursery() as nursery:
        for index, fault in enumerate(faults):
            nursery.start_soon(_one_fault, board, index, fault)


async def _one_fault(board: Board, index: int, fault: Fault) -> None:
    await trio.sleep_until(board.start + fault.at)
    board.fault(index, FaultState.NOW)
    try:
        note = await fault.act()
    except Skipped as skipped:
        board.fault(index, FaultState.SKIPPED, str(skipped))
    else:
        board.fault(index, FaultState.DONE, note)


@final
@attrs.frozen
class Visit:
    """Someone opens door ``lock`` with a code at ``at``; locks it by hand after ``then`` s
    (or leaves it to the autolock: None)."""

    at: float
    lock: str
    then: float | None


def visit_plan(duration: float, locks: Sequence[str], last: Sequence[str]) -> list[Visit]:
    """Ten visits spread over the run, every third locked by hand again soon after; then the
    ``last`` doors opened at 90 % of the run, so timers are still running when it ends (the
    next run resumes them, or fires those that expired meanwhile)."""
    step = duration / 11
    visits = [
        Visit(step * (n + 0.5), lock, min(step * 0.6, 2.0) if n % 3 == 2 else None)
        for n, lock in zip(range(10), itertools.cycle(locks), strict=False)
    ]
    visits += [Visit(duration * 0.9, lock, None) for lock in last]
    return visits


async def run_visits(
    board: Board,
    visits: Sequence[Visit],
    unlock: Callable[[str], None],
    lock: Callable[[str], None],
) -> None:
    for visit in visits:
        await trio.sleep_until(board.start + visit.at)
        unlock(visit.lock)
        if visit.then is not None:
            await trio.sleep(visit.then)
            lock(visit.lock)
