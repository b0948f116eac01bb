"""Crash consistency of the durable store: SIGKILL a process that saves in a tight loop.

A child process (``tests/crash_child.py``) opens ``open_store(path)`` and saves numbered
versions, each with a payload of a few kB derived from its number. The parent kills it with
SIGKILL at a random moment (0-30 ms after its first save returned), then checks what is on
disk: exactly one complete version, never older than the last save the child saw return, at
most one newer (the write in flight), and at most one temp file left behind. Then it starts a
new child on the same path, which must open the store at once (the kernel dropped the dead
owner's ``flock``), remove the leftover temp file, load that very version and go on from it.

Real processes, real threads, real files and real fsyncs: no virtual time here. The number of
kills is ``TRIO_LOCKSYNC_CRASH_KILLS`` (default 100; ``nox -s stress`` runs 2,000). The random
kill moments come from a seeded RNG; the seed is in every failure message, and
``TRIO_LOCKSYNC_CRASH_SEED=<seed>`` replays the same schedule.
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import os
import random
import sys
import time
from pathlib import Path
from types import ModuleType

import attrs
import pytest
import trio

from trio_locksync.store import json_encoder, open_store

from .childprocess import Child, spawn


def _load_child_module() -> ModuleType:
    """``crash_child.py`` is a script, not part of a package: import it by path."""
    spec = importlib.util.spec_from_file_location("crash_child", CHILD_SCRIPT)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


CHILD_SCRIPT = Path(__file__).with_name("crash_child.py")
crash_child = _load_child_module()

KILLS = int(os.environ.get("TRIO_LOCKSYNC_CRASH_KILLS", "100"))
#: the kill lands this long (uniformly drawn) after the child's first save returned
MAX_KILL_DELAY = 0.030
STORE_NAME = "state.json"


# -- the checker ------------------------------------------------------------------------------


class BadSnapshot(Exception):
    """The store file is not exactly one complete snapshot written by the child."""


def check_snapshot(raw: bytes) -> int:
    """The version that ``raw`` holds; raises :class:`BadSnapshot` unless it is exactly the
    file the child writes for that version (so a torn, truncated or mixed file is caught)."""
    try:
        decoded = json.loads(raw)
    except ValueError as exc:  # JSONDecodeError and UnicodeDecodeError both are ValueErrors
        raise BadSnapshot(f"not JSON ({exc}): {len(raw)} bytes ending {raw[-40:]!r}") from exc
    if not isinstance(decoded, dict) or set(decoded) != {"version", "payload"}:
        raise BadSnapshot(f"not a snapshot object: {str(decoded)[:120]}")
    version = decoded["version"]
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise BadSnapshot(f"bad version {version!r}")
    if decoded != crash_child.snapshot_for(version):
        raise BadSnapshot(f"payload is not the one of version {version} (mixed or torn file)")
    return version


def temp_files(target: Path) -> set[str]:
    """The names of the store's temp files (``.{name}.<hex>.tmp``) next to ``target``."""
    return {p.name for p in target.parent.glob(f".{target.name}.*.tmp")}


def _encoded(version: int) -> bytes:
    return json.dumps(crash_child.snapshot_for(version), separators=(",", ":")).encode()


def test_checker_accepts_a_complete_snapshot() -> None:
    """The checker returns the version of a well-formed file (as the store's encoder writes it)."""
    assert check_snapshot(json_encoder(crash_child.snapshot_for(7))) == 7
    assert check_snapshot(_encoded(123456)) == 123456


@pytest.mark.parametrize("keep", [0.0, 0.01, 0.5, 0.99])
def test_checker_rejects_a_truncated_file(keep: float) -> None:
    """A file cut short (empty, or torn anywhere up to its last byte) is rejected."""
    raw = _encoded(42)
    cut = min(int(len(raw) * keep), len(raw) - 1)
    with pytest.raises(BadSnapshot, match="not JSON"):
        check_snapshot(raw[:cut])


def test_checker_rejects_a_file_mixing_two_versions() -> None:
    """Valid JSON whose payload belongs (partly) to another version is rejected."""
    old, new = _encoded(41), _encoded(42)
    # Same length: the first half of the new file over the rest of the old one.
    assert len(old) == len(new)
    spliced = new[: len(new) // 2] + old[len(new) // 2 :]
    with pytest.raises(BadSnapshot):
        check_snapshot(spliced)
    mislabelled = json.dumps({"version": 42, "payload": crash_child.payload_for(41)}).encode()
    with pytest.raises(BadSnapshot, match="payload is not the one of version 42"):
        check_snapshot(mislabelled)


@pytest.mark.parametrize(
    "raw",
    [b"", b"null", b"[]", b'{"version": 0, "payload": {}}', b'{"version": true, "payload": 1}'],
)
def test_checker_rejects_what_the_child_never_writes(raw: bytes) -> None:
    """Empty files, other JSON shapes and impossible versions are rejected."""
    with pytest.raises(BadSnapshot):
        check_snapshot(raw)


def test_temp_file_pattern_matches_the_writers_names(tmp_path: Path) -> None:
    """``temp_files`` sees the names ``write_atomic`` uses, and nothing else."""
    target = tmp_path / STORE_NAME
    for name in (".state.json.0a1b2c3d4e5f.tmp", "state.json", "state.json.lock", ".other.x.tmp"):
        (tmp_path / name).write_bytes(b"")
    assert temp_files(target) == {".state.json.0a1b2c3d4e5f.tmp"}


# -- the child --------------------------------------------------------------------------------


def spawn_child(
    target: Path, stderr_path: Path, *, durable: bool
) -> contextlib.AbstractContextManager[Child]:
    argv = [sys.executable, str(CHILD_SCRIPT), str(target)]
    if not durable:
        argv.append("--no-durable")
    return spawn(argv, stderr_path)


# -- the crash loop ---------------------------------------------------------------------------


@attrs.define
class CrashStats:
    kills: int = 0
    #: the kill left the write in flight renamed in (the file is one ahead of the last ack)
    ahead_of_ack: int = 0
    #: the kill left a temp file behind (it struck between creating the temp file and the rename)
    left_temp_file: int = 0
    versions_written: int = 0


def _pick_seed() -> int:
    configured = os.environ.get("TRIO_LOCKSYNC_CRASH_SEED")
    return int(configured) if configured else random.SystemRandom().randrange(2**32)


def run_crash_loop(workdir: Path, *, kills: int, durable: bool, seed: int) -> CrashStats:
    """Kill ``kills`` children in turn on one store file; check the file after each kill."""
    rng = random.Random(seed)
    store_dir = workdir / "store"
    target = store_dir / STORE_NAME
    stderr_path = workdir / "child.stderr"
    allowed_names = {STORE_NAME, f"{STORE_NAME}.lock"}
    stats = CrashStats()
    on_disk = 0  # the version checked after the previous kill (0: no file yet)
    previous_leftovers: set[str] = set()

    for kill in range(1, kills + 1):
        where = f"seed={seed} durable={durable} kill {kill}/{kills}"
        with spawn_child(target, stderr_path, durable=durable) as child:
            start_line = child.read_line(where)
            if start_line is None:
                raise child.fail(
                    where, "the child exited before opening the store (StoreLockedError?)"
                )
            if start_line != f"START {on_disk}":
                raise child.fail(where, f"expected 'START {on_disk}', child said {start_line!r}")
            # The open removed the temp file the previous kill left behind.
            survivors = {name for name in previous_leftovers if (store_dir / name).exists()}
            assert not survivors, f"{where}: open_store left earlier temp files {survivors}"

            # Readiness: the child's first save in this life has returned.
            first = child.read_line(where)
            if first != str(on_disk + 1):
                raise child.fail(where, f"expected first ack {on_disk + 1}, got {first!r}")
            time.sleep(rng.uniform(0.0, MAX_KILL_DELAY))
            acks = child.kill(where)

        last_ack = on_disk + 1 + len(acks)
        expected_acks = [str(v) for v in range(on_disk + 2, last_ack + 1)]
        assert acks == expected_acks, f"{where}: acks out of order: {acks[:5]}...{acks[-5:]}"

        assert target.exists(), f"{where}: store file missing after saves had returned"
        try:
            version = check_snapshot(target.read_bytes())
        except BadSnapshot as exc:
            raise AssertionError(f"{where}: store file is not one complete version: {exc}") from exc
        assert last_ack <= version <= last_ack + 1, (
            f"{where}: file holds version {version}, but the last save that returned was "
            f"{last_ack} (the file must hold it, or the one write in flight)"
        )

        leftovers = temp_files(target)
        assert len(leftovers) <= 1, f"{where}: {len(leftovers)} temp files left: {leftovers}"
        unexpected = set(os.listdir(store_dir)) - allowed_names - leftovers
        assert not unexpected, f"{where}: unexpected files next to the store: {unexpected}"

        stats.kills += 1
        stats.ahead_of_ack += version == last_ack + 1
        stats.left_temp_file += bool(leftovers)
        stats.versions_written += version - on_disk
        on_disk = version
        previous_leftovers = leftovers

    # A last, clean owner: it opens, finds the last version, saves one more and closes.
    async def clean_open_and_close() -> None:
        async with open_store(target, durable=durable) as store:
            loaded = await store.load()
            assert loaded == crash_child.snapshot_for(on_disk), f"seed={seed}: final load"
            await store.save(crash_child.snapshot_for(on_disk + 1))

    trio.run(clean_open_and_close)
    assert check_snapshot(target.read_bytes()) == on_disk + 1, f"seed={seed}: final save"
    assert temp_files(target) == set(), f"seed={seed}: temp files after a clean close"
    assert set(os.listdir(store_dir)) == allowed_names, f"seed={seed}: {os.listdir(store_dir)}"
    return stats


@pytest.mark.slow
def test_sigkill_during_saves_leaves_one_complete_version(tmp_path: Path) -> None:
    """SIGKILL at random moments of a durable save loop: each time the file holds exactly one
    complete version, no older than the last save that returned and at most the one in flight;
    at most one temp file is left and the next owner removes it; the next owner opens at once
    (no StoreLockedError), loads that version and continues from it (versions never go back);
    a final clean open and close leaves no temp file."""
    assert KILLS >= 1
    seed = _pick_seed()
    print(f"crash loop: TRIO_LOCKSYNC_CRASH_SEED={seed} TRIO_LOCKSYNC_CRASH_KILLS={KILLS}")
    started = time.monotonic()
    stats = run_crash_loop(tmp_path, kills=KILLS, durable=True, seed=seed)
    print(f"{stats} in {time.monotonic() - started:.1f} s")
    assert stats.kills == KILLS


@pytest.mark.slow
def test_sigkill_without_fsync_still_leaves_one_complete_version(tmp_path: Path) -> None:
    """Same checks with ``durable=False`` (a tenth of the kills): the page cache outlives the
    process, so a process crash (unlike a power cut) still leaves the old or the new file."""
    kills = max(10, KILLS // 10)
    seed = _pick_seed()
    print(f"crash loop: TRIO_LOCKSYNC_CRASH_SEED={seed} kills={kills} durable=False")
    stats = run_crash_loop(tmp_path, kills=kills, durable=False, seed=seed)
    print(stats)
    assert stats.kills == kills
