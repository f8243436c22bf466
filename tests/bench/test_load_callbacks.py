"""The load harness's pre-generated callbacks are what WeChat sends and what the systems accept.

If the gateway's WeChat adapter or the simulator change, the harness must not silently start
measuring 401s: every generated line must verify, decrypt and parse in the gateway's adapter
(and in the hand-written baseline's own verify/decrypt), with unique MsgIds.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path

import xmltodict

from adapters.wechat.adapter import WeChatAdapter
from bench.load.account import ACCOUNT, AES_KEY, APP_ID, TOKEN, WEBHOOK_PATH
from bench.load.baseline_handwritten import check_signature, decrypt
from bench.load.callbacks import OFFSET_STEP, customer_ids, generate, read_offsets
from gateway.models import Kind, Platform, WebhookRequest
from tests.bench.pool_lines import pool_requests

PHONE = re.compile(r"1[3-9]\d[- ]?\d{4}[- ]?\d{4}")


def test_generated_callbacks_are_accepted_by_the_gateway_adapter(tmp_path: Path) -> None:
    pool = generate(tmp_path / "pool.tsv", 60, customers=7, seed=42)
    at = datetime.fromtimestamp(pool.timestamp, UTC)
    adapter = WeChatAdapter(
        account=ACCOUNT, token=TOKEN, app_id=APP_ID, encoding_aes_keys=[AES_KEY], clock=lambda: at
    )
    ids, texts = set(), []
    for path, query, body in pool_requests(pool.path):
        assert path == WEBHOOK_PATH
        assert query["encrypt_type"] == ("aes",)
        request = WebhookRequest("POST", {}, query, body, "text/xml")
        (event,) = adapter.receive(request)
        assert event.platform is Platform.WECHAT
        assert event.kind is Kind.TEXT
        assert event.customer.id in customer_ids(7)
        assert event.customer.id == query["openid"][0]
        assert event.text
        ids.add(event.platform_msg_id)
        texts.append(event.text)
    assert len(ids) == 60
    assert 150 <= sum(map(len, texts)) / len(texts) <= 230  # about 200 characters
    assert any(PHONE.search(t) for t in texts)  # some carry a phone number for the masker


def test_generated_callbacks_pass_the_handwritten_baseline_checks(tmp_path: Path) -> None:
    pool = generate(tmp_path / "pool.tsv", 10, seed=7)
    for _path, query, body in pool_requests(pool.path):
        q = {k: v[0] for k, v in query.items()}
        encrypted = xmltodict.parse(body)["xml"]["Encrypt"]
        assert check_signature(q["signature"], TOKEN, q["timestamp"], q["nonce"])
        assert check_signature(q["msg_signature"], TOKEN, q["timestamp"], q["nonce"], encrypted)
        xml, app_id = decrypt(AES_KEY, encrypted)
        assert app_id == APP_ID
        assert xmltodict.parse(xml)["xml"]["FromUserName"] == q["openid"]


def test_offsets_point_at_line_starts(tmp_path: Path) -> None:
    pool = generate(tmp_path / "pool.tsv", 2 * OFFSET_STEP + 5, customers=3, seed=1)
    data = pool.path.read_bytes()
    offsets = read_offsets(pool.path)
    assert len(offsets) == 3
    lines = data.split(b"\n")
    for n, offset in enumerate(offsets):
        assert data[offset:].startswith(lines[n * OFFSET_STEP])
