"""The site's own records and voice: :class:`SiteRecords` (each door's bolt as last heard, and
counts), reduced from the events the site publishes, and the :class:`Reporter` that publishes
each event, keeps those records and writes them to ``site.json`` soon after."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, final

import attrs
import trio

from ..core import ChangeFeed, Watched
from ..store import Store
from ._events import DemoEvent, DoorChanged, DoorReplayed, DoorReported, StoreFigures, TimerFired

__all__ = ["Reporter", "SiteRecords"]


@final
@attrs.frozen
class SiteRecords:
    """The site's own records of what it heard: each door's bolt, and counts."""

    doors: Mapping[str, bool | None]
    fired: int = 0
    replayed: int = 0
    live: int = 0

    def apply(self, event: DemoEvent) -> SiteRecords:
        """The records after ``event``."""
        match event:
            case (
                DoorChanged(lock, locked) | DoorReported(lock, locked) | DoorReplayed(lock, locked)
            ):
                doors = {**self.doors, lock: locked}
                replayed = self.replayed + isinstance(event, DoorReplayed)
                live = self.live + isinstance(event, DoorReported)
                return attrs.evolve(self, doors=doors, replayed=replayed, live=live)
            case TimerFired():
                return attrs.evolve(self, fired=self.fired + 1)
        return self


@final
@attrs.frozen(eq=False)
class Reporter:
    """The site's voice and memory: each event goes into the site's records (written to
    ``site.json`` soon after, once the site is up) and out on the feed, with the stores'
    figures when they changed."""

    run: int
    events: ChangeFeed[DemoEvent]
    #: what the site heard, as it heard it
    records: Watched[SiteRecords]
    #: the site's own store first, then one per lock
    stores: tuple[Store[Any], ...]
    #: the timers armed (or recovered) and not yet seen to fire or be cancelled
    running: set[str]
    #: set once every piece is open and the timers recovered
    up: trio.Event = attrs.field(factory=trio.Event)
    #: the stores' figures as last published
    figures: Watched[StoreFigures] = attrs.field(factory=lambda: Watched(StoreFigures(0, 0)))

    def publish(self, event: DemoEvent) -> None:
        """Report ``event``."""
        self.records.set(self.records.value.apply(event))
        self.events.publish(event)
        if self.up.is_set():
            self.stores[0].delay_save(self.snapshot, 1.0)
        self.store_figures()

    def store_figures(self) -> StoreFigures:
        """The stores' figures now (published if they changed)."""
        stats = [store.statistics() for store in self.stores]
        figures = StoreFigures(sum(s.writes for s in stats), sum(s.write_failures for s in stats))
        if self.figures.set(figures):
            self.events.publish(figures)
        return figures

    def snapshot(self, *, clean_exit: bool = False) -> dict[str, Any]:
        """What ``site.json`` holds. ``clean_exit`` is True only in the last write of a run
        that closed: a run that was killed left a count from up to two seconds before it
        died, which proves nothing."""
        records = self.records.value
        return {
            "run": self.run,
            "doors": dict(records.doors),
            "timers_running": len(self.running),
            "clean_exit": clean_exit,
            "fired": records.fired,
            "replayed": records.replayed,
            "live": records.live,
        }
