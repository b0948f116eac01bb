"""trio only, said at the first call (issue 23): under anyio's asyncio backend every public entry
point raises ``TrioRequiredError`` with one sentence, before it does anything; under anyio's trio
backend the same calls work. Real parts: a real store file, a real mosquitto, the ISY simulator.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import anyio
import attrs
import pytest
import trio

from trio_locksync import (
    EventStreamStatus,
    LockSync,
    MqttBridge,
    MqttStatus,
    TrioRequiredError,
    VirtualLock,
    Zigbee2MqttLock,
    ZWaveJsStatus,
    open_access_plan,
    open_autolock,
    open_event_stream,
    open_isy_event_stream,
    open_lock_sync,
    open_mqtt_bridge,
    open_store,
    open_zwave_js,
)
from trio_locksync.testing import (
    IsyController,
    open_mqtt_broker,
    open_zigbee2mqtt_simulator,
    open_zwave_js_server,
)

from .brokerhelpers import Broker, free_port, needs_mosquitto
from .wshelpers import open_isy_server


def refusal(api: str, running: str | None = "asyncio") -> str:
    where = f"under {running}" if running else "outside any trio run"
    return (
        f"{api} runs on trio only (trio.run(main), or anyio.run(main, backend='trio')), "
        f"but was called {where}"
    )


@attrs.frozen
class Setting:
    """What a case needs: a directory, a port nobody listens on, a broker's port (0: none),
    and objects made in an earlier trio run (an asyncio program has no other way to get
    them; the check must come before they are looked at)."""

    tmp: Path
    closed_port: int
    broker_port: int
    old_sync: LockSync
    old_bridge: MqttBridge


async def _noop(timer_id: str) -> None:
    pass


async def _store(s: Setting, trio_backend: bool) -> None:
    async with open_store(s.tmp / "store.json") as store:
        await store.save({"n": 1})
        assert await store.load() == {"n": 1}


async def _autolock(s: Setting, trio_backend: bool) -> None:
    async with open_autolock(s.tmp / "timers.json", action=_noop) as service:
        report = await service.recover()
        assert (report.expired, report.resumed) == (0, 0)


async def _lock_sync(s: Setting, trio_backend: bool) -> None:
    lock = VirtualLock(latency=0.0)
    async with open_lock_sync(lock, {1: "1234"}, operation_spacing=0) as sync:
        await sync.wait_settled()
    assert lock.codes == {1: "1234"}


async def _access_plan(s: Setting, trio_backend: bool) -> None:
    path = s.tmp / "plan.json"
    if not trio_backend:
        async with open_access_plan(path, {"door": s.old_sync}):
            raise AssertionError("not reached")  # pragma: no cover
    async with (
        open_lock_sync(VirtualLock(latency=0.0), {}) as sync,
        open_access_plan(path, {"door": sync}) as plan,
    ):
        assert (plan.locks, plan.grants()) == (["door"], [])


async def _event_stream(s: Setting, trio_backend: bool) -> None:
    async with open_event_stream(f"ws://127.0.0.1:{s.closed_port}/") as stream:
        assert stream.status is not EventStreamStatus.DISCONNECTED
    assert stream.status is EventStreamStatus.DISCONNECTED


async def _isy_event_stream(s: Setting, trio_backend: bool) -> None:
    if not trio_backend:
        async with open_isy_event_stream(f"http://127.0.0.1:{s.closed_port}"):
            raise AssertionError("not reached")  # pragma: no cover
    async with (
        open_isy_server() as server,
        open_isy_event_stream(f"http://127.0.0.1:{server.port}", quiet=0.05) as stream,
    ):
        with trio.fail_after(10):
            await stream.wait_status(EventStreamStatus.CONNECTED)


async def _mqtt_bridge(s: Setting, trio_backend: bool) -> None:
    async with open_mqtt_bridge("127.0.0.1", s.broker_port) as bridge:
        with trio.fail_after(10):
            await bridge.wait_status(MqttStatus.CONNECTED)
        await bridge.publish("trio-required/test", b"x", qos=1)


async def _zigbee2mqtt_lock(s: Setting, trio_backend: bool) -> None:
    if not trio_backend:
        async with Zigbee2MqttLock(s.old_bridge, "door"):
            raise AssertionError("not reached")  # pragma: no cover
    async with open_mqtt_bridge("127.0.0.1", s.broker_port) as bridge:
        with trio.fail_after(10):
            await bridge.wait_status(MqttStatus.CONNECTED)
        async with Zigbee2MqttLock(bridge, "door") as lock:
            assert lock.friendly_name == "door"


async def _zwave_js(s: Setting, trio_backend: bool) -> None:
    async with open_zwave_js(f"ws://127.0.0.1:{s.closed_port}") as client:
        assert client.status is not ZWaveJsStatus.CONNECTED  # nobody listens: it keeps trying


async def _virtual_lock(s: Setting, trio_backend: bool) -> None:
    lock = VirtualLock(slots=3, latency=0.0)
    assert len(await lock.read_slots()) == 3


Case = Callable[[Setting, bool], Awaitable[None]]

#: entry point (as its refusal names it) → what a program's first use of it looks like
CASES: dict[str, Case] = {
    "open_store()": _store,
    "open_autolock()": _autolock,
    "open_lock_sync()": _lock_sync,
    "open_access_plan()": _access_plan,
    "open_event_stream()": _event_stream,
    "open_isy_event_stream()": _isy_event_stream,
    "open_mqtt_bridge()": _mqtt_bridge,
    "Zigbee2MqttLock": _zigbee2mqtt_lock,
    "open_zwave_js()": _zwave_js,
    "VirtualLock": _virtual_lock,
}
NEEDS_BROKER = {"open_mqtt_bridge()", "Zigbee2MqttLock"}


@pytest.fixture(scope="module")
def leftovers() -> tuple[LockSync, MqttBridge]:
    """An engine and a bridge from a trio run that has ended."""

    async def make() -> tuple[LockSync, MqttBridge]:
        async with open_lock_sync(VirtualLock(latency=0.0), {}) as sync:
            pass
        async with open_mqtt_bridge("127.0.0.1", free_port()) as bridge:
            pass
        return sync, bridge

    return trio.run(make)


@pytest.mark.parametrize("backend", ["asyncio", "trio"])
@pytest.mark.parametrize(
    "api",
    [pytest.param(a, marks=needs_mosquitto) if a in NEEDS_BROKER else a for a in CASES],
)
def test_each_entry_point_under_each_anyio_backend(
    request: pytest.FixtureRequest,
    tmp_path: Path,
    leftovers: tuple[LockSync, MqttBridge],
    api: str,
    backend: str,
) -> None:
    broker: Broker | None = (
        request.getfixturevalue("broker") if api in NEEDS_BROKER and backend == "trio" else None
    )
    setting = Setting(tmp_path, free_port(), broker.port if broker else free_port(), *leftovers)
    before = sorted(tmp_path.iterdir())
    if backend == "asyncio":
        with pytest.raises(TrioRequiredError) as caught:
            anyio.run(CASES[api], setting, False, backend="asyncio")
        assert str(caught.value) == refusal(api)
        assert (caught.value.api, caught.value.running) == (api, "asyncio")
        assert caught.value.__cause__ is None and caught.value.__suppress_context__
        assert sorted(tmp_path.iterdir()) == before  # refused before anything was made
    else:
        anyio.run(CASES[api], setting, True, backend="trio")


async def _entered(opened: Any) -> None:
    async with opened:
        raise AssertionError("not reached")  # pragma: no cover


async def _isy_serving(tmp: Path) -> None:
    await IsyController().serve()  # as a task group's start() would run it


async def _next(iterator: Any) -> None:
    await anext(iterator)


@pytest.mark.parametrize(
    ("api", "run"),
    [
        ("open_mqtt_broker()", lambda tmp: _entered(open_mqtt_broker(tmp))),
        ("open_zigbee2mqtt_simulator()", lambda tmp: _entered(open_zigbee2mqtt_simulator())),
        ("open_zwave_js_server()", lambda tmp: _entered(open_zwave_js_server())),
        ("IsyController.serve()", _isy_serving),
        ("VirtualLock.events()", lambda tmp: _next(VirtualLock().events())),
        ("VirtualLock.updates()", lambda tmp: _next(VirtualLock(push=True).updates())),
    ],
)
def test_the_simulators_refuse_asyncio_too(
    tmp_path: Path, api: str, run: Callable[[Path], Awaitable[None]]
) -> None:
    """(Their trio side is what their own test files run.)"""

    with pytest.raises(TrioRequiredError) as caught:
        anyio.run(run, tmp_path, backend="asyncio")
    assert str(caught.value) == refusal(api)
    assert list(tmp_path.iterdir()) == []


def test_a_block_entered_by_no_async_library_says_so(tmp_path: Path) -> None:
    """A coroutine driven by hand (no trio, no asyncio) is refused too, saying no run was
    found; the options are still checked at the call, before any of it (the event stream
    checks them synchronously)."""
    with pytest.raises(ValueError, match="quiet"):
        open_event_stream("ws://127.0.0.1:1/", quiet=-1)
    for api, opened in (
        ("open_event_stream()", open_event_stream("ws://127.0.0.1:1/")),
        ("open_isy_event_stream()", open_isy_event_stream("http://127.0.0.1:1")),
        ("open_store()", open_store(tmp_path / "x.json")),
    ):
        entering = opened.__aenter__()
        with pytest.raises(TrioRequiredError) as caught:
            entering.send(None)
        assert str(caught.value) == refusal(api, None)
        assert caught.value.running is None
    assert list(tmp_path.iterdir()) == []
