"""adapters.douyin.send: request builders and response interpreters (pure, no I/O)."""

from __future__ import annotations

from collections.abc import Mapping

import orjson
import pytest

from adapters.douyin import send

BASE = "https://open.example.test"
CONTEXT = {"open_id": "merchant", "conversation_id": "@c==", "msg_id": "@m=="}


def build(
    kind: str, content: Mapping[str, object], context: Mapping[str, object] = CONTEXT
) -> object:
    return send.send_request(
        BASE, "clt.TOKEN", to_user_id="cust", kind=kind, content=content, context=context
    )


def test_client_token_request_and_grant() -> None:
    """The client_token call posts the credentials; a grant is read from ``data``."""
    request = send.token_request(BASE, "awkey", "sec")
    assert request.url == "https://open.example.test/oauth/client_token/"
    assert orjson.loads(request.body or b"") == {
        "client_key": "awkey", "client_secret": "sec", "grant_type": "client_credential",
    }  # fmt: skip
    grant = (
        b'{"data":{"access_token":"clt.x","expires_in":7200,"error_code":0},"message":"success"}'
    )
    assert send.read_token(200, grant) == send.TokenGrant("clt.x", 7200.0)
    bad = send.read_token(200, b'{"data":{"error_code":10013,"description":"bad"}}')
    assert isinstance(bad, send.Verdict) and (bad.kind, bad.code) == ("rejected", 10013)


def test_text_reply_with_conversation_context() -> None:
    """A text reply goes to /im/send/msg/ with the merchant open_id, token header and ids."""
    request = build("text", {"text": "在的"})
    assert isinstance(request, send.ApiRequest)
    assert request.url == "https://open.example.test/im/send/msg/"
    assert request.params == {"open_id": "merchant"}
    assert request.headers["access-token"] == "clt.TOKEN"
    assert orjson.loads(request.body or b"") == {
        "to_user_id": "cust", "conversation_id": "@c==", "msg_id": "@m==",
        "content": {"msg_type": 1, "text": {"text": "在的"}},
    }  # fmt: skip


def test_cards_and_unsupported_kinds() -> None:
    """Consult and applet cards map to msg_type 8 and 10; links, products and a missing
    merchant open_id are unsupported."""
    consult = build("card", {"type": "consult", "card_id": "C1"})
    assert isinstance(consult, send.ApiRequest)
    assert orjson.loads(consult.body or b"")["content"] == {
        "msg_type": 8, "retain_consult_card": {"card_id": "C1"},
    }  # fmt: skip
    applet = build("card", {"type": "mini_program", "card_template_id": "T", "app_id": "tt1",
                            "page_path": "pages/i", "query": "a=1"})  # fmt: skip
    assert isinstance(applet, send.ApiRequest)
    assert orjson.loads(applet.body or b"")["content"]["applet_card"] == {
        "card_template_id": "T", "app_id": "tt1", "path": "pages/i", "query": "a=1",
    }  # fmt: skip
    assert isinstance(build("link", {"title": "t", "url": "u"}), send.Unsupported)
    assert isinstance(build("card", {"type": "product", "product_id": "p"}), send.Unsupported)
    assert isinstance(build("text", {"text": "x"}, {}), send.Unsupported)


@pytest.mark.parametrize(
    ("status", "payload", "kind", "code"),
    [
        (200, b'{"data":{"error_code":0,"description":""},"msg_id":"@1"}', "ok", 0),
        (200, b'{"err_no":0,"err_msg":"","msg_id":"@1"}', "ok", 0),
        (200, b'{"data":{"error_code":28001008,"description":"expired"}}', "token", 28001008),
        (200, b'{"data":{"error_code":2190008,"description":"expired"}}', "token", 2190008),
        (200, b'{"data":{"error_code":28001005,"description":"busy"}}', "transient", 28001005),
        (200, b'{"err_no":28003018,"err_msg":"too frequent"}', "transient", 28003018),
        (500, b"", "transient", 500),
        (200, b"not json", "transient", None),
        (200, b'{"data":{"error_code":28001007,"description":"bad param"}}', "rejected", 28001007),
        (200, b'{"message":"??"}', "rejected", None),
    ],
)
def test_classify(status: int, payload: bytes, kind: str, code: int | None) -> None:
    """Each Douyin code / HTTP status maps to what the sender does next."""
    verdict = send.classify(status, payload)
    assert (verdict.kind, verdict.code) == (kind, code)
