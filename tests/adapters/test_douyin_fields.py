"""adapters.fields: the id, time, header and redaction helpers of the Douyin and Taobao adapters."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from adapters.fields import Redacted, epoch, header, id_text, json_object, stringify_ids
from gateway.errors import PayloadError


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (1700000000, datetime.fromtimestamp(1700000000, UTC)),
        (1700000000123, datetime.fromtimestamp(1700000000.123, UTC)),
        ("1700000000", datetime.fromtimestamp(1700000000, UTC)),
        (0, None),
        (-5, None),
        (10**20, None),
        (True, None),
        ("soon", None),
        (1.7e9, None),
        (None, None),
    ],
)
def test_epoch_accepts_seconds_and_milliseconds_only(value: object, expected: object) -> None:
    """Plausible Unix times in s or ms become UTC datetimes; anything else is None."""
    assert epoch(value) == expected


def test_stringify_ids_converts_id_fields_and_unsafe_integers() -> None:
    """Id-named integers and integers beyond 2**53 become strings; other values stay."""
    data = {
        "p_id": 5,
        "s_ids": [1, 2],
        "tid": 7,
        "count": 3,
        "big": 2**53 + 1,
        "paid": 1,
        "flag": True,
        "nested": [{"order_id": 9, "amount": 9900}],
    }
    assert stringify_ids(data) == {
        "p_id": "5",
        "s_ids": ["1", "2"],
        "tid": "7",
        "count": 3,
        "big": str(2**53 + 1),
        "paid": 1,
        "flag": True,
        "nested": [{"order_id": "9", "amount": 9900}],
    }


@pytest.mark.parametrize("value", [1.5, True, [1], {"a": 1}, "x" * 300])
def test_id_text_refuses_non_ids(value: object) -> None:
    """Floats (rounded ids), booleans, containers and absurdly long strings are not ids."""
    with pytest.raises(PayloadError):
        id_text({"id": value}, "id")


def test_id_text_keeps_integers_and_strings_exactly() -> None:
    """Integers of any size and strings come back as exact strings; absent or empty is None."""
    assert id_text({"id": 2**64 - 1}, "id") == "18446744073709551615"
    assert id_text({"id": "abc"}, "id") == "abc"
    assert id_text({"id": ""}, "id") is None
    assert id_text({}, "id") is None


def test_json_object_accepts_object_or_string_of_one() -> None:
    """A JSON object is accepted as such or as a string; anything else is malformed."""
    assert json_object('{"a":1}', "x", 8) == {"a": 1}
    assert json_object({"a": 1}, "x", 8) == {"a": 1}
    for bad in ("[1]", "nope", 3, None):
        with pytest.raises(PayloadError):
            json_object(bad, "x", 8)


def test_header_lookup_is_case_insensitive() -> None:
    """Headers are found whatever their case."""
    assert header({"event-sign": "a"}, "Event-Sign") == "a"
    assert header({"Event-Sign": "b"}, "event-sign") == "b"
    assert header({}, "event-sign") is None


def test_redacted_repr_shows_keys_not_values() -> None:
    """A Redacted payload compares and serializes like a dict but never shows a value."""
    payload = Redacted(receiver_msg={"tel": "13800138000"})
    assert "13800138000" not in repr(payload) and "13800138000" not in str(payload)
    assert "receiver_msg" in repr(payload)
    assert payload == {"receiver_msg": {"tel": "13800138000"}}
