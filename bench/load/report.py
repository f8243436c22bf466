"""Results as Markdown and JSON: per system and concurrency, ratios, exactly-once, machine."""

from __future__ import annotations

import json
import os
import platform
import subprocess
from dataclasses import asdict
from datetime import datetime
from importlib import metadata
from pathlib import Path
from typing import Any

from .measure import Point, SystemResult

__all__ = ["machine_info", "result_path", "write_http_report"]

RESULTS = Path(__file__).resolve().parents[1] / "results"
GOALS = "gateway ≥ 1.2× (b) and ≥ 0.9× (a) req/s, p99 @ 8 ≤ 10 ms, server CPU/req ≤ 1.1× (a)"


def result_path(topic: str, now: datetime) -> Path:
    path = RESULTS / f"{now:%Y-%m-%d}-{topic}.md"
    if path.exists():
        path = RESULTS / f"{now:%Y-%m-%d-%H%M}-{topic}.md"
    return path


def machine_info(extra: dict[str, str]) -> dict[str, str]:
    cpu = "?"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],  # noqa: S607
            capture_output=True, text=True, check=False, cwd=RESULTS,
        ).stdout.strip()  # fmt: skip
    except OSError:
        commit = "?"
    info = {
        "cpu": f"{cpu}, {os.cpu_count()} cores",
        "memory": f"{mem:.1f} GiB",
        "kernel": platform.release(),
        "python": platform.python_version(),
        "git commit": commit or "?",
    }
    for package in ("aiohttp", "aio-pika", "aiormq", "xmltodict", "cryptography", "SQLAlchemy"):
        try:
            info[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            info[package] = "?"
    info.update(extra)
    return info


def _f(value: float | None, digits: int = 0) -> str:
    return "–" if value is None else f"{value:,.{digits}f}"


def _ratio(num: float | None, den: float | None) -> str:
    if num is None or den is None or den == 0:
        return "–"
    return f"{num / den:.2f}×"


def _rounds(results: list[SystemResult]) -> list[tuple[str, dict[str, SystemResult]]]:
    """The systems of each round by their plain key (a run of several rounds names its results
    ``c#1``, ``c#2``…): ratios are taken within a round, never across rounds."""
    rounds: dict[str, dict[str, SystemResult]] = {}
    for r in results:
        key, _, number = r.key.partition("#")
        rounds.setdefault(f"Round {number}" if number else "", {})[key] = r
    return list(rounds.items())


def _point(result: SystemResult, conns: int) -> Point | None:
    return next((p for p in result.points if p.connections == conns), None)


def _table(results: list[SystemResult], conns: int) -> list[str]:
    rows = [
        f"### {conns} connections",
        "",
        "| system | req/s | p50 ms | p90 ms | p99 ms | max ms | server CPU µs/req "
        "| cores busy | RabbitMQ CPU µs/msg | wrk CPU µs/req | non-2xx | socket errors |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in results:
        p = _point(r, conns)
        if p is None:
            continue
        rows.append(
            f"| {r.label} | {_f(p.rps)} | {_f(p.p50_ms, 2)} | {_f(p.p90_ms, 2)} | "
            f"{_f(p.p99_ms, 2)} | {_f(p.max_ms, 1)} | {_f(p.server_cpu_us)} | "
            f"{_f(p.server_cpu_share, 2)} | {_f(p.rabbit_cpu_us)} | {_f(p.wrk_cpu_us)} | "
            f"{p.non_2xx} | {p.socket_errors} |"
        )
    return [*rows, ""]


def _ratios(by_key: dict[str, SystemResult], c: str, conns_list: list[int]) -> list[str]:
    if c not in by_key:
        return []
    rows = [
        f"### Ratios for {by_key[c].label}",
        "",
        "| measure | c/a | c/b | goal |",
        "|---|---:|---:|---|",
    ]
    a, b = by_key.get("a"), by_key.get("b")
    for conns in conns_list:
        pc = _point(by_key[c], conns)
        pa = _point(a, conns) if a else None
        pb = _point(b, conns) if b else None
        if pc is None:
            continue

        def get(p: Point | None, attr: str) -> float | None:
            value = None if p is None else getattr(p, attr)
            return None if value is None else float(value)  # no RabbitMQ figure: None

        goal_rps = "≥ 0.9× (a), ≥ 1.2× (b)" if conns == max(conns_list) else ""
        rows += [
            f"| req/s @ {conns} | {_ratio(pc.rps, get(pa, 'rps'))} | "
            f"{_ratio(pc.rps, get(pb, 'rps'))} | {goal_rps} |",
            f"| p50 @ {conns} | {_ratio(pc.p50_ms, get(pa, 'p50_ms'))} | "
            f"{_ratio(pc.p50_ms, get(pb, 'p50_ms'))} | |",
            f"| p99 @ {conns} | {_ratio(pc.p99_ms, get(pa, 'p99_ms'))} | "
            f"{_ratio(pc.p99_ms, get(pb, 'p99_ms'))} | "
            f"{'p99 ≤ 10 ms (now ' + _f(pc.p99_ms, 1) + ' ms)' if conns == 8 else ''} |",
            f"| server CPU/req @ {conns} | {_ratio(pc.server_cpu_us, get(pa, 'server_cpu_us'))} "
            f"| {_ratio(pc.server_cpu_us, get(pb, 'server_cpu_us'))} | ≤ 1.1× (a) |",
            f"| RabbitMQ CPU/msg @ {conns} | "
            f"{_ratio(pc.rabbit_cpu_us, get(pa, 'rabbit_cpu_us'))} | "
            f"{_ratio(pc.rabbit_cpu_us, get(pb, 'rabbit_cpu_us'))} | |",
        ]
    return [*rows, ""]


def _floor(by_key: dict[str, SystemResult], conns_list: list[int]) -> list[str]:
    """What the pipeline's stages cost inside the server: (c) against its floor."""
    full, floor = by_key.get("c"), by_key.get("c-floor")
    if full is None or floor is None:
        return []
    rows = [
        "### (c) against its floor: the same server with the pipeline's stages skipped",
        "",
        "(c-floor) is the same server with verify, decrypt, parse, normalize, PII masking and "
        "rules skipped (bench/load/gateway_floor.py): the HTTP server, dedup, routing, envelope, "
        "confirmed publish, log line, metrics and record still run. Its CPU against (a) is what "
        "the gateway costs besides its stages; (c) − (c-floor) is what the stages cost.",
        "",
        "| connections | req/s floor → c | CPU µs/req (a) | floor | c | c − floor | floor/(a) |",
        "|---:|---:|---:|---:|---:|---:|---:|",
    ]
    a = by_key.get("a")
    for conns in conns_list:
        pf, pc = _point(floor, conns), _point(full, conns)
        pa = _point(a, conns) if a else None
        if pf is None or pc is None:
            continue
        base = None if pa is None else pa.server_cpu_us
        rows.append(
            f"| {conns} | {_f(pf.rps)} → {_f(pc.rps)} | {_f(base)} | {_f(pf.server_cpu_us)} | "
            f"{_f(pc.server_cpu_us)} | {_f(pc.server_cpu_us - pf.server_cpu_us)} | "
            f"{_ratio(pf.server_cpu_us, base)} |"
        )
    return [*rows, ""]


def _workers(by_key: dict[str, SystemResult], conns_list: list[int]) -> list[str]:
    one, two = by_key.get("c-pg1"), by_key.get("c-pg2")
    if one is None or two is None:
        return []
    rows = [
        "## Workers: `kefu-gateway serve --workers N` with PostgreSQL",
        "",
        "| connections | req/s 1 worker | req/s 2 workers | 2/1 | p99 ms 1 → 2 "
        "| CPU µs/req 1 → 2 |",
        "|---:|---:|---:|---:|---:|---:|",
    ]
    for conns in conns_list:
        p1, p2 = _point(one, conns), _point(two, conns)
        if p1 and p2:
            rows.append(
                f"| {conns} | {_f(p1.rps)} | {_f(p2.rps)} | {_ratio(p2.rps, p1.rps)} | "
                f"{_f(p1.p99_ms, 1)} → {_f(p2.p99_ms, 1)} | "
                f"{_f(p1.server_cpu_us)} → {_f(p2.server_cpu_us)} |"
            )
    return [*rows, ""]


def _exactly_once(results: list[SystemResult]) -> list[str]:
    rows = [
        "## Published exactly once?",
        "",
        "Every 2xx answer (warm-up included) must have its message on the queues, once: "
        "published ≥ answered, published − answered ≤ requests still in flight when wrk stopped "
        "(at most the connections of each run), no message id twice, published ≤ requests "
        "sent. Counted by draining the queues after the server stopped.",
        "",
        "| system | answered 2xx | sent | published | distinct ids | in flight ≤ | queues | ok |",
        "|---|---:|---:|---:|---:|---:|---|---|",
    ]
    for r in results:
        queues = ", ".join(f"{q} {n}" for q, n in r.by_queue.items())
        rows.append(
            f"| {r.key} | {r.answered_ok} | {r.sent} | {r.published} | {r.distinct_ids} | "
            f"{r.in_flight_bound} | {queues} | {'yes' if r.exactly_once else '**NO**'} |"
        )
    return [*rows, ""]


def write_http_report(
    results: list[SystemResult],
    *,
    settings: dict[str, Any],
    machine: dict[str, str],
    setup: dict[str, Any],
    title_note: str,
    now: datetime,
) -> Path:
    conns_list = list(settings["connections"])
    lines = [
        f"# HTTP load: kefu-gateway vs hand-written baselines — {now:%Y-%m-%d %H:%M}",
        "",
    ]
    if title_note:
        lines += [f"> **{title_note}**", ""]
    lines += [
        "Produced by `make bench` (`python -m bench.load http`, bench/README.md). Load: wrk "
        "with `bench/load/callbacks.lua` over pre-generated, unique, correctly signed "
        "safe-mode WeChat text callbacks (~200 Chinese characters, ~30 % with a phone "
        "number). Systems ran one after the other on the same machine, each with the same "
        f"warm-up ({settings['warmup']} s at {max(conns_list)} connections) and "
        f"{settings['duration']} s per point. Goals (issue #10): {GOALS}.",
        "",
        "## Results",
        "",
    ]
    for conns in conns_list:
        lines += _table(results, conns)
    for title, systems in _rounds(results):
        if title:
            lines += [f"## {title}", ""]
        for key in ("c", "c-floor", "c-pg1", "c-pg2"):
            lines += _ratios(systems, key, conns_list)
        lines += _floor(systems, conns_list)
        lines += _workers(systems, conns_list)
    lines += _exactly_once(results)
    lines += ["## Runs", "", "| system | load avg before → after | RSS after MB | exit | notes |"]
    lines += ["|---|---|---:|---:|---|"]
    for r in results:
        load = f"{r.load_before[0]:.2f} → {r.load_after[0]:.2f}"
        lines.append(
            f"| {r.key} | {load} | {r.rss_mb_after:.0f} | {r.stop_exit} | "
            f"{'; '.join(r.notes) or '–'} |"
        )
    lines += ["", "## Setup of (c)", ""]
    lines += [f"- {k}: {v}" for k, v in setup.items()]
    lines += ["", "## Machine and settings", ""]
    lines += [f"- {k}: {v}" for k, v in machine.items()]
    lines += [f"- {k}: {v}" for k, v in settings.items()]
    path = result_path("http", now)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    doc = {
        "note": title_note,
        "at": now.isoformat(),
        "settings": settings,
        "machine": machine,
        "setup": setup,
        "systems": [asdict(r) for r in results],
    }
    path.with_suffix(".json").write_text(
        json.dumps(doc, indent=2, ensure_ascii=False, default=str), encoding="utf-8"
    )
    return path
