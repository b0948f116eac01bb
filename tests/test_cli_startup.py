"""A start that cannot be made, as a user meets it: ``trio-locksync demo`` and ``trio-locksync
run`` in a real process, on real files. Each case is one line on stderr and exit 2 — no
traceback — and the files are as they were: every byte, every mode, and no file more (not
even a store's ``.lock`` or the demo's log). With ``--json`` the demo says it as one JSON line
on stdout too.

The state dir each case starts from holds what a run leaves (the site's records, timers, the
plan, the engines' memory, the simulated locks' memory, the stores' lock files); the good dir
passes the same checks, so each case fails for the one thing it changed."""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shutil
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from trio_locksync.cli._config import load_config
from trio_locksync.cli._statedir import check_state_dir

from .test_run_cli import tree_hash

#: what a run leaves, file by file (the credential memory is per lock: gate is in both sites)
GOOD_FILES = {
    "site.json": {
        "run": 3, "doors": {"gate": True}, "timers_running": 1, "clean_exit": True,
        "fired": 2, "replayed": 4, "live": 5,
    },
    "autolock.json": {"door:gate": {"end_time": "2026-12-06T16:38:48+00:00", "duration": 2.0}},
    "access.json": {"version": 1, "minor_version": 1, "data": {"grants": {}}},
    "credentials-gate.json": {"salt": "d2c8e439979aa880", "last_written": {"1": "6eea04b1"}},
    "hardware.json": {"codes": {"gate": {"1": "135790"}}, "locked": {"gate": True}},
}  # fmt: skip

#: a site ``run`` accepts (its one lock is never reached: every case stops before)
SITE = (
    '[zwave_js]\nurl = "ws://127.0.0.1:1"\n[[locks]]\nname = "gate"\nkind = "zwave"\nnode_id = 5\n'
)


def make_state(state: Path) -> Path:
    state.mkdir(mode=0o700)
    for name, content in GOOD_FILES.items():
        (state / name).write_text(json.dumps(content))
        (state / f"{name}.lock").write_text("4242\n")
    return state


def trio_locksync(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = os.environ | {"XDG_STATE_HOME": str(tmp_path / "xdg"), "COLUMNS": "100"}
    return subprocess.run(
        [sys.executable, "-m", "trio_locksync", *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env=env,
    )


def refused(
    tmp_path: Path, *args: str, says: str, prog: str = "trio-locksync demo"
) -> subprocess.CompletedProcess[str]:
    """Run the command; it must refuse to start in one line saying ``says``, changing
    nothing under ``tmp_path``."""
    before = tree_hash(tmp_path)
    done = trio_locksync(tmp_path, *args)
    assert done.returncode == 2, done.stdout[-2000:] + done.stderr[-2000:]
    assert "Traceback" not in done.stderr + done.stdout
    lines = done.stderr.splitlines()
    assert len(lines) == 1 and lines[0].strip(), done.stderr
    assert lines[0].startswith(f"{prog}: ") and says in lines[0], lines[0]
    assert tree_hash(tmp_path) == before, "a failed start changed the files"
    return done


@pytest.fixture
def state(tmp_path: Path) -> Path:
    made = make_state(tmp_path / "state")
    demo_locks = [spec.name for spec in load_config().locks]
    assert check_state_dir(made, demo_locks, demo=True) == []  # good, but for each case's change
    assert check_state_dir(made, ["gate"]) == []
    return made


@pytest.fixture
def site(tmp_path: Path) -> Path:
    path = tmp_path / "site.toml"
    path.write_text(SITE)
    return path


DEMO = ("demo", "--no-tui", "--duration", "5", "--no-zwave")

NO_SALT = "not a credential memory: no hex salt"
#: (file, content, what the line says): each a state file the site cannot read
CORRUPT = [
    ("site.json", b"garbage", "site.json is corrupt (JSONDecodeError); left as is"),
    ("site.json", b'{"run": "x"}', "site.json is corrupt (run must be a whole number >= 0"),
    ("site.json", b"[]", "site.json is corrupt (not a JSON object); left as is"),
    ("site.json", b'{"run": true}', "site.json is corrupt (run must be a whole number"),
    ("site.json", b'{"timers_running": -1}', "site.json is corrupt (timers_running must be a"),
    ("site.json", b'{"clean_exit": "yes"}', "site.json is corrupt (clean_exit must be true or"),
    ("autolock.json", b"garbage", "autolock.json is corrupt (JSONDecodeError)"),
    ("autolock.json", b"[1, 2]", "autolock.json is corrupt (not a JSON object)"),
    ("credentials-gate.json", b"\xff\xfe", "credentials-gate.json is corrupt (JSONDecodeError)"),
    ("credentials-gate.json", b'{"salt": 5}', f"credentials-gate.json is corrupt ({NO_SALT})"),
    ("credentials-gate.json", b'{"salt": "zz"}', f"credentials-gate.json is corrupt ({NO_SALT})"),
    ("access.json", b"garbage", "access.json is corrupt (JSONDecodeError)"),
    ("access.json", b'{"grants": {}}', "access.json is corrupt (not a versioned envelope)"),
    ("access.json", b'{"version": 7, "data": {}}', "access.json was written by a newer version"),
]  # fmt: skip

#: the demo's own: the simulated locks' memory
HARDWARE = [
    ("hardware.json", b"garbage", "hardware.json is corrupt (JSONDecodeError)"),
    ("hardware.json", b'{"codes": {"gate": {"x": "1"}}}', "hardware.json is corrupt (codes must"),
    ("hardware.json", b'{"locked": {"gate": 1}}', "hardware.json is corrupt (locked must map"),
]


# -- the demo ------------------------------------------------------------------------------------


@pytest.mark.parametrize(("name", "content", "says"), CORRUPT + HARDWARE)
def test_demo_refuses_a_state_file_it_cannot_read(
    tmp_path: Path, state: Path, name: str, content: bytes, says: str
) -> None:
    (state / name).write_bytes(content)
    refused(tmp_path, *DEMO, "--state-dir", str(state), says=f"state dir {state}: {says}")
    if name == "site.json":  # the run number is read once the site opens: it never got there
        assert json.loads((state / "hardware.json").read_text()) == GOOD_FILES["hardware.json"]


def test_demo_state_dir_under_a_regular_file(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("")
    where = tmp_path / "file" / "state"
    says = f"state dir {where}: cannot be made: {tmp_path / 'file'} is not a directory"
    refused(tmp_path, *DEMO, "--state-dir", str(where), says=says)
    says = f"state dir {tmp_path / 'file'}: not a directory"
    refused(tmp_path, *DEMO, "--state-dir", str(tmp_path / "file"), says=says)


@contextlib.contextmanager
def read_only(directory: Path) -> Iterator[str]:
    """``directory`` made unwritable for this process: its mode (not root), or the immutable
    attribute (root passes every mode bit; chattr needs a file system that has it)."""
    if os.geteuid() != 0:
        directory.chmod(0o500)
        try:
            yield "not readable and writable by this user"
        finally:
            directory.chmod(0o700)
        return
    chattr = shutil.which("chattr")
    if chattr is None:
        pytest.skip("root, and no chattr to make a directory root cannot write")
    done = subprocess.run([chattr, "+i", str(directory)], capture_output=True, check=False)
    if done.returncode != 0:
        pytest.skip(f"root, and chattr +i is refused here: {done.stderr.decode().strip()}")
    try:
        yield "state dir"
    finally:
        subprocess.run([chattr, "-i", str(directory)], check=True)


def test_a_read_only_state_dir_is_refused(tmp_path: Path, state: Path, site: Path) -> None:
    with read_only(state) as says:
        refused(tmp_path, *DEMO, "--state-dir", str(state), says=says)
        args = ["run", str(site), "--state-dir", str(state)]
        refused(tmp_path, *args, says=says, prog="trio-locksync run")


@pytest.mark.parametrize(
    ("where", "says"),
    [
        # exists; nobody may make a file in it, root included (sysfs refuses)
        ("/sys/kernel", "state dir /sys/kernel: "),
        # cannot be made, root included
        ("/proc/trio-locksync-test/state", "cannot be made under /proc ("),
    ],
)
def test_demo_refuses_a_state_dir_nobody_can_write(tmp_path: Path, where: str, says: str) -> None:
    if not Path(where.split("/trio")[0]).is_dir():
        pytest.skip(f"no {where} here")
    refused(tmp_path, *DEMO, "--state-dir", where, says=says)
    assert not Path(where).exists() or where == "/sys/kernel"


def test_demo_refuses_a_state_dir_another_demo_holds(tmp_path: Path, state: Path) -> None:
    with open(state / "hardware.json.lock", "r+") as held:
        fcntl.flock(held, fcntl.LOCK_EX)
        says = "hardware.json is in use by pid 4242 (is the site running?)"
        refused(tmp_path, *DEMO, "--state-dir", str(state), says=says)
        # --fresh forgets the files, never those of a demo still running
        refused(tmp_path, *DEMO, "--fresh", "--state-dir", str(state), says=says)
    assert (state / "site.json").exists()


def test_demo_that_reaches_no_broker_has_made_nothing(tmp_path: Path, state: Path) -> None:
    """No broker at the address: nothing is made before the broker is up (not the state dir,
    not its log, not a store's lock file)."""
    with socket.socket() as free:
        free.bind(("127.0.0.1", 0))
        address = f"127.0.0.1:{free.getsockname()[1]}"  # nobody listens once it is closed
    says = f"cannot reach the MQTT broker at {address}"
    for where in (state, tmp_path / "new"):
        refused(tmp_path, *DEMO, "--mqtt", address, "--state-dir", str(where), says=says)
    assert not (tmp_path / "new").exists()


@pytest.mark.parametrize(
    ("config", "says"),
    [
        (None, "/nonexistent.toml: cannot read it (No such file or directory)"),
        ("time_zone = 'UTC'\n", "locks: give at least one [[locks]] entry"),
        ("[[locks]]\nname = 'a'\n", "lock 'a': kind is missing (one of zigbee2mqtt, zwave, "),
        ("[[locks]\n", "not valid TOML"),
    ],
)
def test_demo_refuses_a_config_it_cannot_use(
    tmp_path: Path, state: Path, config: str | None, says: str
) -> None:
    path = Path("/nonexistent.toml")
    if config is not None:
        path = tmp_path / "bad.toml"
        path.write_text(config)
        says = f"{path}: {says}"
    refused(tmp_path, *DEMO, "--state-dir", str(state), "--config", str(path), says=says)
    refused(tmp_path, *DEMO, "--state-dir", str(tmp_path / "new"), "--config", str(path),
            says=says)  # fmt: skip
    assert not (tmp_path / "new").exists()


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (("--duration", "inf"), "argument --duration: must be a finite positive number"),
        (("--duration", "nan"), "argument --duration: must be a finite positive number"),
        (("--autolock", "0"), "argument --autolock: must be a finite positive number"),
        (("--bogus",), "error: unrecognized arguments: --bogus (see trio-locksync demo --help)"),
        (("--broker", "rabbit"), "argument --broker: invalid choice: 'rabbit'"),
    ],
)
def test_demo_refuses_a_bad_option(
    tmp_path: Path, state: Path, args: tuple[str, ...], says: str
) -> None:
    done = refused(tmp_path, "demo", "--state-dir", str(state), *args, says=says)
    assert done.stderr.startswith("trio-locksync demo: error: ")  # the demo's, not the top's
    assert "usage:" not in done.stderr


def test_demo_json_refusal_is_one_json_line_too(tmp_path: Path, state: Path) -> None:
    (state / "site.json").write_text('{"run": "x"}')
    done = refused(tmp_path, "demo", "--json", "--state-dir", str(state), says="site.json is")
    (line,) = done.stdout.splitlines()
    record = json.loads(line)
    assert record["kind"] == "error" and record["exit"] == 2
    assert record["text"] == done.stderr.removeprefix("trio-locksync demo: ").rstrip("\n")
    assert isinstance(record["t"], float) and record["problems"] == [record["text"]]
    done = refused(tmp_path, "demo", "--json", "--duration", "nan", says="--duration")
    assert json.loads(done.stdout)["kind"] == "error"


# -- run -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(("name", "content", "says"), CORRUPT)
def test_run_refuses_a_state_file_it_cannot_read(
    tmp_path: Path, state: Path, site: Path, name: str, content: bytes, says: str
) -> None:
    (state / name).write_bytes(content)
    args = ["run", str(site), "--state-dir", str(state)]
    refused(tmp_path, *args, says=f"state dir {state}: {says}", prog="trio-locksync run")
    if name == "site.json":  # --check says the same
        args.append("--check")
        refused(tmp_path, *args, says=f"state dir {state}: {says}", prog="trio-locksync run")


@pytest.mark.parametrize("check", [False, True])
def test_run_refuses_a_state_dir_it_cannot_use(tmp_path: Path, site: Path, check: bool) -> None:
    (tmp_path / "file").write_text("")
    more = ["--check"] if check else []
    for where, says in [
        (tmp_path / "file" / "state", "is not a directory"),
        (tmp_path / "file", "not a directory"),
        (Path("/proc/trio-locksync-test/state"), "cannot be made under /proc"),
        (Path("/sys/kernel"), "state dir /sys/kernel: "),
    ]:
        args = ["run", str(site), "--state-dir", str(where), *more]
        refused(tmp_path, *args, says=says, prog="trio-locksync run")


def test_run_refuses_a_bad_option_as_its_own(tmp_path: Path, site: Path) -> None:
    done = refused(tmp_path, "run", str(site), "--bogus", says="unrecognized arguments: --bogus",
                   prog="trio-locksync run")  # fmt: skip
    assert "(see trio-locksync run --help)" in done.stderr


def test_version(tmp_path: Path) -> None:
    from trio_locksync import __version__

    done = trio_locksync(tmp_path, "--version")
    assert (done.returncode, done.stdout, done.stderr) == (0, f"trio-locksync {__version__}\n", "")


# -- the checks' own rules -------------------------------------------------------------------------


def test_fresh_checks_only_that_nobody_holds_the_files(tmp_path: Path, state: Path) -> None:
    """``--fresh`` forgets the files: their content does not stop it, a holder does."""
    (state / "site.json").write_text("garbage")
    assert check_state_dir(state, ["gate"], contents=False) == []
    assert len(check_state_dir(state, ["gate"])) == 1
    with open(state / "site.json.lock", "r+") as held:
        fcntl.flock(held, fcntl.LOCK_EX)
        (problem,) = check_state_dir(state, ["gate"], contents=False)
    assert problem.endswith("site.json is in use by pid 4242 (is the site running?)")


def test_a_state_dir_that_cannot_be_made_leaves_no_parent_made(tmp_path: Path) -> None:
    from trio_locksync.cli._statedir import make_state_dir

    where = tmp_path / "a" / "b" / ("x" * 300)  # the last name is too long for the file system
    problem = make_state_dir(where)
    assert problem is not None and problem.startswith(f"state dir {where}: cannot make it (")
    assert list(tmp_path.iterdir()) == []  # a and b, made on the way, are gone again
    assert make_state_dir(tmp_path / "c" / "d") is None
    assert (tmp_path / "c" / "d").stat().st_mode & 0o777 == 0o700
