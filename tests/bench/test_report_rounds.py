"""The harness report compares systems within a round: a run of several rounds gets ratio and
floor tables per round (its results are keyed ``c#1``, ``c#2``…), never none and never mixed; and
a machine where the harness finds no RabbitMQ process to measure (no RabbitMQ CPU figure) still
gets its ratio tables (writing them raised TypeError)."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pytest

from bench.load import report
from bench.load.measure import Point, SystemResult


def _result(key: str, rps: float, cpu: float) -> SystemResult:
    fields = dict.fromkeys(
        ("p50_ms", "p90_ms", "p99_ms", "p999_ms", "max_ms", "wrk_cpu_us", "server_cpu_share"), 1.0
    )
    points = [
        Point(
            connections=conns,
            duration_s=10,
            requests=int(rps * 10),
            rps=rps,
            non_2xx=0,
            socket_errors=0,
            server_cpu_us=cpu,
            rabbit_cpu_us=None,
            wrapped=0,
            **fields,
        )
        for conns in (64, 8)
    ]
    return SystemResult(key, key, points=points)


def test_two_rounds_get_ratios_and_floor_per_round(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(report, "RESULTS", tmp_path)
    results = [
        _result("a#1", 1000, 500), _result("c#1", 500, 1000), _result("c-floor#1", 800, 700),
        _result("a#2", 2000, 250), _result("c#2", 1000, 600), _result("c-floor#2", 1500, 400),
    ]  # fmt: skip
    path = report.write_http_report(
        results,
        settings={"connections": [64, 8], "warmup": 5, "duration": 10},
        machine={},
        setup={},
        title_note="",
        now=datetime(2026, 12, 8, 3, 0),
    )
    text = path.read_text(encoding="utf-8")
    round1, round2 = text.split("## Round 1", 1)[1].split("## Round 2", 1)
    assert "| req/s @ 64 | 0.50× |" in round1  # c#1 against a#1
    assert "| req/s @ 64 | 0.50× |" in round2.split("## Published")[0]  # c#2 against a#2
    assert "| 64 | 800 → 500 | 500 | 700 | 1,000 | 300 | 1.40× |" in round1
    assert "| 64 | 1,500 → 1,000 | 250 | 400 | 600 | 200 | 1.60× |" in round2
