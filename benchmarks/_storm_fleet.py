"""The storm benchmark's fleet process: the bookkeeping every client reports into (attempts,
CONNECTED, resyncs), the parent's commands, and the fleet's report."""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import trio
import trio.lowlevel
from _harness import (
    rss_kib,
)
from _storm_common import cpu_seconds, emit, stdin_commands

# -- fleet bookkeeping -------------------------------------------------------------------------


@dataclass
class Client:
    group: str
    index: int
    attempts: list[float] = field(default_factory=list)
    connected: list[float] = field(default_factory=list)
    received: list[float] = field(default_factory=list)
    live: bool = False
    resynced_at: float | None = None
    pace_epoch: int = 0
    #: (time, why) of every change away from CONNECTED/SYNCING (how an attempt ended)
    endings: list[tuple[float, str]] = field(default_factory=list)
    #: every socket opened: [start, closed, answered] once closed
    sockets: list[list[Any]] = field(default_factory=list)


class Fleet:
    """What every client of a fleet process reports into; answers the parent's commands."""

    def __init__(self, spec: dict[str, Any]) -> None:
        self.spec = spec
        self.clients: list[Client] = []
        self.mark: float | None = None
        self.mark_cpu = 0.0
        self.server_up = True
        self.up_event = trio.Event()
        self.up_event.set()
        self.first_synced = 0
        self.resynced = 0
        self.all_synced = trio.Event()
        self.all_resynced = trio.Event()
        self.rss_before = rss_kib()
        self.mqtt = spec.get("kind") == "mqtt"
        #: paced arrivals (the capacity probe): the first attempt after ``pace`` of the client
        #: in global slot ``k`` waits until ``start + k / rate``; bumped per pace
        self.pace: tuple[float, float] | None = None
        self.pace_epoch = 0
        self.slot_offset = int(spec.get("slot_offset", 0))
        self.slot_stride = int(spec.get("slot_stride", 1))

    def add(self, group: str, index: int) -> Client:
        client = Client(group, index)
        self.clients.append(client)
        return client

    def attempt(self, client: Client) -> None:
        client.attempts.append(time.monotonic())

    def went_live(self, client: Client, at: float) -> None:
        client.live = True
        if not client.connected:
            self.first_synced += 1
            if self.first_synced == len(self.clients):
                self.all_synced.set()
        client.connected.append(at)
        if not self.mqtt:
            self._resync(client, at)

    def got_message(self, client: Client, at: float) -> None:
        client.received.append(at)
        self._resync(client, at)

    def _resync(self, client: Client, at: float) -> None:
        if self.mark is not None and at > self.mark and client.resynced_at is None:
            client.resynced_at = at
            self.resynced += 1
            if self.resynced == len(self.clients):
                self.all_resynced.set()

    def lost(self, client: Client) -> None:
        client.live = False

    async def wait_up(self) -> None:
        while not self.server_up:
            await self.up_event.wait()

    async def wait_turn(self, client: Client) -> None:
        """Paced: wait for the server, then for this client's slot (once per pace)."""
        await self.wait_up()
        if self.pace is not None and client.pace_epoch != self.pace_epoch:
            client.pace_epoch = self.pace_epoch
            start, rate = self.pace
            slot = self.slot_offset + self.slot_stride * client.index
            await trio.sleep(max(0.0, start + slot / rate - time.monotonic()))

    def do_mark(self) -> None:
        self.mark = time.monotonic()
        self.mark_cpu = cpu_seconds()
        self.resynced = 0
        self.all_resynced = trio.Event()
        for client in self.clients:
            client.resynced_at = None

    def report(self, *, complete: bool, live_at: dict[str, float] | None = None) -> dict[str, Any]:
        """Per group: each client's attempt times since the mark and its resync time."""
        mark = self.mark or 0.0
        groups: dict[str, dict[str, Any]] = {}
        for client in self.clients:
            group = groups.setdefault(
                client.group, {"clients": [], "resynced": [], "n": 0, "endings": [], "sockets": []}
            )
            group["sockets"] += [s for s in client.sockets if s[0] >= mark]
            group["n"] += 1
            group["endings"] += [[round(t, 4), why] for t, why in client.endings if t >= mark]
            group["clients"].append([round(t, 4) for t in client.attempts if t >= mark])
            group["resynced"].append(client.resynced_at)
        for label, at in (live_at or {}).items():
            groups[label]["all_live_at"] = at
        return {
            "report": True,
            "complete": complete,
            "mark": mark,
            "cpu_s": cpu_seconds() - self.mark_cpu,
            "groups": groups,
        }


async def fleet_commands(fleet: Fleet, nursery: trio.Nursery) -> None:
    async for words in stdin_commands():
        command = words[0]
        if command == "mark":
            fleet.do_mark()
            emit({"marked": fleet.mark})
        elif command == "down":
            fleet.server_up = False
            fleet.up_event = trio.Event()
        elif command == "up":
            fleet.server_up = True
            fleet.up_event.set()
        elif command == "pace":  # pace <start> <rate>: the server is up, arrivals paced
            fleet.pace = (float(words[1]), float(words[2]))
            fleet.pace_epoch += 1
            fleet.server_up = True
            fleet.up_event.set()
        elif command == "await_resync":
            nursery.start_soon(await_resync, fleet, float(words[1]))
        elif command == "await_all_live":
            nursery.start_soon(await_all_live, fleet, float(words[1]), float(words[2]))
        elif command == "report":
            emit(fleet.report(complete=False))
        elif command == "quit":
            sys.stdout.flush()
            os._exit(0)


async def await_resync(fleet: Fleet, limit: float) -> None:
    with trio.move_on_after(limit):
        await fleet.all_resynced.wait()
    emit(fleet.report(complete=fleet.all_resynced.is_set()))


async def await_all_live(fleet: Fleet, since: float, limit: float) -> None:
    """Poll until every client of each group is CONNECTED at once (at or after ``since``);
    report when all groups got there or at the timeout."""
    deadline = time.monotonic() + limit
    groups: dict[str, list[Client]] = {}
    for client in fleet.clients:
        groups.setdefault(client.group, []).append(client)
    live_at: dict[str, float] = {}
    while time.monotonic() < deadline and len(live_at) < len(groups):
        now = time.monotonic()
        for label, clients in groups.items():
            if label not in live_at and now >= since and all(c.live for c in clients):
                live_at[label] = now
        await trio.sleep(0.05)
    emit(fleet.report(complete=len(live_at) == len(groups), live_at=live_at))


async def run_fleet(spec: dict[str, Any], client_fn: Callable[..., Any]) -> None:
    fleet = Fleet(spec)
    async with trio.open_nursery() as nursery:
        nursery.start_soon(fleet_commands, fleet, nursery)
        index = 0
        for group in spec["groups"]:
            for _ in range(group["n"]):
                client = fleet.add(group["label"], index)
                nursery.start_soon(client_fn, fleet, client, group)
                index += 1
                if index % 50 == 0:
                    await trio.lowlevel.checkpoint()
        emit({"started": time.monotonic()})
        await fleet.all_synced.wait()
        emit({"synced": time.monotonic(), "rss_kib": rss_kib(), "rss_before_kib": fleet.rss_before})
