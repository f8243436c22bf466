"""One system under load: start it, warm up, measure each concurrency, stop, count messages.

Server CPU µs/request = Δ(utime+stime) of the server's process tree / requests completed in the
measured window; RabbitMQ CPU µs/message = Δ CPU of beam.smp / the same count (the broker also
serves anyone else on this machine: a busy machine inflates it).
"""

from __future__ import annotations

import asyncio
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

from . import broker, procstat, servers
from .callbacks import OFFSET_STEP, Pool
from .systems import SystemSpec
from .wrk import WrkResult, run_wrk

__all__ = ["Point", "SystemResult", "measure_system"]


@dataclass(frozen=True, slots=True)
class Point:
    connections: int
    duration_s: float
    requests: int
    rps: float
    p50_ms: float
    p90_ms: float
    p99_ms: float
    p999_ms: float
    max_ms: float
    non_2xx: int
    socket_errors: int
    server_cpu_us: float  # per request
    rabbit_cpu_us: float | None  # per message
    wrk_cpu_us: float  # per request (the load generator's own cost)
    server_cpu_share: float  # cores busy on average (1.0 = one core)
    wrapped: int


@dataclass
class SystemResult:
    key: str
    label: str
    points: list[Point] = field(default_factory=list)
    answered_ok: int = 0  # 2xx answers over every wrk run (warm-up included)
    sent: int = 0  # requests wrk handed to connections (some still in flight at the stop)
    in_flight_bound: int = 0  # sum of connections over the runs
    published: int = 0
    distinct_ids: int = 0
    by_queue: dict[str, int] = field(default_factory=dict)
    exactly_once: bool = False
    wrapped_gateway: bool = False
    load_before: tuple[float, float, float] = (0.0, 0.0, 0.0)
    load_after: tuple[float, float, float] = (0.0, 0.0, 0.0)
    rss_mb_after: float = 0.0
    stop_exit: int | None = None
    notes: list[str] = field(default_factory=list)


def _round_up(line: int) -> int:
    return -(-line // OFFSET_STEP) * OFFSET_STEP


def _point(r: WrkResult, cpu_s: float, rabbit_s: float | None) -> Point:
    n = max(r.requests, 1)
    lat = r.latency_us
    return Point(
        connections=r.connections,
        duration_s=r.duration_s,
        requests=r.requests,
        rps=r.rps,
        p50_ms=lat["p50"] / 1e3,
        p90_ms=lat["p90"] / 1e3,
        p99_ms=lat["p99"] / 1e3,
        p999_ms=lat["p999"] / 1e3,
        max_ms=lat["max"] / 1e3,
        non_2xx=r.non_2xx,
        socket_errors=r.socket_errors,
        server_cpu_us=cpu_s / n * 1e6,
        rabbit_cpu_us=None if rabbit_s is None else rabbit_s / n * 1e6,
        wrk_cpu_us=r.wrk_cpu_s / n * 1e6,
        server_cpu_share=cpu_s / r.duration_s if r.duration_s else 0.0,
        wrapped=r.wrapped,
    )


def measure_system(
    spec: SystemSpec,
    server: servers.Server,
    *,
    pool: Pool,
    offsets: list[int],
    amqp_url: str,
    connections: list[int],
    duration: float,
    warmup: float,
    max_rate: float,
    threads: int,
    work: Path,
) -> SystemResult:
    """Drive a started server; stops it (gracefully) before counting what was published."""
    result = SystemResult(spec.key, spec.label, load_before=os.getloadavg())
    beam = procstat.beam_pid()
    if beam is None:
        result.notes.append("beam.smp not found on this machine: no RabbitMQ CPU figure")
    url = f"http://127.0.0.1:{server.port}"
    log = work / f"wrk-{spec.key}.log"
    cursor = 0

    def segment(seconds: float) -> int:
        wanted, left = int(max_rate * seconds), pool.count - cursor
        if left < wanted and spec.kind == "gateway":
            result.wrapped_gateway = True  # it may run out: the run is not valid for (c)
        return max(OFFSET_STEP, min(left, wanted))

    def account(r: WrkResult) -> None:
        nonlocal cursor
        result.answered_ok += r.ok
        result.sent += r.sent
        result.in_flight_bound += r.connections
        cursor = _round_up(r.next_line)
        if cursor > pool.count - OFFSET_STEP:
            cursor = pool.count - OFFSET_STEP
            result.wrapped_gateway = result.wrapped_gateway or spec.kind == "gateway"
        if r.wrapped and spec.kind == "gateway":
            result.wrapped_gateway = True

    if warmup > 0:
        r = run_wrk(
            url, pool.path, offsets, start_line=cursor, count=segment(warmup),
            connections=max(connections), duration=warmup, threads=threads, log=log,
        )  # fmt: skip
        account(r)
    for conns in connections:
        pids = procstat.tree_pids(server.pid)
        beam_pids = procstat.tree_pids(beam) if beam else []
        cpu0, rabbit0 = procstat.cpu_seconds(pids), procstat.cpu_seconds(beam_pids)
        r = run_wrk(
            url, pool.path, offsets, start_line=cursor, count=segment(duration),
            connections=conns, duration=duration, threads=threads, log=log,
        )  # fmt: skip
        cpu = procstat.cpu_seconds(pids) - cpu0
        rabbit = procstat.cpu_seconds(beam_pids) - rabbit0 if beam else None
        account(r)
        result.points.append(_point(r, cpu, rabbit))
        time.sleep(1.0)  # let the last in-flight requests settle between points
    result.rss_mb_after = procstat.sample_tree(server.pid).rss_bytes / 1e6
    result.load_after = os.getloadavg()
    result.stop_exit = server.stop()
    drained = asyncio.run(broker.drain(amqp_url, spec.queues))
    result.published = drained.messages
    result.distinct_ids = drained.distinct_ids
    result.by_queue = drained.by_queue
    extra = result.published - result.answered_ok
    result.exactly_once = (
        result.published == result.distinct_ids
        and 0 <= extra <= result.in_flight_bound
        and result.published <= result.sent
    )
    if spec.kind != "gateway" and any(p.wrapped for p in result.points):
        result.notes.append(
            "the request pool wrapped around: repeats are harmless here (no dedup), "
            "but published ids then repeat, so the exactly-once check does not apply"
        )
        result.exactly_once = result.published >= result.answered_ok
    if result.wrapped_gateway:
        result.notes.append(
            "INVALID: the request pool ran out and repeats reached the gateway's dedup; "
            "rerun with a larger --max-rate"
        )
    return result
