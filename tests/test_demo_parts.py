"""The demo's pieces without a broker: the shipped config, the compressed schedule, the command
line's checks, the summary's wording, and the dashboard drawn into a recording console."""

from __future__ import annotations

import io
import json
import re
from pathlib import Path

import attrs
import pytest
import trio

from trio_locksync import Pin
from trio_locksync.cli import default_state_dir, main
from trio_locksync.cli._board import Board
from trio_locksync.cli._config import (
    Behaviour,
    ConfigError,
    behaviour_of,
    demo_options,
    load_config,
)
from trio_locksync.cli._events import (
    AccessChanged,
    DemoEvent,
    DoorChanged,
    FaultChanged,
    FaultsPlanned,
    FaultState,
    LockReachable,
    SiteOpened,
    SlotChanged,
    TimerArmed,
    ZWaveChanged,
    ZWaveState,
)
from trio_locksync.cli._output import JsonLines, PlainLog
from trio_locksync.cli._schedule import FAULT_AT, down_time, fault_plan, visit_plan
from trio_locksync.cli._schema import LockKind
from trio_locksync.cli._summary import Summary
from trio_locksync.cli._zwave import ZWAVE_MIN_DURATION, zwave_unavailable
from trio_locksync.testing._mqtt_broker import parse_address


def test_shipped_config_has_every_behaviour_and_hides_its_pins() -> None:
    config = load_config()
    assert {spec.kind for spec in config.locks} == set(LockKind)
    assert {behaviour_of(spec) for spec in config.locks} == set(Behaviour)
    assert all(isinstance(grant.pin, Pin) for grant in config.grants)
    pins = {grant.pin.reveal() for grant in config.grants}
    shown = repr(config) + str(config)
    assert len(pins) == 5 and not any(pin in shown for pin in pins)
    # always, weekly hours, a window, a use limit: the plan is exercised
    grants = {grant.name: grant for grant in config.grants}
    assert grants["Anna"].locks is None and grants["cleaner"].weekly == ("mon-fri 08:00-18:00",)
    assert grants["guest"].starts is not None and grants["courier"].uses == 2
    front = config.lock("front_door")
    assert front.slots == tuple(range(1, 10)) and front.expose_pin is True
    assert config.lock("back_door").expose_pin is False  # the masked Zigbee lock
    assert config.autolock_seconds() == dict.fromkeys((s.name for s in config.locks), 12.0)
    assert {config.lock(name).door for name in ("garage", "office", "shed", "gate")} == {
        "ZW004_1", "ZW005_1", "ZW006_1", "ZW007_1"
    }  # fmt: skip


LOCK = '[[locks]]\nname = "a"\nkind = "virtual"\ndoor = "ZW002_1"\n'


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        (LOCK + '[[grants]]\nname = "x"\npin = "12"\n', "grant 'x': pin is not a valid PIN"),
        (LOCK + '[[grants]]\nname = "x"\npin = 1234\n', "pin must be a string"),
        ('[[locks]]\nname = "a b"\nkind = "virtual"\n', "name must be letters"),
        ('[[locks]]\nname = "a"\nkind = "zigbee2"\n', "zigbee2"),
        (
            '[[locks]]\nname = "a"\nkind = "zwave"\nnode_id = 2\nbehaviour = "flaky"\n',
            "a zwave lock is 'readable' or 'masked'",
        ),
        (
            '[[locks]]\nname = "a"\nkind = "zwave"\nnode_id = 3\nbehaviour = "readable"\n',
            "node 2 (readable) and 3 (masked)",
        ),
        ('[[locks]]\nname = "a"\nkind = "virtual"\n', "lock 'a': door is missing (a virtual"),
        # a key left out is said as missing, with where and what it wants
        ('[[locks]]\nkind = "virtual"\n', "lock #1: name is missing (letters, digits"),
        ('[[locks]]\nname = "a"\n', "lock 'a': kind is missing (one of zigbee2mqtt, zwave"),
        ('[[locks]]\nname = "a"\nkind = "zwave"\n', "lock 'a': node_id is missing (a zwave"),
        (LOCK + '[[grants]]\nname = "x"\n', "grant 'x': pin is missing (a quoted string"),
        (LOCK + '[[grants]]\npin = "1234"\n', "grant #1: name is missing"),
        (LOCK + '[[autolock]]\nlock = "a"\n', "autolock 'a': seconds is missing"),
        (LOCK + "[[autolock]]\nseconds = 3\n", "autolock #1: lock is missing"),
        ("[isy]\n" + LOCK, "[isy]: url is missing (a http:// or https:// URL)"),
        ("[mqtt]\nport = 3\n" + LOCK, "[mqtt]: host is missing"),
        (LOCK + 'behaviour = "wobbly"\n', "behaviour 'wobbly' is not one of"),
        ('time_zone = "UTC"\n', "give at least one [[locks]] entry"),
    ],
)
def test_bad_configs_say_what_is_wrong_without_the_pin(
    tmp_path: Path, text: str, problem: str
) -> None:
    path = tmp_path / "site.toml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=re.escape(problem)) as caught:
        load_config(path)
    assert '12"' not in str(caught.value)


@pytest.mark.parametrize("duration", [15.0, 20.0, 60.0])
def test_every_fault_falls_in_the_run_and_leaves_time_to_recover(duration: float) -> None:
    async def act() -> str:
        return ""

    plan = fault_plan(duration, dict.fromkeys(FAULT_AT, act))
    assert [fault.label for fault in plan] == list(FAULT_AT)
    assert all(0 < fault.at < duration * 0.7 for fault in plan)
    times = [fault.at for fault in plan]
    assert times == sorted(times)
    # the lock comes back and the broker restarts well before the end
    lock_back = plan[1].at + down_time(duration, 0.14, 2.0)
    assert lock_back < plan[2].at + 0.5 and plan[2].at + down_time(duration, 0.03, 1.0) < duration
    visits = visit_plan(duration, ["a", "b", "c"], ["a"])
    assert visits[-1].at == duration * 0.9 and visits[-1].then is None  # a timer left running
    assert any(visit.then is not None for visit in visits)  # some doors locked by hand


def test_addresses() -> None:
    assert parse_address("broker.local:1884") == ("broker.local", 1884)
    assert parse_address("broker.local") == ("broker.local", 1883)
    assert parse_address("[::1]:1884") == ("::1", 1884)
    with pytest.raises(ValueError, match="HOST:PORT"):
        parse_address("broker:99999")


def test_default_state_dir_is_per_user(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path))
    assert default_state_dir() == tmp_path / "trio-locksync-demo"
    monkeypatch.delenv("XDG_STATE_HOME")
    assert default_state_dir() == Path.home() / ".local" / "state" / "trio-locksync-demo"


@pytest.mark.parametrize(
    ("option", "value"),
    [
        ("--duration", "0"), ("--duration", "inf"), ("--duration", "nan"),
        ("--duration", "-1"), ("--duration", "x"), ("--duration", "86401"),
        ("--autolock", "-1"), ("--autolock", "inf"),
    ],
)  # fmt: skip
def test_seconds_must_be_finite_and_positive(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, option: str, value: str
) -> None:
    assert main(["demo", option, value, "--state-dir", str(tmp_path / "s")]) == 2
    err = capsys.readouterr().err
    assert err == (
        f"trio-locksync demo: error: argument {option}: must be a finite positive number of "
        f"seconds, at most 86400; got {value!r} (see trio-locksync demo --help)\n"
    )
    assert not (tmp_path / "s").exists()


def test_command_line_refusals(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    assert main(["demo", "--mqtt", "host:x", "--state-dir", str(tmp_path)]) == 2
    assert "error: argument --mqtt: wants HOST:PORT" in capsys.readouterr().err
    # a bad option is the command's to refuse (its usage, its --help), not the top level's
    assert main(["demo", "--bogus"]) == 2
    assert capsys.readouterr().err == (
        "trio-locksync demo: error: unrecognized arguments: --bogus "
        "(see trio-locksync demo --help)\n"
    )
    assert main(["run", "site.toml", "--bogus"]) == 2
    assert capsys.readouterr().err.startswith("trio-locksync run: error: unrecognized argum")
    assert main(["--bogus", "demo"]) == 2
    assert capsys.readouterr().err.startswith("trio-locksync: error: unrecognized arguments")
    assert main(["nothing"]) == 2
    assert capsys.readouterr().err.startswith("trio-locksync: error: argument {run,demo}")
    # --json: the refusal is a JSON line on stdout too
    assert main(["demo", "--json", "--duration", "inf"]) == 2
    out, err = capsys.readouterr()
    record = json.loads(out)
    assert record["kind"] == "error" and record["exit"] == 2 and record["t"] == 0.0
    assert record["text"] == err.removeprefix("trio-locksync demo: ").rstrip("\n")


@pytest.mark.parametrize("command", [[], ["run"], ["demo"]])
def test_help_is_plain_text(capsys: pytest.CaptureFixture[str], command: list[str]) -> None:
    with pytest.raises(SystemExit) as done:
        main([*command, "--help"])
    assert done.value.code == 0
    text = capsys.readouterr().out
    assert text.startswith("usage: trio-locksync")
    for markup in ("`", ":mod:", ":class:", ":func:", "**"):
        assert markup not in text, f"help shows markup {markup!r}"
    if command:
        words = " ".join(text.split())  # as wrapped to the terminal's width
        assert "exit status: 0" in words and "2 if it could not start" in words


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    from trio_locksync import __version__

    with pytest.raises(SystemExit) as done:
        main(["--version"])
    assert done.value.code == 0
    assert capsys.readouterr().out == f"trio-locksync {__version__}\n"


def summary(**figures: object) -> Summary:
    tally = dict.fromkeys(
        (
            "keypad_unlocks", "cancelled", "fired", "stream_connections", "stream_synced",
            "replayed", "replayed_unlocks_ignored", "live", "mqtt_connections",
            "mqtt_reconnects", "store_writes", "store_failures", "recovered_expired",
            "recovered_resumed",
        ),
        1,
    )  # fmt: skip
    return Summary(
        run=2, seconds=12.0, stopped_by="duration", broker="mosquitto on x:1", tally=tally,
        **figures,  # type: ignore[arg-type]
    )  # fmt: skip


def test_summary_says_what_was_lost_and_what_was_not_reached() -> None:
    made = summary(
        faults=(("controller restart", "done", "x"), ("broker restart", "skipped", "not ours")),
        checks={"a": True},
        previous_timers=2,
    )
    lines = made.lines()
    assert "faults: 1 of 2 done: controller restart; skipped: broker restart (not ours)" in lines
    assert lines[-1].startswith("summary: run 2 (ran 12.0 s)")
    assert lines[-1].endswith("nothing lost") and "1 autolock fired" in lines[-1]
    assert "1 MQTT reconnect;" in lines[-1]
    made = attrs.evolve(made, checks={"a": True, "timers saved": False}, stopped_by="Ctrl-C")
    last = made.lines()[-1]
    assert "stopped by Ctrl-C after 12.0 s" in last and last.endswith("LOST: timers saved")


async def test_outputs_write_one_line_per_event() -> None:
    board = Board(duration=10)
    plain, lines = io.StringIO(), io.StringIO()
    outputs = (PlainLog(plain), JsonLines(lines))
    events: list[DemoEvent] = [
        SiteOpened((("gate", "virtual"),)),
        SlotChanged("gate", 1, "IN_SYNC", "in sync"),
        SlotChanged("gate", 1, "IN_SYNC", "in sync"),  # no change: no line
        DoorChanged("gate", False, "keypad"),
    ]
    for event in events:
        line = board.apply(event)
        for output in outputs:
            if line is not None:
                output(line)
    assert plain.getvalue().splitlines()[0].endswith("slot    gate slot 1: IN_SYNC (in sync)")
    assert len(plain.getvalue().splitlines()) == len(lines.getvalue().splitlines()) == 2
    assert '"kind": "door", "text": "gate unlocked (keypad)"' in lines.getvalue()


async def test_dashboard_draws_every_panel(autojump_clock: trio.abc.Clock) -> None:
    rich = pytest.importorskip("rich.console")
    from trio_locksync.cli._dashboard import render

    board = Board(duration=60)
    for event in (
        SiteOpened((("gate", "virtual"), ("front_door", "zigbee2mqtt"))),
        DoorChanged("gate", False, "keypad"),
        TimerArmed("gate", trio.current_time() + 7),
        DoorChanged("front_door", True, "manual"),
        LockReachable("front_door", False),
        SlotChanged("gate", 2, "SUSPENDED", "lock unreachable"),
        FaultsPlanned(((30.0, "broker restart"), (5.0, "lock offline"))),
        FaultChanged(1, FaultState.DONE),
        AccessChanged("Anna", "gate", "ACTIVE", "in its window", 1, "IN_SYNC", None, None),
        AccessChanged("Anna", "front_door", "ACTIVE", "in its window", 1, "SYNCING", None, 2),
        AccessChanged(
            "guest",
            "gate",
            "SCHEDULED",
            "starts later",
            2,
            "IN_SYNC",
            "2026-12-19T15:00+01:00",
            None,
        ),
    ):
        board.apply(event)
    console = rich.Console(record=True, width=140, height=50, force_terminal=True)
    console.print(render(board))
    text = console.export_text()
    assert "hidden" not in text  # room for everything: nothing said to be left out
    for title in (
        "access plan: people by locks",
        "credentials: per lock and slot",
        "doors and autolock timers",
        "latest events",
    ):
        assert title in text
    assert "sched" in text and "12-19 15:00" in text and "on… 2x" in text
    # the engine's word on the slot reaches the plan's view: on it now
    board.apply(SlotChanged("front_door", 1, "IN_SYNC", "in sync"))
    assert board.access["Anna", "front_door"].sync == "IN_SYNC"
    assert "SUSPENDED" in text and "lock unreachable" in text
    assert "locks in  7.0 s" in text and "offline" in text
    assert "in 30.0 s" in text and "broker restart" in text


async def test_why_a_run_has_no_zwave_locks(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    options = demo_options(duration=60, state_dir=tmp_path, zwave=False)
    assert await zwave_unavailable(options) == "--no-zwave"
    short = demo_options(duration=ZWAVE_MIN_DURATION - 1, state_dir=tmp_path)
    monkeypatch.setenv("PATH", str(tmp_path))  # no node here: that is the reason given first
    assert (await zwave_unavailable(short) or "").startswith("node is not installed")
    monkeypatch.undo()
    if (await zwave_unavailable(demo_options(duration=60, state_dir=tmp_path))) is None:
        assert "too short" in (await zwave_unavailable(short) or "")
    config = load_config()
    without = config.without([spec.name for spec in config.with_kind(LockKind.ZWAVE)])
    assert {spec.kind for spec in without.locks} == {LockKind.ZIGBEE2MQTT, LockKind.VIRTUAL}
    grants = {grant.name: grant.locks for grant in without.grants}
    assert grants["guest"] == ("front_door", "garage") and grants["courier"] == (
        "front_door",
        "back_door",
    )
    assert "porch" not in without.autolock_seconds()


def test_summary_says_what_became_of_the_zwave_locks() -> None:
    assert not any(line.startswith("z-wave") for line in summary().lines())  # none in config
    skipped = summary(zwave_state="skipped", zwave="node is not installed")
    assert "z-wave: Z-Wave locks skipped: node is not installed" in skipped.lines()
    starting = summary(zwave_state="starting", zwave="installing")
    assert "z-wave: not up when the run ended (installing)" in starting.lines()
    up = summary(zwave_state="up", zwave="server up; 2 locks driven", zwave_checked=6)
    assert (
        "z-wave: server up; 2 locks driven; 6 slots in sync checked against the mock lock's "
        "own record" in up.lines()
    )


async def test_board_and_dashboard_show_the_zwave_locks() -> None:
    rich = pytest.importorskip("rich.console")
    from trio_locksync.cli._dashboard import render

    board = Board(duration=60)
    board.apply(SiteOpened((("porch", "zwave"),)))
    line = board.apply(ZWaveChanged(ZWaveState.STARTING, "starting the server"))
    assert line is not None and line.text == "Z-Wave locks starting: starting the server"
    board.apply(ZWaveChanged(ZWaveState.UP, "server up"))
    board.apply(ZWaveChanged(ZWaveState.UP, "2 locks driven"))
    assert (board.zwave_state, board.zwave) == ("up", "server up; 2 locks driven")
    board.apply(DoorChanged("porch", False, "keypad, user 2"))
    console = rich.Console(record=True, width=140, height=50, force_terminal=True)
    console.print(render(board))
    text = console.export_text()
    assert "Z-Wave JS Server" in text and "UP" in text and "Z-Wave" in text
    skipped = Board(duration=60)
    line = skipped.apply(ZWaveChanged(ZWaveState.SKIPPED, "--no-zwave"))
    assert line is not None and line.text == "Z-Wave locks skipped: --no-zwave"


# -- wording: counts, reasons said once, reasons fitted ------------------------------------------

SUSPENDED = (
    "sync attempts exceeded (3 failures within 300 s; last: optimistic write never confirmed); "
    "next try in 4m 50s"
)
UNREACHABLE = (
    "lock unreachable; re-probing with backoff (lock unreachable: front_door: the MQTT bridge "
    "is reconnecting)"
)


def test_words() -> None:
    from trio_locksync.cli._words import count, fit, span, tidy

    assert span([1, 2, 3, 5, 7, 8]) == "1-3,5,7-8" and span([4]) == "4"
    assert (count(1, "timer"), count(0, "timer"), count(2, "timer")) == (
        "1 timer", "0 timers", "2 timers"
    )  # fmt: skip
    # a reason quoting another does not repeat the words just before it
    assert tidy(UNREACHABLE) == (
        "lock unreachable; re-probing with backoff (front_door: the MQTT bridge is reconnecting)"
    )
    assert tidy("in sync (in sync)") == "in sync"
    assert tidy(SUSPENDED) == SUSPENDED  # nothing repeated: left as it is
    assert tidy("a (b (c))") == "a (b (c))"
    # cut to a width: the next try's time stays whole, the words before it give way
    assert fit(SUSPENDED, 200) == SUSPENDED
    short = fit(SUSPENDED, 40)
    assert len(short) == 40 and short.endswith("…; next try in 4m 50s"), short
    assert fit("in sync and more words", 10) == "in sync a…"


def test_summary_lists_only_what_did_not_converge_and_counts_the_rest() -> None:
    from trio_locksync.cli._summary import LISTED, Unsynced

    unsynced = tuple(
        Unsynced(f"lock{n}", slot, "SUSPENDED" if n % 2 else "LOADING", SUSPENDED)
        for n in range(12)
        for slot in range(1, 10)
    )
    made = summary(slots_total=200, slots_in_sync=92, not_in_sync=unsynced, checks={"a": True})
    lines = made.lines()
    first = lines.index("converged: 92 of 200 slots in sync; not in sync: 54 LOADING, 54 SUSPENDED")
    listed = lines[first + 1 : first + 1 + LISTED]
    assert listed[0] == f"  lock0 slots 1-9: LOADING ({SUSPENDED})"
    assert lines[first + 1 + LISTED] == "  and 63 more slots (each in the events above)"
    # was one line of 1,500 characters
    assert all(len(line) < 150 for line in lines[first : first + LISTED + 2])
    assert json.dumps(made.to_json())  # the records are JSON in --json


def test_summary_plurals_and_undecided_checks() -> None:
    made = summary(previous_timers=1, checks={"a": True})  # every count 1
    made = attrs.evolve(made, tally={**made.tally, "recovered_resumed": 0})
    text = "\n".join(made.lines())
    assert "resumed run 1: 1 timer recovered (of 1 it left running;" in text
    assert "resumed 1 timer, " in text and "1 timers" not in text
    assert "1 keypad unlock armed" in text and "1 durable write, 1 failure" in text
    undecided = attrs.evolve(
        made, not_checked={"doors seen through the stream match the controller": "why"}
    )
    lines = undecided.lines()
    assert "not checked: doors seen through the stream match the controller (why)" in lines
    assert lines[-1].endswith("; nothing lost (1 check not decided in this run)")
    assert undecided.nothing_lost  # not decided is not a loss: exit 0
    assert "LOST" not in "\n".join(lines)


async def test_fault_lines_say_fault_once() -> None:
    board = Board(duration=10)
    board.apply(FaultsPlanned(((1.0, "controller restart"),)))
    line = board.apply(FaultChanged(0, FaultState.NOW))
    assert line is not None and (line.kind, line.text) == ("fault", "controller restart: now")
    plain = io.StringIO()
    PlainLog(plain)(line)
    assert "fault fault" not in plain.getvalue()
    assert plain.getvalue().endswith("fault   controller restart: now\n")


# -- the dashboard at the sizes people have ------------------------------------------------------

LOCKS = (
    ("front_door", "zigbee2mqtt"), ("back_door", "zigbee2mqtt"), ("garage", "virtual"),
    ("office", "virtual"), ("shed", "virtual"), ("gate", "virtual"), ("porch", "zwave"),
    ("cellar", "zwave"),
)  # fmt: skip


def busy_board() -> Board:
    """The shipped site in the middle of a run: every panel full, slots in trouble."""
    board = Board(duration=60)
    board.apply(SiteOpened(LOCKS))
    for name, _ in LOCKS:
        for slot in range(1, 5):
            board.apply(SlotChanged(name, slot, "IN_SYNC", "in sync"))
    board.apply(SlotChanged("shed", 2, "SUSPENDED", SUSPENDED))
    board.apply(SlotChanged("front_door", 5, "SUSPENDED", UNREACHABLE))
    board.apply(SlotChanged("back_door", 3, "PENDING_CONFIRMATION", "optimistic write awaiting"))
    for grant in ("Anna", "Ben", "cleaner", "guest", "courier"):
        for name, _ in LOCKS[:6]:
            board.apply(
                AccessChanged(grant, name, "ACTIVE", "in its window", 1, "IN_SYNC", None, 2)
            )
    board.apply(FaultsPlanned(((9.0, "controller restart"), (17.0, "lock offline"))))
    board.apply(TimerArmed("gate", trio.current_time() + 7))
    for n in range(12):
        board.apply(DoorChanged("gate", n % 2 == 0, f"keypad, user {n}"))
    return board


def drawn(board: Board, width: int, height: int) -> str:
    rich = pytest.importorskip("rich.console")
    from trio_locksync.cli._dashboard import render

    console = rich.Console(record=True, width=width, height=height, force_terminal=True)
    console.print(render(board))
    text: str = console.export_text()
    return text


async def test_dashboard_at_80x24_says_what_it_hides(autojump_clock: trio.abc.Clock) -> None:
    text = drawn(busy_board(), 80, 24)
    lines = text.splitlines()
    assert len(lines) <= 24 and max(map(len, lines)) <= 80
    assert lines[-1] == "faults, access plan, links, doors hidden: terminal too small (80x24)"
    assert "credentials: per lock and slot" in text and "latest events" in text
    # what the reader acts on is there: the troubled slots, with the time of the next try
    assert "SUSPENDED" in text and "next try in 4m 50s" in text
    assert "gate unlocked (keypad, user 11)" in text  # the latest event


async def test_dashboard_at_120_columns_cuts_no_next_try(autojump_clock: trio.abc.Clock) -> None:
    board = busy_board()
    text = drawn(board, 120, 40)
    assert len(text.splitlines()) <= 40 and "hidden" not in text
    for title in PANEL_TITLES:
        assert title in text
    credentials = text.split("credentials: per lock and slot")[1]
    assert "next try in 4m 50s" in credentials  # the reason is shortened, not its time
    assert "re-probing" in credentials and "(front_door: the MQTT" in credentials
    assert "unreachable: front_door" not in text  # said once (the nested reason tidied)
    # fewer rows than the credentials want: it says how many it left out
    small = drawn(board, 80, 16)
    assert "more rows (terminal too small)" in small and "SUSPENDED" in small


PANEL_TITLES = (
    "access plan: people by locks",
    "credentials: per lock and slot",
    "doors and autolock timers",
    "links and records",
    "faults (scheduled)",
    "latest events",
)
