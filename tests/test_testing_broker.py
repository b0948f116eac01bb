"""The one broker launcher in ``trio_locksync.testing``: :class:`MosquittoBroker` (blocking
start, stop, kill, restart on one port) and :func:`open_mqtt_broker` (mosquitto or amqtt, owned
by an ``async with`` block, or an external broker used as it is) — real processes, real ports,
real time; after each, no process of ours is left. Also the simulated Zigbee2MQTT speaking
MQTT 3.1.1 to amqtt (its ``protocol=``)."""

from __future__ import annotations

import importlib.metadata
import os
import socket
from pathlib import Path

import pytest
import trio

from trio_locksync.mqtt import MqttProtocol, MqttStatus
from trio_locksync.testing import (
    BrokerError,
    BrokerKind,
    MosquittoBroker,
    MqttBroker,
    _broker,
    _mqtt_broker,
    open_mqtt_broker,
    open_zigbee2mqtt_simulator,
)

from .brokerhelpers import FAST, MOSQUITTO_PASSWD, connected, needs_mosquitto


def processes_using(path: Path) -> list[int]:
    """Live processes whose command line names ``path`` (Linux /proc; zombies excluded)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            argv = (entry / "cmdline").read_bytes().split(b"\0")
            state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:  # it ended meanwhile
            continue
        if os.fsencode(str(path)) in argv and state != "Z":
            found.append(int(entry.name))
    return found


def accepts(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
    except OSError:
        return False
    return True


@needs_mosquitto
def test_start_restart_on_the_same_port_stop_and_nothing_left(tmp_path: Path) -> None:
    broker = MosquittoBroker(tmp_path)
    assert not broker.running and not accepts(broker.port)
    with broker:
        assert broker.running and accepts(broker.port)
        assert processes_using(broker.config) == [broker.process.pid]  # type: ignore[union-attr]
        first = broker.process
        port = broker.port
        broker.restart(down_for=0.2)
        assert broker.port == port and broker.process is not first and accepts(port)
        assert first is not None and first.returncode is not None  # waited for, not a zombie
        assert broker.starts == 2
        broker.kill()
        assert not broker.running and not accepts(port)
        broker.start()
        assert accepts(port)
    assert not broker.running and not accepts(port)
    assert processes_using(broker.config) == []
    with pytest.raises(RuntimeError, match="running already"), broker:
        broker.start()
    assert processes_using(broker.config) == []


@needs_mosquitto
def test_config_keeps_what_tests_rely_on(tmp_path: Path) -> None:
    (tmp_path / "plain").mkdir()
    (tmp_path / "kept").mkdir()
    plain = MosquittoBroker(tmp_path / "plain")
    text = plain.config.read_text()
    assert f"listener {plain.port} 127.0.0.1" in text
    assert "max_queued_messages 1000000" in text and "persistence false" in text
    assert "allow_anonymous true" in text
    assert ("user " in text) == (os.geteuid() == 0)  # as root: do not switch to "mosquitto"
    with MosquittoBroker(tmp_path / "kept", persistence=True):
        pass  # stopped with SIGTERM: mosquitto saves its database on the way out
    assert (tmp_path / "kept" / "mosquitto.db").stat().st_size > 0


@needs_mosquitto
def test_a_bad_config_says_what_mosquitto_said_and_leaves_no_process(tmp_path: Path) -> None:
    broker = MosquittoBroker(tmp_path, extra="no_such_option 1")
    with pytest.raises(BrokerError, match="exited at start") as caught:
        broker.start()
    assert "no_such_option" in str(caught.value)  # mosquitto's own complaint, from its log
    assert str(broker.config) in str(caught.value)
    assert not broker.running and processes_using(broker.config) == []


@needs_mosquitto
def test_a_broker_that_does_not_listen_in_time_is_killed(tmp_path: Path) -> None:
    broker = MosquittoBroker(tmp_path, start_timeout=0.0)
    with pytest.raises(BrokerError, match=f"did not listen on 127.0.0.1:{broker.port} within 0 s"):
        broker.start()
    assert not broker.running and processes_using(broker.config) == []


@needs_mosquitto
def test_start_polls_at_the_interval_it_was_given(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with pytest.raises(ValueError, match="poll_interval must be positive"):
        MosquittoBroker(tmp_path, poll_interval=0.0)
    assert MosquittoBroker(tmp_path).poll_interval == 0.02
    broker = MosquittoBroker(tmp_path, poll_interval=0.005)
    refused = iter([True, True])  # the first two attempts find nobody listening
    connect = socket.create_connection
    slept: list[float] = []
    sleep = _broker.time.sleep

    def attempt(address: tuple[str, int], timeout: float) -> socket.socket:
        if next(refused, False):
            raise ConnectionRefusedError
        return connect(address, timeout=timeout)

    def record(seconds: float) -> None:
        slept.append(seconds)
        sleep(seconds)

    monkeypatch.setattr(_broker.socket, "create_connection", attempt)
    monkeypatch.setattr(_broker.time, "sleep", record)
    with broker:
        # two refusals at least, each followed by a nap (stop's Popen.wait naps too: not counted)
        assert len(slept) >= 2 and set(slept) == {0.005}
        assert accepts(broker.port)


@pytest.mark.skipif(MOSQUITTO_PASSWD is None, reason="mosquitto_passwd is not installed")
@needs_mosquitto
async def test_passwords_are_hashed_and_never_on_a_command_line(tmp_path: Path) -> None:
    secret = "hunter2 with spaces"
    broker = MosquittoBroker(tmp_path, passwords={"door": secret})
    stored = (tmp_path / "passwords").read_text()
    assert stored.startswith("door:$") and secret not in stored
    assert "allow_anonymous false" in broker.config.read_text()
    assert secret not in repr(broker) and secret not in " ".join(broker.command)
    with broker:
        async with connected(broker.port, username="door", password=secret) as bridge:
            assert bridge.status is MqttStatus.CONNECTED
    for user, password in (("a:b", secret), ("door", "pw:secret"), ("door", "pw\nsecret")):
        with pytest.raises(ValueError, match="without ':' or a line break") as caught:
            MosquittoBroker(tmp_path, passwords={user: password})
        assert password not in str(caught.value)


def test_missing_mosquitto_is_a_typed_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_broker, "find_mosquitto", lambda: None)
    with pytest.raises(BrokerError, match="mosquitto is not installed"):
        MosquittoBroker(tmp_path)


# -- open_mqtt_broker ---------------------------------------------------------------------------


@needs_mosquitto
async def test_open_mqtt_broker_mosquitto_restarts_on_its_port(tmp_path: Path) -> None:
    async with open_mqtt_broker(tmp_path) as broker:
        assert broker.kind is BrokerKind.MOSQUITTO and broker.protocol is MqttProtocol.V5
        config = tmp_path / "mosquitto.conf"
        assert len(processes_using(config)) == 1
        async with connected(broker.port, client_id="t-restart") as bridge:
            await broker.restart(down_for=0.2)
            assert broker.restarts == 1 and broker.running
            with trio.fail_after(10):
                await bridge.wait_status(MqttStatus.RECONNECTING)
                await bridge.wait_status(MqttStatus.CONNECTED)
    assert not broker.running and processes_using(config) == []
    with pytest.raises(TypeError, match="no public constructor"):
        MqttBroker()


@needs_mosquitto
async def test_open_mqtt_broker_stops_its_broker_when_cancelled(tmp_path: Path) -> None:
    with trio.move_on_after(0.5):
        async with open_mqtt_broker(tmp_path, BrokerKind.MOSQUITTO):
            await trio.sleep_forever()
    assert processes_using(tmp_path / "mosquitto.conf") == []


async def test_amqtt_broker_and_a_simulator_speaking_mqtt_311(tmp_path: Path) -> None:
    pytest.importorskip("amqtt", reason="the demo extra (amqtt) is not installed")
    async with open_mqtt_broker(tmp_path, BrokerKind.AMQTT) as broker:
        assert broker.kind is BrokerKind.AMQTT and broker.protocol is MqttProtocol.V311
        async with (
            open_zigbee2mqtt_simulator(
                broker.host, broker.port, protocol=broker.protocol, backoff=FAST
            ) as z2m,
            connected(broker.port, protocol=MqttProtocol.V311) as app,
            app.subscribe("zigbee2mqtt/bridge/state", qos=1) as states,
        ):
            with trio.fail_after(10):
                await z2m.bridge.wait_status(MqttStatus.CONNECTED)
                message = await states.__anext__()
            assert b"online" in message.payload
    assert not broker.running
    assert processes_using(tmp_path / "amqtt.yaml") == []


def test_amqtt_starts_through_its_public_console_script(tmp_path: Path) -> None:
    """The launcher runs the ``amqtt`` script amqtt's metadata declares (its public entry point),
    not a module inside amqtt: a new amqtt that moves its modules still starts."""
    pytest.importorskip("amqtt", reason="the demo extra (amqtt) is not installed")
    script = _broker.amqtt_entry_point()
    declared = importlib.metadata.distribution("amqtt").entry_points
    assert script in declared.select(group="console_scripts", name="amqtt")
    launcher = _broker.amqtt_launcher(tmp_path, 10.0)
    assert script.value in launcher.command and "-m" not in launcher.command


@pytest.mark.parametrize("installed", [False, True])
def test_amqtt_without_its_console_script_is_a_clear_typed_error(
    monkeypatch: pytest.MonkeyPatch, installed: bool
) -> None:
    class Metadata:  # an amqtt whose metadata declares no console script
        entry_points = importlib.metadata.EntryPoints(())

    def distribution(name: str) -> Metadata:
        if not installed:
            raise importlib.metadata.PackageNotFoundError(name)
        return Metadata()

    monkeypatch.setattr(importlib.metadata, "distribution", distribution)
    problem = "no 'amqtt' console script" if installed else "amqtt is not installed .*\\[demo\\]"
    with pytest.raises(BrokerError, match=problem):
        _broker.amqtt_entry_point()


@pytest.mark.parametrize(
    ("kind", "mosquitto", "problem"),
    [
        (
            BrokerKind.AMQTT,
            "/usr/sbin/mosquitto",
            "amqtt is not installed .*trio-locksync\\[demo\\]",
        ),
        (BrokerKind.AUTO, None, "no MQTT broker to start: install mosquitto .* or amqtt"),
        (BrokerKind.MOSQUITTO, None, "mosquitto is not installed"),
    ],
)
async def test_a_missing_broker_is_a_clear_typed_error(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    kind: BrokerKind,
    mosquitto: str | None,
    problem: str,
) -> None:
    monkeypatch.setattr(_mqtt_broker, "_amqtt_installed", lambda: False)
    monkeypatch.setattr(_mqtt_broker, "find_mosquitto", lambda: mosquitto)
    monkeypatch.setattr(_broker, "find_mosquitto", lambda: mosquitto)
    with pytest.raises(BrokerError, match=problem):
        async with open_mqtt_broker(tmp_path, kind):
            pass  # pragma: no cover - it does not start
    assert list(tmp_path.iterdir()) == []  # nothing started, nothing written


@needs_mosquitto
async def test_an_external_broker_is_used_as_it_is(tmp_path: Path) -> None:
    with MosquittoBroker(tmp_path) as running:
        address = f"127.0.0.1:{running.port}"
        async with open_mqtt_broker(tmp_path / "unused", external=address) as broker:
            assert broker.kind is BrokerKind.EXTERNAL and broker.port == running.port
            assert broker.protocol is MqttProtocol.V5 and not broker.restartable
            with pytest.raises(RuntimeError, match="not ours to restart"):
                await broker.restart()
        assert running.process is not None and running.process.poll() is None  # untouched
    with pytest.raises(BrokerError, match=f"cannot reach the MQTT broker at {address}"):
        async with open_mqtt_broker(tmp_path, external=address):
            pass  # pragma: no cover - it is not reached


@pytest.mark.parametrize("external", ["h:abc", "h:0", "h:65536", "[::1]:x"])
async def test_a_bad_external_address_names_the_parameter(tmp_path: Path, external: str) -> None:
    """The library's own message names ``external=``, not a command-line flag; nothing is
    started or written."""
    with pytest.raises(ValueError) as caught:
        async with open_mqtt_broker(tmp_path, external=external):
            pass  # pragma: no cover
    assert str(caught.value) == f'external= wants "HOST:PORT", got {external!r}'
    assert "--mqtt" not in str(caught.value)
    assert list(tmp_path.iterdir()) == []
