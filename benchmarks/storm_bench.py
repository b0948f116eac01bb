"""Reconnect storms: how a fleet of clients comes back when the server they all use goes away
and returns, by reconnect strategy, all in one run on one machine (issue 13).

Prints a Markdown report (for the README), writes the figures as JSON to
``benchmarks/results/storm_bench.json`` (``storm_bench-quick.json`` with ``--quick``) and one
PNG plot per scenario beside it (``storm_*.png``; matplotlib, the ``bench`` extra).

Processes (every figure is ``time.monotonic()``, one clock for all of them on Linux):

* the **server**: the project's ISY controller simulator (``trio_locksync.testing.isy``, a
  trio-websocket server on 127.0.0.1) with 50 nodes (a 50-frame replay on each connect) and
  heartbeats every 25 s, in a process of its own, told by this script to stop (listener closed,
  every connection cut), start again on the same port, or misbehave;
* one **fleet**: N clients of one strategy in one ``trio.run`` in a process of its own (so its
  CPU seconds and RSS are the clients' own), each counting its connection attempts (our
  streams through ``open_transport=``) and following its status; the ``websockets`` peer's fleet
  runs in another interpreter (``--peer-python``: websockets 17 cannot share a venv with
  amqtt, which pins 15);
* for MQTT, a mosquitto of our own (``trio_locksync.testing.MosquittoBroker``, SIGKILLed for
  D seconds, restarted on the same port; up when it first accepts a TCP connection, polled every
  5 ms) and a fleet of bridges or paho clients; this script publishes a QoS 0 tick every
  100 ms once the broker is back.

Scenarios:

0. **The floor** (issue 24, ``--only floor``; ``_storm_floor``): the capacity of the whole
   arrangement (server + fleets on this machine's cores) in reconnects per second, measured
   with paced arrivals (client k attempts k / r s after a restart; r rises until the
   completions fall behind; the capacity is the fastest completion rate seen, a backlog's drain
   included), the CPU's own bound beside it (CPU per reconnect, all cores), and the default's
   storm with the fleet split over ``--procs`` processes (N = 1000 and 3000, D = 10 s, two
   rounds, each against its own probe): all back against ``max(D, N / capacity)``, the goal
   1.3 x. Our stream's sockets are traced, so handshakes a timeout cut after the restart
   are counted (``handshake_timeout``, 30 s by default; candidates such as
   ``growing:factor=1.5,ratio=0.1,handshake_timeout=10`` set it).
1. **WebSocket storm** (N = 100 and 1000, each with D = 2, 10, 30 s): every strategy
   connects, the server stops for D seconds and restarts. Measured from the restart: the time
   until every client is ``CONNECTED`` again (through ``SYNCING``: 1 s without a frame after
   the replay), attempts per 100 ms (the plot), total and peak attempts, the fleet's CPU seconds
   from the stop to the last client back, and RSS per client (after the first sync, above the
   fleet process's RSS before the clients started). The **floor** is the oracle, which waits
   (inside ``open_transport``) until it is told the server is listening again and connects at
   that instant: all N handshakes and replays at once, the cost of the work itself.
2. **Accept-then-drop** (two servers: one accepting the handshake and cutting the connection at
   once; one replaying, going quiet and cutting the connection U(0, 8) s after the client went
   ``CONNECTED``), misbehaving for 30 s, then behaving: attempts per client in the 30 s for each
   strategy and each ``stable_after`` candidate, and how long until all clients are
   ``CONNECTED`` once it behaves. All groups run at once against one server (attempt counts do
   not depend on the CPU share).
3. **MQTT storm** (N = 50 and 200, D = 10 s): bridges subscribed to a topic; mosquitto killed
   and restarted; the time until every client has received a tick again; attempts. Baselines:
   paho's own ``loop_forever`` reconnect (``reconnect_delay_set(1, 120)``, no jitter, reset at
   CONNACK) and aiomqtt 3.0.0a1's delay formula ``uniform(0, 1.5**min(attempt, 10))`` starting
   over after every successful connect, run through our bridge (modelled: see the report).
   Then accept-then-drop: a fake broker that answers CONNECT with CONNACK and closes.

Strategies: ``default`` is whatever the event stream's and the bridge's ``backoff`` and
``stable_after`` default to in the package as installed (``RECONNECT_BACKOFF``: growing jitter);
``seed`` the seed's ±10 % (``Jitter.PROPORTIONAL``); ``full``/``decorrelated`` the other jitters
(same 1 s → 60 s; decorrelated was the default before growing); ``pyisy`` (0.01, 1, 10, 30,
60 s) and ``pyisyox`` (1, 2, 5, 10, 30, 60 s) fixed schedules through our stream, starting over
at ``CONNECTED`` (upstream starts over at socket-open, sooner still); ``websockets`` the peer's
own ``async for ws in connect(...)`` loop (reconnect at once after a drop, then U(0, 5 s), 3.1 s
x 1.618 up to 90 s; reset after every handshake) with the same SYNCING rule (quiet 1 s, cap
10 s) and ISY decoding layered on top.

This file is the entry point (the parent, and ``--role server|fleet`` for a child); the parts:
``_storm_common`` (constants, the JSON-lines protocol), ``_storm_servers`` and ``_storm_fleet``
+ ``_storm_clients`` (the child processes), ``_storm_measure`` (children and rows, in the
parent), ``_storm_scenarios``, ``_storm_run`` and ``_storm_report`` (plots, Markdown).
"""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence

from _harness import bench_parser, parse_bench_args, run_in_scratch
from _storm_clients import fleet_main
from _storm_common import GOAL, GOAL_ROUNDS, NAME
from _storm_report import render
from _storm_run import run
from _storm_servers import server_main


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["--role"]:
        role, spec = argv[1], json.loads(argv[2])
        if role == "server":
            server_main(spec)
        else:
            fleet_main(spec)
        return 0
    parser = bench_parser(__doc__, quick="N = 20, D = 2 s, short windows (about 3 min)")
    parser.add_argument(
        "--peer-python",
        help="interpreter with websockets 17 "
        "(default: ../stormvenv/bin/python beside the repository)",
    )
    parser.add_argument(
        "--only",
        nargs="*",
        choices=("floor", "ws", "atd", "mqtt"),
        help="run only these scenarios ('floor': the capacity probe and the storm against "
        "max(D, N / capacity), fleets in --procs processes)",
    )
    floor = parser.add_argument_group("the floor (issue 24)")
    floor.add_argument(
        "--procs", type=int, default=2, help="fleet processes per storm in 'floor' (default 2)"
    )
    floor.add_argument(
        "--floor-n", nargs="*", type=int, help="fleet sizes (default 1000 3000; quick: 100)"
    )
    floor.add_argument("--floor-down", type=float, help="the outage D, s (default 10; quick: 2)")
    floor.add_argument("--floor-rounds", type=int, help="rounds (default 2; quick: 1)")
    floor.add_argument(
        "--floor-strategies",
        nargs="*",
        help="strategies stormed against the floor (default: default; also oracle, seed, full, "
        "decorrelated, 'paced' = arrivals at the measured capacity, the floor's own schedule, "
        "and candidates '<jitter>:name=value,...' with Backoff fields and stream options, e.g. "
        "growing:factor=1.5,ratio=0.1,handshake_timeout=10)",
    )
    floor.add_argument(
        "--capacity-n",
        type=int,
        help="clients in the capacity probe (default: the largest --floor-n)",
    )
    floor.add_argument(
        "--capacity-rates",
        nargs="*",
        type=float,
        help="paced rates to probe, per s, and only these (default: from 50/s, x1.5 until one "
        "is not kept up, one bisection, then twice the highest kept up, doubled while kept up, "
        "at most three times)",
    )
    parser.add_argument(
        "--strategies",
        nargs="*",
        help="websocket strategies to run (default: all)",
    )
    parser.add_argument("--n", nargs="*", type=int, help="only these fleet sizes")
    parser.add_argument(
        "--rounds",
        type=int,
        help=f"run every websocket storm this many times and report the median round "
        f"(default: {GOAL_ROUNDS} for N = {GOAL[0]}, D = {GOAL[1]:g} s in a full run, else 1)",
    )
    parser.add_argument(
        "--down", nargs="*", type=float, help="only these outages (s) in the websocket storm"
    )
    args = parse_bench_args(parser, NAME, argv)
    return run_in_scratch(NAME, args, run, render)


if __name__ == "__main__":
    sys.exit(main())
