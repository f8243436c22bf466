"""The webhook path's content header encoder gives pamqp's bytes, for any properties."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pamqp import frame, header
from pamqp.commands import Basic

from gateway.broker.content_header import _pack, content_header_frame

_TEXT = st.text(max_size=40) | st.text(min_size=80, max_size=100)
_STAMPS = st.datetimes(
    min_value=datetime(1971, 1, 1), max_value=datetime(2200, 1, 1)
) | st.datetimes(
    min_value=datetime(1971, 1, 1),
    max_value=datetime(2200, 1, 1),
    timezones=st.sampled_from([UTC, timezone(timedelta(hours=8))]),
)
_HEADERS = st.dictionaries(st.text(max_size=12), _TEXT | st.integers(0, 9), max_size=6)


def pamqp_frame(channel: int, size: int, properties: Basic.Properties) -> bytes:
    return frame.marshal(header.ContentHeader(0, size, properties), channel)


@given(
    channel=st.integers(1, 65535),
    size=st.integers(0, 2**40),
    content_type=st.none() | _TEXT,
    headers=st.none() | _HEADERS,
    delivery_mode=st.none() | st.sampled_from([1, 2]),
    message_id=st.none() | _TEXT,
    timestamp=st.none() | _STAMPS,
    app_id=st.none() | st.just("kefu"),
)
def test_same_bytes_as_pamqp(channel: int, size: int, **props: Any) -> None:
    """Whatever is set (also what the fast path hands to pamqp), the frame is pamqp's, and
    what pamqp refuses (a short string over 255 bytes) is refused the same way."""
    properties = Basic.Properties(**props)
    try:
        expected = pamqp_frame(channel, size, properties)
    except TypeError:
        with pytest.raises(TypeError):
            content_header_frame(channel, size, properties)
        return
    assert content_header_frame(channel, size, properties) == expected


def test_the_gateway_publish_takes_the_fast_path() -> None:
    """The properties the webhook path sets are packed here, not handed to pamqp."""
    properties = Basic.Properties(
        content_type="application/json",
        delivery_mode=2,
        message_id="9f" * 16,
        timestamp=datetime(2026, 12, 7, 8, 0, tzinfo=UTC),
        headers={"platform": "wechat", "account": "店铺1", "kind": "text", "route": "advisor"},
    )
    assert _pack(properties) is not None
    assert content_header_frame(1, 1234, properties) == pamqp_frame(1, 1234, properties)
    assert _pack(Basic.Properties(headers={"n": 1})) is None
