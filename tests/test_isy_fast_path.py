"""The ISY decoder's fast path (``eventstream/isy/_fast.py``) against its full path.

The fast path is one regular expression for the shape controllers send almost every frame in;
anything else goes to ElementTree. The contract: wherever the fast path answers, it answers
exactly what ElementTree's path would (same ``IsyEvent``, same refusal). Checked frame by
generated frame over a grammar that mixes the controller's shape with every near miss the fast
path must hand over (other attribute orders, entities, CDATA, comments, nested eventInfo,
carriage returns, control characters, non-ASCII, ``]]>``, namespaces, duplicates, odd
declarations, whitespace in tags), raw and in the IoX JSON envelope.
"""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from trio_locksync.eventstream import FrameDecodeError, IsyEvent, decode_isy_event
from trio_locksync.eventstream.isy._events import _decode_tree
from trio_locksync.eventstream.isy._fast import fast_match
from trio_locksync.testing.isy import isy_event_frame, isy_heartbeat_frame, isy_status_frame

MANY = settings(max_examples=2000, deadline=None)

PROLOGS = [
    "",
    '<?xml version="1.0"?>',
    '<?xml version="1.0" encoding="UTF-8"?>',
    "<?xml version='1.0'?>",
    '<?xml version="1.0" encoding="ISO-8859-1"?>',
    '<?xml version="1.0"?>\n',
    '<?xml version="1.1"?>',
    '<?xml  version="1.0"?>',
    "<!DOCTYPE Event>",
]
TOKENS = [
    "a", "Z", "0", "42", "-7", " ", "  ", "\t", "\n", "\r", "\r\n", "_", ":", ".", "uuid:1",
    "&", "&amp;", "&lt;", "&#65;", "&#x41;", "&nbsp;", "<", ">", "]]>", "]]", '"', "'", "é",
    "\x01", "\x7f", "\u2028", "\ufeff", "<![CDATA[x&y]]>", "<!-- c -->", "<?pi x?>",
    '<var id="1"><val>0</val></var>', "<b/>", "\x00",
]  # fmt: skip
TAGS = ["control", "action", "node", "eventInfo", "fmtAct", "fmtName", "x:y", "Control"]
ATTRS = ["seqnum", "sid", "uom", "prec", "other", "xmlns", "xmlns:x"]
SEPARATORS = ["", " ", "\n", "\t", "\r\n", "x", "&amp;"]

texts = st.lists(st.sampled_from(TOKENS), max_size=4).map("".join)
plain = st.sampled_from(["", "ST", "DON", "_0", "_7", "100", "0", "5", "-3", " 72 ", "16 6D 6F 1"])
# One odd token inside plain text: a frame that is the controller's shape but for one thing.
spliced = st.builds(lambda a, t, b: f"{a}{t}{b}", plain, st.sampled_from(TOKENS), plain)
values = st.one_of(plain, spliced, spliced, texts)


@st.composite
def attributes(draw: st.DrawFn, names: list[str]) -> str:
    chosen = draw(st.lists(st.sampled_from(names), max_size=3))
    out = ""
    for name in chosen:
        value = draw(values)
        quote = draw(st.sampled_from(['"', '"', "'"]))
        space = draw(st.sampled_from([" ", " ", "  ", "\n", ""]))
        out += f"{space}{name}={quote}{value}{quote}"
    return out + draw(st.sampled_from(["", "", " "]))


@st.composite
def elements(draw: st.DrawFn) -> str:
    tag = draw(st.sampled_from(TAGS))
    attrs = draw(attributes(["uom", "prec", "other"]) if tag == "action" else st.just(""))
    if draw(st.integers(0, 5)) == 0:
        return f"<{tag}{attrs}/>"
    return f"<{tag}{attrs}>{draw(values)}</{tag}>"


@st.composite
def frames(draw: st.DrawFn) -> str:
    canonical = draw(st.booleans())
    if canonical:  # the controller's order, each at most once: mostly the fast path's own
        tags = [
            t for t in ["control", "action", "node", "eventInfo", "fmtAct"] if draw(st.booleans())
        ]
        children = []
        for tag in tags:
            attrs = ""
            if tag == "action":
                attrs = "".join(
                    f' {n}="{draw(values)}"' for n in ("uom", "prec") if draw(st.booleans())
                )
            children.append(
                f"<{tag}{attrs}/>"
                if draw(st.integers(0, 6)) == 0
                else f"<{tag}{attrs}>{draw(values)}</{tag}>"
            )
        root_attrs = "".join(
            f' {n}="{draw(values)}"' for n in ("seqnum", "sid") if draw(st.booleans())
        )
    else:
        children = draw(st.lists(elements(), max_size=6))
        root_attrs = draw(attributes(ATTRS))
    separator = draw(st.sampled_from(SEPARATORS)) if draw(st.integers(0, 3)) == 0 else ""
    root = draw(st.sampled_from(["Event", "Event", "Event", "event"]))
    frame = f"{draw(st.sampled_from(PROLOGS))}<{root}{root_attrs}>" + separator.join(children)
    frame += f"</{root}>" + draw(st.sampled_from(["", "", " \n", "<x/>"]))
    return draw(st.sampled_from(["", " ", "\n"])) + frame


def _outcome(decode: object, text: str) -> IsyEvent | str:
    assert callable(decode)
    try:
        return decode(text)  # type: ignore[no-any-return]
    except FrameDecodeError as exc:
        return f"FrameDecodeError: {exc}"


@MANY
@given(frames(), st.booleans())
def test_fast_path_decodes_exactly_as_element_tree(frame: str, wrapped: bool) -> None:
    full = _outcome(_decode_tree, frame.strip())
    message = json.dumps({"type": "event", "data": frame}) if wrapped else frame
    assert _outcome(decode_isy_event, message) == full


def test_the_grammar_reaches_both_paths() -> None:
    """The generated frames exercise the fast path and the hand-over both (else the property
    above would prove little)."""
    fast = handed_over = 0

    @settings(max_examples=500, deadline=None, database=None)
    @given(frames())
    def count(frame: str) -> None:
        nonlocal fast, handed_over
        if fast_match(frame.strip()) is None:
            handed_over += 1
        else:
            fast += 1

    count()
    assert fast >= 50 and handed_over >= 50


@pytest.mark.parametrize(
    "frame",
    [
        isy_status_frame(7, "16 6D 6F 1", 255),
        isy_status_frame(8, "ZW002_1", 725, uom="17", prec=1),
        isy_heartbeat_frame(9, 120),
        isy_event_frame(seqnum=10, control="DON", action="", node="16 6D 6F 1"),
        '<?xml version="1.0"?><Event seqnum="1" sid="uuid:47"><control>ST</control>'
        '<action uom="100" prec="0">255</action><node>16 6D 6F 1</node><eventInfo></eventInfo>'
        "<fmtAct>On</fmtAct></Event>",
    ],
)
def test_controller_frames_take_the_fast_path(frame: str) -> None:
    """What the simulator and a real controller send goes through the regular expression (the
    benchmark's figures depend on it), and decodes as the tree does."""
    assert fast_match(frame.strip()) is not None
    assert decode_isy_event(frame) == _decode_tree(frame.strip())


@pytest.mark.parametrize(
    "frame",
    [
        "<Event><control>_7</control><eventInfo>A &amp; B</eventInfo></Event>",
        '<Event><control>_1</control><eventInfo><var id="1"><val>0</val></var></eventInfo></Event>',
        "<Event><control>ST</control>\r\n<node>a</node></Event>",
        "<Event><control>caf\u00e9</control></Event>",
        "<Event><control>a]]>b</control></Event>",
        '<Event sid="b" seqnum="1"><control>ST</control></Event>',
    ],
)
def test_other_frames_are_handed_to_element_tree(frame: str) -> None:
    assert fast_match(frame) is None
    assert _outcome(decode_isy_event, frame) == _outcome(_decode_tree, frame)
