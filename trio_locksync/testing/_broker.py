"""The one MQTT broker launcher for tests, benchmarks and the demo: a broker process on a free
loopback port, its config, log (and persistence file) in a directory you give, started,
stopped (or killed) and started again on the same port.

:class:`Launcher` starts and stops the process; :class:`MosquittoBroker` is its public,
blocking face for test set-up and benchmarks (it writes mosquitto's config);
:func:`amqtt_launcher` runs amqtt instead. In trio,
:func:`~trio_locksync.testing.open_mqtt_broker` drives the same launcher from a worker
thread, owned by an ``async with`` block."""

from __future__ import annotations

import contextlib
import getpass
import importlib.metadata
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Mapping
from pathlib import Path
from typing import final

from ..core import LockSyncError

__all__ = [
    "BrokerError",
    "Launcher",
    "MosquittoBroker",
    "amqtt_entry_point",
    "amqtt_launcher",
    "find_mosquitto",
    "find_mosquitto_passwd",
    "free_port",
    "free_ports",
]

#: seconds a broker may take to listen after it was started
START_TIMEOUT = 10.0
#: seconds between attempts to connect while a broker starts
POLL_INTERVAL = 0.02
#: mosquitto's default (1000) drops the rest of a slow consumer's queue
MAX_QUEUED = 1_000_000

_StrPath = str | os.PathLike[str]


@final
class BrokerError(LockSyncError, RuntimeError):
    """A broker could not be started or reached; says which one, why, and where its log is
    (passwords never appear: they reach mosquitto_passwd in a file, not in its arguments)."""


def _find(name: str) -> str | None:
    # Debian installs mosquitto in /usr/sbin, which is not on a user's PATH
    found = shutil.which(name)
    for directory in ("/usr/sbin", "/usr/bin"):
        candidate = f"{directory}/{name}"
        if found is None and os.access(candidate, os.X_OK):
            found = candidate
    return found


def find_mosquitto() -> str | None:
    """The ``mosquitto`` executable: on PATH, or Debian's ``/usr/sbin/mosquitto``; or None."""
    return _find("mosquitto")


def find_mosquitto_passwd() -> str | None:
    """The ``mosquitto_passwd`` executable (needed for ``passwords=``), or None."""
    return _find("mosquitto_passwd")


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port nobody listens on at ``host`` right now (the OS picks it)."""
    with socket.socket() as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def free_ports(count: int, host: str = "127.0.0.1") -> tuple[int, ...]:
    """``count`` distinct TCP ports nobody listens on at ``host`` right now: all are bound
    before any is released, so two of them can never be the same port (separate
    :func:`free_port` calls can return one port twice)."""
    with contextlib.ExitStack() as stack:
        socks = [stack.enter_context(socket.socket()) for _ in range(count)]
        for sock in socks:
            sock.bind((host, 0))
        return tuple(int(sock.getsockname()[1]) for sock in socks)


def log_tail(log: Path, limit: int = 2000) -> str:
    """The end of a broker's log, for an error message."""
    try:
        text = log.read_text(errors="replace")
    except OSError:
        return "(no log)"
    return text[-limit:].strip() or "(empty log)"


def _running_as_root() -> bool:
    return hasattr(os, "geteuid") and os.geteuid() == 0


class Launcher:
    """[internal] One broker process on ``host:port``: start (return once it listens), stop, kill,
    restart. ``own_session``: its own process group, so that a Ctrl-C at the terminal reaches
    only its owner (the demo), who stops it."""

    host = "127.0.0.1"

    def __init__(
        self,
        name: str,
        command: list[str],
        *,
        port: int,
        log: Path,
        start_timeout: float,
        poll_interval: float,
        own_session: bool = False,
    ) -> None:
        if not poll_interval > 0:
            raise ValueError(f"poll_interval must be positive, not {poll_interval!r}")
        self.name = name
        #: the command line that starts it
        self.command = command
        self.port = port
        #: where the broker's own output goes
        self.log = log
        self.start_timeout = start_timeout
        self.poll_interval = poll_interval
        self.process: subprocess.Popen[bytes] | None = None
        #: starts so far
        self.starts: int = 0
        self._own_session = own_session

    @property
    def running(self) -> bool:
        """Started and not stopped (it may have died since: see ``process.poll()``)."""
        return self.process is not None

    def start(self) -> None:
        """Start the broker and return once it accepts connections."""
        if self.process is not None:
            raise RuntimeError(f"{self!r} is running already")
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(
                self.command,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=log,
                start_new_session=self._own_session,
            )
        deadline = time.monotonic() + self.start_timeout
        while time.monotonic() < deadline:
            try:
                socket.create_connection((self.host, self.port), timeout=0.2).close()
            except OSError:
                if self.process.poll() is not None:
                    self.process = None
                    raise BrokerError(
                        f"{self.name} ({self.command[-1]}) exited at start: {log_tail(self.log)}"
                    ) from None
                time.sleep(self.poll_interval)
            else:
                self.starts += 1
                return
        self.kill()
        raise BrokerError(
            f"{self.name} did not listen on {self.host}:{self.port} within "
            f"{self.start_timeout:g} s; see {self.log}"
        )

    def stop(self, sig: int = signal.SIGTERM) -> None:
        """Stop the broker (SIGTERM lets mosquitto save its persistence file; SIGKILL does
        not) and wait for it; SIGKILL after 10 s. Nothing happens if it is not running."""
        process, self.process = self.process, None
        if process is None:
            return
        if process.poll() is None:
            process.send_signal(sig)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:  # pragma: no cover - a hung broker
            process.kill()
            process.wait()

    def kill(self) -> None:
        """Stop it as a crash would: SIGKILL, nothing saved."""
        self.stop(signal.SIGKILL)

    def restart(self, down_for: float = 0.0, *, sig: int = signal.SIGTERM) -> None:
        """Stop it, stay down ``down_for`` seconds, start it again on the same port."""
        self.stop(sig)
        time.sleep(down_for)
        self.start()


def _mosquitto_config(
    directory: Path,
    port: int,
    *,
    persistence: bool,
    password_file: Path | None,
    tls: tuple[_StrPath, _StrPath, _StrPath] | None,
    max_queued_messages: int,
    extra: str,
) -> str:
    lines = [f"listener {port} {Launcher.host}"]
    if _running_as_root():  # else mosquitto switches to its own user, who cannot write here
        lines.append(f"user {getpass.getuser()}")
    lines += [
        f"max_queued_messages {max_queued_messages}",
        "log_dest stderr",
        "log_type error",
        "log_type warning",
    ]
    if persistence:
        lines += [
            "persistence true",
            f"persistence_location {directory}/",
            "persistence_file mosquitto.db",
        ]
    else:
        lines.append("persistence false")
    if password_file is not None:
        lines += ["allow_anonymous false", f"password_file {password_file}"]
    else:
        lines.append("allow_anonymous true")
    if tls is not None:
        ca, cert, key = (Path(p) for p in tls)
        lines += [f"cafile {ca}", f"certfile {cert}", f"keyfile {key}"]
    if extra:
        lines.append(extra)
    return "\n".join(lines) + "\n"


def _password_file(directory: Path, passwords: Mapping[str, str]) -> Path:
    tool = find_mosquitto_passwd()
    if tool is None:
        raise BrokerError("mosquitto_passwd is not installed (it comes with mosquitto)")
    for user, password in passwords.items():
        # mosquitto_passwd -U splits "user:password" at a colon and reads lines
        if not user or ":" in user + password or "\n" in user + password:
            raise ValueError(f"user {user!r}: a name and a password without ':' or a line break")
    path = directory / "passwords"
    # plain "user:password" lines, hashed in place (-U): no password on a command line
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as file:
        file.writelines(f"{user}:{password}\n" for user, password in passwords.items())
    done = subprocess.run([tool, "-U", str(path)], capture_output=True, check=False)
    if done.returncode != 0:
        path.unlink()
        raise BrokerError(f"mosquitto_passwd -U failed (exit {done.returncode})")
    return path


@final
class MosquittoBroker(Launcher):
    """One mosquitto process on ``127.0.0.1:port``, its config, log (and persistence file)
    in ``directory``; :meth:`start`, :meth:`stop` (SIGTERM: it saves its persistence file),
    :meth:`kill` (SIGKILL: it does not), :meth:`restart` — always on the same port. Also a
    context manager (started on entry, stopped on exit). ::

        with MosquittoBroker(tmp_path, persistence=True) as broker:
            ...  # connect to broker.port; broker.restart(down_for=1.0)

    ``persistence``: keep ``mosquitto.db`` across restarts (else none). ``passwords``: user →
    password (no ``:`` in either); anonymous clients are then refused (the file is hashed
    with ``mosquitto_passwd -U``, so no password is ever on a command line).
    ``tls``: (CA file, certificate, key) — the listener speaks TLS only. ``max_queued_messages``
    is raised (see ``MAX_QUEUED``). ``extra``: more config lines, as they are.
    ``poll_interval``: seconds between :meth:`start`'s attempts to connect (the moment it
    returns is at most this late: a benchmark timing from a restart may want less). Run as root,
    the config says ``user <you>`` so that mosquitto does not switch to the ``mosquitto`` user,
    which could not write its persistence file in ``directory``.
    Raises :class:`BrokerError` if mosquitto (or ``mosquitto_passwd``) is not installed, exits
    at start (the message has its log's end) or does not listen within ``start_timeout``.
    """

    def __init__(
        self,
        directory: _StrPath,
        *,
        port: int | None = None,
        persistence: bool = False,
        passwords: Mapping[str, str] | None = None,
        tls: tuple[_StrPath, _StrPath, _StrPath] | None = None,
        max_queued_messages: int = MAX_QUEUED,
        extra: str = "",
        start_timeout: float = START_TIMEOUT,
        poll_interval: float = POLL_INTERVAL,
        own_session: bool = False,
    ) -> None:
        executable = find_mosquitto()
        if executable is None:
            raise BrokerError("mosquitto is not installed (apt-get install mosquitto)")
        self.directory: Path = Path(directory)
        self.config: Path = self.directory / "mosquitto.conf"
        super().__init__(
            "mosquitto",
            [executable, "-c", str(self.config)],
            port=free_port(self.host) if port is None else port,
            log=self.directory / "mosquitto.log",
            start_timeout=start_timeout,
            poll_interval=poll_interval,
            own_session=own_session,
        )
        password_file = None if passwords is None else _password_file(self.directory, passwords)
        self.config.write_text(
            _mosquitto_config(
                self.directory,
                self.port,
                persistence=persistence,
                password_file=password_file,
                tls=tls,
                max_queued_messages=max_queued_messages,
                extra=extra,
            )
        )

    def __repr__(self) -> str:
        state = "running" if self.running else "stopped"
        return f"<MosquittoBroker {self.host}:{self.port} {state}, files in {self.directory}>"

    def __enter__(self) -> MosquittoBroker:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


#: runs a console script (``argv[1]`` its name, ``argv[2]`` its entry point) as its launcher
#: script would, under ``python -c``: it needs no ``bin`` directory on PATH (a venv's Python run
#: without activating the venv)
_RUN_CONSOLE_SCRIPT = """\
import sys
from importlib.metadata import EntryPoint
name, value = sys.argv[1:3]
sys.argv[:3] = [name]
sys.exit(EntryPoint(name, value, "console_scripts").load()())
"""


def amqtt_entry_point() -> importlib.metadata.EntryPoint:
    """amqtt's public ``amqtt`` console script (its broker), from its installed metadata.
    Raises :class:`BrokerError` if amqtt is not installed or does not declare it."""
    try:
        scripts = importlib.metadata.distribution("amqtt").entry_points
    except importlib.metadata.PackageNotFoundError:
        raise BrokerError("amqtt is not installed (pip install 'trio-locksync[demo]')") from None
    found = scripts.select(group="console_scripts", name="amqtt")
    if not found:
        raise BrokerError("the installed amqtt declares no 'amqtt' console script (its broker)")
    (script,) = found
    return script


def amqtt_launcher(directory: Path, start_timeout: float) -> Launcher:
    """amqtt (the ``demo`` extra) on a free loopback port, its config and log in ``directory``,
    started through its ``amqtt`` console script (see :func:`amqtt_entry_point`)."""
    script = amqtt_entry_point()
    port = free_port(Launcher.host)
    config = directory / "amqtt.yaml"
    config.write_text(
        "---\nlisteners:\n  default:\n    type: tcp\n"
        f"    bind: {Launcher.host}:{port}\n"
        "plugins:\n  amqtt.plugins.authentication.AnonymousAuthPlugin:\n"
        "    allow_anonymous: true\n"
    )
    command = [
        sys.executable,
        "-c",
        _RUN_CONSOLE_SCRIPT,
        script.name,
        script.value,
        "-c",
        str(config),
    ]
    return Launcher(
        "amqtt",
        command,
        port=port,
        log=directory / "amqtt.log",
        start_timeout=start_timeout,
        poll_interval=POLL_INTERVAL,
        own_session=True,
    )
