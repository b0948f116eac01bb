"""What a user's type checker sees (issue 23): a small user program checked with
``mypy --strict`` and with pyright in strict mode, against this package.

``GOOD`` must check clean: a ``return`` inside ``async with Zigbee2MqttLock(...)`` (its
``__aexit__`` returns None, so the block cannot swallow an exception and the function is seen to
return), a ``Store[...]`` whose ``load()`` is typed, QoS values that are ``QoS``. In ``BAD``
every line marked ``# error`` -- and no other -- must be reported: ``qos=3`` and a QoS 2
subscription refused statically, and a typed store's data used as the wrong type (which passes
silently if ``load()`` returns ``Any``).

Each checker is skipped, with the reason, when it is not installed (``nox -s pyright`` installs
both and runs this file).
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

import trio_locksync

GOOD = """\
from __future__ import annotations

from trio_locksync import MqttBridge, Store, Zigbee2MqttLock, open_store
from trio_locksync.mqtt import QoS


async def pushes(bridge: MqttBridge) -> bool:
    async with Zigbee2MqttLock(bridge, "front_door") as lock:
        return lock.supports_push


async def doors(path: str) -> int:
    store: Store[dict[str, int]]
    async with open_store(path) as store:
        data = await store.load()
        if data is None:
            store.delay_save(lambda: {"doors": 0})
            return 0
        await store.save({"doors": data["doors"] + 1})
        return data["doors"]


async def untyped(path: str) -> None:
    async with open_store(path) as store:
        await store.save([1, "two"])


async def relay(bridge: MqttBridge, level: QoS) -> QoS:
    await bridge.publish("home/door", b"x", qos=level)
    async with bridge.subscribe("home/#", qos=1) as subscription:
        async for message in subscription:
            return message.qos
    return 0
"""

BAD = """\
from __future__ import annotations

from trio_locksync import MqttBridge, Store
from trio_locksync.mqtt import MqttWill


async def wrong(bridge: MqttBridge, store: Store[dict[str, int]]) -> None:
    await bridge.publish("home/door", b"x", qos=3)  # error
    async with bridge.subscribe("home/#", qos=2):  # error
        pass
    data = await store.load()
    if data is not None:
        name: str = data["doors"]  # error
        print(name)
    await store.save({"doors": "three"})  # error
    MqttWill("home/will", b"gone", qos=3)  # error
"""

#: the checkout this package was imported from (None: an installed wheel, found as it is)
_CHECKOUT = Path(trio_locksync.__file__).resolve().parent.parent
if not (_CHECKOUT / "pyproject.toml").exists():  # pragma: no cover - installed from a wheel
    _CHECKOUT = None


def _write_program(directory: Path) -> None:
    (directory / "good.py").write_text(GOOD)
    (directory / "bad.py").write_text(BAD)


def _marked(source: str) -> set[int]:
    return {n for n, line in enumerate(source.splitlines(), 1) if line.endswith("# error")}


def _needs(module: str) -> None:
    if importlib.util.find_spec(module) is None:
        pytest.skip(f"{module} is not installed here (nox -s pyright installs it)")


def _check(found: dict[str, set[int]], output: str) -> None:
    assert found.get("good.py", set()) == set(), output
    assert found.get("bad.py", set()) == _marked(BAD), output


def test_mypy_strict_sees_the_public_types(tmp_path: Path) -> None:
    _needs("mypy")
    _write_program(tmp_path)
    env = dict(os.environ)
    if _CHECKOUT is not None:
        env["MYPYPATH"] = str(_CHECKOUT)
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "mypy",
            "--strict",
            "--cache-dir",
            str(tmp_path / ".mypy_cache"),
            "good.py",
            "bad.py",
        ],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    output = result.stdout + result.stderr
    found: dict[str, set[int]] = {}
    for match in re.finditer(r"^(\w+\.py):(\d+): error:", result.stdout, re.MULTILINE):
        found.setdefault(match[1], set()).add(int(match[2]))
    assert result.returncode in (0, 1), output  # 2: mypy itself failed
    _check(found, output)


def test_pyright_strict_sees_the_public_types(tmp_path: Path) -> None:
    _needs("pyright")
    _write_program(tmp_path)
    config: dict[str, object] = {"typeCheckingMode": "strict"}
    if _CHECKOUT is not None:
        config["extraPaths"] = [str(_CHECKOUT)]
    (tmp_path / "pyrightconfig.json").write_text(json.dumps(config))
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "pyright",
            "--outputjson",
            "--pythonpath",
            sys.executable,
            "good.py",
            "bad.py",
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=False,
    )
    output = result.stdout + result.stderr
    assert result.returncode in (0, 1), output  # 2 and up: pyright itself failed
    found: dict[str, set[int]] = {}
    for diagnostic in json.loads(result.stdout)["generalDiagnostics"]:
        if diagnostic["severity"] == "error":
            name = Path(diagnostic["file"]).name
            found.setdefault(name, set()).add(diagnostic["range"]["start"]["line"] + 1)
    _check(found, output)
