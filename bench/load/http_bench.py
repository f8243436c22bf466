"""`python -m bench.load http`: the comparison of issue #10 in one run (what `make bench` runs)."""

from __future__ import annotations

import argparse
import asyncio
import os
import time
from datetime import datetime
from pathlib import Path
from typing import Any

from . import broker, gateway_setup, procstat, servers
from .callbacks import generate, read_offsets
from .measure import SystemResult, measure_system
from .report import machine_info, write_http_report
from .systems import SYSTEMS, SystemSpec, start_baseline
from .wrk import wrk_version

__all__ = ["add_arguments", "run"]

WORK = Path(__file__).resolve().parents[1] / ".work"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--systems", default="a,b,c,c-floor,c-pg1,c-pg2",
                        help=f"comma-separated, in order, of {','.join(SYSTEMS)}")  # fmt: skip
    parser.add_argument("--connections", default="64,8", help="comma-separated")
    parser.add_argument("--duration", type=float, default=10.0, help="seconds per point")
    parser.add_argument("--warmup", type=float, default=5.0, help="seconds, at max connections")
    parser.add_argument("--rounds", type=int, default=1,
                        help="repeat the whole sequence; every round is reported")  # fmt: skip
    parser.add_argument("--threads", type=int, default=2, help="wrk threads")
    parser.add_argument(
        "--max-rate",
        type=float,
        default=4000.0,
        help="requests/s the pool is sized for (unique callbacks per run)",
    )
    parser.add_argument("--customers", type=int, default=1000)
    parser.add_argument("--advisors", type=int, default=50)
    parser.add_argument(
        "--note",
        default="",
        help='shown at the top of the report, e.g. "validation run under load"',
    )
    parser.add_argument("--gateway-log-level", default="info")
    add_common(parser)


def add_common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--amqp-url",
        default="amqp://guest:guest@127.0.0.1:5672/",
        help="RabbitMQ server; the bench uses its own vhost on it",
    )
    parser.add_argument("--vhost", default="kefu-bench")
    parser.add_argument(
        "--postgres-url",
        default="postgresql://postgres@127.0.0.1:5432/test",
        help="PostgreSQL server for the workers comparison (asyncpg URL)",
    )


def prepare_broker(args: argparse.Namespace) -> tuple[str, str]:
    """The AMQP URL to use (bench vhost if it can be made) and the RabbitMQ version."""
    url = args.amqp_url
    if broker.ensure_vhost(args.vhost):
        url = broker.with_vhost(args.amqp_url, args.vhost)
    else:
        print(f"bench: could not create vhost {args.vhost!r} (rabbitmqctl); using {url}")
    return url, asyncio.run(broker.server_version(url))


def run(args: argparse.Namespace) -> int:
    servers.install_signal_handlers()
    specs = [SYSTEMS[key.strip()] for key in args.systems.split(",") if key.strip()]
    connections = [int(c) for c in args.connections.split(",")]
    amqp_url, rabbit_version = prepare_broker(args)
    now = datetime.now()
    work = WORK / f"{now:%Y%m%d-%H%M%S}"
    work.mkdir(parents=True, exist_ok=True)
    lines = int(args.max_rate * (args.warmup + args.duration * len(connections))) + 2000
    print(f"bench: generating {lines:,} signed, encrypted callbacks into {work}/pool.tsv …")
    t0 = time.monotonic()
    pool = generate(work / "pool.tsv", lines, customers=args.customers)
    offsets = read_offsets(pool.path)
    print(f"bench: … {time.monotonic() - t0:.0f} s")

    stores: dict[str, gateway_setup.GatewayStore] = {}
    setup: dict[str, Any] = {}
    results: list[SystemResult] = []
    try:
        for round_no in range(args.rounds):
            for spec in specs:
                label = f"round {round_no + 1}/{args.rounds}: {spec.key}"
                print(f"bench: {label} — {spec.label}")
                result = _one(spec, args, amqp_url, pool, offsets, connections, work, stores)
                if args.rounds > 1:
                    result.key, result.label = (
                        f"{spec.key}#{round_no + 1}",
                        f"{spec.label} (round {round_no + 1})",
                    )
                for p in result.points:
                    print(
                        f"bench:   {p.connections:>3} conns: {p.rps:8.0f} req/s  "
                        f"p50 {p.p50_ms:6.1f} ms  p99 {p.p99_ms:6.1f} ms  "
                        f"CPU {p.server_cpu_us:6.0f} µs/req  non-2xx {p.non_2xx}"
                    )
                print(
                    f"bench:   published {result.published} for {result.answered_ok} "
                    f"answered; exactly once: {result.exactly_once}"
                )
                results.append(result)
        for kind, store in stores.items():
            setup[f"store {kind}"] = store.summary
    finally:
        servers.stop_all()
        for store in stores.values():
            gateway_setup.drop_postgres(store)
        asyncio.run(broker.delete(amqp_url, broker.BASELINE_QUEUE, broker.BASELINE_EXCHANGE))
        asyncio.run(broker.purge(amqp_url, SYSTEMS["c"].purge_queues))
    setup.update(
        rules="10,000 words in 4 lists + ad-law lexicon, 500 keyword rules (bench_rules.py)",
        pool=f"{pool.count:,} callbacks, {args.customers} customers, generated at {pool.timestamp}",
    )
    settings = {
        "connections": connections,
        "duration": args.duration,
        "warmup": args.warmup,
        "rounds": args.rounds,
        "wrk threads": args.threads,
        "max rate (pool sizing)": args.max_rate,
        "gateway log level": args.gateway_log_level,
        "replay window": "7200 s (the pool is generated once per run)",
        "work directory": str(work),
    }
    machine = machine_info(
        {
            "RabbitMQ": f"{rabbit_version} (vhost of {_redact_url(amqp_url)})",
            "wrk": wrk_version(),
            "load average at the end": " ".join(f"{x:.2f}" for x in os.getloadavg()),
            "beam.smp pid": str(procstat.beam_pid()),
        }
    )
    path = write_http_report(
        results, settings=settings, machine=machine, setup=setup, title_note=args.note, now=now
    )
    print(f"bench: wrote {path} and {path.with_suffix('.json').name}")
    pool.path.unlink(missing_ok=True)  # hundreds of MB; the logs stay in the work directory
    return 0 if all(r.exactly_once and not r.wrapped_gateway for r in results) else 1


def _one(
    spec: SystemSpec,
    args: argparse.Namespace,
    amqp_url: str,
    pool: Any,
    offsets: list[int],
    connections: list[int],
    work: Path,
    stores: dict[str, gateway_setup.GatewayStore],
) -> SystemResult:
    asyncio.run(broker.purge(amqp_url, spec.purge_queues))
    log = work / f"server-{spec.key}.log"
    if spec.kind == "gateway":
        assert spec.store is not None
        if spec.store not in stores:
            print(f"bench:   preparing the {spec.store} store through the admin API …")
            stores[spec.store] = gateway_setup.prepare_store(
                spec.store, work, amqp_url=amqp_url, postgres_url=args.postgres_url,
                advisors=args.advisors, customers=args.customers,
            )  # fmt: skip
            asyncio.run(broker.purge(amqp_url, spec.purge_queues))  # setup notifications
        store = stores[spec.store]
        server = gateway_setup.start_gateway(
            spec.key,
            workers=spec.workers,
            amqp_url=amqp_url,
            database_url=gateway_setup.fresh_copy(store, work, f"run-{spec.key}"),
            accounts=store.accounts,
            log=log,
            log_level=args.gateway_log_level,
            module=spec.module,
        )
    else:
        server = start_baseline(spec, amqp_url=amqp_url, log=log)
    return measure_system(
        spec, server, pool=pool, offsets=offsets, amqp_url=amqp_url, connections=connections,
        duration=args.duration, warmup=args.warmup, max_rate=args.max_rate,
        threads=args.threads, work=work,
    )  # fmt: skip


def _redact_url(url: str) -> str:
    return url.split("@", 1)[-1]
