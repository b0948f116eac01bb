"""Every Python example in README.md runs, as written, in a fresh process.

The examples name the places a real installation has — ``/var/lib/site/``, ``http://isy.local``,
``broker.local:1883`` — and this test points those at what it starts itself: a temp directory,
the ISY controller simulator on 127.0.0.1, and a mosquitto broker. Nothing else is changed, so
the README cannot drift from what the library does.
"""

from __future__ import annotations

import contextlib
import re
import sys
import textwrap
from pathlib import Path

import pytest
import trio

from trio_locksync.testing.isy import IsyController
from trio_locksync.testing.zwave_js import open_zwave_js_server

from .brokerhelpers import MOSQUITTO, Broker

README = Path(__file__).parent.parent / "README.md"
BLOCK = re.compile(r"^```python\n(.*?)^```", re.S | re.M)


def examples() -> list[str]:
    return BLOCK.findall(README.read_text())


def test_every_example_is_a_whole_program() -> None:
    found = examples()
    assert len(found) >= 5
    for code in found:
        assert re.search(r"^(trio|anyio)\.run\(", code, re.M), code[:200]


def _prepare(
    code: str, tmp_path: Path, isy_port: int, broker_port: int | None, zwave_url: str | None
) -> str:
    code = code.replace("/var/lib/site/", f"{tmp_path}/")
    if zwave_url is not None:
        code = code.replace('"ws://zwave.local:3000"', f'"{zwave_url}"')
    code = code.replace('"http://isy.local"', f'"http://127.0.0.1:{isy_port}"')
    if broker_port is not None:
        code = code.replace('"broker.local", 1883', f'"127.0.0.1", {broker_port}')
    return code


@pytest.mark.parametrize("index", range(len(examples())))
async def test_readme_example_runs(index: int, tmp_path: Path) -> None:
    code = examples()[index]
    needs_broker = "broker.local" in code
    if needs_broker and MOSQUITTO is None:
        pytest.skip("mosquitto is not installed (CI installs it with apt-get)")
    controller = IsyController(heartbeat=1.0)
    for n in range(3):
        controller.set_status(f"1A 2B 3C {n}", 100, uom="11")
    broker = Broker(tmp_path) if needs_broker else None
    if broker is not None:
        broker.start()
    try:
        async with contextlib.AsyncExitStack() as stack:
            zwave_url = None
            if "zwave.local" in code:  # the real Z-Wave JS Server on the mock controller
                server = await stack.enter_async_context(open_zwave_js_server())
                await server.wait_nodes_ready()
                zwave_url = server.url
            nursery = await stack.enter_async_context(trio.open_nursery())
            await nursery.start(controller.serve)

            async def live_event() -> None:
                await trio.sleep(1.5)  # after the replay went quiet
                controller.set_status("1A 2B 3C 0", 0, uom="11")

            nursery.start_soon(live_event)
            script = _prepare(
                code, tmp_path, controller.port, broker.port if broker else None, zwave_url
            )
            result = await trio.run_process(
                [sys.executable, "-c", script],
                cwd=tmp_path,
                capture_stdout=True,
                capture_stderr=True,
                check=False,
            )
            nursery.cancel_scope.cancel()
    finally:
        if broker is not None:
            broker.stop()
    assert result.returncode == 0, (
        f"README example {index + 1} failed:\n{textwrap.indent(code, '    ')}\n"
        f"stderr:\n{result.stderr.decode()[-3000:]}"
    )
