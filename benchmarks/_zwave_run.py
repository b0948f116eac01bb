"""The Z-Wave JS benchmark's run (``zwave_js_bench.py`` says what is measured): one case on a
fresh real server, every mock lock synced by its own engine over one client."""

from __future__ import annotations

import argparse
import math
import time
from dataclasses import dataclass, field

import trio
from _zwave_driver import DriverCounts, process_cpu_s

from trio_locksync.credentials import SyncState, open_lock_sync
from trio_locksync.providers.zwave_js import ZWaveJsClient, ZWaveJsStatus, open_zwave_js
from trio_locksync.testing.zwave_js import MockNode, ZWaveJsServer, open_zwave_js_server

USERS = 30
#: seconds a case may take to settle beyond its spacing bound before it is called unsettled
SLACK = 120.0


@dataclass
class LockOutcome:
    node: int
    kind: str
    settled_s: float
    bound_s: float
    in_sync: int
    verified: int
    operations: int
    commands: int
    driver_tx: int
    idle_commands: int


@dataclass
class CaseRun:
    locks: int
    slots: int
    round: int
    interview_s: float
    fleet_settled_s: float
    fleet_bound_s: float
    cpu_s: float
    node_cpu_s: float
    wall_s: float
    outcomes: list[LockOutcome] = field(default_factory=list)


def pin_for(node: int, slot: int) -> str:
    """Distinct per slot of a lock (a masking lock refuses duplicates), never 1234."""
    return f"{(node * 7919 + slot * 104729) % 900000 + 100000}"


def needed_operations(slots: int, kind: MockNode) -> int:
    return 1 + 2 * slots + (2 if kind is MockNode.MASKING else 0)


def full_refresh_commands(slots: int, users: int = USERS) -> int:
    """Two ``refresh_cc_values`` passes (users Gets each) and one Set per slot."""
    return 2 * users + slots


async def _one_lock(
    slots: int,
    client: ZWaveJsClient,
    server: ZWaveJsServer,
    node: int,
    kind: MockNode,
    args: argparse.Namespace,
    driver: DriverCounts,
    outcomes: list[LockOutcome],
) -> None:
    desired: dict[int, str | None] = {s: pin_for(node, s) for s in range(1, slots + 1)}
    lock = client.lock(node, slots=desired)
    tx0 = driver.commands_tx(node)
    bound = (needed_operations(slots, kind) - 1) * args.spacing
    start = trio.current_time()
    settled = math.inf
    async with open_lock_sync(lock, desired, operation_spacing=args.spacing) as engine:
        with trio.move_on_after(bound + SLACK):
            await engine.wait_settled()
            settled = trio.current_time() - start
        states = {s: engine.state(s) for s in desired}
        stats = engine.statistics()
        before_idle = lock.commands
        await trio.sleep(args.idle)
        idle = lock.commands - before_idle
    verified = 0
    for slot, pin in desired.items():
        if states[slot] is SyncState.IN_SYNC:
            verified += await server.slot(node, slot) == (1, pin)
    await trio.sleep(0.2)  # the driver's last statistics event
    outcomes.append(
        LockOutcome(
            node=node,
            kind=kind.name.lower(),
            settled_s=settled,
            bound_s=bound,
            in_sync=sum(s is SyncState.IN_SYNC for s in states.values()),
            verified=verified,
            operations=stats.operations,
            commands=before_idle,
            driver_tx=driver.commands_tx(node) - tx0,
            idle_commands=idle,
        )
    )


async def run_case(
    locks: int, slots: int, args: argparse.Namespace, rnd: int, versions: list[object]
) -> CaseRun:
    """One case on a fresh server: every extra mock lock synced at once; ``versions`` gets
    the server's and the driver's version."""
    t0 = time.perf_counter()
    async with open_zwave_js_server(locks=locks, lock_users=USERS) as server:
        await server.wait_nodes_ready()
        interview = time.perf_counter() - t0
        driver = DriverCounts()
        outcomes: list[LockOutcome] = []
        async with trio.open_nursery() as nursery:
            nursery.start_soon(driver.follow, server.url)
            await driver.listening.wait()
            async with open_zwave_js(server.url) as client:
                await client.wait_status(ZWaveJsStatus.CONNECTED)
                wall0, cpu0 = time.perf_counter(), time.process_time()
                node_cpu0 = process_cpu_s(server.pids)
                async with trio.open_nursery() as fleet:
                    for node, kind in server.extra_locks:
                        fleet.start_soon(
                            _one_lock, slots, client, server, node, kind, args, driver, outcomes
                        )
                wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
                node_cpu = process_cpu_s(server.pids) - node_cpu0
            nursery.cancel_scope.cancel()
        v = driver.version
        versions[:] = [str(v.get("serverVersion")), str(v.get("driverVersion"))]
    outcomes.sort(key=lambda o: o.node)
    return CaseRun(
        locks=locks,
        slots=slots,
        round=rnd,
        interview_s=interview,
        fleet_settled_s=max(o.settled_s for o in outcomes),
        fleet_bound_s=max(o.bound_s for o in outcomes),
        cpu_s=cpu,
        node_cpu_s=node_cpu,
        wall_s=wall,
        outcomes=outcomes,
    )
