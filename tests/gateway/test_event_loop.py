"""`serve` runs on uvloop by default (GATEWAY_EVENT_LOOP), on asyncio's loop when asked."""

from __future__ import annotations

import asyncio

import pytest
import uvloop

from gateway.cli import _new_loop
from gateway.settings import Settings


@pytest.mark.parametrize(("kind", "expected"), [("uvloop", uvloop.Loop), ("asyncio", None)])
def test_new_loop(kind: str, expected: type | None) -> None:
    loop = _new_loop(kind)
    try:
        if expected is None:
            assert not isinstance(loop, uvloop.Loop)
            assert isinstance(loop, asyncio.BaseEventLoop)
        else:
            assert isinstance(loop, expected)
    finally:
        loop.close()


def test_setting_defaults_to_uvloop_and_refuses_others(monkeypatch: pytest.MonkeyPatch) -> None:
    assert Settings().event_loop == "uvloop"
    monkeypatch.setenv("GATEWAY_EVENT_LOOP", "trio")
    with pytest.raises(ValueError, match="event_loop"):
        Settings()
