"""The `kefu-gateway` command: serve, send-test, tail, check-config, demo.

Reads the environment once (`Settings()`), configures logging once, and passes everything on
explicitly.
"""

from __future__ import annotations

import argparse
import asyncio
import atexit
import gc
import socket
import sys
from collections.abc import Sequence

from pydantic import ValidationError

from gateway.errors import BrokerUnavailable, ConfigError, GatewayError, StoreError
from gateway.settings import Settings

_GC_YOUNG = 10_000  # allocations between young-generation collections (CPython's default: 700)

__all__ = ["main"]

START_RABBITMQ_HINT = (
    "RabbitMQ is not reachable at {url}.\n"
    "Start one, then try again:\n"
    "  - on this machine:   rabbitmq-server -detached\n"
    "  - with Docker:       docker compose up -d rabbitmq\n"
    "or point GATEWAY_AMQP_URL at a running broker."
)


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    try:
        settings = Settings()
    except ValidationError as exc:
        print(f"kefu-gateway: invalid GATEWAY_* environment:\n{exc}", file=sys.stderr)
        return 2
    try:
        return int(args.run(settings, args))
    except ConfigError as exc:
        print(f"kefu-gateway: configuration error: {exc}", file=sys.stderr)
        return 2
    except BrokerUnavailable:
        print(
            START_RABBITMQ_HINT.format(url=_redact(settings.amqp_url.get_secret_value())),
            file=sys.stderr,
        )
        return 3
    except StoreError as exc:
        print(f"kefu-gateway: database problem: {exc}", file=sys.stderr)
        return 4
    except GatewayError as exc:
        print(f"kefu-gateway: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="kefu-gateway", description=__doc__)
    sub = parser.add_subparsers(required=True, metavar="COMMAND")

    serve = sub.add_parser("serve", help="run the gateway")
    serve.add_argument(
        "--workers",
        type=int,
        default=None,
        help="worker processes sharing the port (default: GATEWAY_WORKERS or 1)",
    )
    serve.set_defaults(run=_serve)

    send = sub.add_parser("send-test", help="send one signed callback to a running gateway")
    send.add_argument("platform", choices=["wechat", "douyin", "taobao"])
    send.add_argument("text")
    send.add_argument("--customer", default="oDemoCustomer0001", help="customer id (openid)")
    send.add_argument("--account", help="account name (default: the first of the platform)")
    send.add_argument("--url", help="gateway base URL (default: http://GATEWAY_HOST:GATEWAY_PORT)")
    send.set_defaults(run=_send_test)

    tail = sub.add_parser("tail", help="print messages arriving on a queue (an example consumer)")
    tail.add_argument("queue", help="queue name, e.g. kefu.bots")
    tail.add_argument("--count", type=int, default=0, help="stop after N messages (0: never)")
    tail.add_argument("--json", action="store_true", help="one raw JSON document per line")
    tail.set_defaults(run=_tail)

    demo = sub.add_parser("demo", help="a one-minute tour: gateway up, signed callbacks, routes")
    demo.add_argument("--json", action="store_true", help="one JSON document per step")
    demo.set_defaults(run=_demo)

    check = sub.add_parser("check-config", help="validate the environment and accounts file")
    check.set_defaults(run=_check_config)
    return parser


def _serve(settings: Settings, args: argparse.Namespace) -> int:
    workers = args.workers or settings.workers
    if workers < 1:
        print("kefu-gateway: --workers must be at least 1", file=sys.stderr)
        return 2
    if workers == 1:
        _run_worker(settings, None)
        return 0
    from gateway.accounts import load_accounts
    from gateway.logs import configure_logging
    from gateway.workers import supervise

    configure_logging(level=settings.log_level, fmt=settings.log_format)
    load_accounts(settings.config)  # fail before forking on a bad accounts file
    if settings.database_url.get_secret_value().startswith("sqlite"):
        print(
            "kefu-gateway: several workers share state through the database; SQLite works "
            "but serializes writes: use PostgreSQL (GATEWAY_DATABASE_URL)",
            file=sys.stderr,
        )
    return supervise(
        settings.host,
        settings.port,
        workers,
        lambda sock: _run_worker(settings, sock),
        settings.shutdown_timeout,
    )


def _run_worker(settings: Settings, sock: socket.socket | None) -> None:
    """One gateway process: on its own port, or on the supervisor's shared socket. Its log lines
    are written once per event-loop iteration (`gateway.log_stream`)."""
    from gateway.app import build_masker
    from gateway.log_stream import LoopBatchedStream
    from gateway.logs import configure_logging
    from normalizer.pii import mask_log_event

    lines = LoopBatchedStream(sys.stderr)
    atexit.register(lines.drain)  # a worker process ends by os._exit: drained below as well
    configure_logging(
        level=settings.log_level,
        fmt=settings.log_format,
        mask=mask_log_event(build_masker(settings)),
        stream=lines,
    )
    try:
        _serve_app(settings, sock)
    finally:
        lines.drain()


def _serve_app(settings: Settings, sock: socket.socket | None) -> None:
    from aiohttp import web

    from gateway.accounts import load_accounts
    from gateway.app import create_app

    if sock is not None:
        from gateway.workers import exit_with_parent

        exit_with_parent(grace=settings.shutdown_timeout / 3 + 1)
    app = create_app(settings, load_accounts(settings.config))
    app.on_startup.append(_freeze_heap)
    host, port = (None, None) if sock is not None else (settings.host, settings.port)
    web.run_app(
        app,
        loop=_new_loop(settings.event_loop),
        host=host,
        port=port,
        sock=sock,
        print=None,
        access_log=None,
        shutdown_timeout=settings.shutdown_timeout,
    )


async def _freeze_heap(_app: object) -> None:
    """Once started, move what start-up built (rule automata, caches, compiled statements,
    ≈ 150,000 objects) out of the cyclic garbage collector's sight: a full collection scanned
    all of it, ≈ 60 ms each, several a minute under load (bench/results/2026-12-07-hotpath.md).
    Young collections run less often too; objects of a request are freed by reference counting.
    """
    gc.collect()
    gc.freeze()
    gc.set_threshold(_GC_YOUNG, *gc.get_threshold()[1:])


def _new_loop(kind: str) -> asyncio.AbstractEventLoop:
    """uvloop (libuv) unless asked otherwise or not installed: a cheaper loop per request."""
    if kind == "uvloop":
        try:
            import uvloop
        except ImportError:  # pragma: no cover - a dependency everywhere but Windows
            print("kefu-gateway: uvloop is not installed, using asyncio's loop", file=sys.stderr)
        else:
            return uvloop.new_event_loop()
    return asyncio.new_event_loop()


def _send_test(settings: Settings, args: argparse.Namespace) -> int:
    from gateway.devtools import send_test

    return asyncio.run(
        send_test(
            settings,
            args.platform,
            args.text,
            customer=args.customer,
            account=args.account,
            url=args.url,
        )
    )


def _tail(settings: Settings, args: argparse.Namespace) -> int:
    from gateway.devtools import tail

    return asyncio.run(tail(settings, args.queue, count=args.count, raw_json=args.json))


def _demo(settings: Settings, args: argparse.Namespace) -> int:
    from gateway.demo import run_demo
    from gateway.logs import configure_logging

    configure_logging(level="error", fmt="console")
    return asyncio.run(run_demo(settings, as_json=args.json))


def _check_config(settings: Settings, _args: argparse.Namespace) -> int:
    from gateway.accounts import load_accounts

    accounts = load_accounts(settings.config)
    print(f"environment ok; accounts file: {settings.config or '(none)'}")
    for (platform, name), account in sorted(accounts.by_key.items()):
        detail = getattr(account, "surface", None) or getattr(account, "flavor", "") or ""
        print(f"  {platform.value:7} {name:20} {detail}")
    print(f"{len(accounts)} account(s) valid")
    return 0


def _redact(url: str) -> str:
    from yarl import URL

    parsed = URL(url)
    return str(parsed.with_password("***")) if parsed.password else url
