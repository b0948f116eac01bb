"""The fast path of :func:`~trio_locksync.eventstream.decode_isy_event`: one precompiled regular
expression for the shape a controller sends almost every frame in.

``ElementTree`` costs ~15 µs a frame (a parser built, a tree of elements, then found again);
this match takes a few. It accepts only a strict subset of XML on which it reads exactly what
the tree would give, and returns None for anything else, which then goes to the full parser:

* ASCII only, no control characters but tab and newline (no carriage return: XML would
  normalise it), and no ``]]>``; no ``&`` or ``<`` in any text or attribute value (so no
  entity or character reference, comment, CDATA section, processing instruction or DOCTYPE);
  no tab or newline in an attribute value (XML would turn them into spaces);
* an optional ``<?xml version="1.0"?>`` declaration (or with ``encoding="UTF-8"``), then
  ``<Event>`` with optional ``seqnum`` and ``sid`` attributes in that order, each written
  ``name="value"`` after a single space;
* children in the controller's order, each optional and at most once: ``<control>``,
  ``<action>`` (optional ``uom`` then ``prec``), ``<node>``, ``<eventInfo>`` (text only: one
  with child elements goes to the full parser), ``<fmtAct>``; each ``<tag>text</tag>`` or
  ``<tag/>``, with only whitespace between them.

The fields are then cleaned by the same helpers as the full path. ``tests/test_isy_fast_path.py``
checks, frame by generated frame, that both paths agree.
"""

from __future__ import annotations

import re
from typing import Final

__all__ = ["FAST_FRAME", "fast_match"]

# XML text without "&" or "<" (printable ASCII, tab, newline) and attribute values without
# '"' as well, nor tab or newline.
_TEXT = r"[\t\n !-%'-;=-~]*"
_VALUE = r"[ !#-%\'-;=-~]*"
_SPACE = r"[ \t\n]*"


def _element(tag: str, text: str, attrs: str = "") -> str:
    """``<tag attrs>text</tag>`` or ``<tag attrs/>``, optional; ``text`` is the group name."""
    return rf"(?:<{tag}{attrs}(?:>(?P<{text}>{_TEXT})</{tag}>|/>){_SPACE})?"


def _attribute(name: str, group: str) -> str:
    return rf'(?: {name}="(?P<{group}>{_VALUE})")?'


#: The whole (stripped) frame, when it is in the fast path's subset.
FAST_FRAME: Final = re.compile(
    r'(?:<\?xml version="1\.0"(?: encoding="UTF-8")?\?>' + _SPACE + ")?"
    "<Event"
    + _attribute("seqnum", "seqnum")
    + _attribute("sid", "sid")
    + ">"
    + _SPACE
    + _element("control", "control")
    + _element("action", "action", _attribute("uom", "uom") + _attribute("prec", "prec"))
    + _element("node", "node")
    + _element("eventInfo", "info")
    + _element("fmtAct", "formatted")
    + "</Event>"
)


def fast_match(text: str) -> re.Match[str] | None:
    """The fast path's match of the stripped frame ``text``, or None (use the full parser)."""
    if not text.isascii() or "]]>" in text:
        return None
    return FAST_FRAME.fullmatch(text)
