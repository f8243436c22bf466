"""Defensive decoding of callback bodies shared by all adapters: XML and JSON with limits.

XML: documents with a DTD or entity declarations are refused before parsing (no platform sends
them, and this closes billion-laughs and external-entity attacks). Parsing is expat through
ElementTree's C parser, turned into the dict shape xmltodict gives (``@attr``, ``#text``,
repeated elements as lists, empty ones as None): about 3× faster than xmltodict's Python SAX
handler on a WeChat callback, which parses two documents (bench/results/2026-12-07-hotpath.md).
A document with XML namespaces (no platform sends one) goes to xmltodict itself, whose names
keep their prefixes.

Flat documents — a root holding only simple elements, each once, with CDATA or plain text and
no attributes: every WeChat message and event but a few store events, and every safe-mode
envelope — are read by three regular expressions instead (`_flat`), about twice as fast as
creating and running an expat parser (bench/bench_pipeline.py). Anything they do not match
exactly (entities, attributes, nesting, repeats, carriage returns, characters XML does not
allow, invalid UTF-8, an XML declaration) goes to expat, so the result and the errors are
expat's in every case (tests/adapters/test_codec.py checks the two agree).

JSON: orjson (invalid UTF-8 is an error) plus a nesting-depth limit.
"""

from __future__ import annotations

import re
from typing import Any
from xml.etree.ElementTree import Element, ParseError, XMLParser

import orjson
import xmltodict

from gateway.errors import PayloadError

__all__ = ["check_depth", "loads_json", "loads_xml", "sniff"]

_DOCTYPE = re.compile(rb"<!\s*(DOCTYPE|ENTITY)", re.IGNORECASE)
# A flat document (see the module's docstring). Element names are ASCII without ':'; values are
# CDATA without ']' or plain text without markup or references, and neither holds a character
# that XML refuses or '\r' (which expat turns into '\n'); whitespace is XML's, without '\r'.
_NAME = r"[A-Za-z_][A-Za-z0-9_]*"
_NOT_PLAIN = r"\x00-\x08\x0b\x0c\r\x0e-\x1f\ufffe\uffff"
_FLAT_OPEN = re.compile(rf"[ \t\n]*<({_NAME})>")
_FLAT_FIELD = re.compile(
    rf"[ \t\n]*<({_NAME})>"
    rf"(?:<!\[CDATA\[([^\]{_NOT_PLAIN}]*)\]\]>|([^<>&{_NOT_PLAIN}]*))</\1>"
)
_FLAT_CLOSE = re.compile(rf"[ \t\n]*</({_NAME})>[ \t\n]*\Z")
_EXPAT_ERRORS: tuple[type[Exception], ...] = (ValueError, LookupError, ParseError)
try:  # pyexpat's error type (xmltodict's path); ExpatError subclasses Exception
    from xml.parsers.expat import ExpatError

    _EXPAT_ERRORS = (*_EXPAT_ERRORS, ExpatError)  # LookupError: unknown encoding
except ImportError:  # pragma: no cover - pyexpat is part of CPython
    pass


def sniff(body: bytes) -> str:
    """'xml' or 'json' by the first non-space byte; PayloadError for anything else."""
    head = body.lstrip()[:1]
    if head == b"<":
        return "xml"
    if head in (b"{", b"["):
        return "json"
    raise PayloadError("body is neither XML nor JSON")


def loads_xml(body: bytes, max_depth: int = 32) -> dict[str, Any]:
    """Parse a WeChat-style ``<xml>...</xml>`` document into the dict under its root element."""
    if _DOCTYPE.search(body):
        raise PayloadError("XML with a DTD or entity declaration is refused")
    if max_depth >= 2 and (flat := _flat(body)) is not None:
        return flat
    return _parsed(body, max_depth)


def _parsed(body: bytes, max_depth: int) -> dict[str, Any]:
    """`loads_xml` by expat, for any document (DTDs already refused)."""
    try:
        parser = XMLParser()  # noqa: S314 - DTDs and entity declarations are refused above
        parser.feed(body)
        element = parser.close()
    except _EXPAT_ERRORS as exc:
        raise PayloadError("malformed XML") from exc
    root = _namespaced(body, max_depth) if b"xmlns" in body else _value(element, 1, max_depth)
    if root is None:
        return {}
    if not isinstance(root, dict):
        raise PayloadError("XML root element must contain elements")
    return root


def _flat(body: bytes) -> dict[str, Any] | None:
    """The value of a flat document (module docstring), or None for expat to parse it."""
    try:
        text = body.decode()
    except UnicodeDecodeError:
        return None
    opened = _FLAT_OPEN.match(text)
    if opened is None:
        return None
    value: dict[str, Any] = {}
    at = opened.end()
    field = _FLAT_FIELD.match
    while (found := field(text, at)) is not None:
        tag, cdata, plain = found.groups()
        if tag in value:
            return None  # repeated: a list, as expat's path builds it
        value[tag] = (cdata if cdata is not None else plain).strip() or None
        at = found.end()
    closed = _FLAT_CLOSE.match(text, at)
    if not value or closed is None or closed.group(1) != opened.group(1):
        return None
    return value


def _value(element: Element, depth: int, max_depth: int) -> dict[str, Any] | str | None:
    """xmltodict's value of an element: text (stripped; None if empty) when it has neither
    attributes nor children, else a dict of ``@attributes``, children (a list when repeated)
    and the element's own ``#text``."""
    if depth > max_depth:
        raise PayloadError(f"document nested deeper than {max_depth}")
    text = element.text
    if not len(element) and not element.attrib:
        return (text.strip() or None) if text else None
    value: dict[str, Any] = {f"@{k}": v for k, v in element.attrib.items()}
    pieces = [text] if text else []
    for child in element:
        item = _value(child, depth + 1, max_depth)
        tag = child.tag
        if tag not in value:
            value[tag] = item
        elif isinstance(existing := value[tag], list):  # an element's value is never a list
            existing.append(item)
        else:
            value[tag] = [existing, item]
        if child.tail:
            pieces.append(child.tail)
    joined = "".join(pieces).strip()
    if joined:
        value["#text"] = joined
    return value


def _namespaced(body: bytes, max_depth: int) -> Any:
    """xmltodict's value of the root element (names keep their namespace prefixes)."""
    root = next(iter(xmltodict.parse(body, disable_entities=True).values()))
    check_depth(root, max_depth)
    return root


def loads_json(body: bytes | str, max_depth: int) -> Any:
    """orjson.loads plus a depth limit; PayloadError on any problem."""
    try:
        value = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise PayloadError("malformed JSON") from exc
    check_depth(value, max_depth)
    return value


def check_depth(value: Any, max_depth: int) -> None:
    """Refuse containers nested deeper than `max_depth` (iterative: no recursion limit issues)."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        node, depth = stack.pop()
        if isinstance(node, dict):
            children: Any = node.values()
        elif isinstance(node, list):
            children = node
        else:
            continue
        if depth > max_depth:
            raise PayloadError(f"document nested deeper than {max_depth}")
        stack.extend((child, depth + 1) for child in children)
