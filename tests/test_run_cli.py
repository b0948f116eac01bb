"""``trio-locksync run SITE.toml`` as a user runs it: real processes (``python -m
trio_locksync run``), real files. ``--check`` with good and bad configs (every problem, one
line each, exit 2, never a PIN); start-up failures (an unreadable config, an unusable state dir,
a corrupt or busy state file) are one line and exit 2 with nothing on disk changed; and a real
run against parts the test starts — a mosquitto broker, the Zigbee2MQTT simulator with two
locks and, where node is installed, the real Z-Wave JS Server with its mock locks — whose
grants land on the locks, stopped with SIGTERM: exit 0, every state file flushed."""

from __future__ import annotations

import datetime
import hashlib
import inspect
import json
import os
import re
import signal
import subprocess
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
import trio

from trio_locksync.cli._schema import ConfigProblems, LockKind, parse_site
from trio_locksync.testing import open_mqtt_broker
from trio_locksync.testing.zigbee2mqtt import open_zigbee2mqtt_simulator

from .brokerhelpers import FAST, needs_mosquitto
from .zwavehelpers import _MISSING as NODE_MISSING

PINS = ("483920", "572913", "665432", "908172")

GOOD = """
time_zone = "Europe/Berlin"

[mqtt]
host = "127.0.0.1"
port = {port}
base_topic = "zigbee2mqtt"

[[locks]]
name = "front_door"
kind = "zigbee2mqtt"
friendly_name = "Front Door"
slots = "1-6"
fixed = {{ 8 = "908172" }}

[[locks]]
name = "back_door"
kind = "zigbee2mqtt"
slots = "1-6"

[[grants]]
name = "Anna"
pin = "483920"

[[grants]]
name = "cleaner"
pin = "572913"
locks = ["back_door"]
weekly = ["mon-fri 09:00-12:00", "sat 10:00-11:00"]

[[grants]]
name = "guest"
pin = "665432"
starts = 2026-12-20T15:00:00+01:00
ends = 2026-12-27
uses = 2

[[autolock]]
lock = "front_door"
seconds = 120
"""

ZWAVE = """
[zwave_js]
url = "{url}"

[[locks]]
name = "porch"
kind = "zwave"
node_id = 2
slots = "2-6"
"""

BAD = """
time_zone = "Mars/Olympus"
colour = "blue"

[zwave_js]
url = "http://localhost:3000"

[[locks]]
name = "a"
kind = "zigbee"

[[locks]]
name = "b"
kind = "zwave"

[[locks]]
name = "c"
kind = "zigbee2mqtt"
slots = "6-1"

[[grants]]
name = "x"
pin = "12"
locks = ["nope"]

[[grants]]
name = "y"
pin = "123456"
weekly = "someday 09:00-12:00"
starts = 2026-12-20
ends = 2026-12-10

[[grants]]
name = "w"
pin = "654321"

[[grants]]
name = "v"
pin = "654321"
locks = ["b"]
uses = 0

[[grants]]
name = "u"
pin = "777777"
locks = ["b"]

[[grants]]
name = "t"
pin = "777777"
locks = ["b"]

[[autolock]]
lock = "q"
seconds = 5
"""

#: every problem of BAD, in order, each one line
BAD_LINES = [
    "the file: unknown key 'colour'",
    "time_zone: 'Mars/Olympus' is not an IANA time zone (e.g. 'Europe/Berlin')",
    "[zwave_js]: url must be a ws:// or wss:// URL, got 'http://localhost:3000'",
    "lock 'a': kind 'zigbee' is not one of zigbee2mqtt, zwave",
    "lock 'b': node_id is missing (a zwave lock's Z-Wave node id)",
    "lock 'c': slots '6-1': the range 6-1 runs backwards",
    "lock 'c': a zigbee2mqtt lock needs the [mqtt] section (host, port)",
    "grant 'x': pin is not a valid PIN (4 to 10 digits)",
    "grant 'x': no lock 'nope' in the site",
    "grant 'y': ends must be after starts",
    "grant 'y': weekly: weekly hours 'someday 09:00-12:00': unknown day 'someday' "
    "(days are mon, tue, wed, thu, fri, sat, sun)",
    "grant 'v': uses must be a positive whole number, got 0",
    "grant 't': lock 'b' would get the same PIN as grant 'u'",
    "autolock #1: no lock 'q' in the site",
]


def run(
    *args: str, timeout: float = 60.0, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "trio_locksync", "run", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
        env=env,
    )


def assert_no_pin(text: str) -> None:
    for pin in (*PINS, "123456", "654321", "777777"):
        assert pin not in text, "a PIN was printed"


def tree_hash(root: Path) -> dict[str, str]:
    """Every path under ``root`` with its mode and content's digest."""
    found = {}
    for path in sorted(root.rglob("*")):
        stat = path.lstat()
        digest = hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() else "dir"
        found[str(path.relative_to(root))] = f"{stat.st_mode:o} {digest}"
    return found


def write_site(tmp_path: Path, text: str, name: str = "site.toml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


# -- --check ---------------------------------------------------------------------------------


def test_check_a_good_config(tmp_path: Path) -> None:
    site = write_site(tmp_path, GOOD.format(port=1883))
    done = run(str(site), "--check", "--state-dir", str(tmp_path / "state"))
    assert done.returncode == 0, done.stderr
    assert done.stdout == (
        f"{site}: valid: 2 locks, 3 grants, 1 autolock rules; state dir {tmp_path / 'state'}\n"
    )
    assert done.stderr == ""
    assert not (tmp_path / "state").exists()  # a check creates nothing


def test_check_says_every_problem_one_line_each_and_no_pin(tmp_path: Path) -> None:
    site = write_site(tmp_path, BAD)
    done = run(str(site), "--check", "--state-dir", str(tmp_path / "state"))
    assert done.returncode == 2
    assert done.stdout == ""
    assert done.stderr.splitlines() == [f"trio-locksync run: {site}: {line}" for line in BAD_LINES]
    assert_no_pin(done.stderr)
    assert "Traceback" not in done.stderr


def test_the_state_dir_comes_from_the_config_or_the_option(tmp_path: Path) -> None:
    site = write_site(tmp_path, GOOD.format(port=1883))
    done = run(str(site), "--check")
    assert done.returncode == 2
    assert done.stderr == (
        f"trio-locksync run: {site}: no state dir: set state_dir in the file or give --state-dir\n"
    )
    site.write_text(f'state_dir = "{tmp_path / "s"}"\n' + GOOD.format(port=1883))
    assert run(str(site), "--check").returncode == 0


@pytest.mark.parametrize(
    ("text", "line"),
    [
        ("[[locks]\n", "not valid TOML"),
        ('[[locks]]\nname = "a b"\nkind = "zwave"\n', "lock #1: name must be letters"),
        (
            '[mqtt]\nhost = "h"\n[[locks]]\nname = "a"\nkind = "virtual"\n',
            "lock 'a': kind 'virtual' is not one of zigbee2mqtt, zwave",
        ),
        (
            '[mqtt]\nhost = "h"\npassword_env = "NO_SUCH_VARIABLE_HERE"\n'
            '[[locks]]\nname = "a"\nkind = "zigbee2mqtt"\n',
            "[mqtt]: password_env: the environment variable NO_SUCH_VARIABLE_HERE is not set",
        ),
        (
            '[mqtt]\nhost = "h"\n[[locks]]\nname = "a"\nkind = "zigbee2mqtt"\n'
            'slots = "1-4"\nfixed = { 4 = "" }\n',
            "lock 'a': slot 4 is both fixed and a candidate for the plan",
        ),
        (
            '[mqtt]\nhost = "h"\n[[locks]]\nname = "a"\nkind = "zigbee2mqtt"\n'
            'fixed = { 9 = "483920" }\n[[grants]]\nname = "Anna"\npin = "483920"\n',
            "grant 'Anna': lock 'a' would get the same PIN as fixed slot 9",
        ),
        (
            '[isy]\nurl = "http://isy"\n[zwave_js]\nurl = "ws://z"\n[[locks]]\nname = "a"\n'
            'kind = "zwave"\nnode_id = 5\ndoor = "1A 1"\n[[autolock]]\nlock = "a"\n'
            "seconds = 0\n",
            "autolock 'a': seconds must be positive, got 0",
        ),
    ],
)
def test_each_kind_of_problem(tmp_path: Path, text: str, line: str) -> None:
    with pytest.raises(ConfigProblems) as caught:
        parse_site(text, "site.toml", environ={})
    assert any(line in problem for problem in caught.value.problems), caught.value.problems
    assert_no_pin(str(caught.value))


def test_dates_are_in_the_site_zone_and_a_date_ends_at_the_end_of_its_day() -> None:
    config = parse_site(GOOD.format(port=1883), "site.toml")
    guest = next(grant for grant in config.grants if grant.name == "guest")
    assert guest.starts is not None and guest.ends is not None
    assert guest.starts.isoformat() == "2026-12-20T15:00:00+01:00"
    assert guest.ends.isoformat() == "2026-12-28T00:00:00+01:00"  # all of the 27th
    assert guest.uses == 2 and guest.locks is None
    cleaner = next(grant for grant in config.grants if grant.name == "cleaner")
    assert cleaner.weekly == ("mon-fri 09:00-12:00", "sat 10:00-11:00")
    front = config.lock("front_door")
    assert front.kind is LockKind.ZIGBEE2MQTT and front.topic_name == "Front Door"
    assert front.slots == (1, 2, 3, 4, 5, 6) and set(front.fixed) == {8}
    assert config.autolock_seconds() == {"front_door": 120.0}
    assert_no_pin(repr(config))


def test_a_bad_option_is_one_line(tmp_path: Path) -> None:
    done = run("--no-such-option")
    assert done.returncode == 2 and len(done.stderr.splitlines()) == 1, done.stderr
    done = run()
    assert done.returncode == 2 and len(done.stderr.splitlines()) == 1, done.stderr
    assert "SITE.toml" in done.stderr


# -- start-up failures: one line, exit 2, nothing changed ---------------------------------------


def test_an_unreadable_config_is_one_line(tmp_path: Path) -> None:
    done = run(str(tmp_path / "missing.toml"), "--state-dir", str(tmp_path))
    assert done.returncode == 2
    assert done.stderr == (
        f"trio-locksync run: {tmp_path / 'missing.toml'}: cannot read it (No such file or "
        "directory)\n"
    )


@pytest.mark.parametrize(
    ("name", "content", "problem"),
    [
        ("access.json", b"not json {", "access.json is corrupt (JSONDecodeError); left as is"),
        (
            "access.json",
            b'{"version": 1, "data": []}',
            "access.json is corrupt (not an access plan: no mapping of grants); left as is",
        ),
        (
            "access.json",
            b'{"grants": {}}',
            "access.json is corrupt (not a versioned envelope); left as is",
        ),
        ("autolock.json", b"[1, 2]", "autolock.json is corrupt (not a JSON object); left as is"),
        (
            "credentials-front_door.json",
            b"{",
            "credentials-front_door.json is corrupt (JSONDecodeError); left as is",
        ),
    ],
)
@pytest.mark.parametrize("check", [True, False])
def test_a_corrupt_state_file_changes_nothing(
    tmp_path: Path, name: str, content: bytes, problem: str, check: bool
) -> None:
    state = tmp_path / "state"
    state.mkdir()
    (state / name).write_bytes(content)
    (state / "site.json").write_text('{"run": 3}')
    site = write_site(tmp_path, GOOD.format(port=1))
    before = tree_hash(tmp_path)
    done = run(str(site), "--state-dir", str(state), *(["--check"] if check else []))
    assert done.returncode == 2
    assert done.stderr == f"trio-locksync run: state dir {state}: {problem}\n"
    assert tree_hash(tmp_path) == before


def test_an_unusable_state_dir(tmp_path: Path) -> None:
    site = write_site(tmp_path, GOOD.format(port=1))
    (tmp_path / "file").write_text("")
    done = run(str(site), "--state-dir", str(tmp_path / "file"))
    assert done.returncode == 2
    assert done.stderr == f"trio-locksync run: state dir {tmp_path / 'file'}: not a directory\n"
    if os.geteuid() != 0:
        locked = tmp_path / "locked"
        locked.mkdir(mode=0o500)
        done = run(str(site), "--state-dir", str(locked / "state"))
        assert done.returncode == 2
        assert f"cannot be made under {locked} (Permission denied)" in done.stderr
        assert not (locked / "state").exists()


def test_a_state_dir_in_use_is_refused(tmp_path: Path) -> None:
    import fcntl

    state = tmp_path / "state"
    state.mkdir()
    site = write_site(tmp_path, GOOD.format(port=1))
    with open(state / "access.json.lock", "w") as held:
        held.write("4242\n")
        held.flush()
        fcntl.flock(held, fcntl.LOCK_EX)
        done = run(str(site), "--state-dir", str(state))
    assert done.returncode == 2
    assert done.stderr == (
        f"trio-locksync run: state dir {state}: access.json is in use by pid 4242 (is the site "
        "running?)\n"
    )


# -- a real run ------------------------------------------------------------------------------

ANNA, FIXED, GUEST, OLD, CLEANER = "483920", "908172", "665432", "246813", "572913"


def real_site(port: int, zwave_url: str | None, *, anna: bool = True) -> str:
    """Anna: every lock, always (ACTIVE); the guest from the day after tomorrow (SCHEDULED);
    an old grant that ended yesterday (EXPIRED); the cleaner on the back door on a weekday that
    is not today (OFF_HOURS) — whatever the date the test runs on."""
    now = datetime.datetime.now(datetime.UTC)
    day = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")[(now.weekday() + 2) % 7]
    text = GOOD.split("[[grants]]")[0].format(port=port)
    if anna:
        text += f'[[grants]]\nname = "Anna"\npin = "{ANNA}"\n'
    text += f"""
[[grants]]
name = "guest"
pin = "{GUEST}"
starts = {(now + datetime.timedelta(days=2)).isoformat(timespec="seconds")}
uses = 2

[[grants]]
name = "old"
pin = "{OLD}"
ends = {(now - datetime.timedelta(days=1)).isoformat(timespec="seconds")}

[[grants]]
name = "cleaner"
pin = "{CLEANER}"
locks = ["back_door"]
weekly = "{day} 09:00-10:00"

[[autolock]]
lock = "front_door"
seconds = 60
"""
    if zwave_url is not None:
        text += ZWAVE.format(url=zwave_url)
    return text


class Child:
    """``trio-locksync run`` in a real process; its stderr collected as it comes."""

    def __init__(self, process: trio.Process) -> None:
        self.process = process
        self.err = b""

    async def collect(self) -> None:
        assert self.process.stderr is not None
        async for chunk in self.process.stderr:
            self.err += chunk

    @property
    def text(self) -> str:
        return self.err.decode("utf-8", "replace")


async def wait_for(
    condition: Callable[[], object], what: str, child: Child, limit: float = 60.0
) -> None:
    """Poll ``condition`` (a value or an awaitable) until it holds; the run must go on."""
    with trio.move_on_after(limit):
        while True:
            result = condition()
            if inspect.isawaitable(result):
                result = await result
            if result:
                return
            assert child.process.poll() is None, f"the run ended: {child.text[-3000:]}"
            await trio.sleep(0.1)
    raise AssertionError(f"not seen within {limit} s: {what}\n{child.text[-3000:]}")


async def _zwave_stack(tmp_path: Path) -> Callable[..., Awaitable[None]]:
    """A task for ``nursery.start``: the real Z-Wave JS Server, its mock locks interviewed."""
    from trio_locksync.testing.zwave_js import open_zwave_js_server

    async def serve(task_status: trio.TaskStatus[object] = trio.TASK_STATUS_IGNORED) -> None:
        async with open_zwave_js_server() as server:
            await server.wait_nodes_ready()
            task_status.started(server)
            await trio.sleep_forever()

    return serve


async def stopped(child: Child, nursery: trio.Nursery) -> int:
    child.process.send_signal(signal.SIGTERM)
    with trio.fail_after(30):
        code = await child.process.wait()
    return code


def plan_file(state: Path) -> dict[str, object]:
    data = json.loads((state / "access.json").read_text())["data"]
    assert isinstance(data, dict)
    return data


@needs_mosquitto
async def test_a_real_run_lands_its_grants_and_stops_cleanly(tmp_path: Path) -> None:
    """The grants land on the simulated Zigbee locks (and the mock Z-Wave lock, where node
    is installed); SIGTERM: exit 0, every state file flushed; a second run keeps the
    grants as they are, and one after a grant left the config revokes it: its code comes
    off every lock."""
    from trio_locksync.testing import BrokerKind

    state = tmp_path / "state"
    (tmp_path / "broker").mkdir()
    zwave = None if NODE_MISSING is not None else await _zwave_stack(tmp_path)
    async with (
        open_mqtt_broker(tmp_path / "broker", BrokerKind.MOSQUITTO) as broker,
        open_zigbee2mqtt_simulator("127.0.0.1", broker.port, backoff=FAST) as z2m,
        trio.open_nursery() as nursery,
    ):
        server: Any = None if zwave is None else await nursery.start(zwave)
        front = await z2m.add_lock("Front Door", slots=10, expose_pin=True)
        back = await z2m.add_lock("back_door", slots=10, expose_pin=True)
        site = write_site(tmp_path, real_site(broker.port, None if server is None else server.url))

        async def landed(pins: set[str], gone: frozenset[str] = frozenset()) -> bool:
            for device in (front, back):
                held = set(device.codes.values())
                if not pins <= held or held & gone:
                    return False
            if server is not None:
                held = {(await server.slot(2, slot))[1] for slot in range(2, 7)}
                if not pins - {FIXED} <= held or held & gone:
                    return False
            return True

        argv = [sys.executable, "-m", "trio_locksync", "run", str(site), "--state-dir", str(state)]
        for turn in range(3):
            process = await trio.lowlevel.open_process(argv, stderr=subprocess.PIPE)
            child = Child(process)
            nursery.start_soon(child.collect)
            if turn == 0:
                await wait_for(lambda: landed({ANNA}), "Anna's code on every lock", child, 90)
                assert front.codes.get(8) == FIXED
                await wait_for(lambda: "grants applied: 4 granted" in child.text, "applied", child)
                for line in (
                    r"access: Anna on front_door slot \d: ACTIVE",
                    r"access: guest on back_door slot \d: SCHEDULED \(.*\); next edge 20",
                    r"access: cleaner on back_door slot \d: OFF_HOURS \(.*\); next edge 20",
                    r"access: old on front_door: EXPIRED",
                    r"slot: front_door slot \d: IN_SYNC",
                    r"mqtt: MQTT CONNECTED",
                    r"info: site up: run 1, state in ",
                ):
                    assert re.search(line, child.text), (line, child.text[-3000:])
            elif turn == 1:
                await wait_for(
                    lambda: "grants applied: 0 granted, 4 unchanged, 0 revoked" in child.text,
                    "the same grants kept",
                    child,
                )
            else:
                await wait_for(
                    lambda: landed(set(), frozenset({ANNA})), "Anna's code removed", child, 90
                )
                await wait_for(lambda: "1 revoked" in child.text, "revoked", child)
            assert await stopped(child, nursery) == 0, child.text[-3000:]
            assert "Traceback" not in child.text
            for pin in (ANNA, FIXED, GUEST, OLD, CLEANER):
                assert pin not in child.text, "a PIN was logged"
            records = json.loads((state / "site.json").read_text())
            assert records["run"] == turn + 1 and records["clean_exit"] is True
            grants = plan_file(state)["grants"]
            assert isinstance(grants, dict)
            assert set(grants) >= {"guest", "old", "cleaner"}
            if turn == 1:  # the config loses Anna: the next run revokes her everywhere
                url = None if server is None else server.url
                site.write_text(real_site(broker.port, url, anna=False))
        nursery.cancel_scope.cancel()
    assert {"site.json", "access.json", "credentials-front_door.json"} <= {
        path.name for path in state.iterdir()
    }
    for path in state.glob("*.json"):  # owner-only: the plan's file holds PINs
        assert path.stat().st_mode & 0o777 == 0o600, path


def test_the_readme_site_is_valid(tmp_path: Path) -> None:
    """The whole ``site.toml`` of the guide ``docs/guides/run.md`` passes ``--check``."""
    section = (Path(__file__).parent.parent / "docs" / "guides" / "run.md").read_text()
    text = section.split("```toml\n", 1)[1].split("```", 1)[0]
    site = write_site(tmp_path, text.replace("/var/lib/trio-locksync", str(tmp_path / "state")))
    env = os.environ | {"LOCKSYNC_MQTT_PASSWORD": "x", "LOCKSYNC_ISY_PASSWORD": "y"}
    done = run(str(site), "--check", env=env)
    assert done.returncode == 0, done.stderr
    assert "3 locks, 5 grants, 2 autolock rules" in done.stdout
    unit = section.split("```ini\n", 1)[1].split("```", 1)[0]
    assert "ExecStart=/opt/trio-locksync/bin/trio-locksync run /etc/trio-locksync/site.toml" in unit
    assert "RestartPreventExitStatus=2" in unit and "KillSignal=SIGTERM" in unit


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
async def test_a_signal_while_nothing_answers_stops_cleanly(
    tmp_path: Path, sig: signal.Signals
) -> None:
    """A broker that is not there (the bridge keeps retrying, the grants wait on surveys of
    locks that do not answer) does not hold the stop: the signal closes every part, flushes
    the state, exit 0."""
    site = write_site(tmp_path, GOOD.format(port=1))
    state = tmp_path / "state"
    argv = [sys.executable, "-m", "trio_locksync", "run", str(site), "--state-dir", str(state)]
    process = await trio.lowlevel.open_process(argv, stderr=subprocess.PIPE)
    child = Child(process)
    async with trio.open_nursery() as nursery:
        nursery.start_soon(child.collect)
        await wait_for(lambda: "site up: run 1" in child.text, "the site up", child, 30)
        process.send_signal(sig)
        with trio.fail_after(15):  # a grant surveying a lock that does not answer is cut short
            code = await process.wait()
    assert code == 0, child.text[-3000:]
    assert "stopping (every part closes, every store flushes)" in child.text
    assert "Traceback" not in child.text
    assert json.loads((state / "site.json").read_text())["clean_exit"] is True
    assert state.stat().st_mode & 0o777 == 0o700
    assert {path.stat().st_mode & 0o777 for path in state.glob("*.json")} == {0o600}


# -- the runner's grants, in-process over VirtualLocks ------------------------------------------

VIRTUAL = """
[[locks]]
name = "a"
kind = "virtual"
slots = "1-5"

[[locks]]
name = "b"
kind = "virtual"
slots = "1-5"
"""


async def until(condition: Callable[[], bool]) -> None:
    """Poll ``condition`` (the caller bounds the wait)."""
    while True:
        if condition():
            return
        await trio.sleep(0.05)


def virtual_site(*grants: tuple[str, str, int | None]) -> str:
    text = VIRTUAL
    for name, pin, uses in grants:
        text += f'\n[[grants]]\nname = "{name}"\npin = "{pin}"\n'
        text += "" if uses is None else f"uses = {uses}\n"
    return text


async def test_the_config_is_the_whole_truth_about_grants(tmp_path: Path) -> None:
    """A grant the plan holds unchanged keeps its uses across a restart; a changed one is
    granted anew (its uses start again); one the config no longer names is revoked, its code
    off every lock."""
    from trio_locksync import VirtualLock
    from trio_locksync.access import AccessState
    from trio_locksync.cli._events import Info
    from trio_locksync.cli._runner import ExtraLock, Tuning, open_site
    from trio_locksync.core import ChangeFeed
    from trio_locksync.credentials import SyncState

    locks = {name: VirtualLock(slots=6) for name in ("a", "b")}
    tuning = Tuning(engine={"operation_spacing": 0.0, "retry_interval": 0.1, "pending_ttl": 0.5})
    state = tmp_path / "state"

    async def session(text: str, then: Callable[[Any], Awaitable[None]]) -> list[str]:
        config = parse_site(text, "site.toml", demo=True)
        events: ChangeFeed[Any] = ChangeFeed()
        said: list[str] = []

        async def listen() -> None:
            async for event in events.subscribe():
                if isinstance(event, Info):
                    said.append(event.text)

        async with trio.open_nursery() as nursery:
            nursery.start_soon(listen)
            extra = {name: ExtraLock(lock) for name, lock in locks.items()}
            async with open_site(config, state, events, tuning=tuning, extra=extra) as site:
                with trio.fail_after(20):
                    await until(lambda: any(text.startswith("grants applied") for text in said))
                    await then(site)
            events.end()
        return said

    async def settled(site: Any, grant: str) -> Any:
        while True:
            details = [site.plan.detail(grant, lock) for lock in locks]
            if all(d.state is AccessState.ACTIVE and d.sync is SyncState.IN_SYNC for d in details):
                return details
            await trio.sleep(0.05)

    async def use_once(site: Any) -> None:
        await settled(site, "Anna")
        courier = await settled(site, "courier")
        assert [d.uses_left for d in courier] == [2, 2]
        locks["a"].keypad_unlock(courier[0].slot)
        await until(lambda: site.plan.detail("courier", "a").uses_left == 1)

    first = await session(virtual_site(("Anna", ANNA, None), ("courier", GUEST, 2)), use_once)
    assert "grants applied: 2 granted, 0 unchanged, 0 revoked" in first[-1]
    assert all(
        ANNA in lock.codes.values() and GUEST in lock.codes.values() for lock in locks.values()
    )

    async def uses_kept(site: Any) -> None:
        assert site.plan.detail("courier", "a").uses_left == 1  # unchanged: kept as it was
        assert site.plan.detail("courier", "b").uses_left == 2

    again = await session(virtual_site(("Anna", ANNA, None), ("courier", GUEST, 2)), uses_kept)
    assert "grants applied: 0 granted, 2 unchanged, 0 revoked" in again[-1]

    async def anna_gone(site: Any) -> None:
        assert set(site.plan.status("Anna").values()) == {AccessState.REVOKED}
        assert [site.plan.detail("courier", lock).uses_left for lock in locks] == [3, 3]
        await until(lambda: not any(ANNA in lock.codes.values() for lock in locks.values()))

    last = await session(virtual_site(("courier", GUEST, 3)), anna_gone)
    assert "grants applied: 1 granted, 0 unchanged, 1 revoked" in last[-1]
    assert all(GUEST in lock.codes.values() for lock in locks.values())
