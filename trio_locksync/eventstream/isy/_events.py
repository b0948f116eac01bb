"""ISY / IoX event frames: :func:`decode_isy_event` and the :class:`IsyEvent` it returns.

Pure functions and frozen values, no I/O. :func:`decode_isy_event` turns a text frame (raw
``<Event>`` XML, or the ``{"type": "event", "data": "<Event ...>"}`` JSON envelope newer IoX
firmware sends) into an :class:`IsyEvent`; for any bad frame it raises only
:class:`FrameDecodeError`, whose message says what was wrong but never quotes the frame (frames
can carry codes) and which has no chained exception holding the frame. Frames declaring a DOCTYPE
or ENTITY are refused before parsing, so entity expansion can't be used against the decoder.
eisy leaves ``&`` unescaped in some text (``_7`` log lines, echoed query strings); a frame that
does not parse is retried once with those stray ampersands escaped, as pyisyox does.
"""

from __future__ import annotations

import decimal
import json
import math
import re
import sys
import xml.etree.ElementTree as ET
from typing import Final, final
from xml.sax.saxutils import escape

import attrs

from .._errors import FrameDecodeError
from ._fast import fast_match

__all__ = ["MAX_FRAME_CHARS", "IsyEvent", "decode_isy_event"]

#: Frames longer than this (in characters) are refused without being parsed.
MAX_FRAME_CHARS: Final = 1_000_000

# A DTD is the only way to declare entities; no real ISY frame has one, so refusing it outright
# rules out entity-expansion ("billion laughs") attacks whatever the parser does.
_DECLARATION = re.compile(r"<!(?:DOCTYPE|ENTITY)", re.IGNORECASE)
# An "&" that starts none of XML's five predefined entity references nor a character reference.
# (Without a DTD no other entity exists, so "&nbsp;" is a stray "&" followed by text.)
_STRAY_AMPERSAND = re.compile(r"&(?!(?:amp|lt|gt|quot|apos|#[0-9]+|#x[0-9A-Fa-f]+);)")
_INTEGER = re.compile(r"[+-]?[0-9]+")
_UNSIGNED = re.compile(r"[0-9]+")
_NOT_PARSED: Final = object()
_SHARED_MAX: Final = 64


def _info_repr(value: str | None) -> str:
    return "None" if value is None else f"<{len(value)} chars>"


@final
@attrs.frozen(kw_only=True)
class IsyEvent:
    """One decoded ISY event frame.

    Every text value is stripped; a missing or empty element or attribute is ``None``.
    ``action`` is the raw value, ``prec`` the number of decimal places it carries (see
    :attr:`value`). ``event_info`` is the inner XML of ``<eventInfo>``, re-serialised (so always
    well-formed): its character data is escaped, which means a bare ``&`` the controller sent
    arrives as ``&amp;`` and a ``<![CDATA[...]]>`` section as its text, escaped (parse it as XML
    to get the text back). It is left out of the repr (only its length is shown).
    """

    control: str
    action: str | None = None
    uom: str | None = None
    prec: int | None = None
    node: str | None = None
    event_info: str | None = attrs.field(default=None, repr=_info_repr)
    seqnum: int | None = None
    sid: str | None = None
    formatted: str | None = None

    @property
    def is_heartbeat(self) -> bool:
        """Whether this is the controller's heartbeat (``<control>_0</control>``)."""
        return self.control == "_0"

    @property
    def heartbeat_interval(self) -> float | None:
        """Seconds until the next heartbeat, for a heartbeat whose action is a finite positive
        number; ``None`` otherwise."""
        if not self.is_heartbeat or self.action is None:
            return None
        try:
            seconds = float(self.action)
        except ValueError:
            return None
        if not math.isfinite(seconds) or seconds <= 0:
            return None
        return seconds

    @property
    def value(self) -> decimal.Decimal | None:
        """The action as an exact decimal: the integer action scaled by ``10 ** -prec``.

        ``"725"`` with ``prec`` 1 is ``Decimal("72.5")``; with no ``prec`` the integer itself.
        ``None`` when the action is missing or not an integer.
        """
        if self.action is None or _INTEGER.fullmatch(self.action) is None:
            return None
        # Built from the digit tuple, not by arithmetic: exact whatever the decimal context.
        sign, digits, _ = decimal.Decimal(self.action).as_tuple()
        return decimal.Decimal((sign, digits, -(self.prec or 0)))


def decode_isy_event(message: str | bytes) -> IsyEvent:
    """Decode one websocket text frame into an :class:`IsyEvent`.

    Accepts the raw ``<Event>`` XML or the IoX JSON envelope ``{"type": "event", "data": XML}``.
    XML that does not parse is retried once with every stray ``&`` escaped (one that starts no
    ``&amp;``/``&lt;``/``&gt;``/``&quot;``/``&apos;`` or ``&#NN;``/``&#xNN;`` reference; CDATA
    sections are left as they are): eisy sends ``_7`` log text with bare ampersands.
    Raises only :class:`FrameDecodeError`: for a binary frame, a frame over
    :data:`MAX_FRAME_CHARS`, a DOCTYPE/ENTITY declaration, malformed XML or JSON, an envelope
    that is not an ``event`` object with string ``data``, a root other than ``<Event>``, or a
    missing/empty ``<control>``. Unknown elements and attributes are ignored.
    """
    if isinstance(message, bytes | bytearray | memoryview):
        raise FrameDecodeError("binary frame where text was expected")
    if not isinstance(message, str):
        raise FrameDecodeError("frame is not text")
    if len(message) > MAX_FRAME_CHARS:
        raise FrameDecodeError(
            f"frame of {len(message)} characters is over the {MAX_FRAME_CHARS} limit"
        )
    text = message.strip()
    match = fast_match(text)
    if match is None and _DECLARATION.search(text) is None and not text.startswith("<"):
        text = _unwrap_envelope(text)
        match = fast_match(text)
    if match is not None:
        event = _from_match(match)
        if event is not None:
            return event
    return _decode_tree(text)


def _decode_tree(text: str) -> IsyEvent:
    """The full path: ``text`` (stripped, unwrapped) parsed by ElementTree."""
    # Checked after unwrapping too: in the envelope's JSON string "<" may be written "\u003c".
    if _DECLARATION.search(text) is not None:
        raise FrameDecodeError("frame declares a DOCTYPE or ENTITY; refused")
    root = _parse_xml(text)
    if root is None and "&" in text:
        root = _parse_xml(_escape_stray_ampersands(text))
    if root is None:
        raise FrameDecodeError("malformed XML")
    if root.tag != "Event":
        raise FrameDecodeError("root element is not <Event>")
    control = _child_text(root, "control")
    if control is None:
        raise FrameDecodeError("no <control>")
    action = root.find("action")
    return IsyEvent(
        control=control,
        action=_child_text(root, "action"),
        uom=None if action is None else _attr(action, "uom"),
        prec=None if action is None else _unsigned(_attr(action, "prec")),
        node=_child_text(root, "node"),
        event_info=_inner_xml(root.find("eventInfo")),
        seqnum=_integer(_attr(root, "seqnum")),
        sid=_attr(root, "sid"),
        formatted=_child_text(root, "fmtAct"),
    )


def _from_match(match: re.Match[str]) -> IsyEvent | None:
    """The event the fast path matched (see ``_fast.py``), read as the full path reads the tree;
    None if it has no ``<control>`` (the full path says why it is refused)."""
    control = _strip_or_none(match["control"])
    if control is None:
        return None
    info = match["info"]
    return IsyEvent(
        control=control,
        action=_strip_or_none(match["action"]),
        uom=_strip_or_none(match["uom"]),
        prec=_unsigned(_strip_or_none(match["prec"])),
        node=_strip_or_none(match["node"]),
        event_info=escape(info).strip() or None if info else None,
        seqnum=_integer(_strip_or_none(match["seqnum"])),
        sid=_strip_or_none(match["sid"]),
        formatted=_strip_or_none(match["formatted"]),
    )


def _unwrap_envelope(text: str) -> str:
    envelope = _parse_json(text)
    if envelope is _NOT_PARSED:
        raise FrameDecodeError("frame is neither XML nor a JSON envelope")
    if not isinstance(envelope, dict):
        raise FrameDecodeError("JSON envelope is not an object")
    if envelope.get("type") != "event":
        raise FrameDecodeError('JSON envelope type is not "event"')
    data = envelope.get("data")
    if not isinstance(data, str):
        raise FrameDecodeError('JSON envelope has no string "data"')
    return data.strip()


# The parsers' exceptions are swallowed here and the FrameDecodeError raised by the caller,
# outside any ``except`` block: a JSONDecodeError keeps the whole document in ``.doc``, and even
# ``raise ... from None`` would leave it reachable through ``__context__``.
def _parse_json(text: str) -> object:
    try:
        return json.loads(text)
    except Exception:
        return _NOT_PARSED


def _parse_xml(text: str) -> ET.Element | None:
    try:
        return ET.fromstring(text)
    except Exception:
        return None


def _escape_stray_ampersands(text: str) -> str:
    """``text`` with each stray ``&`` (see ``_STRAY_AMPERSAND``) outside CDATA as ``&amp;``.

    CDATA content is literal text, so a ``&`` in it is not stray and is left alone. One forward
    scan (no backtracking regex over the sections): linear even for a hostile 1 MB frame.
    """
    parts: list[str] = []
    position = 0
    while True:
        start = text.find("<![CDATA[", position)
        end = -1 if start < 0 else text.find("]]>", start + 9)
        if end < 0:  # no further section (or an unterminated one: the parser refuses it)
            parts.append(_STRAY_AMPERSAND.sub("&amp;", text[position:]))
            return "".join(parts)
        parts.append(_STRAY_AMPERSAND.sub("&amp;", text[position:start]))
        parts.append(text[start : end + 3])
        position = end + 3


def _strip_or_none(text: str | None) -> str | None:
    if text is None:
        return None
    text = text.strip()
    if not text:
        return None
    # Controls, units, node addresses, small values and the sid repeat across thousands of
    # buffered events: share one copy (interned strings are freed when no longer used).
    return sys.intern(text) if len(text) <= _SHARED_MAX else text


def _child_text(parent: ET.Element, tag: str) -> str | None:
    child = parent.find(tag)
    return None if child is None else _strip_or_none(child.text)


def _attr(element: ET.Element, name: str) -> str | None:
    return _strip_or_none(element.get(name))


def _integer(text: str | None) -> int | None:
    if text is None or _INTEGER.fullmatch(text) is None:
        return None
    try:
        return int(text)
    except ValueError:  # over the interpreter's digit limit
        return None


def _unsigned(text: str | None) -> int | None:
    if text is None or _UNSIGNED.fullmatch(text) is None:
        return None
    return _integer(text)


def _inner_xml(element: ET.Element | None) -> str | None:
    if element is None:
        return None
    # Each child's serialization includes its tail, so text + children is the whole content.
    parts = [escape(element.text or "")]
    parts.extend(ET.tostring(child, encoding="unicode") for child in element)
    return "".join(parts).strip() or None
