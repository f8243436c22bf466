"""The store writer process asks for batch scheduling, and runs on where it is refused."""

from __future__ import annotations

import os

import pytest
from structlog.testing import capture_logs

from gateway.store import writer_process


def test_a_refused_policy_is_logged_and_not_fatal(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(pid: int, policy: int, param: object) -> None:
        raise PermissionError(1, "Operation not permitted")

    monkeypatch.setattr(os, "SCHED_BATCH", 3, raising=False)
    monkeypatch.setattr(os, "sched_setscheduler", refuse, raising=False)
    with capture_logs() as logs:
        assert writer_process.batch_scheduling() is False
    assert logs == [
        {
            "event": "store.writer_batch_scheduling_refused",
            "error": "PermissionError",
            "log_level": "info",
        }
    ]


def test_a_platform_without_the_policy_is_left_alone(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delattr(os, "SCHED_BATCH", raising=False)
    with capture_logs() as logs:
        assert writer_process.batch_scheduling() is False
    assert logs == []
