"""The systems under test: what to start, and which queues receive their messages."""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

from . import servers
from .account import AES_KEY, APP_ID, TOKEN
from .broker import BASELINE_QUEUE, GATEWAY_QUEUES

__all__ = ["SYSTEMS", "SystemSpec", "start_baseline"]

HERE = Path(__file__).resolve().parent


@dataclass(frozen=True, slots=True)
class SystemSpec:
    key: str
    label: str
    kind: str  # "raw" | "handwritten" | "gateway"
    store: str | None = None  # gateway: "sqlite" | "postgres"
    workers: int = 1
    module: str = "gateway"  # gateway: what `python -m` runs (the floor: bench.load.gateway_floor)

    @property
    def queues(self) -> tuple[str, ...]:
        """Queues that receive the callbacks' messages (counted and drained after a run)."""
        return GATEWAY_QUEUES[:3] if self.kind == "gateway" else (BASELINE_QUEUE,)

    @property
    def purge_queues(self) -> tuple[str, ...]:
        """Everything to empty before the run (leftovers of earlier runs, setup notifications)."""
        if self.kind != "gateway":
            return (BASELINE_QUEUE,)
        return (*GATEWAY_QUEUES, "kefu.records", "kefu.outbound", "kefu.receipts", "kefu.dead")


SYSTEMS: dict[str, SystemSpec] = {
    s.key: s
    for s in (
        SystemSpec("a", "(a) baseline: aiohttp + confirm publish of the raw body", "raw"),
        SystemSpec(
            "b", "(b) hand-written: safe-mode verify/decrypt + xmltodict + publish", "handwritten"
        ),
        SystemSpec("c", "(c) kefu-gateway, 1 process, SQLite", "gateway", "sqlite", 1),
        SystemSpec(
            "c-floor",
            "(c-floor) kefu-gateway, 1 process, SQLite, pipeline stages skipped (bench only)",
            "gateway",
            "sqlite",
            1,
            "bench.load.gateway_floor",
        ),
        SystemSpec("c-pg1", "(c) kefu-gateway, --workers 1, PostgreSQL", "gateway", "postgres", 1),
        SystemSpec("c-pg2", "(c) kefu-gateway, --workers 2, PostgreSQL", "gateway", "postgres", 2),
    )
}


def start_baseline(spec: SystemSpec, *, amqp_url: str, log: Path) -> servers.Server:
    port = servers.free_port()
    script = HERE / ("baseline_raw.py" if spec.kind == "raw" else "baseline_handwritten.py")
    argv = [sys.executable, str(script), "--port", str(port), "--amqp-url", amqp_url]
    if spec.kind == "handwritten":
        argv += ["--token", TOKEN, "--aes-key", AES_KEY, "--app-id", APP_ID]
    return servers.start(spec.key, argv, port=port, log=log)
