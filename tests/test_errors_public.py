"""One error tree (issue 23): an operational failure of a public call is a ``LockSyncError`` that
says what failed and what was kept, with the OS error chained — never a bare ``OSError`` — and
every error the docs tell a caller to catch is importable from the top level.

The paths are real: ``/proc`` and ``/sys`` refuse what they refuse even to root, a regular file
cannot hold a directory, a name can be too long; nothing is patched.
"""

from __future__ import annotations

import errno
import hashlib
import importlib
import inspect
import pickle
import pkgutil
import re
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from pathlib import Path

import pytest
import trio

import trio_locksync
from trio_locksync import (
    ClosedError,
    LockSyncClosedError,
    LockSyncError,
    StoreCorruptError,
    StoreError,
    StoreOpenError,
    TrioRequiredError,
    VirtualLock,
    open_access_plan,
    open_autolock,
    open_lock_sync,
    open_store,
)
from trio_locksync.testing import BrokerError, BrokerKind, open_mqtt_broker

REPO = Path(__file__).resolve().parent.parent


def tree(root: Path) -> dict[str, str]:
    """Every path under ``root`` with its content's digest: what a failed open must not change."""
    return {
        str(path.relative_to(root)): (
            hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() else "dir"
        )
        for path in sorted(root.rglob("*"))
    }


# -- every public I/O entry point over the store: the OS error at open is a StoreOpenError ----


async def _noop(timer_id: str) -> None:
    pass


@asynccontextmanager
async def _through_store(path: Path) -> AsyncIterator[None]:
    async with open_store(path) as store:
        await store.load()
        yield


@asynccontextmanager
async def _through_autolock(path: Path) -> AsyncIterator[None]:
    async with open_autolock(path, action=_noop) as service:
        await service.recover()
        yield


@asynccontextmanager
async def _through_credential_memory(path: Path) -> AsyncIterator[None]:
    async with open_lock_sync(VirtualLock(latency=0.0), {1: None}, store_path=path):
        yield


@asynccontextmanager
async def _through_access_plan(path: Path) -> AsyncIterator[None]:
    async with (
        open_lock_sync(VirtualLock(latency=0.0), {}) as sync,
        open_access_plan(path, {"door": sync}),
    ):
        yield


OPENERS: dict[str, Callable[[Path], AbstractAsyncContextManager[None]]] = {
    "open_store": _through_store,
    "open_autolock": _through_autolock,
    "open_lock_sync(store_path=)": _through_credential_memory,
    "open_access_plan": _through_access_plan,
}

#: (the store path, the errno, the path the OS error concerned) for each kind of refusal
BAD_PATHS: dict[str, Callable[[Path], tuple[Path, int, Path]]] = {
    "a missing directory that cannot be made": lambda tmp: (
        Path("/proc/nope/x.json"),
        errno.ENOENT,
        Path("/proc/nope"),
    ),
    "a lock file that cannot be created": lambda tmp: (
        Path("/sys/x.json"),
        errno.EACCES,
        Path("/sys/x.json.lock"),
    ),
    "a path under a regular file": lambda tmp: (
        tmp / "regular" / "x.json",
        errno.ENOTDIR,
        tmp / "regular",
    ),
    "a file name too long": lambda tmp: (
        tmp / ("n" * 252 + ".json"),
        errno.ENAMETOOLONG,
        tmp / ("n" * 252 + ".json.lock"),
    ),
}


@pytest.mark.parametrize("opener", OPENERS)
@pytest.mark.parametrize("kind", BAD_PATHS)
async def test_an_os_error_at_open_is_a_store_open_error(
    tmp_path: Path, opener: str, kind: str
) -> None:
    (tmp_path / "regular").write_text("not a directory\n")
    path, code, concerned = BAD_PATHS[kind](tmp_path)
    before = tree(tmp_path)
    with pytest.raises(StoreOpenError) as caught:
        async with OPENERS[opener](path):
            pass  # pragma: no cover - the open fails
    error = caught.value
    assert isinstance(error, StoreError) and isinstance(error, LockSyncError)
    assert error.path == str(path)
    cause = error.__cause__
    assert isinstance(cause, OSError) and cause.errno == code
    assert error.cause is cause
    assert str(error) == (
        f"could not open store file {path}: {type(cause).__name__} [{errno.errorcode[code]}] "
        f"{cause.strerror} at {concerned}; the store file was not read or written"
    )
    assert tree(tmp_path) == before  # nothing made, nothing left behind


async def test_a_relative_path_after_the_working_directory_was_removed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    gone = tmp_path / "gone"
    gone.mkdir()
    monkeypatch.chdir(gone)
    gone.rmdir()
    with pytest.raises(StoreOpenError) as caught:
        async with open_store("x.json"):
            pass  # pragma: no cover
    assert isinstance(caught.value.__cause__, FileNotFoundError)
    assert str(caught.value).startswith("could not open store file x.json: FileNotFoundError")


async def test_a_failure_after_taking_the_lock_gives_the_lock_up(tmp_path: Path) -> None:
    """A crashed owner's leftover that cannot be removed (here a directory where a temp file
    was): the open fails, and the owner lock it had taken is released with it."""
    path = tmp_path / "x.json"
    leftover = tmp_path / ".x.json.0123456789ab.tmp"
    (leftover / "inside").mkdir(parents=True)
    with pytest.raises(StoreOpenError) as caught:
        async with open_store(path):
            pass  # pragma: no cover
    cause = caught.value.__cause__
    assert isinstance(cause, OSError) and cause.errno in (errno.EISDIR, errno.EPERM)
    assert f"at {leftover};" in str(caught.value)
    (leftover / "inside").rmdir()
    leftover.rmdir()
    async with open_store(path) as store:  # not StoreLockedError: no fd kept the lock
        await store.save({"ok": True})


async def test_a_corrupt_file_that_cannot_be_moved_aside(tmp_path: Path) -> None:
    """``on_corrupt="quarantine"`` renames the file to ``<name>.corrupt.<utc-iso>``; when that
    name is too long the rename fails: StoreCorruptError says so, the file is left as it is."""
    path = tmp_path / ("q" * 235 + ".json")  # its ".lock" fits in 255 bytes, ".corrupt.…" not
    path.write_bytes(b"{not json")
    async with open_store(path, on_corrupt="quarantine") as store:
        with pytest.raises(StoreCorruptError) as caught:
            await store.load()
    cause = caught.value.__cause__
    assert isinstance(cause, OSError) and cause.errno == errno.ENAMETOOLONG
    assert str(caught.value) == (
        f"store file {path} is corrupt (JSONDecodeError; moving it aside failed: "
        "OSError [ENAMETOOLONG] File name too long); file left as is"
    )
    assert path.read_bytes() == b"{not json"
    assert sorted(p.name for p in tmp_path.iterdir()) == [path.name, path.name + ".lock"]


# -- closed engines and simulators ------------------------------------------------------------


async def test_a_survey_after_the_engine_closed_is_a_lock_sync_closed_error() -> None:
    async with open_lock_sync(VirtualLock(latency=0.0), {1: None}) as engine:
        pass
    with pytest.raises(LockSyncClosedError) as caught:
        await engine.survey([2])
    assert isinstance(caught.value, ClosedError)
    assert isinstance(caught.value, trio.ClosedResourceError)  # as trio's own objects say it
    assert str(caught.value) == "the credential engine is closed: survey() not performed"


@pytest.mark.parametrize("kind", [BrokerKind.MOSQUITTO, BrokerKind.AMQTT])
async def test_a_broker_whose_directory_cannot_be_used(tmp_path: Path, kind: BrokerKind) -> None:
    (tmp_path / "regular").write_text("")
    directory = tmp_path / "regular" / "broker"
    with pytest.raises(BrokerError) as caught:
        async with open_mqtt_broker(directory, kind):
            pass  # pragma: no cover
    message = str(caught.value)
    if "not installed" in message:
        pytest.skip(message)
    assert isinstance(caught.value.__cause__, NotADirectoryError)
    assert message.startswith(
        f"cannot start an MQTT broker with its files in {directory}: Not a directory "
        f"[ENOTDIR] ({directory}/"
    )
    assert message.endswith("; nothing is running")


def test_a_zwave_js_cache_dir_that_cannot_be_made(tmp_path: Path) -> None:
    import shutil

    from trio_locksync.testing import ZWaveJsUnavailable
    from trio_locksync.testing.zwave_js import install_zwave_js

    if shutil.which("node") is None or shutil.which("npm") is None:
        pytest.skip("node and npm are needed to get as far as the cache dir")
    (tmp_path / "regular").write_text("")
    with pytest.raises(ZWaveJsUnavailable) as caught:
        install_zwave_js(tmp_path / "regular" / "cache")
    assert isinstance(caught.value.__cause__, NotADirectoryError)
    assert str(caught.value).startswith(
        f"cannot install zwave-js in the cache dir {tmp_path / 'regular' / 'cache'}: Not a "
        "directory"
    )


# -- the errors callers catch, importable where the docs say ----------------------------------


def _library_errors() -> dict[str, type[BaseException]]:
    """Every exception class defined anywhere in the library (private modules too), by name."""
    found: dict[str, type[BaseException]] = {}
    for info in pkgutil.walk_packages(trio_locksync.__path__, prefix="trio_locksync."):
        if info.name.startswith(("trio_locksync.cli", "trio_locksync.__main__")):
            continue
        for obj in vars(importlib.import_module(info.name)).values():
            if (
                inspect.isclass(obj)
                and issubclass(obj, BaseException)
                and obj.__module__.startswith("trio_locksync")
            ):
                found[obj.__name__] = obj
    return found


def _public_docstrings() -> dict[str, str]:
    """The docstring of every top-level name and of each of its public methods/properties."""
    docs: dict[str, str] = {}
    for name in trio_locksync.__all__:
        obj = getattr(trio_locksync, name)
        docs[name] = inspect.getdoc(obj) or ""
        if inspect.isclass(obj):
            for attr, value in vars(obj).items():
                if attr.startswith("_") and attr not in ("__aenter__", "__aiter__", "__anext__"):
                    continue
                target = value.fget if isinstance(value, property) else value
                if callable(target):
                    docs[f"{name}.{attr}"] = inspect.getdoc(target) or ""
    return docs


def _documents() -> dict[str, str]:
    files = [REPO / "README.md", *sorted((REPO / "docs").rglob("*.md"))]
    files += sorted((REPO / "docs").rglob("*.rst"))
    return {str(p.relative_to(REPO)): p.read_text(encoding="utf-8") for p in files}


def test_every_error_the_docs_name_is_importable_from_the_top_level() -> None:
    """An error named in the README, in the docs, or in the docstring of anything at the top
    level is importable from ``trio_locksync`` (the testing simulators' own errors from
    ``trio_locksync.testing``)."""
    errors = _library_errors()
    import trio_locksync.testing

    named: dict[str, set[str]] = {}
    for where, text in {**_documents(), **_public_docstrings()}.items():
        for word in re.findall(r"\b[A-Z][A-Za-z]+\b", text):
            if word in errors:
                named.setdefault(word, set()).add(where)
    assert {"MqttRefused", "StoreReadError", "FrameDecodeError"} <= set(named)  # the scan works
    for word, places in sorted(named.items()):
        home = trio_locksync.testing if word in trio_locksync.testing.__all__ else trio_locksync
        assert getattr(home, word, None) is errors[word], f"{word} (named in {sorted(places)})"


def test_every_top_level_error_derives_from_lock_sync_error_and_pickles() -> None:
    for name in trio_locksync.__all__:
        cls = getattr(trio_locksync, name)
        if inspect.isclass(cls) and issubclass(cls, BaseException):
            assert issubclass(cls, LockSyncError), name
    error = TrioRequiredError("open_store()", "asyncio")
    copy = pickle.loads(pickle.dumps(error))
    assert (type(copy), str(copy), copy.api, copy.running) == (
        TrioRequiredError,
        str(error),
        "open_store()",
        "asyncio",
    )
    assert isinstance(error, RuntimeError)  # what the bare failure was: except clauses still work
