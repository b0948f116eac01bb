"""The victim process of ``tests/test_store_crash.py``: saves numbered versions until killed.

Usage: ``python crash_child.py PATH [--no-durable]``

It opens ``open_store(PATH)``, loads the current snapshot and saves versions ``start + 1``,
``start + 2``, ... in a tight loop, each with a payload of a few kB derived from its version
number (so a torn or mixed file is detectable). Every ``DELAYED_EVERY``-th version goes through
``delay_save(..., delay=0)`` + ``flush()`` (the background writer's path) instead of ``save``.

Protocol on stdout, one line each, written unbuffered with ``os.write``:

* ``START <v>`` -- the store is open; ``<v>`` is the version loaded from disk (0: no file yet);
* ``<n>``       -- the write of version ``n`` has returned: it is on disk.

Any problem (``StoreLockedError`` on open, a loaded snapshot that does not check out) is a
traceback on stderr and a non-zero exit, which the parent reports.
"""

from __future__ import annotations

import os
import sys
from typing import Any

import trio

from trio_locksync.store import open_store

#: every DELAYED_EVERY-th version is written by delay_save + flush rather than save
DELAYED_EVERY = 5

_BLOB_REPEAT = 512
_LIST_LENGTH = 200


def payload_for(version: int) -> dict[str, Any]:
    """About 6 kB (more than one page) whose every part depends on ``version``."""
    return {
        "blob": f"{version:08d}" * _BLOB_REPEAT,
        "numbers": [version * 7919 + i for i in range(_LIST_LENGTH)],
        "tail": f"end-of-{version}",
    }


def snapshot_for(version: int) -> dict[str, Any]:
    """What the child saves as ``version``: exactly this, nothing else, is a valid file."""
    return {"version": version, "payload": payload_for(version)}


def _say(line: str) -> None:
    os.write(sys.stdout.fileno(), f"{line}\n".encode("ascii"))


async def _run(path: str, durable: bool) -> None:
    async with open_store(path, durable=durable) as store:
        loaded = await store.load()
        start = 0 if loaded is None else loaded["version"]
        if loaded is not None and loaded != snapshot_for(start):
            raise SystemExit(f"loaded snapshot does not check out: version {start!r}")
        _say(f"START {start}")
        version = start
        while True:
            version += 1
            snapshot = snapshot_for(version)
            if version % DELAYED_EVERY == 0:
                store.delay_save(lambda snapshot=snapshot: snapshot, delay=0)
                await store.flush()
            else:
                await store.save(snapshot)
            _say(str(version))


def main(argv: list[str]) -> None:
    path = argv[1]
    durable = "--no-durable" not in argv[2:]
    trio.run(_run, path, durable)


if __name__ == "__main__":
    main(sys.argv)
