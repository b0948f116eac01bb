"""One error tree (issue 23): an operational failure of a public call is a ``LockSyncError`` that
says what failed and what was kept, with the OS error chained — never a bare ``OSError`` — and
every error the docs tell a caller to catch is importable from the top level.

The paths are real: ``/proc`` and ``/sys`` refuse what they refuse even to root, a regular file
cannot hold a directory, a name can be too long; nothing is patched.
"""

from __future__ import annotations

import errno
import functools
import hashlib
import importlib
import inspect
import os
import pickle
import pkgutil
import re
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from pathlib import Path

import pytest
import trio

import trio_locksync
from trio_locksync import (
    ClosedError,
    Grant,
    LockSyncClosedError,
    LockSyncError,
    Pin,
    StoreCorruptError,
    StoreError,
    StoreOpenError,
    TrioRequiredError,
    VirtualLock,
    Weekly,
    open_access_plan,
    open_autolock,
    open_lock_sync,
    open_mqtt_bridge,
    open_store,
)
from trio_locksync.eventstream import decode_isy_event
from trio_locksync.testing import BrokerError, BrokerKind, open_mqtt_broker

from .brokerhelpers import free_port

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


def test_every_top_level_error_derives_from_lock_sync_error() -> None:
    for name in trio_locksync.__all__:
        cls = getattr(trio_locksync, name)
        if inspect.isclass(cls) and issubclass(cls, BaseException):
            assert issubclass(cls, LockSyncError), name
    # what the bare failure was: except clauses written for it still work
    assert isinstance(TrioRequiredError("open_store()", "asyncio"), RuntimeError)


# -- every error survives pickling: its type, its message, its attributes ---------------------


class _Caught:
    """The errors real calls raised, one per call."""

    def __init__(self) -> None:
        self.errors: list[LockSyncError] = []

    async def call(self, fn: Callable[[], Awaitable[object]]) -> None:
        try:
            await fn()
        except LockSyncError as error:  # a group here would be a bug of its own
            self.errors.append(error)
        else:
            raise AssertionError(f"{fn} raised nothing")  # pragma: no cover

    def sync(self, fn: Callable[[], object]) -> None:
        try:
            fn()
        except LockSyncError as error:
            self.errors.append(error)
        else:
            raise AssertionError(f"{fn} raised nothing")  # pragma: no cover


async def _raised_by_real_calls(tmp: Path) -> list[LockSyncError]:
    caught = _Caught()
    (tmp / "regular").write_text("")

    async def store_open() -> None:
        async with open_store(tmp / "regular" / "x.json"):
            pass  # pragma: no cover

    async def store_corrupt() -> None:
        (tmp / "corrupt.json").write_text("{")
        async with open_store(tmp / "corrupt.json") as store:
            await store.load()

    async def store_locked() -> None:
        async with open_store(tmp / "locked.json"), open_store(tmp / "locked.json"):
            pass  # pragma: no cover

    async def store_closed() -> None:
        async with open_store(tmp / "closed.json") as store:
            pass
        await store.save({})

    async def store_write() -> None:
        async with open_store(tmp / "write.json") as store:
            await store.save(object())  # not JSON

    async def store_version() -> None:
        async with open_store(tmp / "version.json", version=2) as store:
            await store.save({})
        async with open_store(tmp / "version.json", version=1) as store:
            await store.load()

    async def store_read() -> None:
        os.mkfifo(tmp / "fifo.json")
        async with open_store(tmp / "fifo.json") as store:  # not a regular file
            await store.load()

    for fn in (store_open, store_corrupt, store_locked, store_closed, store_write):
        await caught.call(fn)
    for fn in (store_version, store_read):
        await caught.call(fn)

    lock = VirtualLock(slots=4, latency=0.0, rejected=["9999"])
    async with open_lock_sync(lock, {4: None}, operation_spacing=0) as sync:
        await caught.call(lambda: lock.set_code(1, Pin("9999")))  # CodeRejected
        lock.online = False
        await caught.call(lambda: lock.read_slots([1]))  # LockDisconnected
        lock.online = True
        async with open_access_plan(tmp / "plan.json", {"door": sync}, slots=[1]) as plan:
            await plan.grant(Grant("alice", "1357"))
            await caught.call(lambda: plan.grant(Grant("bob", "1357")))  # DuplicatePin
            await caught.call(lambda: plan.grant(Grant("carol", "2468")))  # NoFreeSlot
            await caught.call(lambda: plan.revoke("nobody"))  # UnknownGrant
            caught.sync(lambda: plan.detail("alice", "back"))  # UnknownLock
        await caught.call(lambda: plan.revoke("alice"))  # AccessPlanClosed
    await caught.call(lambda: sync.survey([2]))  # LockSyncClosedError
    failing = VirtualLock(slots=4, latency=0.0, fail_rate=1.0)
    await caught.call(lambda: failing.read_slots([1]))  # LockOperationFailed

    async with open_autolock(tmp / "timers.json", action=_noop) as service:
        await caught.call(lambda: service.timer("front").start(60))  # not recovered
        await service.recover()
        await caught.call(lambda: service.timer("front").start(-1))  # InvalidDurationError
    await caught.call(lambda: service.timer("front").start(60))  # AutolockClosedError

    async with open_mqtt_bridge("127.0.0.1", free_port()) as bridge:  # nobody listens
        await caught.call(lambda: bridge.publish("a/+", b""))  # TopicError
    await caught.call(lambda: bridge.publish("a", b""))  # MqttClosedError

    caught.sync(lambda: Pin("12ab"))  # InvalidPinError
    caught.sync(lambda: Weekly.parse("someday"))  # InvalidSchedule
    caught.sync(lambda: decode_isy_event("<Event"))  # FrameDecodeError
    return caught.errors


#: errors no cheap real call raises here (a server's refusal, a failure mid-write, a base class)
CONSTRUCTED: list[LockSyncError] = [
    trio_locksync.LockSyncError("anything"),
    trio_locksync.ClosedError("used after close"),
    trio_locksync.AccessError("access"),
    trio_locksync.UsesNotCounted("alice", "front"),
    trio_locksync.AutolockError("autolock"),
    trio_locksync.AutolockPersistError("front", armed=True, what="start"),
    trio_locksync.AutolockTargetGone("front"),
    trio_locksync.CredentialError("why", slot=3, what="it failed"),
    trio_locksync.EventStreamError("stream"),
    trio_locksync.EventStreamRejected("ws://h/x", "HTTP 401", status_code=401),
    trio_locksync.InvalidTransition("SlotMachine", "IN_SYNC", "SYNCING"),
    trio_locksync.MqttError("mqtt"),
    trio_locksync.MqttRefused("not authorised", code=5),
    trio_locksync.MqttNotDelivered("a/b", "connection lost"),
    trio_locksync.StoreError("/x.json", "store"),
    trio_locksync.TrioRequiredError("open_store()", "asyncio"),
    trio_locksync.ZWaveJsError("zwave"),
    trio_locksync.ZWaveJsClosed("closed"),
    trio_locksync.ZWaveJsCommandError("node.set_value", "zwave_error", 5, "failed"),
    trio_locksync.ZWaveJsConnectionLost("lost"),
    trio_locksync.ZWaveJsRefused("refused"),
]


def _state(error: BaseException) -> dict[str, object]:
    """An error's attributes, comparable across a copy (an error held is compared by value)."""
    return {
        key: (type(value), value.args) if isinstance(value, BaseException) else value
        for key, value in vars(error).items()
    }


async def test_every_top_level_error_survives_pickling(tmp_path: Path) -> None:
    """Real instances, raised by real calls where that is cheap: an error with its own
    ``__init__`` used to fail to unpickle (``StoreOpenError``, ``DuplicatePin``, ...) or come
    back with its message doubled (``UnknownGrant``)."""
    errors = [*await _raised_by_real_calls(tmp_path), *CONSTRUCTED]
    top_level = {
        cls
        for cls in map(functools.partial(getattr, trio_locksync), trio_locksync.__all__)
        if inspect.isclass(cls) and issubclass(cls, BaseException)
    }
    assert {type(error) for error in errors} == top_level  # every one
    for error in errors:
        copy = pickle.loads(pickle.dumps(error))
        assert type(copy) is type(error)
        assert (str(copy), copy.args, _state(copy)) == (str(error), error.args, _state(error))
    by_type = {type(error): error for error in errors}
    assert vars(by_type[trio_locksync.StoreOpenError]).keys() >= {"path", "cause"}
    assert vars(by_type[trio_locksync.DuplicatePin]).keys() >= {"grant", "lock", "holder"}
    assert str(by_type[trio_locksync.UnknownGrant]) == "no grant 'nobody' in this plan"
