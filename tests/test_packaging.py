"""What pyproject.toml promises a user: a long description a package index can show (no link
into the repository left: there it leads nowhere), development tools in dependency groups and
not as extras, every dependency with a floor (``nox -s lowest`` installs them) and no exact pin,
and classifiers that are true. The built distributions themselves are checked by
``nox -s package`` (twine check, the wheel installed alone and its demo run)."""

from __future__ import annotations

import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet

ROOT = Path(__file__).resolve().parent.parent
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
PROJECT = PYPROJECT["project"]

FENCE = re.compile(r"^(```|~~~).*?^\1[ \t]*$", re.MULTILINE | re.DOTALL)
CODE_SPAN = re.compile(r"(`+)(?!`).+?(?<!`)\1(?!`)", re.DOTALL)
#: markdown links and images ``[text](target)``, ``![alt](target)``
INLINE = re.compile(r"!?\[(?:[^\]\\]|\\.)*\]\(\s*<?([^)\s>]*)")
#: reference definitions ``[name]: target``
REFERENCE = re.compile(r"^ {0,3}\[[^\]]+\]:\s*<?(\S+?)>?(?:\s|$)", re.MULTILINE)
#: HTML ``<img src=...>``, ``<a href=...>``
HTML = re.compile(r"<(?:img|a|source)\b[^>]*\b(?:src|href|srcset)\s*=\s*[\"']?([^\"'\s>]+)", re.I)
ABSOLUTE = re.compile(r"^(https?|mailto):", re.IGNORECASE)


def long_description() -> str:
    """The long description the build puts in the metadata (README.md through the
    hatch-fancy-pypi-readme substitutions in pyproject.toml), rendered by the plugin itself."""
    assert "readme" in PROJECT["dynamic"], "the long description is made by the metadata hook"
    done = subprocess.run(
        [sys.executable, "-m", "hatch_fancy_pypi_readme", "pyproject.toml"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def link_targets(markdown: str) -> list[str]:
    """Every link and image target outside code (fenced blocks and code spans)."""
    prose = CODE_SPAN.sub("", FENCE.sub("", markdown))
    return [target for pattern in (INLINE, REFERENCE, HTML) for target in pattern.findall(prose)]


def relative(targets: list[str]) -> list[str]:
    return [target for target in targets if not ABSOLUTE.match(target)]


def test_the_long_description_has_no_link_a_package_index_cannot_follow() -> None:
    """Relative links and images (and links to a heading: an index gives headings no anchors)
    would lead nowhere on a package index; the README keeps them for readers of the
    repository, the long description says the path instead."""
    rendered = long_description()
    assert relative(link_targets(rendered)) == []
    assert rendered.startswith((ROOT / "README.md").read_text().splitlines()[0])


def test_the_long_description_keeps_the_readme_code_as_it_is() -> None:
    """The substitutions touch prose only: every code block of the README is there unchanged
    (a regex that rewrote ``handlers[i](event)`` in an example would show here)."""
    readme = (ROOT / "README.md").read_text()
    assert FENCE.findall(readme), "the README has code blocks"
    blocks = [match.group(0) for match in FENCE.finditer(readme)]
    assert [match.group(0) for match in FENCE.finditer(long_description())] == blocks


@pytest.mark.parametrize(
    ("markdown", "found"),
    [
        ("see [the guide](docs/guides/store.md).", ["docs/guides/store.md"]),
        ("![plot](docs/storm/a.png)", ["docs/storm/a.png"]),
        ("[up](#quick-start)", ["#quick-start"]),
        ('<img src="docs/a.png">', ["docs/a.png"]),
        ("[guide]: docs/guides/store.md", ["docs/guides/store.md"]),
        ("[trio](https://trio.readthedocs.io)", []),
        ("`handlers[i](event)` and\n```python\nx = [a](b)\n```\n", []),
    ],
)
def test_the_link_check_finds_relative_links(markdown: str, found: list[str]) -> None:
    assert relative(link_targets(markdown)) == found


def test_development_tools_are_dependency_groups_not_extras() -> None:
    """Extras are for users (``demo``: the dashboard and a broker); the tools that develop this
    package are PEP 735 groups, which are not published with it."""
    assert set(PROJECT["optional-dependencies"]) == {"demo"}
    assert {"test", "lint", "typing", "bench", "docs"} <= set(PYPROJECT["dependency-groups"])


def runtime_requirements() -> list[Requirement]:
    return [
        Requirement(text)
        for text in (*PROJECT["dependencies"], *PROJECT["optional-dependencies"]["demo"])
    ]


@pytest.mark.parametrize("requirement", runtime_requirements(), ids=str)
def test_every_dependency_has_a_floor_and_no_exact_pin(requirement: Requirement) -> None:
    """``nox -s lowest`` installs each floor (``>=X`` as ``==X``) and runs the suite; an exact
    pin would fight every other package a user installs beside this one."""
    operators = [spec.operator for spec in requirement.specifier]
    assert operators.count(">=") + operators.count("~=") == 1
    assert "==" not in operators and "===" not in operators


def test_the_python_classifiers_are_the_pythons_we_test() -> None:
    """``nox -s versions`` runs the suite on each Python a classifier names (nox reads the
    classifiers); those must be allowed by requires-python, the oldest one its floor."""
    classifiers = PROJECT["classifiers"]
    prefix = "Programming Language :: Python :: 3."
    minors = sorted(int(c.removeprefix(prefix)) for c in classifiers if c.startswith(prefix))
    assert minors == list(range(minors[0], minors[-1] + 1)), "no gap in the minor versions"
    requires = SpecifierSet(PROJECT["requires-python"])
    assert all(f"3.{minor}" in requires for minor in minors)
    assert f"3.{minors[0] - 1}" not in requires
    assert "Programming Language :: Python :: 3 :: Only" in classifiers
    # anyio's asyncio backend is refused at the first call (TrioRequiredError): trio only
    assert "Framework :: AnyIO" not in classifiers and "Framework :: Trio" in classifiers
