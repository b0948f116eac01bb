"""Developer sessions. ``nox`` alone runs tests, lint and typing (what CI runs)."""

from __future__ import annotations

import os

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
    session.install("-e", ".[test,demo]")  # the demo's tests drive its dashboard and brokers
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


#: ``benchmarks/<name>_bench.py``, in the order ``nox -s bench`` runs them
BENCHMARKS = (
    "store",
    "autolock",
    "sync",
    "access",
    "eventstream",
    "mqtt",
    "zigbee2mqtt",
    "zwave_js",
    "storm",
)


@nox.session(python=PYTHON)
def bench(session: nox.Session) -> None:
    """Benchmarks; each prints a Markdown table for the README. Arguments go to every benchmark
    run (``nox -s bench -- --quick``); names first run only those (``nox -s bench -- store
    --quick``, ``nox -s bench -- sync eventstream``)."""
    args = list(session.posargs)
    names = []
    while args and not args[0].startswith("-"):
        names.append(os.path.basename(args.pop(0)).removesuffix(".py").removesuffix("_bench"))
    unknown = [name for name in names if name not in BENCHMARKS]
    if unknown:
        session.error(f"no benchmark {', '.join(unknown)}; there are {', '.join(BENCHMARKS)}")
    session.install("-e", ".[bench]")
    for name in names or BENCHMARKS:
        session.run("python", f"benchmarks/{name}_bench.py", *args)


@nox.session(python=PYTHON)
def demo(session: nox.Session) -> None:
    """The simulated-site demo on embedded defaults."""
    session.install("-e", ".[demo]")
    session.run("python", "-m", "trio_locksync", "demo", *session.posargs)


PYPROJECT = nox.project.load_toml("pyproject.toml")


@nox.session(python=PYTHON)
def docs(session: nox.Session) -> None:
    """The documentation (guides and the API reference from the docstrings) into
    ``docs/_build/html``; every warning is an error, every cross-reference must resolve."""
    session.install("-e", ".")
    session.install(*nox.project.dependency_groups(PYPROJECT, "docs"))
    session.run(
        "sphinx-build",
        "-W",
        "--keep-going",
        "-n",
        "-E",
        "-b",
        "html",
        "docs",
        "docs/_build/html",
        *session.posargs,
    )
