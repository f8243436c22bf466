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
