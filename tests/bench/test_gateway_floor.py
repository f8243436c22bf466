"""The harness's floor system skips the pipeline's stages and nothing else.

`bench.load.gateway_floor` must run the stages once (for its template), then hand every callback
to the rest of the path — dedup, routing, publish — under an id of its own: with one id for all,
dedup would answer every later callback as a duplicate and the floor would measure nothing.
"""

from __future__ import annotations

import hashlib
import inspect
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from adapters.wechat.adapter import WeChatAdapter
from bench.load import gateway_floor
from bench.load.account import ACCOUNT, AES_KEY, APP_ID, TOKEN
from bench.load.callbacks import generate
from gateway.ingest import Ingest
from gateway.models import Message, WebhookRequest
from normalizer.normalize import Normalizer
from normalizer.pii import PiiMasker
from tests.bench.pool_lines import pool_requests


class _Path:
    """The two steps of `Ingest` that the floor calls, recorded (the stages are the real ones)."""

    def __init__(self, at: datetime) -> None:
        self.normalize = Normalizer(PiiMasker(), lambda: at)
        self.prepared = 0
        self.published: list[Message] = []

    async def _prepare(self, job: tuple[WeChatAdapter, WebhookRequest]) -> list[Any]:
        self.prepared += 1
        adapter, request = job
        event = adapter.receive(request)[0]
        return [(event, self.normalize(event), object())]

    async def _publish_once(self, event: Any, message: Message, decision: Any) -> Message:
        self.published.append(message)
        return message


def _requests(path: Path) -> list[WebhookRequest]:
    return [
        WebhookRequest(method="POST", headers={}, query=query, body=body, content_type="text/xml")
        for _path, query, body in pool_requests(path)
    ]


async def test_the_floor_runs_the_stages_once_and_publishes_every_callback_under_its_own_id(
    tmp_path: Path,
) -> None:
    pool = generate(tmp_path / "pool.tsv", 5, customers=3, seed=7)
    at = datetime.fromtimestamp(pool.timestamp, UTC)
    adapter = WeChatAdapter(
        account=ACCOUNT, token=TOKEN, app_id=APP_ID, encoding_aes_keys=[AES_KEY], clock=lambda: at
    )
    path = _Path(at)
    requests = _requests(pool.path)
    replies = [await gateway_floor.floor_handle(path, adapter, r) for r in requests]

    assert path.prepared == 1
    ids = [m.id for m in path.published]
    assert ids == [hashlib.sha256(r.body).hexdigest()[:32] for r in requests]
    assert len(set(ids)) == len(requests)
    assert {m.text for m in path.published} == {path.published[0].text}  # the template's
    assert all(reply.status == 200 for reply in replies)


def test_install_replaces_ingest_handle_only() -> None:
    # What the floor calls of `Ingest` (a rename there must fail here, not in a bench run).
    assert callable(Ingest._publish_once)
    assert "self._prepare" in inspect.getsource(Ingest.__init__)
    original = Ingest.handle
    try:
        gateway_floor.install()
        assert Ingest.handle is gateway_floor.floor_handle
    finally:
        Ingest.handle = original  # type: ignore[method-assign]
