"""Developer sessions. ``nox`` alone runs tests, lint and typing; CI (``.ci/run``) runs the
suite on every Python we support and on the lowest dependency versions, and the other checks."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterable
from pathlib import Path

import nox
from packaging.requirements import Requirement

nox.needs_version = ">=2025.2.9"  # nox.project.dependency_groups
nox.options.sessions = ["tests", "lint", "typing"]
nox.options.reuse_existing_virtualenvs = True
nox.options.error_on_missing_interpreters = True

PYPROJECT = nox.project.load_toml("pyproject.toml")

# None: the interpreter nox itself runs on (any Python >= 3.11), so a fresh machine needs no
# particular minor version installed.
PYTHON = None
#: the Pythons the classifiers name (3.11, 3.12, 3.13): ``nox -s versions`` runs the suite on each
PYTHONS = nox.project.python_versions(PYPROJECT)


def group(*names: str) -> tuple[str, ...]:
    """The requirements of pyproject.toml's dependency groups (development tools)."""
    return nox.project.dependency_groups(PYPROJECT, *names)


def floors(requirements: Iterable[str]) -> list[str]:
    """``name==X`` for each requirement's lowest allowed version (its ``>=X`` or ``~=X``)."""
    pins = []
    for text in requirements:
        requirement = Requirement(text)
        lowest = [spec.version for spec in requirement.specifier if spec.operator in {">=", "~="}]
        if len(lowest) != 1:
            raise ValueError(f"{text!r} has no lowest version (>= or ~=) for nox -s lowest")
        pins.append(f"{requirement.name}=={lowest[0]}")
    return pins


def install_for_tests(session: nox.Session, *args: str) -> None:
    """The package (editable, with the demo extra: the demo's tests drive its dashboard and
    brokers) and the test group."""
    session.install(*args, "-e", ".[demo]", *group("test"))


@nox.session(python=PYTHON)
def tests(session: nox.Session) -> None:
    """The test suite (real files, real threads, virtual time where time matters)."""
    install_for_tests(session)
    session.run("pytest", *session.posargs)


@nox.session(python=PYTHONS)
def versions(session: nox.Session) -> None:
    """The test suite on each Python we support (``nox -s versions``), or on one
    (``nox -s versions-3.13``); the interpreters must be on PATH as ``python3.X``."""
    install_for_tests(session)
    session.run("pytest", *session.posargs)


@nox.session(python=PYTHONS[0])
def lowest(session: nox.Session) -> None:
    """The test suite on the lowest versions pyproject.toml allows, on the oldest Python: each
    dependency's (and the demo extra's) ``>=X`` installed as ``==X``, read from pyproject.toml at
    run time. A floor that is not true fails here."""
    project = PYPROJECT["project"]
    pins = floors([*project["dependencies"], *project["optional-dependencies"]["demo"]])
    location = Path(session.virtualenv.location)
    constraints = location / "lowest-constraints.txt"
    constraints.write_text("".join(f"{pin}\n" for pin in pins))
    install_for_tests(session, "-c", str(constraints))
    check = location / "check_lowest.py"
    check.write_text(_CHECK_INSTALLED)
    session.run("python", str(check), *pins)
    session.run("pytest", *session.posargs)


#: fails unless each ``name==X`` given is the version installed, and says which are
_CHECK_INSTALLED = """\
import sys
from importlib.metadata import version
from packaging.requirements import Requirement
wrong = []
for pin in map(Requirement, sys.argv[1:]):
    installed = version(pin.name)
    print(f"lowest: {pin.name} {installed}")
    if not pin.specifier.contains(installed, prereleases=True):
        wrong.append(f"{pin.name} {installed} (not {pin.specifier})")
sys.exit(f"not the lowest versions: {', '.join(wrong)}" if wrong else None)
"""


@nox.session(python=PYTHON)
def stress(session: nox.Session) -> None:
    """Crash consistency at full size: 2,000 SIGKILLs of a process saving in a loop, and 200 of
    one arming autolock timers."""
    session.install("-e", ".", *group("test"))
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
    session.install(*group("lint"))
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", ".")


@nox.session(python=PYTHON)
def typing(session: nox.Session) -> None:
    """mypy --strict on the package."""
    session.install("-e", ".", *group("typing"))
    session.run("mypy", "--strict", "trio_locksync")


@nox.session(python=PYTHON)
def pyright(session: nox.Session) -> None:
    """What users' type checkers see: ``pyright --verifytypes`` on the public API (it fails
    unless every symbol of ours is typed; external packages' own gaps ignored) and
    ``tests/test_typing_public.py`` (a small user program under mypy --strict and pyright)."""
    session.install("-e", ".", *group("test", "typing"), "pyright>=1.1.414")
    # pyright's pip wrapper asks PyPI for a newer pyright at every run unless told not to
    session.env["PYRIGHT_PYTHON_IGNORE_WARNINGS"] = "1"
    session.run("pyright", "--verifytypes", "trio_locksync", "--ignoreexternal")
    session.run("pytest", "tests/test_typing_public.py", *session.posargs)


@nox.session(python=PYTHON)
def package(session: nox.Session) -> None:
    """The distributions as a user gets them: the sdist and the wheel built from it
    (``python -m build``), ``twine check --strict``; then only the wheel, with its ``demo`` extra,
    installed into a fresh venv (not this session's), and ``trio-locksync --version`` and a short
    demo (on amqtt, the extra's broker) run from there, outside the repository."""
    session.install("build>=1.2", "twine>=6.1")
    work = Path(session.virtualenv.location) / "package"
    shutil.rmtree(work, ignore_errors=True)
    dist = work / "dist"
    session.run("python", "-m", "build", "--outdir", str(dist), ".")
    session.run("twine", "check", "--strict", *map(str, sorted(dist.iterdir())))
    (wheel,) = dist.glob("*.whl")
    fresh = work / "venv"
    session.run("python", "-m", "venv", str(fresh))
    pip = [str(fresh / "bin" / "python"), "-m", "pip", "install", "-q"]
    session.run(*pip, f"{wheel}[demo]", external=True)
    script = str(fresh / "bin" / "trio-locksync")
    demo = ["demo", "--no-tui", "--duration", "8", "--no-zwave", "--broker", "amqtt"]
    with session.chdir(work):  # nothing importable from the repository
        session.run(script, "--version", external=True)
        out = session.run(
            script, *demo, "--state-dir", str(work / "state"), external=True, silent=True
        )
    print(out)
    if not isinstance(out, str) or "summary:" not in out:
        session.error("the demo installed from the wheel printed no summary")


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
    session.install("-e", ".", *group("bench"))
    for name in names or BENCHMARKS:
        session.run("python", f"benchmarks/{name}_bench.py", *args)


@nox.session(python=PYTHON)
def demo(session: nox.Session) -> None:
    """The simulated-site demo on embedded defaults."""
    session.install("-e", ".[demo]")
    session.run("python", "-m", "trio_locksync", "demo", *session.posargs)


@nox.session(python=PYTHON)
def docs(session: nox.Session) -> None:
    """The documentation (guides and the API reference from the docstrings) into
    ``docs/_build/html``; every warning is an error, every cross-reference must resolve."""
    session.install("-e", ".", *group("docs"))
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
