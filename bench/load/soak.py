"""`python -m bench.load soak`: kefu-gateway at a fixed rate for N minutes.

Issue #10: at 50 % of peak, RSS stays flat (±10 %), no growth in tasks or file descriptors, p99
stable. wrk2 is not packaged for Debian, so the rate comes from `callbacks.lua`'s pacing (each
wrk thread keeps a schedule; see the script). One wrk run per minute gives p99 per minute (wrk
reconnects at each minute boundary, and loads its next segment of the pool, a short pause). A
consumer drains the gateway's queues during the soak so RabbitMQ stays flat, and counts what
was published. RSS, fds and threads of the gateway's process tree are sampled every few seconds.
Asyncio tasks come from the gateway's `kefu_asyncio_tasks` gauge on /metrics.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import threading
import time
import urllib.request
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

from . import broker, gateway_setup, procstat, servers
from .callbacks import OFFSET_STEP, generate, read_offsets
from .http_bench import WORK, add_common, prepare_broker
from .report import machine_info, result_path
from .systems import SYSTEMS
from .wrk import WrkResult, run_wrk, wrk_version

_SETTLE = 2.0  # seconds after a minute's load before fds and tasks are read (requests finish)

__all__ = ["add_arguments", "run"]


@dataclass(frozen=True, slots=True)
class Minute:
    minute: int
    rps: float
    p50_ms: float
    p99_ms: float
    max_ms: float
    non_2xx: int
    socket_errors: int
    rss_mb: float  # at the end of the minute
    rss_mb_min: float
    rss_mb_max: float
    fds: int  # idle: after the minute's load, once requests in flight have finished
    threads: int
    tasks: int | None  # idle, as fds
    tasks_max: int | None  # the most sampled under load (a handler per request in flight)
    cpu_us_per_req: float


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--minutes", type=int, default=10)
    parser.add_argument(
        "--rate",
        type=float,
        default=0.0,
        help="requests/s; 0 = measure the peak first and use --share of it",
    )
    parser.add_argument("--share", type=float, default=0.5, help="of the peak, when --rate is 0")
    parser.add_argument(
        "--connections",
        type=int,
        default=64,
        help="as many as the peak is measured with: a paced run with few connections cannot "
        "keep its rate once latency grows (16 connections at 31 ms carry 516 req/s at most)",
    )
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--store", choices=("sqlite", "postgres"), default="sqlite")
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--sample-every", type=float, default=5.0, help="seconds")
    parser.add_argument("--customers", type=int, default=1000)
    parser.add_argument("--advisors", type=int, default=50)
    parser.add_argument("--peak-max-rate", type=float, default=4000.0,
                        help="pool sizing for the peak measurement")  # fmt: skip
    parser.add_argument("--note", default="")
    add_common(parser)


def _tasks(port: int) -> int | None:
    """The gateway's asyncio task gauge (`kefu_asyncio_tasks` on /metrics); None if absent."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as resp:
            text = resp.read().decode()
    except OSError:
        return None
    for line in text.splitlines():
        name = line.split("{", 1)[0].split(" ", 1)[0]
        if not line.startswith("#") and "asyncio_tasks" in name:
            return int(float(line.rsplit(" ", 1)[1]))
    return None


class Sampler(threading.Thread):
    def __init__(self, pid: int, port: int, every: float) -> None:
        super().__init__(name="soak-sampler", daemon=True)
        self.pid, self.port, self.every = pid, port, every
        self.samples: list[tuple[float, procstat.TreeSample, int | None]] = []
        self.stopping = threading.Event()

    def run(self) -> None:
        while not self.stopping.is_set():
            self.samples.append(
                (time.monotonic(), procstat.sample_tree(self.pid), _tasks(self.port))
            )
            self.stopping.wait(self.every)


def run(args: argparse.Namespace) -> int:
    servers.install_signal_handlers()
    amqp_url, rabbit_version = prepare_broker(args)
    now = datetime.now()
    work = WORK / f"soak-{now:%Y%m%d-%H%M%S}"
    work.mkdir(parents=True, exist_ok=True)
    spec = SYSTEMS["c" if args.store == "sqlite" else ("c-pg1" if args.workers == 1 else "c-pg2")]
    print(f"soak: preparing the {args.store} store …")
    store = gateway_setup.prepare_store(
        args.store, work, amqp_url=amqp_url, postgres_url=args.postgres_url,
        advisors=args.advisors, customers=args.customers,
    )  # fmt: skip
    peak_lines = int(args.peak_max_rate * 15) if args.rate <= 0 else 0
    rate_guess = args.rate if args.rate > 0 else args.peak_max_rate * args.share
    lines = peak_lines + int(rate_guess * (args.minutes * 60 + 15) * 1.1) + 4 * OFFSET_STEP
    print(f"soak: generating {lines:,} callbacks …")
    pool = generate(work / "pool.tsv", lines, customers=args.customers)
    offsets = read_offsets(pool.path)
    log = work / "wrk-soak.log"
    minutes: list[Minute] = []
    stop_consumer = threading.Event()
    drained: list[broker.Drained] = []
    answered = sent = in_flight = 0
    cursor = 0
    try:
        asyncio.run(broker.purge(amqp_url, spec.purge_queues))
        server = gateway_setup.start_gateway(
            "gateway-soak", workers=args.workers, amqp_url=amqp_url,
            database_url=gateway_setup.fresh_copy(store, work, "soak"),
            accounts=store.accounts, log=work / "server-soak.log",
        )  # fmt: skip
        url = f"http://127.0.0.1:{server.port}"
        consumer = threading.Thread(
            target=lambda: drained.append(
                asyncio.run(broker.consume_until(amqp_url, spec.queues, stop_consumer.is_set))
            ),
            daemon=True,
        )
        consumer.start()

        def load(seconds: float, count: int, rate: float, conns: int) -> WrkResult:
            nonlocal cursor, answered, sent, in_flight
            r = run_wrk(
                url, pool.path, offsets, start_line=cursor, count=min(count, pool.count - cursor),
                connections=conns, duration=seconds, threads=args.threads, rate=rate, log=log,
            )  # fmt: skip
            answered, sent, in_flight = answered + r.ok, sent + r.sent, in_flight + conns
            cursor = -(-r.next_line // OFFSET_STEP) * OFFSET_STEP
            if cursor >= pool.count - OFFSET_STEP or r.wrapped:
                raise RuntimeError("the request pool ran out; lower --rate or raise the sizing")
            return r

        rate = args.rate
        peak = None
        if rate <= 0:
            load(5, int(args.peak_max_rate * 5), 0, 64)  # warm-up
            peak = load(10, int(args.peak_max_rate * 10), 0, 64).rps
            rate = peak * args.share
            print(f"soak: peak {peak:.0f} req/s → soak at {rate:.0f} req/s")
        load(10, int(rate * 12), rate, args.connections)  # warm-up at the soak rate
        sampler = Sampler(server.pid, server.port, args.sample_every)
        sampler.start()
        for minute in range(1, args.minutes + 1):
            t0 = time.monotonic()
            cpu0 = procstat.cpu_seconds(procstat.tree_pids(server.pid))
            r = load(60, int(rate * 66), rate, args.connections)
            cpu = procstat.cpu_seconds(procstat.tree_pids(server.pid)) - cpu0
            window = [s for s in sampler.samples if s[0] >= t0] or sampler.samples[-1:]
            rss = [s[1].rss_bytes / 1e6 for s in window]
            counts = [s[2] for s in window if s[2] is not None]
            # Under load, fds and tasks include every connection and request in flight: leaks
            # are judged on the idle process, once the minute's last requests have finished.
            time.sleep(_SETTLE)
            last = procstat.sample_tree(server.pid)
            idle_tasks = _tasks(server.port)
            minutes.append(
                Minute(
                    minute, r.rps, r.latency_us["p50"] / 1e3, r.latency_us["p99"] / 1e3,
                    r.latency_us["max"] / 1e3, r.non_2xx, r.socket_errors, last.rss_bytes / 1e6,
                    min(rss), max(rss), last.fds, last.threads,
                    idle_tasks, max(counts) if counts else None,
                    cpu / max(r.requests, 1) * 1e6,
                )
            )  # fmt: skip
            m = minutes[-1]
            print(
                f"soak: minute {minute:>2}: {m.rps:6.0f} req/s p99 {m.p99_ms:6.1f} ms "
                f"RSS {m.rss_mb:6.1f} MB fds {m.fds} threads {m.threads} "
                f"tasks {m.tasks} (≤ {m.tasks_max} under load)"
            )
        sampler.stopping.set()
        server.stop()
    finally:
        stop_consumer.set()
        servers.stop_all()
        gateway_setup.drop_postgres(store)
    consumer.join(60)
    pool.path.unlink(missing_ok=True)
    published = drained[0] if drained else broker.Drained(0, 0, {})
    verdict = _verdict(minutes, answered, sent, in_flight, published, rate)
    doc: dict[str, Any] = {
        "note": args.note,
        "at": now.isoformat(),
        "rate": rate,
        "peak": peak,
        "settings": {k: v for k, v in vars(args).items() if k != "run"},
        "minutes": [asdict(m) for m in minutes],
        "published": asdict(published),
        "answered_ok": answered,
        "sent": sent,
        "verdict": verdict,
        "samples": [
            {"t": t, "rss_mb": s.rss_bytes / 1e6, "fds": s.fds, "threads": s.threads, "tasks": k}
            for t, s, k in sampler.samples
        ],
        "machine": machine_info(
            {"RabbitMQ": rabbit_version, "wrk": wrk_version(), "system": spec.label}
        ),
    }
    path = result_path("soak", now)
    path.write_text(_markdown(doc, minutes, verdict), encoding="utf-8")
    path.with_suffix(".json").write_text(json.dumps(doc, indent=2, ensure_ascii=False))
    print(f"soak: wrote {path}")
    return 0 if all(v == "ok" for v in verdict.values()) else 1


def _verdict(
    minutes: list[Minute],
    answered: int,
    sent: int,
    in_flight: int,
    published: broker.Drained,
    rate: float,
) -> dict[str, str]:
    out: dict[str, str] = {}
    if len(minutes) < 3:
        return {"length": "too short to judge (needs ≥ 3 minutes)"}
    steady = minutes[1:]  # minute 1 still fills caches
    base, end = steady[0].rss_mb, steady[-1].rss_mb
    out["RSS flat (±10 % from minute 2 to the end)"] = (
        "ok" if abs(end - base) <= 0.1 * base else f"{base:.1f} → {end:.1f} MB"
    )
    out["fds not growing (idle, after each minute)"] = (
        "ok" if steady[-1].fds <= steady[0].fds + 5 else f"{steady[0].fds} → {steady[-1].fds}"
    )
    tasks = [m.tasks for m in steady if m.tasks is not None]
    out["tasks not growing (idle, after each minute)"] = (
        "not measured: the gateway exposes no asyncio task gauge"
        if not tasks
        else ("ok" if tasks[-1] <= tasks[0] + 10 else f"{tasks[0]} → {tasks[-1]}")
    )
    p99 = [m.p99_ms for m in steady]
    out["p99 stable (every minute ≤ 2× the best minute)"] = (
        "ok" if max(p99) <= 2 * min(p99) else f"best {min(p99):.1f} ms, worst {max(p99):.1f} ms"
    )
    slow = [m.rps for m in minutes if m.rps < 0.95 * rate]
    out["rate held (every minute ≥ 95 % of the target)"] = (
        "ok" if not slow else f"{len(slow)} minutes below, lowest {min(slow):.0f} req/s"
    )
    extra = published.messages - answered
    out["published exactly once"] = (
        "ok"
        if published.messages == published.distinct_ids and 0 <= extra <= in_flight
        and published.messages <= sent
        else f"answered {answered}, published {published.messages} "
        f"({published.distinct_ids} distinct)"
    )  # fmt: skip
    return out


def _markdown(doc: dict[str, Any], minutes: list[Minute], verdict: dict[str, str]) -> str:
    lines = [f"# Soak: kefu-gateway at a fixed rate — {doc['at'][:16]}", ""]
    if doc["note"]:
        lines += [f"> **{doc['note']}**", ""]
    peak = f" (peak {doc['peak']:.0f} req/s measured first)" if doc["peak"] else ""
    lines += [
        f"Rate {doc['rate']:.0f} req/s{peak}, {doc['settings']['connections']} connections, "
        f"{len(minutes)} minutes, produced by `python -m bench.load soak` (bench/README.md).",
        "",
        "| minute | req/s | p50 ms | p99 ms | max ms | non-2xx | socket err | RSS MB (min–max) "
        "| fds idle | threads | tasks idle (max under load) | CPU µs/req |",
        "|---:|---:|---:|---:|---:|---:|---:|---|---:|---:|---:|---:|",
    ]
    for m in minutes:
        lines.append(
            f"| {m.minute} | {m.rps:.0f} | {m.p50_ms:.2f} | {m.p99_ms:.2f} | {m.max_ms:.1f} | "
            f"{m.non_2xx} | {m.socket_errors} | {m.rss_mb:.1f} ({m.rss_mb_min:.1f}–"
            f"{m.rss_mb_max:.1f}) | {m.fds} | {m.threads} | "
            f"{'–' if m.tasks is None else f'{m.tasks} ({m.tasks_max})'} | "
            f"{m.cpu_us_per_req:.0f} |"
        )
    lines += ["", "## Verdict", ""]
    lines += [f"- {k}: {v}" for k, v in verdict.items()]
    pub = doc["published"]
    lines += [
        "",
        f"Answered 2xx {doc['answered_ok']}, sent {doc['sent']}, published {pub['messages']} "
        f"({pub['distinct_ids']} distinct ids; {pub['by_queue']}).",
        "",
        "## Machine",
        "",
    ]
    lines += [f"- {k}: {v}" for k, v in doc["machine"].items()]
    lines += [f"- load average at the end: {' '.join(f'{x:.2f}' for x in os.getloadavg())}"]
    return "\n".join(lines) + "\n"
