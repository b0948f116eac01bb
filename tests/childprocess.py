"""A child process the crash tests read line by line, with a timeout on every read."""

from __future__ import annotations

import contextlib
import os
import select
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

#: generous: a child's Python start-up on a loaded 2-core CI box
LINE_TIMEOUT = 30.0


class ChildFailed(AssertionError):
    pass


class Child:
    """A running child process: line-based reading of its stdout with a timeout."""

    def __init__(self, argv: list[str], stderr_path: Path) -> None:
        self._stderr_path = stderr_path
        with open(stderr_path, "wb") as stderr:
            self.proc = subprocess.Popen(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=stderr,
            )
        assert self.proc.stdout is not None
        self._stdout = self.proc.stdout
        self._buffer = b""

    def fail(self, where: str, message: str) -> ChildFailed:
        stderr = self._stderr_path.read_text(errors="replace")[-4000:]
        return ChildFailed(f"{where}: {message}\n--- child stderr ---\n{stderr}")

    def read_line(self, where: str) -> str | None:
        """The next line, or None at end of output (the child exited or was killed)."""
        deadline = time.monotonic() + LINE_TIMEOUT
        fd = self._stdout.fileno()
        while b"\n" not in self._buffer:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise self.fail(where, f"no line from the child within {LINE_TIMEOUT} s")
            ready, _, _ = select.select([fd], [], [], remaining)
            if not ready:
                continue
            chunk = os.read(fd, 65536)
            if not chunk:
                if self._buffer:
                    raise self.fail(where, f"partial last line {self._buffer!r}")
                return None
            self._buffer += chunk
        line, _, self._buffer = self._buffer.partition(b"\n")
        return line.decode("ascii")

    def expect(self, where: str, first_word: str) -> list[str]:
        """The next line, split; it must start with ``first_word``."""
        line = self.read_line(where)
        if line is None:
            raise self.fail(where, f"the child exited before saying {first_word!r}")
        words = line.split()
        if not words or words[0] != first_word:
            raise self.fail(where, f"expected {first_word!r}, the child said {line!r}")
        return words

    def kill(self, where: str) -> list[str]:
        """SIGKILL the child, reap it and return the lines it wrote that were not read yet."""
        self.proc.kill()
        self.proc.wait(timeout=LINE_TIMEOUT)
        lines = []
        while (line := self.read_line(where)) is not None:
            lines.append(line)
        if self.proc.returncode != -signal.SIGKILL:
            raise self.fail(where, f"the child exited by itself (status {self.proc.returncode})")
        return lines

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=LINE_TIMEOUT)
        self._stdout.close()


@contextlib.contextmanager
def spawn(argv: list[str], stderr_path: Path) -> Iterator[Child]:
    """Run ``argv``; the child is killed (if still running) and reaped on exit."""
    child = Child(argv, stderr_path)
    try:
        yield child
    finally:
        child.close()
