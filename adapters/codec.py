"""Defensive decoding of callback bodies shared by all adapters: XML and JSON with limits.

XML: documents with a DTD or entity declarations are refused before parsing (no platform sends
them, and this closes billion-laughs and external-entity attacks), and xmltodict runs with
entities disabled. JSON: orjson (invalid UTF-8 is an error) plus a nesting-depth limit.
"""

from __future__ import annotations

import re
from typing import Any

import orjson
import xmltodict

from gateway.errors import PayloadError

__all__ = ["check_depth", "loads_json", "loads_xml", "sniff"]

_DOCTYPE = re.compile(rb"<!\s*(DOCTYPE|ENTITY)", re.IGNORECASE)
_EXPAT_ERRORS: tuple[type[Exception], ...] = (ValueError,)
try:  # pyexpat's error type; ExpatError subclasses Exception
    from xml.parsers.expat import ExpatError

    _EXPAT_ERRORS = (ValueError, LookupError, ExpatError)  # LookupError: unknown encoding
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
    try:
        doc = xmltodict.parse(body, disable_entities=True)
    except _EXPAT_ERRORS as exc:
        raise PayloadError("malformed XML") from exc
    if not isinstance(doc, dict) or len(doc) != 1:
        raise PayloadError("XML must have exactly one root element")
    root = next(iter(doc.values()))
    if root is None:
        return {}
    if not isinstance(root, dict):
        raise PayloadError("XML root element must contain elements")
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
