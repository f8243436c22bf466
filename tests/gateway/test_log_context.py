"""`gateway.logs.log_context`: context bound for the log lines inside, restored on exit."""

from __future__ import annotations

import pytest
import structlog
from structlog.contextvars import bind_contextvars, clear_contextvars, get_contextvars

from gateway.logs import log_context


@pytest.fixture(autouse=True)
def clean() -> None:
    clear_contextvars()


def test_binds_inside_and_restores_what_was_there() -> None:
    bind_contextvars(request_id="outer", platform="wechat")
    with log_context(platform="douyin", account="shop"):
        assert get_contextvars() == {"request_id": "outer", "platform": "douyin", "account": "shop"}
        with log_context(account="other"):
            assert get_contextvars()["account"] == "other"
        assert get_contextvars()["account"] == "shop"
    assert get_contextvars() == {"request_id": "outer", "platform": "wechat"}


def _fail_inside() -> None:
    with log_context(request_id="r1"):
        structlog.get_logger("t").info("inside")
        raise RuntimeError


def test_restores_on_an_exception_and_reaches_log_lines() -> None:
    merge = [structlog.contextvars.merge_contextvars]
    with structlog.testing.capture_logs(processors=merge) as lines, pytest.raises(RuntimeError):
        _fail_inside()
    assert lines[0]["request_id"] == "r1"
    assert "request_id" not in get_contextvars()


def test_json_lines_mask_and_encode_what_json_cannot() -> None:
    """`configure_logging`'s JSON lines: one object per line, values masked before the level and
    time are added, non-JSON values as their repr, non-string keys accepted, UTF-8 kept."""
    import io
    import logging

    import orjson

    from gateway.logs import configure_logging
    from normalizer.pii import PiiMasker, mask_log_event

    out = io.StringIO()
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    configure_logging(
        level="info", fmt="json", mask=mask_log_event(PiiMasker()), cache=False, stream=out
    )
    try:
        log = structlog.get_logger("t")
        with log_context(request_id="r2"):
            log.info("sent", to="13812345678", ids={1: "x"}, what=object(), note="已发货")
        log.debug("hidden")
    finally:
        structlog.reset_defaults()
        root.handlers[:], root.level = handlers, level
    (line,) = out.getvalue().splitlines()
    doc = orjson.loads(line)
    assert doc["to"] == "138****5678" and doc["note"] == "已发货" and doc["ids"] == {"1": "x"}
    assert doc["what"].startswith("<object object at ")
    assert (doc["level"], doc["request_id"], doc["event"]) == ("info", "r2", "sent")
    assert doc["timestamp"].endswith("Z")
