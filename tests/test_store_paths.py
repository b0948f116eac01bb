"""Store paths that are not a store file: a path naming no file is refused at open (ValueError,
nothing made on disk), and something other than a regular file at the path is never read from
(StoreReadError; a device such as /dev/zero would be read until memory ran out, a FIFO would
block its worker thread). Real paths, real worker threads; a device node is made in the test's
own directory (root only), never touched in /dev.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest
import trio

from trio_locksync import StoreReadError, open_autolock, open_store


def listing(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*"))


@pytest.mark.parametrize(
    ("given", "named"),
    [
        ("", "an empty path"),
        ("/", "'/', which names no file"),
        (".", "'.', which names no file"),
        ("..", "'..', which names no file"),
        ("store/", "'store/', which names no file"),
        ("store/..", "'store/..', which names no file"),
        (Path(""), "'.', which names no file"),
    ],
)
async def test_a_path_that_names_no_file_is_a_value_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, given: str | Path, named: str
) -> None:
    """``""`` used to make the working directory the store file (and ``<parent>/<cwd>.lock``
    beside it); ``"/"`` raised a bare ValueError from pathlib."""
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    with pytest.raises(ValueError) as caught:
        async with open_store(given):
            pass  # pragma: no cover
    assert str(caught.value) == f"open_store() needs the path of a file, got {named}"
    assert listing(tmp_path) == ["work"]  # nothing made


async def test_the_openers_built_on_the_store_refuse_it_too(tmp_path: Path) -> None:
    async def noop(timer_id: str) -> None:
        pass

    with pytest.raises(ValueError, match="got 'timers/', which names no file"):
        async with open_autolock("timers/", action=noop):
            pass  # pragma: no cover


async def _load(path: Path) -> StoreReadError:
    with trio.fail_after(30):  # a hang (a blocked worker thread) fails instead
        async with open_store(path) as store:
            with pytest.raises(StoreReadError) as caught:
                await store.load()
    return caught.value


async def test_a_fifo_is_not_read(tmp_path: Path) -> None:
    path = tmp_path / "fifo.json"
    os.mkfifo(path)
    error = await _load(path)
    assert (
        str(error) == f"could not read store file {path}: not a regular file (a FIFO); nothing read"
    )
    assert error.path == str(path)
    assert stat.S_ISFIFO(path.stat().st_mode)  # left as it is


async def test_a_device_is_not_read(tmp_path: Path) -> None:
    """A character device with /dev/null's numbers, made here (not /dev/zero's: if the check
    failed, this one reads empty instead of filling memory)."""
    path = tmp_path / "null.json"
    try:
        os.mknod(path, 0o600 | stat.S_IFCHR, os.makedev(1, 3))
    except PermissionError:
        pytest.skip("making a device node needs root")
    error = await _load(path)
    assert str(error) == (
        f"could not read store file {path}: not a regular file (a character device); nothing read"
    )
    assert stat.S_ISCHR(path.stat().st_mode)


async def test_a_directory_is_still_an_eisdir_read_error(tmp_path: Path) -> None:
    path = tmp_path / "dir.json"
    path.mkdir()
    error = await _load(path)
    assert (
        str(error) == f"could not read store file {path}: IsADirectoryError [EISDIR] Is a directory"
    )
