"""The ISY / IoX event protocol: frame decoding, the subscribe URL and the handshake headers."""

from __future__ import annotations

import base64
import json
import math
import xml.etree.ElementTree as ET
from decimal import Decimal
from xml.sax.saxutils import escape, quoteattr

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from trio_locksync.eventstream import FrameDecodeError
from trio_locksync.eventstream.isy import (
    ISY_ORIGIN,
    ISY_SUBPROTOCOL,
    MAX_FRAME_CHARS,
    IsyEvent,
    decode_isy_event,
    isy_headers,
    isy_subscribe_url,
)

PROPERTY_UPDATE = (
    '<?xml version="1.0"?><Event seqnum="12" sid="uuid:40"><control>ST</control>'
    '<action uom="100" prec="0">255</action><node>0E 16 1D 1</node><eventInfo></eventInfo>'
    "<fmtAct>On</fmtAct></Event>"
)
HEARTBEAT = (
    '<?xml version="1.0"?><Event seqnum="3" sid="uuid:40"><control>_0</control>'
    "<action>120</action><node></node><eventInfo/></Event>"
)
SECRET = "SECRET1234"
BILLION_LAUGHS = (
    '<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
    '<!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">'
    '<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">]>'
    "<Event><control>&lol3;</control></Event>"
)
QUICK = settings(max_examples=200, deadline=None)


def _envelope(xml: str) -> str:
    return json.dumps({"type": "event", "data": xml})


def _event(body: str, attrs: str = "") -> str:
    return f"<Event{attrs}>{body}</Event>"


# --- decoding -------------------------------------------------------------------------------


def test_property_update_decodes_every_field() -> None:
    """Re-expresses pyisyox ``test_ws_reader_dispatches_property_update``."""
    event = decode_isy_event(PROPERTY_UPDATE)
    assert event == IsyEvent(
        control="ST",
        action="255",
        uom="100",
        prec=0,
        node="0E 16 1D 1",
        event_info=None,
        seqnum=12,
        sid="uuid:40",
        formatted="On",
    )
    assert event.value == Decimal(255)
    assert not event.is_heartbeat
    assert event.heartbeat_interval is None


@pytest.mark.parametrize(
    ("action", "prec", "expected"),
    [
        ("725", "1", "72.5"),
        ("255", "0", "255"),
        ("5", "3", "0.005"),
        ("-50", "1", "-5.0"),
        ("+7", "2", "0.07"),
        ("12345678901234567890123456789012345", "4", "1234567890123456789012345678901.2345"),
    ],
)
def test_value_scales_integer_action_by_prec_exactly(action: str, prec: str, expected: str) -> None:
    frame = _event(f'<control>ST</control><action uom="17" prec="{prec}">{action}</action>')
    value = decode_isy_event(frame).value
    assert value is not None
    assert str(value) == expected
    assert value.as_tuple() == Decimal(expected).as_tuple()


def test_value_without_prec_is_the_integer_itself() -> None:
    assert decode_isy_event(_event("<control>ST</control><action>42</action>")).value == 42


@pytest.mark.parametrize("action", ["On", "1.5", "1e3", "", "  ", "0x10", "1_000"])
def test_value_is_none_for_non_integer_action(action: str) -> None:
    frame = _event(f'<control>ST</control><action prec="1">{action}</action>')
    assert decode_isy_event(frame).value is None


@pytest.mark.parametrize("prec", ["x", "-1", "1.0", "", " "])
def test_prec_that_is_not_a_non_negative_integer_is_none(prec: str) -> None:
    frame = _event(f'<control>ST</control><action prec="{prec}">725</action>')
    event = decode_isy_event(frame)
    assert event.prec is None
    assert event.value == 725


def test_heartbeat_reports_interval() -> None:
    event = decode_isy_event(HEARTBEAT)
    assert event.is_heartbeat
    assert event.heartbeat_interval == 120.0
    assert event.node is None
    assert event.event_info is None


@pytest.mark.parametrize("action", ["soon", "-5", "0", "inf", "-inf", "nan", "1e400", ""])
def test_heartbeat_without_finite_positive_action_has_no_interval(action: str) -> None:
    event = decode_isy_event(_event(f"<control>_0</control><action>{action}</action>"))
    assert event.is_heartbeat
    assert event.heartbeat_interval is None


def test_heartbeat_interval_accepts_fractional_seconds() -> None:
    event = decode_isy_event(_event("<control>_0</control><action> 2.5 </action>"))
    assert event.heartbeat_interval == 2.5


def test_non_heartbeat_has_no_interval_even_with_numeric_action() -> None:
    assert (
        decode_isy_event(_event("<control>ST</control><action>120</action>")).heartbeat_interval
        is None
    )


@pytest.mark.parametrize("frame", [PROPERTY_UPDATE, HEARTBEAT])
def test_json_envelope_decodes_like_the_raw_xml(frame: str) -> None:
    assert decode_isy_event(_envelope(frame)) == decode_isy_event(frame)


def test_envelope_with_extra_keys_and_surrounding_whitespace_decodes() -> None:
    message = "  " + json.dumps({"seq": 1, "type": "event", "data": "\n" + PROPERTY_UPDATE}) + "\n"
    assert decode_isy_event(message) == decode_isy_event(PROPERTY_UPDATE)


@pytest.mark.parametrize(
    "message",
    [
        json.dumps({"type": "status", "data": PROPERTY_UPDATE}),
        json.dumps({"data": PROPERTY_UPDATE}),
        json.dumps({"type": "event", "data": 12}),
        json.dumps({"type": "event", "data": None}),
        json.dumps({"type": "event"}),
        json.dumps([PROPERTY_UPDATE]),
        json.dumps(PROPERTY_UPDATE),
        "42",
        "null",
        '{"type": "event", "data": ',
        "hello",
        "",
        "   ",
        json.dumps({"type": "event", "data": json.dumps({"type": "event", "data": HEARTBEAT})}),
    ],
)
def test_bad_envelope_raises_frame_decode_error(message: str) -> None:
    with pytest.raises(FrameDecodeError):
        decode_isy_event(message)


@pytest.mark.parametrize(
    "message", [PROPERTY_UPDATE.encode(), b"", bytearray(b"<Event/>"), memoryview(b"x")]
)
def test_binary_frame_raises_frame_decode_error(message: bytes) -> None:
    with pytest.raises(FrameDecodeError, match="binary frame where text was expected"):
        decode_isy_event(message)


def test_non_text_frame_raises_frame_decode_error() -> None:
    with pytest.raises(FrameDecodeError):
        decode_isy_event(12)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("frame", "reason"),
    [
        ("<Event><control>ST</control>", "malformed XML"),
        ("<Event><control>ST</control></Evnt>", "malformed XML"),
        ("<", "malformed XML"),
        ("<Status><control>ST</control></Status>", r"root element is not <Event>"),
        ('<Event xmlns="urn:x"><control>ST</control></Event>', r"root element is not <Event>"),
        ("<Event><action>1</action></Event>", r"no <control>"),
        ("<Event><control>  </control></Event>", r"no <control>"),
        ("<Event><control/></Event>", r"no <control>"),
        ("<Event><x><control>ST</control></x></Event>", r"no <control>"),
        (BILLION_LAUGHS, "DOCTYPE or ENTITY"),
        ("<!doctype Event><Event><control>ST</control></Event>", "DOCTYPE or ENTITY"),
        ('<Event><control>ST</control><!EnTiTy x "y"></Event>', "DOCTYPE or ENTITY"),
        (_envelope(BILLION_LAUGHS), "DOCTYPE or ENTITY"),
        (_envelope(BILLION_LAUGHS).replace("<", "\\u003c"), "DOCTYPE or ENTITY"),
        (
            json.dumps({"note": "<!DOCTYPE", "type": "event", "data": PROPERTY_UPDATE}),
            "DOCTYPE or ENTITY",
        ),
    ],
)
def test_bad_xml_raises_frame_decode_error_saying_why(frame: str, reason: str) -> None:
    with pytest.raises(FrameDecodeError, match=reason):
        decode_isy_event(frame)


def test_frame_over_the_size_limit_is_refused_before_parsing() -> None:
    body = "<control>ST</control>"
    padding = " " * (MAX_FRAME_CHARS - len(_event(body)))
    at_limit = _event(body + padding)
    assert len(at_limit) == MAX_FRAME_CHARS
    assert decode_isy_event(at_limit).control == "ST"
    with pytest.raises(FrameDecodeError, match="limit"):
        decode_isy_event(at_limit + " ")


def test_missing_optional_parts_are_none() -> None:
    event = decode_isy_event(_event("<control>DON</control>"))
    assert event == IsyEvent(control="DON")
    assert event.action is None
    assert event.uom is None
    assert event.prec is None
    assert event.node is None
    assert event.event_info is None
    assert event.seqnum is None
    assert event.sid is None
    assert event.formatted is None
    assert event.value is None


def test_empty_optional_parts_are_none() -> None:
    frame = _event(
        '<control>ST</control><action uom="" prec="">  </action><node> </node>'
        "<eventInfo>\n</eventInfo><fmtAct></fmtAct>",
        ' seqnum="" sid=" "',
    )
    assert decode_isy_event(frame) == IsyEvent(control="ST")


@pytest.mark.parametrize("seqnum", ["twelve", "1.5", "", "0x1", "1" * 5000])
def test_non_integer_seqnum_is_none(seqnum: str) -> None:
    assert decode_isy_event(_event("<control>ST</control>", f' seqnum="{seqnum}"')).seqnum is None


def test_text_values_are_stripped() -> None:
    frame = _event(
        '<control>\n ST </control><action uom=" 100 " prec=" 1 ">\n 725 </action>'
        "<node> 0E 16 1D 1 </node><fmtAct> 72.5° </fmtAct>",
        ' seqnum=" 7 " sid=" uuid:1 "',
    )
    event = decode_isy_event(frame)
    assert (event.control, event.action, event.uom, event.prec) == ("ST", "725", "100", 1)
    assert (event.node, event.formatted, event.seqnum, event.sid) == (
        "0E 16 1D 1",
        "72.5°",
        7,
        "uuid:1",
    )


def test_event_info_keeps_raw_inner_xml_of_nested_elements() -> None:
    frame = _event(
        '<control>_1</control><eventInfo> a &amp; b <status code="3">busy</status>'
        "tail<empty/></eventInfo>"
    )
    assert (
        decode_isy_event(frame).event_info
        == 'a &amp; b <status code="3">busy</status>tail<empty />'
    )


def test_event_info_plain_text_is_kept() -> None:
    frame = _event("<control>_3</control><eventInfo>[  Time: 12:00 ]</eventInfo>")
    assert decode_isy_event(frame).event_info == "[  Time: 12:00 ]"


# Frames eisy really sends (pyisyox fixtures): a ``_7`` log line with a bare "&", and CDATA.
EISY_LOG_BARE_AMPERSAND = (
    '<?xml version="1.0"?><Event seqnum="1234" sid="uuid:1"><control>_7</control>'
    "<action>0</action><node></node><eventInfo>Log entry: A & B</eventInfo></Event>"
)
EISY_LOG_CDATA = (
    '<?xml version="1.0"?><Event seqnum="1235" sid="uuid:1"><control>_7</control>'
    "<action>0</action><node></node>"
    "<eventInfo><![CDATA[<some>markup & text</some>]]></eventInfo></Event>"
)


def _info_text(event_info: str | None) -> str:
    """The character data ``event_info`` (inner XML) stands for."""
    assert event_info is not None
    return "".join(ET.fromstring(f"<i>{event_info}</i>").itertext())


def test_eisy_log_frame_with_bare_ampersand_decodes() -> None:
    """eisy does not escape "&" in ``_7`` log text; pyisyox escapes stray ampersands before
    parsing. Before this fix the frame was refused as malformed XML (FrameDecodeError)."""
    event = decode_isy_event(EISY_LOG_BARE_AMPERSAND)
    assert event == IsyEvent(
        control="_7",
        action="0",
        event_info="Log entry: A &amp; B",  # inner XML: the "&" is escaped, as it should be
        seqnum=1234,
        sid="uuid:1",
    )
    assert _info_text(event.event_info) == "Log entry: A & B"
    assert decode_isy_event(_envelope(EISY_LOG_BARE_AMPERSAND)) == event


def test_eisy_log_frame_with_cdata_keeps_its_text() -> None:
    event = decode_isy_event(EISY_LOG_CDATA)
    assert event == IsyEvent(
        control="_7",
        action="0",
        event_info="&lt;some&gt;markup &amp; text&lt;/some&gt;",
        seqnum=1235,
        sid="uuid:1",
    )
    assert _info_text(event.event_info) == "<some>markup & text</some>"


def test_stray_ampersand_repair_leaves_cdata_and_references_alone() -> None:
    """Only an "&" that starts no entity or character reference is escaped, and never inside
    a CDATA section (whose text is taken literally): ``&amp;`` still decodes to "&"."""
    frame = _event(
        "<control>_7</control><eventInfo>"
        "<![CDATA[kept &amp; & as is]]> &amp; &lt;x&gt; &quot;&apos; &#38; &#x26; & R&D &nbsp;"
        "</eventInfo>",
        ' sid="a&b &amp; c"',
    )
    event = decode_isy_event(frame)
    assert _info_text(event.event_info) == "kept &amp; & as is & <x> \"' & & & R&D &nbsp;"
    assert event.sid == "a&b & c"


@pytest.mark.parametrize(
    "frame",
    [
        pytest.param("<Event><control>_7</control><eventInfo>A & B</Event>", id="mismatched-tag"),
        pytest.param("<Event><control>_7 & more</control>", id="unclosed"),
        pytest.param("<Event><control>_7</control>&#0;</Event>", id="invalid-char-reference"),
        pytest.param("<Event><control>_7</control>&#xD800;</Event>", id="surrogate-reference"),
        pytest.param(
            "<Event><control>_7</control><eventInfo><![CDATA[A & B</eventInfo></Event>",
            id="unterminated-cdata",
        ),
        pytest.param("<Event><control>_7</control><&></Event>", id="ampersand-as-tag"),
    ],
)
def test_genuinely_malformed_frames_still_raise(frame: str) -> None:
    with pytest.raises(FrameDecodeError, match="malformed XML"):
        decode_isy_event(frame)


def test_unknown_elements_and_attributes_are_ignored() -> None:
    frame = _event(
        '<extra a="1"><control>XX</control></extra><control flag="y">ST</control>'
        '<action uom="100" prec="0" other="z">255</action><node>0E 16 1D 1</node>'
        "<fmtName>Status</fmtName>",
        ' seqnum="12" sid="uuid:40" extra="1"',
    )
    event = decode_isy_event(frame)
    assert event == IsyEvent(
        control="ST", action="255", uom="100", prec=0, node="0E 16 1D 1", seqnum=12, sid="uuid:40"
    )


def test_repr_shows_event_info_length_not_content() -> None:
    frame = _event(f"<control>_1</control><eventInfo><code>{SECRET}</code></eventInfo>")
    event = decode_isy_event(frame)
    assert event.event_info == f"<code>{SECRET}</code>"
    assert SECRET not in repr(event)
    assert f"event_info=<{len(event.event_info)} chars>" in repr(event)
    assert "control='_1'" in repr(event)
    assert "event_info=None" in repr(IsyEvent(control="ST"))


# --- errors never quote the frame -----------------------------------------------------------

SECRET_FRAMES = [
    pytest.param(f"<Event><control>{SECRET}", id="malformed-xml"),
    pytest.param(f"<{SECRET}><control>ST</control></{SECRET}>", id="wrong-root"),
    pytest.param(f"<Event><action>{SECRET}</action></Event>", id="no-control"),
    pytest.param(f'<Event sid="{SECRET}"><control> </control></Event>', id="empty-control"),
    pytest.param(f'<!DOCTYPE x [<!ENTITY s "{SECRET}">]><Event/>', id="doctype"),
    pytest.param(f'<Event><!ENTITY s "{SECRET}"></Event>', id="entity"),
    pytest.param(f'{{"type": "event", "data": "{SECRET}', id="bad-json"),
    pytest.param(f"{SECRET}", id="not-json"),
    pytest.param(json.dumps([SECRET]), id="non-object-json"),
    pytest.param(json.dumps({"type": SECRET, "data": "<Event/>"}), id="wrong-type"),
    pytest.param(json.dumps({"type": "event", "data": [SECRET]}), id="non-string-data"),
    pytest.param(_envelope(f"<Event><control>{SECRET}</Event>"), id="envelope-malformed-xml"),
    pytest.param(f"<Event><control>{SECRET} & more</control>", id="malformed-with-ampersand"),
    pytest.param(
        f"<Event><control>{SECRET}</control></Event>" + " " * MAX_FRAME_CHARS, id="oversize"
    ),
    pytest.param(f"<Event>{SECRET}\udc80</Event>", id="lone-surrogate"),
    pytest.param(f"<Event>{SECRET}\x00</Event>", id="nul-character"),
    pytest.param(f"<Event><control>{SECRET}</control></Event>".encode(), id="binary"),
]


def _chain(exc: BaseException) -> list[BaseException]:
    seen: list[BaseException] = []
    todo: list[BaseException | None] = [exc]
    while todo:
        current = todo.pop()
        if current is None or any(current is s for s in seen):
            continue
        seen.append(current)
        todo.extend([current.__cause__, current.__context__])
    return seen


@pytest.mark.parametrize("frame", SECRET_FRAMES)
def test_decode_errors_never_carry_frame_content(frame: str | bytes) -> None:
    with pytest.raises(FrameDecodeError) as info:
        decode_isy_event(frame)
    chain = _chain(info.value)
    assert chain == [info.value]  # nothing chained: a parser error could hold the frame
    for exc in chain:
        for text in (str(exc), repr(exc), *map(repr, exc.args), repr(vars(exc))):
            assert SECRET not in text


# --- Hypothesis -----------------------------------------------------------------------------

# Characters XML 1.0 can carry (no C0 controls but tab/newline, no surrogates, no U+FFFE/FFFF).
# Carriage return is left out: the parser turns it into a newline in text, which is XML's rule,
# not the decoder's.
XML_CHARS = st.characters(
    codec="utf-8",
    exclude_categories=["Cs", "Cc"],
    include_characters="\t\n",
    exclude_characters="\ufffe\uffff",
)
XML_TEXT = st.text(XML_CHARS, max_size=20)
NOT_INT = st.text("abc -.xyz", min_size=1, max_size=5)


@QUICK
@given(st.text())
def test_arbitrary_text_raises_only_frame_decode_error(message: str) -> None:
    try:
        decode_isy_event(message)
    except FrameDecodeError:
        pass


@QUICK
@given(st.text(XML_CHARS).map(lambda t: "<Event>" + t))
def test_arbitrary_text_after_an_event_tag_raises_only_frame_decode_error(message: str) -> None:
    try:
        decode_isy_event(message)
    except FrameDecodeError:
        pass


@QUICK
@given(st.binary())
def test_arbitrary_bytes_raise_frame_decode_error(message: bytes) -> None:
    with pytest.raises(FrameDecodeError):
        decode_isy_event(message)


@QUICK
@given(
    st.text(
        st.characters(
            codec="utf-8",
            exclude_categories=["Cs", "Cc"],
            include_characters="\t\n",
            exclude_characters="\ufffe\uffff;",
        )
    )
)
def test_unescaped_ampersands_in_event_info_decode_to_the_text(text: str) -> None:
    """Text sent with "<" and ">" escaped but "&" left bare (eisy's log frames) decodes to the
    same event info as the properly escaped frame. Without ";" no "&" can start a reference."""
    bare = text.replace("<", "&lt;").replace(">", "&gt;")
    event = decode_isy_event(_event(f"<control>_7</control><eventInfo>{bare}</eventInfo>"))
    assert event.event_info == (escape(text).strip() or None)


def _opt_attr(name: str, value: str | None) -> str:
    return "" if value is None else f" {name}={quoteattr(value)}"


def _opt_element(tag: str, text: str | None, attrs: str = "") -> str:
    return "" if text is None else f"<{tag}{attrs}>{escape(text)}</{tag}>"


def _expected_text(text: str | None) -> str | None:
    return None if text is None else (text.strip() or None)


@st.composite
def generated_events(draw: st.DrawFn) -> tuple[str, dict[str, object]]:
    control = draw(XML_TEXT)
    action = draw(st.one_of(st.none(), XML_TEXT, st.integers(-(10**15), 10**15).map(str)))
    # uom and prec are attributes of <action>, so they exist only with it.
    uom = None if action is None else draw(st.one_of(st.none(), XML_TEXT))
    prec = None if action is None else draw(st.one_of(st.none(), st.integers(0, 12), NOT_INT))
    node = draw(st.one_of(st.none(), XML_TEXT))
    seqnum = draw(st.one_of(st.none(), st.integers(0, 10**12), NOT_INT))
    sid = draw(st.one_of(st.none(), XML_TEXT))
    formatted = draw(st.one_of(st.none(), XML_TEXT))
    extra = draw(st.one_of(st.none(), XML_TEXT))
    order = draw(st.permutations(range(5)))
    wrapped = draw(st.booleans())

    action_attrs = _opt_attr("uom", uom) + _opt_attr("prec", None if prec is None else str(prec))
    elements = [
        _opt_element("control", control),
        _opt_element("action", action, action_attrs),
        _opt_element("node", node),
        _opt_element("fmtAct", formatted),
        _opt_element("unknownThing", extra, ' foo="bar"'),
    ]
    root_attrs = _opt_attr("seqnum", None if seqnum is None else str(seqnum)) + _opt_attr(
        "sid", sid
    )
    xml = '<?xml version="1.0"?>' + _event("".join(elements[i] for i in order), root_attrs)
    expected: dict[str, object] = {
        "control": _expected_text(control),
        "action": _expected_text(action),
        "uom": _expected_text(uom),
        "prec": prec if isinstance(prec, int) else None,
        "node": _expected_text(node),
        "seqnum": seqnum if isinstance(seqnum, int) else None,
        "sid": _expected_text(sid),
        "formatted": _expected_text(formatted),
    }
    return (_envelope(xml) if wrapped else xml), expected


@QUICK
@given(generated_events())
def test_generated_events_round_trip(case: tuple[str, dict[str, object]]) -> None:
    frame, expected = case
    if expected["control"] is None:
        with pytest.raises(FrameDecodeError, match="no <control>"):
            decode_isy_event(frame)
        return
    event = decode_isy_event(frame)
    decoded = {name: getattr(event, name) for name in expected}
    assert decoded == expected
    action = expected["action"]
    if isinstance(action, str) and action.lstrip("-").isdigit() and action.isascii():
        scale = Decimal(10) ** (expected["prec"] if isinstance(expected["prec"], int) else 0)
        assert event.value == Decimal(action) / scale


# --- the subscribe URL ----------------------------------------------------------------------


def test_https_base_translates_to_wss() -> None:
    """Re-expresses pyisyox ``test_ws_reader_url_translates_https_to_wss``."""
    assert isy_subscribe_url("https://eisy.local:8443") == "wss://eisy.local:8443/rest/subscribe"


def test_http_base_translates_to_ws() -> None:
    """Re-expresses pyisyox ``test_ws_url_for_http_base``."""
    assert isy_subscribe_url("http://eisy.local:8080") == "ws://eisy.local:8080/rest/subscribe"


def test_unknown_scheme_gets_the_path_appended() -> None:
    """Re-expresses pyisyox ``test_ws_url_for_unknown_scheme_appends_path``."""
    assert isy_subscribe_url("eisy.local:8080") == "eisy.local:8080/rest/subscribe"
    assert isy_subscribe_url("foo://x") == "foo://x/rest/subscribe"


@pytest.mark.parametrize(
    ("base", "expected"),
    [
        ("ws://isy", "ws://isy/rest/subscribe"),
        ("wss://isy:443", "wss://isy:443/rest/subscribe"),
        ("HTTP://isy", "ws://isy/rest/subscribe"),
        ("http://isy/", "ws://isy/rest/subscribe"),
        ("http://host:8080/isy/", "ws://host:8080/isy/rest/subscribe"),
        ("http://host:8080/isy", "ws://host:8080/isy/rest/subscribe"),
        ("https://host/a/b//", "wss://host/a/b/rest/subscribe"),
        ("https://host/rest/subscribe", "wss://host/rest/subscribe"),
        ("http://host/isy/rest/subscribe/", "ws://host/isy/rest/subscribe"),
        ("wss://host/rest/subscribe", "wss://host/rest/subscribe"),
        ("http://user:pw@host:8080/isy", "ws://host:8080/isy/rest/subscribe"),
        ("https://user:p@ss@host", "wss://host/rest/subscribe"),
        ("https://user@host", "wss://host/rest/subscribe"),
        ("http://host/isy?x=1#frag", "ws://host/isy/rest/subscribe"),
        ("http://host?token=abc", "ws://host/rest/subscribe"),
        ("http://[fe80::1]:8080", "ws://[fe80::1]:8080/rest/subscribe"),
        ("foo://user:pw@x/p?q", "foo://x/p/rest/subscribe"),
    ],
)
def test_subscribe_url(base: str, expected: str) -> None:
    assert isy_subscribe_url(base) == expected


@pytest.mark.parametrize("base", ["http://", "https://user:pw@", "ws://:8080"])
def test_subscribe_url_without_host_raises_without_quoting_credentials(base: str) -> None:
    with pytest.raises(ValueError, match="no host") as info:
        isy_subscribe_url(base)
    assert "pw" not in str(info.value)


# --- handshake headers ----------------------------------------------------------------------


def test_subprotocol_and_origin_constants() -> None:
    assert ISY_SUBPROTOCOL == "ISYSUB"
    assert ISY_ORIGIN == "com.universal-devices.websockets.isy"


def test_headers_without_credentials_carry_only_origin() -> None:
    assert isy_headers() == [("Origin", ISY_ORIGIN)]


def test_headers_with_username_and_password_use_basic_auth() -> None:
    assert isy_headers(username="admin", password="admin") == [
        ("Origin", ISY_ORIGIN),
        ("Authorization", "Basic YWRtaW46YWRtaW4="),
    ]


def test_basic_auth_encodes_utf8_and_keeps_colons_in_password() -> None:
    headers = dict(isy_headers(username="jürgen", password="pa:ss"))
    scheme, _, encoded = headers["Authorization"].partition(" ")
    assert scheme == "Basic"
    assert base64.b64decode(encoded, validate=True) == "jürgen:pa:ss".encode()


def test_headers_with_token_use_bearer_auth() -> None:
    assert isy_headers(token="tok.en-123") == [
        ("Origin", ISY_ORIGIN),
        ("Authorization", "Bearer tok.en-123"),
    ]


@pytest.mark.parametrize(
    "kwargs",
    [
        {"token": SECRET, "username": "admin", "password": SECRET},
        {"token": SECRET, "username": "admin"},
        {"token": SECRET, "password": SECRET},
        {"username": "admin"},
        {"password": SECRET},
        {"token": ""},
        {"username": "ad:min", "password": SECRET},
        {"username": "admin", "password": SECRET + "\ud800"},
    ],
)
def test_bad_header_arguments_raise_value_error_without_secrets(kwargs: dict[str, str]) -> None:
    with pytest.raises(ValueError) as info:
        isy_headers(**kwargs)
    for exc in _chain(info.value):
        for text in (str(exc), repr(exc), *map(repr, exc.args)):
            assert SECRET not in text


def test_heartbeat_interval_is_finite_for_every_accepted_value() -> None:
    # Guards the watchdog arithmetic (heartbeat + 2 s) against inf/nan sneaking through.
    for action in ("1", "120", "0.001", "3600"):
        event = decode_isy_event(_event(f"<control>_0</control><action>{action}</action>"))
        assert event.heartbeat_interval is not None
        assert math.isfinite(event.heartbeat_interval)


def test_repeated_short_fields_share_one_string() -> None:
    """Thousands of buffered events repeat the same controls, units, nodes and sids: the
    decoder keeps one copy of each (420 instead of 552 bytes per buffered event)."""
    frame = (
        '<Event seqnum="{}" sid="uuid:40"><control>ST</control>'
        '<action uom="100" prec="0">255</action><node>0E 16 1D 1</node></Event>'
    )
    first, second = decode_isy_event(frame.format(1)), decode_isy_event(frame.format(2))
    for field in ("control", "action", "uom", "node", "sid"):
        assert getattr(first, field) is getattr(second, field), field
