"""Defensive body decoding: XML bombs, DTDs, bad UTF-8, JSON depth."""

from __future__ import annotations

from html import escape

import pytest
import xmltodict
from hypothesis import given
from hypothesis import strategies as st

from adapters.codec import check_depth, loads_json, loads_xml, sniff
from gateway.errors import PayloadError

BILLION_LAUGHS = (
    b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
    b'<!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">]>'
    b"<xml><Content>&lol2;</Content></xml>"
)
XXE = (
    b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]>'
    b"<xml><Content>&e;</Content></xml>"
)


@pytest.mark.parametrize("body", [BILLION_LAUGHS, XXE, b"<!doctype xml><xml/>"])
def test_dtd_and_entities_refused(body: bytes) -> None:
    """Any DTD or entity declaration is refused before parsing."""
    with pytest.raises(PayloadError):
        loads_xml(body)


@pytest.mark.parametrize(
    "body", [b"<xml><a>1</xml>", b"<xml>", b"<a/><b/>", b"<xml>\xff\xfe</xml>"]
)
def test_malformed_xml_refused(body: bytes) -> None:
    """Truncated, mismatched or invalid-UTF-8 XML is a PayloadError."""
    with pytest.raises(PayloadError):
        loads_xml(body)


def test_cdata_and_escapes_parse() -> None:
    """CDATA sections and character references parse to their text."""
    assert loads_xml(b"<xml><A><![CDATA[<b>]]></A><B>&lt;&amp;</B></xml>") == {
        "A": "<b>",
        "B": "<&",
    }


@pytest.mark.parametrize("body", [b'{"a": "\xff"}', b'{"a": ', b"[1,2", b"nul"])
def test_malformed_json_refused(body: bytes) -> None:
    """Invalid UTF-8 and truncated JSON are PayloadErrors."""
    with pytest.raises(PayloadError):
        loads_json(body, 32)


def test_json_depth_limit() -> None:
    """Nesting beyond the limit is refused; at the limit it passes."""
    assert loads_json(b"[" * 32 + b"]" * 32, 32)
    with pytest.raises(PayloadError):
        loads_json(b"[" * 33 + b"]" * 33, 32)
    with pytest.raises(PayloadError):
        loads_json(b'{"a":' * 40 + b"1" + b"}" * 40, 32)


@pytest.mark.parametrize("body", [b"", b"   ", b"success", b"\x00\x01"])
def test_sniff_refuses_other_formats(body: bytes) -> None:
    """Bodies that are neither XML nor JSON are refused."""
    with pytest.raises(PayloadError):
        sniff(body)


@given(st.binary(max_size=300))
def test_loads_xml_never_raises_other_errors(body: bytes) -> None:
    """Arbitrary bytes either parse or raise PayloadError: nothing else escapes."""
    try:
        loads_xml(b"<xml>" + body + b"</xml>")
    except PayloadError:
        pass


@given(
    st.recursive(st.none() | st.integers(), lambda c: st.lists(c) | st.dictionaries(st.text(), c))
)
def test_check_depth_accepts_within_generous_limit(value: object) -> None:
    """Shallow documents pass a generous limit."""
    check_depth(value, 10_000)


_TAGS = st.sampled_from(["A", "B", "MsgType", "item", "Content"])
_TEXT = st.text(alphabet="ab 你好\n\t<&>]\"'", max_size=8)


def _render(tag: str, attrs: dict[str, str], text: str, children: list[tuple[str, str]]) -> str:
    attr = "".join(f' {k}="{escape(v, quote=True)}"' for k, v in attrs.items())
    inner = escape(text) + "".join(child + escape(tail) for child, tail in children)
    return f"<{tag}{attr}>{inner}</{tag}>"


_ELEMENTS = st.recursive(
    st.builds(_render, _TAGS, st.dictionaries(st.sampled_from(["x", "y"]), _TEXT, max_size=1),
              _TEXT, st.just([])),
    lambda inner: st.builds(
        _render, _TAGS, st.dictionaries(st.sampled_from(["x", "y"]), _TEXT, max_size=2), _TEXT,
        st.lists(st.tuples(inner, _TEXT), max_size=4),
    ),
    max_leaves=12,
)  # fmt: skip


@given(st.lists(st.tuples(_ELEMENTS, _TEXT), max_size=5), _TEXT, st.booleans())
def test_loads_xml_gives_what_xmltodict_gives(
    children: list[tuple[str, str]], text: str, cdata: bool
) -> None:
    """The ElementTree parser and xmltodict agree on every document shape: attributes,
    repeated and nested elements, mixed text and whitespace, CDATA, escapes, empty elements."""
    body = _render("xml", {}, text, children)
    if cdata:
        body = body.replace("<A>", "<A><![CDATA[ c&d ]]>", 1)
    data = body.encode()
    root = xmltodict.parse(data, disable_entities=True)["xml"]
    expected = {} if root is None else root
    if not isinstance(expected, dict):
        with pytest.raises(PayloadError):
            loads_xml(data)
    else:
        assert loads_xml(data) == expected


def test_xml_depth_limit_and_namespaces() -> None:
    """Nesting beyond the limit is refused (without recursing through it); a namespaced
    document keeps its prefixes, as xmltodict gives them."""
    assert loads_xml(b"<xml>" + b"<a>" * 31 + b"</a>" * 31 + b"</xml>")
    with pytest.raises(PayloadError):
        loads_xml(b"<xml>" + b"<a>" * 5000 + b"</a>" * 5000 + b"</xml>")
    doc = b'<xml xmlns:t="urn:t"><t:A>1</t:A><B>2</B></xml>'
    assert loads_xml(doc) == {"@xmlns:t": "urn:t", "t:A": "1", "B": "2"}
