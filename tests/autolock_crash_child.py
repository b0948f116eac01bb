"""The victim process of ``tests/test_autolock_crash.py``: starts autolock timers until killed.

Usage: ``python autolock_crash_child.py PATH TIMER_ID DURATION [--loop]``

It opens ``open_autolock(PATH, action=...)``, calls ``recover()``, then
``await service.timer(TIMER_ID).start(DURATION)``, and then sleeps forever (the parent kills
it with SIGKILL). With ``--loop`` it keeps starting new timers ``TIMER_ID-1``, ``TIMER_ID-2``,
... instead of sleeping, each as soon as the previous ``start()`` returned, so that a kill lands
at any point of a start: before, during or right after its durable write.

Protocol on stdout, one line each, written unbuffered with ``os.write``:

* ``recovered <expired> <resumed> <pruned>`` -- ``recover()`` returned this report;
* ``started <timer id> <end time>`` -- ``start()`` of that timer returned (so its entry is on
  disk); the end time is the timer's ``end_time`` as ISO-8601, as the file stores it;
* ``fired <timer id>`` -- the action was called (the parent kills before any timer is due, so
  for a timer started by this process this line means the kill came too late).

Any problem is a traceback on stderr and a non-zero exit, which the parent reports.
"""

from __future__ import annotations

import os
import sys

import trio

from trio_locksync.autolock import open_autolock


def _say(line: str) -> None:
    os.write(sys.stdout.fileno(), f"{line}\n".encode("ascii"))


async def _action(timer_id: str) -> None:
    _say(f"fired {timer_id}")


async def _run(path: str, timer_id: str, duration: float, loop: bool) -> None:
    async with open_autolock(path, action=_action) as service:
        report = await service.recover()
        _say(f"recovered {report.expired} {report.resumed} {report.pruned}")
        name = timer_id
        number = 0
        while True:
            timer = service.timer(name)
            await timer.start(duration)
            end_time = timer.end_time
            assert end_time is not None
            _say(f"started {name} {end_time.isoformat()}")
            if not loop:
                await trio.sleep_forever()
            number += 1
            name = f"{timer_id}-{number}"


def main(argv: list[str]) -> None:
    path, timer_id, duration = argv[1], argv[2], float(argv[3])
    trio.run(_run, path, timer_id, duration, "--loop" in argv[4:])


if __name__ == "__main__":
    main(sys.argv)
