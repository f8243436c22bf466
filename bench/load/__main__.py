"""`python -m bench.load {http,soak,generate}` — see bench/README.md."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from . import http_bench, soak
from .broker import BrokerDown
from .callbacks import generate


def _generate(args: argparse.Namespace) -> int:
    print(generate(args.path, args.count, customers=args.customers))
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.load", description=__doc__)
    sub = parser.add_subparsers(required=True, metavar="COMMAND")
    http = sub.add_parser("http", help="gateway vs baselines at several concurrencies")
    http_bench.add_arguments(http)
    http.set_defaults(run=http_bench.run)
    soaking = sub.add_parser("soak", help="the gateway at a fixed rate; RSS, fds, p99 per minute")
    soak.add_arguments(soaking)
    soaking.set_defaults(run=soak.run)
    gen = sub.add_parser("generate", help="write a request pool file (for wrk by hand)")
    gen.add_argument("path", type=Path)
    gen.add_argument("--count", type=int, default=10_000)
    gen.add_argument("--customers", type=int, default=1000)
    gen.set_defaults(run=_generate)
    args = parser.parse_args(argv)
    try:
        return int(args.run(args))
    except BrokerDown as exc:
        print(f"bench: {exc}", file=sys.stderr)
        return 3


if __name__ == "__main__":
    sys.exit(main())
