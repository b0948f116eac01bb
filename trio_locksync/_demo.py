"""A whole simulated site on embedded defaults: ``python -m trio_locksync demo``.

Today the site is a handful of locks whose slot activity is persisted through the durable store:
a burst of events, debounced into a few writes, then a "restart" that loads the state back and
checks it. Later subsystems (autolock timers, credential sync, MQTT, event streams) join it here.
"""

from __future__ import annotations

import argparse
import random
import tempfile
import time
from pathlib import Path
from typing import Any

import trio

from .store import open_store

__all__ = ["main"]


def _initial_site(locks: int, slots: int) -> dict[str, Any]:
    return {
        f"lock-{n}": {"slots": {str(s): {"name": None, "uses": 0} for s in range(1, slots + 1)}}
        for n in range(1, locks + 1)
    }


def _apply_event(site: dict[str, Any], rng: random.Random, at: float) -> None:
    lock = site[rng.choice(sorted(site))]
    slot = lock["slots"][str(rng.randint(1, len(lock["slots"])))]
    if slot["name"] is None or rng.random() < 0.05:
        slot["name"] = f"user-{rng.randint(1, 999)}"
    slot["uses"] += 1
    lock["last_event"] = round(at, 3)


async def run_demo(directory: Path, *, locks: int, slots: int, seconds: float, rate: float) -> bool:
    """Run the site for ``seconds`` at ``rate`` events/s, restart, and verify. True if all held."""
    path = directory / "site" / "locks.json"
    rng = random.Random(2026)
    site = _initial_site(locks, slots)
    events = 0
    started = time.monotonic()

    def snapshot() -> dict[str, Any]:
        # A fresh structure each time: the store encodes it in a worker thread.
        return {
            name: {**lock, "slots": {k: dict(v) for k, v in lock["slots"].items()}}
            for name, lock in site.items()
        }

    async with open_store(path, max_delay=1.0) as store:
        previous = await store.load()
        print(f"store {path}: {'found' if previous is not None else 'new'}")
        deadline = trio.current_time() + seconds
        while trio.current_time() < deadline:
            _apply_event(site, rng, trio.current_time())
            events += 1
            store.delay_save(snapshot, 0.25)
            await trio.sleep(1.0 / rate)
        stats = store.statistics()
    print(
        f"ran {locks} locks x {slots} slots for {seconds:.1f} s: {events} events, "
        f"{stats.writes + 1} durable writes (incl. the final flush), "
        f"{stats.write_failures} write failures"
    )
    async with open_store(path) as store:
        reloaded = await store.load()
    ok = bool(reloaded == snapshot())
    size = path.stat().st_size
    print(f"restart: loaded {size} bytes, state {'matches' if ok else 'DIFFERS from'} the site")
    print(f"done in {time.monotonic() - started:.2f} s")
    return ok


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m trio_locksync", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    demo = sub.add_parser("demo", help="run the simulated site")
    demo.add_argument("--dir", type=Path, default=None, help="where to keep the site's files")
    demo.add_argument("--locks", type=int, default=5)
    demo.add_argument("--slots", type=int, default=30)
    demo.add_argument("--seconds", type=float, default=3.0)
    demo.add_argument("--rate", type=float, default=200.0, help="events per second")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="trio-locksync-demo-") as scratch:
        directory = args.dir if args.dir is not None else Path(scratch)
        ok = trio.run(
            lambda: run_demo(
                directory, locks=args.locks, slots=args.slots, seconds=args.seconds, rate=args.rate
            )
        )
    return 0 if ok else 1
