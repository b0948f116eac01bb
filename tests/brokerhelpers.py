"""A real mosquitto broker, started by the tests on a free loopback port with its own config.

CI installs mosquitto with apt; where it cannot be found the tests that need it skip, saying so.
The config raises ``max_queued_messages`` (mosquitto's default 1000 drops the rest of a slow
consumer's queue) and, unless asked, keeps no persistence file.
"""

from __future__ import annotations

import getpass
import os
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

import pytest

MOSQUITTO = shutil.which("mosquitto") or (
    "/usr/sbin/mosquitto" if os.path.exists("/usr/sbin/mosquitto") else None
)
MOSQUITTO_PASSWD = shutil.which("mosquitto_passwd") or (
    "/usr/bin/mosquitto_passwd" if os.path.exists("/usr/bin/mosquitto_passwd") else None
)

needs_mosquitto = pytest.mark.skipif(
    MOSQUITTO is None, reason="mosquitto is not installed (CI installs it with apt-get)"
)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Broker:
    """One mosquitto process; ``stop``/``kill``/``start`` again on the same port."""

    def __init__(
        self,
        directory: Path,
        *,
        persistence: bool = False,
        passwords: dict[str, str] | None = None,
        tls: tuple[Path, Path, Path] | None = None,
        extra: str = "",
    ) -> None:
        assert MOSQUITTO is not None
        self.directory = directory
        self.port = free_port()
        self.config = directory / "mosquitto.conf"
        lines = [
            # As whoever runs the tests: started as root, mosquitto would switch to the
            # "mosquitto" user, which cannot write its persistence file in our directory.
            f"user {getpass.getuser()}",
            f"listener {self.port} 127.0.0.1",
            "max_queued_messages 1000000",
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
        if passwords is not None:
            assert MOSQUITTO_PASSWD is not None, "mosquitto_passwd is not installed"
            password_file = directory / "passwords"
            password_file.touch()
            for user, password in passwords.items():
                subprocess.run(
                    [MOSQUITTO_PASSWD, "-b", str(password_file), user, password], check=True
                )
            lines += ["allow_anonymous false", f"password_file {password_file}"]
        else:
            lines.append("allow_anonymous true")
        if tls is not None:
            ca, cert, key = tls
            lines += [f"cafile {ca}", f"certfile {cert}", f"keyfile {key}"]
        lines.append(extra)
        self.config.write_text("\n".join(lines) + "\n")
        self.log = directory / "mosquitto.log"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        assert self.process is None
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(
                [MOSQUITTO, "-c", str(self.config)], stdout=log, stderr=log
            )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                return
            except OSError:
                if self.process.poll() is not None:
                    log = self.log.read_text()[-2000:]
                    raise RuntimeError(f"mosquitto exited: {log}") from None
                time.sleep(0.02)
        raise RuntimeError("mosquitto did not start listening within 10 s")

    def stop(self, sig: int = signal.SIGTERM) -> None:
        """Stop the broker (SIGTERM lets it save its persistence file; SIGKILL does not)."""
        process, self.process = self.process, None
        if process is None:
            return
        process.send_signal(sig)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:  # pragma: no cover - a hung broker
            process.kill()
            process.wait()

    def kill(self) -> None:
        self.stop(signal.SIGKILL)

    def __enter__(self) -> Broker:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()
