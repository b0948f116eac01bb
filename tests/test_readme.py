"""Every Python example in README.md and in the guides under docs/ runs, as written, in a
fresh process.

The examples start what they need themselves from ``trio_locksync.testing`` — a simulated ISY
controller, an MQTT broker (mosquitto), a simulated Zigbee2MQTT, the real Z-Wave JS Server on
its mock controller — and keep their files in temporary directories, so nothing here changes a
line of them: what a reader copies is what was run. Examples that start a broker skip where
mosquitto is not installed, and the Z-Wave JS one where node >= 20 is not; each says why.

Each example ends with what it prints, as comment lines after ``trio.run(main)``::

    # prints:
    # {'front_door': {'slot_1': 'Anna'}}

and the output must be exactly those lines. An example whose output depends on the clock (which
hours a weekly grant is on) says ``# prints, for example:`` instead; its output must have as many
lines, each starting with the same word. Every example carries one of the two markers.
"""

from __future__ import annotations

import re
import sys
import textwrap
from pathlib import Path

import pytest
import trio

from trio_locksync.testing.zwave_js import ZWaveJsUnavailable, find_node

from .brokerhelpers import MOSQUITTO

ROOT = Path(__file__).parent.parent
README = ROOT / "README.md"
BLOCK = re.compile(r"^```python\n(.*?)^```", re.S | re.M)
#: names of the places a real installation has, which an example that runs here cannot use
PLACEHOLDERS = ("isy.local", "broker.local", "zwave.local", "/var/lib/site")
#: the comment line that starts an example's output: exact, or (with "for example") its shape
PRINTS = re.compile(r"^# prints(?P<loose>, for example)?:\n(?P<lines>(?:#(?: .*)?\n)*)\Z", re.M)


def _documents() -> list[Path]:
    docs = sorted(path for path in (ROOT / "docs").rglob("*.md") if "_build" not in path.parts)
    return [README, *docs]


def _examples() -> dict[str, str]:
    """Each distinct example, by where it first appears (``README.md:123``)."""
    found: dict[str, str] = {}
    for path in _documents():
        text = path.read_text()
        for match in BLOCK.finditer(text):
            code = match.group(1)
            if code not in found.values():
                line = text.count("\n", 0, match.start()) + 2
                found[f"{path.relative_to(ROOT)}:{line}"] = code
    return found


EXAMPLES = _examples()


def _expected(code: str) -> tuple[list[str], bool]:
    """The lines an example says it prints, and whether only their shape is promised."""
    match = PRINTS.search(code)
    assert match is not None, "no '# prints:' block at the end of the example"
    lines = [line.removeprefix("#").removeprefix(" ") for line in match["lines"].splitlines()]
    return lines, match["loose"] is not None


def _node_missing() -> str | None:
    try:
        find_node()
    except ZWaveJsUnavailable as exc:
        return str(exc)
    return None


def test_the_readme_is_a_front_door() -> None:
    """At most ~400 lines, the two quick-start lines as CI reads them (``.ci/run``), and an
    example for each part of the library."""
    text = README.read_text()
    assert text.count("\n") <= 400
    for comment in ("runs the demo", "runs the tests"):
        assert re.search(rf"^nox .*# {comment}$", text, re.M), comment
    code = "\n".join(BLOCK.findall(text))
    for entry in (
        "open_store",
        "open_autolock",
        "open_lock_sync",
        "open_isy_event_stream",
        "open_mqtt_bridge",
        "Zigbee2MqttLock",
        "open_zwave_js",
        "open_access_plan",
    ):
        assert f"{entry}(" in code, entry


@pytest.mark.parametrize("where", list(EXAMPLES))
def test_every_example_is_a_whole_program_that_runs_here(where: str) -> None:
    code = EXAMPLES[where]
    assert re.search(r"^(trio|anyio)\.run\(", code, re.M), where
    for placeholder in PLACEHOLDERS:
        assert placeholder not in code, f"{where} names {placeholder}: it cannot run as written"
    lines, _ = _expected(code)
    assert lines, f"{where} says it prints nothing"


@pytest.mark.parametrize("where", list(EXAMPLES))
async def test_example_runs(where: str, tmp_path: Path) -> None:
    code = EXAMPLES[where]
    if "open_mqtt_broker" in code and MOSQUITTO is None:
        pytest.skip("mosquitto is not installed (CI installs it with apt-get)")
    if "open_zwave_js_server" in code and (missing := _node_missing()) is not None:
        pytest.skip(f"the real Z-Wave JS Server cannot run here: {missing}")
    with trio.fail_after(600):  # a hung example fails instead of hanging the suite
        result = await trio.run_process(
            [sys.executable, "-c", code],
            cwd=tmp_path,
            capture_stdout=True,
            capture_stderr=True,
            check=False,
        )
    assert result.returncode == 0, (
        f"the example at {where} failed:\n{textwrap.indent(code, '    ')}\n"
        f"stderr:\n{result.stderr.decode()[-3000:]}"
    )
    printed = result.stdout.decode().splitlines()
    expected, loose = _expected(code)
    if loose:  # the clock decides some words: the same lines, each starting as shown
        assert [line.split()[:1] for line in printed] == [line.split()[:1] for line in expected], (
            f"the example at {where} printed:\n{result.stdout.decode()}"
        )
    else:
        assert printed == expected, f"the example at {where} printed something else"
