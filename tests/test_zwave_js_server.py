"""The Z-Wave JS Server launcher against the real processes: ``@zwave-js/server`` 3.10.2 on
zwave-js 15.29.0's mock controller with the mock locks of ``locks.cjs`` (real clock, loopback).

Frames are the ones /work/shared/zwave_js.md records from the wire: the version frame (§1.2,
zwave-js-server src/lib/server.ts:56-70), notifications (§4, forward.ts:496-568), node status
events (forward.ts:401-407), results and errors (§1.4, server.ts:244-309)."""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import Any

import pytest
import trio

from trio_locksync.testing import (
    MockControlError,
    MockNode,
    ZWaveJsServer,
    ZWaveJsUnavailable,
    open_zwave_js_server,
)

from . import zwavehelpers
from .zwavehelpers import listening, needs_node, node_children

# the fixtures, as this module's (pytest finds fixtures in the test module's namespace)
zwave_server = zwavehelpers.zwave_server

pytestmark = needs_node

PLAIN, MASKING, BATTERY = MockNode.PLAIN, MockNode.MASKING, MockNode.BATTERY
USER_CODE, DOOR_LOCK, NOTIFICATION = 99, 98, 113


def _is(node: int, name: str, **args: Any) -> Any:
    def match(event: dict[str, Any]) -> bool:
        if event.get("nodeId") != node or event.get("event") != name:
            return False
        got = event.get("args", {})
        return all(got.get(k) == v for k, v in args.items())

    return match


def _user_code(slot: int) -> dict[str, Any]:
    return {"commandClass": USER_CODE, "property": "userCode", "propertyKey": slot}


async def test_handshake_and_interviewed_dump(zwave_server: ZWaveJsServer) -> None:
    server = zwave_server
    assert server.url == f"ws://127.0.0.1:{server.port}"
    async with listening(server.url) as client:
        assert client.version["type"] == "version"
        assert client.version["serverVersion"] == "3.10.2"
        assert client.version["driverVersion"] == "15.29.0"
        nodes = {n["nodeId"]: n for n in client.state["nodes"]}
        assert nodes[PLAIN]["ready"] and nodes[MASKING]["ready"]
        # a battery lock is interviewed when it wakes; until then the driver knows it asleep
        assert nodes[BATTERY]["ready"] or nodes[BATTERY]["status"] == 1
        ccs = {cc["id"] for cc in nodes[PLAIN]["endpoints"][0]["commandClasses"]}
        assert {USER_CODE, DOOR_LOCK, NOTIFICATION} <= ccs


async def test_ground_truth_at_start(zwave_server: ZWaveJsServer) -> None:
    server = zwave_server
    assert await server.slot(MASKING, 1) == (1, "1234")
    assert await server.slot(PLAIN, 10) == (0, "")
    with pytest.raises(MockControlError, match="no such node"):
        await server.slot(9, 1)


async def test_keypad_unlock_and_lock(zwave_server: ZWaveJsServer) -> None:
    server = zwave_server
    async with listening(server.url) as client:
        await server.keypad_unlock(PLAIN, 3)
        with trio.fail_after(10):
            event = await client.event(_is(PLAIN, "notification"))
        assert event["ccId"] == NOTIFICATION
        assert event["args"]["type"] == 6 and event["args"]["event"] == 6
        assert event["args"]["parameters"] == {"userId": 3}
        assert await server.door(PLAIN) == "unlocked"
        await server.keypad_lock(PLAIN, 3)
        with trio.fail_after(10):
            event = await client.event(_is(PLAIN, "notification"))
        assert event["args"]["event"] == 5
        assert await server.door(PLAIN) == "locked"


async def test_door_lock_cc_moves_the_mock_door(zwave_server: ZWaveJsServer) -> None:
    server = zwave_server
    target = {"commandClass": DOOR_LOCK, "property": "targetMode"}
    async with listening(server.url) as client:
        for mode, door in ((0, "unlocked"), (255, "locked")):
            frame = await client.command(
                "node.set_value", nodeId=int(MASKING), valueId=target, value=mode
            )
            assert frame["success"], frame
            assert await server.door(MASKING) == door


async def test_program_code_at_the_keypad(zwave_server: ZWaveJsServer) -> None:
    server = zwave_server
    async with listening(server.url) as client:
        await server.program_code(PLAIN, 4, "9911")
        assert await server.slot(PLAIN, 4) == (1, "9911")
        with trio.fail_after(10):
            added = await client.event(_is(PLAIN, "notification"))
            assert added["args"]["event"] == 14
            assert added["args"]["parameters"] == {"userId": 4}
            await client.event(_is(PLAIN, "value added", property="userCode", propertyKey=4))


async def test_masking_lock_refuses_a_duplicate(zwave_server: ZWaveJsServer) -> None:
    server = zwave_server
    async with listening(server.url) as client:
        frame = await client.command(
            "node.set_value", nodeId=int(MASKING), valueId=_user_code(7), value="1234"
        )
        assert frame["result"]["result"]["status"] == 2, frame  # Supervision Fail
        with trio.fail_after(10):
            event = await client.event(_is(MASKING, "notification"))
        assert event["args"]["event"] == 15
        assert await server.slot(MASKING, 7) == (0, "")


async def test_lost_reads(zwave_server: ZWaveJsServer) -> None:
    server = zwave_server
    get = {"nodeId": int(PLAIN), "commandClass": USER_CODE, "methodName": "get", "args": [1]}
    async with listening(server.url) as client:
        await server.lose_reads(PLAIN, 1)
        lost = await client.command("endpoint.invoke_cc_api", **get)
        assert not lost["success"] or lost["result"].get("response") is None, lost
        read = await client.command("endpoint.invoke_cc_api", **get)
        assert read["result"]["response"]["userIdStatus"] == 1, read


async def test_code_deleted_after_reported_success(zwave_server: ZWaveJsServer) -> None:
    server = zwave_server
    async with listening(server.url) as client:
        await server.delete_code_later(PLAIN, 6, 1.0)
        frame = await client.command(
            "node.set_value", nodeId=int(PLAIN), valueId=_user_code(6), value="4321"
        )
        assert frame["result"]["result"]["status"] == 254, frame  # SuccessUnsupervised
        assert await server.slot(PLAIN, 6) == (1, "4321")
        with trio.fail_after(10):
            event = await client.event(_is(PLAIN, "notification"))
        assert event["args"]["event"] == 13 and event["args"]["parameters"] == {"userId": 6}
        assert await server.slot(PLAIN, 6) == (0, "")


async def test_dead_node_fails_commands_and_comes_back(
    zwave_server: ZWaveJsServer,
) -> None:
    server = zwave_server
    get = {"nodeId": int(MASKING), "commandClass": USER_CODE, "methodName": "get", "args": [1]}
    async with listening(server.url) as client:
        await server.set_dead(MASKING, True)
        try:
            with pytest.raises(MockControlError, match="the node is dead"):
                await server.keypad_unlock(MASKING, 1)
            with trio.fail_after(30):
                frame = await client.command("endpoint.invoke_cc_api", **get)
                assert not frame["success"], frame
                assert frame["zwaveErrorCode"] in {201, 202, 204}, frame
                await client.event(_is(MASKING, "dead"))
        finally:
            await server.set_dead(MASKING, False)
        with trio.fail_after(10):
            await client.event(_is(MASKING, "alive"))
        frame = await client.command("endpoint.invoke_cc_api", **get)
        assert frame["result"]["response"]["userIdStatus"] == 1, frame


async def test_wake_up_interviews_the_battery_lock(zwave_server: ZWaveJsServer) -> None:
    async with listening(zwave_server.url) as client:
        nodes = {n["nodeId"]: n for n in client.state["nodes"]}
        assert nodes[BATTERY]["status"] == 1 and not nodes[BATTERY]["ready"]  # asleep
        await zwave_server.wake_up(BATTERY)
        with trio.fail_after(10):
            await client.event(_is(BATTERY, "wake up"))
    with trio.fail_after(30):
        await zwave_server.wait_nodes_ready(battery=True)
    async with listening(zwave_server.url) as client:
        nodes = {n["nodeId"]: n for n in client.state["nodes"]}
        assert nodes[BATTERY]["ready"]


async def test_kill_and_restart_on_the_same_port() -> None:
    async with open_zwave_js_server(keep_cache=True) as server:
        await server.wait_nodes_ready()
        await _kill_and_restart(server)


async def _kill_and_restart(server: ZWaveJsServer) -> None:
    url, before = server.url, set(server.pids)
    await server.program_code(PLAIN, 5, "5150")
    await server.kill_server()
    assert not server.running
    assert len(set(node_children()) & before) == 1  # the mock lives on
    with pytest.raises(OSError):
        await trio.open_tcp_stream("127.0.0.1", server.port)
    await server.start_server()
    assert server.url == url and server.server_starts == 2
    await server.wait_nodes_ready()  # what the killed server's cache kept, it does not redo
    async with listening(server.url) as client:
        assert client.version["serverVersion"] == "3.10.2"
    assert await server.slot(PLAIN, 5) == (1, "5150")  # the mock kept its state


async def test_no_process_outlives_the_block() -> None:
    async with open_zwave_js_server() as server:
        pids = set(server.pids)
        assert len(pids) == 2 and pids <= set(node_children())
    assert not set(node_children()) & pids


async def test_no_process_outlives_a_cancelled_block() -> None:
    pids: set[int] = set()
    with trio.CancelScope() as scope:
        async with open_zwave_js_server() as server:
            pids = set(server.pids)
            scope.cancel()
            await trio.sleep_forever()
    assert scope.cancelled_caught and len(pids) == 2
    assert not set(node_children()) & pids


async def test_no_process_outlives_a_cancel_while_starting() -> None:
    before = set(node_children())  # the module's shared server's
    with trio.move_on_after(1.0) as scope:  # the mock is up, the server is starting
        async with open_zwave_js_server():
            pytest.fail("cannot be listening within 1 s")
    assert scope.cancelled_caught
    assert set(node_children()) <= before


async def test_unavailable_without_node(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(ZWaveJsUnavailable, match=r"node is not installed.*apt-get install"):
        async with open_zwave_js_server():
            pass
    old = tmp_path / "node"
    old.write_text("#!/bin/sh\necho v18.19.0\n")
    old.chmod(old.stat().st_mode | stat.S_IXUSR)
    with pytest.raises(ZWaveJsUnavailable, match=r"node 18\.19\.0 .* too old.*node >= 20"):
        async with open_zwave_js_server():
            pass
    assert os.environ["PATH"] == str(tmp_path)
