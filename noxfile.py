"""Developer sessions. ``nox`` alone runs tests, lint and typing (what CI runs)."""

from __future__ import annotations

import nox

nox.options.sessions = ["tests", "lint", "typing"]
nox.options.reuse_existing_virtualenvs = True
nox.options.error_on_missing_interpreters = True

# None: the interpreter nox itself runs on (any Python >= 3.11), so a fresh machine needs no
# particular minor version installed.
PYTHON = None


@nox.session(python=PYTHON)
def tests(session: nox.Session) -> None:
    """The test suite (real files, real threads, virtual time where time matters)."""
    session.install("-e", ".[test]")
    session.run("pytest", *session.posargs)


@nox.session(python=PYTHON)
def stress(session: nox.Session) -> None:
    """Crash consistency at full size: 2,000 SIGKILLs of a process saving in a loop, and 200 of
    one arming autolock timers."""
    session.install("-e", ".[test]")
    session.env["TRIO_LOCKSYNC_CRASH_KILLS"] = "2000"
    session.env["TRIO_LOCKSYNC_AUTOLOCK_KILLS"] = "200"
    session.run(
        "pytest",
        "tests/test_store_crash.py",
        "tests/test_autolock_crash.py",
        "-v",
        *session.posargs,
    )


@nox.session(python=PYTHON)
def lint(session: nox.Session) -> None:
    """ruff (with its flake8-async rules) and the formatter check."""
    session.install("-e", ".[lint]")
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", ".")


@nox.session(python=PYTHON)
def typing(session: nox.Session) -> None:
    """mypy --strict on the package."""
    session.install("-e", ".[typing]")
    session.run("mypy", "--strict", "trio_locksync")


@nox.session(python=PYTHON)
def bench(session: nox.Session) -> None:
    """Benchmarks; each prints a Markdown table for the README."""
    session.install("-e", ".")
    session.run("python", "benchmarks/store_bench.py", *session.posargs)
    session.run("python", "benchmarks/autolock_bench.py", *session.posargs)
    session.run("python", "benchmarks/sync_bench.py", *session.posargs)
    session.run("python", "benchmarks/eventstream_bench.py", *session.posargs)


@nox.session(python=PYTHON)
def demo(session: nox.Session) -> None:
    """The simulated-site demo on embedded defaults."""
    session.install("-e", ".")
    session.run("python", "-m", "trio_locksync", "demo", *session.posargs)
