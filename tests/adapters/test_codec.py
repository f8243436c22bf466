"""Defensive body decoding: XML bombs, DTDs, bad UTF-8, JSON depth."""

from __future__ import annotations

from html import escape

import pytest
import xmltodict
from hypothesis import given, settings
from hypothesis import strategies as st

from adapters.codec import _flat, _parsed, check_depth, loads_json, loads_xml, sniff
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


# Flat documents: read without expat, with expat's result -------------------------------------

ENVELOPE = (
    b"<xml>\n    <ToUserName><![CDATA[gh_7f083739789a]]></ToUserName>\n"
    b"    <Encrypt><![CDATA[kCX0ywFlg0o/ByuDDZ1K8+Fw==]]></Encrypt>\n</xml>\n"
)
TEXT_MESSAGE = (
    "<xml><ToUserName><![CDATA[gh_7f083739789a]]></ToUserName>"
    "<FromUserName><![CDATA[oia2TjjewbmiOUlr6X-1crbLOvLw]]></FromUserName>"
    "<CreateTime>1407743423</CreateTime><MsgType><![CDATA[text]]></MsgType>"
    "<Content><![CDATA[  你好, 订单 13812345678 <b>&amp; ]]></Content>"
    "<MsgId>6038700799783131222</MsgId><Empty></Empty><Blank><![CDATA[ ]]></Blank></xml>"
).encode()


@pytest.mark.parametrize("body", [ENVELOPE, TEXT_MESSAGE])
def test_flat_documents_skip_expat(body: bytes) -> None:
    """A safe-mode envelope and a text message take the flat path, with expat's result."""
    flat = _flat(body)
    assert flat is not None
    assert flat == _parsed(body, 32) == loads_xml(body)


@pytest.mark.parametrize(
    "body",
    [
        b"<xml><A>a &amp; b</A></xml>",  # a character reference
        b'<xml><A x="1">a</A></xml>',  # an attribute
        b"<xml><A><B>b</B></A></xml>",  # nesting
        b"<xml><A>1</A><A>2</A></xml>",  # a repeated element (a list)
        b"<xml><A>a\r\nb</A></xml>",  # expat turns CR LF into LF
        b"<xml>\r\n<A>a</A></xml>",
        b"<xml><A><![CDATA[a]b]]></A></xml>",  # ']' inside CDATA
        b"<xml><A><![CDATA[a]]>b</A></xml>",  # mixed content
        b'<?xml version="1.0" encoding="GBK"?><xml><A>a</A></xml>',  # a declaration
        b"\xef\xbb\xbf<xml><A>a</A></xml>",  # a byte-order mark
        b"<xml><A>a</A></XML>",  # mismatched root
        b"<xml><A>a</B></xml>",
        b"<xml><A>\x01</A></xml>",  # not an XML character
        b"<xml><A>\xff</A></xml>",  # not UTF-8
        b"<xml></xml>",  # no element
        b"<xml><A>a</A></xml>trailing",
        b"<xml><ns:A>a</ns:A></xml>",
    ],
)
def test_other_documents_go_to_expat(body: bytes) -> None:
    """Whatever the flat path does not match exactly is left to expat (and answered alike)."""
    assert _flat(body) is None
    try:
        expected: object = _parsed(body, 32)
    except PayloadError:
        expected = PayloadError
    try:
        got: object = loads_xml(body)
    except PayloadError:
        got = PayloadError
    assert got == expected


_SPACES = ["", " ", "\n", "\t", "\n    "]
_SPACE = st.sampled_from(_SPACES * 3 + ["\r\n", "\x0c"])
_CLEAN = "ab 你好😀;]\n\t"  # ']' is plain text's, not CDATA's
_CLEAN_VALUE = st.builds(
    lambda lead, text, trail: lead + text + trail,
    st.sampled_from(["", " ", "\n "]),
    st.text(alphabet=_CLEAN, max_size=6),
    st.sampled_from(["", " ", "\t"]),
)
_VALUE = st.one_of(
    _CLEAN_VALUE, _CLEAN_VALUE, _CLEAN_VALUE, st.text(alphabet=_CLEAN + "\r>&<\x01\ufffe")
)
_NAMES = ["A", "B", "MsgType", "x_1", "Content"]
_FIELD_NAME = st.sampled_from(_NAMES * 3 + ["ns:A", "1a", "A-b"])


def _is_flat(fields: list[tuple[str, str, str, bool]], tail: str, close: str, head: str) -> bool:
    names = [name for _, name, _, _ in fields]
    return (
        bool(fields)
        and not head
        and close == ""
        and len(set(names)) == len(names)
        and set(names) <= set(_NAMES)
        and all(space in _SPACES for space, _, _, _ in [*fields, (tail, "", "", False)])
        and all(
            not set(value) & set("\r\x01\ufffe" + ("]" if cdata else "<>&"))
            for _, _, value, cdata in fields
        )
    )


@settings(max_examples=400)
@given(
    st.sampled_from(["xml", "x", "xml2"]),
    st.lists(st.tuples(_SPACE, _FIELD_NAME, _VALUE, st.booleans()), max_size=5),
    _SPACE,
    st.sampled_from(["", "", "", "y"]),
    st.sampled_from(["", "", "", '<?xml version="1.0"?>', "\ufeff"]),
)
def test_flat_path_agrees_with_expat(
    root: str,
    fields: list[tuple[str, str, str, bool]],
    tail: str,
    close: str,
    head: str,
) -> None:
    """On documents near the flat shape — raw (unescaped) values with markup, references,
    CR, ']' and characters XML refuses, bad names, repeats, odd whitespace, declarations —
    the flat path gives exactly what expat gives, and declines only what is not flat."""
    inner = "".join(
        f"{space}<{name}>{f'<![CDATA[{value}]]>' if cdata else value}</{name}>"
        for space, name, value, cdata in fields
    )
    body = f"{head}<{root}>{inner}{tail}</{close or root}>".encode()
    flat = _flat(body)
    assert (flat is not None) == _is_flat(fields, tail, close, head)
    if flat is not None:
        assert flat == _parsed(body, 32)
