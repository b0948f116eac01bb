"""The Z-Wave JS Server websocket protocol, sans-I/O: the frames we send, and the results and
handshake frames we receive, as typed records (the events are in ``_events``).

Every fact is from /work/shared/zwave_js.md (section, then its upstream file:line):

* handshake (§1.2): the server sends ``{"type":"version",…,"maxSchemaVersion":50}`` first
  (``[srv]server.ts:56-70``); we ``initialize`` at ``min(server max, SCHEMA_VERSION)``
  (``server.ts:148-159``), refusing a server whose range does not reach ours
  (``schema_incompatible``, ``server.ts:125-133``), then ``start_listening``, whose result
  carries the state dump (``server.ts:161-168``);
* every command carries a string ``messageId`` and gets exactly one ``result`` (§0.2);
* results (§1.4, ``server.ts:244-309``): ``success`` true with ``result``, or false with
  ``errorCode`` (+ ``zwaveErrorCode`` for ``zwave_error``).

Nothing here logs; a record's repr never shows a code (the values of ``set_value`` are wrapped).
"""

from __future__ import annotations

import enum
import itertools
import json
from typing import Any, final

import attrs

from ._values import USER_CODE_CC, SecretValue, wrap_value

__all__ = [
    "MIN_SCHEMA_VERSION",
    "SCHEMA_VERSION",
    "Command",
    "CommandFailed",
    "CommandOk",
    "CommandResult",
    "FrameError",
    "MessageIds",
    "ServerVersion",
    "SetValueStatus",
    "ZWaveErrorCode",
    "choose_schema",
    "decode_frame",
    "parse_result",
    "parse_version",
    "set_value_status",
]

#: the schema we implement: the server's max (``[srv]const.ts:9``), also the Python client's
SCHEMA_VERSION = 50
#: the oldest we accept: ``endpoint.access_control.*`` needs 48, result shapes settled at 32
#: (§1.4) and ``{"result": SetValueResult}`` at 29 (§3.1); the Python client requires 49
MIN_SCHEMA_VERSION = 48


class FrameError(ValueError):
    """A frame that is not what the protocol says (never quotes the frame: it may hold a code)."""


class SetValueStatus(enum.IntEnum):
    """``SetValueStatus`` of a ``node.set_value`` result (§3.1, ``[SVR]:7-24``)."""

    NO_DEVICE_SUPPORT = 0
    WORKING = 1
    FAIL = 2
    ENDPOINT_NOT_FOUND = 3
    NOT_IMPLEMENTED = 4
    INVALID_VALUE = 5
    SUCCESS_UNSUPERVISED = 254
    SUCCESS = 255


class ZWaveErrorCode(enum.IntEnum):
    """The driver's ``zwaveErrorCode`` values a lock provider tells apart (§1.4 table,
    driver ``packages/core/src/error/ZWaveError.ts``)."""

    DRIVER_FAILED = 100
    DRIVER_NOT_READY = 103
    CONTROLLER_TIMEOUT = 200
    CONTROLLER_NODE_TIMEOUT = 201
    CONTROLLER_MESSAGE_DROPPED = 202
    CONTROLLER_CALLBACK_NOK = 204
    CONTROLLER_MESSAGE_EXPIRED = 215
    CC_NOT_SUPPORTED = 302
    CC_NOT_IMPLEMENTED = 303
    CC_NO_API = 304
    ARGUMENT_INVALID = 322
    SUPERVISION_COMMAND_FAILED = 1100


@final
@attrs.frozen
class ServerVersion:
    """The server's first frame (§1.2)."""

    server_version: str
    driver_version: str
    home_id: int | None
    min_schema: int
    max_schema: int


def _no_constant(name: str) -> object:
    raise ValueError(f"{name} is not JSON")


def decode_frame(text: str | bytes) -> dict[str, Any]:
    """One frame as a JSON object (FrameError otherwise, without the text)."""
    try:
        frame = json.loads(text, parse_constant=_no_constant)
    except (ValueError, RecursionError):
        # not JSON, NaN/Infinity, a 5,000-digit number, nesting past the recursion limit
        raise FrameError("a frame that is not JSON") from None
    if not isinstance(frame, dict):
        raise FrameError("a frame that is not a JSON object")
    return frame


def _int(frame: dict[str, Any], key: str) -> int:
    value = frame.get(key)
    if not isinstance(value, int) or isinstance(value, bool):
        raise FrameError(f"{key!r} is not an integer")
    return value


def parse_version(frame: dict[str, Any]) -> ServerVersion:
    """The ``version`` frame (``[srv]server.ts:56-70``)."""
    if frame.get("type") != "version":
        raise FrameError(f"expected the version frame, got type {frame.get('type')!r}")
    home = frame.get("homeId")
    return ServerVersion(
        server_version=str(frame.get("serverVersion", "?")),
        driver_version=str(frame.get("driverVersion", "?")),
        home_id=home if isinstance(home, int) else None,
        min_schema=_int(frame, "minSchemaVersion"),
        max_schema=_int(frame, "maxSchemaVersion"),
    )


def choose_schema(version: ServerVersion) -> int | None:
    """``min(server max, ours)``, or None when the server's range does not overlap
    ``[MIN_SCHEMA_VERSION, SCHEMA_VERSION]`` (the Python client's rule,
    ``[py]client.py:151-201``)."""
    schema = min(version.max_schema, SCHEMA_VERSION)
    if schema < MIN_SCHEMA_VERSION or schema < version.min_schema:
        return None
    return schema


@final
class MessageIds:
    """``messageId`` strings, unique per connection: ``"m1"``, ``"m2"``, …"""

    __slots__ = ("_counter",)

    def __init__(self) -> None:
        self._counter = itertools.count(1)

    def next(self) -> str:
        """A fresh id."""
        return f"m{next(self._counter)}"


def _redacted_args(args: dict[str, Any]) -> dict[str, Any]:
    out = dict(args)
    value_id = out.get("valueId")
    if isinstance(value_id, dict) and "value" in out:
        out["value"] = wrap_value(value_id.get("property"), out["value"])
    if out.get("commandClass") == USER_CODE_CC and "args" in out:
        out["args"] = SecretValue(out["args"])  # set(k, status, code) carries the code
    return out


@final
@attrs.frozen(repr=False)
class Command:
    """One command: its name and arguments (``{"messageId","command",…}``, §0.2)."""

    name: str
    args: dict[str, Any] = attrs.field(factory=dict)

    def frame(self, message_id: str) -> str:
        """The JSON text to send (the only place a code is revealed)."""
        body: dict[str, Any] = {}
        for key, value in self.args.items():
            body[key] = value.reveal() if isinstance(value, SecretValue) else value
        body["messageId"] = message_id
        body["command"] = self.name
        return json.dumps(body, separators=(",", ":"))

    def __repr__(self) -> str:
        return f"Command({self.name!r}, {_redacted_args(self.args)!r})"

    # -- the commands the client and the lock send ------------------------------------------

    @classmethod
    def initialize(cls, schema: int, agent: str) -> Command:
        """``initialize`` (§1.2): the schema and our user agent."""
        return cls(
            "initialize",
            {"schemaVersion": schema, "additionalUserAgentComponents": {"trio-locksync": agent}},
        )

    @classmethod
    def start_listening(cls) -> Command:
        """``start_listening``: the dump, then events (§1.2)."""
        return cls("start_listening")

    @classmethod
    def set_value(
        cls, node_id: int, cc: int, prop: str, key: int | None, value: object, endpoint: int = 0
    ) -> Command:
        """``node.set_value`` (§3.1); a code ``value`` is kept wrapped until :meth:`frame`."""
        value_id: dict[str, Any] = {"commandClass": cc, "endpoint": endpoint, "property": prop}
        if key is not None:
            value_id["propertyKey"] = key
        return cls(
            "node.set_value",
            {"nodeId": node_id, "valueId": value_id, "value": wrap_value(prop, value)},
        )

    @classmethod
    def invoke_cc_api(
        cls, node_id: int, cc: int, method: str, args: list[Any], endpoint: int = 0
    ) -> Command:
        """``endpoint.invoke_cc_api`` (§2, ``[srv]endpoint/message_handler.ts:68-74``)."""
        return cls(
            "endpoint.invoke_cc_api",
            {
                "nodeId": node_id,
                "endpoint": endpoint,
                "commandClass": cc,
                "methodName": method,
                "args": args,
            },
        )

    @classmethod
    def poll_value(cls, node_id: int, cc: int, prop: str, key: int | None = None) -> Command:
        """``node.poll_value`` (§2, ``message_handler.ts:114-117``)."""
        value_id: dict[str, Any] = {"commandClass": cc, "endpoint": 0, "property": prop}
        if key is not None:
            value_id["propertyKey"] = key
        return cls("node.poll_value", {"nodeId": node_id, "valueId": value_id})


@final
@attrs.frozen
class CommandOk:
    """``success: true``; ``result`` is the command's answer (``{}`` when it has none).
    Its repr names the keys only: an answer may hold a code."""

    message_id: str
    result: dict[str, Any] = attrs.field(repr=lambda r: f"<keys {sorted(r)}>")


@final
@attrs.frozen
class CommandFailed:
    """``success: false`` (§1.4): ``error_code`` (``node_not_found``, ``zwave_error``, …),
    with the driver's ``zwave_code`` and its name for ``zwave_error``; ``message`` is the
    server's text (driver messages name slots and lengths, never a code)."""

    message_id: str
    error_code: str
    zwave_code: int | None = None
    zwave_name: str | None = None
    message: str = ""


CommandResult = CommandOk | CommandFailed


def parse_result(frame: dict[str, Any]) -> CommandResult:
    """A ``{"type":"result",…}`` frame (``[srv]server.ts:244-309``)."""
    message_id = frame.get("messageId")
    if not isinstance(message_id, str):
        raise FrameError("a result without a string messageId")
    if frame.get("success") is True:
        result = frame.get("result")
        return CommandOk(message_id, result if isinstance(result, dict) else {})
    code = frame.get("errorCode")
    zcode = frame.get("zwaveErrorCode")
    name = frame.get("zwaveErrorCodeName")
    text = frame.get("zwaveErrorMessage") or frame.get("message") or ""
    return CommandFailed(
        message_id,
        code if isinstance(code, str) else "unknown_error",
        zcode if isinstance(zcode, int) and not isinstance(zcode, bool) else None,
        name if isinstance(name, str) else None,
        text if isinstance(text, str) else "",
    )


def set_value_status(result: dict[str, Any]) -> tuple[int, str]:
    """A ``node.set_value`` answer's ``(status, message)``: ``{"result":{"status":S}}`` at
    schema ≥ 29 (§3.1, ``[srv]common.ts:76-90``)."""
    inner = result.get("result")
    if not isinstance(inner, dict):
        raise FrameError("a set_value result without its SetValueResult")
    status = inner.get("status")
    if not isinstance(status, int) or isinstance(status, bool):
        raise FrameError("a SetValueResult without an integer status")
    message = inner.get("message")
    return status, message if isinstance(message, str) else ""
