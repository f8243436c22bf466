"""The Grafana dashboard queries only metrics the gateway exposes."""

from __future__ import annotations

import json
import re
from pathlib import Path

from prometheus_client import generate_latest

from gateway.metrics import Metrics

DASHBOARD = json.loads((Path(__file__).parents[2] / "docs" / "grafana-dashboard.json").read_text())


def test_every_panel_queries_an_exposed_metric() -> None:
    """Each metric name in a panel expression exists in the gateway's registry."""
    metrics = Metrics()
    metrics.callbacks.labels("wechat", "200").inc()
    metrics.dedup_hits.labels("wechat").inc()
    metrics.pii_masked.labels("phone").inc()
    metrics.rule_hits.labels("ad_law").inc()
    metrics.routed.labels("wechat", "bot").inc()
    metrics.publish_seconds.observe(0.01)
    metrics.tmc_connected.labels("tb").set(1)
    metrics.queue_depth.labels("kefu.bots").set(0)
    exposed = set(
        re.findall(
            r"^(kefu_\w+?)(?:\{| )", generate_latest(metrics.registry).decode(), re.MULTILINE
        )
    )
    used = {
        name
        for panel in DASHBOARD["panels"]
        for target in panel["targets"]
        for name in re.findall(r"kefu_\w+", target["expr"])
    }
    assert used
    assert used <= exposed, used - exposed
