"""Benchmark of the webhook pipeline's per-message work, in one process, stage by stage.

Run ``.venv/bin/python bench/bench_pipeline.py`` (``--quick``: fewer callbacks and repetitions).
The inputs are the callbacks of `make bench` (bench/load/callbacks.py: unique, signed, safe-mode
encrypted WeChat text messages of ~200 Chinese characters, ~30 % with a phone number), and the
rules are bench_rules.py's 10,000 words and 500 keyword rules. Each stage runs over all
callbacks, its inputs made by the stage before it outside the timing; the figure is the minimum
over repetitions of the mean µs per callback.

Baseline, measured in the same run over the same callbacks: the hand-written handler of system
(b) (bench/load/baseline_handwritten.py `handle`: two signatures, xmltodict twice, AES, JSON).
Not here: HTTP, the advisor lookup, the dedup claim and the publish (they need the server:
`make bench`). This isolates the Python that each callback costs, without the noise of the HTTP
harness, so a change to a stage shows as a change in its row and in the ratio. The last row
runs every stage for one callback before the next, as the server does: the stages' code and data
(the rules' automaton above all) then no longer stay in the CPU's caches from one callback to
the next, and the same work costs more than the sum of the stage rows.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import bench_rules  # bench/ is on sys.path when run as a script
import structlog

from adapters.wechat.adapter import WeChatAdapter
from bench.load.account import ACCOUNT, AES_KEY, APP_ID, TOKEN
from bench.load.baseline_handwritten import handle as handwritten
from bench.load.callbacks import customer_ids, line_for
from gateway.log_stream import LoopBatchedStream
from gateway.logs import configure_logging, log_context
from gateway.models import Message, PlatformEvent, WebhookRequest
from gateway.routing import route
from gateway.serialize import envelope
from normalizer.normalize import Normalizer
from normalizer.pii import PiiMasker, mask_log_event
from rules import RuleSet

__all__ = ["main"]


@dataclass(frozen=True, slots=True)
class Callback:
    request: WebhookRequest  # as the gateway's webhook handler builds it
    query: dict[str, str]  # as the hand-written handler reads it


def callbacks(count: int, seed: int = 20261207) -> list[Callback]:
    rng = random.Random(seed)
    ids = customer_ids(1000)
    now = int(time.time())
    out = []
    for index in range(count):
        target, body = line_for(index, rng, customers=ids, timestamp=now, salt=1).split("\t", 1)
        pairs = parse_qsl(urlsplit(target).query)
        request = WebhookRequest(
            method="POST",
            headers={"content-type": "text/xml"},
            query={k: (v,) for k, v in pairs},
            body=body.encode(),
            content_type="text/xml",
        )
        out.append(Callback(request, dict(pairs)))
    return out


def per_item(fn: Callable[[Any], object], items: Sequence[Any], repeat: int) -> float:
    """Minimum over `repeat` passes of the mean µs per item."""
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        for item in items:
            fn(item)
        best = min(best, time.perf_counter() - start)
    return best / len(items) * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer callbacks and repetitions")
    args = parser.parse_args()
    count, repeat = (1000, 3) if args.quick else (4000, 7)

    items = callbacks(count)
    adapter = WeChatAdapter(
        account=ACCOUNT,
        token=TOKEN,
        app_id=APP_ID,
        encoding_aes_keys=[AES_KEY],
        replay_window=0,
        max_json_depth=32,
    )
    masker = PiiMasker()
    received = datetime.now(UTC)
    normalize = Normalizer(masker, lambda: received)
    rng = random.Random(bench_rules.SEED)
    pool = bench_rules.gb2312_level1()
    words = bench_rules.make_words(rng, pool, 10_000)
    rules = RuleSet.build(bench_rules.make_lists(words), bench_rules.make_rules(rng, pool), 1)
    lines = LoopBatchedStream(open(os.devnull, "w"))  # noqa: SIM115 - lives as long as the run
    configure_logging(mask=mask_log_event(masker), stream=lines)
    log = structlog.get_logger("gateway.ingest")

    events: list[PlatformEvent] = [adapter.receive(c.request)[0] for c in items]
    messages: list[Message] = [normalize(e) for e in events]
    decisions = [rules.inbound(m.text, m.platform.value, m.account) for m in messages]
    routed = [
        replace(m, rules=d.as_rules_result(), route=route(m, d))
        for m, d in zip(messages, decisions, strict=True)
    ]

    def log_line(message: Message) -> None:
        with log_context(platform=message.platform.value, account=message.account):
            log.info(
                "inbound.published",
                message_id=message.id,
                platform=message.platform.value,
                account=message.account,
                kind=message.kind.value,
                route="advisor",
                pii=list(message.pii),
            )
        lines.drain()

    def route_and_envelope(pair: tuple[Message, Any]) -> object:
        message, decision = pair
        decided = route(message, decision)
        return envelope(replace(message, rules=decision.as_rules_result(), route=decided), decided)

    stages: list[tuple[str, Callable[[Any], object], Sequence[Any]]] = [
        ("adapter: verify, decrypt, parse", lambda c: adapter.receive(c.request), items),
        ("normalize: NFKC, PII masking", normalize, events),
        (
            "rules: 10,000 words, 500 rules",
            lambda m: rules.inbound(m.text, "wechat", ACCOUNT),
            messages,
        ),
        ("route, envelope (JSON)", route_and_envelope, list(zip(messages, decisions, strict=True))),
        ("log line (masked, JSON)", log_line, routed),
    ]

    def baseline(c: Callback) -> object:
        return handwritten(c.query, c.request.body, TOKEN, AES_KEY, APP_ID)

    async def run() -> tuple[float, list[tuple[str, float]], float]:
        # in a running loop, as in the server (the log stream drains per loop iteration there)
        base = per_item(baseline, items, repeat)
        results = [(name, per_item(fn, data, repeat)) for name, fn, data in stages]
        return base, results, per_item(every_stage, items, repeat)

    def every_stage(c: Callback) -> object:
        event = adapter.receive(c.request)[0]
        message = normalize(event)
        decision = rules.inbound(message.text, message.platform.value, message.account)
        decided = route(message, decision)
        routed = replace(message, rules=decision.as_rules_result(), route=decided)
        env = envelope(routed, decided)
        log_line(routed)
        return env

    base, results, together = asyncio.run(run())
    total = sum(us for _, us in results)
    print(f"{count} callbacks, {repeat} passes per stage, minimum of the means (µs/callback)\n")
    print(f"{'stage':<34} {'µs':>8} {'share':>7}")
    for name, us in results:
        print(f"{name:<34} {us:8.1f} {us / total:7.1%}")
    print(f"{'gateway pipeline, sum of stages':<34} {total:8.1f}")
    print(f"{'… every stage per callback in turn':<34} {together:8.1f}")
    print(f"{'baseline (b) handler, in-process':<34} {base:8.1f}")
    print(
        f"\nratio gateway / baseline (b): {total / base:.2f}× (stage by stage), "
        f"{together / base:.2f}× (callback by callback)"
    )


if __name__ == "__main__":
    main()
