"""System (c-floor): kefu-gateway with its pipeline's stages skipped — what everything else costs.

    python -m bench.load.gateway_floor serve --workers 1   # the arguments of `kefu-gateway`

Runs `kefu-gateway` with one change, made here and only for the bench: `Ingest.handle` sends
the first callback through the pipeline's stages (verify, decrypt, parse, normalize with PII
masking, rules) and, for every later callback, reuses what they produced for the first one,
under a message id of the callback's own (the first 32 hex digits of its body's SHA-256, as
unique as the bodies). Everything else runs as in `kefu-gateway serve`: the HTTP server and its
middlewares, the dedup claim and done mark through the SQLite writer process, bound-advisor
routing (from its cache), the envelope, the confirmed publish on the gateway's AMQP link, the
log line, the metrics and the inbound record.

So (c) − (c-floor) is what the stages cost inside the server, and (c-floor) against (a) is what
the rest of the gateway costs against a bare confirmed publish: a lower bound for (c).
"""

from __future__ import annotations

import hashlib
import sys
from dataclasses import replace
from typing import Any

from adapters.base import Adapter
from gateway.ingest import Ingest, Prepared
from gateway.models import Reply, WebhookRequest

__all__ = ["floor_handle", "install"]

_TEMPLATE = "_bench_floor_template"


async def floor_handle(self: Any, adapter: Adapter, request: WebhookRequest) -> Reply:
    """`Ingest.handle` without the stages: the first callback's result, under a new id."""
    template: Prepared | None = getattr(self, _TEMPLATE, None)
    if template is None:
        prepared = await self._prepare((adapter, request))
        template = prepared[0]
        setattr(self, _TEMPLATE, template)
    event, message, decision = template
    message_id = hashlib.sha256(request.body).hexdigest()[:32]
    await self._publish_once(event, replace(message, id=message_id), decision)
    return adapter.ack(request)


def install() -> None:
    Ingest.handle = floor_handle  # type: ignore[method-assign]


def main(argv: list[str] | None = None) -> int:
    from gateway.cli import main as gateway_main

    install()
    return gateway_main(argv)


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
