"""The controller's ``<Event>`` frames, written as a real ISY / IoX controller sends them."""

from __future__ import annotations

from typing import Final, final
from xml.sax.saxutils import escape, quoteattr

import attrs

__all__ = ["SID", "NodeStatus", "isy_event_frame", "isy_heartbeat_frame", "isy_status_frame"]

#: The ``sid`` (subscription id) in the simulator's frames.
SID: Final = "uuid:40"


def isy_event_frame(
    *,
    seqnum: int,
    control: str,
    action: str | int | None = None,
    uom: str | None = None,
    prec: int | None = None,
    node: str = "",
    event_info: str = "",
    sid: str = SID,
) -> str:
    """One ``<Event>`` frame as the controller sends it.

    Text values are XML-escaped; ``event_info`` is XML and goes in as it is (so a test can send
    the bare ``&`` or CDATA real eisy firmware sends). Without ``action`` there is no
    ``<action>`` element.
    """
    attributes = "" if uom is None else f" uom={quoteattr(uom)}"
    attributes += "" if prec is None else f' prec="{prec}"'
    action_xml = "" if action is None else f"<action{attributes}>{escape(str(action))}</action>"
    return (
        f'<?xml version="1.0"?><Event seqnum="{seqnum}" sid={quoteattr(sid)}>'
        f"<control>{escape(control)}</control>{action_xml}<node>{escape(node)}</node>"
        f"<eventInfo>{event_info}</eventInfo></Event>"
    )


def isy_status_frame(
    seqnum: int, node: str, value: int, *, uom: str = "100", prec: int = 0, sid: str = SID
) -> str:
    """A node's status (``<control>ST</control>``): ``value`` in unit ``uom`` (``"100"`` a
    0-255 level, ``"11"`` a deadbolt: 100 locked, 0 unlocked) with ``prec`` decimals."""
    return isy_event_frame(
        seqnum=seqnum, control="ST", action=value, uom=uom, prec=prec, node=node, sid=sid
    )


def isy_heartbeat_frame(seqnum: int, interval: float, *, sid: str = SID) -> str:
    """The heartbeat (``<control>_0</control>``): the next one follows in ``interval`` seconds."""
    return isy_event_frame(seqnum=seqnum, control="_0", action=f"{interval:g}", sid=sid)


@final
@attrs.frozen
class NodeStatus:
    """A node's status as the controller reports it: ``value`` in ``uom`` with ``prec``
    decimals (see :func:`isy_status_frame`)."""

    value: int
    uom: str = "100"
    prec: int = 0
