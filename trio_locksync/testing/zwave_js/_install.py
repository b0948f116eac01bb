"""node and npm found and checked, and the pinned Z-Wave JS Server and zwave-js installed once
into a cache outside the repository (a file lock: parallel test processes install once)."""

from __future__ import annotations

import fcntl
import os
import re
import shutil
import subprocess
import tempfile
from importlib import resources
from pathlib import Path
from typing import final

from ...core import LockSyncError

__all__ = [
    "NODE_MINIMUM",
    "SERVER_VERSION",
    "ZWAVE_JS_VERSION",
    "ZWaveJsUnavailable",
    "find_node",
    "install_zwave_js",
]

#: ``@zwave-js/server`` version the tests run against (pinned in package.json and package-lock.json)
SERVER_VERSION = "3.10.2"
#: ``zwave-js`` (the driver and its mock controller) version
ZWAVE_JS_VERSION = "15.29.0"
#: oldest node major version zwave-js 15 supports (``engines``)
NODE_MINIMUM = 20
#: environment variable naming the cache's parent directory
CACHE_ENV = "TRIO_LOCKSYNC_ZWAVE_JS_CACHE"
#: seconds ``npm ci`` may take
INSTALL_TIMEOUT = 600.0

_HINT = "install node >= 20 and npm (Debian/Ubuntu: apt-get install -y nodejs npm)"
_MARKER = "trio-locksync-installed"


@final
class ZWaveJsUnavailable(LockSyncError, RuntimeError):
    """The real Z-Wave JS Server cannot be run here: node or npm is missing or too old, or the
    install or the start failed. The message says which, and what to run."""


def shipped_file(name: str) -> Path:
    """A file shipped with this package (``locks.cjs``, ``no-mdns.cjs``, ``server-config.js``)."""
    return Path(str(resources.files(__package__).joinpath(name)))


def _version(executable: str, what: str) -> tuple[int, ...]:
    try:
        done = subprocess.run(
            [executable, "--version"], capture_output=True, text=True, timeout=30, check=True
        )
    except (OSError, subprocess.SubprocessError) as exc:
        raise ZWaveJsUnavailable(
            f"{what} at {executable} does not run ({exc!r}); {_HINT}"
        ) from None
    found = re.search(r"(\d+)\.(\d+)\.(\d+)", done.stdout)
    if found is None:
        raise ZWaveJsUnavailable(f"{what} at {executable} printed no version; {_HINT}")
    return tuple(int(part) for part in found.groups())


def find_node(path: str | None = None) -> str:
    """The ``node`` executable on ``path`` (default ``$PATH``), checked to be >= 20;
    :class:`ZWaveJsUnavailable` saying so if it is missing or older."""
    node = shutil.which("node", path=path)
    if node is None:
        raise ZWaveJsUnavailable(f"node is not installed (not found on PATH); {_HINT}")
    version = _version(node, "node")
    if version[0] < NODE_MINIMUM:
        raise ZWaveJsUnavailable(
            f"node {'.'.join(map(str, version))} at {node} is too old: zwave-js "
            f"{ZWAVE_JS_VERSION} needs node >= {NODE_MINIMUM}; {_HINT}"
        )
    return node


def _cache_root(cache_dir: Path | None) -> Path:
    if cache_dir is not None:
        return Path(cache_dir)
    if os.environ.get(CACHE_ENV):
        return Path(os.environ[CACHE_ENV])
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return base / "trio-locksync" / "zwave-js"


def _installed(target: Path) -> bool:
    return (target / _MARKER).is_file() and (target / "node_modules" / "zwave-js").is_dir()


def install_zwave_js(cache_dir: Path | None = None) -> Path:
    """The directory holding ``node_modules`` with ``@zwave-js/server`` 3.10.2 and ``zwave-js``
    15.29.0 (their dependencies pinned by the shipped package-lock.json), installed by ``npm ci``
    on first use into ``<cache_dir>/server-3.10.2-zwave-js-15.29.0``; ``cache_dir`` defaults to
    ``$TRIO_LOCKSYNC_ZWAVE_JS_CACHE``, else ``~/.cache/trio-locksync/zwave-js`` (outside the
    repository; about 100 MB, 15-30 s). A file lock next to it makes parallel test processes
    install once; the install goes to a temporary directory renamed into place when complete,
    so a killed install leaves nothing half-made. Blocking: from trio, call it with
    ``trio.to_thread.run_sync``. Raises :class:`ZWaveJsUnavailable` if node (>= 20) or npm is
    missing, the cache dir cannot be made, or npm fails (with the end of its output)."""
    find_node()
    root = _cache_root(cache_dir)
    target = root / f"server-{SERVER_VERSION}-zwave-js-{ZWAVE_JS_VERSION}"
    if _installed(target):
        return target
    npm = shutil.which("npm")
    if npm is None:
        raise ZWaveJsUnavailable(f"npm is not installed (not found on PATH); {_HINT}")
    try:
        root.mkdir(parents=True, exist_ok=True)
        lock = open(root / f"{target.name}.lock", "w")  # noqa: SIM115 - the with below closes it
    except OSError as exc:
        raise ZWaveJsUnavailable(
            f"cannot install zwave-js in the cache dir {root}: "
            f"{exc.strerror or type(exc).__name__} ({exc.filename}); give cache_dir= or set "
            "TRIO_LOCKSYNC_ZWAVE_JS_CACHE to a writable directory"
        ) from exc
    with lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes
        if _installed(target):  # another process installed it while we waited
            return target
        staging = Path(tempfile.mkdtemp(prefix=f".{target.name}-", dir=root))
        try:
            for name in ("package.json", "package-lock.json"):
                shutil.copyfile(shipped_file(name), staging / name)
            command = [npm, "ci", "--no-audit", "--no-fund", "--ignore-scripts", "--loglevel=error"]
            try:
                done = subprocess.run(
                    command, cwd=staging, capture_output=True, text=True, timeout=INSTALL_TIMEOUT
                )
            except (OSError, subprocess.SubprocessError) as exc:
                raise ZWaveJsUnavailable(f"`npm ci` in {staging} failed: {exc!r}") from None
            if done.returncode != 0:
                tail = (done.stdout + done.stderr)[-2000:]
                raise ZWaveJsUnavailable(
                    f"`{' '.join(command[1:])}` of @zwave-js/server {SERVER_VERSION} and zwave-js "
                    f"{ZWAVE_JS_VERSION} failed (exit {done.returncode}); is the npm registry "
                    f"reachable? npm said:\n{tail}"
                )
            (staging / _MARKER).write_text(f"{SERVER_VERSION} {ZWAVE_JS_VERSION}\n")
            shutil.rmtree(target, ignore_errors=True)  # a half-made one from an older layout
            staging.rename(target)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
    return target
